//! The gateway end to end: a real SMTP client → danegate's listener → the durable
//! queue → the DANE path against the signed test world → real STARTTLS servers, and
//! bounces back to the sender as DSNs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    net::{IpAddr, SocketAddr},
    sync::OnceLock,
    time::{Duration, Instant},
};

use danegate_config::Config;
use danegate_gateway::{GatewayOptions, Running, start};
use danegate_queue::RcptState;
use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{DnsServer, ServerOptions, SignedWorld, World},
    gateway::GatewayToml,
    smtp::{SinkOptions, SmtpSink},
};

struct Net {
    _world: SignedWorld,
    /// Chains of the hosts whose sinks a test starts itself (late, to build a backlog).
    late: Vec<(&'static str, u8, TestChain)>,
    dns: DnsServer,
    anchor: std::path::PathBuf,
    port: u16,
    sinks: Vec<(&'static str, SmtpSink)>,
}

/// The world: good.test (DANE-EE matches), bad.test (TLSA names another key),
/// plain.test (unsigned), sender.test (where bounces go), and fixed-host sinks for
/// SMTP routes.
fn net() -> &'static Net {
    static N: OnceLock<Net> = OnceLock::new();
    N.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chain = |n: &str| TestChain::for_names(&[n]);
        let good = chain("mx.good.test");
        let bad = chain("mx.bad.test");
        let other = chain("other.example");
        let plain = chain("mx.plain.test");
        let sender = chain("mx.sender.test");
        let route = chain("relay.internal.test");
        let many = chain("mx.many.test");
        let single = chain("mx.single.test");
        let conc = chain("mx.conc.test");
        let tlsa = |c: &TestChain| c.leaf.tlsa_hex(1, 1);
        let mut w = World::new();
        w.zone("test.");
        w.zone("good.test.").records(&format!(
            "@ MX 10 mx\nmx A 127.0.0.71\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
            tlsa(&good)
        ));
        w.zone("bad.test.").records(&format!(
            "@ MX 10 mx\nmx A 127.0.0.72\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
            tlsa(&other)
        ));
        w.zone("plain.test.")
            .unsigned()
            .records("@ MX 10 mx\nmx A 127.0.0.73\n");
        w.zone("sender.test.")
            .unsigned()
            .records("@ MX 10 mx\nmx A 127.0.0.74\n");
        w.zone("flaky.test.")
            .records("@ MX 10 mx\nmx A 127.0.0.79\n");
        for (zone, o, c) in [
            ("many", 76, &many),
            ("single", 77, &single),
            ("conc", 78, &conc),
        ] {
            w.zone(&format!("{zone}.test.")).records(&format!(
                "@ MX 10 mx\nmx A 127.0.0.{o}\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
                tlsa(c)
            ));
        }
        let world = w.build();
        let dns = world.serve(ServerOptions::default());
        let anchor =
            std::env::temp_dir().join(format!("danegate-gw-anchor-{}.key", std::process::id()));
        std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();
        let sink = |c: &TestChain, o: u8| {
            SmtpSink::start(SinkOptions {
                tls: Some(c.server_config(TlsVersions::Both, Presented::LeafAndIntermediate)),
                bind: Some(SocketAddr::new(IpAddr::from([127, 0, 0, o]), port)),
                ..SinkOptions::default()
            })
        };
        let sinks = vec![
            ("good", sink(&good, 71)),
            ("bad", sink(&bad, 72)),
            ("plain", sink(&plain, 73)),
            ("sender", sink(&sender, 74)),
            ("route", sink(&route, 75)),
        ];
        let late = vec![
            ("many", 76, many),
            ("single", 77, single),
            ("conc", 78, conc),
        ];
        Net {
            _world: world,
            late,
            dns,
            anchor,
            port,
            sinks,
        }
    })
}

fn sink(name: &str) -> &'static SmtpSink {
    &net().sinks.iter().find(|(n, _)| *n == name).unwrap().1
}

