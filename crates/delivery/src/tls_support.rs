//! Delivery without DANE, per the destination profile's **TLS Support** setting
//!: the path taken when DANE Support is None, when the DANE tables say
//! "fallback", and for SMTP routes to explicit hosts.
//!
//! - [`candidates_from_dns`] / [`candidates_from_route`] turn a domain (MX or implicit
//!   MX) or a route's host list into [`Candidate`]s: host name and address, in the order
//!   to try.
//! - [`open_session`] connects to one candidate, says EHLO and applies the
//!   [`TlsSupport`] mode, emitting [`Event`]s as it goes; it returns a [`Session`] ready
//!   for [`danegate_smtp::SmtpClient::send`], or an [`AttemptError`] (try the next
//!   candidate, or keep the message queued).
//! - [`open_first_session`] walks the candidates in order.
//!
//! The rules that matter for safety:
//! - Only a failure *before* the server's 220 reply to STARTTLS (STARTTLS not offered,
//!   refused with 454 or any other reply) may go on in clear text, and only in the
//!   "Preferred" modes. A failure *after* the 220 (handshake error, certificate rejected,
//!   EHLO inside TLS failing) never continues in clear text on that connection: the
//!   attempt fails temporarily (`4.7.5`), whatever the mode
//!   ([`SmtpError::after_starttls_220`]).
//! - A connection lost while waiting for the 220 leaves nothing to continue on: the
//!   attempt fails temporarily (`4.4.2`); this module never reconnects in clear text.
//! - TLS session resumption stays disabled ([`client_config`]): every handshake
//!   presents a certificate, and the verifier always sees it.
//!
//! DNS: without DANE, DNSSEC status does not decide (Postfix at security level `may`
//! ignores it) with one exception: a BOGUS answer is unusable, exactly as behind any
//! validating resolver, where it would be a SERVFAIL. A BOGUS MX answer defers the whole
//! domain (temporary, `4.4.3`); a BOGUS address answer removes that host's addresses of
//! that family, the other hosts (and families) are still tried.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::{Arc, OnceLock},
};

use danegate_dane::names::ReferenceIds;
use danegate_dns::{Name, Resolver, Security};
use danegate_smtp::{Phase, SmtpClient, SmtpError, TlsInfo};
use danegate_tls::{
    DaneVerifier, Failure, FailureKind, VerifyOutcome, VerifyPolicy, client_config,
    openssl_cipher_name, protocol_name, server_name,
};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime, pem::PemObject};

use crate::{
    IpPreference,
    events::Event,
    mx_walk::{FamilyAnswer, MxFailure, addresses, family_allowed, ips, mx_hosts, normalise},
    path::{Options, Session},
    shadow::TlsSeen,
};

/// The TLS Support setting of a destination profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsSupport {
    /// Plain SMTP: STARTTLS is never used, even when offered.
    #[default]
    None,
    /// TLS if offered, no certificate check. STARTTLS not offered or refused (before
    /// the server's 220): delivery goes on in clear text on the same connection. A
    /// failure after the 220: the attempt fails.
    Preferred,
    /// TLS or no delivery (temporary failure `4.7.5`); no certificate check.
    Required,
    /// As [`TlsSupport::Preferred`], and the certificate is checked against the
    /// trusted roots and names (MX host or recipient domain); the result is logged,
    /// the message is delivered over TLS even when the check fails.
    PreferredVerify,
    /// TLS, and a certificate that chains to a trusted root and names the MX host (or
    /// route host) or the recipient domain; else no delivery (`4.7.5`).
    RequiredVerify,
    /// As [`TlsSupport::RequiredVerify`], but the certificate must name the recipient
    /// domain, or the SMTP route host where a route applies.
    RequiredVerifyHostedDomains,
}

impl TlsSupport {
    /// Every mode, in the order of the profile form.
    pub const ALL: [TlsSupport; 6] = [
        TlsSupport::None,
        TlsSupport::Preferred,
        TlsSupport::Required,
        TlsSupport::PreferredVerify,
        TlsSupport::RequiredVerify,
        TlsSupport::RequiredVerifyHostedDomains,
    ];

