//! The SMTP client against the testkit's in-process sink, and against misbehaving raw
//! TCP servers. All traffic stays on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use danegate_smtp::{Phase, RecipientStatus, SmtpClient, SmtpError, Timeouts};
use danegate_testkit::certs::{Presented, TestChain, TlsVersions, permissive_client_config};
use danegate_testkit::smtp::{SinkOptions, SmtpSink, StartTlsMode};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MSG: &[u8] = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n\r\nHello.\r\n";

fn timeouts() -> Timeouts {
    Timeouts::uniform(Duration::from_secs(10))
}

fn sni() -> ServerName<'static> {
    ServerName::try_from("mx.example.test").unwrap()
}

fn tls_sink(versions: TlsVersions, mode: StartTlsMode) -> SmtpSink {
    let chain = TestChain::for_names(&["mx.example.test"]);
    let mut opts =
        SinkOptions::with_tls(chain.server_config(versions, Presented::LeafAndIntermediate));
    opts.starttls = mode;
    SmtpSink::start(opts)
}

async fn connect(addr: SocketAddr) -> SmtpClient {
    SmtpClient::connect(addr, None, timeouts()).await.unwrap()
}

#[tokio::test]
async fn plain_delivery() {
    let sink = SmtpSink::start(SinkOptions::default());
    let mut c = SmtpClient::connect(sink.addr(), Some("127.0.0.1".parse().unwrap()), timeouts())
        .await
        .unwrap();
    assert_eq!(c.local_addr().ip().to_string(), "127.0.0.1");
    assert_eq!(c.greeting().code, 220);
    let caps = c.ehlo("client.test").await.unwrap();
    assert!(caps.esmtp && caps.pipelining && caps.eight_bit_mime && caps.enhanced_status_codes);
    assert_eq!(caps.size, Some(10 * 1024 * 1024));
    assert!(!caps.starttls);
    let d = c
        .send("a@example.org", &["b@example.net"], MSG)
        .await
        .unwrap();
    assert!(d.all_delivered(), "{d:?}");
    assert_eq!(d.final_reply.as_ref().unwrap().code, 250);
    c.quit().await.unwrap();

    let m = sink.wait_for_messages(1, Duration::from_secs(5));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].helo, "client.test");
    assert_eq!(m[0].mail_from, "a@example.org");
    assert_eq!(m[0].rcpt_to, vec!["b@example.net"]);
    assert_eq!(m[0].data, MSG);
    assert!(m[0].body_8bitmime);
    assert_eq!(m[0].size_param, Some(MSG.len()));
    assert!(m[0].tls.is_none());
}

async fn starttls_delivery(versions: TlsVersions, expect: rustls::ProtocolVersion) {
    let sink = tls_sink(versions, StartTlsMode::Offer);
    let mut c = connect(sink.addr()).await;
    assert!(c.ehlo("client.test").await.unwrap().starttls);
    let info = c
        .starttls(permissive_client_config(TlsVersions::Both), sni())
        .await
        .unwrap();
    assert_eq!(info.protocol, expect);
    assert_eq!(info.peer_certificates.len(), 2);
    // RFC 3207 §4.2: capabilities come from the EHLO inside TLS; no STARTTLS there.
    let caps = c.capabilities().unwrap();
    assert!(caps.esmtp && !caps.starttls);
    let d = c
        .send("", &["b@example.net", "c@example.net"], MSG)
        .await
        .unwrap();
    assert!(d.all_delivered());
    c.quit().await.unwrap();
    let m = sink.wait_for_messages(1, Duration::from_secs(5));
    let tls = m[0].tls.as_ref().expect("message over TLS");
    assert_eq!(tls.protocol, expect);
    assert_eq!(tls.cipher_suite, info.cipher_suite);
    assert_eq!(tls.sni.as_deref(), Some("mx.example.test"));
    assert_eq!(m[0].mail_from, "");
    assert_eq!(m[0].rcpt_to.len(), 2);
}

#[tokio::test]
async fn starttls_tls12_only_server() {
    starttls_delivery(TlsVersions::Tls12Only, rustls::ProtocolVersion::TLSv1_2).await;
}

#[tokio::test]
async fn starttls_tls13_only_server() {
    starttls_delivery(TlsVersions::Tls13Only, rustls::ProtocolVersion::TLSv1_3).await;
}

