//! kill -9 in the middle of enqueues: every MID the helper printed (it prints only after
//! `enqueue` returned, i.e. after the 250 would have been sent) must be in the queue after
//! a restart, with its envelope, body and all recipients queued and not in flight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use danegate_queue::{PgOptions, PgStore, RcptState, SqliteStore, Store};
use danegate_testkit::postgres::PgServer;
use rand::Rng;

/// The body the helper writes for sequence number `seq` (see `src/bin/queue-crash-helper.rs`).
fn expected_body(seq: u64) -> Vec<u8> {
    vec![b'a' + (seq % 26) as u8; 512 + (seq % 16) as usize * 512]
}

/// Runs the helper until it acknowledged `wanted` messages, kills it, returns `(mid, seq)`
/// of every acknowledged message.
fn run_and_kill(
    dir: &std::path::Path,
    pg: Option<&str>,
    writers: usize,
    wanted: usize,
    linger: Duration,
) -> Vec<(u64, u64)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-crash-helper"))
        .arg(dir)
        .arg(writers.to_string())
        .args(pg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn helper");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut acked = Vec::new();
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < wanted {
        line.clear();
        let n = out.read_line(&mut line).expect("read helper stdout");
        assert!(n > 0, "helper exited early after {} acks", acked.len());
        acked.push(parse(&line));
        assert!(Instant::now() < deadline, "helper too slow");
    }
    // Let it run on a little (a random moment, likely inside a commit), then kill -9.
    std::thread::sleep(linger);
    child.kill().expect("SIGKILL helper"); // SIGKILL on Unix
    child.wait().expect("reap helper");
    // Lines already in the pipe were acknowledged too; a cut last line is ignored.
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("drain helper stdout");
    for l in rest.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        acked.push(parse(l));
    }
    acked
}

fn parse(line: &str) -> (u64, u64) {
    let mut it = line
        .split_whitespace()
        .map(|w| w.parse::<u64>().expect("number"));
    (it.next().expect("mid"), it.next().expect("seq"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_sigkill() {
    survives_sigkill(None).await;
}

/// The same against the shared store: the helper is node `crash`; reopening as `crash`
/// frees its leases at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_sigkill_postgres() {
    let Some(server) = PgServer::shared() else {
        return;
    };
    let db = server.create_database();
    survives_sigkill(Some(&server.conn_string(&db))).await;
}

async fn open(dir: &std::path::Path, pg: Option<&str>) -> Arc<dyn Store> {
    match pg {
        None => {
            let s = SqliteStore::open(dir).expect("reopen after kill -9");
            assert!(s.integrity_check().await.unwrap().is_empty());
            Arc::new(s)
        }
        Some(conn) => Arc::new(
            PgStore::connect(PgOptions::new(conn.parse().unwrap(), "crash"))
                .await
                .expect("reopen after kill -9"),
        ),
    }
}

async fn survives_sigkill(pg: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut all_acked = Vec::new();
    let mut last_max = 0;
    for (round, writers) in [1, 8, 32, 100, 200, 16].into_iter().enumerate() {
        let wanted = rng.random_range(20..600);
        let linger = Duration::from_micros(rng.random_range(0..20_000));
        let acked = run_and_kill(dir.path(), pg, writers, wanted, linger);
        assert!(acked.len() >= wanted);

        let store = open(dir.path(), pg).await;
        for &(mid, _) in &acked {
            assert!(
                mid > last_max,
                "MIDs keep increasing across crashes ({mid} after {last_max})"
            );
        }
        all_acked.extend_from_slice(&acked);
        for &(mid, seq) in &all_acked {
            let env = store
                .envelope(mid)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged MID {mid} lost"));
            assert_eq!(env.sender, format!("s{seq}@example.org"));
            assert_eq!(env.icid, seq);
            assert_eq!(env.recipients.len(), 2);
            for r in &env.recipients {
                assert_eq!(r.state, RcptState::Queued);
                assert!(
                    !r.in_flight,
                    "round {round}: MID {mid} still in flight after recovery"
                );
            }
            let body = store.data(mid).await.unwrap().expect("body");
            assert_eq!(body, expected_body(seq), "MID {mid}");
        }
        // Every recipient stored (acknowledged or not) is due again, none is leased.
        let stats = store.stats().await.unwrap();
        assert_eq!(stats.total.in_flight, 0);
        assert!(stats.total.active >= 2 * all_acked.len() as u64);
        let due = store.due(SystemTime::now(), usize::MAX).await.unwrap();
        assert_eq!(due.len() as u64, stats.total.active);
        last_max = all_acked.iter().map(|a| a.0).max().unwrap_or(0);
        // Drop: the next helper needs the lock.
    }
}
