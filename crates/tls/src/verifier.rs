//! The server certificate verifier: DANE (RFC 7672 §3, RFC 7671 §5), no
//! verification (opportunistic TLS), or PKIX against caller-supplied roots.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use danegate_dane::{
    CertStatus, CertUsage, MatchingType, NameCheck, ReferenceIds, Selector, Tlsa, TlsaSet,
    TlsaSetStatus, check_names,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

use crate::cert::{CertInfo, sequence_contents};

/// Longest presented chain looked at (a longer one fails).
const MAX_CHAIN: usize = 16;

/// How the server certificate is judged.
#[derive(Clone, Debug)]
pub enum VerifyPolicy {
    /// DANE (RFC 7672 §3): the certificate must match a usable record of the TLSA
    /// RRset; DANE-TA(2) also checks the chain, dates and names against the
    /// reference identifiers. A set with no usable record fails every
    /// certificate: for a secure but wholly unusable RRset (TLS mandatory,
    /// unauthenticated, RFC 7672 §2.2) use [`VerifyPolicy::AcceptAnyCertificate`].
    Dane {
        /// The TLSA RRset of the host.
        tlsa: TlsaSet,
        /// Names a DANE-TA certificate may carry (RFC 7672 §3.2.2).
        reference_ids: ReferenceIds,
    },
    /// Any certificate is accepted (opportunistic TLS; a secure TLSA RRset without a
    /// usable record, RFC 7672 §2.2). The handshake signatures are still verified.
    /// Built with [`crate::danger::accept_any_certificate`], whose name says what it does.
    AcceptAnyCertificate,
    /// PKIX with caller-supplied trust anchors (TLS Support "Verify" modes): the
    /// chain must lead to one of `roots`, dates checked, and the leaf must carry
    /// one of the reference identifiers (SAN dNSName, CN without SAN).
    Pkix {
        /// Trusted roots.
        roots: Vec<TrustAnchor<'static>>,
        /// Acceptable names.
        reference_ids: ReferenceIds,
    },
}

/// Where the trust anchor of a DANE-TA match came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaSource {
    /// A presented certificate (its depth is [`DaneMatch::depth`]; 0 = the leaf itself).
    Presented,
    /// A full certificate or public key published in the TLSA record itself
    /// (`2 0 0` / `2 1 0`, RFC 7671 §5.2.2).
    Dns,
}

/// A successful DANE authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaneMatch {
    /// The TLSA record that matched.
    pub record: Tlsa,
    /// Depth of the matched certificate in the chain: 0 is the leaf; for a trust
    /// anchor taken from DNS, the number of presented certificates below it.
    pub depth: usize,
    /// For DANE-TA, where the trust anchor came from.
    pub ta_source: Option<TaSource>,
    /// For DANE-TA, the reference identifier and the presented name that matched.
    pub name: Option<(String, String)>,
}

/// Why verification failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The TLSA set has no usable record.
    NoUsableRecords,
    /// No usable record matched any certificate of the chain (or a DNS-supplied
    /// trust anchor signed none).
    NoMatch,
    /// A DANE-TA record matched, but the chain to it did not verify (signature,
    /// dates, constraints).
    ChainInvalid,
    /// A DANE-TA record matched and the chain verified, but the leaf carries
    /// none of the reference identifiers.
    NameMismatch,
    /// The leaf certificate could not be read.
    BadCertificate,
}

