//! Log injection and file permissions: a peer's control characters never reach a log
//! line raw, and log files are private whatever the umask.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;

use danegate_logs::{LogsLayer, Subscription, escape_controls, escape_for_terminal};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn control_characters_are_escaped() {
    assert_eq!(escape_controls("plain text"), "plain text");
    assert_eq!(
        escape_controls("a\u{1b}[31mb\r\nc\0\u{7f}"),
        "a\\x1b[31mb\\x0d\\x0ac\\x00\\x7f"
    );
    assert_eq!(
        escape_controls("x\u{9b}2J\u{202e}y"),
        "x\\u{009b}2J\\u{202e}y"
    );
    assert_eq!(
        escape_for_terminal("one\tcol\nt\u{1b}]0;title\u{7}\n"),
        "one\tcol\nt\\x1b]0;title\\x07\n"
    );
}

fn write_event(file: &Path, message: &str) {
    let mut sub = Subscription::new("mail_logs", file, Level::INFO);
    sub.max_files = 3;
    let (layer, handle) = LogsLayer::new(&[sub]).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "danegate::mail", "{message}");
    });
    handle.rotate_now(Some("mail_logs")).unwrap();
}

#[test]
fn an_escape_in_a_subject_is_written_escaped_on_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("logs").join("mail_logs");
    write_event(
        &file,
        "MID 7 Subject '\u{1b}[2J\u{1b}[1;1Hhi'\nTue Feb  5 13:20:03 2019 Info: forged",
    );
    let text = std::fs::read_to_string(tmp.path().join("logs").join("mail_logs.1")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        text.contains("Subject '\\x1b[2J\\x1b[1;1Hhi'\\x0aTue Feb  5"),
        "{text:?}"
    );
}

#[cfg(unix)]
#[test]
fn log_directory_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("logs");
    let file = dir.join("mail_logs");
    write_event(&file, "MID 1 ready");
    assert_eq!(mode(&tmp.path().join("data")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&file), 0o600, "current file");
    assert_eq!(mode(&dir.join("mail_logs.1")), 0o600, "rotated file");

    // A file created earlier under umask 022 is tightened when opened (group read
    // may stay: 0640), then rotated to old_logs.1.
    let old = tmp.path().join("old_logs");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_event(&old, "MID 2 ready");
    assert_eq!(mode(&tmp.path().join("old_logs.1")), 0o640);
    assert_eq!(mode(&old), 0o600);
}