#[tokio::test]
async fn starttls_not_offered() {
    let sink = tls_sink(TlsVersions::Both, StartTlsMode::NotOffered);
    let mut c = connect(sink.addr()).await;
    assert!(!c.ehlo("client.test").await.unwrap().starttls);
    let e = c
        .starttls(permissive_client_config(TlsVersions::Both), sni())
        .await
        .unwrap_err();
    assert!(matches!(e, SmtpError::StartTlsNotOffered), "{e}");
    assert!(!e.after_starttls_220());
    // The clear-text session is still usable.
    let d = c
        .send("a@example.org", &["b@example.net"], MSG)
        .await
        .unwrap();
    assert!(d.all_delivered());
    c.quit().await.unwrap();
}

#[tokio::test]
async fn starttls_refused() {
    let sink = tls_sink(TlsVersions::Both, StartTlsMode::Refuse);
    let mut c = connect(sink.addr()).await;
    let e = {
        c.ehlo("client.test").await.unwrap();
        c.starttls(permissive_client_config(TlsVersions::Both), sni())
            .await
            .unwrap_err()
    };
    match &e {
        SmtpError::StartTlsRefused { reply } => {
            assert_eq!(reply.code, 454);
            assert_eq!(reply.enhanced.unwrap().to_string(), "4.7.0");
            assert!(reply.text().contains("TLS not available"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(!e.after_starttls_220());
    assert!(e.is_transient());
    // TLS Preferred may continue in clear.
    assert!(
        c.send("a@example.org", &["b@example.net"], MSG)
            .await
            .unwrap()
            .all_delivered()
    );
    let m = sink.wait_for_messages(1, Duration::from_secs(5));
    assert!(m[0].tls.is_none());
}

#[tokio::test]
async fn starttls_connection_dropped() {
    let sink = tls_sink(TlsVersions::Both, StartTlsMode::DropConnection);
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let e = c
        .starttls(permissive_client_config(TlsVersions::Both), sni())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::ConnectionLost {
                phase: Phase::StartTls,
                ..
            }
        ),
        "{e}"
    );
    assert!(!e.after_starttls_220());
    assert!(matches!(c.noop().await, Err(SmtpError::Broken)));
}

#[tokio::test]
async fn tls_handshake_failure_is_after_220() {
    // The server speaks TLS 1.3 only, the client offers TLS 1.2 only.
    let sink = tls_sink(TlsVersions::Tls13Only, StartTlsMode::Offer);
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let e = c
        .starttls(permissive_client_config(TlsVersions::Tls12Only), sni())
        .await
        .unwrap_err();
    assert!(matches!(e, SmtpError::TlsHandshake { .. }), "{e}");
    assert!(e.after_starttls_220());
}

#[tokio::test]
async fn certificate_rejected_by_verifier() {
    // A webpki verifier with an unrelated root: the handshake fails with the rustls
    // certificate error, after the 220.
    let sink = tls_sink(TlsVersions::Both, StartTlsMode::Offer);
    let other = TestChain::for_names(&["mx.example.test"]);
    let cfg = danegate_testkit::certs::webpki_client_config(other.root_store(), TlsVersions::Both);
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let e = c.starttls(cfg, sni()).await.unwrap_err();
    match &e {
        SmtpError::TlsHandshake {
            source: rustls::Error::InvalidCertificate(_),
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(e.after_starttls_220());
}

#[tokio::test]
async fn one_recipient_rejected_among_three() {
    let sink = SmtpSink::start(SinkOptions {
        reject: vec!["bad@example.net".into()],
        tempfail: vec!["later@example.net".into()],
        ..SinkOptions::default()
    });
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let d = c
        .send(
            "a@example.org",
            &["one@example.net", "bad@example.net", "two@example.net"],
            MSG,
        )
        .await
        .unwrap();
    let st: Vec<_> = d.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        st,
        vec![
            RecipientStatus::Delivered,
            RecipientStatus::Permanent,
            RecipientStatus::Delivered
        ]
    );
    assert_eq!(d.recipients[1].reply.code, 550);
    assert_eq!(d.recipients[1].reply.enhanced.unwrap().to_string(), "5.1.1");
    assert_eq!(d.recipients[0].reply.code, 250);

    // Only temporary failures and rejections: nothing delivered, session still fine.
    let d = c
        .send(
            "a@example.org",
            &["bad@example.net", "later@example.net"],
            MSG,
        )
        .await
        .unwrap();
    assert_eq!(d.recipients[0].status, RecipientStatus::Permanent);
    assert_eq!(d.recipients[1].status, RecipientStatus::Transient);
    assert!(d.final_reply.is_none());
    c.quit().await.unwrap();

    let m = sink.wait_for_messages(1, Duration::from_secs(5));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].rcpt_to, vec!["one@example.net", "two@example.net"]);
}

#[tokio::test]
async fn dot_stuffing_round_trip() {
    let sink = SmtpSink::start(SinkOptions::default());
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let body = b".leading dot\n..two dots\r\n.\r\nbare\rCR\nmiddle.dot\r\n. space\r\n.";
    let d = c
        .send("a@example.org", &["b@example.net"], body)
        .await
        .unwrap();
    assert!(d.all_delivered());
    // Two messages on one connection.
    let d = c
        .send("a@example.org", &["b@example.net"], b"")
        .await
        .unwrap();
    assert!(d.all_delivered());
    c.quit().await.unwrap();
    let m = sink.wait_for_messages(2, Duration::from_secs(5));
    assert_eq!(
        m[0].data,
        b".leading dot\r\n..two dots\r\n.\r\nbare\r\nCR\r\nmiddle.dot\r\n. space\r\n.\r\n".to_vec()
    );
    assert_eq!(m[1].data, b"".to_vec());
}

#[tokio::test]
async fn pipelining_when_offered_only() {
    let sink = SmtpSink::start(SinkOptions::default());
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let d = c
        .send("a@example.org", &["b@example.net", "c@example.net"], MSG)
        .await
        .unwrap();
    assert!(d.pipelined && d.all_delivered());
    c.quit().await.unwrap();
    assert!(sink.wait_for_messages(1, Duration::from_secs(5))[0].pipelined);

    let sink = SmtpSink::start(SinkOptions {
        pipelining: false,
        eight_bit_mime: false,
        size: None,
        ..SinkOptions::default()
    });
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let d = c
        .send("a@example.org", &["b@example.net", "c@example.net"], MSG)
        .await
        .unwrap();
    assert!(!d.pipelined && d.all_delivered());
    c.quit().await.unwrap();
    let m = sink.wait_for_messages(1, Duration::from_secs(5));
    assert!(!m[0].pipelined);
    assert!(!m[0].body_8bitmime);
    assert_eq!(m[0].size_param, None);
}

#[tokio::test]
async fn size_limit_enforced_before_sending() {
    let sink = SmtpSink::start(SinkOptions {
        size: Some(10),
        ..SinkOptions::default()
    });
    let mut c = connect(sink.addr()).await;
    c.ehlo("client.test").await.unwrap();
    let e = c
        .send("a@example.org", &["b@example.net"], MSG)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SmtpError::MessageTooLarge { limit: 10, .. }),
        "{e}"
    );
    assert!(!e.is_transient());
    c.quit().await.unwrap();
}