async fn gateway(extra: &str) -> (Running, tempfile::TempDir) {
    let n = net();
    let dir = tempfile::tempdir().unwrap();
    // The default bounce profile is left out: the default destination uses the
    // built-in one.
    let text = GatewayToml {
        with_default_bounce: false,
        extra: format!(
            r#"
[[sender_group]]
name = "INBOUND"
senders = ["127.0.0.3"]
policy = "ACCEPT"

[recipient_access]
domains = ["internal.test"]

[[destination]]
domain = "bad.test"
tls = "required"
dane = "mandatory"
bounce_profile = "quick"

[[destination]]
domain = "internal.test"
dane = "none"

[[smtp_route]]
domain = "internal.test"
hosts = ["127.0.0.75:{port}"]

[[destination]]
domain = "many.test"
max_messages_per_connection = 10
bounce_profile = "quick"

[[destination]]
domain = "single.test"
max_messages_per_connection = 1
bounce_profile = "quick"

[[destination]]
domain = "conc.test"
max_messages_per_connection = 1
max_concurrent_connections = 2
bounce_profile = "quick"

[[destination]]
domain = "flaky.test"
max_messages_per_connection = 1
bounce_profile = "slow"

[[bounce_profile]]
name = "slow"
initial_retry_secs = 30
max_retry_interval_secs = 60

[[bounce_profile]]
name = "quick"
initial_retry_secs = 1
max_retry_interval_secs = 1
max_retries = 5
{extra}
"#,
            port = n.port,
        ),
        ..GatewayToml::new(dir.path(), n.dns.addr(), &n.anchor)
    }
    .render();
    let config = Config::from_toml_str(&text, "e2e.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = GatewayOptions {
        smtp_port: n.port,
        tick: Duration::from_millis(200),
        ..GatewayOptions::default()
    };
    (start(config, opts).await.unwrap(), dir)
}

fn listener(r: &Running) -> SocketAddr {
    r.listeners()[0].1
}

