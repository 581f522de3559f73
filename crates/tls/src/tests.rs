//! Real handshakes between rustls clients with [`DaneVerifier`] and rustls
//! servers, pumped through in-memory buffers, with certificates from the test kit's
//! factory.

use std::sync::Arc;

use danegate_dane::{ReferenceIds, Tlsa, TlsaSet};
use danegate_testkit::certs::{
    KeyKind, LeafSpec, TestCert, TestIssuer, TestKey, TlsVersions, Validity, self_signed_leaf,
    server_config as presenting,
};
use rustls::client::Resumption;
use rustls::crypto::ring::default_provider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::*;

const MX: &str = "mx.example.com";

// ---------------------------------------------------------------- certificates

/// TLSA records and DER of a test certificate.
trait CertExt {
    fn der(&self) -> CertificateDer<'static>;
    fn tlsa(&self, usage: u8, selector: u8, mt: u8) -> Tlsa;
}

impl CertExt for TestCert {
    fn der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }
    fn tlsa(&self, usage: u8, selector: u8, mt: u8) -> Tlsa {
        Tlsa::for_cert(usage, selector, mt, &self.der, &self.spki_der).unwrap()
    }
}

impl CertExt for TestIssuer {
    fn der(&self) -> CertificateDer<'static> {
        self.cert.der()
    }
    fn tlsa(&self, usage: u8, selector: u8, mt: u8) -> Tlsa {
        self.cert.tlsa(usage, selector, mt)
    }
}

fn validity(expired: bool) -> Validity {
    if expired {
        Validity::Expired
    } else {
        Validity::Valid
    }
}

fn root() -> TestIssuer {
    TestIssuer::root("Test Root", KeyKind::EcdsaP256, Validity::Valid)
}

fn intermediate(root: &TestIssuer, expired: bool) -> TestIssuer {
    root.issue_ca("Test Intermediate", KeyKind::EcdsaP256, validity(expired))
}

/// A leaf with these SAN dNSNames (none: CN only), signed by `issuer` or self-signed,
/// with `key` or a new one.
fn leaf_with(
    sans: &[&str],
    cn: &str,
    issuer: Option<&TestIssuer>,
    expired: bool,
    key: Option<TestKey>,
) -> TestCert {
    let key = key.unwrap_or_default();
    let spec = LeafSpec::for_names(sans)
        .with_common_name(cn)
        .with_validity(validity(expired));
    match issuer {
        Some(i) => i.issue_leaf(&spec, &key),
        None => self_signed_leaf(&spec, &key),
    }
}

fn leaf(issuer: Option<&TestIssuer>) -> TestCert {
    leaf_with(&[MX], MX, issuer, false, None)
}

/// A root → intermediate → leaf(MX) hierarchy.
struct Pki {
    root: TestIssuer,
    inter: TestIssuer,
    leaf: TestCert,
}

fn pki() -> Pki {
    let root = root();
    let inter = intermediate(&root, false);
    let leaf = leaf(Some(&inter));
    Pki { root, inter, leaf }
}

// ---------------------------------------------------------------- handshakes

/// A server presenting `chain` with the private key of `leaf`.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    leaf: &TestCert,
    versions: TlsVersions,
) -> Arc<ServerConfig> {
    presenting(chain, leaf.private_key(), versions)
}

const BOTH: TlsVersions = TlsVersions::Both;
const TLS12: TlsVersions = TlsVersions::Tls12Only;
const TLS13: TlsVersions = TlsVersions::Tls13Only;

#[derive(Debug)]
struct Done {
    protocol: &'static str,
    cipher: &'static str,
    sni: Option<String>,
}

