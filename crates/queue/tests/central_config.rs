//! The central configuration store (`config_versions`) on a real PostgreSQL: versions
//! are numbered in order, a change must be based on the current version (a concurrent
//! one is refused with the winner), the same text stores nothing, and each new version
//! is announced on `danegate_config`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::time::Duration;

use danegate_queue::postgres::central::{self, CentralDb, Published};
use danegate_testkit::postgres::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_optimistic_and_announced() {
    let Some(server) = PgServer::shared() else {
        return;
    };
    let db = server.create_database();
    let central_db = CentralDb::new(server.conn_string(&db).parse().unwrap(), None);

    let (mut client, _) = central_db.session(false).await.unwrap();
    // Before any node migrated the database: no version, no error.
    assert_eq!(central::current(&client).await.unwrap(), None);
    assert!(central::history(&client, 10).await.unwrap().is_empty());
    central::migrate(&mut client).await.unwrap();
    let (_listener, mut notes) = central_db.session(true).await.unwrap();

    // Seeding: only when there is no version yet.
    let v1 = "[dns]\ntimeout_secs = 3\n";
    assert_eq!(
        central::publish(&mut client, None, v1, "gw1")
            .await
            .unwrap(),
        Published::Made(1)
    );
    tokio::time::timeout(Duration::from_secs(5), notes.recv())
        .await
        .expect("NOTIFY danegate_config")
        .unwrap();
    let Published::Conflict(cur) =
        central::publish(&mut client, None, "[dns]\ntimeout_secs = 4\n", "gw2")
            .await
            .unwrap()
    else {
        panic!("a second seed must be refused")
    };
    assert_eq!((cur.version, cur.node.as_str()), (1, "gw1"));
    assert_eq!(cur.shared, v1);
    assert_eq!(cur.sha256.len(), 64);

    // The same text as the current version stores nothing, whatever it was based on.
    assert!(matches!(
        central::publish(&mut client, None, v1, "gw2").await.unwrap(),
        Published::Unchanged(ref c) if c.version == 1
    ));

    // Two nodes based on version 1: the first wins, the second is refused.
    let v2 = "[dns]\ntimeout_secs = 5\n";
    assert_eq!(
        central::publish(&mut client, Some(1), v2, "gw1")
            .await
            .unwrap(),
        Published::Made(2)
    );
    let Published::Conflict(cur) =
        central::publish(&mut client, Some(1), "[dns]\ntimeout_secs = 6\n", "gw2")
            .await
            .unwrap()
    else {
        panic!("an edit based on an old version must be refused")
    };
    assert_eq!(cur.version, 2);

    let current = central::current(&client).await.unwrap().unwrap();
    assert_eq!((current.version, current.based_on), (2, Some(1)));
    assert_eq!(current.shared, v2);
    let hist = central::history(&client, 10).await.unwrap();
    let versions: Vec<i64> = hist.iter().map(|v| v.version).collect();
    assert_eq!(versions, vec![2, 1]);
    assert_eq!(hist[1].based_on, None);

    // An unreachable database is an error, not a hang.
    let dir = tempfile::tempdir().unwrap();
    let nowhere = CentralDb::new(
        format!(
            "host={} port=5432 user=postgres dbname=x",
            dir.path().display()
        )
        .parse()
        .unwrap(),
        None,
    );
    let e = nowhere.session(false).await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
}
