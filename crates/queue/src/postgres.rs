//! The shared store: one PostgreSQL database for several gateway nodes.
//!
//! Same guarantees as the embedded store, across nodes:
//!
//! - **250 only after commit.** Writes go to a small number of writer tasks; each takes
//!   every operation waiting at that moment and runs them in one transaction (group
//!   commit; the enqueues of a batch are inserted with one statement per table). A
//!   failed batch is rolled back and its operations are retried one transaction each, so
//!   one bad operation fails only itself.
//! - **Leases** are taken with `FOR UPDATE SKIP LOCKED` (two nodes never lease the same
//!   recipient) and carry the node's name and an expiry on the database's clock. A live
//!   node renews the leases it holds every third of the lease time; a node killed
//!   mid-delivery stops renewing, and after at most the lease time another node's
//!   [`due`](Store::due) takes its recipients (at-least-once: a delivery in flight at the
//!   kill may be made twice). A node that restarts frees its own leases at once.
//! - **One process per node name**: a session-level advisory lock on the node name keeps
//!   a second process with the same name out ([`QueueError::NodeInUse`]); PostgreSQL drops
//!   it when the process dies.
//! - **LISTEN/NOTIFY**: each enqueue batch and `deliver_now` notifies channel
//!   `danegate_queue`; every node's session connection listens and wakes its scheduler
//!   ([`PgStore::wakeups`]).
//! - **Schema migrations** are versioned ([`migrate`]) and applied at start.
//! - **Central configuration**: table `config_versions` holds the versions of the
//!   configuration's shared sections, announced on `danegate_config` ([`central`]).
//!
//! The database being unreachable is [`QueueError::Unavailable`] (temporary: the listener
//! answers `451`); the pool reconnects by itself, and the session task reconnects with
//! a back-off.

pub mod central;
pub mod migrate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, NoTls, Row, Socket, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{
    BoxFuture, DomainCounts, Envelope, MessageId, NewMessage, QueueError, QueueStats, RcptState,
    Recipient, RecipientId, Store, WriterStats,
};

/// The channel every node listens on.
const CHANNEL: &str = "danegate_queue";
/// Most operations committed together.
const MAX_BATCH_OPS: usize = 512;
/// Most body bytes committed together (a batch always takes at least one operation).
const MAX_BATCH_BYTES: usize = 32 << 20;
/// Operations waiting for a writer before callers wait for room (back-pressure).
const CHANNEL_CAPACITY: usize = 4096;
/// Writer tasks (transactions in flight at once).
const WRITERS: usize = 2;
/// Advisory lock class of node names (first key of the two-key form).
const NODE_LOCK_CLASS: i32 = 0x6467; // "dg"
/// How long [`PgStore::connect`] waits for a node name held by a process that just
/// stopped (PostgreSQL releases its lock when it sees the connection close).
const NODE_LOCK_WAIT: Duration = Duration::from_secs(5);

/// How to reach the database and run this node.
#[derive(Clone)]
pub struct PgOptions {
    /// Connection settings (host or Unix socket directory, database, user, password).
    pub pg: tokio_postgres::Config,
    /// TLS to the database (rustls); `None`: plain (a Unix socket or a trusted network).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// This node's name (`[server] node`); stored with each lease and message.
    pub node: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Lease time: a recipient leased by a node that stopped renewing is due again
    /// after this.
    pub lease: Duration,
    /// Connect and pool wait timeout.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("PgOptions")
            .field("hosts", &self.pg.get_hosts())
            .field("dbname", &self.pg.get_dbname())
            .field("user", &self.pg.get_user())
            .field("tls", &self.tls.is_some())
            .field("node", &self.node)
            .field("pool_size", &self.pool_size)
            .field("lease", &self.lease)
            .finish()
    }
}

