//! The validator against the signed test world: every status, proven by real
//! signatures from a private root, served by an in-process recursive-like server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    str::FromStr,
    sync::OnceLock,
    time::{Duration, Instant},
};

use danegate_dns::{
    AnswerKind, BogusReason, Capability, LookupError, Name, RecordType, Resolver, ResolverConfig,
    Security, TrustAnchors, UpstreamConfig,
};
use danegate_testkit::dns::{
    Alg, Denial, DnsServer, DsMode, Fault, ServerOptions, SignedWorld, World,
};

const NSEC3: Denial = Denial::Nsec3 {
    iterations: 0,
    salt: Vec::new(),
    opt_out: false,
};

fn nsec3_opt_out() -> Denial {
    Denial::Nsec3 {
        iterations: 0,
        salt: vec![0xab, 0xcd],
        opt_out: true,
    }
}

const BASIC: &str =
    "@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.25\nmail 300 IN AAAA 2001:db8::25\n";

fn build_world() -> SignedWorld {
    let mut w = World::new();
    w.zone("test.");
    w.zone("rsa.test.").alg(Alg::RsaSha256).records(BASIC);
    w.zone("ed.test.").alg(Alg::Ed25519).records(BASIC);
    w.zone("nsec.test.").records(
        "@ 300 IN MX 10 mail\n\
         mail 300 IN A 192.0.2.25\n\
         v4only 300 IN A 192.0.2.4\n\
         alias 300 IN CNAME mail\n\
         v4alias 300 IN CNAME v4only\n\
         toplain 300 IN CNAME www.plain.test.\n\
         torsa 300 IN CNAME mail.rsa.test.\n\
         tonx 300 IN CNAME nothere\n\
         *.wild 300 IN TXT \"wild\"\n\
         a.b.deep 300 IN TXT \"deep\"\n",
    );
    w.zone("n3.test.").denial(NSEC3).records(
        "@ 300 IN MX 10 mail\n\
         mail 300 IN A 192.0.2.26\n\
         v4only 300 IN A 192.0.2.4\n\
         v4alias 300 IN CNAME v4only\n\
         *.wild 300 IN TXT \"wild3\"\n",
    );
    w.zone("plain.test.")
        .unsigned()
        .records("www 300 IN A 192.0.2.80\n");
    w.zone("plain.n3.test.")
        .unsigned()
        .records("www 300 IN A 192.0.2.81\n");
    w.zone("oo.test.")
        .denial(nsec3_opt_out())
        .records("mail 300 IN A 192.0.2.82\n");
    w.zone("plain.oo.test.")
        .unsigned()
        .records("www 300 IN A 192.0.2.83\n");
    w.zone("expired.test.")
        .records("www 300 IN A 192.0.2.90\n")
        .fault("www", RecordType::A, Fault::ExpiredSignature);
    w.zone("future.test.")
        .records("www 300 IN A 192.0.2.91\n")
        .fault("www", RecordType::A, Fault::NotYetValid);
    w.zone("mismatch.test.")
        .ds(DsMode::Mismatch)
        .records("www 300 IN A 192.0.2.92\n");
    w.zone("nosig.test.")
        .records("www 300 IN A 192.0.2.93\n")
        .fault("www", RecordType::A, Fault::MissingSignature);
    w.zone("wrongsigner.test.")
        .records("www 300 IN A 192.0.2.94\n")
        .fault("www", RecordType::A, Fault::WrongSigner);
    w.zone("tampered.test.")
        .records("www 300 IN A 192.0.2.95\n")
        .fault("www", RecordType::A, Fault::TamperedRdata);
    w.zone("baddenial.test.")
        .bad_denial()
        .records("www 300 IN A 192.0.2.96\n");
    w.zone("unsup.test.")
        .alg(Alg::Unsupported(253))
        .records("www 300 IN A 192.0.2.97\n");
    w.zone("island.test.")
        .ds(DsMode::None)
        .records("www 300 IN A 192.0.2.98\n");
    w.zone("lame.test.").lame();
    w.zone("keytrap.test.")
        .colliding_keys(24)
        .records("www 300 IN A 192.0.2.99\n");
    w.zone("iter.test.")
        .denial(Denial::Nsec3 {
            iterations: 500,
            salt: vec![1, 2, 3, 4],
            opt_out: false,
        })
        .records("www 300 IN A 192.0.2.100\n");
    let mut big = String::new();
    for i in 0..40 {
        big.push_str(&format!(
            "txt 300 IN TXT \"record {i:02} padding padding padding padding padding\"\n"
        ));
    }
    w.zone("big.test.").alg(Alg::RsaSha256).records(&big);
    w.build()
}

