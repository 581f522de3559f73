//! Certificate factory for tests (rcgen, ring).
//!
//! A [`TestChain`] is a CA → intermediate → leaf chain (or a self-signed leaf) with
//! chosen names, validity and key types; [`TestChain::server_config`] turns it into a
//! rustls `ServerConfig` (ring provider) with chosen protocol versions and presented
//! chain. [`permissive_client_config`] is a client config whose verifier accepts any
//! certificate (signatures are still checked by rustls), for SMTP tests that are not
//! about certificate checking.
//!
//! For hierarchies a test builds itself, a [`TestIssuer`] (a root, or a CA it issued)
//! issues CA certificates and leaves per a [`LeafSpec`] with a [`TestKey`] the test
//! chooses (generated, reused, or read from PEM).
//!
//! RSA keys cannot be generated with ring: generated key types are ECDSA P-256
//! (default), ECDSA P-384 and Ed25519; an RSA key can only be read from PEM
//! ([`TestKey::from_pkcs8_pem`]). Everything here panics on failure (test code).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SignatureAlgorithm,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
use time::{Duration, OffsetDateTime};

/// The ring crypto provider (the only one the project uses; a second provider makes
/// rustls' `builder()` panic).
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256 (default).
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA with PKCS#1 v1.5 and SHA-256: only read from PEM ([`TestKey::from_pkcs8_pem`]),
    /// ring cannot generate it.
    RsaSha256,
}

impl KeyKind {
    fn alg(self) -> &'static SignatureAlgorithm {
        match self {
            KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
            KeyKind::RsaSha256 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// A private key for a certificate to issue: generated, or read from PEM. One key may
/// sign several certificates (pass the same `TestKey` again).
#[derive(Debug)]
pub struct TestKey {
    pair: KeyPair,
    kind: KeyKind,
}

impl TestKey {
    /// A new key of this kind (not [`KeyKind::RsaSha256`]: ring cannot generate RSA keys).
    pub fn generate(kind: KeyKind) -> Self {
        assert!(
            kind != KeyKind::RsaSha256,
            "ring cannot generate RSA keys: read one with TestKey::from_pkcs8_pem"
        );
        Self {
            pair: KeyPair::generate_for(kind.alg()).expect("generate key pair"),
            kind,
        }
    }

    /// A PKCS#8 key ("BEGIN PRIVATE KEY") of this kind, from PEM text.
    pub fn from_pkcs8_pem(pem: &str, kind: KeyKind) -> Self {
        let pair = KeyPair::from_pkcs8_pem_and_sign_algo(pem, kind.alg())
            .unwrap_or_else(|e| panic!("PKCS#8 PEM key of kind {kind:?}: {e}"));
        Self { pair, kind }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The private key for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pair.serialize_der()))
    }
}

impl Default for TestKey {
    /// A new ECDSA P-256 key.
    fn default() -> Self {
        Self::generate(KeyKind::default())
    }
}

/// Validity period of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validity {
    /// From a day ago to a year from now (default).
    #[default]
    Valid,
    /// Ended yesterday (from 30 days ago to 1 day ago).
    Expired,
    /// Starts tomorrow (from 1 day to 30 days from now).
    NotYetValid,
    /// Explicit bounds.
    Custom {
        /// notBefore.
        not_before: OffsetDateTime,
        /// notAfter.
        not_after: OffsetDateTime,
    },
}

impl Validity {
    fn bounds(self) -> (OffsetDateTime, OffsetDateTime) {
        let now = OffsetDateTime::now_utc();
        match self {
            Validity::Valid => (now - Duration::days(1), now + Duration::days(365)),
            Validity::Expired => (now - Duration::days(30), now - Duration::days(1)),
            Validity::NotYetValid => (now + Duration::days(1), now + Duration::days(30)),
            Validity::Custom {
                not_before,
                not_after,
            } => (not_before, not_after),
        }
    }
}

/// How the leaf is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Issuance {
    /// CA → intermediate → leaf (default).
    #[default]
    WithIntermediate,
    /// CA → leaf.
    DirectlyByCa,
    /// The leaf signs itself; no CA or intermediate is generated.
    SelfSigned,
}

/// Options of [`TestChain::generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainOptions {
    /// DNS names (or IP addresses) for the leaf's subjectAltName. Empty: no SAN
    /// extension at all.
    pub names: Vec<String>,
    /// The leaf's subject CN; `None` uses the first name (or "danegate test leaf").
    pub common_name: Option<String>,
    /// The leaf's validity.
    pub validity: Validity,
    /// The leaf's key type.
    pub key: KeyKind,
    /// The CA's and intermediate's key type.
    pub ca_key: KeyKind,
    /// The CA's and intermediate's validity.
    pub ca_validity: Validity,
    /// How the leaf is issued.
    pub issuance: Issuance,
}