/// One full handshake through in-memory buffers. `Err` carries the side that
/// failed and its error.
fn handshake(
    client_config: &Arc<ClientConfig>,
    server_config: &Arc<ServerConfig>,
) -> Result<Done, (&'static str, rustls::Error)> {
    let mut client =
        ClientConnection::new(client_config.clone(), server_name(MX).unwrap()).unwrap();
    let mut server = ServerConnection::new(server_config.clone()).unwrap();
    let mut buf = Vec::new();
    for _ in 0..20 {
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().map_err(|e| ("server", e))?;
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets().map_err(|e| ("client", e))?;
        }
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            return Ok(Done {
                protocol: protocol_name(client.protocol_version().unwrap()),
                cipher: openssl_cipher_name(client.negotiated_cipher_suite().unwrap().suite()),
                sni: server.server_name().map(str::to_string),
            });
        }
    }
    panic!("handshake did not complete");
}

fn dane(records: Vec<Tlsa>) -> Arc<DaneVerifier> {
    Arc::new(DaneVerifier::dane(
        TlsaSet::from_records(records),
        ReferenceIds::new([MX, "example.com"]),
    ))
}

/// Handshake against `server` with a DANE verifier for `records`; returns the
/// verifier's report and whether the handshake succeeded.
fn run(records: Vec<Tlsa>, server: &Arc<ServerConfig>) -> (VerifyOutcome, bool) {
    let verifier = dane(records);
    let slot = verifier.outcome();
    let config = client_config(verifier).unwrap();
    let result = handshake(&config, server);
    let report = slot.take().expect("the verifier ran");
    if let Err((side, e)) = &result {
        assert_eq!(*side, "client", "{e}");
    }
    (report.outcome, result.is_ok())
}

fn dane_match(outcome: VerifyOutcome) -> DaneMatch {
    match outcome {
        VerifyOutcome::Dane(m) => m,
        other => panic!("expected a DANE match, got {other:?}"),
    }
}

