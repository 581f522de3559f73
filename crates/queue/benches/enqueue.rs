//! Enqueue throughput of the embedded store (not a test): `cargo bench -p danegate-queue
//! --bench enqueue`. Prints enqueues/s with 1, 10 and 100 concurrent writers and 4 KiB
//! messages, the effect of body size, and the delivery side (due + delivered).
//!
//! The database goes to a temporary directory under `$QUEUE_BENCH_DIR` (default: the
//! system temporary directory): put it on the disk you want to measure, not on a tmpfs.
//! `QUEUE_BENCH_SECS` sets the duration of each run (default 3).
//! `QUEUE_BENCH_PG=CONNECTION` (a `host=... dbname=...` string or URL of an empty
//! database) measures the shared PostgreSQL store instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use danegate_queue::{
    NewMessage, NewRecipient, PgOptions, PgStore, SqliteStore, Store, WriterStats,
};

fn message(i: u64, size: usize) -> NewMessage {
    NewMessage {
        sender: format!("sender{i}@example.org"),
        recipients: vec![NewRecipient {
            address: format!("rcpt{i}@d{}.example", i % 50),
            domain: format!("d{}.example", i % 50),
            dsn_notify: None,
            dsn_orcpt: None,
        }],
        data: vec![b'x'; size],
        received_from: "192.0.2.1".into(),
        icid: i,
        policy: "RELAY".into(),
        dsn_ret: None,
        dsn_envid: None,
    }
}

struct Run {
    per_sec: f64,
    ops_per_commit: f64,
    p50: Duration,
    p99: Duration,
}

/// Either store, with its writer statistics.
#[derive(Clone)]
enum Bench {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

impl Bench {
    fn writer_stats(&self) -> WriterStats {
        match self {
            Bench::Sqlite(s) => s.writer_stats(),
            Bench::Pg(s) => s.writer_stats(),
        }
    }
}

impl std::ops::Deref for Bench {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        match self {
            Bench::Sqlite(s) => s,
            Bench::Pg(s) => s,
        }
    }
}

async fn enqueue_run(
    store: &Arc<Bench>,
    writers: usize,
    size: usize,
    secs: f64,
) -> Result<Run, Box<dyn std::error::Error>> {
    let before = store.writer_stats();
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let store = Arc::clone(store);
        let seq = Arc::clone(&seq);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let m = message(seq.fetch_add(1, Ordering::Relaxed), size);
                let t = Instant::now();
                store.enqueue(m).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, danegate_queue::QueueError>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = store.writer_stats();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Run {
        per_sec: lat.len() as f64 / elapsed,
        ops_per_commit: (after.ops - before.ops) as f64
            / (after.commits - before.commits).max(1) as f64,
        p50: pct(0.5),
        p99: pct(0.99),
    })
}

/// Leases due recipients and marks them delivered from `workers` tasks until the queue is
/// empty; returns recipients per second.
async fn drain(
    store: &Arc<Bench>,
    workers: usize,
) -> Result<(f64, u64), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let store = Arc::clone(store);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = store.due(SystemTime::now(), 20).await?;
                if batch.is_empty() {
                    return Ok::<_, danegate_queue::QueueError>(());
                }
                for r in batch {
                    store.delivered(r.mid, &[r.rid], "250 2.0.0 Ok").await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let n = done.load(Ordering::Relaxed);
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var_os("QUEUE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let secs: f64 = std::env::var("QUEUE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let pg = std::env::var("QUEUE_BENCH_PG").ok();
    match &pg {
        None => println!(
            "queue enqueue benchmark in {} ({secs} s per run, SQLite WAL, synchronous=FULL)",
            base.display()
        ),
        Some(_) => println!("queue enqueue benchmark on PostgreSQL ({secs} s per run)"),
    }
    println!(
        "{:>8} {:>8} {:>12} {:>12} {:>10} {:>10}",
        "writers", "body", "enqueues/s", "ops/commit", "p50", "p99"
    );
    let cases: &[(usize, usize)] = &[(1, 4096), (10, 4096), (100, 4096), (100, 0), (100, 65536)];
    for &(writers, size) in cases {
        let dir = tempfile::tempdir_in(&base)?;
        let store = Arc::new(match &pg {
            None => Bench::Sqlite(SqliteStore::open(dir.path())?),
            Some(conn) => {
                Bench::Pg(PgStore::connect(PgOptions::new(conn.parse()?, "bench")).await?)
            }
        });
        let r = enqueue_run(&store, writers, size, secs).await?;
        println!(
            "{writers:>8} {size:>8} {:>12.0} {:>12.1} {:>10.2?} {:>10.2?}",
            r.per_sec, r.ops_per_commit, r.p50, r.p99
        );
        if writers == 100 && size == 4096 {
            let (rate, n) = drain(&store, 50).await?;
            println!("         drain: {n} recipients due+delivered by 50 workers: {rate:.0}/s");
            println!("         gc: {} messages removed", store.gc().await?);
        }
    }
    Ok(())
}
