//! Web API bodies: the first input octet picks a route (method and path), the rest is
//! the request body, sent with a valid bearer token through the whole router of a
//! running gateway (authentication, body limits, JSON parsing, the admin layer).
#![no_main]

use axum::{
    body::Body,
    http::{Request, header},
};
use danegate_fuzz::{gateway, runtime};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/destinations"),
    ("PUT", "/api/v1/destinations/fuzz.test"),
    ("POST", "/api/v1/routes"),
    ("PUT", "/api/v1/routes/fuzz.test"),
    ("PUT", "/api/v1/dns"),
    ("POST", "/api/v1/queue/1/bounce"),
    ("POST", "/api/v1/delivery-status/fuzz.test/bounce"),
    ("POST", "/login"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let gw = gateway();
    let (method, path) = ROUTES[usize::from(pick) % ROUTES.len()];
    let form = path == "/login";
    let Ok(req) = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", gw.token))
        .header(
            header::CONTENT_TYPE,
            if form {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            },
        )
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let router = gw.router.clone();
    let _ = runtime().block_on(async move {
        let Ok(r) = router.oneshot(req).await;
        let _ = axum::body::to_bytes(r.into_body(), 1 << 20).await;
    });
});
