//! The JSON API under `/api/v1`: the operations of the web UI for scripts, behind
//! `Authorization: Bearer <token>` (tokens from `danegate web-token create`).
//! docs/api.md describes every route; docs/openapi.yaml is its OpenAPI 3 form.

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State as AxState},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use danegate_admin::{DestinationForm, DnsForm, FormErrors};
use serde::Deserialize;
use serde_json::json;

use crate::{State, auth, ui};

pub(crate) fn routes(state: State) -> Router {
    Router::new()
        .route(
            "/destinations",
            get(list_destinations).post(add_destination),
        )
        .route(
            "/destinations/{domain}",
            get(get_destination)
                .put(edit_destination)
                .delete(delete_destination),
        )
        .route("/routes", get(list_routes).post(add_route))
        .route("/routes/{domain}", put(put_route).delete(delete_route))
        .route("/dns", get(dns).put(put_dns))
        .route("/delivery-status", get(delivery_status))
        .route("/delivery-status/{domain}", get(host_status))
        .route("/delivery-status/{domain}/deliver-now", post(deliver_now))
        .route("/delivery-status/{domain}/bounce", post(bounce_domain))
        .route("/deliver-now", post(deliver_all))
        .route("/queue", get(queue_list))
        .route("/queue/{mid}", get(queue_show).delete(queue_delete))
        .route("/queue/{mid}/bounce", post(queue_bounce))
        .route("/readiness", get(readiness))
        .route(
            "/readiness/{domain}/set-dane-mandatory",
            post(set_dane_mandatory),
        )
        .route("/commit", post(commit))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such API route") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), bearer))
        .with_state(state)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn form_errors(e: FormErrors) -> Response {
    // No field: the gateway refused (no configuration file, I/O, apply) — a conflict
    // with its state rather than bad input.
    let status = if e.errors.iter().all(|f| f.field.is_empty()) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let message = e
        .errors
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    (
        status,
        Json(json!({ "error": message, "errors": e.errors })),
    )
        .into_response()
}

/// Refuses (401) any request without a valid bearer token.
async fn bearer(AxState(st): AxState<State>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let ok = match token {
        Some(t) => auth::token_is_valid(&st.settings.api_tokens_file, t),
        None => false,
    };
    if !ok {
        let mut res = error(
            StatusCode::UNAUTHORIZED,
            "a valid API token is required: Authorization: Bearer <token> (danegate web-token create)",
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"danegate\""),
        );
        return res;
    }
    next.run(req).await
}

async fn blocking<T: Send + 'static>(
    st: &State,
    f: impl FnOnce(&danegate_admin::Admin) -> T + Send + 'static,
) -> Result<T, Response> {
    let admin = st.admin.clone();
    tokio::task::spawn_blocking(move || f(&admin))
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}

/// A JSON body that did not parse: 400 with serde's message.
#[allow(clippy::result_large_err)] // the error is the response, sent at once
fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("bad JSON body: {e}")))
}

/// A JSON body that may be left empty (then the type's default).
async fn optional_json_body<T: for<'de> Deserialize<'de> + Default>(
    req: Request,
) -> Result<T, Response> {
    let body = read_body(req).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json_body(&body)
    }
}

async fn read_body(req: Request) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(req.into_body(), 256 * 1024)
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"))
}

// ---------------------------------------------------------------- destinations

async fn list_destinations(AxState(st): AxState<State>) -> Response {
    Json(st.admin.destinations()).into_response()
}

async fn get_destination(AxState(st): AxState<State>, Path(domain): Path<String>) -> Response {
    match st.admin.destination(&domain) {
        Some(d) => Json(d).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no destination control for {domain}"),
        ),
    }
}