struct Fixture {
    world: SignedWorld,
    server: DnsServer,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let world = build_world();
        let server = world.serve(ServerOptions::default());
        Fixture { world, server }
    })
}

fn anchors(world: &SignedWorld) -> TrustAnchors {
    TrustAnchors::parse(&world.trust_anchor_ds(), "test anchor").unwrap()
}

fn resolver_for(upstreams: Vec<UpstreamConfig>) -> Resolver {
    let mut config = ResolverConfig::new(upstreams, anchors(&fixture().world));
    config.timeout = Duration::from_millis(700);
    Resolver::new(config)
}

fn resolver() -> Resolver {
    resolver_for(vec![UpstreamConfig {
        addr: fixture().server.addr(),
        priority: 0,
    }])
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

async fn look(name: &str, t: RecordType) -> danegate_dns::Answer {
    resolver()
        .lookup(&n(name), t)
        .await
        .unwrap_or_else(|e| panic!("{name} {t}: {e}"))
}

fn assert_bogus(a: &danegate_dns::Answer, pred: impl Fn(&BogusReason) -> bool) {
    match &a.security {
        Security::Bogus(r) if pred(r) => {}
        other => panic!(
            "{} {}: expected a specific BOGUS, got {other:?}",
            a.qname, a.qtype
        ),
    }
}

// ---- secure answers, three algorithms ----

#[tokio::test]
async fn secure_with_algorithms_8_13_15() {
    for zone in ["rsa.test.", "nsec.test.", "ed.test."] {
        let a = look(zone, RecordType::MX).await;
        assert_eq!(a.security, Security::Secure, "{zone}");
        assert_eq!(a.kind, AnswerKind::Data);
        assert_eq!(a.records.len(), 1);
        let a = look(&format!("mail.{zone}"), RecordType::A).await;
        assert_eq!(a.security, Security::Secure, "mail.{zone}");
    }
}

#[tokio::test]
async fn dnskey_trust_anchor_works_like_ds() {
    let f = fixture();
    let anchors = TrustAnchors::parse(&f.world.trust_anchor_dnskey(), "dnskey anchor").unwrap();
    let r = Resolver::new(ResolverConfig::new(
        vec![UpstreamConfig {
            addr: f.server.addr(),
            priority: 0,
        }],
        anchors,
    ));
    let a = r
        .lookup(&n("mail.nsec.test."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(a.security, Security::Secure);
}

#[tokio::test]
async fn a_foreign_trust_anchor_makes_everything_bogus() {
    let f = fixture();
    // The real root's anchors do not match the private root.
    let r = Resolver::new(ResolverConfig::new(
        vec![UpstreamConfig {
            addr: f.server.addr(),
            priority: 0,
        }],
        TrustAnchors::builtin(),
    ));
    let a = r
        .lookup(&n("mail.nsec.test."), RecordType::A)
        .await
        .unwrap();
    assert_bogus(&a, |r| matches!(r, BogusReason::DsMismatch(_)));
}

// ---- insecure delegations ----

#[tokio::test]
async fn insecure_delegation_proven_by_nsec() {
    let a = look("www.plain.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Insecure);
    assert_eq!(a.records.len(), 1);
}

#[tokio::test]
async fn insecure_delegation_proven_by_nsec3() {
    let a = look("www.plain.n3.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Insecure);
}

#[tokio::test]
async fn insecure_delegation_in_nsec3_opt_out_span() {
    let a = look("www.plain.oo.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Insecure);
    // while the opt-out zone's own data is secure
    let a = look("mail.oo.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure);
}

#[tokio::test]
async fn unsupported_algorithm_is_insecure() {
    let a = look("www.unsup.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Insecure);
}

#[tokio::test]
async fn signed_island_without_ds_is_insecure() {
    let a = look("www.island.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Insecure);
}

// ---- bogus ----

#[tokio::test]
async fn expired_signature_is_bogus() {
    let a = look("www.expired.test.", RecordType::A).await;
    assert_bogus(&a, |r| matches!(r, BogusReason::SignatureExpired(_)));
}

#[tokio::test]
async fn not_yet_valid_signature_is_bogus() {
    let a = look("www.future.test.", RecordType::A).await;
    assert_bogus(&a, |r| matches!(r, BogusReason::SignatureNotYetValid(_)));
}

#[tokio::test]
async fn ds_mismatch_is_bogus() {
    let a = look("www.mismatch.test.", RecordType::A).await;
    assert_bogus(&a, |r| matches!(r, BogusReason::DsMismatch(_)));
}

#[tokio::test]
async fn missing_signature_is_bogus() {
    let a = look("www.nosig.test.", RecordType::A).await;
    assert_bogus(&a, |r| matches!(r, BogusReason::MissingSignature(_)));
}

#[tokio::test]
async fn wrong_signer_is_bogus() {
    let a = look("www.wrongsigner.test.", RecordType::A).await;
    assert_bogus(&a, |r| matches!(r, BogusReason::NoMatchingDnskey(_)));
}

#[tokio::test]
async fn tampered_rdata_is_bogus() {
    let a = look("www.tampered.test.", RecordType::A).await;
    assert_bogus(&a, |r| matches!(r, BogusReason::BadSignature(_)));
}

#[tokio::test]
async fn bad_nsec_proof_is_bogus() {
    let a = look("nothere.baddenial.test.", RecordType::A).await;
    assert_eq!(a.kind, AnswerKind::NxDomain);
    assert_bogus(&a, |r| matches!(r, BogusReason::BadDenial(_)));
    let a = look("www.baddenial.test.", RecordType::TXT).await;
    assert_eq!(a.kind, AnswerKind::NoData);
    assert_bogus(&a, |r| matches!(r, BogusReason::BadDenial(_)));
}

// ---- proven absence ----

#[tokio::test]
async fn secure_nxdomain_and_nodata_with_nsec() {
    let a = look("nothere.nsec.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NxDomain, Security::Secure)
    );
    let a = look("mail.nsec.test.", RecordType::TLSA).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NoData, Security::Secure)
    );
    // an empty non-terminal
    let a = look("b.deep.nsec.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NoData, Security::Secure)
    );
    // and the TLSA name of an MX host without TLSA
    let a = look("_25._tcp.mail.nsec.test.", RecordType::TLSA).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NxDomain, Security::Secure)
    );
}

#[tokio::test]
async fn secure_nxdomain_and_nodata_with_nsec3() {
    let a = look("nothere.n3.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NxDomain, Security::Secure)
    );
    let a = look("mail.n3.test.", RecordType::TLSA).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NoData, Security::Secure)
    );
}

#[tokio::test]
async fn nsec3_iterations_above_the_cap_are_insecure() {
    let a = look("nothere.iter.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NxDomain, Security::Insecure)
    );
}

#[tokio::test]
async fn wildcard_answers_with_their_proof() {
    let a = look("anything.wild.nsec.test.", RecordType::TXT).await;
    assert_eq!(a.security, Security::Secure);
    assert_eq!(a.records[0].name, n("anything.wild.nsec.test."));
    let a = look("anything.wild.n3.test.", RecordType::TXT).await;
    assert_eq!(a.security, Security::Secure);
    // wildcard NODATA
    let a = look("anything.wild.nsec.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NoData, Security::Secure)
    );
}

// ---- CNAME chains ----

#[tokio::test]
async fn cname_secure_to_secure() {
    let a = look("alias.nsec.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure);
    assert_eq!(a.chain.len(), 1);
    assert_eq!(a.final_name(), &n("mail.nsec.test."));
    let a = look("torsa.nsec.test.", RecordType::A).await;
    assert_eq!(
        a.security,
        Security::Secure,
        "cross-zone chain to an RSA zone"
    );
}

#[tokio::test]
async fn cname_secure_to_insecure() {
    let a = look("toplain.nsec.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Insecure);
    assert_eq!(a.chain[0].security, Security::Secure);
    assert_eq!(a.records.len(), 1);
}

#[tokio::test]
async fn cname_then_nodata_is_secure_nodata() {
    // hickory's validator gets this one wrong (it checks the proof against the alias).
    let a = look("v4alias.nsec.test.", RecordType::AAAA).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NoData, Security::Secure)
    );
    assert_eq!(a.final_name(), &n("v4only.nsec.test."));
    let a = look("v4alias.n3.test.", RecordType::AAAA).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NoData, Security::Secure)
    );
    let a = look("tonx.nsec.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::NxDomain, Security::Secure)
    );
}

// ---- misbehaving upstreams ----

#[tokio::test]
async fn upstream_that_strips_dnssec_is_reported_and_not_used() {
    let f = fixture();
    let stripping = f.world.serve(ServerOptions {
        strip_dnssec: true,
        ..Default::default()
    });
    // only the stripping one: no usable upstream, a temporary failure, never insecure
    let r = resolver_for(vec![UpstreamConfig {
        addr: stripping.addr(),
        priority: 0,
    }]);
    let e = r
        .lookup(&n("mail.nsec.test."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(e, LookupError::NoUpstream(_)), "{e:?}");
    assert_eq!(r.upstream_status()[0].1, Capability::StripsDnssec);
    // with a good one at lower priority, the good one is used
    let r = resolver_for(vec![
        UpstreamConfig {
            addr: stripping.addr(),
            priority: 0,
        },
        UpstreamConfig {
            addr: f.server.addr(),
            priority: 5,
        },
    ]);
    let a = r
        .lookup(&n("mail.nsec.test."), RecordType::A)
        .await
        .unwrap();
    assert_eq!(a.security, Security::Secure);
    assert_eq!(
        stripping.queries(),
        2,
        "only the probes went to the stripping upstream"
    );
}

#[tokio::test]
async fn silent_upstream_fails_over_to_the_next_priority() {
    let f = fixture();
    let silent = f.world.serve(ServerOptions {
        silent: true,
        ..Default::default()
    });
    let r = resolver_for(vec![
        UpstreamConfig {
            addr: silent.addr(),
            priority: 1,
        },
        UpstreamConfig {
            addr: f.server.addr(),
            priority: 2,
        },
    ]);
    let started = Instant::now();
    let a = r.lookup(&n("mail.ed.test."), RecordType::A).await.unwrap();
    assert_eq!(a.security, Security::Secure);
    assert_eq!(r.upstream_status()[0].1, Capability::Unreachable);
    // the silent one is penalised after its first timeout: one timeout, not one per query
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // only the silent one: a temporary failure
    let r = resolver_for(vec![UpstreamConfig {
        addr: silent.addr(),
        priority: 1,
    }]);
    let e = r
        .lookup(&n("mail.ed.test."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(e, LookupError::Timeout(_)), "{e:?}");
}

#[tokio::test]
async fn servfail_and_lame_delegations_are_temporary_failures() {
    let e = resolver()
        .lookup(&n("www.lame.test."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(e, LookupError::ServFail { .. }), "{e:?}");
    let f = fixture();
    let sf = f.world.serve(ServerOptions {
        servfail: vec![("mail.nsec.test.".into(), RecordType::A)],
        ..Default::default()
    });
    let r = resolver_for(vec![UpstreamConfig {
        addr: sf.addr(),
        priority: 0,
    }]);
    let e = r
        .lookup(&n("mail.nsec.test."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(e, LookupError::ServFail { .. }), "{e:?}");
    // a CNAME chain whose target SERVFAILs is a temporary failure too
    let e = r
        .lookup(&n("alias.nsec.test."), RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(e, LookupError::ServFail { .. }), "{e:?}");
}

#[tokio::test]
async fn answers_larger_than_1232_bytes_come_over_tcp() {
    let a = look("txt.big.test.", RecordType::TXT).await;
    assert_eq!(a.security, Security::Secure);
    assert_eq!(a.records.len(), 40);
}

#[tokio::test]
async fn keytrap_zone_is_bogus_within_budget() {
    let started = Instant::now();
    let a = look("www.keytrap.test.", RecordType::A).await;
    assert!(matches!(a.security, Security::Bogus(_)), "{:?}", a.security);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn answers_are_cached() {
    let f = fixture();
    let own = f.world.serve(ServerOptions::default());
    let r = resolver_for(vec![UpstreamConfig {
        addr: own.addr(),
        priority: 0,
    }]);
    let a = r.lookup(&n("mail.rsa.test."), RecordType::A).await.unwrap();
    assert_eq!(a.security, Security::Secure);
    let after_first = own.queries();
    let b = r.lookup(&n("mail.rsa.test."), RecordType::A).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(
        own.queries(),
        after_first,
        "second lookup answered from cache"
    );
    // a sibling name reuses the validated zone keys: one query only
    r.lookup(&n("rsa.test."), RecordType::MX).await.unwrap();
    assert_eq!(own.queries(), after_first + 1);
}

#[tokio::test]
async fn garbage_answers_are_named_in_the_error() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((_, peer)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(b"\x12\x34garbage, not DNS", peer);
        }
    });
    let r = resolver_for(vec![UpstreamConfig { addr, priority: 0 }]);
    let e = r
        .lookup(&n("mail.nsec.test."), RecordType::A)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, LookupError::Timeout(_)), "{e:?}");
    assert!(text.contains("malformed DNS message"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
}

#[tokio::test]
async fn equal_priorities_share_the_load() {
    let f = fixture();
    let a = f.world.serve(ServerOptions::default());
    let b = f.world.serve(ServerOptions::default());
    let r = resolver_for(vec![
        UpstreamConfig {
            addr: a.addr(),
            priority: 3,
        },
        UpstreamConfig {
            addr: b.addr(),
            priority: 3,
        },
    ]);
    for zone in [
        "rsa.test.",
        "ed.test.",
        "nsec.test.",
        "n3.test.",
        "oo.test.",
    ] {
        for host in ["", "mail.", "nothere.", "www."] {
            let _ = r.lookup(&n(&format!("{host}{zone}")), RecordType::A).await;
        }
    }
    let (qa, qb) = (a.queries(), b.queries());
    assert!(qa > 5 && qb > 5, "both upstreams used: {qa} / {qb}");
}

#[tokio::test]
async fn truncated_answers_go_over_tcp_with_several_upstreams() {
    let f = fixture();
    let silent = f.world.serve(ServerOptions {
        silent: true,
        ..Default::default()
    });
    let other = f.world.serve(ServerOptions::default());
    let r = resolver_for(vec![
        UpstreamConfig {
            addr: f.server.addr(),
            priority: 0,
        },
        UpstreamConfig {
            addr: other.addr(),
            priority: 0,
        },
        UpstreamConfig {
            addr: silent.addr(),
            priority: 9,
        },
    ]);
    let a = r
        .lookup(&n("txt.big.test."), RecordType::TXT)
        .await
        .unwrap();
    assert_eq!(
        (a.security.clone(), a.records.len()),
        (Security::Secure, 40)
    );
}

#[tokio::test]
async fn the_probe_answer_starts_the_chain() {
    // The DNSSEC probe asks the anchored zone's DNSKEY; the chain walk that follows asks
    // the same question, and takes the probe's answer (validated as usual) instead of a
    // second round trip.
    let f = fixture();
    let own = f.world.serve(ServerOptions::default());
    let r = resolver_for(vec![UpstreamConfig {
        addr: own.addr(),
        priority: 0,
    }]);
    r.probe().await;
    assert_eq!(own.queries(), 1, "the probe: . DNSKEY");
    let a = r.lookup(&n("."), RecordType::DNSKEY).await.unwrap();
    assert_eq!(a.security, Security::Secure);
    assert_eq!(
        own.queries(),
        2,
        "the chain reused the probe's . DNSKEY answer"
    );
}
