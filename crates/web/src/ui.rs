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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::csrf_guard,
        ))
        .with_state(state)
}

// ---------------------------------------------------------------- helpers

async fn app_js() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    )
}

async fn app_css() -> Response {
    static_file("text/css; charset=utf-8", include_str!("static/app.css"))
}

fn static_file(ctype: &'static str, body: &'static str) -> Response {
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
async fn blocking<T: Send + 'static>(
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
enum Nav {
    Status,
    Destinations,
    Routes,
    Dns,
    None,
}

fn page(title: &str, nav: Nav, session: Option<&auth::Session>, body: Markup) -> Markup {
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

fn csrf_field(s: &auth::Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

fn field_errors(errors: &[FieldError], fields: &[&str]) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| fields.contains(&e.field.as_str())) {
            span.error data-field=(e.field) { (e.message) @if !e.value.is_empty() { " (" (e.value) ")" } }
        }
    }
}

fn general_errors(errors: &[FieldError], shown: &[&str]) -> Markup {
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
struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    d: String,
    #[serde(default)]
    n: Option<u64>,
}

fn done_banner(q: &Done) -> Markup {
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

// ---------------------------------------------------------------- login

async fn login_page(AxState(st): AxState<State>, req: Request) -> Response {
    let headers = req.headers();
    let existing = http::session_id(headers).and_then(|id| st.sessions.get(&id).map(|s| (id, s)));
    if let Some((_, s)) = &existing
        && s.authenticated
    {
        return Redirect::to("/").into_response();
    }
    match auth::read_password_hash(&st.settings.password_hash_file) {
        Ok(Some(_)) => {}
        Ok(None) => return setup_page(&st),
        Err(e) => {
            tracing::error!(target: "danegate::web", "{}: {e}", st.settings.password_hash_file.display());
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                page(
                    "Error",
                    Nav::None,
                    None,
                    html! { p { "The password file cannot be read; see the gateway's log." } },
                ),
            );
        }
    }
    let (id, session) = match existing {
        Some(x) => x,
        None => match st.sessions.create(false) {
            Ok(x) => x,
            Err(_) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness\n").into_response();
            }
        },
    };
    let mut res = respond(StatusCode::OK, login_form(&session, None));
    set_cookie(&mut res, &http::session_cookie(&id));
    res
}

fn set_cookie(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn setup_page(st: &State) -> Response {
    let file = st.settings.password_hash_file.display().to_string();
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "Set a password",
            Nav::None,
            None,
            html! {
                h1 { "No administrator password is set" }
                p { "danegate has no default password. On the gateway host, set one with:" }
                pre id="setup-command" { "danegate web-passwd --config /etc/danegate/danegate.toml" }
                p { "(or " code { "--data-dir DIR" } " for a gateway running on the embedded default). "
                    "It reads the password from standard input and writes its argon2 hash to "
                    code { (file) } " (mode 0600). Then reload this page; no restart is needed." }
            },
        ),
    )
}

