//! danegate's durable message queue.
//!
//! A message is acknowledged to the SMTP client (`250`) only after [`Store::enqueue`]
//! returned: by then its envelope and body are on stable storage, so nothing acknowledged
//! is lost on `kill -9` or power loss. Delivery is *at least once*: a recipient that was
//! handed to a delivery agent ("leased", see [`Store::due`]) and whose fate was not recorded
//! before a crash is queued again when the store is reopened.
//!
//! The queue is a [`Store`] trait with two implementations: [`PgStore`] is the queue
//! shared by several gateway nodes on one PostgreSQL database (see [`postgres`]);
//! [`SqliteStore`] is the embedded one (SQLite in WAL mode with
//! `synchronous=FULL`, one writer thread doing group commit, a small pool of reader
//! connections). All database work runs off the async runtime.
//!
//! Life of a recipient:
//!
//! ```text
//! enqueue ──► Queued ──due()──► in flight ──delivered()──► Delivered
//!               ▲  ▲                  │ ──bounced()────► Bounced
//!               │  └──release()───────┤
//!               └─────deferred()──────┘   (attempts += 1, next_attempt in the future)
//! ```
//!
//! A *deferred* recipient is a `Queued` one whose `next_attempt` lies in the future.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

pub mod postgres;
mod spool;
mod sqlite;

pub use postgres::{PgOptions, PgStore};
pub use sqlite::{SqliteStore, WriterStats};

/// Message identifier ("MID"): assigned by [`Store::enqueue`], strictly increasing,
/// never reused, and it keeps increasing across restarts (also after [`Store::gc`] or
/// [`Store::remove`] emptied the queue). The first MID of a new queue is 1.
pub type MessageId = u64;

/// Recipient identifier ("RID"): numbered per message from 0 in envelope order, as the
/// appliance does (`MID 12 RID [0, 1]`). A recipient is identified by `(MessageId, RecipientId)`.
pub type RecipientId = u64;

/// A boxed future, `Send`, as returned by the [`Store`] methods (keeps the trait usable as
/// `Arc<dyn Store>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One message read by [`Store::load`]: its envelope and body, `None` if it is gone.
pub type Loaded = Result<Option<(Envelope, Vec<u8>)>, QueueError>;

/// A message as received, to be queued by [`Store::enqueue`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    /// Envelope sender (`MAIL FROM`), without angle brackets; `""` is the null sender.
    pub sender: String,
    /// Envelope recipients in `RCPT TO` order; at least one. RIDs are their indexes.
    pub recipients: Vec<NewRecipient>,
    /// The message as it will be sent (headers and body, CRLF line endings, no dot-stuffing).
    pub data: Vec<u8>,
    /// The client's IP address, as logged.
    pub received_from: String,
    /// The inbound connection (`ICID`) that received the message.
    pub icid: u64,
    /// The mail flow policy that accepted it (`RELAY` or `ACCEPT`).
    pub policy: String,
    /// DSN `RET` parameter (`FULL` or `HDRS`) of `MAIL FROM`, if given.
    pub dsn_ret: Option<String>,
    /// DSN `ENVID` parameter of `MAIL FROM`, if given.
    pub dsn_envid: Option<String>,
}

/// One envelope recipient of a [`NewMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecipient {
    /// The address as given in `RCPT TO`, without angle brackets.
    pub address: String,
    /// The destination domain (stored lower-cased); recipients are scheduled and counted
    /// per domain.
    pub domain: String,
    /// DSN `NOTIFY` parameter, if given (e.g. `SUCCESS,FAILURE`, `NEVER`).
    pub dsn_notify: Option<String>,
    /// DSN `ORCPT` parameter, if given (e.g. `rfc822;user@example.com`).
    pub dsn_orcpt: Option<String>,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RcptState {
    /// Waiting for delivery: due when `next_attempt <= now`, *deferred* while
    /// `next_attempt` is in the future. Possibly in flight (see [`Recipient::in_flight`]).
    Queued,
    /// Accepted by the next hop (final).
    Delivered,
    /// Hard bounced or expired (final).
    Bounced,
}

/// A queued (or finished) recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Its message.
    pub mid: MessageId,
    /// Its index in the message's envelope.
    pub rid: RecipientId,
    /// The address as received.
    pub address: String,
    /// The destination domain, lower case.
    pub domain: String,
    /// DSN `NOTIFY` parameter, if given.
    pub dsn_notify: Option<String>,
    /// DSN `ORCPT` parameter, if given.
    pub dsn_orcpt: Option<String>,
    /// Queued, delivered or bounced.
    pub state: RcptState,
    /// True while leased to a delivery agent by [`Store::due`] (until `delivered`,
    /// `deferred`, `bounced`, `release` or a restart).
    pub in_flight: bool,
    /// Number of temporarily failed attempts recorded by [`Store::deferred`].
    pub attempts: u32,
    /// Time of the first recorded failed attempt ([`Store::deferred`]), if any.
    pub first_attempt: Option<SystemTime>,
    /// Not to be attempted before this time (the receive time for a new recipient).
    /// Stored with millisecond precision.
    pub next_attempt: SystemTime,
    /// The last reason given: the deferral or bounce reason, or the delivery response.
    pub last_reason: Option<String>,
    /// The node that holds it: while it is in flight, the node delivering it (the
    /// lease's node); otherwise the node that accepted its message. The embedded store
    /// is one node: its own name ([`SqliteStore::open_node`]). The recipients
    /// [`Store::due`] returns are held by the node that called it.
    pub node: String,
}

