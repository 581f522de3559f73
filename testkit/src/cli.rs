//! Driving the `danegate` binary as a user does, for end-to-end tests: a command with its
//! standard input given, and one message submitted over plain SMTP.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs `cmd` with `stdin` as its standard input and collects its output.
///
/// # Panics
/// If the program cannot be started.
pub fn output_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        // A program that exits without reading its input closes the pipe: not an error.
        let _ = input.write_all(stdin.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// [`output_with_stdin`] as (exit code, stdout, stderr).
pub fn run(cmd: Command, stdin: &str) -> (Option<i32>, String, String) {
    let out = output_with_stdin(cmd, stdin);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Submits one message from `alice@client.test` to `rcpt` over plain SMTP on
/// 127.0.0.1:`port`, asserting each reply (220, 250, 250, 250, 354, 250).
///
/// # Panics
/// On a connection error or an unexpected reply.
pub fn submit_plain(port: u16, rcpt: &str, subject: &str) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the listener");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut rd = BufReader::new(s.try_clone().expect("clone the socket"));
    let mut w = s;
    let reply = |rd: &mut BufReader<TcpStream>| -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            rd.read_line(&mut l).expect("read a reply");
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    let greeting = reply(&mut rd);
    assert!(greeting.starts_with("220"), "greeting: {greeting}");
    for (cmd, want) in [
        ("EHLO internal.test\r\n".to_string(), "250"),
        ("MAIL FROM:<alice@client.test>\r\n".to_string(), "250"),
        (format!("RCPT TO:<{rcpt}>\r\n"), "250"),
        ("DATA\r\n".to_string(), "354"),
        (
            format!(
                "From: <alice@client.test>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n\r\nHello.\r\n.\r\n"
            ),
            "250",
        ),
    ] {
        w.write_all(cmd.as_bytes()).expect("write a command");
        let r = reply(&mut rd);
        assert!(r.starts_with(want), "{cmd:?}: {r}");
    }
    let _ = w.write_all(b"QUIT\r\n");
}