    /// The configuration word: `none`, `preferred`, `required`, `preferred-verify`,
    /// `required-verify`, `required-verify-hosted-domains`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsSupport::None => "none",
            TlsSupport::Preferred => "preferred",
            TlsSupport::Required => "required",
            TlsSupport::PreferredVerify => "preferred-verify",
            TlsSupport::RequiredVerify => "required-verify",
            TlsSupport::RequiredVerifyHostedDomains => "required-verify-hosted-domains",
        }
    }

    /// True when no delivery may happen without TLS.
    pub fn tls_required(self) -> bool {
        matches!(
            self,
            TlsSupport::Required
                | TlsSupport::RequiredVerify
                | TlsSupport::RequiredVerifyHostedDomains
        )
    }

    /// True when a failed certificate check stops delivery.
    pub fn verification_required(self) -> bool {
        matches!(
            self,
            TlsSupport::RequiredVerify | TlsSupport::RequiredVerifyHostedDomains
        )
    }

    /// True when the certificate is checked (and the result logged) at all.
    pub fn verifies(self) -> bool {
        self.verification_required() || self == TlsSupport::PreferredVerify
    }
}

impl From<danegate_config::TlsSupport> for TlsSupport {
    /// The destination profile's setting (exhaustive: no string round trip).
    fn from(t: danegate_config::TlsSupport) -> Self {
        use danegate_config::TlsSupport as C;
        match t {
            C::None => TlsSupport::None,
            C::Preferred => TlsSupport::Preferred,
            C::Required => TlsSupport::Required,
            C::PreferredVerify => TlsSupport::PreferredVerify,
            C::RequiredVerify => TlsSupport::RequiredVerify,
            C::RequiredVerifyHostedDomains => TlsSupport::RequiredVerifyHostedDomains,
        }
    }
}

impl fmt::Display for TlsSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsSupport {
    type Err = String;

    /// The configuration words (case-insensitive; `_` or spaces for `-` accepted).
    fn from_str(s: &str) -> Result<Self, String> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '_' || c == ' ' { '-' } else { c })
            .collect();
        TlsSupport::ALL
            .into_iter()
            .find(|m| m.as_str() == norm)
            .ok_or_else(|| {
                format!(
                    "unknown TLS Support value {s:?} (none, preferred, required, \
                     preferred-verify, required-verify, required-verify-hosted-domains)"
                )
            })
    }
}

/// One server to try: the host name (MX host, implicit MX, or SMTP route host; an IP
/// literal for a route to an address) and one of its addresses with the port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// MX host or route host name, without a trailing dot (SNI and reference identifier).
    pub host: String,
    /// The address and port to connect to.
    pub addr: SocketAddr,
}

/// What certificate checks need beyond the candidate: the recipient domain, the SMTP
/// route host (if a route applies) and the trusted roots.
#[derive(Clone, Debug)]
pub struct TlsContext {
    /// The recipient domain (a reference identifier in the Verify modes).
    pub recipient_domain: String,
    /// The SMTP route host, where an SMTP route applies (Hosted-Domains mode).
    pub route_host: Option<String>,
    /// Trusted roots for the Verify modes.
    pub roots: Arc<Vec<TrustAnchor<'static>>>,
}

impl TlsContext {
    /// A context trusting the Mozilla root program as shipped by `webpki-roots`.
    pub fn webpki_roots(recipient_domain: impl Into<String>, route_host: Option<String>) -> Self {
        Self::with_roots(recipient_domain, route_host, Self::webpki_root_anchors())
    }

    /// A context with the given roots.
    pub fn with_roots(
        recipient_domain: impl Into<String>,
        route_host: Option<String>,
        roots: Arc<Vec<TrustAnchor<'static>>>,
    ) -> Self {
        TlsContext {
            recipient_domain: recipient_domain.into(),
            route_host,
            roots,
        }
    }