#[tokio::test]
async fn invalid_input_refused() {
    let sink = SmtpSink::start(SinkOptions::default());
    let mut c = connect(sink.addr()).await;
    assert!(matches!(
        c.ehlo("bad name").await,
        Err(SmtpError::InvalidInput(_))
    ));
    c.ehlo("client.test").await.unwrap();
    // A recipient that cannot be sent fails on its own (553, not sent); nothing of
    // it reaches the server.
    for bad in ["a@b\r\nRSET", "<a@b>", ""] {
        let d = c.send("a@example.org", &[bad], MSG).await.unwrap();
        assert_eq!(
            d.recipients[0].status,
            RecipientStatus::Permanent,
            "{bad:?}"
        );
        assert_eq!(d.recipients[0].reply.code, 553, "{bad:?}");
    }
    let e = c
        .send("a@b\r\nRSET", &["x@example.net"], MSG)
        .await
        .unwrap_err();
    assert!(matches!(e, SmtpError::InvalidInput(_)), "{e}");
    c.quit().await.unwrap();
}

/// A raw server that sends `greeting` and then answers every line with `answer`.
async fn raw_server(greeting: &'static [u8], answer: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(greeting).await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn garbage_server_is_a_protocol_error() {
    let addr = raw_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", b"").await;
    let e = SmtpClient::connect(addr, None, timeouts())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Protocol {
                phase: Phase::Greeting,
                ..
            }
        ),
        "{e}"
    );

    let addr = raw_server(b"\x16\x03\x01\x00\xff\x00binary junk\n", b"").await;
    let e = SmtpClient::connect(addr, None, timeouts())
        .await
        .unwrap_err();
    assert!(matches!(e, SmtpError::Protocol { .. }), "{e}");

    // A sane greeting, then nonsense.
    let addr = raw_server(b"220 ok\r\n", b"250-fine\r\n251 changed code\r\n").await;
    let mut c = connect(addr).await;
    let e = c.ehlo("client.test").await.unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Protocol {
                phase: Phase::Ehlo,
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(c.noop().await, Err(SmtpError::Broken)));
}

