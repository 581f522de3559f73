//! The embedded store: one SQLite database in WAL mode with `synchronous=FULL`.
//!
//! Writes go through a single writer thread that takes every operation waiting at that
//! moment (up to [`MAX_BATCH_OPS`] / [`MAX_BATCH_BYTES`]), runs each in its own savepoint
//! inside one transaction, commits once (one WAL fsync), then answers every waiter: group
//! commit. Reads run on a small pool of reader connections in `spawn_blocking`; WAL lets
//! them proceed while the writer commits.
//!
//! Bodies are not in the database: the writer appends them to a segment file
//! ([`crate::spool`]), syncs it once per batch, then commits the rows that reference them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use tokio::sync::{mpsc, oneshot};

use crate::spool::{self, BodyRef, Spool};
use crate::{
    BoxFuture, DomainCounts, Envelope, MessageId, NewMessage, QueueError, QueueStats, RcptState,
    Recipient, RecipientId, Store,
};

/// File name of the database inside the queue directory.
const DB_FILE: &str = "queue.sqlite";
/// File name of the lock file that keeps a second process out.
const LOCK_FILE: &str = "queue.lock";
/// Schema version stored in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 2;
/// Page size of a new database (bytes).
const PAGE_SIZE: u32 = 1024;
/// Most operations committed together.
const MAX_BATCH_OPS: usize = 1024;
/// Most body bytes committed together (a batch always takes at least one operation).
const MAX_BATCH_BYTES: usize = 64 << 20;
/// Operations waiting for the writer before callers wait for room (back-pressure).
const CHANNEL_CAPACITY: usize = 4096;
/// Idle reader connections kept.
const MAX_IDLE_READERS: usize = 4;
/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The node name [`SqliteStore::open`] gives the store (the default of `[server] node`
/// when the host name's first label is not a usable name).
const DEFAULT_NODE: &str = "gw";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    mid           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender        TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    received_from TEXT    NOT NULL,
    icid          INTEGER NOT NULL,
    policy        TEXT    NOT NULL,
    dsn_ret       TEXT,
    dsn_envid     TEXT,
    delay_warned  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bodies (
    mid  INTEGER PRIMARY KEY,
    data BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS body_refs (
    mid  INTEGER PRIMARY KEY,
    seg  INTEGER NOT NULL,
    off  INTEGER NOT NULL,
    len  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS body_refs_seg ON body_refs (seg);
CREATE TABLE IF NOT EXISTS recipients (
    mid           INTEGER NOT NULL,
    rid           INTEGER NOT NULL,
    address       TEXT    NOT NULL,
    domain        TEXT    NOT NULL,
    dsn_notify    TEXT,
    dsn_orcpt     TEXT,
    state         INTEGER NOT NULL DEFAULT 0,  -- 0 queued, 1 delivered, 2 bounced
    leased        INTEGER NOT NULL DEFAULT 0,  -- 1 while in flight
    attempts      INTEGER NOT NULL DEFAULT 0,
    first_attempt INTEGER,
    next_attempt  INTEGER NOT NULL,
    last_reason   TEXT,
    final_at      INTEGER,
    PRIMARY KEY (mid, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_due
    ON recipients (next_attempt, mid, rid) WHERE state = 0 AND leased = 0;
CREATE INDEX IF NOT EXISTS recipients_domain
    ON recipients (domain, mid, rid) WHERE state = 0;
CREATE INDEX IF NOT EXISTS recipients_final
    ON recipients (mid) WHERE state <> 0;
CREATE TABLE IF NOT EXISTS domain_counters (
    domain       TEXT    PRIMARY KEY,
    delivered    INTEGER NOT NULL DEFAULT 0,
    soft_bounced INTEGER NOT NULL DEFAULT 0,
    hard_bounced INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
";

const RCPT_COLS: &str = "mid, rid, address, domain, dsn_notify, dsn_orcpt, state, leased, \
                         attempts, first_attempt, next_attempt, last_reason";

const STATE_QUEUED: i64 = 0;
const STATE_DELIVERED: i64 = 1;
const STATE_BOUNCED: i64 = 2;

/// Counters of the writer thread, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Operations carried by those commits (enqueues, state changes, leases...).
    pub ops: u64,
}

/// One operation for the writer thread.
struct Job {
    /// Body bytes it carries, to bound a batch.
    weight: usize,
    /// Runs the operation (returning it pending the commit), or answers it with an error
    /// without running it.
    run: Box<dyn FnOnce(Step<'_>) -> Option<Pending> + Send>,
}

/// The writer thread's connection and body segments.
pub(crate) struct Writer {
    conn: Connection,
    spool: RefCell<Spool>,
}

impl std::ops::Deref for Writer {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// What the writer does with a [`Job`].
enum Step<'a> {
    /// Run it inside the open transaction.
    Run(&'a Writer),
    /// Do not run it; answer with this error.
    Abort(&'a QueueError),
}

/// An operation that ran inside the open transaction and awaits the commit.
struct Pending {
    ok: bool,
    /// Called once the batch is settled: with the batch error if the commit (or the
    /// transaction) failed, else `None` to deliver the operation's own result.
    finish: Finish,
}

/// Answers a [`Pending`] operation's caller once its batch is settled.
type Finish = Box<dyn FnOnce(Option<&QueueError>) + Send>;

struct Inner {
    dir: PathBuf,
    db_path: PathBuf,
    /// `DIR/bodies`.
    bodies_dir: PathBuf,
    /// Test hook: milliseconds the writer waits between syncing a batch's bodies and
    /// committing its rows (the crash test kills the process there).
    commit_delay_ms: Arc<AtomicU64>,
    tx: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    commits: Arc<AtomicU64>,
    ops: Arc<AtomicU64>,
    /// This node's name: the holder of every message (one node).
    node: String,
    /// Held (locked) for the store's life; declared last so it is released last.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and exit.
        self.tx.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(dir = %self.dir.display(), "queue writer thread panicked");
        }
    }
}

/// The embedded queue: `DIR/queue.sqlite` (SQLite, WAL, `synchronous=FULL`, group commit),
/// with `DIR/queue.lock` keeping a second process out.
///
/// Cheap to clone (shared handle). The writer thread stops and the lock is released when
/// the last clone is dropped, after the operations already submitted are committed.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// Open options that create a file with mode 0600 (owner only; a umask can only take
/// bits away).
pub(crate) fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Creates the queue directory and its missing parents with mode 0700 (whatever the
/// umask); an existing directory loses its "other" permission bits.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o007 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o7770))?;
        }
    }
    Ok(())
}

/// Makes an existing file owner-only (a missing one is fine): the queue holds
/// message bodies.
fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn io_err(path: &Path, e: std::io::Error) -> QueueError {
    QueueError::Io {
        path: path.to_path_buf(),
        source: Arc::new(e),
    }
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

/// A MID or RID as SQLite stores it; `None` if it cannot exist in the database.
fn sql_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn recipient_from_row(row: &Row<'_>) -> rusqlite::Result<Recipient> {
    let state = match row.get::<_, i64>(6)? {
        STATE_QUEUED => RcptState::Queued,
        STATE_DELIVERED => RcptState::Delivered,
        STATE_BOUNCED => RcptState::Bounced,
        other => return Err(rusqlite::Error::IntegralValueOutOfRange(6, other)),
    };
    Ok(Recipient {
        mid: row.get::<_, i64>(0)?.cast_unsigned(),
        rid: row.get::<_, i64>(1)?.cast_unsigned(),
        address: row.get(2)?,
        domain: row.get(3)?,
        dsn_notify: row.get(4)?,
        dsn_orcpt: row.get(5)?,
        state,
        in_flight: row.get::<_, i64>(7)? != 0,
        attempts: u32::try_from(row.get::<_, i64>(8)?).unwrap_or(u32::MAX),
        first_attempt: row.get::<_, Option<i64>>(9)?.map(from_ms),
        next_attempt: from_ms(row.get(10)?),
        last_reason: row.get(11)?,
        // Filled in by the store (its node name).
        node: String::new(),
    })
}

fn configure(conn: &Connection) -> Result<(), QueueError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(QueueError::Corrupt(format!(
            "cannot switch the database to WAL mode (journal_mode is {mode}); \
             is the queue directory on a file system without shared memory support?"
        )));
    }
    // FULL: every commit fsyncs the WAL, so a committed enqueue survives power loss.
    // fullfsync matters on macOS only (F_FULLFSYNC); elsewhere it is ignored.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA fullfsync = ON;
         PRAGMA checkpoint_fullfsync = ON;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, QueueError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the queue in `dir` (`dir/queue.sqlite`).
    ///
    /// Takes an exclusive lock on `dir/queue.lock` (fails with [`QueueError::Locked`] if
    /// another process has the queue open) and performs crash recovery: every recipient
    /// left in flight becomes queued again (at-least-once delivery). Blocking: call it
    /// before starting to serve, or from `spawn_blocking`.
    pub fn open(dir: &Path) -> Result<Self, QueueError> {
        Self::open_node(dir, DEFAULT_NODE)
    }

    /// [`open`](Self::open), naming the node (`[server] node`): the embedded queue is
    /// one node, which holds (receives and delivers) every message it stores, so
    /// [`Recipient::node`] and [`Envelope::node`] are this name. It is not stored: a
    /// queue directory opened under another name shows that name.
    pub fn open_node(dir: &Path, node: &str) -> Result<Self, QueueError> {
        create_private_dir(dir).map_err(|e| io_err(dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(QueueError::Locked(dir.to_path_buf())),
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }

        let db_path = dir.join(DB_FILE);
        // The database holds message bodies: 0600 whatever the umask. SQLite creates
        // its -wal and -shm files with the database file's permissions, so creating
        // the database file first (and tightening one left by an older version)
        // covers them too; existing ones are tightened as well.
        private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&db_path)
            .map_err(|e| io_err(&db_path, e))?;
        for name in [DB_FILE, "queue.sqlite-wal", "queue.sqlite-shm", LOCK_FILE] {
            let path = dir.join(name);
            restrict(&path).map_err(|e| io_err(&path, e))?;
        }
        let conn = Connection::open(&db_path)?;
        // Small pages for a new database (an existing one keeps its size): the rows are
        // envelopes and recipient states of about 100 bytes, and every commit writes
        // each page it touched to the WAL, so 1 KiB pages write a quarter of the
        // bytes 4 KiB pages do for the same row changes.
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))?;
        configure(&conn)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(QueueError::Corrupt(format!(
                "{} has schema version {version}, newer than this build's {SCHEMA_VERSION}",
                db_path.display()
            )));
        }
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        let recovered = tx.execute("UPDATE recipients SET leased = 0 WHERE leased <> 0", [])?;
        tx.commit()?;
        let spool = Spool::open(dir, &conn).map_err(|e| io_err(&dir.join(spool::BODIES_DIR), e))?;
        let bodies_dir = spool.dir().to_path_buf();
        if recovered > 0 {
            tracing::info!(
                recipients = recovered,
                "queue recovery: recipients in flight at the last stop are queued again"
            );
        }
        // Make the database file's directory entry durable too (SQLite syncs the
        // directory for the WAL it creates, not for the main file).
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, e))?;

        let (tx, rx) = mpsc::channel::<Job>(CHANNEL_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let ops = Arc::new(AtomicU64::new(0));
        let commit_delay_ms = Arc::new(AtomicU64::new(0));
        let writer = {
            let commits = Arc::clone(&commits);
            let ops = Arc::clone(&ops);
            let delay = Arc::clone(&commit_delay_ms);
            let w = Writer {
                conn,
                spool: RefCell::new(spool),
            };
            std::thread::Builder::new()
                .name("queue-writer".into())
                .spawn(move || writer_loop(w, rx, &commits, &ops, &delay))
                .map_err(|e| io_err(dir, e))?
        };
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                db_path,
                bodies_dir,
                commit_delay_ms,
                tx: Some(tx),
                writer: Some(writer),
                readers: Mutex::new(Vec::new()),
                commits,
                ops,
                node: node.to_owned(),
                _lock: lock,
            }),
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Sets the node of recipients read from the database.
    fn own(&self, mut rcpts: Vec<Recipient>) -> Vec<Recipient> {
        for r in &mut rcpts {
            r.node.clone_from(&self.inner.node);
        }
        rcpts
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Commits and operations so far (operations per commit shows group commit at work).
    pub fn writer_stats(&self) -> WriterStats {
        WriterStats {
            commits: self.inner.commits.load(Ordering::Relaxed),
            ops: self.inner.ops.load(Ordering::Relaxed),
        }
    }

    /// Test hook for crash tests: the writer waits this long after syncing a batch's
    /// bodies and before committing its rows. Not for production use.
    #[doc(hidden)]
    pub fn set_commit_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner.commit_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Body segment files present in `DIR/bodies` (for tests and diagnostics).
    pub fn body_segments(&self) -> Result<usize, QueueError> {
        let dir = &self.inner.bodies_dir;
        let n = std::fs::read_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
            .count();
        Ok(n)
    }

    /// Runs SQLite's `PRAGMA integrity_check`; returns its findings (empty when sound).
    pub async fn integrity_check(&self) -> Result<Vec<String>, QueueError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut problems = Vec::new();
            for row in rows {
                let line = row?;
                if line != "ok" {
                    problems.push(line);
                }
            }
            Ok(problems)
        })
        .await
    }

    /// Runs `f` on the writer thread inside the current batch's transaction (in its own
    /// savepoint) and returns its result once the batch is committed.
    async fn write<T, F>(&self, weight: usize, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Writer) -> Result<T, QueueError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(move |step: Step<'_>| {
            let conn = match step {
                Step::Run(conn) => conn,
                Step::Abort(err) => {
                    let _ = reply.send(Err(err.clone()));
                    return None;
                }
            };
            let result = f(conn);
            Some(Pending {
                ok: result.is_ok(),
                finish: Box::new(move |batch_err: Option<&QueueError>| {
                    let result = match batch_err {
                        Some(e) => Err(e.clone()),
                        None => result,
                    };
                    // The caller may have gone away; the work is committed regardless.
                    let _ = reply.send(result);
                }),
            })
        });
        let tx = self.inner.tx.as_ref().ok_or(QueueError::Closed)?;
        tx.send(Job { weight, run })
            .await
            .map_err(|_| QueueError::Closed)?;
        answer.await.map_err(|_| QueueError::Closed)?
    }

    /// Runs `f` on a reader connection, inside one read transaction, off the runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, QueueError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.with_reader(f))
            .await
            .map_err(|_| QueueError::Closed)?
    }
}

