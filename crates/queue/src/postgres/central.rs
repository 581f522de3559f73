//! The central, versioned configuration of a cluster: table `config_versions`
//! (migration 2), one row per accepted change of the shared sections of the
//! configuration (their TOML text, its SHA-256, the node the change was made on, when,
//! and the version that node had applied before).
//!
//! A change is published with an optimistic check ([`publish`]): it must be based on
//! the current version, else it is refused with the version that won
//! ([`Published::Conflict`]), so two concurrent edits never silently lose one. Each new
//! version is announced with `NOTIFY danegate_config`; nodes listen on a session of
//! their own ([`CentralDb::session`]) and also poll, and apply newer versions.
//!
//! What the shared sections are, and how they are merged into a node's file, is the
//! admin crate's business; this module only stores text.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
pub use tokio_postgres::Client;
use tokio_postgres::NoTls;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{from_ms, migrate, session};
use crate::QueueError;

/// The channel new versions are announced on.
pub const CONFIG_CHANNEL: &str = "danegate_config";
/// Key of the advisory lock held while publishing (serialises concurrent publishers).
const PUBLISH_LOCK: i64 = 0x6467_636f_6e66; // "dgconf"

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVersion {
    /// Increasing version number.
    pub version: i64,
    /// The version the editing node had applied (`None`: the first version, seeded).
    pub based_on: Option<i64>,
    /// TOML text of the shared sections.
    pub shared: String,
    /// Hex SHA-256 of `shared`.
    pub sha256: String,
    /// The node the change was made on.
    pub node: String,
    /// When it was stored (the database's clock).
    pub made_at: SystemTime,
}

/// The outcome of [`publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Stored as this new version.
    Made(i64),
    /// The current version already holds exactly this text: nothing stored.
    Unchanged(ConfigVersion),
    /// Refused: the current version is not the one the change was based on.
    Conflict(ConfigVersion),
}

/// How to reach the database for the central configuration (the `[queue]` settings).
#[derive(Clone)]
pub struct CentralDb {
    pg: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for CentralDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralDb")
            .field("hosts", &self.pg.get_hosts())
            .field("dbname", &self.pg.get_dbname())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl CentralDb {
    /// The database of `pg` (5 s connect timeout unless set), over TLS when `tls` is given.
    pub fn new(mut pg: tokio_postgres::Config, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(std::time::Duration::from_secs(5));
        }
        CentralDb { pg, tls }
    }

    /// A connection of its own (driven by a task on the current runtime); with
    /// `listen`, it `LISTEN`s on [`CONFIG_CHANNEL`] and the receiver gets one `()` per
    /// notification (it closes when the connection is lost).
    pub async fn session(
        &self,
        listen: bool,
    ) -> Result<(Client, mpsc::UnboundedReceiver<()>), QueueError> {
        let (client, rx) = match &self.tls {
            None => session(&self.pg, NoTls).await?,
            Some(c) => session(&self.pg, MakeRustlsConnect::new((**c).clone())).await?,
        };
        if listen {
            client
                .batch_execute(&format!("LISTEN {CONFIG_CHANNEL}"))
                .await?;
        }
        Ok((client, rx))
    }
}

/// Applies the queue's schema migrations (which create `config_versions`), as a node
/// does when it connects.
pub async fn migrate(client: &mut Client) -> Result<(), QueueError> {
    migrate::migrate(client, migrate::MIGRATIONS)
        .await
        .map(|_| ())
}

const COLS: &str = "version, based_on, shared, sha256, node, \
                    (extract(epoch FROM made_at) * 1000)::bigint";

fn version_from_row(r: &tokio_postgres::Row) -> Result<ConfigVersion, QueueError> {
    Ok(ConfigVersion {
        version: r.try_get(0)?,
        based_on: r.try_get(1)?,
        shared: r.try_get(2)?,
        sha256: r.try_get(3)?,
        node: r.try_get(4)?,
        made_at: from_ms(r.try_get(5)?),
    })
}

/// Whether the table exists (a database no node has started on yet has none).
async fn has_table(client: &Client) -> Result<bool, QueueError> {
    let row = client
        .query_one("SELECT to_regclass('config_versions') IS NOT NULL", &[])
        .await?;
    Ok(row.try_get(0)?)
}

/// The current (latest) version; `None` when there is none yet.
pub async fn current(client: &Client) -> Result<Option<ConfigVersion>, QueueError> {
    if !has_table(client).await? {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!("SELECT {COLS} FROM config_versions ORDER BY version DESC LIMIT 1"),
            &[],
        )
        .await?;
    row.as_ref().map(version_from_row).transpose()
}

/// The last `limit` versions, newest first.
pub async fn history(client: &Client, limit: i64) -> Result<Vec<ConfigVersion>, QueueError> {
    if !has_table(client).await? {
        return Ok(Vec::new());
    }
    client
        .query(
            &format!("SELECT {COLS} FROM config_versions ORDER BY version DESC LIMIT $1"),
            &[&limit],
        )
        .await?
        .iter()
        .map(version_from_row)
        .collect()
}

/// Stores `shared` as a new version made on `node`, if the current version is
/// `based_on` (`None`: there must be no version yet). The same text as the current
/// version stores nothing ([`Published::Unchanged`], whatever `based_on`). A new
/// version is announced on [`CONFIG_CHANNEL`] when the transaction commits.
pub async fn publish(
    client: &mut Client,
    based_on: Option<i64>,
    shared: &str,
    node: &str,
) -> Result<Published, QueueError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PUBLISH_LOCK])
        .await?;
    let sha: String = tx
        .query_one(
            "SELECT encode(sha256(convert_to($1::text, 'UTF8')), 'hex')",
            &[&shared],
        )
        .await?
        .try_get(0)?;
    let cur = tx
        .query_opt(
            &format!("SELECT {COLS} FROM config_versions ORDER BY version DESC LIMIT 1"),
            &[],
        )
        .await?
        .as_ref()
        .map(version_from_row)
        .transpose()?;
    if let Some(c) = cur {
        if c.sha256 == sha {
            return Ok(Published::Unchanged(c));
        }
        if Some(c.version) != based_on {
            return Ok(Published::Conflict(c));
        }
    } else if based_on.is_some() {
        // The table was emptied by hand: start again from this text.
        tracing::warn!("central configuration: no version stored any more; storing this one");
    }
    let version: i64 = tx
        .query_one(
            "INSERT INTO config_versions (based_on, shared, sha256, node)
             VALUES ($1, $2, $3, $4) RETURNING version",
            &[&based_on, &shared, &sha, &node],
        )
        .await?
        .try_get(0)?;
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CONFIG_CHANNEL, &version.to_string()],
    )
    .await?;
    tx.commit().await?;
    Ok(Published::Made(version))
}
