//! A secure TLSA RRset without a usable record (RFC 7672 §2.2: TLS mandatory, but
//! unauthenticated) through the whole gateway: a real SMTP client → the listener → the
//! queue → the DANE path against the signed mail world → the MX host's real server.
//!
//! The profile's TLS Support is "preferred", which alone would go on in clear text
//! without STARTTLS: the unusable TLSA RRset must still forbid it.
//!
//! One #[test]: the log capture is the process-wide default subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

mod common;

use danegate_gateway::Running;
use danegate_testkit::{gateway::GatewayToml, mailworld::MailWorld};

const DEADLINE: Duration = Duration::from_secs(90);

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn gateway(dir: &std::path::Path, dane: &'static str) -> Running {
    let w = MailWorld::get();
    // A deferral stays queued: no retry while the test runs.
    let text = GatewayToml {
        dane,
        ..GatewayToml::new(dir, w.dns_addr(), w.anchor_file())
    }
    .render();
    common::start_in_world(&text, "unusable.toml").await
}

async fn submit(to: SocketAddr, rcpt: &str, subject: &str) {
    let headers = format!("Subject: {subject}\r\n");
    common::submit(to, "alice@sender.test", rcpt, &headers).await;
}

/// The messages of `subject` each world server received: (host, over TLS).
fn received(subject: &str) -> Vec<(String, bool)> {
    common::received(subject)
        .into_iter()
        .map(|(s, m)| (s.fqdn.clone(), m.tls.is_some()))
        .collect()
}

/// Waits until `domain`'s recipient was delivered (true) or deferred after an attempt
/// (false).
async fn settled(gw: &Running, domain: &str, subject: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        let queued = gw.store().list(Some(domain), 10).await.unwrap();
        if queued.is_empty() && !received(subject).is_empty() {
            return true;
        }
        if queued.iter().any(|r| r.attempts >= 1 && !r.in_flight) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{domain}: not settled within {DEADLINE:?}");
}

#[test]
fn unusable_tlsa_through_the_gateway() {
    let cap = Captured::default();
    let sink = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();

        // Opportunistic, server with STARTTLS: delivered over TLS, unauthenticated, with
        // its own outcome in the log and the host status.
        let gw = gateway(&dir.path().join("o"), "opportunistic").await;
        let listener = gw.listeners()[0].1;
        submit(listener, "rcpt@unusable.dom.test", "unusable-o").await;
        assert!(
            settled(&gw, "unusable.dom.test", "unusable-o").await,
            "not delivered: {:?}",
            gw.store()
                .list(Some("unusable.dom.test"), 10)
                .await
                .unwrap()
        );
        assert_eq!(
            received("unusable-o"),
            vec![("unusable.hosts.test".to_string(), true)]
        );
        let log = cap.text();
        assert!(
            log.lines().any(|l| l.contains(
                "DANE UNUSABLE TLSA: TLS mandatory, unauthenticated, to unusable.hosts.test"
            )),
            "{log}"
        );
        // Not logged as DANE-authenticated (the appliance's "TLS success ... for" marker).
        assert!(
            !log.lines()
                .any(|l| l.contains("TLS success") && l.contains(" for unusable.dom.test")),
            "{log}"
        );
        let o = gw.last_outcomes();
        assert_eq!(o["unusable.dom.test"].dane, "DANE UNUSABLE TLSA");
        assert!(o["unusable.dom.test"].tls.is_some());

        // Opportunistic, server without STARTTLS: deferred, never plain text, although
        // TLS Support "preferred" alone would send in clear.
        submit(listener, "rcpt@unusablenotls.dom.test", "unusable-notls").await;
        assert!(!settled(&gw, "unusablenotls.dom.test", "unusable-notls").await);
        assert!(received("unusable-notls").is_empty());
        let q = gw
            .store()
            .list(Some("unusablenotls.dom.test"), 10)
            .await
            .unwrap();
        let reason = q[0].last_reason.clone().unwrap_or_default();
        assert!(reason.starts_with("4."), "{reason}");
        assert!(
            reason.contains("DANE FAILED for unusablenotls.dom.test"),
            "{reason}"
        );
        let cmds = MailWorld::get().sink("unusablenotls").commands();
        assert!(!cmds.iter().any(|c| c.starts_with("MAIL")), "{cmds:?}");
        gw.shutdown().await;

        // Mandatory: DANE FAIL, nothing sent.
        let gw = gateway(&dir.path().join("m"), "mandatory").await;
        let listener = gw.listeners()[0].1;
        submit(listener, "rcpt@unusable.dom.test", "unusable-m").await;
        assert!(!settled(&gw, "unusable.dom.test", "unusable-m").await);
        assert!(received("unusable-m").is_empty());
        let q = gw
            .store()
            .list(Some("unusable.dom.test"), 10)
            .await
            .unwrap();
        let reason = q[0].last_reason.clone().unwrap_or_default();
        assert!(
            reason.contains("DANE FAILED for unusable.dom.test"),
            "{reason}"
        );
        gw.shutdown().await;
    });
}