impl Inner {
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        let idle = match self.readers.lock() {
            Ok(mut pool) => pool.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        let conn = match idle {
            Some(c) => c,
            None => open_reader(&self.db_path)?,
        };
        conn.execute_batch("BEGIN DEFERRED")?;
        let result = f(&conn);
        if conn.execute_batch("COMMIT").is_err() {
            // A connection whose read transaction cannot be closed is not reused.
            return result;
        }
        let mut pool = match self.readers.lock() {
            Ok(pool) => pool,
            Err(poisoned) => poisoned.into_inner(),
        };
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        result
    }
}

fn writer_loop(
    conn: Writer,
    mut rx: mpsc::Receiver<Job>,
    commits: &AtomicU64,
    ops: &AtomicU64,
    commit_delay_ms: &AtomicU64,
) {
    while let Some(first) = rx.blocking_recv() {
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
        let n = batch.len() as u64;
        if run_batch(&conn, batch, commit_delay_ms) {
            commits.fetch_add(1, Ordering::Relaxed);
            ops.fetch_add(n, Ordering::Relaxed);
        }
    }
    // Channel closed and drained: checkpoint so the WAL is folded into the database.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "queue: final WAL checkpoint failed");
    }
}

/// Runs a parameterless statement through the statement cache (savepoints, once per
/// operation, would otherwise be parsed every time).
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs one batch in one transaction; answers every job. True if it committed.
fn run_batch(conn: &Writer, batch: Vec<Job>, commit_delay_ms: &AtomicU64) -> bool {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = QueueError::from(e);
        tracing::error!(error = %err, ops = batch.len(), "queue: cannot begin a write transaction");
        for job in batch {
            (job.run)(Step::Abort(&err));
        }
        return false;
    }
    let mut pending = Vec::with_capacity(batch.len());
    let mut not_run = Vec::new();
    let mut failure: Option<QueueError> = None;
    for job in batch {
        if failure.is_some() {
            // The transaction is gone: running the rest would autocommit them one by one.
            not_run.push(job);
            continue;
        }
        if let Err(e) = exec_cached(conn, "SAVEPOINT op") {
            failure = Some(e.into());
            not_run.push(job);
            continue;
        }
        let Some(p) = (job.run)(Step::Run(conn)) else {
            continue;
        };
        if conn.is_autocommit() {
            // The operation's error rolled the whole transaction back (disk full, I/O
            // error...): everything in this batch is lost and must be reported so.
            failure = Some(QueueError::Corrupt(
                "the write transaction was rolled back (I/O error or disk full)".into(),
            ));
        } else {
            let settle = if p.ok {
                exec_cached(conn, "RELEASE op")
            } else {
                exec_cached(conn, "ROLLBACK TO op").and_then(|()| exec_cached(conn, "RELEASE op"))
            };
            if let Err(e) = settle {
                failure = Some(e.into());
            }
        }
        pending.push(p);
    }
    // The bodies first: no committed row may point at bytes not on stable storage.
    if failure.is_none()
        && let Err(e) = conn.spool.borrow_mut().sync()
    {
        failure = Some(io_err(conn.spool.borrow().dir(), e));
    }
    let delay = commit_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        std::thread::sleep(Duration::from_millis(delay));
    }
    if failure.is_none()
        && let Err(e) = conn.execute_batch("COMMIT")
    {
        failure = Some(e.into());
    }
    if failure.is_none() {
        conn.spool.borrow_mut().unlink_unreferenced(conn);
    } else {
        conn.spool.borrow_mut().forget_doomed();
    }
    if let Some(err) = &failure {
        tracing::error!(error = %err, ops = pending.len() + not_run.len(), "queue: batch not committed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for job in not_run {
            (job.run)(Step::Abort(err));
        }
    }
    for p in pending {
        (p.finish)(failure.as_ref());
    }
    failure.is_none()
}