impl PgOptions {
    /// Options with the defaults: pool of 16, 60 s leases, 5 s connect timeout.
    pub fn new(pg: tokio_postgres::Config, node: impl Into<String>) -> Self {
        PgOptions {
            pg,
            tls: None,
            node: node.into(),
            pool_size: 16,
            lease: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

const STATE_QUEUED: i16 = 0;
const STATE_DELIVERED: i16 = 1;
const STATE_BOUNCED: i16 = 2;

/// The recipient columns, in the order [`recipient_from_row`] reads them.
fn rcpt_cols(p: &str) -> String {
    format!(
        "{p}mid, {p}rid, {p}address, {p}domain, {p}dsn_notify, {p}dsn_orcpt, {p}state, \
         ({p}lease_until IS NOT NULL AND {p}lease_until >= clock_timestamp()), {p}attempts, \
         {p}first_attempt, {p}next_attempt, {p}last_reason"
    )
}

/// The node holding a recipient of `recipients {p}` whose message's row is `{m}`: the
/// lease's node while the lease runs, else the node that accepted the message (read
/// into [`Recipient::node`], after the [`rcpt_cols`]).
fn holder_col(p: &str, m: &str) -> String {
    format!("coalesce(CASE WHEN {p}lease_until >= clock_timestamp() THEN {p}lease_node END, {m})")
}

/// Milliseconds since the Unix epoch (0 for earlier times, saturating).
fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn sql_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

fn sql_ids(ids: &[u64]) -> Vec<i64> {
    ids.iter().filter_map(|&i| sql_id(i)).collect()
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn recipient_from_row(row: &Row) -> Result<Recipient, QueueError> {
    let state = match row.try_get::<_, i16>(6)? {
        STATE_QUEUED => RcptState::Queued,
        STATE_DELIVERED => RcptState::Delivered,
        STATE_BOUNCED => RcptState::Bounced,
        other => return Err(QueueError::Corrupt(format!("recipient state {other}"))),
    };
    Ok(Recipient {
        mid: row.try_get::<_, i64>(0)?.cast_unsigned(),
        rid: row.try_get::<_, i64>(1)?.cast_unsigned(),
        address: row.try_get(2)?,
        domain: row.try_get(3)?,
        dsn_notify: row.try_get(4)?,
        dsn_orcpt: row.try_get(5)?,
        state,
        in_flight: row.try_get(7)?,
        attempts: u32::try_from(row.try_get::<_, i32>(8)?).unwrap_or(0),
        first_attempt: row.try_get::<_, Option<i64>>(9)?.map(from_ms),
        next_attempt: from_ms(row.try_get(10)?),
        last_reason: row.try_get(11)?,
        // The holder, when the query selected it (`holder_col`).
        node: if row.len() > 12 {
            row.try_get(12)?
        } else {
            String::new()
        },
    })
}

fn recipients(rows: &[Row]) -> Result<Vec<Recipient>, QueueError> {
    rows.iter().map(recipient_from_row).collect()
}

/// Which outcome an operation records.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Delivered,
    Deferred,
    Bounced,
}

/// A write carried by a group-commit batch.
enum Op {
    Enqueue(Box<NewMessage>, i64),
    Outcome {
        mid: i64,
        rids: Vec<i64>,
        outcome: Outcome,
        reason: String,
        now: i64,
        next: i64,
    },
    Release {
        mid: i64,
        rids: Vec<i64>,
        next: Option<i64>,
    },
    DelayWarned(i64),
}

enum Reply {
    Mid(MessageId),
    Done,
}

struct Job {
    op: Op,
    weight: usize,
    reply: oneshot::Sender<Result<Reply, QueueError>>,
}

/// The TLS setting, as a type the connect functions can branch on.
#[derive(Clone)]
enum Tls {
    Plain,
    Rustls(MakeRustlsConnect),
}

struct Inner {
    pool: Pool,
    node: String,
    lease: Duration,
    tx: mpsc::Sender<Job>,
    commits: AtomicU64,
    ops: AtomicU64,
    /// Recipients this process holds leases on, renewed by the session task.
    leased: Mutex<HashSet<(i64, i64)>>,
    /// Notified on every `NOTIFY danegate_queue` (new mail, deliver now).
    wake: Arc<Notify>,
    /// The writer and session tasks; aborted on drop.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
    }
}

impl Inner {
    fn forget(&self, mid: i64, rids: &[i64]) {
        if let Ok(mut l) = self.leased.lock() {
            for &rid in rids {
                l.remove(&(mid, rid));
            }
        }
    }
}

/// The queue shared by several gateway nodes on one PostgreSQL database. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

/// Opens a session connection (LISTEN, advisory lock) and spawns the task that drives
/// it; notifications arrive on the returned channel, which closes when the connection is
/// lost.
async fn session<T>(
    pg: &tokio_postgres::Config,
    tls: T,
) -> Result<(tokio_postgres::Client, mpsc::UnboundedReceiver<()>), QueueError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut conn) = pg.connect(tls).await.map_err(unavailable)?;
    let (ntx, nrx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(_)) => {
                    if ntx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "queue database session connection lost");
                    break;
                }
            }
        }
    });
    Ok((client, nrx))
}

async fn open_session(
    pg: &tokio_postgres::Config,
    tls: &Tls,
) -> Result<(tokio_postgres::Client, mpsc::UnboundedReceiver<()>), QueueError> {
    match tls {
        Tls::Plain => session(pg, NoTls).await,
        Tls::Rustls(t) => session(pg, t.clone()).await,
    }
}

fn unavailable(e: tokio_postgres::Error) -> QueueError {
    QueueError::Unavailable(match std::error::Error::source(&e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    })
}

