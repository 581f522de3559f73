//! Delivery without DANE (TLS Support): every mode against every server
//! behaviour, delivering a real message and checking on the receiving side whether it
//! came over TLS or in clear; and the candidate lists from DNS (signed test world) and
//! from SMTP routes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, OnceLock},
    time::Duration,
};

use danegate_delivery::{
    Candidate, Event, IpPreference, Options, TlsContext, TlsSupport, candidates_from_dns,
    candidates_from_route, open_first_session, open_session,
};
use danegate_dns::Resolver;
use danegate_smtp::Timeouts;
use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{DnsServer, Fault, ServerOptions, SignedWorld, World},
    smtp::{SinkOptions, SmtpSink, StartTlsMode},
};
use danegate_tls::VerifyOutcome;
use hickory_proto::rr::RecordType;

const MX: &str = "mx.example.test";
const DOMAIN: &str = "example.test";
const ROUTE: &str = "relay.route.test";

/// How the test server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// STARTTLS with a trusted certificate for the MX host name.
    TlsMxName,
    /// STARTTLS with a trusted certificate for the recipient domain only.
    TlsDomainName,
    /// STARTTLS with a certificate for the MX host name from an untrusted CA.
    TlsUntrusted,
    /// STARTTLS with a trusted certificate for an unrelated name.
    TlsWrongName,
    /// No STARTTLS in the EHLO reply.
    NotOffered,
    /// STARTTLS answered with 454 (before the 220).
    Refused,
    /// The connection is closed when STARTTLS arrives (before the 220).
    DropAtStartTls,
    /// 220, then a handshake that cannot succeed: the server only has TLS 1.2
    /// ECDHE-RSA suites but an ECDSA certificate (after the 220).
    HandshakeFails,
}

const SERVERS: [Server; 8] = [
    Server::TlsMxName,
    Server::TlsDomainName,
    Server::TlsUntrusted,
    Server::TlsWrongName,
    Server::NotOffered,
    Server::Refused,
    Server::DropAtStartTls,
    Server::HandshakeFails,
];

/// What must happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Delivered over TLS, the certificate verified by PKIX.
    TlsVerified,
    /// Delivered over TLS, certificate not checked.
    TlsUnchecked,
    /// Delivered over TLS although PKIX verification failed (Preferred-Verify).
    TlsVerifyFailed,
    /// Delivered in clear text.
    Clear,
    /// Not delivered: temporary failure with this enhanced code.
    Refused(&'static str),
}

use Want::{Clear, Refused, TlsUnchecked, TlsVerified, TlsVerifyFailed};

const TLS_FAIL: Want = Refused("4.7.5");
const LOST: Want = Refused("4.4.2");

/// Expected outcome per server, in the order of [`TlsSupport::ALL`]: None, Preferred,
/// Required, Preferred-Verify, Required-Verify, Required-Verify-Hosted-Domains.
fn expected(server: Server) -> [Want; 6] {
    match server {
        Server::TlsMxName => [
            Clear,
            TlsUnchecked,
            TlsUnchecked,
            TlsVerified,
            TlsVerified,
            TLS_FAIL,
        ],
        Server::TlsDomainName => [
            Clear,
            TlsUnchecked,
            TlsUnchecked,
            TlsVerified,
            TlsVerified,
            TlsVerified,
        ],
        Server::TlsUntrusted | Server::TlsWrongName => [
            Clear,
            TlsUnchecked,
            TlsUnchecked,
            TlsVerifyFailed,
            TLS_FAIL,
            TLS_FAIL,
        ],
        Server::NotOffered | Server::Refused => [Clear, Clear, TLS_FAIL, Clear, TLS_FAIL, TLS_FAIL],
        // Before the 220, but nothing left to go on in clear with.
        Server::DropAtStartTls => [Clear, LOST, LOST, LOST, LOST, LOST],
        // After the 220: never clear text.
        Server::HandshakeFails => [Clear, TLS_FAIL, TLS_FAIL, TLS_FAIL, TLS_FAIL, TLS_FAIL],
    }
}

