//! Quoted local parts (RFC 5321 §4.1.2) go out exactly as given, and a recipient the
//! client cannot send fails on its own instead of holding the others. A recording
//! SMTP server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danegate_smtp::{RecipientStatus, SmtpClient, Timeouts};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const MSG: &[u8] = b"From: a@example.org\r\nSubject: q\r\n\r\nHello.\r\n";

/// A server without PIPELINING that accepts everything and records each command line.
async fn recording_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let rec = log.clone();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 rec.test ESMTP\r\n").await.unwrap();
        let mut in_data = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    w.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                }
                continue;
            }
            rec.lock().unwrap().push(line.trim_end().to_string());
            let upper = line.to_ascii_uppercase();
            let answer: &[u8] = if upper.starts_with("EHLO") {
                b"250-rec.test\r\n250 ENHANCEDSTATUSCODES\r\n"
            } else if upper.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 2.0.0 bye\r\n").await.unwrap();
                return;
            } else {
                b"250 2.0.0 ok\r\n"
            };
            w.write_all(answer).await.unwrap();
        }
    });
    (addr, log)
}

#[tokio::test]
async fn quoted_local_parts_are_sent_as_given_and_a_bad_one_fails_alone() {
    let (addr, log) = recording_server().await;
    let mut c = SmtpClient::connect(addr, None, Timeouts::uniform(Duration::from_secs(10)))
        .await
        .unwrap();
    c.ehlo("client.test").await.unwrap();
    let rcpts = [
        "\"user@external.example\"@allowed.example",
        "\"john smith\"@example.net",
        "\"a>b\"@example.net",
        "\"unterminated@example.net",
        "plain@example.net",
    ];
    let d = c.send("a@example.org", &rcpts, MSG).await.unwrap();
    let st: Vec<_> = d.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        st,
        vec![
            RecipientStatus::Delivered,
            RecipientStatus::Delivered,
            RecipientStatus::Delivered,
            RecipientStatus::Permanent,
            RecipientStatus::Delivered,
        ],
        "{d:?}"
    );
    assert_eq!(d.recipients[3].reply.code, 553);
    assert!(d.recipients[3].rcpt_reply.is_none());
    // Only bad recipients: each fails on its own, nothing is sent, no error.
    let d = c
        .send(
            "a@example.org",
            &["\"x\"y@example.net", "a b@example.net"],
            MSG,
        )
        .await
        .unwrap();
    assert!(
        d.recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Permanent && r.reply.code == 553),
        "{d:?}"
    );
    c.quit().await.unwrap();
    let lines = log.lock().unwrap().clone();
    let rcpt_lines: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("RCPT"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        rcpt_lines,
        vec![
            "RCPT TO:<\"user@external.example\"@allowed.example>",
            "RCPT TO:<\"john smith\"@example.net>",
            "RCPT TO:<\"a>b\"@example.net>",
            "RCPT TO:<plain@example.net>",
        ]
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("MAIL")).count(), 1);
}