/// Takes the node-name lock on a session connection, waiting a little for a process that
/// just stopped.
async fn lock_node(client: &tokio_postgres::Client, node: &str) -> Result<(), QueueError> {
    let deadline = tokio::time::Instant::now() + NODE_LOCK_WAIT;
    loop {
        let got: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&NODE_LOCK_CLASS, &node],
            )
            .await?
            .try_get(0)?;
        if got {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(QueueError::NodeInUse(node.to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl PgStore {
    /// Connects, applies the schema migrations, takes the node name (refused with
    /// [`QueueError::NodeInUse`] while another process holds it), frees the leases this
    /// node held before a restart, and starts the writer and session tasks.
    ///
    /// An unreachable database is [`QueueError::Unavailable`].
    pub async fn connect(opts: PgOptions) -> Result<Self, QueueError> {
        if opts.node.is_empty() {
            return Err(QueueError::Invalid("empty node name".into()));
        }
        let mut pg = opts.pg.clone();
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(opts.connect_timeout);
        }
        let tls = match &opts.tls {
            None => Tls::Plain,
            Some(c) => Tls::Rustls(MakeRustlsConnect::new((**c).clone())),
        };
        let mgr_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Tls::Plain => Manager::from_config(pg.clone(), NoTls, mgr_config),
            Tls::Rustls(t) => Manager::from_config(pg.clone(), t.clone(), mgr_config),
        };
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| QueueError::Invalid(format!("connection pool: {e}")))?;

        let (session_client, notes) = open_session(&pg, &tls).await?;
        {
            let mut client = pool.get().await?;
            let applied = migrate::migrate(&mut client, migrate::MIGRATIONS).await?;
            if !applied.is_empty() {
                tracing::info!(versions = ?applied, "queue database schema migrated");
            }
        }
        lock_node(&session_client, &opts.node).await?;
        session_client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await?;
        {
            let client = pool.get().await?;
            let freed = client
                .execute(
                    "UPDATE recipients SET lease_node = NULL, lease_until = NULL
                     WHERE lease_node = $1",
                    &[&opts.node],
                )
                .await?;
            if freed > 0 {
                tracing::info!(
                    recipients = freed,
                    node = %opts.node,
                    "queue recovery: recipients this node had in flight at its last stop are queued again"
                );
            }
            client
                .execute(
                    "INSERT INTO nodes (node, started_at, heartbeat)
                     VALUES ($1, clock_timestamp(), clock_timestamp())
                     ON CONFLICT (node) DO UPDATE
                     SET started_at = clock_timestamp(), heartbeat = clock_timestamp()",
                    &[&opts.node],
                )
                .await?;
        }

        let (tx, rx) = mpsc::channel::<Job>(CHANNEL_CAPACITY);
        let inner = Arc::new(Inner {
            pool,
            node: opts.node.clone(),
            lease: opts.lease,
            tx,
            commits: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            leased: Mutex::new(HashSet::new()),
            wake: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut tasks = Vec::new();
        for _ in 0..WRITERS {
            let weak = Arc::downgrade(&inner);
            let rx = Arc::clone(&rx);
            tasks.push(tokio::spawn(writer_loop(weak, rx)));
        }
        tasks.push(tokio::spawn(session_loop(
            Arc::downgrade(&inner),
            pg,
            tls,
            session_client,
            notes,
        )));
        if let Ok(mut t) = inner.tasks.lock() {
            t.extend(tasks);
        }
        Ok(PgStore { inner })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Notified whenever a node queued new mail or asked for "deliver now" (LISTEN/NOTIFY):
    /// the scheduler waits on it besides its own timer.
    pub fn wakeups(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.wake)
    }

    /// Commits and operations so far (operations per commit shows group commit at work).
    pub fn writer_stats(&self) -> WriterStats {
        WriterStats {
            commits: self.inner.commits.load(Ordering::Relaxed),
            ops: self.inner.ops.load(Ordering::Relaxed),
        }
    }

    /// The nodes that have used this database: name, start and last heartbeat (Unix ms).
    pub async fn nodes(&self) -> Result<Vec<(String, SystemTime, SystemTime)>, QueueError> {
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                "SELECT node, (extract(epoch FROM started_at) * 1000)::bigint,
                        (extract(epoch FROM heartbeat) * 1000)::bigint
                 FROM nodes ORDER BY node",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    from_ms(r.try_get(1)?),
                    from_ms(r.try_get(2)?),
                ))
            })
            .collect()
    }

    /// The node holding each queued recipient of `mids` in flight (`None`: not leased),
    /// and the node that received each message.
    pub async fn holders(
        &self,
        mids: &[MessageId],
    ) -> Result<HashMap<(MessageId, RecipientId), (String, Option<String>)>, QueueError> {
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                "SELECT r.mid, r.rid, m.node,
                        CASE WHEN r.lease_until >= clock_timestamp() THEN r.lease_node END
                 FROM recipients r JOIN messages m USING (mid)
                 WHERE r.mid = ANY($1)",
                &[&sql_ids(mids)],
            )
            .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let mid: i64 = r.try_get(0)?;
            let rid: i64 = r.try_get(1)?;
            out.insert(
                (mid.cast_unsigned(), rid.cast_unsigned()),
                (r.try_get(2)?, r.try_get(3)?),
            );
        }
        Ok(out)
    }

    /// The connection pool (for the central configuration store and cluster views).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    async fn write(&self, op: Op, weight: usize) -> Result<Reply, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(Job { op, weight, reply })
            .await
            .map_err(|_| QueueError::Closed)?;
        answer.await.map_err(|_| QueueError::Closed)?
    }

    async fn write_unit(&self, op: Op) -> Result<(), QueueError> {
        self.write(op, 0).await.map(|_| ())
    }
}