// ---- the operations, each run on one connection inside a transaction ----

fn op_enqueue(conn: &Writer, msg: NewMessage, now: SystemTime) -> Result<MessageId, QueueError> {
    if msg.recipients.is_empty() {
        return Err(QueueError::Invalid(
            "a message needs at least one recipient".into(),
        ));
    }
    let now = to_ms(now);
    let size = i64::try_from(msg.data.len())
        .map_err(|_| QueueError::Invalid("message too large".into()))?;
    conn.prepare_cached(
        "INSERT INTO messages (sender, received_at, size, received_from, icid, policy, dsn_ret, dsn_envid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        msg.sender,
        now,
        size,
        msg.received_from,
        msg.icid.cast_signed(),
        msg.policy,
        msg.dsn_ret,
        msg.dsn_envid
    ])?;
    let mid = conn.last_insert_rowid();
    let body = conn
        .spool
        .borrow_mut()
        .append(&msg.data)
        .map_err(|e| io_err(conn.spool.borrow().dir(), e))?;
    conn.prepare_cached("INSERT INTO body_refs (mid, seg, off, len) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            mid,
            body.seg.cast_signed(),
            body.off.cast_signed(),
            body.len.cast_signed()
        ])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO recipients (mid, rid, address, domain, dsn_notify, dsn_orcpt, next_attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (rid, r) in msg.recipients.iter().enumerate() {
        let rid =
            i64::try_from(rid).map_err(|_| QueueError::Invalid("too many recipients".into()))?;
        insert.execute(params![
            mid,
            rid,
            r.address,
            r.domain.to_ascii_lowercase(),
            r.dsn_notify,
            r.dsn_orcpt,
            now
        ])?;
    }
    Ok(mid.cast_unsigned())
}

