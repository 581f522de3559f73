//! RFC 5011 trust-anchor tracking against the signed test world: a standby root KSK is
//! learned after the add hold-down (simulated with an injected clock), a revoked root KSK
//! stops being trusted, and the state survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use danegate_dns::{
    KeyState, Name, RecordType, Resolver, ResolverConfig, Security, TrustAnchors, UpstreamConfig,
    rfc5011::{ADD_HOLD_DOWN, Clock, STATE_FILE},
};
use danegate_testkit::dns::{DnsServer, ServerOptions, SignedWorld, World};

const DAY: u64 = 86_400;

fn world(f: impl FnOnce(&mut World)) -> (SignedWorld, DnsServer) {
    let mut w = World::new();
    w.zone("test.").records("www 300 IN A 192.0.2.1\n");
    f(&mut w);
    let world = w.build();
    let server = world.serve(ServerOptions::default());
    (world, server)
}

fn resolver(
    server: &DnsServer,
    anchors: TrustAnchors,
    dir: Option<&std::path::Path>,
    clock: &Arc<AtomicU64>,
) -> Resolver {
    let mut c = ResolverConfig::new(
        vec![UpstreamConfig {
            addr: server.addr(),
            priority: 0,
        }],
        anchors,
    );
    c.timeout = Duration::from_secs(2);
    c.state_dir = dir.map(|d| d.to_path_buf());
    let clock = clock.clone();
    c.rfc5011_clock = Some(Clock::from_fn(move || clock.load(Ordering::SeqCst)));
    Resolver::new(c)
}

async fn www(r: &Resolver) -> Security {
    r.lookup(&Name::from_str("www.test.").unwrap(), RecordType::A)
        .await
        .unwrap()
        .security
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn anchors(text: &str) -> TrustAnchors {
    TrustAnchors::parse(text, "test").unwrap()
}

#[tokio::test]
async fn standby_ksk_is_learned_after_the_hold_down() {
    let (w, server) = world(|w| {
        w.zone(".").standby_ksk();
    });
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let clock = Arc::new(AtomicU64::new(t0));
    let old = || anchors(&w.trust_anchor_ds());

    // First sight: the configured KSK is Valid, the standby KSK AddPend (persisted).
    let r = resolver(&server, old(), Some(dir.path()), &clock);
    assert_eq!(www(&r).await, Security::Secure);
    let st = r.anchor_state();
    assert_eq!(st.len(), 2, "{st:?}");
    let configured = st.iter().find(|s| s.configured).unwrap();
    assert_eq!(configured.key_tag, w.root_key_tag());
    assert_eq!(configured.state, KeyState::Valid);
    let standby = st.iter().find(|s| !s.configured).unwrap();
    assert_eq!(standby.state, KeyState::AddPend);
    assert_eq!(standby.zone, ".");
    assert_eq!(standby.hold_down_until, Some(t0 + ADD_HOLD_DOWN));
    let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
    assert!(text.contains("addpend"), "{text}");

    // Restart 10 days later: still pending, and not trusted without the old anchor.
    clock.store(t0 + 10 * DAY, Ordering::SeqCst);
    let r = resolver(&server, old(), Some(dir.path()), &clock);
    assert_eq!(www(&r).await, Security::Secure);
    let st = r.anchor_state();
    assert!(
        st.iter()
            .any(|s| s.key_tag == standby.key_tag && s.state == KeyState::AddPend),
        "{st:?}"
    );
    let r = resolver(&server, TrustAnchors::builtin(), Some(dir.path()), &clock);
    assert!(matches!(www(&r).await, Security::Bogus(_)));

    // 31 days: the next validated DNSKEY RRset makes the standby key Valid.
    clock.store(t0 + 31 * DAY, Ordering::SeqCst);
    let r = resolver(&server, old(), Some(dir.path()), &clock);
    assert_eq!(www(&r).await, Security::Secure);
    let st = r.anchor_state();
    assert!(
        st.iter()
            .any(|s| s.key_tag == standby.key_tag && s.state == KeyState::Valid),
        "{st:?}"
    );

    // The old anchor removed from the configuration: the learned key carries the trust.
    let r = resolver(&server, TrustAnchors::builtin(), Some(dir.path()), &clock);
    assert_eq!(www(&r).await, Security::Secure);
    // Without the state it would not.
    let r = resolver(&server, TrustAnchors::builtin(), None, &clock);
    assert!(matches!(www(&r).await, Security::Bogus(_)));
    assert!(r.anchor_state().is_empty());
}

#[tokio::test]
async fn revoked_ksk_is_no_longer_trusted() {
    let (w, server) = world(|w| {
        w.zone(".").revoked_ksk();
    });
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(now()));
    let both = format!(
        "{}{}",
        w.trust_anchor_ds(),
        w.standby_dnskey_line(".").unwrap()
    );
    let r = resolver(&server, anchors(&both), Some(dir.path()), &clock);
    assert_eq!(www(&r).await, Security::Secure);
    let st = r.anchor_state();
    let old = st.iter().find(|s| s.key_tag == w.root_key_tag()).unwrap();
    assert_eq!(old.state, KeyState::Revoked, "{st:?}");
    assert!(
        st.iter()
            .any(|s| s.key_tag != w.root_key_tag() && s.state == KeyState::Valid)
    );
    let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
    assert!(text.contains("revoked"), "{text}");

    // After a restart the revocation is remembered, and the revoked anchor alone
    // validates nothing.
    let r = resolver(
        &server,
        anchors(&w.trust_anchor_dnskey()),
        Some(dir.path()),
        &clock,
    );
    assert!(matches!(www(&r).await, Security::Bogus(_)));
    assert!(
        r.anchor_state()
            .iter()
            .any(|s| s.key_tag == w.root_key_tag() && s.state == KeyState::Revoked)
    );
}

#[tokio::test]
async fn corrupt_state_file_falls_back_to_configured_anchors() {
    let (w, server) = world(|_| {});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STATE_FILE), "{\"version\": 1, \"zones\": [").unwrap();
    let clock = Arc::new(AtomicU64::new(now()));
    let r = resolver(
        &server,
        anchors(&w.trust_anchor_ds()),
        Some(dir.path()),
        &clock,
    );
    assert_eq!(www(&r).await, Security::Secure);
    assert!(dir.path().join("trust-anchors.json.corrupt").exists());
    assert_eq!(r.anchor_state().len(), 1);
    assert_eq!(r.anchor_state()[0].state, KeyState::Valid);
}