/// Takes every job waiting (up to the batch limits) and commits them together.
async fn writer_loop(
    inner: std::sync::Weak<Inner>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut bytes = first.weight;
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(job) => {
                        bytes = bytes.saturating_add(job.weight);
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        run_batch(&inner, batch).await;
    }
}

/// Runs a batch in one transaction; on failure, each job in its own transaction.
async fn run_batch(inner: &Inner, batch: Vec<Job>) {
    let mut client = match inner.pool.get().await {
        Ok(c) => c,
        Err(e) => {
            let e = QueueError::from(e);
            for job in batch {
                let _ = job.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    let n = batch.len() as u64;
    let ops: Vec<&Op> = batch.iter().map(|j| &j.op).collect();
    match apply_all(&mut client, &inner.node, &ops).await {
        Ok(replies) => {
            inner.commits.fetch_add(1, Ordering::Relaxed);
            inner.ops.fetch_add(n, Ordering::Relaxed);
            for (job, r) in batch.into_iter().zip(replies) {
                let _ = job.reply.send(Ok(r));
            }
        }
        Err(e) if batch.len() == 1 || e.is_temporary() => {
            for job in batch {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
        Err(_) => {
            for job in batch {
                let result = apply_all(&mut client, &inner.node, &[&job.op]).await;
                if result.is_ok() {
                    inner.commits.fetch_add(1, Ordering::Relaxed);
                    inner.ops.fetch_add(1, Ordering::Relaxed);
                }
                let _ = job
                    .reply
                    .send(result.and_then(|mut r| r.pop().ok_or(QueueError::Closed)));
            }
        }
    }
}

/// Applies `ops` in one transaction and commits; the replies in order.
async fn apply_all(
    client: &mut deadpool_postgres::Client,
    node: &str,
    ops: &[&Op],
) -> Result<Vec<Reply>, QueueError> {
    let tx = client.transaction().await?;
    let enqueues: Vec<(&NewMessage, i64)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Enqueue(m, now) => Some((&**m, *now)),
            _ => None,
        })
        .collect();
    let mut mids = insert_messages(&tx, node, &enqueues).await?.into_iter();
    let mut replies = Vec::with_capacity(ops.len());
    let mut counters: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Enqueue(..) => {
                replies.push(Reply::Mid(mids.next().ok_or(QueueError::Closed)?));
            }
            Op::Outcome {
                mid,
                rids,
                outcome,
                reason,
                now,
                next,
            } => {
                let rows = match outcome {
                    Outcome::Delivered | Outcome::Bounced => {
                        let state = match outcome {
                            Outcome::Delivered => STATE_DELIVERED,
                            _ => STATE_BOUNCED,
                        };
                        tx.query(
                            "UPDATE recipients SET state = $3, lease_node = NULL,
                                 lease_until = NULL, last_reason = $4, final_at = $5
                             WHERE mid = $1 AND rid = ANY($2) AND state = 0 RETURNING domain",
                            &[mid, rids, &state, reason, now],
                        )
                        .await?
                    }
                    Outcome::Deferred => {
                        tx.query(
                            "UPDATE recipients SET lease_node = NULL, lease_until = NULL,
                                 last_reason = $3, attempts = attempts + 1,
                                 first_attempt = coalesce(first_attempt, $4), next_attempt = $5
                             WHERE mid = $1 AND rid = ANY($2) AND state = 0
                               AND (lease_node IS NULL OR lease_node = $6
                                    OR lease_until < clock_timestamp())
                             RETURNING domain",
                            &[mid, rids, reason, now, next, &node],
                        )
                        .await?
                    }
                };
                let slot = match outcome {
                    Outcome::Delivered => 0,
                    Outcome::Deferred => 1,
                    Outcome::Bounced => 2,
                };
                for r in &rows {
                    let d: String = r.try_get(0)?;
                    if let Some(c) = counters.entry(d).or_default().get_mut(slot) {
                        *c += 1;
                    }
                }
                replies.push(Reply::Done);
            }
            Op::Release { mid, rids, next } => {
                tx.execute(
                    "UPDATE recipients SET lease_node = NULL, lease_until = NULL,
                         next_attempt = coalesce($3, next_attempt)
                     WHERE mid = $1 AND rid = ANY($2) AND state = 0
                       AND (lease_node IS NULL OR lease_node = $4
                            OR lease_until < clock_timestamp())",
                    &[mid, rids, next, &node],
                )
                .await?;
                replies.push(Reply::Done);
            }
            Op::DelayWarned(mid) => {
                tx.execute(
                    "UPDATE messages SET delay_warned = true WHERE mid = $1",
                    &[mid],
                )
                .await?;
                replies.push(Reply::Done);
            }
        }
    }
    if !counters.is_empty() {
        let mut domains = Vec::new();
        let (mut d, mut s, mut h) = (Vec::new(), Vec::new(), Vec::new());
        for (domain, [a, b, c]) in counters {
            domains.push(domain);
            d.push(a);
            s.push(b);
            h.push(c);
        }
        tx.execute(
            "INSERT INTO domain_counters (domain, node, delivered, soft_bounced, hard_bounced)
             SELECT u.domain, $5, u.d, u.s, u.h
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(domain, d, s, h)
             ON CONFLICT (domain, node) DO UPDATE SET
                 delivered = domain_counters.delivered + EXCLUDED.delivered,
                 soft_bounced = domain_counters.soft_bounced + EXCLUDED.soft_bounced,
                 hard_bounced = domain_counters.hard_bounced + EXCLUDED.hard_bounced",
            &[&domains, &d, &s, &h, &node],
        )
        .await?;
    }
    if !enqueues.is_empty() {
        tx.batch_execute(&format!("NOTIFY {CHANNEL}")).await?;
    }
    tx.commit().await?;
    Ok(replies)
}

/// Inserts the messages of a batch (one statement per table); their MIDs, in order.
async fn insert_messages(
    tx: &Transaction<'_>,
    node: &str,
    msgs: &[(&NewMessage, i64)],
) -> Result<Vec<MessageId>, QueueError> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let n = i64::try_from(msgs.len()).unwrap_or(i64::MAX);
    let mut mids: Vec<i64> = tx
        .query(
            "SELECT nextval(pg_get_serial_sequence('messages', 'mid'))
             FROM generate_series(1, $1::bigint)",
            &[&n],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    mids.sort_unstable();
    if mids.len() != msgs.len() {
        return Err(QueueError::Corrupt(
            "MID sequence returned too few values".into(),
        ));
    }
    let mut sender = Vec::new();
    let mut received_at = Vec::new();
    let mut size = Vec::new();
    let mut from = Vec::new();
    let mut icid = Vec::new();
    let mut policy = Vec::new();
    let mut ret = Vec::new();
    let mut envid = Vec::new();
    let mut data: Vec<&[u8]> = Vec::new();
    let (mut r_mid, mut r_rid, mut r_addr, mut r_dom, mut r_notify, mut r_orcpt, mut r_next) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (&mid, (m, now)) in mids.iter().zip(msgs) {
        sender.push(m.sender.as_str());
        received_at.push(*now);
        size.push(i64::try_from(m.data.len()).unwrap_or(i64::MAX));
        from.push(m.received_from.as_str());
        icid.push(m.icid.cast_signed());
        policy.push(m.policy.as_str());
        ret.push(m.dsn_ret.as_deref());
        envid.push(m.dsn_envid.as_deref());
        data.push(&m.data);
        for (rid, r) in m.recipients.iter().enumerate() {
            r_mid.push(mid);
            r_rid.push(i64::try_from(rid).unwrap_or(i64::MAX));
            r_addr.push(r.address.as_str());
            r_dom.push(r.domain.to_ascii_lowercase());
            r_notify.push(r.dsn_notify.as_deref());
            r_orcpt.push(r.dsn_orcpt.as_deref());
            r_next.push(*now);
        }
    }
    tx.execute(
        "INSERT INTO messages (mid, node, sender, received_at, size, received_from, icid,
                               policy, dsn_ret, dsn_envid)
         SELECT u.mid, $1, u.sender, u.received_at, u.size, u.received_from, u.icid,
                u.policy, u.dsn_ret, u.dsn_envid
         FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                     $7::bigint[], $8::text[], $9::text[], $10::text[])
              AS u(mid, sender, received_at, size, received_from, icid, policy, dsn_ret, dsn_envid)",
        &[
            &node,
            &mids,
            &sender,
            &received_at,
            &size,
            &from,
            &icid,
            &policy,
            &ret,
            &envid,
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO bodies (mid, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
        &[&mids, &data],
    )
    .await?;
    tx.execute(
        "INSERT INTO recipients (mid, rid, address, domain, dsn_notify, dsn_orcpt, next_attempt)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::bigint[])",
        &[
            &r_mid, &r_rid, &r_addr, &r_dom, &r_notify, &r_orcpt, &r_next,
        ],
    )
    .await?;
    Ok(mids.into_iter().map(i64::cast_unsigned).collect())
}

/// Keeps the session connection (LISTEN, node lock) alive, forwards notifications,
/// renews this process's leases and the node's heartbeat; reconnects after a loss.
async fn session_loop(
    inner: std::sync::Weak<Inner>,
    pg: tokio_postgres::Config,
    tls: Tls,
    client: tokio_postgres::Client,
    notes: mpsc::UnboundedReceiver<()>,
) {
    let (lease, wake, node) = match inner.upgrade() {
        Some(i) => (i.lease, Arc::clone(&i.wake), i.node.clone()),
        None => return,
    };
    let renew_every = (lease / 3).max(Duration::from_millis(200));
    let mut session = Some((client, notes));
    let mut backoff = Duration::from_millis(200);
    let mut renew = tokio::time::interval(renew_every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let Some((client, notes)) = session.as_mut() else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            match open_session(&pg, &tls).await {
                Ok((c, n)) => {
                    let ok = async {
                        lock_node(&c, &node).await?;
                        c.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                        Ok::<_, QueueError>(())
                    }
                    .await;
                    match ok {
                        Ok(()) => {
                            tracing::info!(node = %node, "queue database session restored");
                            backoff = Duration::from_millis(200);
                            session = Some((c, n));
                            // Mail may have arrived while we were not listening.
                            wake.notify_one();
                        }
                        Err(e) => tracing::warn!(error = %e, "queue database session"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "queue database unreachable, retrying"),
            }
            continue;
        };
        let mut lost = false;
        tokio::select! {
            n = notes.recv() => match n {
                Some(()) => wake.notify_one(),
                None => lost = true,
            },
            _ = renew.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                if let Err(e) = renew_leases(&inner).await {
                    tracing::warn!(error = %e, "queue lease renewal failed");
                }
                lost = client.is_closed();
            }
        }
        if lost {
            session = None;
        }
    }
}

async fn renew_leases(inner: &Inner) -> Result<(), QueueError> {
    let (mids, rids): (Vec<i64>, Vec<i64>) = match inner.leased.lock() {
        Ok(l) => l.iter().copied().unzip(),
        Err(_) => return Ok(()),
    };
    let client = inner.pool.get().await?;
    client
        .execute(
            "UPDATE nodes SET heartbeat = clock_timestamp() WHERE node = $1",
            &[&inner.node],
        )
        .await?;
    if !mids.is_empty() {
        let secs = inner.lease.as_secs_f64();
        client
            .execute(
                "UPDATE recipients r
                 SET lease_until = clock_timestamp() + make_interval(secs => $4)
                 FROM unnest($1::bigint[], $2::bigint[]) AS u(mid, rid)
                 WHERE r.mid = u.mid AND r.rid = u.rid AND r.state = 0 AND r.lease_node = $3",
                &[&mids, &rids, &inner.node, &secs],
            )
            .await?;
    }
    Ok(())
}

impl Store for PgStore {
    fn enqueue(&self, msg: NewMessage) -> BoxFuture<'_, Result<MessageId, QueueError>> {
        Box::pin(async move {
            if msg.recipients.is_empty() {
                return Err(QueueError::Invalid("a message needs a recipient".into()));
            }
            let weight = msg.data.len();
            let now = to_ms(SystemTime::now());
            match self.write(Op::Enqueue(Box::new(msg), now), weight).await? {
                Reply::Mid(mid) => Ok(mid),
                Reply::Done => Err(QueueError::Closed),
            }
        })
    }

    fn due(
        &self,
        now: SystemTime,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Recipient>, QueueError>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let client = self.inner.pool.get().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let secs = self.inner.lease.as_secs_f64();
            let rows = client
                .query(
                    &format!(
                        "WITH picked AS (
                             SELECT mid, rid FROM recipients
                             WHERE state = 0 AND next_attempt <= $1
                               AND (lease_until IS NULL OR lease_until < clock_timestamp())
                             ORDER BY next_attempt, mid, rid LIMIT $2
                             FOR UPDATE SKIP LOCKED)
                         UPDATE recipients r SET lease_node = $3,
                             lease_until = clock_timestamp() + make_interval(secs => $4)
                         FROM picked WHERE r.mid = picked.mid AND r.rid = picked.rid
                         RETURNING {}",
                        rcpt_cols("r.")
                    ),
                    &[&to_ms(now), &limit, &self.inner.node, &secs],
                )
                .await?;
            let mut out = recipients(&rows)?;
            for r in &mut out {
                r.node.clone_from(&self.inner.node);
            }
            out.sort_by_key(|r| (r.next_attempt, r.mid, r.rid));
            if let Ok(mut l) = self.inner.leased.lock() {
                for r in &out {
                    if let (Some(m), Some(d)) = (sql_id(r.mid), sql_id(r.rid)) {
                        l.insert((m, d));
                    }
                }
            }
            Ok(out)
        })
    }

    fn envelope(&self, mid: MessageId) -> BoxFuture<'_, Result<Option<Envelope>, QueueError>> {
        Box::pin(async move {
            let Some(mid) = sql_id(mid) else {
                return Ok(None);
            };
            let client = self.inner.pool.get().await?;
            let Some(r) = client
                .query_opt(
                    "SELECT mid, sender, received_at, size, received_from, icid, policy,
                            dsn_ret, dsn_envid, delay_warned, node
                     FROM messages WHERE mid = $1",
                    &[&mid],
                )
                .await?
            else {
                return Ok(None);
            };
            let node: String = r.try_get(10)?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {}, {} FROM recipients WHERE mid = $1 ORDER BY rid",
                        rcpt_cols(""),
                        holder_col("", "$2")
                    ),
                    &[&mid, &node],
                )
                .await?;
            Ok(Some(Envelope {
                mid: r.try_get::<_, i64>(0)?.cast_unsigned(),
                sender: r.try_get(1)?,
                received_at: from_ms(r.try_get(2)?),
                size: count(r.try_get(3)?),
                recipients: recipients(&rows)?,
                received_from: r.try_get(4)?,
                icid: r.try_get::<_, i64>(5)?.cast_unsigned(),
                policy: r.try_get(6)?,
                dsn_ret: r.try_get(7)?,
                dsn_envid: r.try_get(8)?,
                delay_warned: r.try_get(9)?,
                node,
            }))
        })
    }

    fn data(&self, mid: MessageId) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueueError>> {
        Box::pin(async move {
            let Some(mid) = sql_id(mid) else {
                return Ok(None);
            };
            let client = self.inner.pool.get().await?;
            let row = client
                .query_opt("SELECT data FROM bodies WHERE mid = $1", &[&mid])
                .await?;
            Ok(match row {
                Some(r) => Some(r.try_get(0)?),
                None => None,
            })
        })
    }

    fn delivered<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        response: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        self.outcome(mid, rids, Outcome::Delivered, response, SystemTime::now())
    }

    fn deferred<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next_attempt: SystemTime,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        self.outcome(mid, rids, Outcome::Deferred, reason, next_attempt)
    }

    fn bounced<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        self.outcome(mid, rids, Outcome::Bounced, reason, SystemTime::now())
    }

    fn release<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        self.release_at(mid, rids, None)
    }

    fn postpone<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next_attempt: SystemTime,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        self.release_at(mid, rids, Some(next_attempt))
    }

    fn set_delay_warned(&self, mid: MessageId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            match sql_id(mid) {
                Some(mid) => self.write_unit(Op::DelayWarned(mid)).await,
                None => Ok(()),
            }
        })
    }

    fn deliver_now<'a>(
        &'a self,
        domain: Option<&'a str>,
    ) -> BoxFuture<'a, Result<usize, QueueError>> {
        Box::pin(async move {
            let now = to_ms(SystemTime::now());
            let mut client = self.inner.pool.get().await?;
            let tx = client.transaction().await?;
            let n = match domain {
                Some(d) => {
                    tx.execute(
                        "UPDATE recipients SET next_attempt = least(next_attempt, $1)
                         WHERE state = 0 AND domain = $2",
                        &[&now, &d.to_ascii_lowercase()],
                    )
                    .await?
                }
                None => {
                    tx.execute(
                        "UPDATE recipients SET next_attempt = least(next_attempt, $1)
                         WHERE state = 0",
                        &[&now],
                    )
                    .await?
                }
            };
            tx.batch_execute(&format!("NOTIFY {CHANNEL}")).await?;
            tx.commit().await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn remove(&self, mid: MessageId) -> BoxFuture<'_, Result<bool, QueueError>> {
        Box::pin(async move {
            let Some(mid) = sql_id(mid) else {
                return Ok(false);
            };
            let client = self.inner.pool.get().await?;
            let n = client
                .execute("DELETE FROM messages WHERE mid = $1", &[&mid])
                .await?;
            Ok(n > 0)
        })
    }

    fn stats(&self) -> BoxFuture<'_, Result<QueueStats, QueueError>> {
        Box::pin(async move {
            let mut client = self.inner.pool.get().await?;
            // One snapshot for the three reads.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let mut domains: BTreeMap<String, DomainCounts> = BTreeMap::new();
            for row in tx
                .query(
                    "SELECT domain,
                        count(*) FILTER (WHERE lease_until IS NULL OR lease_until < clock_timestamp()),
                        count(*) FILTER (WHERE lease_until >= clock_timestamp())
                     FROM recipients WHERE state = 0 GROUP BY domain",
                    &[],
                )
                .await?
            {
                let c = domains.entry(row.try_get(0)?).or_default();
                c.active = count(row.try_get(1)?);
                c.in_flight = count(row.try_get(2)?);
            }
            for row in tx
                .query(
                    "SELECT domain, sum(delivered)::bigint, sum(soft_bounced)::bigint,
                            sum(hard_bounced)::bigint
                     FROM domain_counters GROUP BY domain",
                    &[],
                )
                .await?
            {
                let c = domains.entry(row.try_get(0)?).or_default();
                c.delivered = count(row.try_get(1)?);
                c.soft_bounced = count(row.try_get(2)?);
                c.hard_bounced = count(row.try_get(3)?);
            }
            let messages: i64 = tx
                .query_one("SELECT count(*) FROM messages", &[])
                .await?
                .try_get(0)?;
            tx.commit().await?;
            Ok(QueueStats::from_domains(domains, count(messages)))
        })
    }

    fn list<'a>(
        &'a self,
        domain: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Recipient>, QueueError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let cols = format!("{}, {}", rcpt_cols("r."), holder_col("r.", "m.node"));
            let rows = match domain {
                Some(d) => {
                    client
                        .query(
                            &format!(
                                "SELECT {cols} FROM recipients r JOIN messages m ON m.mid = r.mid
                                 WHERE r.state = 0 AND r.domain = $1
                                 ORDER BY r.mid, r.rid LIMIT $2"
                            ),
                            &[&d.to_ascii_lowercase(), &limit],
                        )
                        .await?
                }
                None => {
                    client
                        .query(
                            &format!(
                                "SELECT {cols} FROM recipients r JOIN messages m ON m.mid = r.mid
                                 WHERE r.state = 0 ORDER BY r.mid, r.rid LIMIT $1"
                            ),
                            &[&limit],
                        )
                        .await?
                }
            };
            recipients(&rows)
        })
    }

    fn next_due_time(&self) -> BoxFuture<'_, Result<Option<SystemTime>, QueueError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await?;
            let t: Option<i64> = client
                .query_one(
                    "SELECT min(next_attempt) FROM recipients
                     WHERE state = 0 AND (lease_until IS NULL OR lease_until < clock_timestamp())",
                    &[],
                )
                .await?
                .try_get(0)?;
            Ok(t.map(from_ms))
        })
    }

    fn gc(&self) -> BoxFuture<'_, Result<usize, QueueError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await?;
            let n = client
                .execute(
                    "DELETE FROM messages m
                     WHERE EXISTS (SELECT 1 FROM recipients f WHERE f.mid = m.mid AND f.state <> 0)
                       AND NOT EXISTS (SELECT 1 FROM recipients q
                                       WHERE q.mid = m.mid AND q.state = 0)",
                    &[],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}

