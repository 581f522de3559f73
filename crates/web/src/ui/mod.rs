//! The server-rendered pages. Every value shown goes through maud, which escapes it.

use axum::{
    Form, Router,
    extract::{Path, Query, Request, State as AxState},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use danegate_admin::{
    Admin, DestinationForm, DestinationView, DnsForm, DomainStatus, FieldError, FormErrors,
    HostStatus,
};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::{
    State, auth,
    http::{self, Authed},
};

mod destinations;
mod dns;
mod login;
mod readiness;
mod routes;
mod status;

pub(crate) use destinations::*;
pub(crate) use dns::*;
pub(crate) use login::*;
pub(crate) use readiness::*;
pub(crate) use routes::*;
pub(crate) use status::*;

pub fn routes(state: State) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/delivery-status") }))
        .route("/static/app.js", get(app_js))
        .route("/static/app.css", get(app_css))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/destinations", get(destinations).post(add_destination))
        .route("/destinations/new", get(new_destination))
        .route(
            "/destinations/{domain}",
            get(edit_destination_page).post(edit_destination),
        )
        .route("/destinations/{domain}/delete", post(delete_destination))
        .route("/delivery-status", get(delivery_status))
        .route("/delivery-status/{domain}", get(host_status))
        .route("/delivery-status/{domain}/deliver-now", post(deliver_now))
        .route("/delivery-status/{domain}/bounce", post(bounce))
        .route("/routes", get(routes_page).post(set_route))
        .route("/routes/{domain}/delete", post(delete_route))
        .route("/dns", get(dns_page).post(set_dns))
        .route("/readiness", get(readiness_page))
        .route("/readiness/{domain}/set-mandatory", post(set_mandatory))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::csrf_guard,
        ))
        .with_state(state)
}

// ---------------------------------------------------------------- helpers

pub(crate) async fn app_js() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    )
}

pub(crate) async fn app_css() -> Response {
    static_file("text/css; charset=utf-8", include_str!("../static/app.css"))
}

pub(crate) fn static_file(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Runs a (synchronous, file-writing) admin operation off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    st: &State,
    f: impl FnOnce(&Admin) -> T + Send + 'static,
) -> Result<T, Response> {
    let admin = st.admin.clone();
    tokio::task::spawn_blocking(move || f(&admin))
        .await
        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response())
}

/// A path segment, percent-encoded.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss UTC`.
pub(crate) fn fmt_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| danegate_timefmt::utc(s, danegate_timefmt::Layout::Readable))
        .unwrap_or_else(|| secs.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Status,
    Destinations,
    Routes,
    Dns,
    Readiness,
    None,
}

pub(crate) fn page(title: &str, nav: Nav, session: Option<&auth::Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — danegate" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    span.brand { "danegate" }
                    @if let Some(s) = session {
                        a.current[nav == Nav::Status] href="/delivery-status" { "Delivery Status" }
                        a.current[nav == Nav::Destinations] href="/destinations" { "Destination Controls" }
                        a.current[nav == Nav::Routes] href="/routes" { "SMTP Routes" }
                        a.current[nav == Nav::Dns] href="/dns" { "DNS" }
                        a.current[nav == Nav::Readiness] href="/readiness" { "Readiness" }
                        form.inline method="post" action="/logout" {
                            (csrf_field(s))
                            button type="submit" id="logout" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub(crate) fn csrf_field(s: &auth::Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

pub(crate) fn field_errors(errors: &[FieldError], fields: &[&str]) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| fields.contains(&e.field.as_str())) {
            span.error data-field=(e.field) { (e.message) @if !e.value.is_empty() { " (" (e.value) ")" } }
        }
    }
}

pub(crate) fn general_errors(errors: &[FieldError], shown: &[&str]) -> Markup {
    let rest: Vec<&FieldError> = errors
        .iter()
        .filter(|e| !shown.contains(&e.field.as_str()))
        .collect();
    html! {
        @if !rest.is_empty() {
            div.errors id="errors" {
                p { "The change was not applied:" }
                ul { @for e in rest { li { (e.to_string()) } } }
            }
        } @else if !errors.is_empty() {
            div.errors id="errors" { p { "The change was not applied: correct the fields marked below." } }
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    d: String,
    #[serde(default)]
    n: Option<u64>,
}

pub(crate) fn done_banner(q: &Done) -> Markup {
    let text = match q.done.as_str() {
        "added" => format!("Destination {} added and committed.", q.d),
        "saved" => format!("Destination {} saved and committed.", q.d),
        "deleted" => format!("Destination {} deleted and committed.", q.d),
        "route-saved" => format!("SMTP route for {} saved and committed.", q.d),
        "route-deleted" => format!("SMTP route for {} deleted and committed.", q.d),
        "dns-saved" => "DNS settings saved and committed.".to_string(),
        "delivered" => format!(
            "{} recipient(s) of {} scheduled for delivery now.",
            q.n.unwrap_or(0),
            q.d
        ),
        "bounced" => format!("{} recipient(s) of {} bounced.", q.n.unwrap_or(0), q.d),
        _ => return html! {},
    };
    html! { p.done id="done" { (text) } }
}