fn op_due(conn: &Connection, now: SystemTime, limit: usize) -> Result<Vec<Recipient>, QueueError> {
    let mut rows = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RCPT_COLS} FROM recipients
             WHERE state = 0 AND leased = 0 AND next_attempt <= ?1
             ORDER BY next_attempt, mid, rid LIMIT ?2"
        ))?;
        stmt.query_map(params![to_ms(now), sql_limit(limit)], recipient_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut lease =
        conn.prepare_cached("UPDATE recipients SET leased = 1 WHERE mid = ?1 AND rid = ?2")?;
    for r in &mut rows {
        lease.execute(params![r.mid.cast_signed(), r.rid.cast_signed()])?;
        r.in_flight = true;
    }
    Ok(rows)
}

/// Which counter a final or deferred outcome adds to.
#[derive(Clone, Copy)]
enum Outcome {
    Delivered,
    Deferred,
    Bounced,
}

fn bump_counter(conn: &Connection, domain: &str, outcome: Outcome) -> Result<(), QueueError> {
    let sql = match outcome {
        Outcome::Delivered => {
            "INSERT INTO domain_counters (domain, delivered) VALUES (?1, 1)
             ON CONFLICT (domain) DO UPDATE SET delivered = delivered + 1"
        }
        Outcome::Deferred => {
            "INSERT INTO domain_counters (domain, soft_bounced) VALUES (?1, 1)
             ON CONFLICT (domain) DO UPDATE SET soft_bounced = soft_bounced + 1"
        }
        Outcome::Bounced => {
            "INSERT INTO domain_counters (domain, hard_bounced) VALUES (?1, 1)
             ON CONFLICT (domain) DO UPDATE SET hard_bounced = hard_bounced + 1"
        }
    };
    conn.prepare_cached(sql)?.execute(params![domain])?;
    Ok(())
}

