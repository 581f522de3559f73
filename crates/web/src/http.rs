//! HTTP plumbing: security headers, the session cookie, the CSRF check on every POST,
//! the authenticated-session extractor, the client address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, Request, State as AxState},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use crate::{State, auth::Session};

/// The session cookie's name.
pub const COOKIE: &str = "danegate_session";
/// The largest form body accepted.
pub const MAX_FORM: usize = 64 * 1024;

/// Adds the headers every response carries: no framing, no sniffing, a strict CSP (the
/// only script is /static/app.js), no caching of pages holding CSRF tokens.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The session id of the request's cookie, if any.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value for session `id` (HttpOnly, SameSite=Strict, whole site).
pub fn session_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The client's address (from the connection; 0.0.0.0 when unknown, e.g. in-process).
pub fn client_ip(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("403 Forbidden: {why}\n"),
    )
        .into_response()
}

/// Refuses every POST whose form does not carry the CSRF token of the request's session
/// (`csrf` field), before any handler runs. Also refuses a POST from another origin.
pub async fn csrf_guard(AxState(state): AxState<State>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    if let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        && origin != "null"
    {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
        if origin_host != host {
            return forbidden("cross-origin request");
        }
    }
    let Some(sid) = session_id(&parts.headers) else {
        return forbidden("no session (reload the page and try again)");
    };
    let Some(session) = state.sessions.get(&sid) else {
        return forbidden("the session expired (reload the page and try again)");
    };
    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response();
        }
    };
    let token = form_urlencoded_csrf(&bytes);
    match token {
        Some(t) if crate::auth::constant_time_eq(&t, &session.csrf) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => forbidden("missing or wrong CSRF token"),
    }
}

/// The `csrf` field of an urlencoded form.
fn form_urlencoded_csrf(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(body);
    pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v)
}

fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// An authenticated browser session (extractor). Without one, the request is redirected
/// to the login page.
pub struct Authed {
    /// The session.
    pub session: Session,
}

impl FromRequestParts<State> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        match session_id(&parts.headers).and_then(|id| state.sessions.get(&id)) {
            Some(session) if session.authenticated => Ok(Authed { session }),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}