/// A failed verification with the reason per record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The most telling reason (name mismatch over invalid chain over no match).
    pub kind: FailureKind,
    /// One line per record or candidate tried, e.g.
    /// `"2 0 1 ab..: matches depth 1 (CN=ca); chain: CertExpired"`.
    pub details: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FailureKind::NoUsableRecords => "no usable TLSA record",
            FailureKind::NoMatch => "no TLSA record matched the certificate chain",
            FailureKind::ChainInvalid => "certificate chain to the DANE-TA trust anchor is invalid",
            FailureKind::NameMismatch => {
                "certificate name does not match the reference identifiers"
            }
            FailureKind::BadCertificate => "server certificate unreadable",
        };
        write!(f, "{what}")?;
        if !self.details.is_empty() {
            write!(f, ": {}", self.details.join("; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The error rustls carries for a failed verification. rustls prints its
/// `Debug` form, so that is the readable text.
struct FailureError(Failure);

impl fmt::Debug for FailureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for FailureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for FailureError {}

/// What the verifier decided for one handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// DANE authenticated the server.
    Dane(DaneMatch),
    /// PKIX verified the chain and the name (reference identifier, presented name).
    Pkix {
        /// The reference identifier that matched.
        reference: String,
        /// The presented name that matched it.
        presented: String,
    },
    /// Unauthenticated mode: the certificate was not checked.
    Unchecked,
    /// Verification failed; the handshake was aborted.
    Failed(Failure),
}

impl VerifyOutcome {
    /// The certificate column of the DANE decision tables
    /// ([`danegate_dane::policy`]): `Success` only for a DANE match; an
    /// unchecked, PKIX-verified or failed certificate is `Failed` for DANE.
    pub fn dane_cert_status(&self) -> CertStatus {
        match self {
            VerifyOutcome::Dane(_) => CertStatus::Success,
            _ => CertStatus::Failed,
        }
    }
}

/// One line for the logs, e.g. `DANE-TA 2 0 1 3f1c..: matched depth 1, name
/// mx.example.com (presented *.example.com)`.
impl fmt::Display for VerifyOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyOutcome::Dane(m) => {
                write!(
                    f,
                    "{} {}: matched ",
                    usage_name(m.record.usage),
                    short(&m.record)
                )?;
                match (&m.ta_source, m.depth) {
                    (Some(TaSource::Dns), d) => write!(
                        f,
                        "trust anchor from DNS above depth {}",
                        d.saturating_sub(1)
                    )?,
                    (_, 0) => write!(f, "the leaf")?,
                    (_, d) => write!(f, "depth {d}")?,
                }
                if let Some((reference, presented)) = &m.name {
                    write!(f, ", name {reference}")?;
                    if reference != presented {
                        write!(f, " (presented {presented})")?;
                    }
                }
                Ok(())
            }
            VerifyOutcome::Pkix {
                reference,
                presented,
            } => write!(f, "PKIX verified, name {reference} (presented {presented})"),
            VerifyOutcome::Unchecked => write!(f, "certificate not checked"),
            VerifyOutcome::Failed(failure) => write!(f, "{failure}"),
        }
    }
}

/// What the verifier saw, beyond the verdict: for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The verdict.
    pub outcome: VerifyOutcome,
    /// Subjects of the presented chain, leaf first.
    pub chain_subjects: Vec<String>,
}

/// A shared slot holding the report of the most recent verification. Clone it
/// before the handshake, read it after: the handshake error alone does not say
/// which record matched or why none did.
///
/// One slot belongs to one [`DaneVerifier`]; use one verifier (and config) per
/// connection when the reports of concurrent handshakes must not mix.
#[derive(Clone, Debug, Default)]
pub struct OutcomeSlot(Arc<Mutex<Option<VerifyReport>>>);

impl OutcomeSlot {
    fn lock(&self) -> MutexGuard<'_, Option<VerifyReport>> {
        // A poisoned lock still holds a valid Option: never panic for it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest report, if any, leaving it in place.
    pub fn get(&self) -> Option<VerifyReport> {
        self.lock().clone()
    }

    /// The latest report, if any, emptying the slot.
    pub fn take(&self) -> Option<VerifyReport> {
        self.lock().take()
    }

    fn set(&self, report: VerifyReport) {
        *self.lock() = Some(report);
    }
}

/// A rustls [`ServerCertVerifier`] for DANE, unauthenticated or PKIX TLS
/// (see [`VerifyPolicy`]).
///
/// The certificate decision ignores the `server_name` rustls passes (the SNI);
/// names come from the policy's reference identifiers. Handshake signatures
/// are always verified with the *ring* provider's algorithms. Each call records
/// a [`VerifyReport`] in the [`OutcomeSlot`].
pub struct DaneVerifier {
    policy: VerifyPolicy,
    provider: Arc<CryptoProvider>,
    slot: OutcomeSlot,
    calls: AtomicUsize,
}