#[tokio::test]
async fn overlong_reply_line_is_a_protocol_error() {
    static LONG: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut v = b"220 ".to_vec();
        v.extend(std::iter::repeat_n(b'x', 5000));
        v.extend_from_slice(b"\r\n");
        v
    });
    let addr = raw_server(&LONG, b"").await;
    let e = SmtpClient::connect(addr, None, timeouts())
        .await
        .unwrap_err();
    match e {
        SmtpError::Protocol { detail, .. } => assert!(detail.contains("longer than"), "{detail}"),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn multiline_greeting_and_ehlo_fallback_to_helo() {
    let addr = raw_server(
        b"220-first line\r\n220-second\r\n220 third\r\n",
        b"502 5.5.1 what?\r\n",
    )
    .await;
    let mut c = connect(addr).await;
    assert_eq!(c.greeting().lines.len(), 3);
    // EHLO gets 502 (permanent): HELO also gets 502 -> Rejected in phase HELO.
    let e = c.ehlo("client.test").await.unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Rejected {
                phase: Phase::Helo,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn greeting_554_is_rejected() {
    let addr = raw_server(b"554 5.7.1 go away\r\n", b"221 bye\r\n").await;
    let e = SmtpClient::connect(addr, None, timeouts())
        .await
        .unwrap_err();
    match e {
        SmtpError::Rejected { phase, reply } => {
            assert_eq!(phase, Phase::Greeting);
            assert_eq!(reply.code, 554);
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn silent_server_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    });
    let t = Timeouts {
        greeting: Duration::from_millis(300),
        ..timeouts()
    };
    let start = std::time::Instant::now();
    let e = SmtpClient::connect(addr, None, t).await.unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Timeout {
                phase: Phase::Greeting
            }
        ),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    hold.abort();
}

/// A raw server that greets `220 ok` and answers each command line through `script`
/// (read line by line, so pipelined input is answered in order).
async fn scripted(script: fn(&str) -> &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = tokio::io::BufReader::new(r);
                let _ = w.write_all(b"220 ok\r\n").await;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match tokio::io::AsyncBufReadExt::read_until(&mut r, b'\n', &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let text = String::from_utf8_lossy(&line);
                    if w.write_all(script(text.trim_end())).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn tls_script(cmd: &str) -> &'static [u8] {
    match cmd {
        c if c.starts_with("EHLO") => b"250-x\r\n250 STARTTLS\r\n",
        "STARTTLS" => b"220 2.0.0 go ahead\r\n",
        _ => b"",
    }
}

fn injecting_script(cmd: &str) -> &'static [u8] {
    match cmd {
        c if c.starts_with("EHLO") => b"250-x\r\n250 STARTTLS\r\n",
        "STARTTLS" => b"220 2.0.0 go ahead\r\n250-injected\r\n250 reply\r\n",
        _ => b"",
    }
}

#[tokio::test]
async fn silent_after_starttls_220_times_out_in_handshake() {
    let addr = scripted(tls_script).await;
    let t = Timeouts {
        tls_handshake: Duration::from_millis(300),
        ..timeouts()
    };
    let mut c = SmtpClient::connect(addr, None, t).await.unwrap();
    c.ehlo("client.test").await.unwrap();
    let e = c
        .starttls(permissive_client_config(TlsVersions::Both), sni())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Timeout {
                phase: Phase::TlsHandshake
            }
        ),
        "{e}"
    );
    assert!(e.after_starttls_220());
}