/// Records an outcome for the still-queued recipients among `rids`.
fn op_outcome(
    conn: &Writer,
    mid: MessageId,
    rids: &[RecipientId],
    outcome: Outcome,
    reason: &str,
    now: SystemTime,
    next_attempt: SystemTime,
) -> Result<(), QueueError> {
    let Some(mid) = sql_id(mid) else {
        return Ok(());
    };
    let sql = match outcome {
        Outcome::Delivered => {
            "UPDATE recipients SET state = 1, leased = 0, last_reason = ?3, final_at = ?4
             WHERE mid = ?1 AND rid = ?2 AND state = 0 RETURNING domain"
        }
        Outcome::Bounced => {
            "UPDATE recipients SET state = 2, leased = 0, last_reason = ?3, final_at = ?4
             WHERE mid = ?1 AND rid = ?2 AND state = 0 RETURNING domain"
        }
        Outcome::Deferred => {
            "UPDATE recipients SET leased = 0, last_reason = ?3, attempts = attempts + 1,
                 first_attempt = coalesce(first_attempt, ?4), next_attempt = ?5
             WHERE mid = ?1 AND rid = ?2 AND state = 0 RETURNING domain"
        }
    };
    let now = to_ms(now);
    let next = to_ms(next_attempt);
    for &rid in rids {
        let Some(rid) = sql_id(rid) else { continue };
        let domain: Option<String> = {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = match outcome {
                Outcome::Deferred => stmt.query(params![mid, rid, reason, now, next])?,
                _ => stmt.query(params![mid, rid, reason, now])?,
            };
            match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            }
        };
        if let Some(domain) = domain {
            bump_counter(conn, &domain, outcome)?;
        }
    }
    if !matches!(outcome, Outcome::Deferred) {
        let queued = conn
            .prepare_cached("SELECT 1 FROM recipients WHERE mid = ?1 AND state = 0 LIMIT 1")?
            .exists(params![mid])?;
        if !queued {
            // The last recipient is finished: the body is not needed any more.
            drop_body(conn, mid)?;
        }
    }
    Ok(())
}