impl fmt::Debug for DaneVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaneVerifier")
            .field("policy", &self.policy)
            .field("calls", &self.calls.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl DaneVerifier {
    /// A verifier for `policy`, with the rustls *ring* crypto provider.
    pub fn new(policy: VerifyPolicy) -> Self {
        DaneVerifier {
            policy,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            slot: OutcomeSlot::default(),
            calls: AtomicUsize::new(0),
        }
    }

    /// Shorthand for [`VerifyPolicy::Dane`].
    pub fn dane(tlsa: TlsaSet, reference_ids: ReferenceIds) -> Self {
        Self::new(VerifyPolicy::Dane {
            tlsa,
            reference_ids,
        })
    }

    /// The policy.
    pub fn policy(&self) -> &VerifyPolicy {
        &self.policy
    }

    /// The crypto provider (also used by [`crate::client_config`]).
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    /// A handle on the report slot.
    pub fn outcome(&self) -> OutcomeSlot {
        self.slot.clone()
    }

    /// How many times a certificate was verified (each full handshake once).
    pub fn verifications(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Judge a presented chain at time `now` without a handshake (the handshake
    /// path calls this too). Does not touch the outcome slot.
    pub fn verify_chain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> VerifyReport {
        let chain: Vec<&CertificateDer<'_>> = std::iter::once(end_entity)
            .chain(intermediates.iter())
            .collect();
        let infos: Vec<CertInfo> = chain
            .iter()
            .take(MAX_CHAIN)
            .map(|c| CertInfo::parse(c.as_ref()))
            .collect();
        let chain_subjects = infos.iter().map(|i| i.subject.clone()).collect();
        let outcome = if chain.len() > MAX_CHAIN {
            VerifyOutcome::Failed(Failure {
                kind: FailureKind::BadCertificate,
                details: vec![format!(
                    "chain of {} certificates, more than {MAX_CHAIN}",
                    chain.len()
                )],
            })
        } else {
            let ctx = Ctx {
                chain: &chain,
                infos: &infos,
                now,
                provider: &self.provider,
            };
            match &self.policy {
                VerifyPolicy::AcceptAnyCertificate => VerifyOutcome::Unchecked,
                VerifyPolicy::Dane {
                    tlsa,
                    reference_ids,
                } => ctx.dane(tlsa, reference_ids),
                VerifyPolicy::Pkix {
                    roots,
                    reference_ids,
                } => ctx.pkix(roots, reference_ids),
            }
        };
        VerifyReport {
            outcome,
            chain_subjects,
        }
    }
}

struct Ctx<'a, 'c> {
    chain: &'a [&'a CertificateDer<'c>],
    infos: &'a [CertInfo],
    now: UnixTime,
    provider: &'a CryptoProvider,
}

/// A webpki chain error in words an administrator reads in a log line (webpki's own
/// `Display` is its `Debug`, with raw Unix times).
fn webpki_text(e: &webpki::Error) -> String {
    let when = |t: &UnixTime| utc_date(t.as_secs());
    match e {
        webpki::Error::CertExpired { not_after, .. } => {
            format!("certificate expired (not valid after {})", when(not_after))
        }
        webpki::Error::CertNotValidYet { not_before, .. } => {
            format!(
                "certificate not yet valid (not valid before {})",
                when(not_before)
            )
        }
        webpki::Error::UnknownIssuer => "the chain does not lead to the trust anchor".into(),
        webpki::Error::InvalidSignatureForPublicKey | webpki::Error::SignatureAlgorithmMismatch => {
            "a signature in the chain does not verify".into()
        }
        webpki::Error::CaUsedAsEndEntity => "the leaf is a CA certificate".into(),
        webpki::Error::EndEntityUsedAsCa => "an end-entity certificate is used as a CA".into(),
        webpki::Error::NameConstraintViolation => {
            "a name constraint of the chain is violated".into()
        }
        webpki::Error::PathLenConstraintViolated => "a path length constraint is violated".into(),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "the certificate is not valid for TLS server authentication (extended key usage)".into()
        }
        webpki::Error::UnsupportedCertVersion => "unsupported certificate version (v1?)".into(),
        other => format!("chain invalid ({other:?})"),
    }
}

/// `2026-11-28 00:03:09 UTC` for seconds since the epoch.
fn utc_date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| danegate_timefmt::utc(s, danegate_timefmt::Layout::Readable))
        .unwrap_or_else(|| format!("{secs} (seconds since 1970)"))
}

