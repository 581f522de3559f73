//! `/metrics` (Prometheus text exposition), `/healthz` (the process answers) and
//! `/readyz` (ready to take mail: 200, else 503 naming what is not ready), as an axum
//! router for the web listener and as the small listener of `danegate serve --metrics`.
//!
//! None of them needs authentication: they change nothing, and what they show carries
//! no message, address or domain (docs/security.md).

use std::{future::Future, io, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::health::{Probe, all_ok};

/// The content type of the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Shared = Arc<dyn Probe>;

/// The three endpoints over `probe`.
pub fn router(probe: Arc<dyn Probe>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(probe)
}

async fn metrics(State(probe): State<Shared>) -> Response {
    probe.refresh().await;
    match crate::exporter::render() {
        Some(text) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics recorder not installed\n",
        )
            .into_response(),
    }
}

async fn healthz() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        "ok\n",
    )
        .into_response()
}

async fn readyz(State(probe): State<Shared>) -> Response {
    let checks = probe.readiness().await;
    let ready = all_ok(&checks);
    let body = serde_json::json!({
        "ready": ready,
        "not_ready": checks.iter().filter(|c| !c.ok).map(|c| c.name).collect::<Vec<_>>(),
        "checks": checks
            .iter()
            .map(|c| serde_json::json!({ "name": c.name, "ok": c.ok, "detail": c.detail }))
            .collect::<Vec<_>>(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("{body}\n"),
    )
        .into_response()
}

/// Binds `listen` and serves the three endpoints until `shutdown` completes; returns
/// the bound address (useful with port 0).
pub async fn serve(
    listen: SocketAddr,
    probe: Arc<dyn Probe>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(probe);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(target: "danegate::mail", "metrics listener stopped: {e}");
        }
    });
    Ok(addr)
}