/// Deletes a message's body reference (its bytes go with their segment, once no
/// other reference keeps it) and a body stored in the database by an older version.
fn drop_body(conn: &Writer, mid: i64) -> Result<(), QueueError> {
    let seg: Option<i64> = conn
        .prepare_cached("DELETE FROM body_refs WHERE mid = ?1 RETURNING seg")?
        .query_row(params![mid], |r| r.get(0))
        .optional()?;
    if let Some(seg) = seg {
        conn.spool.borrow_mut().doom(seg.cast_unsigned());
    }
    conn.prepare_cached("DELETE FROM bodies WHERE mid = ?1")?
        .execute(params![mid])?;
    Ok(())
}

/// Lease back without counting an attempt; with `next`, due again then.
fn op_release(
    conn: &Connection,
    mid: MessageId,
    rids: &[RecipientId],
    next: Option<SystemTime>,
) -> Result<(), QueueError> {
    let Some(mid) = sql_id(mid) else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(
        "UPDATE recipients SET leased = 0, next_attempt = coalesce(?3, next_attempt)
         WHERE mid = ?1 AND rid = ?2 AND state = 0",
    )?;
    let next = next.map(to_ms);
    for &rid in rids {
        if let Some(rid) = sql_id(rid) {
            stmt.execute(params![mid, rid, next])?;
        }
    }
    Ok(())
}

fn op_deliver_now(
    conn: &Connection,
    domain: Option<&str>,
    now: SystemTime,
) -> Result<usize, QueueError> {
    let now = to_ms(now);
    let n = match domain {
        Some(d) => conn
            .prepare_cached(
                "UPDATE recipients SET next_attempt = min(next_attempt, ?1)
                 WHERE state = 0 AND domain = ?2",
            )?
            .execute(params![now, d.to_ascii_lowercase()])?,
        None => conn
            .prepare_cached(
                "UPDATE recipients SET next_attempt = min(next_attempt, ?1) WHERE state = 0",
            )?
            .execute(params![now])?,
    };
    Ok(n)
}

fn delete_message(conn: &Writer, mid: i64) -> Result<bool, QueueError> {
    conn.prepare_cached("DELETE FROM recipients WHERE mid = ?1")?
        .execute(params![mid])?;
    drop_body(conn, mid)?;
    let n = conn
        .prepare_cached("DELETE FROM messages WHERE mid = ?1")?
        .execute(params![mid])?;
    Ok(n > 0)
}

