//! STARTTLS (RFC 3207) tests, and round trips through danegate-smtp's client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use common::*;
use danegate_smtp::{SmtpClient, Timeouts};
use danegate_smtpd::ServerEvent;
use danegate_testkit::certs::{Presented, TestChain, TlsVersions, permissive_client_config};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tls_params() -> danegate_smtpd::ListenerParams {
    let chain = TestChain::for_names(&["mx.danegate.test"]);
    let mut p = params();
    p.tls = Some(chain.server_config(TlsVersions::Both, Presented::LeafAndIntermediate));
    p
}

fn sni() -> ServerName<'static> {
    ServerName::try_from("mx.danegate.test").unwrap()
}

#[tokio::test]
async fn starttls_with_smtp_client() {
    let srv = start(tls_params()).await;
    let mut c = SmtpClient::connect(srv.addr, None, Timeouts::uniform(Duration::from_secs(10)))
        .await
        .unwrap();
    let caps = c.ehlo("client.example.test").await.unwrap();
    assert!(caps.starttls);
    assert!(caps.pipelining);
    let info = c
        .starttls(permissive_client_config(TlsVersions::Both), sni())
        .await
        .unwrap();
    assert_eq!(info.protocol, rustls::ProtocolVersion::TLSv1_3);
    let caps = c.capabilities().unwrap();
    assert!(!caps.starttls, "STARTTLS offered again after TLS");
    let body = b"Subject: tls\r\n\r\nover TLS\r\n";
    let d = c
        .send("a@example.org", &["b@example.net"], body)
        .await
        .unwrap();
    assert!(d.all_delivered(), "{d:?}");
    assert!(d.pipelined);
    c.quit().await.unwrap();

    let msgs = srv.policy.messages();
    assert_eq!(msgs.len(), 1);
    let (info, _env, data) = &msgs[0];
    assert_eq!(
        info.tls,
        Some(("TLSv1.3".to_string(), "TLS_AES_256_GCM_SHA384".to_string()))
    );
    let text = String::from_utf8_lossy(data);
    assert!(text.contains("with ESMTPS id"), "{text}");
    assert!(
        text.contains("(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)"),
        "{text}"
    );
    assert_eq!(without_received(data), body);
    assert!(srv.policy.events().iter().any(|e| matches!(
        e,
        ServerEvent::TlsEstablished { protocol, .. } if protocol == "TLSv1.3"
    )));
    srv.stop().await;
}

#[tokio::test]
async fn tls12_cipher_names() {
    let srv = start(tls_params()).await;
    let mut c = SmtpClient::connect(srv.addr, None, Timeouts::uniform(Duration::from_secs(10)))
        .await
        .unwrap();
    c.ehlo("client.example.test").await.unwrap();
    c.starttls(permissive_client_config(TlsVersions::Tls12Only), sni())
        .await
        .unwrap();
    c.ehlo("client.example.test").await.unwrap();
    c.send("a@example.org", &["b@example.net"], b"x\r\n")
        .await
        .unwrap();
    c.quit().await.unwrap();
    let msgs = srv.policy.messages();
    assert_eq!(
        msgs[0].0.tls,
        Some((
            "TLSv1.2".to_string(),
            "ECDHE-ECDSA-AES256-GCM-SHA384".to_string()
        ))
    );
    srv.stop().await;
}

/// Dot-stuffing by the client, unstuffing by the server: the content survives.
#[tokio::test]
async fn dot_unstuffing_round_trip() {
    let srv = start(params()).await;
    let mut c = SmtpClient::connect(srv.addr, None, Timeouts::uniform(Duration::from_secs(10)))
        .await
        .unwrap();
    c.ehlo("client.example.test").await.unwrap();
    let body = b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n. \r\n.\r\nend\r\n";
    let d = c
        .send("a@example.org", &["b@example.net"], body)
        .await
        .unwrap();
    assert!(d.all_delivered(), "{d:?}");
    c.quit().await.unwrap();
    let msgs = srv.policy.messages();
    assert_eq!(without_received(&msgs[0].2), body);
    srv.stop().await;
}