/// A message's envelope and delivery state, without its body (see [`Store::data`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The message.
    pub mid: MessageId,
    /// Envelope sender; `""` is the null sender.
    pub sender: String,
    /// When it was queued (millisecond precision).
    pub received_at: SystemTime,
    /// Size of the body in bytes.
    pub size: u64,
    /// All its recipients in RID order, final ones included.
    pub recipients: Vec<Recipient>,
    /// DSN `RET`, if given.
    pub dsn_ret: Option<String>,
    /// DSN `ENVID`, if given.
    pub dsn_envid: Option<String>,
    /// The client's IP address.
    pub received_from: String,
    /// The inbound connection that received it.
    pub icid: u64,
    /// The mail flow policy that accepted it.
    pub policy: String,
    /// True once [`Store::set_delay_warned`] recorded that a delay warning was sent.
    pub delay_warned: bool,
    /// The node that accepted the message (`[server] node`); the embedded store, one
    /// node, gives its own name ([`SqliteStore::open_node`]).
    pub node: String,
}

/// Recipient counts for one destination domain (or the totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DomainCounts {
    /// Recipients queued and not in flight ("active recipients", deferred ones included).
    pub active: u64,
    /// Recipients currently leased to a delivery agent.
    pub in_flight: u64,
    /// Recipients delivered (since the queue was created; kept after [`Store::gc`]).
    pub delivered: u64,
    /// Soft bounce events: deferred attempts recorded by [`Store::deferred`].
    pub soft_bounced: u64,
    /// Recipients hard bounced by [`Store::bounced`].
    pub hard_bounced: u64,
}

impl DomainCounts {
    fn add(&mut self, other: &DomainCounts) {
        self.active += other.active;
        self.in_flight += other.in_flight;
        self.delivered += other.delivered;
        self.soft_bounced += other.soft_bounced;
        self.hard_bounced += other.hard_bounced;
    }
}

/// Queue statistics, as shown by the Delivery Status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Per destination domain (lower case), sorted by domain.
    pub domains: BTreeMap<String, DomainCounts>,
    /// Sum over all domains.
    pub total: DomainCounts,
    /// Messages stored (including those whose recipients are all final but not yet
    /// removed by [`Store::gc`]).
    pub messages: u64,
}

impl QueueStats {
    /// Builds the statistics from per-domain counts, computing the totals.
    pub fn from_domains(domains: BTreeMap<String, DomainCounts>, messages: u64) -> Self {
        let mut total = DomainCounts::default();
        for c in domains.values() {
            total.add(c);
        }
        QueueStats {
            domains,
            total,
            messages,
        }
    }
}

/// Why a queue operation failed. An `Err` from [`Store::enqueue`] means the message was
/// *not* durably stored and must not be acknowledged (answer `451`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The database reported an error.
    #[error("queue database error: {0}")]
    Db(#[source] Arc<rusqlite::Error>),
    /// A file-system operation on the queue directory failed.
    #[error("queue directory {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Another process holds the queue directory's lock file.
    #[error("queue {0} is in use by another process (lock held on queue.lock)")]
    Locked(std::path::PathBuf),
    /// The message or argument cannot be queued (e.g. no recipients).
    #[error("invalid queue input: {0}")]
    Invalid(String),
    /// The database holds something this build cannot read.
    #[error("queue database is not usable: {0}")]
    Corrupt(String),
    /// The store was shut down (or its writer thread stopped).
    #[error("queue is closed")]
    Closed,
    /// PostgreSQL reported an error (the shared store).
    #[error("queue database (PostgreSQL) error: {0}")]
    Postgres(#[source] Arc<tokio_postgres::Error>),
    /// The shared database cannot be reached now (connection refused or lost, pool
    /// timeout): a temporary condition, the operation was not carried out.
    #[error("queue database unreachable: {0}")]
    Unavailable(String),
    /// Another live process holds this node name on the shared database.
    #[error("node name {0:?} is in use by another running gateway on this database")]
    NodeInUse(String),
}

impl QueueError {
    /// True for conditions that may clear by themselves (database unreachable, lost
    /// connection): the caller answers `4xx` and tries again later.
    pub fn is_temporary(&self) -> bool {
        match self {
            QueueError::Unavailable(_) => true,
            QueueError::Postgres(e) => e.is_closed() || e.code().is_none(),
            _ => false,
        }
    }
}

impl From<tokio_postgres::Error> for QueueError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() {
            QueueError::Unavailable(e.to_string())
        } else {
            QueueError::Postgres(Arc::new(e))
        }
    }
}