struct Certs {
    mx: TestChain,
    domain: TestChain,
    untrusted: TestChain,
    wrong: TestChain,
    route: TestChain,
    roots: Arc<Vec<rustls_pki_types::TrustAnchor<'static>>>,
}

fn certs() -> &'static Certs {
    static C: OnceLock<Certs> = OnceLock::new();
    C.get_or_init(|| {
        let mx = TestChain::for_names(&[MX]);
        let domain = TestChain::for_names(&[DOMAIN]);
        let untrusted = TestChain::for_names(&[MX]);
        let wrong = TestChain::for_names(&["unrelated.example"]);
        let route = TestChain::for_names(&[ROUTE]);
        // The CAs of the trusted chains are the only roots (not the untrusted one's).
        let cas: Vec<_> = [&mx, &domain, &wrong, &route]
            .iter()
            .map(|c| c.ca.as_ref().unwrap().der.clone())
            .collect();
        let roots = Arc::new(TlsContext::anchors_from_der(&cas).unwrap());
        Certs {
            mx,
            domain,
            untrusted,
            wrong,
            route,
            roots,
        }
    })
}

/// A server config that completes no handshake with our client: TLS 1.2 with ECDHE-RSA
/// suites only, and an ECDSA certificate.
fn broken_server_config(chain: &TestChain) -> Arc<rustls::ServerConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        rustls::crypto::ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        rustls::crypto::ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            chain.presented(Presented::LeafAndIntermediate),
            chain.leaf.private_key(),
        )
        .unwrap();
    Arc::new(cfg)
}

fn sink_options(server: Server) -> SinkOptions {
    let c = certs();
    let cfg =
        |chain: &TestChain| chain.server_config(TlsVersions::Both, Presented::LeafAndIntermediate);
    let (tls, starttls) = match server {
        Server::TlsMxName => (Some(cfg(&c.mx)), StartTlsMode::Offer),
        Server::TlsDomainName => (Some(cfg(&c.domain)), StartTlsMode::Offer),
        Server::TlsUntrusted => (Some(cfg(&c.untrusted)), StartTlsMode::Offer),
        Server::TlsWrongName => (Some(cfg(&c.wrong)), StartTlsMode::Offer),
        Server::NotOffered => (Some(cfg(&c.mx)), StartTlsMode::NotOffered),
        Server::Refused => (Some(cfg(&c.mx)), StartTlsMode::Refuse),
        Server::DropAtStartTls => (Some(cfg(&c.mx)), StartTlsMode::DropConnection),
        Server::HandshakeFails => (Some(broken_server_config(&c.mx)), StartTlsMode::Offer),
    };
    SinkOptions {
        hostname: MX.into(),
        tls,
        starttls,
        ..SinkOptions::default()
    }
}

fn options() -> Options {
    Options {
        timeouts: Timeouts::uniform(Duration::from_secs(5)),
        helo_name: "client.test".into(),
        shuffle: false,
        ..Options::default()
    }
}

const BODY: &[u8] = b"Subject: tls support test\r\n\r\nhello\r\n";

/// What one attempt did, as seen by both sides.
struct Seen {
    result: Result<Want, String>,
    events: Vec<Event>,
    commands: Vec<String>,
    messages: usize,
    connections: usize,
}