impl Default for ChainOptions {
    fn default() -> Self {
        Self {
            names: vec!["mx.example.test".into()],
            common_name: None,
            validity: Validity::Valid,
            key: KeyKind::EcdsaP256,
            ca_key: KeyKind::EcdsaP256,
            ca_validity: Validity::Valid,
            issuance: Issuance::WithIntermediate,
        }
    }
}

impl ChainOptions {
    /// Default options for a leaf with these SAN names.
    pub fn for_names<S: AsRef<str>>(names: &[S]) -> Self {
        Self {
            names: names.iter().map(|n| n.as_ref().to_string()).collect(),
            ..Self::default()
        }
    }
}

/// One generated certificate and its key.
#[derive(Debug, Clone)]
pub struct TestCert {
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// Its SubjectPublicKeyInfo, DER (what a TLSA selector 1 record hashes).
    pub spki_der: Vec<u8>,
    /// Its private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// Its key type.
    pub key_kind: KeyKind,
}

impl TestCert {
    /// The private key for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }

    /// Its key, to sign another certificate with (a reused key).
    pub fn key(&self) -> TestKey {
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(self.key_pkcs8.as_slice()),
            self.key_kind.alg(),
        )
        .expect("the certificate's own PKCS#8 key");
        TestKey {
            pair,
            kind: self.key_kind,
        }
    }

    /// TLSA association data for this certificate, lower-case hex (RFC 6698 §2.1):
    /// `selector` 0 full certificate, 1 SubjectPublicKeyInfo; `matching_type` 0 exact,
    /// 1 SHA2-256, 2 SHA2-512.
    pub fn tlsa_hex(&self, selector: u8, matching_type: u8) -> String {
        let selected: &[u8] = match selector {
            0 => &self.der,
            1 => &self.spki_der,
            _ => panic!("TLSA selector {selector}"),
        };
        let data = match matching_type {
            0 => selected.to_vec(),
            1 => ring::digest::digest(&ring::digest::SHA256, selected)
                .as_ref()
                .to_vec(),
            2 => ring::digest::digest(&ring::digest::SHA512, selected)
                .as_ref()
                .to_vec(),
            _ => panic!("TLSA matching type {matching_type}"),
        };
        data_encoding::HEXLOWER.encode(&data)
    }
}

/// Which certificates the server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Presented {
    /// The leaf alone.
    LeafOnly,
    /// Leaf and intermediate (the usual server configuration; default).
    #[default]
    LeafAndIntermediate,
    /// Leaf, intermediate and the CA itself.
    Full,
}

/// Which TLS versions a config accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
    /// TLS 1.2 and 1.3 (default).
    #[default]
    Both,
}

impl TlsVersions {
    /// The rustls version list.
    pub fn versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static V12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static V13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static BOTH: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        match self {
            TlsVersions::Tls12Only => &V12,
            TlsVersions::Tls13Only => &V13,
            TlsVersions::Both => &BOTH,
        }
    }
}

/// A generated chain: CA → (intermediate →) leaf, or a self-signed leaf.
#[derive(Debug, Clone)]
pub struct TestChain {
    /// The root CA (`None` for a self-signed leaf).
    pub ca: Option<TestCert>,
    /// The intermediate CA (`None` unless [`Issuance::WithIntermediate`]).
    pub intermediate: Option<TestCert>,
    /// The server certificate.
    pub leaf: TestCert,
}

/// What a leaf issued by [`TestIssuer::issue_leaf`] (or [`self_signed_leaf`]) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// DNS names (or IP addresses) for the subjectAltName. Empty: no SAN extension at
    /// all (a CN-only leaf).
    pub names: Vec<String>,
    /// The subject CN; `None` uses the first name (or "danegate test leaf").
    pub common_name: Option<String>,
    /// The validity.
    pub validity: Validity,
}

impl Default for LeafSpec {
    fn default() -> Self {
        Self::for_names(&["mx.example.test"])
    }
}

impl LeafSpec {
    /// A valid leaf for these SAN names, CN the first of them.
    pub fn for_names<S: AsRef<str>>(names: &[S]) -> Self {
        Self {
            names: names.iter().map(|n| n.as_ref().to_string()).collect(),
            common_name: None,
            validity: Validity::Valid,
        }
    }

    /// This spec with this subject CN.
    pub fn with_common_name(mut self, cn: &str) -> Self {
        self.common_name = Some(cn.to_string());
        self
    }

