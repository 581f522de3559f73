//! The queue holds message bodies: its directories are 0700 and its files (database,
//! SQLite's -wal and -shm, lock, body segments) 0600 whatever the umask; files of an older version
//! that are readable by others are tightened at open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use danegate_queue::{NewMessage, NewRecipient, SqliteStore, Store};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn message() -> NewMessage {
    NewMessage {
        sender: "a@example.org".into(),
        recipients: vec![NewRecipient {
            address: "b@example.net".into(),
            domain: "example.net".into(),
            ..NewRecipient::default()
        }],
        data: b"Subject: private\r\n\r\nsecret body\r\n".to_vec(),
        received_from: "127.0.0.1".into(),
        icid: 1,
        policy: "RELAY".into(),
        ..NewMessage::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_directory_and_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("queue");
    let store = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || SqliteStore::open(&dir).unwrap()
    })
    .await
    .unwrap();
    store.enqueue(message()).await.unwrap();
    assert_eq!(mode(&dir), 0o700, "queue directory");
    assert_eq!(mode(&tmp.path().join("data")), 0o700, "created parent");
    for f in [
        "queue.sqlite",
        "queue.sqlite-wal",
        "queue.sqlite-shm",
        "queue.lock",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    // Bodies: segment files, 0600 in a 0700 directory.
    assert_eq!(mode(&dir.join("bodies")), 0o700, "bodies directory");
    let segs: Vec<_> = std::fs::read_dir(dir.join("bodies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(segs.len(), 1);
    for s in &segs {
        assert_eq!(mode(s), 0o600, "{}", s.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_left_readable_by_an_older_version_are_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("q");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("queue.sqlite"), b"").unwrap();
    std::fs::set_permissions(
        dir.join("queue.sqlite"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let store = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || SqliteStore::open(&dir).unwrap()
    })
    .await
    .unwrap();
    store.enqueue(message()).await.unwrap();
    assert_eq!(mode(&dir.join("queue.sqlite")), 0o600);
    assert_eq!(mode(&dir.join("queue.sqlite-wal")), 0o600);
    assert_eq!(mode(&dir), 0o750, "no access for others any more");
}