#[tokio::test]
async fn starttls_response_injection_refused() {
    let addr = scripted(injecting_script).await;
    let mut c = connect(addr).await;
    c.ehlo("client.test").await.unwrap();
    let e = c
        .starttls(permissive_client_config(TlsVersions::Both), sni())
        .await
        .unwrap_err();
    assert!(matches!(e, SmtpError::Protocol { .. }), "{e}");
    assert!(e.after_starttls_220());
}

fn silent_data_script(cmd: &str) -> &'static [u8] {
    match cmd {
        c if c.starts_with("EHLO") => b"250 x\r\n",
        c if c.starts_with("MAIL") || c.starts_with("RCPT") => b"250 ok\r\n",
        "DATA" => b"354 go\r\n",
        _ => b"",
    }
}

#[tokio::test]
async fn silent_after_data_times_out() {
    let addr = scripted(silent_data_script).await;
    let t = Timeouts {
        data_end: Duration::from_millis(300),
        ..timeouts()
    };
    let mut c = SmtpClient::connect(addr, None, t).await.unwrap();
    let caps = c.ehlo("client.test").await.unwrap();
    assert!(!caps.pipelining);
    let e = c
        .send("a@example.org", &["b@example.net"], MSG)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Timeout {
                phase: Phase::DataEnd
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn connect_refused() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = SmtpClient::connect(addr, None, timeouts())
        .await
        .unwrap_err();
    assert!(matches!(e, SmtpError::Connect { .. }), "{e}");
}

/// A server offering DSN that records every command line and answers in a fixed way.
async fn recording_dsn_server(
    offer_dsn: bool,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        let Ok((s, _)) = l.accept().await else { return };
        let (r, mut w) = s.into_split();
        let mut r = tokio::io::BufReader::new(r);
        let _ = w.write_all(b"220 ok\r\n").await;
        let mut in_data = false;
        let mut line = Vec::new();
        loop {
            line.clear();
            match tokio::io::AsyncBufReadExt::read_until(&mut r, b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if in_data {
                if text == "." {
                    in_data = false;
                    let _ = w.write_all(b"250 2.0.0 queued\r\n").await;
                }
                continue;
            }
            rec.lock().unwrap().push(text.clone());
            let answer: &[u8] = match text.as_str() {
                c if c.starts_with("EHLO") && offer_dsn => b"250-x\r\n250 DSN\r\n",
                c if c.starts_with("EHLO") => b"250 x\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go\r\n"
                }
                "QUIT" => b"221 bye\r\n",
                _ => b"250 2.0.0 ok\r\n",
            };
            let _ = w.write_all(answer).await;
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn dsn_parameters_are_passed_on_when_offered() {
    let dsn = danegate_smtp::DsnParams {
        ret: Some("hdrs".into()),
        envid: Some("id+1=x".into()),
        recipients: vec![
            (
                Some("FAILURE,DELAY".into()),
                Some("rfc822;orig+x@example.org".into()),
            ),
            (Some("NEVER".into()), None),
        ],
    };
    let (addr, seen) = recording_dsn_server(true).await;
    let mut c = connect(addr).await;
    c.ehlo("client.test").await.unwrap();
    let d = c
        .send_with_dsn(
            "a@example.org",
            &["x@example.net", "y@example.net"],
            MSG,
            Some(&dsn),
        )
        .await
        .unwrap();
    assert!(d.all_delivered());
    let _ = c.quit().await;
    let lines = seen.lock().unwrap().clone();
    assert!(
        lines.contains(&"MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2B1+3Dx".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"RCPT TO:<x@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;orig+2Bx@example.org"
                .to_string()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"RCPT TO:<y@example.net> NOTIFY=NEVER".to_string()),
        "{lines:?}"
    );
    // a server without DSN gets none of them (RFC 3461 §6.2)
    let (addr, seen) = recording_dsn_server(false).await;
    let mut c = connect(addr).await;
    c.ehlo("client.test").await.unwrap();
    c.send_with_dsn("a@example.org", &["x@example.net"], MSG, Some(&dsn))
        .await
        .unwrap();
    let lines = seen.lock().unwrap().clone();
    assert!(
        lines.contains(&"MAIL FROM:<a@example.org>".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"RCPT TO:<x@example.net>".to_string()),
        "{lines:?}"
    );
}
