//! The shared store with several nodes on one PostgreSQL database: leases are exclusive,
//! a dead node's leases expire and another node takes them, a live node keeps its leases,
//! LISTEN/NOTIFY wakes the other nodes, and the schema migrations are recorded once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use danegate_queue::{NewMessage, NewRecipient, PgOptions, PgStore, QueueError, Store};
use danegate_testkit::postgres::PgServer;

fn msg(n: usize) -> NewMessage {
    NewMessage {
        sender: "a@example.org".into(),
        recipients: (0..n)
            .map(|i| NewRecipient {
                address: format!("r{i}@example.com"),
                domain: "example.com".into(),
                dsn_notify: None,
                dsn_orcpt: None,
            })
            .collect(),
        data: b"Subject: t\r\n\r\nbody\r\n".to_vec(),
        received_from: "192.0.2.1".into(),
        icid: 1,
        policy: "RELAY".into(),
        dsn_ret: None,
        dsn_envid: None,
    }
}

struct Db {
    conn: String,
}

impl Db {
    fn new() -> Option<Db> {
        let server = PgServer::shared()?;
        let db = server.create_database();
        Some(Db {
            conn: server.conn_string(&db),
        })
    }

    async fn node(&self, name: &str, lease: Duration) -> PgStore {
        let mut o = PgOptions::new(self.conn.parse().unwrap(), name);
        o.lease = lease;
        o.pool_size = 4;
        PgStore::connect(o).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_exclusive_across_nodes() {
    let Some(db) = Db::new() else { return };
    let a = db.node("a", Duration::from_secs(60)).await;
    let b = db.node("b", Duration::from_secs(60)).await;
    for _ in 0..50 {
        a.enqueue(msg(4)).await.unwrap();
    }
    // Both nodes lease concurrently: every recipient goes to exactly one of them.
    let (x, y) = tokio::join!(
        async {
            let mut got = Vec::new();
            loop {
                let batch = a.due(SystemTime::now(), 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|r| (r.mid, r.rid)));
            }
        },
        async {
            let mut got = Vec::new();
            loop {
                let batch = b.due(SystemTime::now(), 5).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|r| (r.mid, r.rid)));
            }
        }
    );
    let all: HashSet<_> = x.iter().chain(&y).copied().collect();
    assert_eq!(all.len(), 200, "every recipient leased");
    assert_eq!(x.len() + y.len(), 200, "none leased twice");
    let stats = b.stats().await.unwrap();
    assert_eq!(stats.total.in_flight, 200);
    assert_eq!(stats.messages, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_leases_expire_and_another_node_takes_them() {
    let Some(db) = Db::new() else { return };
    let lease = Duration::from_secs(3);
    let a = db.node("a", lease).await;
    let b = db.node("b", lease).await;
    let mid = a.enqueue(msg(2)).await.unwrap();
    assert_eq!(a.due(SystemTime::now(), 10).await.unwrap().len(), 2);
    assert!(b.due(SystemTime::now(), 10).await.unwrap().is_empty());

    // A live node renews its leases: well past the lease time, b still gets nothing.
    tokio::time::sleep(lease * 2).await;
    assert!(
        b.due(SystemTime::now(), 10).await.unwrap().is_empty(),
        "a renews the leases it holds"
    );
    let holders = b.holders(&[mid]).await.unwrap();
    assert_eq!(holders[&(mid, 0)].1.as_deref(), Some("a"));

    // a dies (no more renewals, its connections gone): after the lease time b takes over.
    drop(a);
    let start = Instant::now();
    let taken = loop {
        let got = b.due(SystemTime::now(), 10).await.unwrap();
        if !got.is_empty() {
            break got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|r| r.mid == mid && r.in_flight));
    let holders = b.holders(&[mid]).await.unwrap();
    assert_eq!(holders[&(mid, 0)], ("a".to_string(), Some("b".to_string())));
    b.delivered(mid, &[0, 1], "250").await.unwrap();
    assert_eq!(b.stats().await.unwrap().total.delivered, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_frees_its_own_leases_only() {
    let Some(db) = Db::new() else { return };
    let a = db.node("a", Duration::from_secs(600)).await;
    let b = db.node("b", Duration::from_secs(600)).await;
    a.enqueue(msg(1)).await.unwrap();
    b.enqueue(msg(1)).await.unwrap();
    assert_eq!(a.due(SystemTime::now(), 1).await.unwrap().len(), 1);
    assert_eq!(b.due(SystemTime::now(), 1).await.unwrap().len(), 1);
    drop(a);
    let a = db.node("a", Duration::from_secs(600)).await;
    let again = a.due(SystemTime::now(), 10).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "a's own lease is freed at its restart, b's is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_wakes_the_other_nodes() {
    let Some(db) = Db::new() else { return };
    let a = db.node("a", Duration::from_secs(60)).await;
    let b = db.node("b", Duration::from_secs(60)).await;
    let wake = b.wakeups();
    let notified = wake.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    a.enqueue(msg(1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), notified)
        .await
        .expect("b woken by a's NOTIFY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_recorded_once_and_a_newer_schema_is_refused() {
    let Some(db) = Db::new() else { return };
    let (a, b) = tokio::join!(
        db.node("a", Duration::from_secs(60)),
        db.node("b", Duration::from_secs(60))
    );
    let (client, conn) = tokio_postgres::connect(&db.conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM danegate_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = danegate_queue::postgres::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, expected);
    let nodes: Vec<String> = a.nodes().await.unwrap().into_iter().map(|n| n.0).collect();
    assert_eq!(nodes, vec!["a".to_string(), "b".to_string()]);

    // A database migrated by a newer build is refused, with the versions named.
    client
        .execute(
            "INSERT INTO danegate_migrations (version, name) VALUES (999, 'future')",
            &[],
        )
        .await
        .unwrap();
    let mut o = PgOptions::new(db.conn.parse().unwrap(), "c");
    o.pool_size = 2;
    let err = PgStore::connect(o).await.unwrap_err();
    assert!(
        matches!(&err, QueueError::Corrupt(m) if m.contains("version 999")),
        "{err}"
    );
    drop(b);
}

#[tokio::test]
async fn an_unreachable_database_is_a_temporary_error() {
    let dir = tempfile::tempdir().unwrap();
    let conn = format!(
        "host={} port=5432 user=postgres dbname=x",
        dir.path().display()
    );
    let mut o = PgOptions::new(conn.parse().unwrap(), "a");
    o.connect_timeout = Duration::from_secs(2);
    let err = PgStore::connect(o).await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable(_)), "{err}");
    assert!(err.is_temporary());
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_lists_the_node_holding_each_recipient() {
    let Some(db) = Db::new() else { return };
    let lease = Duration::from_secs(2);
    let a = db.node("a", lease).await;
    let b = db.node("b", lease).await;
    let mid = a.enqueue(msg(2)).await.unwrap();
    for store in [&a, &b] {
        let env = store.envelope(mid).await.unwrap().unwrap();
        assert_eq!(env.node, "a", "the accepting node");
        assert!(env.recipients.iter().all(|r| r.node == "a"));
    }

    // b delivers RID 0: every node shows b holding it, a holding RID 1.
    let taken = b.due(SystemTime::now(), 1).await.unwrap();
    assert_eq!((taken[0].rid, taken[0].node.as_str()), (0, "b"));
    for store in [&a, &b] {
        let listed = store.list(None, 10).await.unwrap();
        let held: Vec<(u64, bool, &str)> = listed
            .iter()
            .map(|r| (r.rid, r.in_flight, r.node.as_str()))
            .collect();
        assert_eq!(held, [(0, true, "b"), (1, false, "a")]);
        let env = store.envelope(mid).await.unwrap().unwrap();
        assert_eq!(env.recipients[0].node, "b");
        assert_eq!(env.recipients[1].node, "a");
    }
    b.release(mid, &[0]).await.unwrap();
    assert!(
        a.list(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.node == "a")
    );

    // A lease that expired (its node died) no longer names that node.
    assert_eq!(b.due(SystemTime::now(), 1).await.unwrap().len(), 1);
    assert_eq!(a.list(None, 1).await.unwrap()[0].node, "b");
    drop(b);
    let start = Instant::now();
    while a.list(None, 1).await.unwrap()[0].node != "a" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the dead node's lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!a.list(None, 1).await.unwrap()[0].in_flight);
}