impl From<deadpool_postgres::PoolError> for QueueError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => QueueError::Unavailable(e.to_string()),
            other => QueueError::Unavailable(other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError::Db(Arc::new(e))
    }
}

/// The durable queue. Every method runs its storage work off the async runtime.
///
/// All state-changing methods are durable when they return `Ok`. Methods taking
/// `(mid, rids)` only touch recipients of that message that are still `Queued`; unknown
/// or already final recipients are ignored (so a late result after an admin
/// [`remove`](Store::remove) is harmless, and a result is never counted twice).
pub trait Store: Send + Sync + 'static {
    /// Stores a message with all its recipients `Queued`, due at once; returns its MID
    /// only once message and envelope are on stable storage. Concurrent calls share
    /// one commit (group commit).
    fn enqueue(&self, msg: NewMessage) -> BoxFuture<'_, Result<MessageId, QueueError>>;

    /// Up to `limit` queued recipients that are not in flight and whose `next_attempt` is
    /// `<= now`, longest overdue first (`next_attempt`, then MID, then RID; a new message is
    /// due from its receive time, so fresh mail comes out oldest first). They are leased
    /// ("in flight"): no later call returns them until their fate is recorded, they are
    /// [`release`](Store::release)d, or the store is reopened. Returns no bodies.
    fn due(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Recipient>, QueueError>>;

    /// The envelope of a stored message, with all its recipients; `None` if unknown.
    fn envelope(&self, mid: MessageId) -> BoxFuture<'_, Result<Option<Envelope>, QueueError>>;

    /// The body of a stored message; `None` if unknown, or once none of its recipients
    /// is queued any more (the body is dropped with the last recipient's outcome).
    fn data(&self, mid: MessageId) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueueError>>;

    /// The envelope and body of each of `mids`, in order: `Ok(None)` for a message that
    /// is unknown or whose body is gone. A delivery batch reads its messages with one
    /// call; a store that can reads them in one read transaction (one snapshot, one
    /// trip off the runtime) instead of two per message.
    fn load<'a>(&'a self, mids: &'a [MessageId]) -> BoxFuture<'a, Vec<Loaded>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(mids.len());
            for &mid in mids {
                out.push(match (self.envelope(mid).await, self.data(mid).await) {
                    (Ok(Some(env)), Ok(Some(data))) => Ok(Some((env, data))),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    _ => Ok(None),
                });
            }
            out
        })
    }

    /// Records that the next hop accepted these recipients (`response`: its reply).
    fn delivered<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        response: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>>;

    /// Records a temporary failure: `attempts += 1`, `first_attempt` set if unset,
    /// `next_attempt` and `last_reason` set, lease released.
    fn deferred<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next_attempt: SystemTime,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>>;

    /// Records a permanent failure (or expiry): the recipients become `Bounced`. Write the
    /// DSN first (it needs the envelope and body): [`gc`](Store::gc) may remove a message
    /// as soon as none of its recipients is queued.
    fn bounced<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>>;

    /// Gives leased recipients back without counting an attempt (e.g. on shutdown).
    fn release<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
    ) -> BoxFuture<'a, Result<(), QueueError>>;

    /// Gives leased recipients back without counting an attempt, due again at
    /// `next_attempt` (e.g. held back by a recipient rate limit).
    fn postpone<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next_attempt: SystemTime,
    ) -> BoxFuture<'a, Result<(), QueueError>>;

    /// Records that a delay warning was sent for this message.
    fn set_delay_warned(&self, mid: MessageId) -> BoxFuture<'_, Result<(), QueueError>>;

    /// Makes every queued recipient (of one domain, lower case, or all) due now; returns
    /// how many queued recipients were concerned.
    fn deliver_now<'a>(
        &'a self,
        domain: Option<&'a str>,
    ) -> BoxFuture<'a, Result<usize, QueueError>>;

    /// Deletes a message, body and recipients, whatever their state (admin delete);
    /// returns whether it existed.
    fn remove(&self, mid: MessageId) -> BoxFuture<'_, Result<bool, QueueError>>;

    /// Per-domain and total counts.
    fn stats(&self) -> BoxFuture<'_, Result<QueueStats, QueueError>>;

    /// Up to `limit` queued recipients (in flight included), of one domain or all, in MID
    /// and RID order.
    fn list<'a>(
        &'a self,
        domain: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Recipient>, QueueError>>;

    /// The earliest `next_attempt` of a queued recipient not in flight (the scheduler
    /// sleeps until then or until new mail arrives); `None` if there is none.
    fn next_due_time(&self) -> BoxFuture<'_, Result<Option<SystemTime>, QueueError>>;

    /// Removes the messages none of whose recipients is still queued; returns how many.
    /// Domain counters are kept.
    fn gc(&self) -> BoxFuture<'_, Result<usize, QueueError>>;
}