async fn read_reply<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("reply timed out")
            .unwrap();
        assert_eq!(n, 1, "connection closed");
        buf.push(b[0]);
        if buf.ends_with(b"\r\n") {
            let text = String::from_utf8_lossy(&buf).to_string();
            let last_line = text.trim_end().rsplit("\r\n").next().unwrap_or("");
            if last_line.as_bytes().get(3) != Some(&b'-') {
                return text;
            }
        }
    }
}

/// Commands pipelined after STARTTLS in clear text are discarded, not run inside the
/// TLS session (the STARTTLS command injection, CVE-2011-0411 class). Also: the
/// state is reset after TLS, and a second STARTTLS is refused.
#[tokio::test]
async fn starttls_injection_and_second_starttls() {
    let srv = start(tls_params()).await;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    assert!(read_reply(&mut tcp).await.starts_with("220 "));
    tcp.write_all(b"EHLO client.example.test\r\n")
        .await
        .unwrap();
    let ehlo = read_reply(&mut tcp).await;
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    tcp.write_all(b"MAIL FROM:<a@example.org>\r\n")
        .await
        .unwrap();
    assert!(read_reply(&mut tcp).await.starts_with("250 2.1.0"));
    tcp.write_all(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\nRCPT TO:<x@example.net>\r\n")
        .await
        .unwrap();
    assert!(read_reply(&mut tcp).await.starts_with("220 2.0.0"));
    let connector = tokio_rustls::TlsConnector::from(permissive_client_config(TlsVersions::Both));
    let mut tls = connector.connect(sni(), tcp).await.unwrap();
    // The first reply inside TLS is the one to our NOOP, not to an injected command.
    tls.write_all(b"NOOP\r\n").await.unwrap();
    let r = read_reply(&mut tls).await;
    assert_eq!(r, "250 2.0.0 Ok\r\n");
    tls.write_all(b"RCPT TO:<b@example.net>\r\n").await.unwrap();
    let r = read_reply(&mut tls).await;
    assert!(r.starts_with("503 5.5.1"), "state not reset: {r}");
    tls.write_all(b"MAIL FROM:<a@example.org>\r\n")
        .await
        .unwrap();
    let r = read_reply(&mut tls).await;
    assert!(r.starts_with("503 5.5.1"), "EHLO required again: {r}");
    tls.write_all(b"EHLO client.example.test\r\n")
        .await
        .unwrap();
    let ehlo = read_reply(&mut tls).await;
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    tls.write_all(b"STARTTLS\r\n").await.unwrap();
    let r = read_reply(&mut tls).await;
    assert!(r.starts_with("554 5.5.1"), "{r}");
    tls.write_all(b"QUIT\r\n").await.unwrap();
    assert!(read_reply(&mut tls).await.starts_with("221"));
    let ev = srv.policy.events();
    assert!(
        !ev.iter().any(
            |e| matches!(e, ServerEvent::MailFrom { from, .. } if from.starts_with("injected"))
        ),
        "injected command executed: {ev:?}"
    );
    srv.stop().await;
}

/// A client that sends garbage instead of a ClientHello: the session ends.
#[tokio::test]
async fn failed_handshake_ends_session() {
    let srv = start(tls_params()).await;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    read_reply(&mut tcp).await;
    tcp.write_all(b"EHLO c.example.test\r\n").await.unwrap();
    read_reply(&mut tcp).await;
    tcp.write_all(b"STARTTLS\r\n").await.unwrap();
    assert!(read_reply(&mut tcp).await.starts_with("220"));
    tcp.write_all(b"this is not TLS at all\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
    assert!(wait_event(&srv.policy, |e| matches!(e, ServerEvent::TlsFailed { .. })).await);
    srv.stop().await;
}