async fn add_destination(AxState(st): AxState<State>, req: Request) -> Response {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form: DestinationForm = match json_body(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let domain = form.domain.trim().to_string();
    match blocking(&st, move |a| a.add_destination(&form)).await {
        Err(r) => r,
        Ok(Err(e)) => form_errors(e),
        Ok(Ok(())) => match st.admin.destination(&domain) {
            Some(d) => (StatusCode::CREATED, Json(d)).into_response(),
            None => (StatusCode::CREATED, Json(json!({ "domain": domain }))).into_response(),
        },
    }
}

async fn edit_destination(
    AxState(st): AxState<State>,
    Path(domain): Path<String>,
    req: Request,
) -> Response {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut form: DestinationForm = match json_body(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if form.domain.trim().is_empty() {
        form.domain = domain.clone();
    }
    let d = domain.clone();
    match blocking(&st, move |a| a.edit_destination(&d, &form)).await {
        Err(r) => r,
        Ok(Err(e)) => form_errors(e),
        Ok(Ok(())) => match st.admin.destination(&domain) {
            Some(d) => Json(d).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

async fn delete_destination(AxState(st): AxState<State>, Path(domain): Path<String>) -> Response {
    if st.admin.destination(&domain).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no destination control for {domain}"),
        );
    }
    match blocking(&st, move |a| a.delete_destination(&domain)).await {
        Err(r) => r,
        Ok(Err(e)) => form_errors(e),
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
    }
}

// ---------------------------------------------------------------- routes

#[derive(Deserialize)]
struct RouteBody {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    hosts: Vec<String>,
}

async fn list_routes(AxState(st): AxState<State>) -> Response {
    Json(st.admin.routes()).into_response()
}

async fn set_route(st: State, domain: String, hosts: Vec<String>, created: bool) -> Response {
    let d = domain.clone();
    match blocking(&st, move |a| a.set_route(&d, &hosts)).await {
        Err(r) => r,
        Ok(Err(e)) => form_errors(e),
        Ok(Ok(())) => {
            let view = st
                .admin
                .routes()
                .into_iter()
                .find(|r| r.domain.eq_ignore_ascii_case(domain.trim()));
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            match view {
                Some(v) => (status, Json(v)).into_response(),
                None => (status, Json(json!({ "domain": domain }))).into_response(),
            }
        }
    }
}

async fn add_route(AxState(st): AxState<State>, req: Request) -> Response {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r: RouteBody = match json_body(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    set_route(st, r.domain, r.hosts, true).await
}

async fn put_route(
    AxState(st): AxState<State>,
    Path(domain): Path<String>,
    req: Request,
) -> Response {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r: RouteBody = match json_body(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    set_route(st, domain, r.hosts, false).await
}

async fn delete_route(AxState(st): AxState<State>, Path(domain): Path<String>) -> Response {
    match blocking(&st, move |a| a.delete_route(&domain)).await {
        Err(r) => r,
        Ok(Err(e)) => form_errors(e),
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
    }
}

// ---------------------------------------------------------------- status, queue, DNS

async fn dns(AxState(st): AxState<State>) -> Response {
    Json(st.admin.dns_probed().await).into_response()
}

async fn put_dns(AxState(st): AxState<State>, req: Request) -> Response {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form: DnsForm = match json_body(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match blocking(&st, move |a| a.set_dns(&form)).await {
        Err(r) => r,
        Ok(Err(e)) => form_errors(e),
        Ok(Ok(())) => Json(st.admin.dns()).into_response(),
    }
}

async fn delivery_status(AxState(st): AxState<State>, Query(q): Query<ui::SortQuery>) -> Response {
    let mut list = st.admin.delivery_status().await;
    if !q.sort.is_empty() || !q.order.is_empty() {
        ui::sort_status(&mut list, &q.sort, &q.order);
    }
    Json(list).into_response()
}

#[derive(Deserialize, Default)]
struct SinceQuery {
    #[serde(default)]
    since: String,
}

/// The readiness report (`?since=24h|7d|30d`, default 7 days).
async fn readiness(AxState(st): AxState<State>, Query(q): Query<SinceQuery>) -> Response {
    let since = if q.since.is_empty() {
        "7d"
    } else {
        q.since.as_str()
    };
    let secs = match danegate_admin::readiness::parse_since(since) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("since: {e}")),
    };
    match st.admin.readiness(secs).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// Sets DANE Mandatory for a domain through Destination Controls (validated, committed).
async fn set_dane_mandatory(AxState(st): AxState<State>, Path(domain): Path<String>) -> Response {
    let d = domain.clone();
    match blocking(&st, move |a| a.set_dane_mandatory(&d)).await {
        Err(r) => r,
        Ok(Ok(())) => Json(json!({ "domain": domain, "dane": "mandatory" })).into_response(),
        Ok(Err(e)) => form_errors(e),
    }
}

async fn host_status(AxState(st): AxState<State>, Path(domain): Path<String>) -> Response {
    Json(st.admin.host_status(&domain).await).into_response()
}

async fn deliver_now(AxState(st): AxState<State>, Path(domain): Path<String>) -> Response {
    let n = st.admin.deliver_now(Some(&domain)).await;
    Json(json!({ "domain": domain, "recipients": n })).into_response()
}

async fn deliver_all(AxState(st): AxState<State>) -> Response {
    let n = st.admin.deliver_now(None).await;
    Json(json!({ "recipients": n })).into_response()
}

#[derive(Deserialize, Default)]
struct BounceBody {
    mid: Option<u64>,
    rid: Option<u64>,
}

async fn bounce_domain(
    AxState(st): AxState<State>,
    Path(domain): Path<String>,
    req: Request,
) -> Response {
    let b: BounceBody = match optional_json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let one = match (b.mid, b.rid) {
        (Some(m), Some(r)) => Some((m, r)),
        (None, None) => None,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give both mid and rid (one recipient) or neither (every queued recipient)",
            );
        }
    };
    match ui::bounce_domain(&st.admin, &domain, one).await {
        Ok(n) => Json(json!({ "domain": domain, "bounced": n })).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, &e),
    }
}

#[derive(Deserialize)]
struct QueueQuery {
    domain: Option<String>,
    limit: Option<usize>,
}

async fn queue_list(AxState(st): AxState<State>, Query(q): Query<QueueQuery>) -> Response {
    let limit = q.limit.unwrap_or(1000).min(100_000);
    Json(st.admin.queue_list(q.domain.as_deref(), limit).await).into_response()
}

async fn queue_show(AxState(st): AxState<State>, Path(mid): Path<u64>) -> Response {
    match st.admin.queue_show(mid).await {
        Some(m) => Json(m).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no message MID {mid}")),
    }
}

async fn queue_delete(AxState(st): AxState<State>, Path(mid): Path<u64>) -> Response {
    if st.admin.delete(mid).await {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, &format!("no message MID {mid}"))
    }
}

async fn queue_bounce(AxState(st): AxState<State>, Path(mid): Path<u64>, req: Request) -> Response {
    let b: BounceBody = match optional_json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.admin.bounce(mid, b.rid).await {
        Ok(n) => Json(json!({ "mid": mid, "bounced": n })).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, &e),
    }
}

async fn commit(AxState(st): AxState<State>) -> Response {
    match blocking(&st, |a| a.commit()).await {
        Err(r) => r,
        Ok(Ok(message)) => Json(json!({ "message": message })).into_response(),
        Ok(Err(e)) => form_errors(e),
    }
}