fn op_gc(conn: &Writer) -> Result<usize, QueueError> {
    let mids: Vec<i64> = {
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT f.mid FROM recipients AS f WHERE f.state <> 0
               AND NOT EXISTS (SELECT 1 FROM recipients AS q WHERE q.mid = f.mid AND q.state = 0)",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut removed = 0;
    for mid in mids {
        if delete_message(conn, mid)? {
            removed += 1;
        }
    }
    Ok(removed)
}

fn op_envelope(conn: &Connection, mid: MessageId) -> Result<Option<Envelope>, QueueError> {
    let Some(mid) = sql_id(mid) else {
        return Ok(None);
    };
    let env = conn
        .prepare_cached(
            "SELECT mid, sender, received_at, size, received_from, icid, policy, dsn_ret,
                    dsn_envid, delay_warned
             FROM messages WHERE mid = ?1",
        )?
        .query_row(params![mid], |r| {
            Ok(Envelope {
                mid: r.get::<_, i64>(0)?.cast_unsigned(),
                sender: r.get(1)?,
                received_at: from_ms(r.get(2)?),
                size: count(r.get(3)?),
                recipients: Vec::new(),
                received_from: r.get(4)?,
                icid: r.get::<_, i64>(5)?.cast_unsigned(),
                policy: r.get(6)?,
                dsn_ret: r.get(7)?,
                dsn_envid: r.get(8)?,
                delay_warned: r.get::<_, i64>(9)? != 0,
                node: String::new(),
            })
        })
        .optional()?;
    let Some(mut env) = env else {
        return Ok(None);
    };
    env.recipients = conn
        .prepare_cached(&format!(
            "SELECT {RCPT_COLS} FROM recipients WHERE mid = ?1 ORDER BY rid"
        ))?
        .query_map(params![mid], recipient_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(env))
}

/// Envelope and body of one message in the caller's read transaction.
fn op_load(conn: &Connection, bodies_dir: &Path, mid: MessageId) -> crate::Loaded {
    let Some(env) = op_envelope(conn, mid)? else {
        return Ok(None);
    };
    Ok(op_data(conn, bodies_dir, mid)?.map(|data| (env, data)))
}

fn op_data(
    conn: &Connection,
    bodies_dir: &Path,
    mid: MessageId,
) -> Result<Option<Vec<u8>>, QueueError> {
    let Some(mid) = sql_id(mid) else {
        return Ok(None);
    };
    let r = conn
        .prepare_cached("SELECT seg, off, len FROM body_refs WHERE mid = ?1")?
        .query_row(params![mid], |r| {
            Ok(BodyRef {
                seg: r.get::<_, i64>(0)?.cast_unsigned(),
                off: r.get::<_, i64>(1)?.cast_unsigned(),
                len: r.get::<_, i64>(2)?.cast_unsigned(),
            })
        })
        .optional()?;
    if let Some(r) = r {
        return spool::read(bodies_dir, r)
            .map(Some)
            .map_err(|e| io_err(&spool::segment_path(bodies_dir, r.seg), e));
    }
    // A body stored in the database by an older version.
    Ok(conn
        .prepare_cached("SELECT data FROM bodies WHERE mid = ?1")?
        .query_row(params![mid], |r| r.get(0))
        .optional()?)
}

fn op_stats(conn: &Connection) -> Result<QueueStats, QueueError> {
    let mut domains: BTreeMap<String, DomainCounts> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT domain, sum(leased = 0), sum(leased <> 0) FROM recipients
             WHERE state = 0 GROUP BY domain",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let c = domains.entry(row.get(0)?).or_default();
            c.active = count(row.get(1)?);
            c.in_flight = count(row.get(2)?);
        }
    }
    {
        let mut stmt = conn.prepare_cached(
            "SELECT domain, delivered, soft_bounced, hard_bounced FROM domain_counters",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let c = domains.entry(row.get(0)?).or_default();
            c.delivered = count(row.get(1)?);
            c.soft_bounced = count(row.get(2)?);
            c.hard_bounced = count(row.get(3)?);
        }
    }
    let messages: i64 = conn
        .prepare_cached("SELECT count(*) FROM messages")?
        .query_row([], |r| r.get(0))?;
    Ok(QueueStats::from_domains(domains, count(messages)))
}

