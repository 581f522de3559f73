//! Raw-TCP tests of the ESMTP listener on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::*;
use danegate_smtpd::{CloseReason, ConnectDecision, RefuseReason, ServerEvent};

async fn send_simple(c: &mut Raw, from: &str, to: &str, body: &[u8]) -> String {
    c.cmd(&format!("MAIL FROM:<{from}>"), "250 2.1.0").await;
    c.cmd(&format!("RCPT TO:<{to}>"), "250 2.1.5").await;
    c.cmd("DATA", "354").await;
    c.send(body).await;
    c.send(b"\r\n.\r\n").await;
    c.reply().await.unwrap_or_default()
}

#[tokio::test]
async fn full_session_with_dsn_parameters_and_received_header() {
    let srv = start(params()).await;
    let mut c = Raw::connect(srv.addr).await;
    let greeting = c.expect("220 mx.danegate.test").await;
    assert!(greeting.contains("ESMTP"));
    let ehlo = c
        .cmd("EHLO client.example.test", "250-mx.danegate.test")
        .await;
    for cap in [
        "PIPELINING",
        "SIZE 100000",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "DSN",
    ] {
        assert!(
            ehlo.lines().any(|l| l[4..] == *cap),
            "{cap} missing: {ehlo}"
        );
    }
    assert!(!ehlo.contains("STARTTLS"), "no TLS configured: {ehlo}");
    c.cmd("NOOP", "250 2.0.0").await;
    c.cmd("VRFY someone", "252 2.0.0").await;
    c.cmd("HELP", "214 2.0.0").await;
    c.cmd(
        "MAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME RET=HDRS ENVID=abc+2Bdef",
        "250 2.1.0",
    )
    .await;
    c.cmd(
        "RCPT TO:<bob@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob+40example.net",
        "250 2.1.5",
    )
    .await;
    c.cmd("RCPT TO:<carol@example.net>", "250 2.1.5").await;
    c.cmd("DATA", "354").await;
    c.send(b"Subject: hi\r\n\r\nhello\r\n.\r\n").await;
    let r = c.expect("250 2.0.0 Ok: queued as Q1").await;
    assert_eq!(r, "250 2.0.0 Ok: queued as Q1");
    c.cmd("QUIT", "221 2.0.0").await;
    assert!(c.closed().await);

    let msgs = srv.policy.messages();
    assert_eq!(msgs.len(), 1);
    let (info, env, data) = &msgs[0];
    assert_eq!(info.helo.as_deref(), Some("client.example.test"));
    assert_eq!(info.policy, "RELAY");
    assert_eq!(env.mail_from, "alice@example.org");
    assert!(env.body_8bitmime);
    assert_eq!(env.size_param, Some(300));
    assert_eq!(env.ret.as_deref(), Some("HDRS"));
    assert_eq!(env.envid.as_deref(), Some("abc+def"));
    assert_eq!(env.rcpt_to.len(), 2);
    assert_eq!(env.rcpt_to[0].address, "bob@example.net");
    assert_eq!(env.rcpt_to[0].notify.as_deref(), Some("FAILURE,DELAY"));
    assert_eq!(
        env.rcpt_to[0].orcpt.as_deref(),
        Some("rfc822;bob@example.net")
    );
    assert_eq!(env.rcpt_to[1].notify, None);
    let text = String::from_utf8_lossy(data);
    assert!(
        text.starts_with(
            "Received: from client.example.test (client.example.test [127.0.0.1])\r\n\
             \tby mx.danegate.test (danegate) with ESMTP id "
        ),
        "{text}"
    );
    assert_eq!(without_received(data), b"Subject: hi\r\n\r\nhello\r\n");

    // The session reports its close after closing the socket.
    assert!(wait_event(&srv.policy, |e| matches!(e, ServerEvent::Closed { .. })).await);
    let ev = srv.policy.events();
    assert!(
        matches!(&ev[0], ServerEvent::Connected { policy, rdns: Some(r), .. } if policy == "RELAY" && r.verified)
    );
    assert!(ev.iter().any(|e| matches!(e, ServerEvent::MailFrom { from, size: Some(300), .. } if from == "alice@example.org")));
    assert!(ev.iter().any(
        |e| matches!(e, ServerEvent::Rcpt { rid: Some(1), to, .. } if to == "carol@example.net")
    ));
    assert!(ev.iter().any(|e| matches!(e, ServerEvent::MessageAccepted { queue_id, rcpts, .. } if queue_id == "Q1" && rcpts.len() == 2)));
    assert!(matches!(
        ev.last(),
        Some(ServerEvent::Closed {
            reason: CloseReason::Quit,
            ..
        })
    ));
    srv.stop().await;
}

