//! Opens the queue the configuration names: the embedded SQLite store in `data_dir`, or
//! the PostgreSQL store shared by the cluster (`[queue] backend = "postgres"`), whose
//! password comes from a file or the environment, never from the TOML file.

use std::sync::Arc;

use danegate_config::{Config, PasswordSource, QueueBackend};
use danegate_queue::postgres::{client_tls, connection_config};
use danegate_queue::{PgOptions, PgStore, QueueError, SqliteStore, Store};
use tokio::sync::Notify;

/// The store, and for the shared one the notifier woken by other nodes' new mail.
pub(crate) struct Opened {
    pub store: Arc<dyn Store>,
    pub wakeups: Option<Arc<Notify>>,
}

/// The password, from `password_file` (trailing newline removed) or `password_env`.
fn password(src: &PasswordSource) -> Result<String, QueueError> {
    match src {
        PasswordSource::File(path) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| {
                QueueError::Invalid(format!("queue.password_file {}: {e}", path.display()))
            }),
        PasswordSource::Env(name) => std::env::var(name).map_err(|_| {
            QueueError::Invalid(format!(
                "queue.password_env: the environment variable {name} is not set"
            ))
        }),
    }
}

pub(crate) async fn open(config: &Config) -> Result<Opened, QueueError> {
    let q = &config.queue;
    match q.backend {
        QueueBackend::Sqlite => Ok(Opened {
            store: Arc::new(SqliteStore::open_node(
                &config.server.data_dir,
                &config.server.node_name(),
            )?),
            wakeups: None,
        }),
        QueueBackend::Postgres => {
            let url = q.url.as_deref().ok_or_else(|| {
                QueueError::Invalid("queue.url is required with backend = \"postgres\"".into())
            })?;
            let secret = q.password.as_ref().map(password).transpose()?;
            let pg = connection_config(url, secret.as_deref())?;
            let mut opts = PgOptions::new(pg, config.server.node_name());
            opts.pool_size = usize::try_from(q.pool_size).unwrap_or(16);
            opts.lease = q.lease;
            if q.tls {
                opts.tls = Some(client_tls(q.tls_ca_file.as_deref())?);
            }
            let store = PgStore::connect(opts).await?;
            tracing::info!(
                target: "danegate::mail",
                "Queue on PostgreSQL, node {}",
                store.node()
            );
            Ok(Opened {
                wakeups: Some(store.wakeups()),
                store: Arc::new(store),
            })
        }
    }
}