fn op_list(
    conn: &Connection,
    domain: Option<&str>,
    limit: usize,
) -> Result<Vec<Recipient>, QueueError> {
    let rows = match domain {
        Some(d) => conn
            .prepare_cached(&format!(
                "SELECT {RCPT_COLS} FROM recipients WHERE state = 0 AND domain = ?1
                 ORDER BY mid, rid LIMIT ?2"
            ))?
            .query_map(
                params![d.to_ascii_lowercase(), sql_limit(limit)],
                recipient_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?,
        None => conn
            .prepare_cached(&format!(
                "SELECT {RCPT_COLS} FROM recipients WHERE state = 0 ORDER BY mid, rid LIMIT ?1"
            ))?
            .query_map(params![sql_limit(limit)], recipient_from_row)?
            .collect::<rusqlite::Result<_>>()?,
    };
    Ok(rows)
}

fn op_next_due_time(conn: &Connection) -> Result<Option<SystemTime>, QueueError> {
    let t: Option<i64> = conn
        .prepare_cached("SELECT min(next_attempt) FROM recipients WHERE state = 0 AND leased = 0")?
        .query_row([], |r| r.get(0))?;
    Ok(t.map(from_ms))
}

impl Store for SqliteStore {
    fn enqueue(&self, msg: NewMessage) -> BoxFuture<'_, Result<MessageId, QueueError>> {
        let now = SystemTime::now();
        let weight = msg.data.len();
        Box::pin(self.write(weight, move |c| op_enqueue(c, msg, now)))
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
            self.write(0, move |c| op_due(c, now, limit))
                .await
                .map(|r| self.own(r))
        })
    }

    fn envelope(&self, mid: MessageId) -> BoxFuture<'_, Result<Option<Envelope>, QueueError>> {
        Box::pin(async move {
            let env = self.read(move |c| op_envelope(c, mid)).await?;
            Ok(env.map(|mut e| {
                e.recipients = self.own(std::mem::take(&mut e.recipients));
                e.node.clone_from(&self.inner.node);
                e
            }))
        })
    }

    fn data(&self, mid: MessageId) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueueError>> {
        let dir = self.inner.bodies_dir.clone();
        Box::pin(self.read(move |c| op_data(c, &dir, mid)))
    }

    fn load<'a>(&'a self, mids: &'a [MessageId]) -> BoxFuture<'a, Vec<crate::Loaded>> {
        let dir = self.inner.bodies_dir.clone();
        let owned = mids.to_vec();
        Box::pin(async move {
            let read = self
                .read(move |c| {
                    Ok(owned
                        .iter()
                        .map(|&mid| op_load(c, &dir, mid))
                        .collect::<Vec<_>>())
                })
                .await;
            let loaded = match read {
                Ok(loaded) => loaded,
                Err(e) => return mids.iter().map(|_| Err(e.clone())).collect(),
            };
            loaded
                .into_iter()
                .map(|one| {
                    one.map(|m| {
                        m.map(|(mut env, data)| {
                            env.recipients = self.own(std::mem::take(&mut env.recipients));
                            env.node.clone_from(&self.inner.node);
                            (env, data)
                        })
                    })
                })
                .collect()
        })
    }

    fn delivered<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        response: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        let rids = rids.to_vec();
        let reason = response.to_owned();
        let now = SystemTime::now();
        Box::pin(self.write(0, move |c| {
            op_outcome(c, mid, &rids, Outcome::Delivered, &reason, now, now)
        }))
    }

    fn deferred<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next_attempt: SystemTime,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        let rids = rids.to_vec();
        let reason = reason.to_owned();
        let now = SystemTime::now();
        Box::pin(self.write(0, move |c| {
            op_outcome(c, mid, &rids, Outcome::Deferred, &reason, now, next_attempt)
        }))
    }

    fn bounced<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        let rids = rids.to_vec();
        let reason = reason.to_owned();
        let now = SystemTime::now();
        Box::pin(self.write(0, move |c| {
            op_outcome(c, mid, &rids, Outcome::Bounced, &reason, now, now)
        }))
    }

    fn release<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        let rids = rids.to_vec();
        Box::pin(self.write(0, move |c| op_release(c, mid, &rids, None)))
    }

    fn postpone<'a>(
        &'a self,
        mid: MessageId,
        rids: &'a [RecipientId],
        next_attempt: SystemTime,
    ) -> BoxFuture<'a, Result<(), QueueError>> {
        let rids = rids.to_vec();
        Box::pin(self.write(0, move |c| op_release(c, mid, &rids, Some(next_attempt))))
    }

    fn set_delay_warned(&self, mid: MessageId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(self.write(0, move |c| {
            if let Some(mid) = sql_id(mid) {
                c.prepare_cached("UPDATE messages SET delay_warned = 1 WHERE mid = ?1")?
                    .execute(params![mid])?;
            }
            Ok(())
        }))
    }

    fn deliver_now<'a>(
        &'a self,
        domain: Option<&'a str>,
    ) -> BoxFuture<'a, Result<usize, QueueError>> {
        let domain = domain.map(str::to_owned);
        let now = SystemTime::now();
        Box::pin(self.write(0, move |c| op_deliver_now(c, domain.as_deref(), now)))
    }

    fn remove(&self, mid: MessageId) -> BoxFuture<'_, Result<bool, QueueError>> {
        Box::pin(self.write(0, move |c| match sql_id(mid) {
            Some(mid) => delete_message(c, mid),
            None => Ok(false),
        }))
    }

    fn stats(&self) -> BoxFuture<'_, Result<QueueStats, QueueError>> {
        Box::pin(self.read(op_stats))
    }

    fn list<'a>(
        &'a self,
        domain: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Recipient>, QueueError>> {
        let domain = domain.map(str::to_owned);
        Box::pin(async move {
            self.read(move |c| op_list(c, domain.as_deref(), limit))
                .await
                .map(|r| self.own(r))
        })
    }

    fn next_due_time(&self) -> BoxFuture<'_, Result<Option<SystemTime>, QueueError>> {
        Box::pin(self.read(op_next_due_time))
    }

    fn gc(&self) -> BoxFuture<'_, Result<usize, QueueError>> {
        Box::pin(self.write(0, op_gc))
    }
}
