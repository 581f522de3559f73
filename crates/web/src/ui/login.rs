//! The login page, login and logout.

#[allow(unused_imports)]
use super::*;

pub(crate) async fn login_page(AxState(st): AxState<State>, req: Request) -> Response {
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

pub(crate) fn set_cookie(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(crate) fn setup_page(st: &State) -> Response {
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

pub(crate) fn login_form(session: &auth::Session, error: Option<&str>) -> Markup {
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
pub(crate) struct LoginForm {
    #[serde(default)]
    password: String,
}

pub(crate) async fn login(AxState(st): AxState<State>, req: Request) -> Response {
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

pub(crate) async fn logout(AxState(st): AxState<State>, req: Request) -> Response {
    if let Some(id) = http::session_id(req.headers()) {
        st.sessions.remove(&id);
    }
    let mut res = Redirect::to("/login").into_response();
    set_cookie(&mut res, &http::clear_cookie());
    res
}