#[tokio::test]
async fn pipelined_transaction() {
    let srv = start(params()).await;
    let mut c = Raw::greeted(srv.addr).await;
    // RFC 2920: EHLO may be followed by a whole command group in one write.
    c.send(
        b"EHLO client.example.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n\
          RCPT TO:<reject-me@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
    )
    .await;
    c.expect("250-").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("550 5.7.1 Relaying denied").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n")
        .await;
    c.expect("250 2.0.0").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    c.send(b"second\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("221").await;
    let msgs = srv.policy.messages();
    assert_eq!(msgs.len(), 2);
    let addrs: Vec<_> = msgs[0]
        .1
        .rcpt_to
        .iter()
        .map(|r| r.address.clone())
        .collect();
    assert_eq!(addrs, ["b@example.net", "c@example.net"]);
    assert_eq!(msgs[1].1.mail_from, "");
    assert_eq!(without_received(&msgs[1].2), b"second\r\n");
    srv.stop().await;
}

#[tokio::test]
async fn smuggling_variants_neither_end_nor_split_data() {
    let srv = start(params()).await;
    for seq in [
        &b"\n.\n"[..],
        b"\n.\r\n",
        b"\r.\r\n",
        b"\r\n.\n",
        b"\r\n.\r",
    ] {
        let mut c = Raw::in_data(srv.addr).await;
        let mut body = b"Subject: outer\r\n\r\nouter".to_vec();
        body.extend_from_slice(seq);
        body.extend_from_slice(
            b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n\
              Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n",
        );
        c.send(&body).await;
        // Exactly one reply for the whole thing: the message is refused (bare CR/LF).
        let r = c.reply().await.unwrap();
        assert!(r.starts_with("554 5.5.2"), "{seq:?}: {r}");
        c.cmd("QUIT", "221").await;
    }
    assert!(srv.policy.messages().is_empty());
    let ev = srv.policy.events();
    assert!(
        !ev.iter()
            .any(|e| matches!(e, ServerEvent::MailFrom { from, .. } if from.starts_with("evil"))),
        "smuggled MAIL executed"
    );
    srv.stop().await;
}

#[tokio::test]
async fn bare_lf_in_content_is_refused_and_session_continues() {
    let srv = start(params()).await;
    let mut c = Raw::ready(srv.addr).await;
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"line1\nline2").await;
    assert!(r.starts_with("554 5.5.2"), "{r}");
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"line1\rline2").await;
    assert!(r.starts_with("554 5.5.2"), "{r}");
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"fine").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(srv.policy.messages().len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn nul_and_long_lines_in_content() {
    let srv = start(params()).await;
    let mut c = Raw::ready(srv.addr).await;
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"a\0b").await;
    assert!(r.starts_with("554 5.6.0"), "{r}");
    let long = vec![b'x'; 999];
    let r = send_simple(&mut c, "a@example.org", "b@example.net", &long).await;
    assert!(r.starts_with("554 5.5.2"), "{r}");
    let ok = vec![b'x'; 998];
    let r = send_simple(&mut c, "a@example.org", "b@example.net", &ok).await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(srv.policy.messages().len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn oversize_by_size_parameter_and_by_content() {
    let srv = start(params()).await;
    let mut c = Raw::ready(srv.addr).await;
    c.cmd("MAIL FROM:<a@example.org> SIZE=100001", "552 5.3.4")
        .await;
    // No transaction was opened.
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1").await;
    c.cmd("MAIL FROM:<a@example.org> SIZE=1000", "250").await;
    c.cmd("RCPT TO:<b@example.net>", "250").await;
    c.cmd("DATA", "354").await;
    let line = [b'y'; 98]
        .iter()
        .chain(b"\r\n")
        .copied()
        .collect::<Vec<u8>>();
    for _ in 0..1500 {
        c.send(&line).await;
    }
    c.send(b".\r\n").await;
    c.expect("552 5.3.4").await;
    c.cmd("RSET", "250 2.0.0").await;
    c.cmd("QUIT", "221").await;
    assert!(srv.policy.messages().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn too_many_recipients() {
    let srv = start(params()).await; // max_recipients = 5
    let mut c = Raw::ready(srv.addr).await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    for i in 0..5 {
        c.cmd(&format!("RCPT TO:<r{i}@example.net>"), "250 2.1.5")
            .await;
    }
    c.cmd("RCPT TO:<r5@example.net>", "452 4.5.3").await;
    c.cmd("RCPT TO:<r6@example.net>", "452 4.5.3").await;
    c.cmd("DATA", "354").await;
    c.send(b"x\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    let msgs = srv.policy.messages();
    assert_eq!(msgs[0].1.rcpt_to.len(), 5);
    srv.stop().await;
}

#[tokio::test]
async fn overlong_command_unknown_command_nul_and_bare_lf() {
    let mut p = params();
    p.max_errors = 50;
    let srv = start(p).await;
    let mut c = Raw::ready(srv.addr).await;
    let long = format!("NOOP {}\r\n", "x".repeat(3000));
    c.send(long.as_bytes()).await;
    c.expect("500 5.5.2").await;
    c.cmd("NOOP", "250").await;
    c.cmd("FROBNICATE now", "500 5.5.1").await;
    c.send(b"NOOP\0\r\n").await;
    c.expect("500 5.5.2").await;
    c.send(b"NOOP\n").await;
    c.expect("500 5.5.2").await;
    c.cmd("NOOP caf\u{e9}", "500 5.5.2").await;
    c.cmd("EXPN list", "502 5.5.1").await;
    c.cmd("MAIL FROM:<a@example.org> FOO=BAR", "555 5.5.4")
        .await;
    c.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "555 5.5.4")
        .await;
    c.cmd("MAIL FROM:<not an address>", "501").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("RCPT TO:<>", "501 5.1.3").await;
    c.cmd("RCPT TO:<postmaster>", "250").await;
    c.cmd("QUIT", "221").await;
    srv.stop().await;
}

#[tokio::test]
async fn commands_out_of_order() {
    let srv = start(params()).await;
    let mut c = Raw::greeted(srv.addr).await;
    c.cmd("MAIL FROM:<a@example.org>", "503 5.5.1").await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1").await;
    c.cmd("DATA", "503 5.5.1").await;
    c.cmd("HELO client.example.test", "250 mx.danegate.test")
        .await;
    // Parameters need EHLO (RFC 5321 §4.1.1.11).
    c.cmd("MAIL FROM:<a@example.org> SIZE=10", "555 5.5.4")
        .await;
    c.cmd("DATA", "503 5.5.1").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("MAIL FROM:<a@example.org>", "503 5.5.1").await;
    c.cmd("RCPT TO:<reject@example.net>", "550 5.7.1").await;
    c.cmd("DATA", "554 5.5.1").await;
    c.cmd("RSET", "250").await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1").await;
    c.cmd("STARTTLS", "502 5.5.1").await;
    c.cmd("QUIT", "221").await;
    srv.stop().await;
}

#[tokio::test]
async fn hello_resets_transaction_and_received_says_smtp() {
    let srv = start(params()).await;
    let mut c = Raw::greeted(srv.addr).await;
    c.cmd("HELO old.example.test", "250").await;
    c.cmd("MAIL FROM:<a@example.org>", "250").await;
    c.cmd("HELO new.example.test", "250").await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1").await;
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"x").await;
    assert!(r.starts_with("250"), "{r}");
    let msgs = srv.policy.messages();
    let text = String::from_utf8_lossy(&msgs[0].2).to_string();
    assert!(
        text.starts_with("Received: from new.example.test "),
        "{text}"
    );
    assert!(text.contains(" with SMTP id "), "{text}");
    assert!(text.contains("\tfor <b@example.net>;\r\n"), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn idle_timeout() {
    let mut p = params();
    p.idle_timeout = Duration::from_millis(500);
    let srv = start(p).await;
    let mut c = Raw::greeted(srv.addr).await;
    c.expect("421 4.4.2").await;
    assert!(c.closed().await);
    assert!(wait_closed(&srv.policy, CloseReason::IdleTimeout).await);
    srv.stop().await;
}

#[tokio::test]
async fn idle_timeout_inside_data() {
    let mut p = params();
    p.idle_timeout = Duration::from_millis(500);
    let srv = start(p).await;
    let mut c = Raw::in_data(srv.addr).await;
    c.send(b"partial\r\n").await;
    c.expect("421 4.4.2").await;
    assert!(c.closed().await);
    assert!(srv.policy.messages().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn max_connections_total() {
    let mut p = params();
    p.max_connections = 2;
    let srv = start(p).await;
    let mut a = Raw::greeted(srv.addr).await;
    let _b = Raw::greeted(srv.addr).await;
    let mut c = Raw::connect(srv.addr).await;
    c.expect("421 4.7.0").await;
    assert!(c.closed().await);
    a.cmd("QUIT", "221").await;
    assert!(a.closed().await);
    // The slot is released before the close is reported.
    assert!(wait_event(&srv.policy, |e| matches!(e, ServerEvent::Closed { .. })).await);
    let _d = Raw::greeted(srv.addr).await;
    assert!(srv.policy.events().iter().any(|e| matches!(
        e,
        ServerEvent::Refused {
            reason: RefuseReason::TooManyConnections,
            ..
        }
    )));
    srv.stop().await;
}

#[tokio::test]
async fn max_connections_per_client() {
    let mut p = params();
    p.max_connections = 10;
    p.max_connections_per_client = 1;
    let srv = start(p).await;
    let mut a = Raw::connect_from(srv.addr, "127.0.0.1".parse().unwrap()).await;
    a.expect("220").await;
    let mut b = Raw::connect_from(srv.addr, "127.0.0.1".parse().unwrap()).await;
    b.expect("421 4.7.0").await;
    let mut c = Raw::connect_from(srv.addr, "127.0.0.2".parse().unwrap()).await;
    c.expect("220").await;
    srv.stop().await;
}

#[tokio::test]
async fn errors_before_disconnect() {
    let mut p = params();
    p.max_errors = 3;
    let srv = start(p).await;
    let mut c = Raw::ready(srv.addr).await;
    c.cmd("BOGUS", "500").await;
    c.cmd("RCPT TO:<b@example.net>", "503").await;
    c.send(b"BOGUS\r\n").await;
    c.expect("500").await;
    c.expect("421 4.7.0").await;
    assert!(c.closed().await);
    srv.stop().await;
}

#[tokio::test]
async fn reject_policy() {
    let policy = TestPolicy::default();
    *policy.decision.lock().unwrap() = Some(ConnectDecision::Reject);
    let srv = start_with(params(), policy).await;
    let mut c = Raw::connect(srv.addr).await;
    c.expect("554 5.7.1").await;
    c.cmd("EHLO client.example.test", "503 5.7.1").await;
    c.cmd("MAIL FROM:<a@example.org>", "503 5.7.1").await;
    c.cmd("QUIT", "221").await;
    assert!(c.closed().await);
    assert!(srv.policy.messages().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn tcprefuse_policy() {
    let policy = TestPolicy::default();
    *policy.decision.lock().unwrap() = Some(ConnectDecision::TcpRefuse);
    let srv = start_with(params(), policy).await;
    let mut c = Raw::connect(srv.addr).await;
    assert_eq!(c.reply().await, None);
    assert!(srv.policy.events().iter().any(|e| matches!(
        e,
        ServerEvent::Refused {
            reason: RefuseReason::TcpRefuse,
            ..
        }
    )));
    srv.stop().await;
}

#[tokio::test]
async fn store_failure_is_451_and_nothing_acknowledged() {
    let policy = TestPolicy::default();
    *policy.fail_store.lock().unwrap() = true;
    let srv = start_with(params(), policy).await;
    let mut c = Raw::ready(srv.addr).await;
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"x").await;
    assert!(r.starts_with("451 4.3.0"), "{r}");
    // The transaction is over; a new one can start.
    c.cmd("RCPT TO:<b@example.net>", "503").await;
    *srv.policy.fail_store.lock().unwrap() = false;
    let r = send_simple(&mut c, "a@example.org", "b@example.net", b"y").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(srv.policy.messages().len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn reload_applies_to_new_connections_only() {
    let srv = start(params()).await;
    let mut old = Raw::ready(srv.addr).await;
    let mut p = params();
    p.max_recipients = 1;
    srv.handle.set(p);
    let mut new = Raw::ready(srv.addr).await;
    for c in [&mut old, &mut new] {
        c.cmd("MAIL FROM:<a@example.org>", "250").await;
        c.cmd("RCPT TO:<b@example.net>", "250").await;
    }
    old.cmd("RCPT TO:<c@example.net>", "250").await;
    new.cmd("RCPT TO:<c@example.net>", "452 4.5.3").await;
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_with_421() {
    let srv = start(params()).await;
    let mut c = Raw::ready(srv.addr).await;
    let addr = srv.addr;
    let stopping = tokio::spawn(srv.stop());
    c.expect("421 4.3.2").await;
    assert!(c.closed().await);
    stopping.await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Random command-like garbage (all octet values) never kills the server.
#[tokio::test]
async fn garbage_input_never_panics() {
    let mut p = params();
    p.max_errors = 0;
    let srv = start(p).await;
    let tokens: [&[u8]; 24] = [
        b"MAIL",
        b"RCPT",
        b"FROM:",
        b"TO:",
        b"<",
        b">",
        b"@",
        b" ",
        b"SIZE=",
        b"NOTIFY=",
        b"ORCPT=rfc822;",
        b"ENVID=",
        b"+",
        b"BODY=",
        b"RET=",
        b"\r",
        b"\n",
        b"\0",
        b"\"",
        b"\\",
        b"EHLO",
        b"DATA",
        b"\xff",
        b"RSET",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut c = Raw::ready(srv.addr).await;
    let mut input = Vec::new();
    for _ in 0..3000 {
        let n = next() % 8;
        for _ in 0..n {
            let r = next();
            if r % 5 == 0 {
                input.push((r >> 8) as u8);
            } else {
                input.extend_from_slice(tokens[(r >> 8) as usize % tokens.len()]);
            }
        }
        input.extend_from_slice(b"\r\n");
    }
    // End any DATA the garbage may have opened, then reset.
    input.extend_from_slice(b"\r\n.\r\nRSET\r\nQUIT\r\n");
    c.send(&input).await;
    assert!(c.closed().await, "the session must reach the QUIT");
    assert!(
        wait_closed(&srv.policy, CloseReason::Quit).await,
        "{:?}",
        srv.policy.events().last()
    );
    let mut d = Raw::ready(srv.addr).await;
    d.cmd("NOOP", "250").await;
    srv.stop().await;
}