impl PgStore {
    fn outcome<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        outcome: Outcome,
        reason: &'a str,
        next: SystemTime,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            let Some(mid) = sql_id(mid) else {
                return Ok(());
            };
            let rids = sql_ids(rids);
            // Whatever the result, this process no longer renews these leases: if the
            // write failed, the lease expires and the recipient is tried again.
            self.inner.forget(mid, &rids);
            self.write_unit(Op::Outcome {
                mid,
                rids,
                outcome,
                reason: reason.to_owned(),
                now: to_ms(SystemTime::now()),
                next: to_ms(next),
            })
            .await
        })
    }

    fn release_at<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            let Some(mid) = sql_id(mid) else {
                return Ok(());
            };
            let rids = sql_ids(rids);
            self.inner.forget(mid, &rids);
            self.write_unit(Op::Release {
                mid,
                rids,
                next: next.map(to_ms),
            })
            .await
        })
    }
}

/// The connection settings from `[queue] url` (a `postgresql://` URL or a `key=value`
/// string) and the password read from its file or the environment.
pub fn connection_config(
    url: &str,
    password: Option<&str>,
) -> Result<tokio_postgres::Config, QueueError> {
    let mut pg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| QueueError::Invalid(format!("queue.url: {e}")))?;
    if pg.get_password().is_some() {
        return Err(QueueError::Invalid(
            "queue.url contains a password: use queue.password_file or queue.password_env".into(),
        ));
    }
    if let Some(p) = password {
        pg.password(p);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("danegate");
    }
    Ok(pg)
}

/// rustls (ring) settings for TLS to the database: the server's certificate is verified
/// against the PEM roots of `ca_file`, or the webpki roots.
pub fn client_tls(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, QueueError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    QueueError::Invalid(format!("queue.tls_ca_file {}: {e}", path.display()))
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(QueueError::Invalid(format!(
                    "queue.tls_ca_file {}: no usable certificate",
                    path.display()
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| QueueError::Invalid(format!("TLS to the queue database: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