fn failure(outcome: VerifyOutcome) -> Failure {
    match outcome {
        VerifyOutcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------- DANE-EE

#[test]
fn dane_ee_all_selector_and_matching_types() {
    let p = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    for (sel, mt) in [(1, 1), (0, 1), (1, 2), (0, 0), (1, 0), (0, 2)] {
        let rec = p.leaf.tlsa(3, sel, mt);
        let (outcome, ok) = run(vec![rec.clone()], &server);
        assert!(ok, "3 {sel} {mt}");
        let m = dane_match(outcome);
        assert_eq!(m.record, rec);
        assert_eq!(m.depth, 0);
        assert_eq!(m.name, None);
        assert_eq!(m.ta_source, None);
    }
}

#[test]
fn dane_ee_ignores_names_and_dates() {
    // Expired, self-signed, for another name.
    let l = leaf_with(&["other.invalid"], "other.invalid", None, true, None);
    let server = server_config(vec![l.der()], &l, BOTH);
    let (outcome, ok) = run(vec![l.tlsa(3, 1, 1)], &server);
    assert!(ok);
    assert_eq!(dane_match(outcome).depth, 0);
}

#[test]
fn dane_ee_matching_an_intermediate_is_no_match() {
    let p = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    let (outcome, ok) = run(vec![p.inter.tlsa(3, 1, 1)], &server);
    assert!(!ok);
    assert_eq!(failure(outcome).kind, FailureKind::NoMatch);
}

// ---------------------------------------------------------------- DANE-TA

#[test]
fn dane_ta_via_intermediate() {
    let p = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    for (sel, mt) in [(0, 1), (1, 1), (1, 2), (0, 0)] {
        let rec = p.inter.tlsa(2, sel, mt);
        let (outcome, ok) = run(vec![rec.clone()], &server);
        assert!(ok, "2 {sel} {mt}");
        let m = dane_match(outcome);
        assert_eq!(m.record, rec);
        assert_eq!(m.depth, 1);
        assert_eq!(m.ta_source, Some(TaSource::Presented));
        assert_eq!(m.name, Some((MX.to_string(), MX.to_string())));
    }
}

#[test]
fn outcome_log_lines_and_table_input() {
    let p = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    let (outcome, _) = run(vec![p.inter.tlsa(2, 0, 1)], &server);
    let line = outcome.to_string();
    assert!(line.starts_with("DANE-TA 2 0 1 "), "{line}");
    assert!(
        line.ends_with(": matched depth 1, name mx.example.com"),
        "{line}"
    );
    assert_eq!(
        outcome.dane_cert_status(),
        danegate_dane::CertStatus::Success
    );

    let (outcome, _) = run(vec![p.leaf.tlsa(3, 1, 1)], &server);
    assert!(
        outcome.to_string().ends_with(": matched the leaf"),
        "{outcome}"
    );

    let (outcome, _) = run(vec![p.root.tlsa(2, 1, 0)], &server);
    assert!(
        outcome
            .to_string()
            .ends_with(": matched trust anchor from DNS above depth 1, name mx.example.com"),
        "{outcome}"
    );

    let (outcome, _) = run(vec![root().tlsa(2, 0, 1)], &server);
    assert_eq!(
        outcome.dane_cert_status(),
        danegate_dane::CertStatus::Failed
    );
    assert!(
        outcome.to_string().starts_with("no TLSA record matched"),
        "{outcome}"
    );
    assert_eq!(
        VerifyOutcome::Unchecked.dane_cert_status(),
        danegate_dane::CertStatus::Failed
    );
}

#[test]
fn dane_ta_root_presented_at_depth_two() {
    let p = pki();
    let server = server_config(
        vec![p.leaf.der(), p.inter.der(), p.root.der()],
        &p.leaf,
        BOTH,
    );
    let (outcome, ok) = run(vec![p.root.tlsa(2, 0, 1)], &server);
    assert!(ok);
    assert_eq!(dane_match(outcome).depth, 2);
}

#[test]
fn dane_ta_full_key_or_cert_from_dns() {
    // The root is not presented: "2 1 0" carries its SPKI, "2 0 0" its certificate.
    let p = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    for (sel, mt) in [(1, 0), (0, 0)] {
        let (outcome, ok) = run(vec![p.root.tlsa(2, sel, mt)], &server);
        assert!(ok, "2 {sel} {mt}");
        let m = dane_match(outcome);
        assert_eq!(m.ta_source, Some(TaSource::Dns));
        assert_eq!(m.depth, 2);
    }
    // A digest of a key that is not presented cannot work (RFC 7671 §5.2.2).
    let (outcome, ok) = run(vec![p.root.tlsa(2, 1, 1)], &server);
    assert!(!ok);
    assert_eq!(failure(outcome).kind, FailureKind::NoMatch);
    // An unrelated key in DNS signed nothing.
    let other = root();
    let (outcome, ok) = run(vec![other.tlsa(2, 1, 0)], &server);
    assert!(!ok);
    let f = failure(outcome);
    assert!(
        f.details[0].contains("signed no presented certificate"),
        "{f}"
    );
}

#[test]
fn dane_ta_name_mismatch_fails() {
    let root = root();
    let inter = intermediate(&root, false);
    let l = leaf_with(&["wrong.example.net"], MX, Some(&inter), false, None);
    let server = server_config(vec![l.der(), inter.der()], &l, BOTH);
    let (outcome, ok) = run(vec![inter.tlsa(2, 0, 1)], &server);
    assert!(!ok);
    let f = failure(outcome);
    assert_eq!(f.kind, FailureKind::NameMismatch);
    // SAN present: the matching CN is not considered.
    assert!(f.details[0].contains("wrong.example.net"), "{f}");
    assert!(f.to_string().contains("mx.example.com, example.com"), "{f}");
}

#[test]
fn dane_ta_cn_used_only_without_san() {
    let root = root();
    let inter = intermediate(&root, false);
    let l = leaf_with(&[], MX, Some(&inter), false, None);
    let server = server_config(vec![l.der(), inter.der()], &l, BOTH);
    let (outcome, ok) = run(vec![inter.tlsa(2, 1, 1)], &server);
    assert!(ok);
    assert_eq!(
        dane_match(outcome).name,
        Some((MX.to_string(), MX.to_string()))
    );
    // A wildcard SAN for the parent domain.
    let l = leaf_with(&["*.example.com"], "x", Some(&inter), false, None);
    let server = server_config(vec![l.der(), inter.der()], &l, BOTH);
    let (outcome, ok) = run(vec![inter.tlsa(2, 1, 1)], &server);
    assert!(ok);
    assert_eq!(
        dane_match(outcome).name,
        Some((MX.to_string(), "*.example.com".to_string()))
    );
}

#[test]
fn dane_ta_expired_chain_fails() {
    // Expired leaf under a valid intermediate.
    let root = root();
    let inter = intermediate(&root, false);
    let l = leaf_with(&[MX], MX, Some(&inter), true, None);
    let server = server_config(vec![l.der(), inter.der()], &l, BOTH);
    let (outcome, ok) = run(vec![inter.tlsa(2, 0, 1)], &server);
    assert!(!ok);
    let f = failure(outcome);
    assert_eq!(f.kind, FailureKind::ChainInvalid);
    assert!(
        f.to_string()
            .contains("certificate expired (not valid after "),
        "{f}"
    );
    // The same leaf passes as DANE-EE.
    let (_, ok) = run(vec![l.tlsa(3, 1, 1)], &server);
    assert!(ok);

    // Valid leaf under an expired intermediate that is the trust anchor.
    let inter = intermediate(&root, true);
    let l = leaf_with(&[MX], MX, Some(&inter), false, None);
    let server = server_config(vec![l.der(), inter.der()], &l, BOTH);
    let (outcome, ok) = run(vec![inter.tlsa(2, 0, 1)], &server);
    assert!(!ok);
    assert_eq!(failure(outcome).kind, FailureKind::ChainInvalid);
    // ... or an expired intermediate below a root trust anchor.
    let server = server_config(vec![l.der(), inter.der(), root.der()], &l, BOTH);
    let (outcome, ok) = run(vec![root.tlsa(2, 0, 1)], &server);
    assert!(!ok);
    assert_eq!(failure(outcome).kind, FailureKind::ChainInvalid);
}

#[test]
fn dane_ta_matching_the_leaf_is_a_one_certificate_chain() {
    // Self-signed leaf published as a trust anchor: names and dates apply.
    let l = leaf(None);
    let server = server_config(vec![l.der()], &l, BOTH);
    let (outcome, ok) = run(vec![l.tlsa(2, 0, 1)], &server);
    assert!(ok);
    let m = dane_match(outcome);
    assert_eq!(m.depth, 0);
    assert_eq!(m.ta_source, Some(TaSource::Presented));

    let l = leaf_with(&[MX], MX, None, true, None);
    let server = server_config(vec![l.der()], &l, BOTH);
    let (outcome, ok) = run(vec![l.tlsa(2, 1, 1)], &server);
    assert!(!ok);
    assert_eq!(failure(outcome).kind, FailureKind::ChainInvalid);

    let l = leaf_with(&["other.invalid"], "other.invalid", None, false, None);
    let server = server_config(vec![l.der()], &l, BOTH);
    let (outcome, ok) = run(vec![l.tlsa(2, 1, 1)], &server);
    assert!(!ok);
    assert_eq!(failure(outcome).kind, FailureKind::NameMismatch);
}

// ---------------------------------------------------------------- record sets

#[test]
fn several_records_one_matches() {
    let p = pki();
    let stranger = leaf(None);
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    let good = p.leaf.tlsa(3, 0, 1);
    let (outcome, ok) = run(
        vec![
            stranger.tlsa(3, 1, 1),
            stranger.tlsa(2, 0, 1),
            Tlsa::new(1, 1, 1, vec![0; 32]),
            good.clone(),
        ],
        &server,
    );
    assert!(ok);
    assert_eq!(dane_match(outcome).record, good);
}

#[test]
fn no_match_fails_with_a_reason_per_record() {
    let p = pki();
    let stranger = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    let verifier = dane(vec![
        stranger.leaf.tlsa(3, 1, 1),
        stranger.inter.tlsa(2, 1, 1),
    ]);
    let slot = verifier.outcome();
    let config = client_config(verifier).unwrap();
    let err = handshake(&config, &server).unwrap_err();
    assert_eq!(err.0, "client");
    // The handshake error carries the reason too.
    assert!(
        err.1.to_string().contains("no TLSA record matched"),
        "{}",
        err.1
    );
    let report = slot.get().unwrap();
    assert_eq!(
        report.chain_subjects,
        [
            "CN=mx.example.com",
            "CN=Test Intermediate, O=danegate tests"
        ]
    );
    let f = failure(report.outcome);
    assert_eq!(f.kind, FailureKind::NoMatch);
    assert_eq!(f.details.len(), 2);
    assert!(f.details[0].starts_with("3 1 1 "), "{f}");
    assert!(f.details[0].ends_with("does not match the leaf"), "{f}");
    assert!(
        f.details[1].ends_with("matches no certificate in the chain"),
        "{f}"
    );
}

#[test]
fn unusable_only_set_fails_dane_and_says_why() {
    let p = pki();
    let server = server_config(vec![p.leaf.der()], &p.leaf, BOTH);
    // PKIX-EE of the right certificate is still unusable (RFC 7672 §3.1.3).
    let (outcome, ok) = run(vec![p.leaf.tlsa(1, 1, 1)], &server);
    assert!(!ok);
    let f = failure(outcome);
    assert_eq!(f.kind, FailureKind::NoUsableRecords);
    assert!(f.details[0].contains("PKIX-EE"), "{f}");
}

// ---------------------------------------------------------------- modes

#[test]
fn unauthenticated_accepts_anything() {
    let l = leaf_with(&["other.invalid"], "x", None, true, None);
    let server = server_config(vec![l.der()], &l, BOTH);
    let verifier = Arc::new(crate::danger::accept_any_certificate());
    let slot = verifier.outcome();
    let config = client_config(verifier).unwrap();
    handshake(&config, &server).unwrap();
    assert_eq!(slot.take().unwrap().outcome, VerifyOutcome::Unchecked);
}

/// The server presents a certificate whose key it does not hold: the DANE-EE
/// record matches, but the handshake signature check (delegated to rustls) fails.
#[test]
fn handshake_signatures_are_verified() {
    #[derive(Debug)]
    struct Mismatched(Arc<CertifiedKey>);
    impl ResolvesServerCert for Mismatched {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let presented = leaf(None);
    let other_key = TestKey::default();
    let signing = rustls::crypto::ring::sign::any_supported_type(&other_key.private_key()).unwrap();
    let resolver = Mismatched(Arc::new(CertifiedKey::new(vec![presented.der()], signing)));
    for versions in [TLS12, TLS13] {
        let server = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(default_provider()))
                .with_protocol_versions(versions.versions())
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Mismatched(resolver.0.clone()))),
        );
        for verifier in [
            dane(vec![presented.tlsa(3, 1, 1)]),
            Arc::new(crate::danger::accept_any_certificate()),
        ] {
            let config = client_config(verifier).unwrap();
            let err = handshake(&config, &server).unwrap_err();
            assert_eq!(err.0, "client");
            assert!(
                matches!(
                    err.1,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
                ),
                "{:?}",
                err.1
            );
        }
    }
}

