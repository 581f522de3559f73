//! The delivery connection cache through the whole gateway: a DANE-verified session is
//! kept after its batch and the next message to the same destination goes over it (after
//! an RSET); a configuration change closes it; `connection_cache_idle_ms = 0` keeps
//! nothing; a cached connection the server closed meanwhile is replaced by a new one
//! without counting a failed attempt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

mod common;

use danegate_config::Config;
use danegate_testkit::{gateway::GatewayToml, mailworld::MailWorld};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn with_idle(text: &str, ms: u64) -> String {
    text.replace(
        "[server]\n",
        &format!("[server]\nconnection_cache_idle_ms = {ms}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_connection_is_reused_until_the_configuration_changes() {
    let w = MailWorld::get();
    let dir = tempfile::tempdir().unwrap();
    let base = GatewayToml {
        dane: "mandatory",
        tls: "required",
        ..GatewayToml::new(dir.path(), w.dns_addr(), w.anchor_file())
    }
    .render();
    // A long idle limit: the test does not depend on timing.
    let gw = common::start_in_world(&with_idle(&base, 60_000), "cache.toml").await;
    let to = gw.listeners()[0].1;
    let sink = &w.sinks().iter().find(|s| s.name == "good").unwrap().sink;
    let got = |subject: &str| !common::received(subject).is_empty();

    let c0 = sink.connections();
    common::submit(
        to,
        "alice@sender.test",
        "a@good.dom.test",
        "Subject: cache-a\r\n",
    )
    .await;
    wait_for("cache-a", || got("cache-a")).await;
    assert_eq!(sink.connections(), c0 + 1);
    common::submit(
        to,
        "alice@sender.test",
        "b@good.dom.test",
        "Subject: cache-b\r\n",
    )
    .await;
    wait_for("cache-b", || got("cache-b")).await;
    assert_eq!(
        sink.connections(),
        c0 + 1,
        "the second message reused the session"
    );
    assert!(
        sink.commands()
            .iter()
            .any(|c| c.eq_ignore_ascii_case("RSET")),
        "liveness check before reuse: {:?}",
        sink.commands()
    );
    for (_, m) in common::received("cache-a")
        .into_iter()
        .chain(common::received("cache-b"))
    {
        assert!(m.tls.is_some(), "over the DANE-verified TLS session");
    }

    // A configuration change: idle sessions are closed, none is kept any more.
    let no_cache = Config::from_toml_str(&with_idle(&base, 0), "nocache.toml").unwrap();
    gw.apply(no_cache).unwrap();
    common::submit(
        to,
        "alice@sender.test",
        "c@good.dom.test",
        "Subject: cache-c\r\n",
    )
    .await;
    wait_for("cache-c", || got("cache-c")).await;
    assert_eq!(
        sink.connections(),
        c0 + 2,
        "not over the session of the old settings"
    );
    common::submit(
        to,
        "alice@sender.test",
        "d@good.dom.test",
        "Subject: cache-d\r\n",
    )
    .await;
    wait_for("cache-d", || got("cache-d")).await;
    assert_eq!(
        sink.connections(),
        c0 + 3,
        "connection_cache_idle_ms = 0 keeps nothing"
    );
    gw.shutdown().await;
}

/// A plain SMTP server that accepts one transaction per connection, then closes the
/// connection without a word (as a server whose idle timeout struck would).
async fn one_shot_server(listener: TcpListener, conns: Arc<AtomicUsize>, msgs: Arc<AtomicUsize>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        conns.fetch_add(1, Ordering::SeqCst);
        let msgs = msgs.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = sock.into_split();
            let mut rd = BufReader::new(rd);
            wr.write_all(b"220 oneshot.test ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            let mut in_data = false;
            loop {
                line.clear();
                if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if in_data {
                    if line == ".\r\n" {
                        msgs.fetch_add(1, Ordering::SeqCst);
                        wr.write_all(b"250 2.0.0 ok\r\n").await.unwrap();
                        // Gone after one message.
                        return;
                    }
                    continue;
                }
                let cmd = line.to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") {
                    b"250-oneshot.test\r\n250 8BITMIME\r\n"
                } else if cmd.starts_with("DATA") {
                    in_data = true;
                    b"354 go on\r\n"
                } else if cmd.starts_with("QUIT") {
                    let _ = wr.write_all(b"221 bye\r\n").await;
                    return;
                } else {
                    b"250 ok\r\n"
                };
                wr.write_all(reply).await.unwrap();
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cached_connection_is_replaced_without_a_failed_attempt() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (conns, msgs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    tokio::spawn(one_shot_server(listener, conns.clone(), msgs.clone()));

    let dir = tempfile::tempdir().unwrap();
    let text = GatewayToml {
        extra: format!(
            r#"
[[destination]]
domain = "oneshot.test"
dane = "none"
tls = "none"

[[smtp_route]]
domain = "oneshot.test"
hosts = ["127.0.0.1:{port}"]
"#
        ),
        ..GatewayToml::without_dns_world(dir.path())
    }
    .render();
    let gw = common::start_in_world(&with_idle(&text, 60_000), "oneshot.toml").await;
    let to = gw.listeners()[0].1;
    common::submit(
        to,
        "alice@sender.test",
        "a@oneshot.test",
        "Subject: one\r\n",
    )
    .await;
    wait_for("first message", || msgs.load(Ordering::SeqCst) == 1).await;
    common::submit(
        to,
        "alice@sender.test",
        "b@oneshot.test",
        "Subject: two\r\n",
    )
    .await;
    wait_for("second message", || msgs.load(Ordering::SeqCst) == 2).await;
    assert_eq!(
        conns.load(Ordering::SeqCst),
        2,
        "a new connection for the second"
    );
    // Both recipients delivered at the first attempt: the dead cached session did not
    // count as a failed one.
    let store = gw.store();
    let start = Instant::now();
    while store.stats().await.unwrap().total.delivered < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "outcomes not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mid in 1..=2 {
        let env = store.envelope(mid).await.unwrap().unwrap();
        assert_eq!(env.recipients[0].attempts, 0, "MID {mid}: {env:?}");
        assert_eq!(
            env.recipients[0].state,
            danegate_queue::RcptState::Delivered
        );
    }
    gw.shutdown().await;
}
