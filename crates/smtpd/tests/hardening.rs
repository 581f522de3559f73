//! Hardening against hostile clients: slow clients (RFC 5321 §4.5.3.2 deadlines and
//! RELAY-reserved slots), quoted local parts, `<postmaster>` and dot-stuffed long
//! lines. Real SMTP conversations on 127.0.0.1; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::*;
use danegate_smtpd::{CloseReason, ConnectDecision, RefuseReason, ServerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `bytes` one octet per `gap` until the server answers; returns the answer
/// (empty at EOF), or None when it never answered within `max` octets.
async fn trickle(c: &mut Raw, bytes: &[u8], gap: Duration, max: usize) -> Option<String> {
    let mut buf = [0u8; 512];
    for b in bytes.iter().cycle().take(max) {
        if c.s.write_all(std::slice::from_ref(b)).await.is_err() {
            return Some(String::new());
        }
        match tokio::time::timeout(gap, c.s.read(&mut buf)).await {
            Ok(Ok(n)) => return Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Ok(Err(_)) => return Some(String::new()),
            Err(_) => {}
        }
    }
    None
}

#[tokio::test]
async fn a_command_trickled_in_one_octet_at_a_time_hits_the_command_timeout() {
    let mut p = params();
    p.idle_timeout = Duration::from_secs(10);
    p.command_timeout = Duration::from_millis(800);
    let srv = start(p).await;
    let mut c = Raw::greeted(srv.addr).await;
    // Never completes a line, but each octet comes well within the idle timeout.
    let got = trickle(&mut c, b"NOOP", Duration::from_millis(100), 200).await;
    let got = got.expect("the server never ended the trickling command");
    assert!(got.starts_with("421 4.4.2"), "{got:?}");
    assert!(c.closed().await);
    assert!(wait_closed(&srv.policy, CloseReason::CommandTimeout).await);
    srv.stop().await;
}

#[tokio::test]
async fn a_session_of_endless_noops_ends_at_the_session_timeout() {
    let mut p = params();
    p.session_timeout = Duration::from_millis(800);
    let srv = start(p).await;
    let mut c = Raw::ready(srv.addr).await;
    let mut ended = None;
    for _ in 0..200 {
        c.send(b"NOOP\r\n").await;
        let r = c.reply().await.unwrap_or_default();
        if !r.starts_with("250") {
            ended = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = ended.expect("the session never ended");
    assert!(r.starts_with("421 4.4.2"), "{r:?}");
    assert!(c.closed().await);
    assert!(wait_closed(&srv.policy, CloseReason::SessionTimeout).await);
    srv.stop().await;
}

#[tokio::test]
async fn message_content_trickled_in_hits_the_data_timeout() {
    let mut p = params();
    p.data_timeout = Duration::from_millis(800);
    let srv = start(p).await;
    let mut c = Raw::in_data(srv.addr).await;
    let got = trickle(&mut c, b"x\r\n", Duration::from_millis(100), 200).await;
    let got = got.expect("the server never ended the trickling message");
    assert!(got.starts_with("421 4.4.2"), "{got:?}");
    assert!(srv.policy.messages().is_empty());
    srv.stop().await;
}

fn accept_policy() -> ConnectDecision {
    ConnectDecision::Accept {
        policy: "ACCEPT".into(),
        sender_group: Some("PARTNERS".into()),
    }
}

#[tokio::test]
async fn slots_reserved_for_relay_stay_free_for_relay_servers() {
    let mut p = params();
    p.max_connections = 3;
    p.max_connections_per_client = 0;
    p.reserved_relay_connections = 1;
    let policy = TestPolicy::default();
    *policy.decision.lock().unwrap() = Some(accept_policy());
    let srv = start_with(p, policy).await;
    // Two non-RELAY clients hold every unreserved slot (they could trickle forever).
    let mut a = Raw::greeted(srv.addr).await;
    let mut b = Raw::greeted(srv.addr).await;
    // A third non-RELAY client is turned away…
    let mut c = Raw::connect(srv.addr).await;
    c.expect("421 4.7.0").await;
    assert!(c.closed().await);
    // …and so is a rejected one (REJECT sessions also hold a slot until QUIT).
    *srv.policy.decision.lock().unwrap() = Some(ConnectDecision::Reject);
    let mut r = Raw::connect(srv.addr).await;
    r.expect("421 4.7.0").await;
    assert!(r.closed().await);
    // A RELAY server still gets the reserved slot.
    *srv.policy.decision.lock().unwrap() = Some(ConnectDecision::Accept {
        policy: "RELAY".into(),
        sender_group: Some("RELAYLIST".into()),
    });
    let mut relay = Raw::greeted(srv.addr).await;
    relay.cmd("EHLO mta.example.test", "250").await;
    relay.cmd("QUIT", "221").await;
    assert!(srv.policy.events().iter().any(|e| matches!(
        e,
        ServerEvent::Refused {
            reason: RefuseReason::ReservedForRelay,
            ..
        }
    )));
    a.cmd("QUIT", "221").await;
    b.cmd("QUIT", "221").await;
    srv.stop().await;
}

#[tokio::test]
async fn quoted_local_parts_are_refused_with_553_and_the_other_recipients_stay() {
    let srv = start(params()).await;
    let mut c = Raw::ready(srv.addr).await;
    c.cmd("MAIL FROM:<\"odd sender\"@example.org>", "553 5.1.7")
        .await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd(
        "RCPT TO:<\"user@external.example\"@allowed.example>",
        "553 5.1.3",
    )
    .await;
    c.cmd("RCPT TO:<\"a b\"@example.net>", "553 5.1.3").await;
    c.cmd("RCPT TO:<\"a>b\"@example.net>", "553 5.1.3").await;
    c.cmd("RCPT TO:<@relay.example:\"x\"@example.net>", "553 5.1.3")
        .await;
    c.cmd("RCPT TO:<good@example.net>", "250").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: q\r\n\r\nHello.\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    c.cmd("QUIT", "221").await;
    let m = srv.policy.messages();
    assert_eq!(m.len(), 1);
    let to: Vec<&str> = m[0].1.rcpt_to.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(to, vec!["good@example.net"]);
    srv.stop().await;
}

#[tokio::test]
async fn a_998_octet_line_starting_with_a_stuffed_dot_is_accepted() {
    let srv = start(params()).await;
    let mut c = Raw::in_data(srv.addr).await;
    let mut line = b".".to_vec();
    line.extend(std::iter::repeat_n(b'y', 997));
    let mut wire = b"Subject: dots\r\n\r\n.".to_vec();
    wire.extend_from_slice(&line);
    wire.extend_from_slice(b"\r\n.\r\n");
    c.send(&wire).await;
    c.expect("250 2.0.0").await;
    let m = srv.policy.messages();
    let body = without_received(&m[0].2);
    let mut want = b"Subject: dots\r\n\r\n".to_vec();
    want.extend_from_slice(&line);
    want.extend_from_slice(b"\r\n");
    assert_eq!(body, want);
    srv.stop().await;
}