#[test]
fn pkix_mode_with_given_roots() {
    let p = pki();
    let server = server_config(vec![p.leaf.der(), p.inter.der()], &p.leaf, BOTH);
    let anchor = webpki::anchor_from_trusted_cert(&p.root.cert.der)
        .unwrap()
        .to_owned();
    let verifier = Arc::new(DaneVerifier::new(VerifyPolicy::Pkix {
        roots: vec![anchor.clone()],
        reference_ids: ReferenceIds::new([MX]),
    }));
    let slot = verifier.outcome();
    handshake(&client_config(verifier).unwrap(), &server).unwrap();
    assert!(matches!(
        slot.take().unwrap().outcome,
        VerifyOutcome::Pkix { .. }
    ));

    let verifier = Arc::new(DaneVerifier::new(VerifyPolicy::Pkix {
        roots: vec![anchor],
        reference_ids: ReferenceIds::new(["elsewhere.example.org"]),
    }));
    assert!(handshake(&client_config(verifier).unwrap(), &server).is_err());
}

// ---------------------------------------------------------------- protocol, names, resumption

#[test]
fn tls12_only_and_tls13_only_servers() {
    let p = pki();
    let chain = vec![p.leaf.der(), p.inter.der()];
    let rec = p.leaf.tlsa(3, 1, 1);

    let server = server_config(chain.clone(), &p.leaf, TLS12);
    let verifier = dane(vec![rec.clone()]);
    let done = handshake(&client_config(verifier).unwrap(), &server).unwrap();
    assert_eq!(done.protocol, "TLSv1.2");
    assert_eq!(done.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");

    let server = server_config(chain, &p.leaf, TLS13);
    let verifier = dane(vec![rec]);
    let done = handshake(&client_config(verifier).unwrap(), &server).unwrap();
    assert_eq!(done.protocol, "TLSv1.3");
    assert_eq!(done.cipher, "TLS_AES_256_GCM_SHA384");
    // SNI is the TLSA base domain.
    assert_eq!(done.sni.as_deref(), Some(MX));
}

/// A 2048-bit RSA key (test only; rcgen cannot generate RSA keys with ring).
const RSA_KEY: &str = include_str!("../testdata/rsa2048.pem");

#[test]
fn rsa_server_gives_the_seed_cipher_name() {
    let key = TestKey::from_pkcs8_pem(RSA_KEY, KeyKind::RsaSha256);
    let l = leaf_with(&[MX], MX, None, false, Some(key));
    let server = server_config(vec![l.der()], &l, TLS12);
    let verifier = dane(vec![l.tlsa(3, 1, 1)]);
    let done = handshake(&client_config(verifier).unwrap(), &server).unwrap();
    assert_eq!(
        format!("protocol {}, cipher {}", done.protocol, done.cipher),
        "protocol TLSv1.2, cipher ECDHE-RSA-AES256-GCM-SHA384"
    );
}

#[test]
fn every_handshake_runs_the_verifier() {
    let p = pki();
    for versions in [TLS12, TLS13] {
        let server = server_config(vec![p.leaf.der()], &p.leaf, versions);
        let verifier = dane(vec![p.leaf.tlsa(3, 1, 1)]);
        let config = client_config(verifier.clone()).unwrap();
        let slot = verifier.outcome();
        for n in 1..=3 {
            handshake(&config, &server).unwrap();
            assert!(slot.take().is_some(), "handshake {n} skipped the verifier");
            assert_eq!(verifier.verifications(), n);
        }

        // Control: with resumption on, the second handshake would skip it.
        let verifier = dane(vec![p.leaf.tlsa(3, 1, 1)]);
        let mut resuming = (*client_config(verifier.clone()).unwrap()).clone();
        resuming.resumption = Resumption::default();
        let resuming = Arc::new(resuming);
        handshake(&resuming, &server).unwrap();
        handshake(&resuming, &server).unwrap();
        assert_eq!(
            verifier.verifications(),
            1,
            "{versions:?}: control did not resume"
        );
    }
}

#[test]
fn garbage_certificates_fail_without_panic() {
    let verifier = DaneVerifier::dane(
        TlsaSet::from_records(vec![
            Tlsa::new(3, 1, 1, vec![0; 32]),
            Tlsa::new(2, 1, 0, vec![0x30, 0]),
            Tlsa::new(2, 0, 0, vec![1, 2, 3]),
        ]),
        ReferenceIds::new([MX]),
    );
    let now = UnixTime::now();
    for der in [
        vec![],
        vec![0x30, 0x00],
        vec![0x30, 0x82, 0xff, 0xff],
        vec![0xff; 100],
    ] {
        let garbage = CertificateDer::from(der);
        let report = verifier.verify_chain(&garbage, std::slice::from_ref(&garbage), now);
        assert!(matches!(report.outcome, VerifyOutcome::Failed(_)));
    }
    let one = CertificateDer::from(vec![0x30, 0x00]);
    let long: Vec<CertificateDer<'_>> = vec![one.clone(); 40];
    let report = verifier.verify_chain(&one, &long, now);
    assert_eq!(failure(report.outcome).kind, FailureKind::BadCertificate);
}