    /// This spec with this validity.
    pub fn with_validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::new(self.names.clone())
            .unwrap_or_else(|e| panic!("bad SAN names {:?}: {e}", self.names));
        let cn = self
            .common_name
            .clone()
            .or_else(|| self.names.first().cloned())
            .unwrap_or_else(|| "danegate test leaf".into());
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (nb, na) = self.validity.bounds();
        p.not_before = nb;
        p.not_after = na;
        p
    }
}

/// A CA certificate with its key, able to issue further CA certificates and leaves.
pub struct TestIssuer {
    /// The CA certificate.
    pub cert: TestCert,
    rc: rcgen::Certificate,
    key: TestKey,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

fn ca_params(cn: &str, validity: Validity, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "danegate tests");
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let (nb, na) = validity.bounds();
    p.not_before = nb;
    p.not_after = na;
    p.use_authority_key_identifier_extension = true;
    p
}

fn test_cert(cert: &rcgen::Certificate, key: &TestKey) -> TestCert {
    TestCert {
        der: cert.der().clone(),
        spki_der: key.pair.public_key_der(),
        key_pkcs8: key.pair.serialize_der(),
        key_kind: key.kind,
    }
}

impl TestIssuer {
    /// A self-signed root CA (subject CN `cn`, O "danegate tests", no path length
    /// limit) with a new key of this kind.
    pub fn root(cn: &str, key: KeyKind, validity: Validity) -> Self {
        let key = TestKey::generate(key);
        let rc = ca_params(cn, validity, None)
            .self_signed(&key.pair)
            .expect("self-sign CA");
        Self {
            cert: test_cert(&rc, &key),
            rc,
            key,
        }
    }

    /// A CA certificate (an intermediate) signed by this issuer, with a new key of this
    /// kind and no path length limit.
    pub fn issue_ca(&self, cn: &str, key: KeyKind, validity: Validity) -> TestIssuer {
        self.issue_ca_limited(cn, key, validity, None)
    }

    fn issue_ca_limited(
        &self,
        cn: &str,
        key: KeyKind,
        validity: Validity,
        path_len: Option<u8>,
    ) -> TestIssuer {
        let key = TestKey::generate(key);
        let rc = ca_params(cn, validity, path_len)
            .signed_by(&key.pair, &self.rc, &self.key.pair)
            .expect("sign CA certificate");
        Self {
            cert: test_cert(&rc, &key),
            rc,
            key,
        }
    }

    /// A server certificate per `spec` for `key`, signed by this issuer.
    pub fn issue_leaf(&self, spec: &LeafSpec, key: &TestKey) -> TestCert {
        let mut p = spec.params();
        p.use_authority_key_identifier_extension = true;
        let rc = p
            .signed_by(&key.pair, &self.rc, &self.key.pair)
            .expect("sign leaf");
        test_cert(&rc, key)
    }
}

/// A server certificate per `spec` that `key` signs itself.
pub fn self_signed_leaf(spec: &LeafSpec, key: &TestKey) -> TestCert {
    let rc = spec
        .params()
        .self_signed(&key.pair)
        .expect("self-sign leaf");
    test_cert(&rc, key)
}

impl TestChain {
    /// Generates a chain per `opts`.
    pub fn generate(opts: &ChainOptions) -> Self {
        let spec = LeafSpec {
            names: opts.names.clone(),
            common_name: opts.common_name.clone(),
            validity: opts.validity,
        };
        let leaf_key = TestKey::generate(opts.key);
        if opts.issuance == Issuance::SelfSigned {
            return Self {
                ca: None,
                intermediate: None,
                leaf: self_signed_leaf(&spec, &leaf_key),
            };
        }
        let ca = TestIssuer::root("danegate test root CA", opts.ca_key, opts.ca_validity);
        let (intermediate, leaf) = if opts.issuance == Issuance::WithIntermediate {
            let int = ca.issue_ca_limited(
                "danegate test intermediate CA",
                opts.ca_key,
                opts.ca_validity,
                Some(0),
            );
            let leaf = int.issue_leaf(&spec, &leaf_key);
            (Some(int.cert), leaf)
        } else {
            (None, ca.issue_leaf(&spec, &leaf_key))
        };
        Self {
            ca: Some(ca.cert),
            intermediate,
            leaf,
        }
    }

    /// A default chain (CA → intermediate → leaf, ECDSA P-256, valid) for these names.
    pub fn for_names<S: AsRef<str>>(names: &[S]) -> Self {
        Self::generate(&ChainOptions::for_names(names))
    }