/// An SMTP session from 127.0.0.1 (RELAYLIST) to the gateway, after EHLO `helo`.
async fn client(gw: &Running, helo: &str) -> SmtpClient {
    let mut c = SmtpClient::connect(
        listener(gw),
        None,
        Timeouts::uniform(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    c.ehlo(helo).await.unwrap();
    c
}

async fn submit(
    to: SocketAddr,
    local: Option<IpAddr>,
    from: &str,
    rcpts: &[&str],
    subject: &str,
) -> danegate_smtp::Delivery {
    let mut c = SmtpClient::connect(to, local, Timeouts::uniform(Duration::from_secs(10)))
        .await
        .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let body = format!(
        "From: <{from}>\r\nTo: <{}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@internal.test>\r\n\r\nHello.\r\n",
        rcpts[0]
    );
    let d = c.send(from, rcpts, body.as_bytes()).await.unwrap();
    let _ = c.quit().await;
    d
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn received(s: &SmtpSink, subject: &str) -> Option<danegate_testkit::smtp::ReceivedMessage> {
    s.messages()
        .into_iter()
        .find(|m| String::from_utf8_lossy(&m.data).contains(&format!("Subject: {subject}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_success_is_delivered_over_authenticated_tls() {
    let (gw, _dir) = gateway("").await;
    let d = submit(
        listener(&gw),
        None,
        "alice@sender.test",
        &["bob@good.test"],
        "dane-ok",
    )
    .await;
    assert!(d.all_delivered(), "{d:?}");
    wait_for("delivery to good.test", || {
        received(sink("good"), "dane-ok").is_some()
    })
    .await;
    let m = received(sink("good"), "dane-ok").unwrap();
    assert!(m.tls.is_some(), "delivered over TLS");
    assert_eq!(m.rcpt_to, vec!["bob@good.test".to_string()]);
    assert!(String::from_utf8_lossy(&m.data).starts_with("Received: from internal-mta.test"));
    let o = gw.last_outcomes()["good.test"].clone();
    assert_eq!(o.dane, "DANE SUCCESS");
    assert_eq!(o.host.as_deref(), Some("mx.good.test"));
    assert!(o.tls.is_some());
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunistic_fallback_uses_tls_preferred() {
    let (gw, _dir) = gateway("").await;
    submit(
        listener(&gw),
        None,
        "alice@sender.test",
        &["carol@plain.test"],
        "fallback",
    )
    .await;
    wait_for("delivery to plain.test", || {
        received(sink("plain"), "fallback").is_some()
    })
    .await;
    assert!(
        received(sink("plain"), "fallback").unwrap().tls.is_some(),
        "TLS Preferred used STARTTLS"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_failure_stays_queued_then_bounces_with_a_dsn() {
    let (gw, _dir) = gateway("").await;
    submit(
        listener(&gw),
        None,
        "alice@sender.test",
        &["dave@bad.test"],
        "dane-bad",
    )
    .await;
    let store = gw.store();
    // First attempt: DANE FAILED, deferred (never sent in clear, never to the bad sink).
    let mut seen_deferred = false;
    let start = Instant::now();
    while !seen_deferred {
        let list = store.list(Some("bad.test"), 10).await.unwrap();
        if let Some(r) = list.first()
            && r.state == RcptState::Queued
            && r.attempts >= 1
        {
            let reason = r.last_reason.clone().unwrap_or_default();
            assert!(reason.contains("DANE FAILED for bad.test"), "{reason}");
            seen_deferred = true;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no deferral");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_deferred, "deferred before bouncing");
    assert_eq!(gw.last_outcomes()["bad.test"].dane, "DANE FAILED");
    assert!(
        received(sink("bad"), "dane-bad").is_none(),
        "nothing reached the unauthenticated server"
    );
    // The DSN goes to the sender, from the null sender.
    wait_for("the DSN at sender.test", || {
        sink("sender")
            .messages()
            .iter()
            .any(|m| String::from_utf8_lossy(&m.data).contains("dave@bad.test"))
    })
    .await;
    let dsn = sink("sender")
        .messages()
        .into_iter()
        .find(|m| String::from_utf8_lossy(&m.data).contains("dave@bad.test"))
        .unwrap();
    assert_eq!(dsn.mail_from, "");
    assert_eq!(dsn.rcpt_to, vec!["alice@sender.test".to_string()]);
    let text = String::from_utf8_lossy(&dsn.data);
    assert!(text.contains("multipart/report"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; dave@bad.test"),
        "{text}"
    );
    assert!(text.contains("Action: failed"), "{text}");
    assert!(text.contains("DANE FAILED for bad.test"), "{text}");
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.domains["bad.test"].hard_bounced, 1, "{stats:?}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_is_denied_to_unknown_clients_and_accept_takes_only_rat_domains() {
    let (gw, _dir) = gateway("").await;
    // 127.0.0.2 matches no sender group: REJECT, never an open relay.
    let mut c = SmtpClient::connect(
        listener(&gw),
        Some("127.0.0.2".parse().unwrap()),
        Timeouts::uniform(Duration::from_secs(5)),
    )
    .await;
    if let Ok(c2) = c.as_mut() {
        let r = c2.ehlo("stranger.test").await;
        assert!(r.is_err(), "a REJECT client cannot go on");
    }
    // 127.0.0.3 is ACCEPT: internal.test (RAT) yes, good.test no.
    let mut c = SmtpClient::connect(
        listener(&gw),
        Some("127.0.0.3".parse().unwrap()),
        Timeouts::uniform(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    c.ehlo("outside.test").await.unwrap();
    let d = c
        .send(
            "x@outside.test",
            &["ops@internal.test", "bob@good.test"],
            b"Subject: inbound\r\n\r\nhi\r\n",
        )
        .await
        .unwrap();
    assert_eq!(
        d.recipients[0].status,
        danegate_smtp::RecipientStatus::Delivered
    );
    assert_eq!(
        d.recipients[1].status,
        danegate_smtp::RecipientStatus::Permanent
    );
    assert_eq!(d.recipients[1].reply.code, 550);
    let _ = c.quit().await;
    // delivered by the SMTP route to the fixed host, no DANE
    wait_for("route delivery", || {
        received(sink("route"), "inbound").is_some()
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_to_explicit_host_with_dane_is_held_then_bounced() {
    // hold.test is routed to a fixed host while the default profile has DANE.
    let (gw, _dir) = gateway(
        r#"
[[smtp_route]]
domain = "hold.test"
hosts = ["127.0.0.75"]

[[destination]]
domain = "hold.test"
dane = "opportunistic"
bounce_profile = "quick"
"#,
    )
    .await;
    assert!(
        gw.config()
            .lints()
            .iter()
            .any(|l| l.key.contains("smtp_route")),
        "config check warns"
    );
    submit(
        listener(&gw),
        None,
        "alice@sender.test",
        &["erin@hold.test"],
        "held",
    )
    .await;
    wait_for("the DSN for the held message", || {
        sink("sender")
            .messages()
            .iter()
            .any(|m| String::from_utf8_lossy(&m.data).contains("erin@hold.test"))
    })
    .await;
    assert!(
        received(sink("route"), "held").is_none(),
        "never delivered on the route"
    );
    let dsn = sink("sender")
        .messages()
        .into_iter()
        .find(|m| String::from_utf8_lossy(&m.data).contains("erin@hold.test"))
        .unwrap();
    assert!(
        String::from_utf8_lossy(&dsn.data).contains("cannot be verified"),
        "{}",
        String::from_utf8_lossy(&dsn.data)
    );
    gw.shutdown().await;
}

/// Starts the sink of a host that is down at first.
fn start_late(name: &str) -> SmtpSink {
    let n = net();
    let (_, o, c) = n.late.iter().find(|(h, _, _)| *h == name).unwrap();
    SmtpSink::start(SinkOptions {
        tls: Some(c.server_config(TlsVersions::Both, Presented::LeafAndIntermediate)),
        bind: Some(SocketAddr::new(IpAddr::from([127, 0, 0, *o]), n.port)),
        ..SinkOptions::default()
    })
}

/// Submits `count` messages to `domain` while its server is down, waits until each has
/// been tried and deferred, then starts the server: the backlog goes out together.
async fn backlog(gw: &Running, domain: &str, count: usize) {
    let mut c = client(gw, "internal-mta.test").await;
    for i in 0..count {
        let body = format!("Subject: {domain}-{i}\r\n\r\nbody {i}\r\n");
        let d = c
            .send(
                "alice@sender.test",
                &[&format!("u{i}@{domain}")],
                body.as_bytes(),
            )
            .await
            .unwrap();
        assert!(d.all_delivered());
    }
    let _ = c.quit().await;
    let store = gw.store();
    let start = Instant::now();
    loop {
        let list = store.list(Some(domain), 1000).await.unwrap();
        if list.len() == count && list.iter().all(|r| r.attempts >= 1 && !r.in_flight) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "backlog for {domain} not deferred: {list:?} {:?}",
            store.stats().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_up_to_messages_per_connection() {
    let (gw, _dir) = gateway("").await;
    backlog(&gw, "many.test", 20).await;
    backlog(&gw, "single.test", 6).await;
    let many = start_late("many");
    let single = start_late("single");
    // "Deliver now": the whole backlog is due at once.
    gw.deliver_now(Some("many.test")).await.unwrap();
    gw.deliver_now(Some("single.test")).await.unwrap();
    wait_for("20 messages at many.test", || many.messages().len() >= 20).await;
    wait_for("6 messages at single.test", || single.messages().len() >= 6).await;
    // 20 messages, at most 10 per connection: far fewer connections than messages
    // (the backlog comes due within the retry jitter, so in a few batches).
    assert!(
        many.connections() <= 8,
        "{} connections for 20 messages",
        many.connections()
    );
    assert!(many.messages().iter().all(|m| m.tls.is_some()));
    // one message per connection when the profile says 1
    assert_eq!(single.connections(), 6);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connections_stay_within_the_profile_limit() {
    let (gw, _dir) = gateway("").await;
    backlog(&gw, "conc.test", 10).await;
    let conc = start_late("conc");
    gw.deliver_now(Some("conc.test")).await.unwrap();
    wait_for("10 messages at conc.test", || conc.messages().len() >= 10).await;
    assert_eq!(conc.connections(), 10, "one message per connection");
    assert!(
        conc.peak_connections() <= 2,
        "peak {} > limit 2",
        conc.peak_connections()
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_is_suspended_not_hammered() {
    // flaky.test's MX accepts TCP and hangs up at once: every attempt fails before
    // any transaction. One connection, then the destination is suspended.
    let n = net();
    let l = std::net::TcpListener::bind(SocketAddr::new(IpAddr::from([127, 0, 0, 79]), n.port))
        .unwrap();
    let accepts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepts.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    let (gw, _dir) = gateway("").await;
    let mut c = client(&gw, "internal-mta.test").await;
    for i in 0..5 {
        let body = format!("Subject: flaky-{i}\r\n\r\nx\r\n");
        c.send(
            "alice@sender.test",
            &[&format!("u{i}@flaky.test")],
            body.as_bytes(),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = c.quit().await;
    let store = gw.store();
    let start = Instant::now();
    loop {
        let list = store.list(Some("flaky.test"), 10).await.unwrap();
        if list.len() == 5 && list.iter().all(|r| r.attempts >= 1 && !r.in_flight) {
            assert!(
                list.iter()
                    .filter(|r| r
                        .last_reason
                        .as_deref()
                        .unwrap_or("")
                        .contains("delivery temporarily suspended"))
                    .count()
                    >= 3,
                "{list:?}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{list:?} {:?}",
            store.stats().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tried = accepts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        tried <= 2,
        "{tried} connections for 5 messages to a failing destination"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounce_verification_tags_the_sender_and_checks_bounces() {
    let (gw, dir) = gateway(
        r#"
[[destination]]
domain = "plain.test"
bounce_verification = true
"#,
    )
    .await;
    submit(
        listener(&gw),
        None,
        "alice@sender.test",
        &["carol@plain.test"],
        "batv-out",
    )
    .await;
    wait_for("delivery to plain.test", || {
        received(sink("plain"), "batv-out").is_some()
    })
    .await;
    let m = received(sink("plain"), "batv-out").unwrap();
    // MAIL FROM:<prvs=0DDDSSSSSS=alice@sender.test>; the headers are untouched.
    let tagged = m.mail_from.clone();
    assert!(tagged.starts_with("prvs=0"), "{tagged}");
    assert!(tagged.ends_with("=alice@sender.test"), "{tagged}");
    assert_eq!(tagged.len(), "prvs=0DDDSSSSSS=alice@sender.test".len());
    let text = String::from_utf8_lossy(&m.data);
    assert!(text.contains("From: <alice@sender.test>"), "{text}");
    assert!(!text.contains("prvs="), "{text}");
    let key = dir.path().join("state").join("bounce-verification.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Messages to profiles without tagging keep the plain sender.
    submit(
        listener(&gw),
        None,
        "alice@sender.test",
        &["bob@good.test"],
        "batv-untagged",
    )
    .await;
    wait_for("delivery to good.test", || {
        received(sink("good"), "batv-untagged").is_some()
    })
    .await;
    assert_eq!(
        received(sink("good"), "batv-untagged").unwrap().mail_from,
        "alice@sender.test"
    );

    // A bounce to the tagged address is accepted and queued for alice@sender.test; a
    // forged tag is refused.
    let forged = "prvs=0123abcdef=alice@sender.test";
    let mut c = client(&gw, "remote-mta.test").await;
    let d = c
        .send(
            "",
            &[forged, tagged.as_str()],
            b"From: <MAILER-DAEMON@plain.test>\r\nSubject: batv-bounce\r\n\r\nbounced\r\n",
        )
        .await
        .unwrap();
    let _ = c.quit().await;
    assert_eq!(
        d.recipients[0].status,
        danegate_smtp::RecipientStatus::Permanent,
        "{d:?}"
    );
    assert_eq!(d.recipients[0].reply.code, 550);
    assert_eq!(
        d.recipients[0].reply.enhanced.map(|e| e.to_string()),
        Some("5.7.1".to_string())
    );
    assert!(
        d.recipients[0]
            .reply
            .lines
            .join(" ")
            .contains("Bounce verification failed"),
        "{d:?}"
    );
    assert_eq!(
        d.recipients[1].status,
        danegate_smtp::RecipientStatus::Delivered,
        "{d:?}"
    );
    wait_for("the bounce at sender.test", || {
        received(sink("sender"), "batv-bounce").is_some()
    })
    .await;
    let b = received(sink("sender"), "batv-bounce").unwrap();
    assert_eq!(b.mail_from, "");
    assert_eq!(b.rcpt_to, vec!["alice@sender.test".to_string()]);

    // A bounce with only a forged tag is refused outright.
    let mut c = client(&gw, "remote-mta.test").await;
    let r = c
        .send("", &[forged], b"Subject: batv-forged\r\n\r\nx\r\n")
        .await;
    match r {
        Ok(d) => assert_eq!(d.recipients[0].reply.code, 550, "{d:?}"),
        Err(e) => assert!(e.to_string().contains("550"), "{e}"),
    }
    let _ = c.quit().await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipient_rate_limit_holds_the_rest_without_counting_attempts() {
    let (gw, _dir) = gateway(
        r#"
[[destination]]
domain = "good.test"
recipient_limit = { recipients = 2, per_minutes = 1 }
"#,
    )
    .await;
    let mut c = client(&gw, "internal-mta.test").await;
    for i in 0..4 {
        let body = format!("Subject: rate-{i}\r\n\r\nx\r\n");
        c.send(
            "alice@sender.test",
            &[&format!("r{i}@good.test")],
            body.as_bytes(),
        )
        .await
        .unwrap();
    }
    let _ = c.quit().await;
    let count = || {
        sink("good")
            .messages()
            .iter()
            .filter(|m| String::from_utf8_lossy(&m.data).contains("Subject: rate-"))
            .count()
    };
    wait_for("two messages within the rate", || count() >= 2).await;
    let store = gw.store();
    let start = Instant::now();
    loop {
        let list = store.list(Some("good.test"), 10).await.unwrap();
        if list.len() == 2 && list.iter().all(|r| !r.in_flight) {
            for r in &list {
                assert_eq!(
                    r.attempts, 0,
                    "held by the rate, not a failed attempt: {r:?}"
                );
                assert!(
                    r.next_attempt > std::time::SystemTime::now() + Duration::from_secs(30),
                    "{r:?}"
                );
            }
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{list:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(), 2, "no more than the limit in the window");
    gw.shutdown().await;
}
