//! One queue test suite, two backends: a [`Fixture`] is a fresh queue of either kind
//! (a temporary directory for SQLite; a fresh database on the test process's PostgreSQL
//! server for the shared store), and [`both!`] instantiates a test body for each.

#![allow(dead_code)]

use std::ops::Deref;
use std::sync::Arc;

use danegate_queue::{PgOptions, PgStore, QueueError, SqliteStore, Store, WriterStats};
use danegate_testkit::postgres::PgServer;

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty queue of one kind, that can be opened (and reopened) as a node.
pub struct Fixture {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL connection string (Postgres only).
    pub conn: Option<String>,
}

impl Fixture {
    /// `None` when PostgreSQL is not installed outside CI (the test is skipped loudly).
    pub fn new(kind: Kind) -> Option<Fixture> {
        let dir = tempfile::tempdir().unwrap();
        let conn = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => {
                let server = PgServer::shared()?;
                let db = server.create_database();
                Some(server.conn_string(&db))
            }
        };
        Some(Fixture { kind, dir, conn })
    }

    /// Opens the queue as node `gw1` (the same node again after a restart).
    pub async fn open(&self) -> Result<Opened, QueueError> {
        self.open_node("gw1").await
    }

    /// Opens the queue as the named node (SQLite has one node, named so).
    pub async fn open_node(&self, node: &str) -> Result<Opened, QueueError> {
        match self.kind {
            Kind::Sqlite => SqliteStore::open_node(self.dir.path(), node).map(Opened::Sqlite),
            Kind::Postgres => {
                let conn = self.conn.as_deref().unwrap();
                let pg: tokio_postgres::Config = conn.parse().unwrap();
                let mut opts = PgOptions::new(pg, node);
                opts.pool_size = 8;
                PgStore::connect(opts).await.map(Opened::Pg)
            }
        }
    }

    /// The error a second open of the same node gets while the first is open.
    pub fn is_in_use(&self, e: &QueueError) -> bool {
        match self.kind {
            Kind::Sqlite => matches!(e, QueueError::Locked(_)),
            Kind::Postgres => matches!(e, QueueError::NodeInUse(_)),
        }
    }
}

/// An open store of either kind; derefs to `dyn Store`.
#[derive(Clone)]
pub enum Opened {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

impl Opened {
    pub fn writer_stats(&self) -> WriterStats {
        match self {
            Opened::Sqlite(s) => s.writer_stats(),
            Opened::Pg(s) => s.writer_stats(),
        }
    }

    /// SQLite's integrity check finds nothing (PostgreSQL: nothing to check here).
    pub async fn integrity_ok(&self) -> bool {
        match self {
            Opened::Sqlite(s) => s.integrity_check().await.unwrap().is_empty(),
            Opened::Pg(_) => true,
        }
    }

    pub fn into_arc(self) -> Arc<dyn Store> {
        match self {
            Opened::Sqlite(s) => Arc::new(s),
            Opened::Pg(s) => Arc::new(s),
        }
    }
}

impl Deref for Opened {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        match self {
            Opened::Sqlite(s) => s,
            Opened::Pg(s) => s,
        }
    }
}

/// Instantiates each named `async fn NAME(fx: Fixture)` twice: `NAME::sqlite` and
/// `NAME::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let fx = crate::common::Fixture::new(crate::common::Kind::Sqlite).unwrap();
                    super::$name(fx).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(fx) = crate::common::Fixture::new(crate::common::Kind::Postgres)
                    else {
                        return;
                    };
                    super::$name(fx).await
                }
            }
        )*
    };
}
