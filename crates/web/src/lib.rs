//! danegate's web UI (server-rendered HTML) and JSON API, over the operations of
//! [`danegate_admin::Admin`].
//!
//! * The UI: Destination Controls (list, add/edit form of the appliance, inline
//!   validation errors, submit = validate + persist + apply), Delivery Status (sortable,
//!   a page per domain with its host status, queued recipients, *Deliver now* and
//!   *Bounce*), SMTP Routes, DNS. Login with the administrator password (argon2 hash in
//!   a file; there is no default password), server-side sessions in an HttpOnly,
//!   SameSite=Strict cookie, a CSRF token in every form checked on every POST, and a
//!   login rate limit per client address (attempts counted before the password is
//!   verified) and a bound on concurrent password verifications.
//! * The JSON API under `/api/v1`, authenticated by bearer tokens (docs/api.md).
//!
//! It listens on 127.0.0.1 unless told otherwise.

pub mod api;
pub mod auth;
mod http;
mod ui;

use std::{
    future::Future,
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::Router;
use danegate_admin::Admin;

/// Where and how the web UI runs.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// The address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// The administrator password's argon2 PHC string (`<data_dir>/web.passwd`).
    pub password_hash_file: PathBuf,
    /// SHA-256 digests of the API tokens (`<data_dir>/web.tokens`).
    pub api_tokens_file: PathBuf,
}

/// The default listen address: localhost only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl WebSettings {
    /// The default settings for a gateway whose data directory is `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> WebSettings {
        WebSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            password_hash_file: password_file(data_dir),
            api_tokens_file: tokens_file(data_dir),
        }
    }
}

/// The password file of the gateway whose data directory is `data_dir`.
pub fn password_file(data_dir: &Path) -> PathBuf {
    data_dir.join("web.passwd")
}

/// The API token file of the gateway whose data directory is `data_dir`.
pub fn tokens_file(data_dir: &Path) -> PathBuf {
    data_dir.join("web.tokens")
}

/// Everything a request handler needs.
pub(crate) struct AppState {
    pub admin: Arc<Admin>,
    pub settings: WebSettings,
    pub sessions: auth::Sessions,
    pub limiter: auth::LoginLimiter,
    pub verify_slots: auth::VerifySlots,
}

pub(crate) type State = Arc<AppState>;

/// The whole application (UI and API) as a router, for embedding and tests. Serve it
/// with `into_make_service_with_connect_info::<SocketAddr>()` (the login rate limit is
/// per client address).
pub fn router(admin: Arc<Admin>, settings: WebSettings) -> Router {
    // /metrics, /healthz, /readyz: no login (docs/security.md).
    let probe: Arc<dyn danegate_metrics::health::Probe> = admin.running().clone();
    let state = Arc::new(AppState {
        admin,
        settings,
        sessions: auth::Sessions::default(),
        limiter: auth::LoginLimiter::default(),
        verify_slots: auth::VerifySlots::default(),
    });
    Router::new()
        .merge(ui::routes(state.clone()))
        .nest("/api/v1", api::routes(state.clone()))
        .merge(danegate_metrics::http::router(probe))
        .layer(axum::middleware::from_fn(http::security_headers))
}

/// Binds `settings.listen` and serves the UI and the API until `shutdown` completes.
/// Returns the bound address (useful with port 0).
pub async fn serve(
    admin: Arc<Admin>,
    settings: WebSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            target: "danegate::web",
            "the web UI listens on {addr}, not only on localhost: put it behind TLS"
        );
    }
    if auth::read_password_hash(&settings.password_hash_file)
        .ok()
        .flatten()
        .is_none()
    {
        let dir = settings
            .password_hash_file
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        tracing::warn!(
            target: "danegate::web",
            "no web UI password is set: run `danegate web-passwd --data-dir {dir}` to set one"
        );
    }
    let app = router(admin, settings).into_make_service_with_connect_info::<SocketAddr>();
    tracing::info!(target: "danegate::web", "Web UI on http://{addr}/");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(target: "danegate::web", "web UI stopped: {e}");
        }
    });
    Ok(addr)
}