    /// The `webpki-roots` anchors, built once and shared.
    pub fn webpki_root_anchors() -> Arc<Vec<TrustAnchor<'static>>> {
        static ROOTS: OnceLock<Arc<Vec<TrustAnchor<'static>>>> = OnceLock::new();
        ROOTS
            .get_or_init(|| Arc::new(webpki_roots::TLS_SERVER_ROOTS.to_vec()))
            .clone()
    }

    /// Trust anchors from DER CA certificates (private CAs, tests). Fails on a
    /// certificate that cannot be a trust anchor.
    pub fn anchors_from_der(
        certs: &[CertificateDer<'_>],
    ) -> Result<Vec<TrustAnchor<'static>>, String> {
        let mut store = rustls::RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            store
                .add(c.clone().into_owned())
                .map_err(|e| format!("CA certificate #{}: {e}", i + 1))?;
        }
        Ok(store.roots)
    }

    /// Trust anchors from PEM text holding one or more `CERTIFICATE` blocks (private
    /// CAs, tests). Fails on bad PEM, a bad certificate, or none at all.
    pub fn anchors_from_pem(pem: &[u8]) -> Result<Vec<TrustAnchor<'static>>, String> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("CA PEM: {e}"))?;
        if certs.is_empty() {
            return Err("CA PEM: no CERTIFICATE block".into());
        }
        Self::anchors_from_der(&certs)
    }

    /// The names a certificate may carry in a Verify mode for this candidate:
    /// Hosted-Domains: the recipient domain, plus the route host where a route
    /// applies; the other modes: the candidate's host (MX or route host) and the
    /// recipient domain.
    pub fn reference_ids(&self, mode: TlsSupport, cand: &Candidate) -> ReferenceIds {
        let mut ids = ReferenceIds::default();
        if mode == TlsSupport::RequiredVerifyHostedDomains {
            ids.push(&self.recipient_domain);
            if let Some(h) = &self.route_host {
                ids.push(h);
            }
        } else {
            ids.push(&cand.host);
            ids.push(&self.recipient_domain);
        }
        ids
    }

    fn pkix_policy(&self, mode: TlsSupport, cand: &Candidate) -> VerifyPolicy {
        VerifyPolicy::Pkix {
            roots: self.roots.as_ref().clone(),
            reference_ids: self.reference_ids(mode, cand),
        }
    }

    /// Judges a chain that `cand` presented on a session already open with the PKIX
    /// check `mode` makes in the handshake (the same roots, reference identifiers and
    /// verifier), at `now`: the shadow evaluation's MTA-STS check (RFC 8461 §4.2) on
    /// the delivery's own session, without a second connection.
    pub fn judge_presented(
        &self,
        mode: TlsSupport,
        cand: &Candidate,
        certs: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> VerifyOutcome {
        judge_chain_at(self.pkix_policy(mode, cand), certs, now)
    }
}

/// Why an attempt (or a candidate lookup) did not give a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptError {
    /// True: keep the message queued and retry (next candidate, later); false: the
    /// answer is permanent (NXDOMAIN, null MX, a 5yz greeting or EHLO).
    pub temporary: bool,
    /// RFC 3463 enhanced status code: `4.7.5` TLS Support not met or TLS failed,
    /// `4.4.1` no connection, `4.4.2` connection lost, `4.4.3` DNS failure, `5.1.2`
    /// no such domain, `5.1.10` null MX, `5.4.4` no address, `4.0.0` / `5.0.0` a
    /// server's negative reply.
    pub enhanced: &'static str,
    /// Text for logs and DSNs.
    pub reason: String,
}

impl AttemptError {
    fn temp(enhanced: &'static str, reason: impl Into<String>) -> Self {
        AttemptError {
            temporary: true,
            enhanced,
            reason: reason.into(),
        }
    }

    fn perm(enhanced: &'static str, reason: impl Into<String>) -> Self {
        AttemptError {
            temporary: false,
            enhanced,
            reason: reason.into(),
        }
    }

    /// An SMTP failure outside TLS (connect, greeting, EHLO, STARTTLS command).
    fn smtp(e: &SmtpError, what: &str) -> Self {
        let reason = format!("{what}: {e}");
        match e {
            SmtpError::Connect { .. }
            | SmtpError::Timeout {
                phase: Phase::Connect,
            } => Self::temp("4.4.1", reason),
            SmtpError::Rejected { reply, .. } if reply.is_permanent() => {
                Self::perm("5.0.0", reason)
            }
            SmtpError::Rejected { .. } => Self::temp("4.0.0", reason),
            _ => Self::temp("4.4.2", reason),
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.enhanced, self.reason)
    }
}

impl std::error::Error for AttemptError {}

/// A plain-text session (TLS Support None, or a Preferred mode going on in clear).
fn plain_session(client: SmtpClient, cand: &Candidate, tls_seen: TlsSeen) -> Session {
    Session {
        client,
        host: cand.host.clone(),
        addr: cand.addr,
        protocol: "none".into(),
        cipher: String::new(),
        verification: VerifyOutcome::Unchecked,
        dane: None,
        tls_seen,
    }
}