fn login_form(session: &auth::Session, error: Option<&str>) -> Markup {
    page(
        "Log in",
        Nav::None,
        None,
        html! {
            h1 { "Log in" }
            @if let Some(e) = error { p.errors id="login-error" { (e) } }
            form method="post" action="/login" id="login-form" {
                (csrf_field(session))
                table.form {
                    tr { th { label for="username" { "User" } } td { input type="text" id="username" name="username" value="admin" readonly; } }
                    tr { th { label for="password" { "Password" } } td { input type="password" id="password" name="password" autofocus required; } }
                }
                p { button type="submit" id="login-submit" { "Log in" } }
            }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    password: String,
}

async fn login(AxState(st): AxState<State>, req: Request) -> Response {
    let ip = http::client_ip(req.extensions());
    let old = http::session_id(req.headers());
    let body = match axum::body::to_bytes(req.into_body(), http::MAX_FORM).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response(),
    };
    let form: LoginForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad form\n").into_response(),
    };
    // csrf_guard ran: the pre-login session exists.
    let Some(pre) = old.as_deref().and_then(|id| st.sessions.get(id)) else {
        return Redirect::to("/login").into_response();
    };
    // The attempt is counted before the (slow) verification: parallel attempts cannot
    // all pass the check before the first failure is recorded.
    if let Err(wait) = st.limiter.begin(ip) {
        tracing::warn!(target: "danegate::web", "web UI login from {ip} refused: too many failures");
        let mut res = respond(
            StatusCode::TOO_MANY_REQUESTS,
            login_form(
                &pre,
                Some(&format!(
                    "Too many failed logins from {ip}: try again in {} seconds.",
                    wait.as_secs().max(1)
                )),
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let hash = match auth::read_password_hash(&st.settings.password_hash_file) {
        Ok(Some(h)) => h,
        Ok(None) => return setup_page(&st),
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "password file unreadable\n",
            )
                .into_response();
        }
    };
    let Some(ok) = st.verify_slots.verify(hash, form.password).await else {
        tracing::warn!(target: "danegate::web", "web UI login from {ip} refused: too many logins in progress");
        let mut res = respond(
            StatusCode::SERVICE_UNAVAILABLE,
            login_form(&pre, Some("Too many logins in progress: try again.")),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    if !ok {
        tracing::warn!(target: "danegate::web", "web UI login from {ip} failed: wrong password");
        return respond(
            StatusCode::UNAUTHORIZED,
            login_form(&pre, Some("Wrong password.")),
        );
    }
    st.limiter.succeed(ip);
    if let Some(id) = &old {
        st.sessions.remove(id);
    }
    // A new id at login: a session id planted before login is worth nothing after it.
    let (id, _) = match st.sessions.create(true) {
        Ok(x) => x,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness\n").into_response(),
    };
    tracing::info!(target: "danegate::web", "web UI login from {ip}");
    let mut res = Redirect::to("/delivery-status").into_response();
    set_cookie(&mut res, &http::session_cookie(&id));
    res
}

async fn logout(AxState(st): AxState<State>, req: Request) -> Response {
    if let Some(id) = http::session_id(req.headers()) {
        st.sessions.remove(&id);
    }
    let mut res = Redirect::to("/login").into_response();
    set_cookie(&mut res, &http::clear_cookie());
    res
}

// ---------------------------------------------------------------- destination controls

async fn destinations(AxState(st): AxState<State>, a: Authed, Query(q): Query<Done>) -> Response {
    let list = st.admin.destinations();
    let editable = st.admin.config_path().is_some();
    let body = html! {
        h1 { "Destination Controls" }
        (done_banner(&q))
        @if !editable { (read_only_note()) }
        p { a href="/destinations/new" id="add-destination" { "Add Destination…" } }
        table id="destinations" {
            thead { tr {
                th { "Destination" } th { "IP Address Preference" } th { "Concurrent Connections" }
                th { "Messages per Connection" } th { "Recipient Limit" } th { "Apply Limits" }
                th { "TLS Support" } th { "DANE Support" } th { "Bounce Profile" } th { "Delete" }
            } }
            tbody {
                @for d in &list {
                    tr data-domain=(d.domain) {
                        td { a href={ "/destinations/" (enc(&d.domain)) } { @if d.is_default { "Default" } @else { (d.domain) } } }
                        td { (shown(d, "ip_preference", d.ip_preference.clone())) }
                        td.num { (shown(d, "max_concurrent_connections", d.max_concurrent_connections.to_string())) }
                        td.num { (shown(d, "max_messages_per_connection", d.max_messages_per_connection.to_string())) }
                        td { (shown(d, "recipient_limit", recipient_limit_text(d))) }
                        td { (shown(d, "apply_limits", d.apply_limits.clone())) }
                        td { (shown(d, "tls", d.tls.clone())) }
                        td { (shown(d, "dane", d.dane.clone())) }
                        td { (shown(d, "bounce_profile", d.bounce_profile.clone())) }
                        td {
                            @if !d.is_default {
                                form.inline method="post" action={ "/destinations/" (enc(&d.domain)) "/delete" }
                                    data-confirm={ "Delete the destination control of " (d.domain) "?" } {
                                    (csrf_field(&a.session))
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.hint { "Values in italics follow the default profile." }
    };
    respond(
        StatusCode::OK,
        page(
            "Destination Controls",
            Nav::Destinations,
            Some(&a.session),
            body,
        ),
    )
}

fn read_only_note() -> Markup {
    html! {
        p.warning id="read-only" {
            "danegate runs on its embedded default configuration: changes are refused. "
            "Start it with " code { "danegate serve --config FILE" } " to edit."
        }
    }
}

fn shown(d: &DestinationView, field: &str, value: String) -> Markup {
    if d.is_default || d.explicit.iter().any(|f| f == field) {
        html! { (value) }
    } else {
        html! { i title="follows the default profile" { (value) } }
    }
}

fn recipient_limit_text(d: &DestinationView) -> String {
    match &d.recipient_limit {
        None => "No Limit".into(),
        Some(r) => format!("{} per {} min", r.recipients, r.per_minutes),
    }
}

/// The add/edit form as the browser sends it. "" (or a `*_mode` of `default`) means
/// "Use Default".
#[derive(Deserialize, Default, Clone, Debug)]
struct DestForm {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    ip_preference: String,
    #[serde(default)]
    conn_mode: String,
    #[serde(default)]
    max_concurrent_connections: String,
    #[serde(default)]
    msgs_mode: String,
    #[serde(default)]
    max_messages_per_connection: String,
    #[serde(default)]
    rcpt_mode: String,
    #[serde(default)]
    recipient_limit: String,
    #[serde(default)]
    recipient_limit_per_minutes: String,
    #[serde(default)]
    apply_limits: String,
    #[serde(default)]
    tls: String,
    /// Absent when the select is disabled (TLS Support None).
    dane: Option<String>,
    #[serde(default)]
    bounce_profile: String,
    /// Bounce Verification address tagging: `yes`, `no`, or empty (Use Default).
    #[serde(default)]
    bounce_verification: String,
}

impl DestForm {
    fn from_view(v: &DestinationView) -> DestForm {
        let ex = |f: &str| v.is_default || v.explicit.iter().any(|e| e == f);
        let pick = |f: &str, val: &str| {
            if ex(f) {
                val.to_string()
            } else {
                String::new()
            }
        };
        let mode = |f: &str| if ex(f) { "max" } else { "default" }.to_string();
        DestForm {
            domain: v.domain.clone(),
            ip_preference: pick("ip_preference", &v.ip_preference),
            conn_mode: mode("max_concurrent_connections"),
            max_concurrent_connections: v.max_concurrent_connections.to_string(),
            msgs_mode: mode("max_messages_per_connection"),
            max_messages_per_connection: v.max_messages_per_connection.to_string(),
            rcpt_mode: if ex("recipient_limit") && v.recipient_limit.is_some() {
                "max".into()
            } else {
                "default".into()
            },
            recipient_limit: v
                .recipient_limit
                .as_ref()
                .map(|r| r.recipients.to_string())
                .unwrap_or_else(|| "0".into()),
            recipient_limit_per_minutes: v
                .recipient_limit
                .as_ref()
                .map(|r| r.per_minutes.to_string())
                .unwrap_or_else(|| "60".into()),
            apply_limits: pick("apply_limits", &v.apply_limits),
            tls: pick("tls", &v.tls),
            dane: Some(pick("dane", &v.dane)),
            bounce_profile: pick("bounce_profile", &v.bounce_profile),
            bounce_verification: pick(
                "bounce_verification",
                if v.bounce_verification { "yes" } else { "no" },
            ),
        }
    }

    fn new_default() -> DestForm {
        DestForm {
            conn_mode: "default".into(),
            msgs_mode: "default".into(),
            rcpt_mode: "default".into(),
            recipient_limit: "0".into(),
            recipient_limit_per_minutes: "60".into(),
            dane: Some(String::new()),
            ..DestForm::default()
        }
    }

    /// What the admin layer takes. Adding: "Use Default" is `None` (inherit). Editing:
    /// it is `"default"` (drop the explicit value), since `None` would keep it.
    fn to_admin(&self, editing: bool) -> DestinationForm {
        let def = || {
            if editing {
                Some("default".to_string())
            } else {
                None
            }
        };
        let opt = |v: &str| {
            let v = v.trim();
            if v.is_empty() {
                def()
            } else {
                Some(v.to_string())
            }
        };
        let max = |mode: &str, v: &str| {
            if mode == "max" {
                Some(v.trim().to_string())
            } else {
                def()
            }
        };
        let (rl, rlm) = if self.rcpt_mode == "max" {
            (
                Some(self.recipient_limit.trim().to_string()),
                Some(self.recipient_limit_per_minutes.trim().to_string()),
            )
        } else {
            (def(), None)
        };
        DestinationForm {
            domain: self.domain.trim().to_string(),
            ip_preference: opt(&self.ip_preference),
            max_concurrent_connections: max(&self.conn_mode, &self.max_concurrent_connections),
            max_messages_per_connection: max(&self.msgs_mode, &self.max_messages_per_connection),
            recipient_limit: rl,
            recipient_limit_per_minutes: rlm,
            apply_limits: opt(&self.apply_limits),
            tls: opt(&self.tls),
            // A disabled DANE select (TLS Support None) sends nothing: DANE follows TLS.
            dane: match &self.dane {
                None => def(),
                Some(v) => opt(v),
            },
            bounce_profile: opt(&self.bounce_profile),
            outbound_interface: None,
            bounce_verification: opt(&self.bounce_verification),
        }
    }
}

const IP_PREFS: &[(&str, &str)] = &[
    ("ipv6-preferred", "IPv6 Preferred"),
    ("ipv4-preferred", "IPv4 Preferred"),
    ("ipv4-only", "IPv4 Only"),
    ("ipv6-only", "IPv6 Only"),
];
const TLS: &[(&str, &str)] = &[
    ("none", "None"),
    ("preferred", "Preferred"),
    ("required", "Required"),
    ("preferred-verify", "Preferred - Verify"),
    ("required-verify", "Required - Verify"),
    (
        "required-verify-hosted-domains",
        "Required - Verify Hosted Domains",
    ),
];
const DANE: &[(&str, &str)] = &[
    ("none", "None"),
    ("opportunistic", "Opportunistic"),
    ("mandatory", "Mandatory"),
];
const YES_NO: &[(&str, &str)] = &[("no", "No"), ("yes", "Yes")];
const APPLY: &[(&str, &str)] = &[
    ("system-wide", "System Wide"),
    ("per-interface", "Each Outbound Interface"),
];

fn label_of(list: &[(&str, &'static str)], v: &str) -> String {
    list.iter()
        .find(|(k, _)| *k == v)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| v.to_string())
}

fn select(
    name: &str,
    list: &[(&str, &str)],
    current: &str,
    default_label: Option<String>,
    default_value: &str,
) -> Markup {
    html! {
        select id=(name) name=(name) data-default=(default_value) {
            @if let Some(l) = default_label {
                option value="" selected[current.is_empty()] { (l) }
            }
            @for (v, l) in list {
                option value=(v) selected[current == *v] { (l) }
            }
        }
    }
}

const FORM_FIELDS: &[&str] = &[
    "domain",
    "ip_preference",
    "max_concurrent_connections",
    "max_messages_per_connection",
    "recipient_limit",
    "recipient_limit_per_minutes",
    "apply_limits",
    "tls",
    "dane",
    "bounce_profile",
    "bounce_verification",
];

fn destination_form(
    st: &State,
    session: &auth::Session,
    f: &DestForm,
    editing: Option<&str>,
    errors: &[FieldError],
) -> Markup {
    let default = st.admin.destination("default");
    let is_default = editing == Some("default");
    // The default profile has no "Use Default" choice of its own.
    let dl = |label: &str, v: String| {
        if is_default {
            None
        } else {
            Some(format!(
                "Use Default ({})",
                if v.is_empty() { label.to_string() } else { v }
            ))
        }
    };
    let d_ip = default
        .as_ref()
        .map(|d| d.ip_preference.clone())
        .unwrap_or_default();
    let d_tls = default.as_ref().map(|d| d.tls.clone()).unwrap_or_default();
    let d_dane = default.as_ref().map(|d| d.dane.clone()).unwrap_or_default();
    let d_apply = default
        .as_ref()
        .map(|d| d.apply_limits.clone())
        .unwrap_or_default();
    // For the default profile itself, "Built-in default" is the product's value.
    let builtin = danegate_config::DestinationProfile::builtin_default();
    let d_conn = match (&default, is_default) {
        (Some(d), false) => d.max_concurrent_connections,
        _ => builtin.max_concurrent_connections,
    };
    let d_msgs = match (&default, is_default) {
        (Some(d), false) => d.max_messages_per_connection,
        _ => builtin.max_messages_per_connection,
    };
    let d_rcpt = default
        .as_ref()
        .map(recipient_limit_text)
        .unwrap_or_else(|| "No Limit".into());
    let d_bounce = default
        .as_ref()
        .map(|d| d.bounce_profile.clone())
        .unwrap_or_default();
    let d_bv = if default.as_ref().is_some_and(|d| d.bounce_verification) {
        "yes"
    } else {
        "no"
    };
    let profiles: Vec<String> = {
        let mut v: Vec<String> = st
            .admin
            .config()
            .bounce_profiles
            .iter()
            .map(|p| p.name.clone())
            .collect();
        if !v.iter().any(|n| n == "default") {
            v.insert(0, "default".into());
        }
        v
    };
    let profile_list: Vec<(&str, &str)> =
        profiles.iter().map(|p| (p.as_str(), p.as_str())).collect();
    let action = match editing {
        Some(d) => format!("/destinations/{}", enc(d)),
        None => "/destinations".to_string(),
    };
    let title = match editing {
        Some("default") => "Edit Default Destination Control".to_string(),
        Some(d) => format!("Edit Destination Control: {d}"),
        None => "Add Destination Control".to_string(),
    };
    let def_label = if is_default {
        "Built-in default"
    } else {
        "Use Default"
    };
    let dane_value = f.dane.clone().unwrap_or_default();
    html! {
        h1 { (title) }
        (general_errors(errors, FORM_FIELDS))
        @if st.admin.config_path().is_none() { (read_only_note()) }
        form method="post" action=(action) id="destination-form" novalidate {
            (csrf_field(session))
            table.form {
                tr {
                    th { label for="domain" { "Destination" } }
                    td {
                        @if editing.is_some() {
                            input type="text" id="domain" name="domain" value=(f.domain) readonly;
                        } @else {
                            input type="text" id="domain" name="domain" value=(f.domain) placeholder="example.com or .example.com" required;
                        }
                        (field_errors(errors, &["domain"]))
                    }
                }
                tr {
                    th { label for="ip_preference" { "IP Address Preference" } }
                    td {
                        (select("ip_preference", IP_PREFS, &f.ip_preference, dl("", label_of(IP_PREFS, &d_ip)), &d_ip))
                        (field_errors(errors, &["ip_preference"]))
                    }
                }
                tr {
                    th { "Concurrent Connections" }
                    td {
                        label { input type="radio" id="conn_default" name="conn_mode" value="default" checked[f.conn_mode != "max"]; " " (def_label) " (" (d_conn) ")" }
                        " "
                        label { input type="radio" id="conn_max" name="conn_mode" value="max" checked[f.conn_mode == "max"]; " Maximum of " }
                        input.num type="text" id="max_concurrent_connections" name="max_concurrent_connections" data-radio="conn_max" value=(f.max_concurrent_connections);
                        span.hint { " (between 1 and 1,000)" }
                        (field_errors(errors, &["max_concurrent_connections"]))
                    }
                }
                tr {
                    th { "Maximum Messages Per Connection" }
                    td {
                        label { input type="radio" id="msgs_default" name="msgs_mode" value="default" checked[f.msgs_mode != "max"]; " " (def_label) " (" (d_msgs) ")" }
                        " "
                        label { input type="radio" id="msgs_max" name="msgs_mode" value="max" checked[f.msgs_mode == "max"]; " Maximum of " }
                        input.num type="text" id="max_messages_per_connection" name="max_messages_per_connection" data-radio="msgs_max" value=(f.max_messages_per_connection);
                        span.hint { " (between 1 and 1,000)" }
                        (field_errors(errors, &["max_messages_per_connection"]))
                    }
                }
                tr {
                    th { "Recipients" }
                    td {
                        label { input type="radio" id="rcpt_default" name="rcpt_mode" value="default" checked[f.rcpt_mode != "max"]; " " (def_label) " (" (if is_default { "No Limit".to_string() } else { d_rcpt.clone() }) ")" }
                        " "
                        label { input type="radio" id="rcpt_max" name="rcpt_mode" value="max" checked[f.rcpt_mode == "max"]; " Maximum of " }
                        input.num type="text" id="recipient_limit" name="recipient_limit" data-radio="rcpt_max" value=(f.recipient_limit);
                        " per "
                        input.num type="text" id="recipient_limit_per_minutes" name="recipient_limit_per_minutes" data-radio="rcpt_max" value=(f.recipient_limit_per_minutes);
                        " minutes"
                        span.hint { br; "Number of recipients between 0 and 1,000,000,000 per number of minutes between 1 and 60" }
                        (field_errors(errors, &["recipient_limit", "recipient_limit_per_minutes"]))
                    }
                }
                tr {
                    th { "Apply Limits" }
                    td {
                        @if !is_default {
                            label { input type="radio" name="apply_limits" value="" checked[f.apply_limits.is_empty()]; " Use Default (" (label_of(APPLY, &d_apply)) ")" }
                            " "
                        }
                        @for (v, l) in APPLY {
                            label { input type="radio" name="apply_limits" value=(v) checked[f.apply_limits == *v]; " " (l) }
                            " "
                        }
                        (field_errors(errors, &["apply_limits"]))
                    }
                }
                tr {
                    th { label for="tls" { "TLS Support" } }
                    td {
                        (select("tls", TLS, &f.tls, dl("", label_of(TLS, &d_tls)), &d_tls))
                        (field_errors(errors, &["tls"]))
                    }
                }
                tr {
                    th { label for="dane" { "DANE Support" } }
                    td {
                        (select("dane", DANE, &dane_value, dl("", label_of(DANE, &d_dane)), &d_dane))
                        span.hint id="dane-note" hidden { " DANE Support can be selected once TLS Support is enabled." }
                        (field_errors(errors, &["dane"]))
                    }
                }
                tr {
                    th { label for="bounce_verification" { "Bounce Verification" } }
                    td {
                        "Perform address tagging: "
                        (select("bounce_verification", YES_NO, &f.bounce_verification, dl("", label_of(YES_NO, d_bv)), d_bv))
                        span.hint { br; "Tags the envelope sender (BATV prvs=); bounces to a tagged address are accepted only with a valid tag." }
                        (field_errors(errors, &["bounce_verification"]))
                    }
                }
                tr {
                    th { label for="bounce_profile" { "Bounce Profile" } }
                    td {
                        (select("bounce_profile", &profile_list, &f.bounce_profile, dl("", d_bounce), ""))
                        (field_errors(errors, &["bounce_profile"]))
                    }
                }
            }
            div.actions {
                button type="submit" id="submit" { "Submit" }
                a href="/destinations" { "Cancel" }
            }
            p.hint { "Submit validates the change, writes the configuration file and commits it to the running gateway." }
        }
    }
}

async fn new_destination(AxState(st): AxState<State>, a: Authed) -> Response {
    let body = destination_form(&st, &a.session, &DestForm::new_default(), None, &[]);
    respond(
        StatusCode::OK,
        page("Add Destination", Nav::Destinations, Some(&a.session), body),
    )
}

async fn add_destination(
    AxState(st): AxState<State>,
    a: Authed,
    Form(f): Form<DestForm>,
) -> Response {
    let form = f.to_admin(false);
    let domain = form.domain.clone();
    match blocking(&st, move |ad| ad.add_destination(&form)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/destinations?done=added&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => {
            let body = destination_form(&st, &a.session, &f, None, &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page("Add Destination", Nav::Destinations, Some(&a.session), body),
            )
        }
    }
}

async fn edit_destination_page(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
) -> Response {
    match st.admin.destination(&domain) {
        None => not_found(&a.session, &format!("No destination control for {domain}.")),
        Some(v) => {
            let key = if v.is_default {
                "default".to_string()
            } else {
                v.domain.clone()
            };
            let body = destination_form(&st, &a.session, &DestForm::from_view(&v), Some(&key), &[]);
            respond(
                StatusCode::OK,
                page(
                    "Edit Destination",
                    Nav::Destinations,
                    Some(&a.session),
                    body,
                ),
            )
        }
    }
}

async fn edit_destination(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Form(mut f): Form<DestForm>,
) -> Response {
    f.domain = domain.clone();
    let form = f.to_admin(true);
    let d = domain.clone();
    match blocking(&st, move |ad| ad.edit_destination(&d, &form)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/destinations?done=saved&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => {
            let body = destination_form(&st, &a.session, &f, Some(&domain), &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(
                    "Edit Destination",
                    Nav::Destinations,
                    Some(&a.session),
                    body,
                ),
            )
        }
    }
}

async fn delete_destination(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
) -> Response {
    let d = domain.clone();
    match blocking(&st, move |ad| ad.delete_destination(&d)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/destinations?done=deleted&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => error_page(
            &a.session,
            Nav::Destinations,
            "Destination not deleted",
            &errors,
        ),
    }
}

fn error_page(session: &auth::Session, nav: Nav, title: &str, errors: &FormErrors) -> Response {
    respond(
        StatusCode::UNPROCESSABLE_ENTITY,
        page(
            title,
            nav,
            Some(session),
            html! {
                h1 { (title) }
                div.errors id="errors" { ul { @for e in &errors.errors { li { (e.to_string()) } } } }
                p { a href="javascript:history.back()" { "Back" } }
            },
        ),
    )
}

fn not_found(session: &auth::Session, text: &str) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            Nav::None,
            Some(session),
            html! { h1 { "Not found" } p { (text) } },
        ),
    )
}

// ---------------------------------------------------------------- delivery status

#[derive(Deserialize, Default)]
pub(crate) struct SortQuery {
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub order: String,
}

/// The Delivery Status columns: (query key, heading).
const COLUMNS: &[(&str, &str)] = &[
    ("domain", "Destination Domain"),
    ("active", "Active Recipients"),
    ("connections_out", "Connections Out"),
    ("in_flight", "In Delivery"),
    ("delivered", "Delivered Recipients"),
    ("soft_bounced", "Soft Bounced Events"),
    ("hard_bounced", "Hard Bounced Recipients"),
    ("last", "Latest TLS / DANE Outcome"),
];

/// Sorts per `sort`/`order` (default: active recipients, most first, as the seed asks
/// to watch that column). Unknown keys sort by domain.
pub(crate) fn sort_status(list: &mut [DomainStatus], sort: &str, order: &str) -> (String, bool) {
    let key = if COLUMNS.iter().any(|(k, _)| *k == sort) {
        sort
    } else if sort.is_empty() {
        "active"
    } else {
        "domain"
    };
    let desc = match order {
        "asc" => false,
        "desc" => true,
        _ => key != "domain" && key != "last",
    };
    list.sort_by(|a, b| {
        let o = match key {
            "active" => a.active.cmp(&b.active),
            "in_flight" => a.in_flight.cmp(&b.in_flight),
            "connections_out" => a.connections_out.cmp(&b.connections_out),
            "delivered" => a.delivered.cmp(&b.delivered),
            "soft_bounced" => a.soft_bounced.cmp(&b.soft_bounced),
            "hard_bounced" => a.hard_bounced.cmp(&b.hard_bounced),
            "last" => a
                .last
                .as_ref()
                .map(|l| l.dane.clone())
                .cmp(&b.last.as_ref().map(|l| l.dane.clone())),
            _ => std::cmp::Ordering::Equal,
        };
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| a.domain.cmp(&b.domain))
    });
    (key.to_string(), desc)
}

fn outcome_text(s: &DomainStatus) -> Markup {
    match &s.last {
        None => html! { span.hint { "not tried yet" } },
        Some(l) => html! {
            (l.dane)
            @if let (Some(p), Some(c)) = (&l.tls_protocol, &l.tls_cipher) { br; "TLS " (p) " " (c) }
            @else { br; "no TLS" }
            @if let Some(h) = &l.host { br; span.hint { (h) } }
        },
    }
}

async fn delivery_status(
    AxState(st): AxState<State>,
    a: Authed,
    Query(q): Query<SortQuery>,
) -> Response {
    let mut list = st.admin.delivery_status().await;
    let (key, desc) = sort_status(&mut list, &q.sort, &q.order);
    let total_active: u64 = list.iter().map(|d| d.active).sum();
    let body = html! {
        h1 { "Delivery Status" }
        p { "Active recipients in the queue: " strong id="total-active" { (total_active) } }
        table id="delivery-status" {
            thead { tr {
                @for (k, label) in COLUMNS {
                    @let next = if *k == key && !desc { "desc" } else { "asc" };
                    th { a href={ "/delivery-status?sort=" (k) "&order=" (next) } data-sort=(k) {
                        (label)
                        @if *k == key { (if desc { " ▼" } else { " ▲" }) }
                    } }
                }
            } }
            tbody {
                @for d in &list {
                    tr data-domain=(d.domain) {
                        td { a href={ "/delivery-status/" (enc(&d.domain)) } { (d.domain) } }
                        td.num { (d.active) }
                        td.num { (d.connections_out) }
                        td.num { (d.in_flight) }
                        td.num { (d.delivered) }
                        td.num { (d.soft_bounced) }
                        td.num { (d.hard_bounced) }
                        td { (outcome_text(d)) }
                    }
                }
                @if list.is_empty() { tr { td colspan="8" { "No destination domains yet." } } }
            }
        }
        p.hint { "Connections Out: delivery connections open now. In Delivery: recipients being delivered at this moment." }
    };
    respond(
        StatusCode::OK,
        page("Delivery Status", Nav::Status, Some(&a.session), body),
    )
}

async fn host_status(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let h: HostStatus = st.admin.host_status(&domain).await;
    let p = &h.profile;
    let body = html! {
        h1 { "Host Status: " (h.domain) }
        (done_banner(&q))
        div.actions {
            form.inline method="post" action={ "/delivery-status/" (enc(&h.domain)) "/deliver-now" } {
                (csrf_field(&a.session))
                button type="submit" id="deliver-now" { "Deliver now" }
            }
            form.inline method="post" action={ "/delivery-status/" (enc(&h.domain)) "/bounce" }
                data-confirm={ "Bounce every queued recipient of " (h.domain) "?" } {
                (csrf_field(&a.session))
                button type="submit" id="bounce-all" { "Bounce all queued" }
            }
        }
        h2 { "Counters" }
        table id="counters" {
            tr { th { "Active Recipients" } td.num { (h.counts.active) } }
            tr { th { "Connections Out" } td.num { (h.counts.connections_out) } }
            tr { th { "In Delivery" } td.num { (h.counts.in_flight) } }
            tr { th { "Delivered Recipients" } td.num { (h.counts.delivered) } }
            tr { th { "Soft Bounced Events" } td.num { (h.counts.soft_bounced) } }
            tr { th { "Hard Bounced Recipients" } td.num { (h.counts.hard_bounced) } }
        }
        h2 { "Latest outcome" }
        @match &h.counts.last {
            None => p { "No delivery attempt since the gateway started." },
            Some(l) => table id="last-outcome" {
                tr { th { "When" } td { (fmt_time(l.when)) } }
                tr { th { "Host" } td { (l.host.clone().unwrap_or_else(|| "—".into())) } }
                tr { th { "DANE" } td id="last-dane" { (l.dane) } }
                tr { th { "TLS" } td { @if let (Some(pr), Some(c)) = (&l.tls_protocol, &l.tls_cipher) { (pr) " " (c) } @else { "none" } } }
                tr { th { "Detail" } td { (l.detail) } }
            },
        }
        h2 { "Destination control applied" }
        table id="profile" {
            tr { th { "Profile" } td { a href={ "/destinations/" (enc(if p.is_default { "default" } else { &p.domain })) } { @if p.is_default { "Default" } @else { (p.domain) } } } }
            tr { th { "TLS Support" } td { (p.tls) } }
            tr { th { "DANE Support" } td { (p.dane) } }
            tr { th { "Concurrent Connections" } td { (p.max_concurrent_connections) } }
            tr { th { "Messages per Connection" } td { (p.max_messages_per_connection) } }
            tr { th { "Recipient Limit" } td { (recipient_limit_text(p)) } }
            tr { th { "Bounce Profile" } td { (p.bounce_profile) } }
            tr { th { "Bounce Verification" } td { @if p.bounce_verification { "Yes" } @else { "No" } } }
            @if let Some(r) = &h.route {
                tr { th { "SMTP Route" } td { (r.hosts.join(", ")) @if let Some(w) = &r.dane_warning { br; span.warning { (w) } } } }
            }
        }
        h2 { "Queued recipients (" (h.queued.len()) ")" }
        table id="queued" {
            thead { tr { th { "MID" } th { "RID" } th { "Recipient" } th { "Sender" } th { "Received" } th { "Attempts" } th { "Next attempt" } th { "Last reason" } th { "" } } }
            tbody {
                @for r in &h.queued {
                    tr {
                        td.num { (r.mid) } td.num { (r.rid) } td { (r.address) } td { (r.sender) }
                        td { (fmt_time(r.received_at)) } td.num { (r.attempts) }
                        td { @if r.in_flight { "in delivery" } @else { (fmt_time(r.next_attempt)) } }
                        td { (r.last_reason.clone().unwrap_or_default()) }
                        td {
                            form.inline method="post" action={ "/delivery-status/" (enc(&h.domain)) "/bounce" }
                                data-confirm={ "Bounce " (r.address) "?" } {
                                (csrf_field(&a.session))
                                input type="hidden" name="mid" value=(r.mid);
                                input type="hidden" name="rid" value=(r.rid);
                                button type="submit" { "Bounce" }
                            }
                        }
                    }
                }
                @if h.queued.is_empty() { tr { td colspan="9" { "Nothing queued." } } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page("Host Status", Nav::Status, Some(&a.session), body),
    )
}

async fn deliver_now(
    AxState(st): AxState<State>,
    _a: Authed,
    Path(domain): Path<String>,
) -> Response {
    let n = st.admin.deliver_now(Some(&domain)).await;
    tracing::info!(target: "danegate::web", "web UI: deliver now {domain} ({n} recipients)");
    Redirect::to(&format!(
        "/delivery-status/{}?done=delivered&d={}&n={n}",
        enc(&domain),
        enc(&domain)
    ))
    .into_response()
}

#[derive(Deserialize)]
struct BounceForm {
    mid: Option<u64>,
    rid: Option<u64>,
}

/// Bounces one queued recipient (`mid` + `rid`) or every queued recipient of the domain.
pub(crate) async fn bounce_domain(
    admin: &Admin,
    domain: &str,
    one: Option<(u64, u64)>,
) -> Result<usize, String> {
    match one {
        Some((mid, rid)) => {
            // Only a recipient of this domain.
            let queued = admin.queue_list(Some(domain), 100_000).await;
            if !queued.iter().any(|q| q.mid == mid && q.rid == rid) {
                return Err(format!("MID {mid} RID {rid} is not queued for {domain}"));
            }
            admin.bounce(mid, Some(rid)).await
        }
        None => {
            let mut n = 0;
            for q in admin.queue_list(Some(domain), 100_000).await {
                if q.in_flight {
                    continue;
                }
                if let Ok(k) = admin.bounce(q.mid, Some(q.rid)).await {
                    n += k;
                }
            }
            Ok(n)
        }
    }
}

async fn bounce(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Form(f): Form<BounceForm>,
) -> Response {
    let one = f.mid.zip(f.rid);
    match bounce_domain(&st.admin, &domain, one).await {
        Ok(n) => {
            tracing::info!(target: "danegate::web", "web UI: bounced {n} recipient(s) of {domain}");
            Redirect::to(&format!(
                "/delivery-status/{}?done=bounced&d={}&n={n}",
                enc(&domain),
                enc(&domain)
            ))
            .into_response()
        }
        Err(e) => error_page(
            &a.session,
            Nav::Status,
            "Nothing bounced",
            &FormErrors {
                errors: vec![FieldError {
                    field: String::new(),
                    key: String::new(),
                    value: String::new(),
                    message: e,
                }],
            },
        ),
    }
}

// ---------------------------------------------------------------- SMTP routes

#[derive(Deserialize, Default)]
struct RouteForm {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    hosts: String,
}

/// `"a.example:2525, b.example"` or `"USEDNS"` → the list.
pub(crate) fn split_hosts(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

fn routes_body(
    st: &State,
    a: &Authed,
    q: &Done,
    form: &RouteForm,
    errors: &[FieldError],
) -> Markup {
    let routes = st.admin.routes();
    html! {
        h1 { "SMTP Routes" }
        (done_banner(q))
        @if st.admin.config_path().is_none() { (read_only_note()) }
        table id="routes" {
            thead { tr { th { "Receiving Domain" } th { "Destination Hosts" } th { "" } } }
            tbody {
                @for r in &routes {
                    tr data-domain=(r.domain) {
                        td { (r.domain) }
                        td { (r.hosts.join(", ")) @if let Some(w) = &r.dane_warning { br; span.warning { (w) } } }
                        td {
                            form.inline method="post" action={ "/routes/" (enc(&r.domain)) "/delete" }
                                data-confirm={ "Delete the SMTP route of " (r.domain) "?" } {
                                (csrf_field(&a.session))
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
                @if routes.is_empty() { tr { td colspan="3" { "No SMTP routes: every domain is delivered by its MX records." } } }
            }
        }
        h2 { "Add or replace a route" }
        (general_errors(errors, &["domain", "hosts"]))
        form method="post" action="/routes" id="route-form" {
            (csrf_field(&a.session))
            table.form {
                tr { th { label for="route-domain" { "Receiving Domain" } }
                     td { input type="text" id="route-domain" name="domain" value=(form.domain) placeholder="example.com or .example.com";
                          (field_errors(errors, &["domain"])) } }
                tr { th { label for="route-hosts" { "Destination Hosts" } }
                     td { input type="text" id="route-hosts" name="hosts" value=(form.hosts) size="50" placeholder="relay.example:2525, relay2.example  or  USEDNS";
                          span.hint { br; "In order of preference, separated by commas. DANE can only be verified with USEDNS." }
                          (field_errors(errors, &["hosts"])) } }
            }
            div.actions { button type="submit" id="route-submit" { "Submit" } }
        }
    }
}

async fn routes_page(AxState(st): AxState<State>, a: Authed, Query(q): Query<Done>) -> Response {
    let body = routes_body(&st, &a, &q, &RouteForm::default(), &[]);
    respond(
        StatusCode::OK,
        page("SMTP Routes", Nav::Routes, Some(&a.session), body),
    )
}

async fn set_route(AxState(st): AxState<State>, a: Authed, Form(f): Form<RouteForm>) -> Response {
    let domain = f.domain.trim().to_string();
    let hosts = split_hosts(&f.hosts);
    let d = domain.clone();
    match blocking(&st, move |ad| ad.set_route(&d, &hosts)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/routes?done=route-saved&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => {
            let body = routes_body(&st, &a, &Done::default(), &f, &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page("SMTP Routes", Nav::Routes, Some(&a.session), body),
            )
        }
    }
}

async fn delete_route(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
) -> Response {
    let d = domain.clone();
    match blocking(&st, move |ad| ad.delete_route(&d)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/routes?done=route-deleted&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => error_page(&a.session, Nav::Routes, "Route not deleted", &errors),
    }
}

// ---------------------------------------------------------------- DNS

#[derive(Deserialize, Default)]
struct DnsUiForm {
    #[serde(default)]
    resolvers: String,
    #[serde(default)]
    timeout_secs: String,
    #[serde(default)]
    trust_anchor_file: String,
}

impl DnsUiForm {
    /// The form filled with the configuration in force.
    fn current(admin: &Admin) -> Self {
        let c = admin.config();
        DnsUiForm {
            resolvers: c
                .dns
                .resolvers
                .iter()
                .map(|r| format!("{} {}\n", r.address, r.priority))
                .collect(),
            timeout_secs: c.dns.timeout.as_secs().to_string(),
            trust_anchor_file: c
                .dns
                .trust_anchor_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }
}

fn dns_body(
    st: &State,
    a: &Authed,
    q: &Done,
    dns: &danegate_admin::DnsView,
    form: &DnsUiForm,
    errors: &[FieldError],
) -> Markup {
    let fields = ["resolvers", "timeout_secs", "trust_anchor_file"];
    html! {
        h1 { "DNS" }
        (done_banner(q))
        @if st.admin.config_path().is_none() { (read_only_note()) }
        h2 { "Resolvers" }
        table id="upstreams" {
            thead { tr { th { "Address" } th { "Priority" } th { "DNSSEC probe" } } }
            tbody {
                @for u in &dns.upstreams {
                    tr {
                        td { (u.address) } td.num { (u.priority) }
                        td { @match u.capability.as_str() {
                            "dnssec" => "DNSSEC-capable",
                            "no-dnssec" => span.warning { "no DNSSEC: DANE domains would look Bogus" },
                            "unreachable" => span.warning { "unreachable" },
                            other => (other),
                        } }
                    }
                }
            }
        }
        p.hint { "Lower priority values are asked first; give DNSSEC-capable resolvers the lowest." }
        p id="dns-timeout" { "Query timeout: " (dns.timeout_secs) " s" }
        h2 { "Trust anchors" }
        p id="anchor-source" { "Source: " (dns.anchor_source) }
        table id="anchors" {
            thead { tr { th { "Owner" } th { "Type" } th { "Record" } th { "RFC 5011" } } }
            tbody {
                @for an in &dns.anchors {
                    tr { td { (an.owner) } td { (an.kind) } td { code { (an.text) } } td { (an.rfc5011) } }
                }
            }
        }
        h2 { "Edit DNS settings" }
        (general_errors(errors, &fields))
        form method="post" action="/dns" id="dns-form" {
            (csrf_field(&a.session))
            table.form {
                tr { th { label for="dns-resolvers" { "Resolvers" } }
                     td { textarea id="dns-resolvers" name="resolvers" rows="5" cols="40"
                              placeholder="127.0.0.1 0\n[::1]:53 10" { (form.resolvers) }
                          span.hint { br; "One " code { "ADDR[:PORT] PRIORITY" } " per line; empty: the nameservers of /etc/resolv.conf." }
                          (field_errors(errors, &["resolvers"])) } }
                tr { th { label for="dns-timeout" { "Query timeout (s)" } }
                     td { input type="text" id="dns-timeout" name="timeout_secs" value=(form.timeout_secs) size="4";
                          span.hint { " 1 – 60; empty: 3." }
                          (field_errors(errors, &["timeout_secs"])) } }
                tr { th { label for="dns-anchors" { "Trust-anchor file" } }
                     td { input type="text" id="dns-anchors" name="trust_anchor_file" value=(form.trust_anchor_file) size="40" placeholder="empty: built-in root anchors";
                          span.hint { br; "DS or DNSKEY lines in zone-file syntax; empty: the built-in root anchors." }
                          (field_errors(errors, &["trust_anchor_file"])) } }
            }
            div.actions { button type="submit" id="dns-submit" { "Submit" } }
        }
    }
}

async fn dns_page(AxState(st): AxState<State>, a: Authed, Query(q): Query<Done>) -> Response {
    let dns = st.admin.dns_probed().await;
    let form = DnsUiForm::current(&st.admin);
    let body = dns_body(&st, &a, &q, &dns, &form, &[]);
    respond(
        StatusCode::OK,
        page("DNS", Nav::Dns, Some(&a.session), body),
    )
}

async fn set_dns(AxState(st): AxState<State>, a: Authed, Form(f): Form<DnsUiForm>) -> Response {
    let form = DnsForm {
        resolvers: f.resolvers.clone(),
        timeout_secs: Some(f.timeout_secs.clone()),
        trust_anchor_file: Some(f.trust_anchor_file.clone()),
    };
    match blocking(&st, move |ad| ad.set_dns(&form)).await {
        Err(r) => r,
        Ok(Ok(())) => Redirect::to("/dns?done=dns-saved").into_response(),
        Ok(Err(errors)) => {
            let dns = st.admin.dns();
            let body = dns_body(&st, &a, &Done::default(), &dns, &f, &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page("DNS", Nav::Dns, Some(&a.session), body),
            )
        }
    }
}