fn now_secs(now: UnixTime) -> i64 {
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

fn short(rec: &Tlsa) -> String {
    let s = rec.to_string();
    match s.char_indices().nth(24) {
        Some((i, _)) => format!("{}..", &s[..i]),
        None => s,
    }
}

impl Ctx<'_, '_> {
    fn leaf(&self) -> Option<&CertInfo> {
        self.infos.first()
    }

    fn dane(&self, tlsa: &TlsaSet, refs: &ReferenceIds) -> VerifyOutcome {
        if tlsa.status() != TlsaSetStatus::Usable {
            return VerifyOutcome::Failed(Failure {
                kind: FailureKind::NoUsableRecords,
                details: tlsa
                    .ignored()
                    .iter()
                    .map(|i| match &i.record {
                        Some(r) => format!("{}: {}", short(r), i.reason),
                        None => i.reason.to_string(),
                    })
                    .collect(),
            });
        }
        let mut details = Vec::new();
        let mut kind = FailureKind::NoMatch;
        let (Some(leaf_der), Some(leaf)) = (self.chain.first(), self.leaf()) else {
            return VerifyOutcome::Failed(Failure {
                kind: FailureKind::BadCertificate,
                details: vec!["no certificate presented".into()],
            });
        };

        // DANE-EE(3): the leaf only; no names, no dates (RFC 7672 §3.1.1, §3.2.1).
        for rec in tlsa.dane_ee() {
            if matches_cert(rec, leaf_der.as_ref(), leaf) {
                return VerifyOutcome::Dane(DaneMatch {
                    record: rec.clone(),
                    depth: 0,
                    ta_source: None,
                    name: None,
                });
            }
            details.push(format!("{}: does not match the leaf", short(rec)));
        }

        // DANE-TA(2): a trust anchor in the chain or in DNS (RFC 7672 §3.1.2,
        // RFC 7671 §5.2.2); chain, dates and names are checked.
        for rec in tlsa.dane_ta() {
            let mut matched_any = false;
            for (depth, (der, info)) in self.chain.iter().zip(self.infos).enumerate() {
                if !matches_cert(rec, der.as_ref(), info) {
                    continue;
                }
                matched_any = true;
                let at = format!("{}: matches depth {depth} ({})", short(rec), info.subject);
                let verified = if depth == 0 {
                    // The leaf is its own trust anchor: the chain is the leaf alone.
                    leaf.check_dates(now_secs(self.now))
                } else {
                    self.chain_to_presented_ta(depth)
                };
                match verified {
                    Err(e) => {
                        details.push(format!("{at}; chain: {e}"));
                        kind = worse(kind, FailureKind::ChainInvalid);
                    }
                    Ok(()) => match self.names(refs) {
                        Ok(name) => {
                            return VerifyOutcome::Dane(DaneMatch {
                                record: rec.clone(),
                                depth,
                                ta_source: Some(TaSource::Presented),
                                name: Some(name),
                            });
                        }
                        Err(e) => {
                            details.push(format!("{at}; {e}"));
                            kind = worse(kind, FailureKind::NameMismatch);
                        }
                    },
                }
            }
            if matched_any {
                continue;
            }
            // A full certificate or key in DNS that signed a presented certificate.
            if rec.matching_type == MatchingType::Full {
                match self.chain_to_dns_ta(rec) {
                    Ok(depth) => match self.names(refs) {
                        Ok(name) => {
                            return VerifyOutcome::Dane(DaneMatch {
                                record: rec.clone(),
                                depth,
                                ta_source: Some(TaSource::Dns),
                                name: Some(name),
                            });
                        }
                        Err(e) => {
                            details.push(format!("{}: trust anchor from DNS; {e}", short(rec)));
                            kind = worse(kind, FailureKind::NameMismatch);
                        }
                    },
                    Err(e) => details.push(format!(
                        "{}: trust anchor from DNS signed no presented certificate ({e})",
                        short(rec)
                    )),
                }
            } else {
                details.push(format!(
                    "{}: matches no certificate in the chain",
                    short(rec)
                ));
            }
        }
        if let Some(e) = &leaf.parse_error {
            details.push(format!("leaf: {e}"));
        }
        VerifyOutcome::Failed(Failure { kind, details })
    }

    /// Verify the leaf up to the presented certificate at `ta_depth` used as
    /// trust anchor, and that anchor's own dates.
    fn chain_to_presented_ta(&self, ta_depth: usize) -> Result<(), String> {
        let ta_der = self.chain.get(ta_depth).ok_or("no such certificate")?;
        let ta_info = self.infos.get(ta_depth).ok_or("no such certificate")?;
        ta_info.check_dates(now_secs(self.now))?;
        let anchor = webpki::anchor_from_trusted_cert(ta_der)
            .map_err(|e| format!("trust anchor unusable: {e}"))?;
        let intermediates: Vec<CertificateDer<'_>> = self
            .chain
            .iter()
            .enumerate()
            .filter(|(d, _)| *d != 0 && *d != ta_depth)
            .map(|(_, c)| CertificateDer::from(c.as_ref()))
            .collect();
        self.webpki_verify(&[anchor], &intermediates).map(|_| ())
    }

    /// Verify the leaf up to a trust anchor published in DNS (`2 0 0` full
    /// certificate or `2 1 0` full SPKI). Returns the TA's depth.
    fn chain_to_dns_ta(&self, rec: &Tlsa) -> Result<usize, String> {
        let mut anchors = Vec::new();
        let dns_cert;
        match rec.selector {
            Selector::FullCert => {
                dns_cert = CertificateDer::from(rec.data.as_slice());
                let info = CertInfo::parse(&rec.data);
                info.check_dates(now_secs(self.now))?;
                anchors.push(
                    webpki::anchor_from_trusted_cert(&dns_cert)
                        .map_err(|e| format!("certificate in DNS unusable: {e}"))?,
                );
            }
            Selector::Spki => {
                let spki = sequence_contents(&rec.data).ok_or("SPKI in DNS is not DER")?;
                // One anchor per issuer name in the chain: the key may have
                // signed any presented certificate.
                for info in self.infos {
                    if let Some(issuer) = &info.issuer_contents {
                        let anchor = TrustAnchor {
                            subject: issuer.as_slice().into(),
                            subject_public_key_info: spki.into(),
                            name_constraints: None,
                        };
                        if !anchors.contains(&anchor) {
                            anchors.push(anchor);
                        }
                    }
                }
            }
            Selector::Other(_) => return Err("unknown selector".into()),
        }
        let intermediates: Vec<CertificateDer<'_>> = self
            .chain
            .iter()
            .skip(1)
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        self.webpki_verify(&anchors, &intermediates)
    }

    /// webpki path building from the leaf to one of `anchors`; returns the
    /// number of certificates below the anchor.
    fn webpki_verify(
        &self,
        anchors: &[TrustAnchor<'_>],
        intermediates: &[CertificateDer<'_>],
    ) -> Result<usize, String> {
        let leaf_der = self.chain.first().ok_or("no certificate presented")?;
        let ee = EndEntityCert::try_from(*leaf_der).map_err(|e| format!("leaf: {e}"))?;
        let path = ee
            .verify_for_usage(
                self.provider.signature_verification_algorithms.all,
                anchors,
                intermediates,
                self.now,
                KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|e| webpki_text(&e))?;
        Ok(path.intermediate_certificates().count() + 1)
    }

    /// RFC 7672 §3.2.3: SAN dNSNames, CN only when there is none.
    fn names(&self, refs: &ReferenceIds) -> Result<(String, String), String> {
        let leaf = self.leaf().ok_or("no certificate presented")?;
        match check_names(refs, &leaf.san_dns, &leaf.common_names) {
            NameCheck::Matched {
                reference,
                presented,
            } => Ok((reference, presented)),
            NameCheck::NoMatch { presented } => Err(format!(
                "names [{}] match none of [{}]",
                presented.join(", "),
                refs
            )),
        }
    }

    fn pkix(&self, roots: &[TrustAnchor<'static>], refs: &ReferenceIds) -> VerifyOutcome {
        let intermediates: Vec<CertificateDer<'_>> = self
            .chain
            .iter()
            .skip(1)
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        if let Err(e) = self.webpki_verify(roots, &intermediates) {
            return VerifyOutcome::Failed(Failure {
                kind: FailureKind::ChainInvalid,
                details: vec![e],
            });
        }
        match self.names(refs) {
            Ok((reference, presented)) => VerifyOutcome::Pkix {
                reference,
                presented,
            },
            Err(e) => VerifyOutcome::Failed(Failure {
                kind: FailureKind::NameMismatch,
                details: vec![e],
            }),
        }
    }
}

fn matches_cert(rec: &Tlsa, der: &[u8], info: &CertInfo) -> bool {
    match rec.selector {
        Selector::FullCert => rec.matches_selected(der),
        Selector::Spki => info
            .spki
            .as_deref()
            .is_some_and(|spki| rec.matches_selected(spki)),
        Selector::Other(_) => false,
    }
}

/// The more telling of two failure kinds.
fn worse(a: FailureKind, b: FailureKind) -> FailureKind {
    let rank = |k: &FailureKind| match k {
        FailureKind::NameMismatch => 3,
        FailureKind::ChainInvalid => 2,
        _ => 1,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let report = self.verify_chain(end_entity, intermediates, now);
        let result = match &report.outcome {
            VerifyOutcome::Failed(f) => Err(rustls::Error::InvalidCertificate(
                CertificateError::Other(OtherError(Arc::new(FailureError(f.clone())))),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        };
        self.slot.set(report);
        result
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        None
    }
}

/// Usage of a record as text, e.g. `DANE-TA`, for logs.
pub fn usage_name(usage: CertUsage) -> String {
    usage
        .mnemonic()
        .map(str::to_string)
        .unwrap_or_else(|| format!("usage {usage}"))
}
