//! kill -9 in the middle of enqueues: every MID the helper printed (it prints only after
//! `enqueue` returned, i.e. after the 250 would have been sent) must be in the queue after
//! a restart, with its envelope, body and all recipients queued and not in flight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};
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
    run_and_kill_with_delay(dir, pg, writers, wanted, linger, 0)
}

/// [`run_and_kill`] with the helper's writer pausing `delay_ms` between the body sync and
/// the row commit of every batch.
fn run_and_kill_with_delay(
    dir: &std::path::Path,
    pg: Option<&str>,
    writers: usize,
    wanted: usize,
    linger: Duration,
    delay_ms: u64,
) -> Vec<(u64, u64)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-crash-helper"))
        .arg(dir)
        .arg(writers.to_string())
        .arg(delay_ms.to_string())
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

/// Segment files in `DIR/bodies` with their sizes.
fn segments(dir: &std::path::Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir.join("bodies"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("seg-"))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().len(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The segments the database refers to (read with SQLite directly, store closed).
fn referenced_segments(dir: &std::path::Path) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open(dir.join("queue.sqlite")).unwrap();
    let mut stmt = conn.prepare("SELECT DISTINCT seg FROM body_refs").unwrap();
    stmt.query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|s| format!("seg-{:016x}", s.unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_between_body_write_and_commit_leaves_no_message_and_no_orphan() {
    let dir = tempfile::tempdir().unwrap();
    // The first batch's body is written and synced, then the writer waits 10 s before
    // committing its row: kill -9 it there.
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-crash-helper"))
        .arg(dir.path())
        .arg("1")
        .arg("10000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn helper");
    let deadline = Instant::now() + Duration::from_secs(60);
    while segments(dir.path()).values().all(|&len| len == 0) {
        assert!(Instant::now() < deadline, "no body written");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "", "nothing was acknowledged");
    let before = segments(dir.path());
    assert_eq!(before.len(), 1, "the body is on disk: {before:?}");

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.stats().await.unwrap().messages, 0, "no message row");
    assert!(store.due(SystemTime::now(), 100).await.unwrap().is_empty());
    assert!(store.data(1).await.unwrap().is_none());
    assert_eq!(
        store.body_segments().unwrap(),
        0,
        "the orphan is removed at open"
    );
    drop(store);
    assert!(segments(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_while_batches_wait_between_body_sync_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut all_acked = Vec::new();
    for writers in [1, 16, 64] {
        let wanted = rng.random_range(5..60);
        let linger = Duration::from_millis(rng.random_range(0..60));
        // Each batch waits 30 ms between its body sync and its commit: most kills land
        // there.
        let acked = run_and_kill_with_delay(dir.path(), None, writers, wanted, linger, 30);
        all_acked.extend_from_slice(&acked);
        let on_disk = segments(dir.path());
        let store = SqliteStore::open(dir.path()).expect("reopen after kill -9");
        assert!(store.integrity_check().await.unwrap().is_empty());
        // Every acknowledged message is there with its body.
        for &(mid, seq) in &all_acked {
            let env = store
                .envelope(mid)
                .await
                .unwrap()
                .expect("acknowledged MID");
            assert_eq!(env.icid, seq);
            assert_eq!(store.data(mid).await.unwrap().unwrap(), expected_body(seq));
        }
        // Whatever is queued (acknowledged or committed just before the kill) has its
        // own, complete body: an unreferenced body is never handed out.
        let due = store.due(SystemTime::now(), usize::MAX).await.unwrap();
        for r in &due {
            let env = store.envelope(r.mid).await.unwrap().unwrap();
            assert_eq!(
                store.data(r.mid).await.unwrap().unwrap(),
                expected_body(env.icid)
            );
        }
        for r in &due {
            store.release(r.mid, &[r.rid]).await.unwrap();
        }
        drop(store);
        // Only referenced segments are left (the crash left at least one body that no
        // row refers to in most rounds).
        let left: BTreeSet<String> = segments(dir.path()).into_keys().collect();
        let referenced = referenced_segments(dir.path());
        assert!(
            on_disk.len() >= left.len(),
            "no segment appears: {on_disk:?} -> {left:?}"
        );
        assert_eq!(
            left.difference(&referenced).count(),
            0,
            "{left:?} vs {referenced:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_removed_after_its_last_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let msg = |n: u8| danegate_queue::NewMessage {
        sender: "s@example.org".into(),
        recipients: (0..2)
            .map(|i| danegate_queue::NewRecipient {
                address: format!("r{i}@example.net"),
                domain: "example.net".into(),
                ..Default::default()
            })
            .collect(),
        data: vec![n; 4096],
        ..Default::default()
    };
    let a = store.enqueue(msg(1)).await.unwrap();
    let b = store.enqueue(msg(2)).await.unwrap();
    store.delivered(a, &[0], "250").await.unwrap();
    assert_eq!(store.data(a).await.unwrap().unwrap(), vec![1; 4096]);
    store.bounced(a, &[1], "550").await.unwrap();
    assert!(
        store.data(a).await.unwrap().is_none(),
        "dropped with the last recipient"
    );
    assert_eq!(store.data(b).await.unwrap().unwrap(), vec![2; 4096]);
    assert!(store.remove(b).await.unwrap());
    drop(store);
    // Both bodies are finished: the segment (no longer current after a restart) goes.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.body_segments().unwrap(), 0);
}
