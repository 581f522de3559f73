//! Test helper for the kill -9 test (`tests/crash.rs`): opens the queue in `DIR`, enqueues
//! messages from `WRITERS` concurrent tasks forever and prints `MID SEQ` on stdout for each,
//! only after `enqueue` returned (i.e. after the message was acknowledged as durable).
//! A further task keeps leasing due recipients and never releases them, so that the crash
//! leaves recipients in flight.
//!
//! With `COMMIT_DELAY_MS` (SQLite only), the writer waits that long between syncing a
//! batch's bodies and committing its rows, so that a kill lands there (between body write
//! and row commit). With a connection string, the shared PostgreSQL store (node `crash`)
//! instead of SQLite in `DIR`.
//!
//! Usage: `queue-crash-helper DIR WRITERS [COMMIT_DELAY_MS [POSTGRES-CONNECTION]]`

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use danegate_queue::{NewMessage, NewRecipient, PgOptions, PgStore, SqliteStore, Store};

/// The message the crash test expects for sequence number `seq`.
fn message(seq: u64) -> NewMessage {
    let len = 512 + (seq % 16) as usize * 512;
    let byte = b'a' + (seq % 26) as u8;
    NewMessage {
        sender: format!("s{seq}@example.org"),
        recipients: (0..2)
            .map(|i| NewRecipient {
                address: format!("r{i}@d{}.example", seq % 3),
                domain: format!("d{}.example", seq % 3),
                dsn_notify: None,
                dsn_orcpt: None,
            })
            .collect(),
        data: vec![byte; len],
        received_from: "192.0.2.1".into(),
        icid: seq,
        policy: "RELAY".into(),
        dsn_ret: None,
        dsn_envid: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: queue-crash-helper DIR WRITERS")?);
    let writers: usize = args.next().unwrap_or_else(|| "8".into()).parse()?;
    let delay_ms: u64 = args.next().unwrap_or_else(|| "0".into()).parse()?;
    let pg = args.next();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store: Arc<dyn Store> = match pg {
            None => {
                let s = SqliteStore::open(&dir)?;
                s.set_commit_delay(std::time::Duration::from_millis(delay_ms));
                Arc::new(s)
            }
            Some(conn) => {
                let opts = PgOptions::new(conn.parse()?, "crash");
                Arc::new(PgStore::connect(opts).await?)
            }
        };
        let seq = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let store = Arc::clone(&store);
            let seq = Arc::clone(&seq);
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let mid = store.enqueue(message(n)).await?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{mid} {n}")?;
                    out.flush()?;
                }
                #[allow(unreachable_code)]
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            }));
        }
        let leaser = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            loop {
                leaser.due(SystemTime::now(), 50).await?;
                tokio::task::yield_now().await;
            }
            #[allow(unreachable_code)]
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
        for t in tasks {
            t.await??;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
    .map_err(|e| e as Box<dyn std::error::Error>)
}