/// Opens a session to a fresh sink behaving as `server`, delivers one message over it,
/// and reports what happened.
async fn attempt(server: Server, mode: TlsSupport, ctx: &TlsContext, host: &str) -> Seen {
    let sink = SmtpSink::start(sink_options(server));
    let cand = Candidate {
        host: host.into(),
        addr: sink.addr(),
    };
    let mut events = Vec::new();
    let r = open_session(&cand, mode, ctx, &options(), &mut |e| {
        events.push(e.clone())
    })
    .await;
    let result = match r {
        Err(e) => {
            assert!(e.temporary, "{server:?} {mode}: {e:?} should be temporary");
            Ok(Refused(e.enhanced))
        }
        Ok(mut s) => {
            let d = s
                .client
                .send("sender@client.test", &["rcpt@example.test"], BODY)
                .await;
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    return Seen {
                        result: Err(format!("send failed: {e}")),
                        events,
                        commands: sink.commands(),
                        messages: sink.messages().len(),
                        connections: sink.connections(),
                    };
                }
            };
            assert!(d.all_delivered(), "{server:?} {mode}: {d:?}");
            let msgs = sink.wait_for_messages(1, Duration::from_secs(5));
            let over_tls = msgs.first().map(|m| m.tls.is_some());
            let _ = s.client.quit().await;
            match (over_tls, &s.verification) {
                (Some(false), VerifyOutcome::Unchecked)
                    if s.protocol == "none" && s.cipher.is_empty() =>
                {
                    Ok(Clear)
                }
                (Some(true), v) if s.protocol.starts_with("TLSv") && !s.cipher.is_empty() => {
                    match v {
                        VerifyOutcome::Pkix { .. } => Ok(TlsVerified),
                        VerifyOutcome::Unchecked => Ok(TlsUnchecked),
                        VerifyOutcome::Failed(_) => Ok(TlsVerifyFailed),
                        VerifyOutcome::Dane(_) => Err("DANE outcome without DANE".into()),
                    }
                }
                other => Err(format!(
                    "inconsistent: message over TLS {:?}, session protocol {:?} cipher {:?} verification {}",
                    other.0, s.protocol, s.cipher, other.1
                )),
            }
        }
    };
    Seen {
        result,
        events,
        commands: sink.commands(),
        messages: sink.messages().len(),
        connections: sink.connections(),
    }
}

fn ctx_plain() -> TlsContext {
    TlsContext::with_roots(DOMAIN, None, certs().roots.clone())
}

