//! `danegate tail` never sends a log file's control characters to the terminal raw
//! (a line written by an older version, or a file edited by hand, may have them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::process::Command;

#[test]
fn tail_escapes_control_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mail_logs");
    std::fs::write(
        &file,
        "Tue Feb  5 13:20:03 2019 Info: MID 1 Subject '\u{1b}[2J\u{1b}]0;owned\u{7}'\r\n\
         Tue Feb  5 13:20:04 2019 Info: MID 1 ready\tok\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(["tail", "mail_logs", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("Subject '\\x1b[2J\\x1b]0;owned\\x07'"),
        "{text:?}"
    );
    assert!(text.contains("ready\tok\n"), "{text:?}");
}