fn tls_session(client: SmtpClient, cand: &Candidate, info: &TlsInfo, v: VerifyOutcome) -> Session {
    Session {
        client,
        host: cand.host.clone(),
        addr: cand.addr,
        protocol: protocol_name(info.protocol).to_string(),
        cipher: openssl_cipher_name(info.cipher_suite).to_string(),
        verification: v,
        dane: None,
        tls_seen: TlsSeen::Chain(info.peer_certificates.clone()),
    }
}

/// Judge a presented chain with PKIX after the fact (Preferred-Verify).
fn judge_chain(policy: VerifyPolicy, certs: &[CertificateDer<'static>]) -> VerifyOutcome {
    judge_chain_at(policy, certs, UnixTime::now())
}

fn judge_chain_at(
    policy: VerifyPolicy,
    certs: &[CertificateDer<'static>],
    now: UnixTime,
) -> VerifyOutcome {
    match certs.split_first() {
        Some((leaf, rest)) => {
            DaneVerifier::new(policy)
                .verify_chain(leaf, rest, now)
                .outcome
        }
        None => VerifyOutcome::Failed(Failure {
            kind: FailureKind::BadCertificate,
            details: vec!["no certificate presented".into()],
        }),
    }
}

/// Connects to `cand`, says EHLO and applies `mode` (TLS Support),
/// emitting each step to `sink`. Returns a session ready for a mail transaction:
/// over TLS (protocol and OpenSSL cipher names set, `verification` saying what the
/// certificate check decided: `Unchecked` without one, `Pkix` or — Preferred-Verify
/// only — `Failed`), or in clear text (protocol `"none"`, cipher `""`).
///
/// Uses `opts.local`, `opts.timeouts` and `opts.helo_name`; the port is the
/// candidate's. A failure after the server's STARTTLS 220 never gives a clear-text
/// session (see the module documentation).
pub async fn open_session(
    cand: &Candidate,
    mode: TlsSupport,
    ctx: &TlsContext,
    opts: &Options,
    sink: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Result<Session, AttemptError> {
    let ip = cand.addr.ip();
    let port = cand.addr.port();
    let m = mode.to_string();
    sink(&Event::Connecting { ip, port });
    let mut client = match SmtpClient::connect(cand.addr, opts.local, opts.timeouts).await {
        Ok(c) => c,
        Err(e) => {
            sink(&Event::ConnectFailed {
                ip,
                port,
                error: e.to_string(),
            });
            return Err(AttemptError::smtp(
                &e,
                &format!("{} [{ip}]:{port}", cand.host),
            ));
        }
    };
    sink(&Event::Connected {
        ip,
        local: client.local_addr().ip(),
    });
    let caps = match client.ehlo(&opts.helo_name).await {
        Ok(c) => c,
        Err(e) => {
            sink(&Event::ConnectFailed {
                ip,
                port,
                error: format!("EHLO failed: {e}"),
            });
            let err = AttemptError::smtp(&e, &format!("EHLO with {} [{ip}]", cand.host));
            let _ = client.quit().await;
            return Err(err);
        }
    };
    if mode == TlsSupport::None {
        sink(&Event::TlsNotAttempted { ip, mode: m });
        return Ok(plain_session(client, cand, TlsSeen::NotAttempted));
    }

    // Not offered: a failure before any 220.
    if !caps.starttls {
        let reason = "STARTTLS not offered".to_string();
        sink(&Event::StartTlsFailed {
            ip,
            error: reason.clone(),
        });
        return before_220(client, cand, mode, reason, sink).await;
    }

    // The verifier: PKIX in the handshake for the Required-Verify modes (a failure
    // aborts the handshake), unauthenticated otherwise (Preferred-Verify judges the
    // chain afterwards, so that a failure does not stop delivery).
    let verifier = Arc::new(if mode.verification_required() {
        DaneVerifier::new(ctx.pkix_policy(mode, cand))
    } else {
        danegate_tls::danger::accept_any_certificate()
    });
    let slot = verifier.outcome();
    let setup = client_config(verifier)
        .map_err(|e| format!("TLS configuration: {e}"))
        .and_then(|c| {
            server_name(&cand.host)
                .map(|s| (c, s))
                .map_err(|e| format!("bad SNI name {}: {e}", cand.host))
        });
    let (config, sni) = match setup {
        Ok(x) => x,
        Err(reason) => {
            // Nothing was sent yet: for the Preferred modes this is "before the 220".
            sink(&Event::TlsFailed {
                error: reason.clone(),
            });
            return before_220(client, cand, mode, reason, sink).await;
        }
    };
    sink(&Event::CheckingTls);
    match client.starttls(config, sni).await {
        Ok(info) => {
            sink(&Event::TlsEstablished {
                protocol: protocol_name(info.protocol).to_string(),
                cipher: openssl_cipher_name(info.cipher_suite).to_string(),
            });
            let verification = match mode {
                TlsSupport::PreferredVerify => {
                    let v = judge_chain(ctx.pkix_policy(mode, cand), &info.peer_certificates);
                    if let VerifyOutcome::Failed(f) = &v {
                        sink(&Event::CertFailed {
                            reason: f.to_string(),
                        });
                        sink(&Event::CertFailureIgnored { mode: m.clone() });
                    } else {
                        sink(&Event::CertOk {
                            detail: v.to_string(),
                        });
                    }
                    v
                }
                TlsSupport::RequiredVerify | TlsSupport::RequiredVerifyHostedDomains => {
                    let v = slot
                        .take()
                        .map(|r| r.outcome)
                        .unwrap_or(VerifyOutcome::Unchecked);
                    if !matches!(v, VerifyOutcome::Pkix { .. }) {
                        // Cannot happen with a PKIX verifier in the handshake; never
                        // deliver on it anyway.
                        let reason = format!("certificate not verified ({v})");
                        sink(&Event::CertFailed {
                            reason: reason.clone(),
                        });
                        sink(&Event::TlsPolicyFailed {
                            ip,
                            mode: m,
                            reason: reason.clone(),
                        });
                        let _ = client.quit().await;
                        return Err(AttemptError::temp("4.7.5", reason));
                    }
                    sink(&Event::CertOk {
                        detail: v.to_string(),
                    });
                    v
                }
                _ if opts.judge_pkix => {
                    // Judged for the record only (MTA-STS testing): never fails here.
                    judge_chain(
                        ctx.pkix_policy(TlsSupport::PreferredVerify, cand),
                        &info.peer_certificates,
                    )
                }
                _ => {
                    sink(&Event::CertUnchecked {
                        why: format!("TLS Support {m} does not check certificates"),
                    });
                    VerifyOutcome::Unchecked
                }
            };
            Ok(tls_session(client, cand, &info, verification))
        }
        Err(e) if e.after_starttls_220() => {
            // After the 220: never clear text on this connection, whatever the mode.
            sink(&Event::TlsFailed {
                error: e.to_string(),
            });
            let mut reason = format!("TLS with {} [{ip}] failed after STARTTLS: {e}", cand.host);
            if let Some(report) = slot.get()
                && let VerifyOutcome::Failed(f) = &report.outcome
            {
                sink(&Event::CertFailed {
                    reason: f.to_string(),
                });
                reason = format!("certificate of {} [{ip}] not verified: {f}", cand.host);
            }
            sink(&Event::TlsPolicyFailed {
                ip,
                mode: m,
                reason: format!("{reason}; no clear text after the STARTTLS 220"),
            });
            let _ = client.quit().await;
            Err(AttemptError::temp("4.7.5", reason))
        }
        Err(e @ (SmtpError::StartTlsRefused { .. } | SmtpError::StartTlsNotOffered)) => {
            // Before the 220, the clear-text session is intact.
            sink(&Event::StartTlsFailed {
                ip,
                error: e.to_string(),
            });
            before_220(client, cand, mode, e.to_string(), sink).await
        }
        Err(e) => {
            // Before the 220, but the connection is gone (lost, timeout, garbage).
            sink(&Event::StartTlsFailed {
                ip,
                error: e.to_string(),
            });
            let err = AttemptError::smtp(&e, &format!("STARTTLS with {} [{ip}]", cand.host));
            let _ = client.quit().await;
            Err(err)
        }
    }
}

/// STARTTLS failed before the server's 220 on a usable clear-text session: the
/// Preferred modes go on in clear, the Required modes give up (`4.7.5`).
async fn before_220(
    client: SmtpClient,
    cand: &Candidate,
    mode: TlsSupport,
    reason: String,
    sink: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Result<Session, AttemptError> {
    let ip = cand.addr.ip();
    if mode.tls_required() {
        sink(&Event::TlsPolicyFailed {
            ip,
            mode: mode.to_string(),
            reason: reason.clone(),
        });
        let _ = client.quit().await;
        return Err(AttemptError::temp(
            "4.7.5",
            format!(
                "TLS Support {mode}: {reason} by {} [{ip}]; not delivering in clear text",
                cand.host
            ),
        ));
    }
    let reason_seen = reason.clone();
    sink(&Event::ClearTextFallback {
        ip,
        mode: mode.to_string(),
        reason,
    });
    Ok(plain_session(
        client,
        cand,
        TlsSeen::NoStartTls(reason_seen),
    ))
}

/// Tries `cands` in order with [`open_session`] and returns the first session. When
/// all fail: the last temporary error if any attempt failed temporarily (the message
/// stays queued), else the last permanent one; with no candidate, a temporary `4.4.4`.
pub async fn open_first_session(
    cands: &[Candidate],
    mode: TlsSupport,
    ctx: &TlsContext,
    opts: &Options,
    sink: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Result<Session, AttemptError> {
    let mut last_temp = None;
    let mut last_perm = None;
    for c in cands {
        match open_session(c, mode, ctx, opts, &mut *sink).await {
            Ok(s) => return Ok(s),
            Err(e) if e.temporary => last_temp = Some(e),
            Err(e) => last_perm = Some(e),
        }
    }
    Err(last_temp
        .or(last_perm)
        .unwrap_or_else(|| AttemptError::temp("4.4.4", "no server to try")))
}

// ---------------------------------------------------------------------------
// Candidates.

/// What the address lookups of a set of hosts gave.
#[derive(Default)]
struct Scan {
    out: Vec<Candidate>,
    /// Temporary lookup failures and BOGUS answers, for the error text.
    trouble: Vec<String>,
    /// Definitive "no address" answers.
    none: Vec<String>,
}

impl Scan {
    fn push(&mut self, host: &str, addr: SocketAddr) {
        if !self.out.iter().any(|c| c.addr == addr) {
            self.out.push(Candidate {
                host: host.to_string(),
                addr,
            });
        }
    }

    fn add_answers(&mut self, host: &str, port: u16, answers: Vec<FamilyAnswer>) {
        let before = self.out.len();
        for (rtype, r) in answers {
            match r {
                Err(e) => self.trouble.push(format!("{rtype} of {host}: {e}")),
                Ok(a) => {
                    if let Security::Bogus(reason) = &a.security {
                        self.trouble
                            .push(format!("{rtype} of {host}: BOGUS ({reason})"));
                        continue;
                    }
                    for ip in ips(&a) {
                        self.push(host, SocketAddr::new(ip, port));
                    }
                }
            }
        }
        if self.out.len() == before {
            self.none.push(host.to_string());
        }
    }

    /// The candidates, or why there are none: temporary if any lookup failed or was
    /// bogus (or `always_temporary`), else permanent `5.4.4`.
    fn finish(self, what: &str, always_temporary: bool) -> Result<Vec<Candidate>, AttemptError> {
        if !self.out.is_empty() {
            return Ok(self.out);
        }
        if !self.trouble.is_empty() {
            return Err(AttemptError::temp(
                "4.4.3",
                format!("no usable address for {what}: {}", self.trouble.join("; ")),
            ));
        }
        let reason = format!(
            "no address of the wanted families for {what} ({})",
            self.none.join(", ")
        );
        if always_temporary {
            Err(AttemptError::temp("4.4.4", reason))
        } else {
            Err(AttemptError::perm("5.4.4", reason))
        }
    }
}

/// The servers of `domain` (RFC 5321 §5.1): its MX hosts in preference order (equal
/// preferences shuffled), or the domain itself when it has no MX (implicit MX); per
/// host its addresses per `pref`; each with `port` (25 in production). Duplicate
/// addresses are tried once.
///
/// DNSSEC status does not matter, except that BOGUS answers are unusable (see the
/// module documentation). Errors: a failed or BOGUS MX lookup, or no address found
/// while some lookup failed: temporary `4.4.3`; NXDOMAIN: permanent `5.1.2`; a null
/// MX (RFC 7505): permanent `5.1.10`; no address at all: permanent `5.4.4`.
pub async fn candidates_from_dns(
    resolver: &Resolver,
    domain: &str,
    pref: IpPreference,
    port: u16,
) -> Result<Vec<Candidate>, AttemptError> {
    let set = match mx_hosts(resolver, domain, true).await {
        Ok(set) => set,
        Err(f) => {
            let domain = normalise(domain);
            return Err(match f {
                MxFailure::InvalidName => {
                    AttemptError::perm("5.1.2", format!("{domain:?} is not a valid domain name"))
                }
                MxFailure::TempFail(e) => {
                    AttemptError::temp("4.4.3", format!("MX lookup for {domain}: {e}"))
                }
                MxFailure::Bogus(reason) => {
                    AttemptError::temp("4.4.3", format!("BOGUS MX answer for {domain}: {reason}"))
                }
                MxFailure::NxDomain(_) => {
                    AttemptError::perm("5.1.2", format!("{domain}: no such domain (NXDOMAIN)"))
                }
                MxFailure::NullMx(_) => AttemptError::perm(
                    "5.1.10",
                    format!("{domain} accepts no mail (null MX, RFC 7505)"),
                ),
            });
        }
    };
    let looks = futures_util::future::join_all(
        set.hosts.iter().map(|h| addresses(resolver, &h.name, pref)),
    )
    .await;
    let mut scan = Scan::default();
    for (host, answers) in set.hosts.iter().zip(looks) {
        scan.add_answers(&host.text(), port, answers);
    }
    let domain = set.domain;
    scan.finish(&format!("the MX hosts of {domain}"), false)
}

/// The servers of an SMTP route: its hosts in the configured order, each a host name
/// (addresses per `pref`) or an IP literal (`192.0.2.1`, `[192.0.2.1]`, `2001:db8::1`,
/// `[2001:db8::1]`; kept only if its family is allowed by `pref`), with its port.
/// `USEDNS` routes go through [`candidates_from_dns`] instead.
///
/// BOGUS address answers are unusable. A route that yields no address is always a
/// temporary failure (`4.4.3` when a lookup failed, else `4.4.4`): a misconfigured
/// route keeps mail queued rather than bouncing it.
pub async fn candidates_from_route(
    resolver: &Resolver,
    hosts: &[(String, u16)],
    pref: IpPreference,
) -> Result<Vec<Candidate>, AttemptError> {
    let mut scan = Scan::default();
    for (host, port) in hosts {
        let h = host.trim();
        let bare = h
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(h);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            if family_allowed(pref, ip) {
                scan.push(&ip.to_string(), SocketAddr::new(ip, *port));
            } else {
                scan.none.push(ip.to_string());
            }
            continue;
        }
        let lower = bare.trim_end_matches('.').to_ascii_lowercase();
        let Ok(mut name) = Name::from_str(&lower) else {
            scan.none.push(format!("{h:?} (not a host name)"));
            continue;
        };
        name.set_fqdn(true);
        let answers = addresses(resolver, &name, pref).await;
        scan.add_answers(&lower, *port, answers);
    }
    scan.finish("the SMTP route", true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_support_words_round_trip() {
        for m in TlsSupport::ALL {
            assert_eq!(m.as_str().parse::<TlsSupport>(), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(
            "Required_Verify".parse::<TlsSupport>(),
            Ok(TlsSupport::RequiredVerify)
        );
        assert!("tls".parse::<TlsSupport>().is_err());
    }

    #[test]
    fn reference_ids_per_mode() {
        let cand = Candidate {
            host: "mx.example.net".into(),
            addr: "192.0.2.1:25".parse().unwrap(),
        };
        let ctx = TlsContext::with_roots("example.com", None, Arc::new(Vec::new()));
        assert_eq!(
            ctx.reference_ids(TlsSupport::RequiredVerify, &cand).names(),
            ["mx.example.net", "example.com"]
        );
        assert_eq!(
            ctx.reference_ids(TlsSupport::RequiredVerifyHostedDomains, &cand)
                .names(),
            ["example.com"]
        );
        let routed = TlsContext {
            route_host: Some("relay.example.org".into()),
            ..ctx
        };
        assert_eq!(
            routed
                .reference_ids(TlsSupport::RequiredVerifyHostedDomains, &cand)
                .names(),
            ["example.com", "relay.example.org"]
        );
    }

    #[test]
    fn webpki_roots_load() {
        assert!(TlsContext::webpki_root_anchors().len() > 50);
    }
}