#[tokio::test]
async fn every_mode_against_every_server() {
    let ctx = ctx_plain();
    let mut wrong = Vec::new();
    for server in SERVERS {
        for (mode, want) in TlsSupport::ALL.into_iter().zip(expected(server)) {
            let seen = attempt(server, mode, &ctx, MX).await;
            let lines: Vec<String> = seen.events.iter().map(|e| e.to_string()).collect();
            if seen.result != Ok(want) {
                wrong.push(format!(
                    "{server:?} × {mode}: want {want:?}, got {:?}\n    {}\n    commands: {:?}",
                    seen.result,
                    lines.join("\n    "),
                    seen.commands
                ));
                continue;
            }
            // Whatever happened, nothing was ever sent in clear after a STARTTLS that
            // the server accepted (or that failed after the 220).
            if let Some(i) = seen.commands.iter().position(|c| c == "STARTTLS") {
                let after = &seen.commands[i + 1..];
                let clear_after_220 =
                    matches!(server, Server::HandshakeFails | Server::DropAtStartTls)
                        && !after.is_empty();
                if clear_after_220 {
                    wrong.push(format!(
                        "{server:?} × {mode}: commands after a failed STARTTLS: {after:?}"
                    ));
                }
            }
            // None never sends STARTTLS.
            if mode == TlsSupport::None && seen.commands.iter().any(|c| c == "STARTTLS") {
                wrong.push(format!("{server:?} × none: STARTTLS sent"));
            }
            if mode != TlsSupport::None
                && matches!(
                    server,
                    Server::TlsMxName | Server::Refused | Server::HandshakeFails
                )
                && !seen.commands.iter().any(|c| c == "STARTTLS")
            {
                wrong.push(format!("{server:?} × {mode}: STARTTLS not tried"));
            }
            // Refused: no transaction at all, one connection only (no clear-text retry).
            if let Refused(_) = want {
                if seen.messages != 0 || seen.commands.iter().any(|c| c.starts_with("MAIL")) {
                    wrong.push(format!("{server:?} × {mode}: a transaction was started"));
                }
                if seen.connections != 1 {
                    wrong.push(format!(
                        "{server:?} × {mode}: {} connections",
                        seen.connections
                    ));
                }
                if !seen.events.iter().any(|e| {
                    matches!(
                        e,
                        Event::TlsPolicyFailed { .. } | Event::StartTlsFailed { .. }
                    )
                }) {
                    wrong.push(format!(
                        "{server:?} × {mode}: no failure event\n    {}",
                        lines.join("\n    ")
                    ));
                }
            }
            // Where the failure happened: after the 220 (handshake) or before it.
            let tls_failed = seen
                .events
                .iter()
                .any(|e| matches!(e, Event::TlsFailed { .. }));
            if mode != TlsSupport::None {
                let want_tls_failed = server == Server::HandshakeFails
                    || (mode.verification_required()
                        && matches!(server, Server::TlsUntrusted | Server::TlsWrongName)
                        || (mode == TlsSupport::RequiredVerifyHostedDomains
                            && server == Server::TlsMxName));
                if tls_failed != want_tls_failed {
                    wrong.push(format!(
                        "{server:?} × {mode}: TlsFailed event {tls_failed}, want {want_tls_failed}\n    {}",
                        lines.join("\n    ")
                    ));
                }
            }
            // The events say what the mode did.
            type Check = (&'static str, fn(&Event) -> bool);
            let needed: Vec<Check> = match (mode, want) {
                (TlsSupport::None, _) => vec![("TlsNotAttempted", |e| {
                    matches!(e, Event::TlsNotAttempted { .. })
                })],
                (_, Clear) => vec![("ClearTextFallback", |e| {
                    matches!(e, Event::ClearTextFallback { .. })
                })],
                (_, TlsVerifyFailed) => vec![
                    ("CertFailed", |e| matches!(e, Event::CertFailed { .. })),
                    ("CertFailureIgnored", |e| {
                        matches!(e, Event::CertFailureIgnored { .. })
                    }),
                ],
                (_, TlsVerified) => vec![("CertOk", |e| matches!(e, Event::CertOk { .. }))],
                (_, TlsUnchecked) => vec![("CertUnchecked", |e| {
                    matches!(e, Event::CertUnchecked { .. })
                })],
                _ => Vec::new(),
            };
            for (name, f) in needed {
                if !seen.events.iter().any(f) {
                    wrong.push(format!("{server:?} × {mode}: no {name} event"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn hosted_domains_accepts_the_route_host_where_a_route_applies() {
    let c = certs();
    let route_sink = |chain: &TestChain| {
        SmtpSink::start(SinkOptions {
            hostname: ROUTE.into(),
            tls: Some(chain.server_config(TlsVersions::Both, Presented::LeafAndIntermediate)),
            ..SinkOptions::default()
        })
    };
    let sink = route_sink(&c.route);
    let cand = Candidate {
        host: ROUTE.into(),
        addr: sink.addr(),
    };
    let opts = options();
    // Without a route the route host's name is not the recipient domain: refused.
    let no_route = ctx_plain();
    let e = open_session(
        &cand,
        TlsSupport::RequiredVerifyHostedDomains,
        &no_route,
        &opts,
        &mut |_| {},
    )
    .await
    .err()
    .expect("refused without a route");
    assert_eq!(e.enhanced, "4.7.5");
    // Required-Verify accepts the host name it connected to.
    let s = open_session(
        &cand,
        TlsSupport::RequiredVerify,
        &no_route,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("required-verify");
    assert!(
        matches!(s.verification, VerifyOutcome::Pkix { ref reference, .. } if reference == ROUTE)
    );
    let _ = s.client.quit().await;
    // With the route applying, its host name is acceptable.
    let routed = TlsContext::with_roots(DOMAIN, Some(ROUTE.into()), c.roots.clone());
    let mut s = open_session(
        &cand,
        TlsSupport::RequiredVerifyHostedDomains,
        &routed,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("hosted domains with the route host");
    let d = s
        .client
        .send("a@client.test", &["b@example.test"], BODY)
        .await
        .unwrap();
    assert!(d.all_delivered());
    let msgs = sink.wait_for_messages(1, Duration::from_secs(5));
    assert!(msgs[0].tls.is_some());
    // SNI is the host connected to.
    assert_eq!(msgs[0].tls.as_ref().unwrap().sni.as_deref(), Some(ROUTE));
    let _ = s.client.quit().await;
    // A certificate for the recipient domain stays acceptable on a route too.
    let sink2 = route_sink(&c.domain);
    let cand2 = Candidate {
        host: ROUTE.into(),
        addr: sink2.addr(),
    };
    let s = open_session(
        &cand2,
        TlsSupport::RequiredVerifyHostedDomains,
        &routed,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("recipient domain name on a route");
    let _ = s.client.quit().await;
}

#[tokio::test]
async fn unreachable_server_is_a_temporary_connect_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cand = Candidate {
        host: MX.into(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    for mode in TlsSupport::ALL {
        let e = open_session(&cand, mode, &ctx_plain(), &options(), &mut |_| {})
            .await
            .err()
            .expect("nothing listens");
        assert!(e.temporary);
        assert_eq!(e.enhanced, "4.4.1", "{mode}: {e}");
    }
}

#[tokio::test]
async fn default_webpki_roots_do_not_trust_test_cas() {
    let sink = SmtpSink::start(sink_options(Server::TlsMxName));
    let cand = Candidate {
        host: MX.into(),
        addr: sink.addr(),
    };
    let ctx = TlsContext::webpki_roots(DOMAIN, None);
    let e = open_session(
        &cand,
        TlsSupport::RequiredVerify,
        &ctx,
        &options(),
        &mut |_| {},
    )
    .await
    .err()
    .expect("test CA is not a public root");
    assert_eq!(e.enhanced, "4.7.5");
    assert!(sink.messages().is_empty());
}

// ---------------------------------------------------------------------------
// Candidates from DNS and from routes.

struct DnsFixture {
    _world: SignedWorld,
    dns: DnsServer,
    anchor: String,
    port: u16,
    _sinks: Vec<SmtpSink>,
}

fn dns_fixture() -> &'static DnsFixture {
    static F: OnceLock<DnsFixture> = OnceLock::new();
    F.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut w = World::new();
        w.zone("test.");
        w.zone("cand.test.")
            .records(
                "multi 300 IN MX 20 b.cand.test.\n\
                 multi 300 IN MX 10 a.cand.test.\n\
                 a 300 IN A 192.0.2.1\n\
                 b 300 IN A 192.0.2.2\n\
                 b 300 IN AAAA 2001:db8::2\n\
                 implicit 300 IN A 192.0.2.5\n\
                 nullmx 300 IN MX 0 .\n\
                 bogusmx 300 IN MX 10 a.cand.test.\n\
                 bogusaddr 300 IN MX 10 bad.cand.test.\n\
                 bogusaddr 300 IN MX 20 a.cand.test.\n\
                 bad 300 IN A 192.0.2.66\n\
                 onlybogus 300 IN MX 10 bad.cand.test.\n\
                 noaddr 300 IN MX 10 txtonly.cand.test.\n\
                 txtonly 300 IN TXT \"no address here\"\n\
                 dup 300 IN MX 10 a.cand.test.\n\
                 dup 300 IN MX 20 alias.cand.test.\n\
                 alias 300 IN CNAME a.cand.test.\n\
                 live 300 IN MX 10 drop.cand.test.\n\
                 live 300 IN MX 20 ok.cand.test.\n\
                 drop 300 IN A 127.0.0.61\n\
                 ok 300 IN A 127.0.0.62\n",
            )
            .fault("bogusmx", RecordType::MX, Fault::TamperedRdata)
            .fault("bad", RecordType::A, Fault::ExpiredSignature);
        w.zone("plain.test.")
            .unsigned()
            .records("@ 300 IN MX 10 mx.plain.test.\nmx 300 IN A 192.0.2.7\n");
        let world = w.build();
        let dns = world.serve(ServerOptions::default());
        let c = certs();
        let sink_at = |octet: u8, starttls: StartTlsMode| {
            SmtpSink::start(SinkOptions {
                hostname: format!("host{octet}.cand.test"),
                tls: Some(c.mx.server_config(TlsVersions::Both, Presented::LeafAndIntermediate)),
                starttls,
                bind: Some(SocketAddr::new(IpAddr::from([127, 0, 0, octet]), port)),
                ..SinkOptions::default()
            })
        };
        let sinks = vec![
            sink_at(61, StartTlsMode::DropConnection),
            sink_at(62, StartTlsMode::Offer),
        ];
        DnsFixture {
            anchor: world.trust_anchor_ds(),
            _world: world,
            dns,
            port,
            _sinks: sinks,
        }
    })
}

mod common;

fn resolver() -> Resolver {
    let f = dns_fixture();
    common::resolver_for(f.dns.addr(), &f.anchor)
}

fn addrs(c: &[Candidate]) -> Vec<(String, String)> {
    c.iter()
        .map(|c| (c.host.clone(), c.addr.to_string()))
        .collect()
}

/// The (host, address) candidates from DNS for `domain`.
async fn dns_candidates(
    r: &Resolver,
    domain: &str,
    pref: IpPreference,
    port: u16,
) -> Vec<(String, String)> {
    addrs(&candidates_from_dns(r, domain, pref, port).await.unwrap())
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(h, a)| (h.to_string(), a.to_string()))
        .collect()
}

#[tokio::test]
async fn candidates_follow_mx_preference_and_ip_preference() {
    let r = resolver();
    assert_eq!(
        dns_candidates(&r, "multi.cand.test", IpPreference::Ipv6Preferred, 25).await,
        pairs(&[
            ("a.cand.test", "192.0.2.1:25"),
            ("b.cand.test", "[2001:db8::2]:25"),
            ("b.cand.test", "192.0.2.2:25"),
        ])
    );
    assert_eq!(
        dns_candidates(&r, "multi.cand.test.", IpPreference::Ipv4Preferred, 2525).await,
        pairs(&[
            ("a.cand.test", "192.0.2.1:2525"),
            ("b.cand.test", "192.0.2.2:2525"),
            ("b.cand.test", "[2001:db8::2]:2525"),
        ])
    );
    assert_eq!(
        dns_candidates(&r, "MULTI.cand.test", IpPreference::Ipv4Only, 25).await,
        pairs(&[
            ("a.cand.test", "192.0.2.1:25"),
            ("b.cand.test", "192.0.2.2:25")
        ])
    );
    assert_eq!(
        dns_candidates(&r, "multi.cand.test", IpPreference::Ipv6Only, 25).await,
        pairs(&[("b.cand.test", "[2001:db8::2]:25")])
    );
    // No MX: the domain itself (implicit MX).
    assert_eq!(
        dns_candidates(&r, "implicit.cand.test", IpPreference::Ipv4Preferred, 25).await,
        pairs(&[("implicit.cand.test", "192.0.2.5:25")])
    );
    // An unsigned zone is fine without DANE.
    assert_eq!(
        dns_candidates(&r, "plain.test", IpPreference::Ipv4Preferred, 25).await,
        pairs(&[("mx.plain.test", "192.0.2.7:25")])
    );
    // The same address through a second MX name (CNAME) is tried once.
    assert_eq!(
        dns_candidates(&r, "dup.cand.test", IpPreference::Ipv4Preferred, 25).await,
        pairs(&[("a.cand.test", "192.0.2.1:25")])
    );
}

#[tokio::test]
async fn candidate_errors() {
    let r = resolver();
    let p = IpPreference::Ipv4Preferred;
    let e = candidates_from_dns(&r, "missing.cand.test", p, 25)
        .await
        .unwrap_err();
    assert_eq!((e.temporary, e.enhanced), (false, "5.1.2"), "{e}");
    let e = candidates_from_dns(&r, "nullmx.cand.test", p, 25)
        .await
        .unwrap_err();
    assert_eq!((e.temporary, e.enhanced), (false, "5.1.10"), "{e}");
    // BOGUS MX: unusable, the message stays queued.
    let e = candidates_from_dns(&r, "bogusmx.cand.test", p, 25)
        .await
        .unwrap_err();
    assert_eq!((e.temporary, e.enhanced), (true, "4.4.3"), "{e}");
    assert!(e.reason.contains("BOGUS"), "{e}");
    // A BOGUS address answer makes that host unusable; the next MX host is used.
    let c = candidates_from_dns(&r, "bogusaddr.cand.test", p, 25)
        .await
        .unwrap();
    assert_eq!(addrs(&c), pairs(&[("a.cand.test", "192.0.2.1:25")]));
    // Only a BOGUS host: temporary.
    let e = candidates_from_dns(&r, "onlybogus.cand.test", p, 25)
        .await
        .unwrap_err();
    assert_eq!((e.temporary, e.enhanced), (true, "4.4.3"), "{e}");
    // A host without any address: permanent.
    let e = candidates_from_dns(&r, "noaddr.cand.test", p, 25)
        .await
        .unwrap_err();
    assert_eq!((e.temporary, e.enhanced), (false, "5.4.4"), "{e}");
    let e = candidates_from_dns(&r, "bad..test", p, 25)
        .await
        .unwrap_err();
    assert!(!e.temporary, "{e}");
}

#[tokio::test]
async fn route_candidates() {
    let r = resolver();
    let hosts = vec![
        ("[192.0.2.9]".to_string(), 2525),
        ("b.cand.test".to_string(), 25),
        ("2001:db8::7".to_string(), 26),
        ("bad.cand.test".to_string(), 25),
    ];
    let c = candidates_from_route(&r, &hosts, IpPreference::Ipv4Only)
        .await
        .unwrap();
    assert_eq!(
        addrs(&c),
        pairs(&[
            ("192.0.2.9", "192.0.2.9:2525"),
            ("b.cand.test", "192.0.2.2:25")
        ])
    );
    let c = candidates_from_route(&r, &hosts, IpPreference::Ipv6Preferred)
        .await
        .unwrap();
    assert_eq!(
        addrs(&c),
        pairs(&[
            ("192.0.2.9", "192.0.2.9:2525"),
            ("b.cand.test", "[2001:db8::2]:25"),
            ("b.cand.test", "192.0.2.2:25"),
            ("2001:db8::7", "[2001:db8::7]:26"),
        ])
    );
    // A route that yields nothing keeps mail queued.
    let e = candidates_from_route(
        &r,
        &[
            ("bad.cand.test".to_string(), 25),
            ("txtonly.cand.test".to_string(), 25),
        ],
        IpPreference::Ipv4Only,
    )
    .await
    .unwrap_err();
    assert!(e.temporary, "{e}");
    let e = candidates_from_route(
        &r,
        &[("missing.cand.test".to_string(), 25)],
        IpPreference::Ipv4Only,
    )
    .await
    .unwrap_err();
    assert_eq!((e.temporary, e.enhanced), (true, "4.4.4"), "{e}");
}

#[tokio::test]
async fn first_host_fails_before_the_220_next_host_delivers_over_tls() {
    let f = dns_fixture();
    let r = resolver();
    let c = candidates_from_dns(&r, "live.cand.test", IpPreference::Ipv4Only, f.port)
        .await
        .unwrap();
    assert_eq!(c.len(), 2);
    let ctx = TlsContext::with_roots("live.cand.test", None, certs().roots.clone());
    let mut events = Vec::new();
    let mut s = open_first_session(&c, TlsSupport::Preferred, &ctx, &options(), &mut |e| {
        events.push(e.to_string())
    })
    .await
    .unwrap();
    assert_eq!(s.host, "ok.cand.test");
    assert!(s.protocol.starts_with("TLSv"), "{}", events.join("\n"));
    let d = s
        .client
        .send("a@client.test", &["b@live.cand.test"], BODY)
        .await
        .unwrap();
    assert!(d.all_delivered());
    let _ = s.client.quit().await;
    assert!(
        events
            .iter()
            .any(|l| l.starts_with("STARTTLS with 127.0.0.61 failed")),
        "{}",
        events.join("\n")
    );
    // Required-Verify: the MX host name mx.example.test is not ok.cand.test, nor the
    // recipient domain: refused everywhere, temporarily.
    let e = open_first_session(
        &c,
        TlsSupport::RequiredVerify,
        &ctx,
        &options(),
        &mut |_| {},
    )
    .await
    .err()
    .expect("no host satisfies required-verify");
    assert!(e.temporary);
    assert_eq!(e.enhanced, "4.7.5", "{e}");
}