    /// The certificates a server presents, leaf first. For a self-signed leaf or a
    /// chain without intermediate the missing members are skipped.
    pub fn presented(&self, which: Presented) -> Vec<CertificateDer<'static>> {
        let mut v = vec![self.leaf.der.clone()];
        if which != Presented::LeafOnly {
            if let Some(i) = &self.intermediate {
                v.push(i.der.clone());
            }
            if which == Presented::Full
                && let Some(ca) = &self.ca
            {
                v.push(ca.der.clone());
            }
        }
        v
    }

    /// A rustls server config (ring provider, no client auth, no ALPN) presenting this
    /// chain.
    pub fn server_config(
        &self,
        versions: TlsVersions,
        which: Presented,
    ) -> Arc<rustls::ServerConfig> {
        server_config(self.presented(which), self.leaf.private_key(), versions)
    }

    /// A root store holding this chain's CA (or the self-signed leaf).
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        let anchor = self.ca.as_ref().unwrap_or(&self.leaf);
        roots.add(anchor.der.clone()).expect("add trust anchor");
        roots
    }
}

/// A rustls server config (ring provider, no client auth, no ALPN) presenting `chain`
/// (leaf first) with the leaf's private `key`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: TlsVersions,
) -> Arc<rustls::ServerConfig> {
    let cfg = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions.versions())
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate and key");
    Arc::new(cfg)
}

/// A verifier that accepts every certificate chain and name, but still checks the
/// handshake signatures with the provider's algorithms (so the TLS session is real).
#[derive(Debug)]
pub struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl AcceptAnyCert {
    /// With the ring provider.
    pub fn new() -> Self {
        Self {
            provider: ring_provider(),
        }
    }
}

impl Default for AcceptAnyCert {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config (ring provider, given versions, session resumption off) that accepts
/// any server certificate. For tests that are not about certificate checking.
pub fn permissive_client_config(versions: TlsVersions) -> Arc<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions.versions())
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new()))
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// A client config (ring provider, given versions, resumption off) that verifies the
/// server with webpki against `roots` (PKIX; for negative tests of the factory's
/// options: expired, wrong name, missing intermediate...).
pub fn webpki_client_config(
    roots: rustls::RootCertStore,
    versions: TlsVersions,
) -> Arc<rustls::ClientConfig> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions.versions())
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_shapes() {
        let c = TestChain::for_names(&["mx.example.test"]);
        assert!(c.ca.is_some() && c.intermediate.is_some());
        assert_eq!(c.presented(Presented::LeafOnly).len(), 1);
        assert_eq!(c.presented(Presented::LeafAndIntermediate).len(), 2);
        assert_eq!(c.presented(Presented::Full).len(), 3);
        let s = TestChain::generate(&ChainOptions {
            issuance: Issuance::SelfSigned,
            key: KeyKind::Ed25519,
            names: vec![],
            common_name: Some("cn.only".into()),
            ..ChainOptions::default()
        });
        assert!(s.ca.is_none());
        assert_eq!(s.presented(Presented::Full).len(), 1);
        let p384 = TestChain::generate(&ChainOptions {
            key: KeyKind::EcdsaP384,
            ca_key: KeyKind::EcdsaP384,
            validity: Validity::Expired,
            ..ChainOptions::default()
        });
        let _ = p384.server_config(TlsVersions::Tls13Only, Presented::Full);
        let _ = permissive_client_config(TlsVersions::Both);
    }

    #[test]
    fn issuer_hierarchies() {
        let root = TestIssuer::root("Test Root", KeyKind::EcdsaP256, Validity::Valid);
        let expired = root.issue_ca("Test Intermediate", KeyKind::Ed25519, Validity::Expired);
        assert_eq!(expired.cert.key_kind, KeyKind::Ed25519);
        let key = TestKey::default();
        let a = expired.issue_leaf(&LeafSpec::for_names(&["a.example.test"]), &key);
        let b = root.issue_leaf(
            &LeafSpec::for_names(&[] as &[&str]).with_common_name("cn.only"),
            &a.key(),
        );
        // One key, two certificates.
        assert_eq!(a.spki_der, b.spki_der);
        assert_ne!(a.der, b.der);
        let s = self_signed_leaf(&LeafSpec::default().with_validity(Validity::Expired), &key);
        assert_eq!(s.spki_der, a.spki_der);
        // Issued parts make a chain a server can present.
        let chain = TestChain {
            ca: Some(root.cert.clone()),
            intermediate: None,
            leaf: root.issue_leaf(&LeafSpec::default(), &key),
        };
        let _ = chain.server_config(TlsVersions::Both, Presented::Full);
    }
}
