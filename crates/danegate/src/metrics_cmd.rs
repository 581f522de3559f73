//! `danegate serve --metrics ADDR`: /metrics, /healthz and /readyz on their own
//! listener, for deployments without the web UI; and the recorder every `serve` installs.

use std::{net::SocketAddr, sync::Arc};

use danegate_config::Config;
use danegate_gateway::Running;

/// Installs the Prometheus recorder, its `node` label from `config`. A failure is
/// reported; the gateway runs on without metrics.
pub fn install(config: &Config) {
    if let Err(e) = danegate_metrics::exporter::install(&danegate_gateway::node_label(config)) {
        eprintln!("danegate serve: {e}; running without metrics");
        tracing::error!(target: "danegate::mail", "{e}");
    }
}

/// The metrics listener; dropping it stops the listener.
pub struct MetricsHandle {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the metrics listener on `listen` (nothing without `--metrics`). A failure is
/// reported and the gateway runs on without it, as with `--web`.
pub async fn start(running: &Arc<Running>, listen: Option<SocketAddr>) -> Option<MetricsHandle> {
    let listen = listen?;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let probe: Arc<dyn danegate_metrics::health::Probe> = running.clone();
    match danegate_metrics::http::serve(listen, probe, async move {
        let _ = rx.await;
    })
    .await
    {
        Ok(addr) => {
            eprintln!("danegate: metrics on http://{addr}/metrics");
            tracing::info!(target: "danegate::mail", "Metrics, health and readiness on http://{addr}/ (/metrics, /healthz, /readyz)");
            Some(MetricsHandle { _stop: stop })
        }
        Err(e) => {
            eprintln!(
                "danegate serve: --metrics {listen}: {e}; running without the metrics listener"
            );
            tracing::error!(target: "danegate::mail", "metrics listener on {listen}: {e}");
            None
        }
    }
}
