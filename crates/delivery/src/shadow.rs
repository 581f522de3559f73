//! Shadow evaluation: what DANE Mandatory and DANE Opportunistic would have decided for
//! a delivery that ran under the profile's own setting (DANE None, TLS Preferred, ...),
//! without changing that delivery.
//!
//! Two halves:
//! - [`lookup`] fetches what the decision tables need from DNS: the MX set (the shared
//!   [`crate::mx_walk`]), each host's addresses, and TLSA at the TLSA base domain after
//!   a secure address answer (RFC 7672 §2.2.2), through the caller's resolver, so the
//!   answers the delivery fetched come from its cache. The gateway runs it concurrently
//!   with the delivery's connection.
//! - [`evaluate`] is pure: it walks the hosts in preference order as the DANE path does
//!   ([`crate::verify_destination`], RFC 7672 §2) and lets the appliance's tables
//!   ([`danegate_dane::policy`]) decide, taking the certificate column from what the
//!   delivery's own connection showed ([`Observation`]): the chain the server presented
//!   on the TLS session already open is checked against the TLSA RRset (RFC 7672 §3, no
//!   second connection). Where the delivery used no TLS (TLS Support None), or never
//!   reached the host, the certificate column is *not observed*, and so is a verdict
//!   that depends on it: never a guess.
//!
//! MTA-STS: [`ShadowRecord::mta_sts`] is what an enforce MTA-STS policy (RFC 8461 §4,
//! §5) would have decided for the same session ([`StsShadow`]); the gateway fills it
//! from its policy cache and a PKIX check of the chain the session showed.

use std::net::IpAddr;

use danegate_dane::{
    TlsaSetStatus,
    policy::{
        Action, AddrStatus, CertStatus, DaneMode, Decision, Inputs, InsecureMx, MxStatus,
        TlsaStatus, decide_with, depends_on_cert, depends_on_tlsa,
    },
};
use danegate_dns::{AnswerKind, Resolver, Security};
use danegate_tls::{DaneVerifier, VerifyOutcome};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};

use crate::{
    IpPreference,
    mx_walk::{FamilyAnswer, MxFailure, MxHost, addresses, ips, mx_hosts, normalise},
    path::{Session, TlsaLookup, tlsa_lookup, tlsa_set},
};

/// What a delivery connection showed of TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsSeen {
    /// TLS was negotiated; the chain the server presented, leaf first.
    Chain(Vec<CertificateDer<'static>>),
    /// STARTTLS was not offered or was refused before the server's 220 (RFC 3207 §4):
    /// what DANE would have seen as "no TLS".
    NoStartTls(String),
    /// STARTTLS was not tried (TLS Support None): nothing observed.
    #[default]
    NotAttempted,
    /// The delivery's own DANE verifier rejected the chain the server presented (the
    /// same TLSA RRset): why. The handshake was aborted, so there is no session.
    DaneRejected(String),
}

/// The connection a delivery made: the host, its address and what TLS showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The MX host name.
    pub host: String,
    /// The address connected to.
    pub ip: IpAddr,
    /// TLS on that connection.
    pub tls: TlsSeen,
}

impl Observation {
    /// What `session` showed.
    pub fn from_session(s: &Session) -> Self {
        Observation {
            host: s.host.clone(),
            ip: s.addr.ip(),
            tls: s.tls_seen.clone(),
        }
    }

    /// `negotiated`, `no-starttls` or `not-attempted`.
    pub fn tls_word(&self) -> &'static str {
        match self.tls {
            TlsSeen::Chain(_) => "negotiated",
            TlsSeen::NoStartTls(_) => "no-starttls",
            TlsSeen::NotAttempted => "not-attempted",
            TlsSeen::DaneRejected(_) => "rejected",
        }
    }
}

/// The verdict a DANE mode would have given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShadowVerdict {
    /// DANE authenticated the server: would have delivered.
    DaneSuccess,
    /// Would not have delivered: the message would have stayed queued.
    DaneFailed,
    /// Opportunistic only: would have delivered per TLS Support (or, for a secure TLSA
    /// RRset without a usable record, over unauthenticated TLS).
    Fallback,
    /// A temporary DNS failure: would have deferred.
    TempFail,
    /// The deciding certificate check was not observed (no TLS, or the host was not
    /// reached by the delivery).
    NotObserved,
}

impl ShadowVerdict {
    /// `DANE SUCCESS`, `DANE FAILED`, ... as `daneverify` prints its verdicts.
    pub fn words(self) -> &'static str {
        match self {
            ShadowVerdict::DaneSuccess => "DANE SUCCESS",
            ShadowVerdict::DaneFailed => "DANE FAILED",
            ShadowVerdict::Fallback => "DANE FALLBACK",
            ShadowVerdict::TempFail => "DANE TEMPORARY FAILURE",
            ShadowVerdict::NotObserved => "not observed",
        }
    }

    /// Would the mode have delivered (success, or an Opportunistic fallback)?
    pub fn delivers(self) -> bool {
        matches!(self, ShadowVerdict::DaneSuccess | ShadowVerdict::Fallback)
    }
}

/// Why a mode decided as it did, in classes the readiness report can reason about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// The certificate matched the TLSA RRset.
    Authenticated,
    /// The host publishes no TLSA record (securely denied).
    NoTlsa,
    /// The MX RRset is not signed (provably insecure).
    InsecureMx,
    /// The MX host's address RRset is not signed.
    InsecureAddress,
    /// The TLSA RRset is not signed.
    InsecureTlsa,
    /// A BOGUS answer (MX, address or TLSA).
    Bogus,
    /// The certificate the server presented does not match its TLSA RRset.
    CertMismatch,
    /// The server offered no STARTTLS (or refused it).
    NoStartTls,
    /// A secure TLSA RRset without a usable record.
    UnusableTlsa,
    /// A temporary DNS failure.
    DnsTempFail,
    /// The domain does not exist or accepts no mail (NXDOMAIN, null MX).
    NoMailDomain,
    /// The delivery did not reach this host (connection failed or went elsewhere).
    NotReached,
    /// The delivery did not use TLS: the certificate was not observed.
    NoTlsObserved,
}

/// What one DANE mode would have decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeResult {
    /// The verdict.
    pub verdict: ShadowVerdict,
    /// The deciding row, e.g. `Mandatory table line 4: Secure | Secure | NXDOMAIN |  | DANE Fail`;
    /// empty when no row decided (the domain accepts no mail, or not observed).
    pub row: String,
    /// The row's 1-based line in its table; 0 when none.
    pub line: usize,
    /// The class of the reason.
    pub finding: Finding,
    /// The reason in words.
    pub reason: String,
    /// The MX host the deciding row was about, if any.
    pub host: Option<String>,
}

/// The shadow evaluation of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowRecord {
    /// The destination domain.
    pub domain: String,
    /// The host the delivery connected to, if any.
    pub host: Option<String>,
    /// TLS on the delivery's connection: `negotiated`, `no-starttls`,
    /// `not-attempted`, `rejected` (the delivery's DANE check refused the certificate),
    /// or `no-connection`.
    pub tls: String,
    /// What DANE Mandatory would have decided.
    pub mandatory: ModeResult,
    /// What DANE Opportunistic would have decided.
    pub opportunistic: ModeResult,
    /// What an enforce MTA-STS policy (RFC 8461 §5) would have decided for the same
    /// session; `None`: not evaluated (a record written before MTA-STS was evaluated).
    #[serde(default)]
    pub mta_sts: Option<StsShadow>,
}

/// The DNS answers of one domain, as the tables need them.
#[derive(Clone, Debug)]
pub struct ShadowDns {
    domain: String,
    mx: MxOutcome,
}

#[derive(Clone, Debug)]
enum MxOutcome {
    Hosts {
        status: MxStatus,
        hosts: Vec<HostDns>,
    },
    TempFail(String),
    Bogus(String),
    NoMail(String),
}

#[derive(Clone, Debug)]
struct HostDns {
    name: String,
    addrs: Vec<FamilyAnswer>,
    tlsa: Option<TlsaAnswer>,
}

#[derive(Clone, Debug)]
struct TlsaAnswer {
    status: Result<TlsaStatus, String>,
    set: Option<danegate_dane::TlsaSet>,
    reference_ids: danegate_dane::ReferenceIds,
    bogus: Option<String>,
}

impl TlsaAnswer {
    fn from_lookup(t: TlsaLookup) -> Self {
        let (status, set, bogus) = match &t.result {
            Err(e) => (Err(e.to_string()), None, None),
            Ok(ans) => match (&ans.security, ans.kind) {
                (Security::Bogus(r), _) => (Ok(TlsaStatus::Bogus), None, Some(r.to_string())),
                (Security::Insecure, _) => (Ok(TlsaStatus::Insecure), None, None),
                (Security::Secure, AnswerKind::Data) => {
                    let set = tlsa_set(ans);
                    let status = match set.status() {
                        TlsaSetStatus::Usable => TlsaStatus::Secure,
                        TlsaSetStatus::AllUnusable => TlsaStatus::Unusable,
                        TlsaSetStatus::Empty => TlsaStatus::NxDomain,
                    };
                    (Ok(status), Some(set), None)
                }
                (Security::Secure, _) => (Ok(TlsaStatus::NxDomain), None, None),
            },
        };
        TlsaAnswer {
            status,
            set,
            reference_ids: t.reference_ids,
            bogus,
        }
    }
}

impl ShadowDns {
    /// The domain (lower case, no trailing dot).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The MX host whose address answer holds `ip`, if any.
    pub fn host_of(&self, ip: IpAddr) -> Option<&str> {
        let MxOutcome::Hosts { hosts, .. } = &self.mx else {
            return None;
        };
        hosts
            .iter()
            .find(|h| {
                h.addrs
                    .iter()
                    .any(|(_, r)| r.as_ref().is_ok_and(|a| ips(a).contains(&ip)))
            })
            .map(|h| h.name.as_str())
    }
}

fn mx_status(s: &Security) -> MxStatus {
    match s {
        Security::Secure => MxStatus::Secure,
        Security::Insecure => MxStatus::Insecure,
        Security::Bogus(_) => MxStatus::Bogus,
    }
}

fn addr_status(s: &Security) -> AddrStatus {
    match s {
        Security::Secure => AddrStatus::Secure,
        Security::Insecure => AddrStatus::Insecure,
        Security::Bogus(_) => AddrStatus::Bogus,
    }
}

/// Looks up what the DANE tables need for `domain`: MX (RFC 7672 §2.2.1), each host's
/// addresses per `pref`, and TLSA at `_<port>._tcp` of the TLSA base domain after a
/// secure address answer (RFC 7672 §2.2.2); hosts in parallel. Hosts keep their
/// preference order (equal preferences unshuffled).
pub async fn lookup(resolver: &Resolver, domain: &str, port: u16, pref: IpPreference) -> ShadowDns {
    let domain = normalise(domain);
    let mx = match mx_hosts(resolver, &domain, false).await {
        Err(MxFailure::InvalidName) => MxOutcome::NoMail("not a valid domain name".into()),
        Err(MxFailure::TempFail(e)) => MxOutcome::TempFail(format!("MX of {domain}: {e}")),
        Err(MxFailure::Bogus(r)) => MxOutcome::Bogus(r),
        Err(MxFailure::NxDomain(_)) => {
            MxOutcome::NoMail("the domain does not exist (NXDOMAIN)".into())
        }
        Err(MxFailure::NullMx(_)) => {
            MxOutcome::NoMail("null MX (RFC 7505): the domain accepts no mail".into())
        }
        Ok(set) => {
            let status = mx_status(&set.security);
            let hosts = futures_util::future::join_all(
                set.hosts.iter().map(|h| host_dns(resolver, port, pref, h)),
            )
            .await;
            MxOutcome::Hosts { status, hosts }
        }
    };
    ShadowDns { domain, mx }
}

async fn host_dns(resolver: &Resolver, port: u16, pref: IpPreference, h: &MxHost) -> HostDns {
    let addrs = addresses(resolver, &h.name, pref).await;
    let secure = addrs.iter().find_map(|(_, r)| match r {
        Ok(a) if a.security.is_secure() && a.kind == AnswerKind::Data => Some(a.clone()),
        _ => None,
    });
    let tlsa = match secure {
        Some(a) => Some(TlsaAnswer::from_lookup(
            tlsa_lookup(resolver, port, h, &a).await,
        )),
        None => None,
    };
    HostDns {
        name: h.text(),
        addrs,
        tlsa,
    }
}

/// Both modes for one delivery attempt: `obs` is the connection the delivery made
/// (`None`: it made none), `now` the time certificates are checked at.
pub fn shadow_record(
    dns: &ShadowDns,
    obs: Option<&Observation>,
    im: InsecureMx,
    now: UnixTime,
) -> ShadowRecord {
    ShadowRecord {
        domain: dns.domain.clone(),
        host: obs.map(|o| o.host.clone()),
        tls: obs
            .map(Observation::tls_word)
            .unwrap_or("no-connection")
            .to_string(),
        mandatory: evaluate(dns, obs, DaneMode::Mandatory, im, now),
        opportunistic: evaluate(dns, obs, DaneMode::Opportunistic, im, now),
        mta_sts: None,
    }
}

/// What `mode` would have decided (pure; see the module documentation).
pub fn evaluate(
    dns: &ShadowDns,
    obs: Option<&Observation>,
    mode: DaneMode,
    im: InsecureMx,
    now: UnixTime,
) -> ModeResult {
    let ev = Eval {
        mode,
        im,
        obs,
        now,
        domain: &dns.domain,
    };
    match &dns.mx {
        MxOutcome::TempFail(e) => {
            let d = ev.decide(
                MxStatus::TempFail,
                AddrStatus::NotReached,
                TlsaStatus::NotReached,
                CertStatus::NotReached,
            );
            ev.step(d, Finding::DnsTempFail, e.clone(), None).result()
        }
        MxOutcome::Bogus(r) => {
            let d = ev.decide(
                MxStatus::Bogus,
                AddrStatus::NotReached,
                TlsaStatus::NotReached,
                CertStatus::NotReached,
            );
            ev.step(
                d,
                Finding::Bogus,
                format!("BOGUS MX answer for {}: {r}", dns.domain),
                None,
            )
            .result()
        }
        MxOutcome::NoMail(why) => ModeResult {
            verdict: ShadowVerdict::DaneFailed,
            row: String::new(),
            line: 0,
            finding: Finding::NoMailDomain,
            reason: format!("no mail for {}: {why}", dns.domain),
            host: None,
        },
        MxOutcome::Hosts { status, hosts } => {
            let (mut fail, mut unobserved, mut temp) = (None, None, None);
            for h in hosts {
                let s = ev.host(h, *status);
                match s.kind {
                    Kind::Success | Kind::Fallback => return s.result(),
                    Kind::Fail => {
                        fail.get_or_insert(s);
                    }
                    Kind::NotObserved => {
                        unobserved.get_or_insert(s);
                    }
                    Kind::Temp | Kind::HostUnusable => {
                        temp.get_or_insert(s);
                    }
                }
            }
            match (unobserved, fail, temp) {
                (Some(u), f, _) => {
                    let mut r = u.result();
                    if let Some(f) = f {
                        r.reason = format!("{}; and: {}", f.reason, r.reason);
                    }
                    r
                }
                (None, Some(f), _) => f.result(),
                (None, None, Some(t)) => t.result(),
                (None, None, None) => ModeResult {
                    verdict: ShadowVerdict::TempFail,
                    row: String::new(),
                    line: 0,
                    finding: Finding::NotReached,
                    reason: format!("no usable MX host for {}", dns.domain),
                    host: None,
                },
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Success,
    Fallback,
    Fail,
    Temp,
    /// A TLSA lookup failure: the whole host is unusable (RFC 7672 §2.1.2).
    HostUnusable,
    NotObserved,
}

struct Step {
    kind: Kind,
    verdict: ShadowVerdict,
    row: String,
    line: usize,
    finding: Finding,
    reason: String,
    host: Option<String>,
}

impl Step {
    fn result(self) -> ModeResult {
        ModeResult {
            verdict: self.verdict,
            row: self.row,
            line: self.line,
            finding: self.finding,
            reason: self.reason,
            host: self.host,
        }
    }
}

struct Eval<'a> {
    mode: DaneMode,
    im: InsecureMx,
    obs: Option<&'a Observation>,
    now: UnixTime,
    domain: &'a str,
}

impl Eval<'_> {
    fn decide(&self, mx: MxStatus, a: AddrStatus, tlsa: TlsaStatus, cert: CertStatus) -> Decision {
        decide_with(self.mode, Inputs { mx, a, tlsa, cert }, self.im)
    }

    fn step(&self, d: Decision, finding: Finding, reason: String, host: Option<&str>) -> Step {
        let (kind, verdict) = match d.action {
            Action::DaneSuccess => (Kind::Success, ShadowVerdict::DaneSuccess),
            Action::Fallback | Action::TlsUnauthenticated => {
                (Kind::Fallback, ShadowVerdict::Fallback)
            }
            Action::DaneFail => (Kind::Fail, ShadowVerdict::DaneFailed),
            Action::TempFail => (Kind::Temp, ShadowVerdict::TempFail),
        };
        Step {
            kind,
            verdict,
            row: format!(
                "{:?} table line {}: {}",
                self.mode,
                d.line,
                d.row.to_string().replace('\t', " | ")
            ),
            line: d.line,
            finding,
            reason,
            host: host.map(str::to_string),
        }
    }

    fn not_observed(&self, finding: Finding, reason: String, host: &str) -> Step {
        Step {
            kind: Kind::NotObserved,
            verdict: ShadowVerdict::NotObserved,
            row: String::new(),
            line: 0,
            finding,
            reason,
            host: Some(host.to_string()),
        }
    }

    /// One MX host, as the DANE path's `try_host`.
    fn host(&self, h: &HostDns, mxs: MxStatus) -> Step {
        let mut attempts: Vec<(IpAddr, AddrStatus)> = Vec::new();
        let mut bogus: Option<String> = None;
        let mut temp: Option<String> = None;
        for (rtype, r) in &h.addrs {
            match r {
                Err(e) => {
                    temp.get_or_insert(format!("{rtype} of {}: {e}", h.name));
                }
                Ok(a) => {
                    if let Security::Bogus(reason) = &a.security {
                        bogus.get_or_insert(format!(
                            "BOGUS {rtype} answer for {}: {reason}",
                            h.name
                        ));
                        continue;
                    }
                    for ip in ips(a) {
                        attempts.push((ip, addr_status(&a.security)));
                    }
                }
            }
        }
        if let Some(reason) = bogus {
            let d = self.decide(
                mxs,
                AddrStatus::Bogus,
                TlsaStatus::NotReached,
                CertStatus::NotReached,
            );
            return self.step(d, Finding::Bogus, reason, Some(&h.name));
        }
        if attempts.is_empty() {
            let d = self.decide(
                mxs,
                AddrStatus::TempFail,
                TlsaStatus::NotReached,
                CertStatus::NotReached,
            );
            let reason = temp.unwrap_or_else(|| format!("no address found for {}", h.name));
            return self.step(d, Finding::DnsTempFail, reason, Some(&h.name));
        }
        let (mut fail, mut unobserved, mut tempstep) = (None, None, None);
        for (ip, a) in attempts {
            let s = self.addr(h, mxs, ip, a);
            match s.kind {
                Kind::Success | Kind::Fallback | Kind::HostUnusable => return s,
                Kind::Fail => {
                    fail.get_or_insert(s);
                }
                Kind::NotObserved => {
                    unobserved.get_or_insert(s);
                }
                Kind::Temp => {
                    tempstep.get_or_insert(s);
                }
            }
        }
        fail.or(unobserved).or(tempstep).unwrap_or_else(|| {
            self.not_observed(
                Finding::NotReached,
                format!("no address of {} was tried", h.name),
                &h.name,
            )
        })
    }

    /// One address of a host, as the DANE path's `try_addr`.
    fn addr(&self, h: &HostDns, mxs: MxStatus, ip: IpAddr, a: AddrStatus) -> Step {
        let host = h.name.as_str();
        let (mode, im) = (self.mode, self.im);
        if !depends_on_tlsa(mode, im, mxs, a) {
            let d = self.decide(mxs, a, TlsaStatus::Insecure, CertStatus::Failed);
            let (f, r) = dns_finding(self.domain, host, mxs, a, TlsaStatus::Insecure);
            return self.step(d, f, r, Some(host));
        }
        let Some(t) = &h.tlsa else {
            let d = self.decide(mxs, a, TlsaStatus::NotReached, CertStatus::NotReached);
            return self.step(
                d,
                Finding::NotReached,
                format!("TLSA of {host} not looked up"),
                Some(host),
            );
        };
        let tstatus = match &t.status {
            Err(e) => {
                let d = self.decide(mxs, a, TlsaStatus::TempFail, CertStatus::NotReached);
                let mut s = self.step(
                    d,
                    Finding::DnsTempFail,
                    format!("TLSA lookup of {host} failed: {e}"),
                    Some(host),
                );
                s.kind = Kind::HostUnusable;
                return s;
            }
            Ok(s) => *s,
        };
        let Some(set) = &t.set else {
            let d = self.decide(mxs, a, tstatus, CertStatus::NotReached);
            let (f, mut r) = dns_finding(self.domain, host, mxs, a, tstatus);
            if let Some(b) = &t.bogus {
                r = format!("{r}: {b}");
            }
            return self.step(d, f, r, Some(host));
        };
        if !depends_on_cert(mode, im, mxs, a, tstatus) {
            let d = self.decide(mxs, a, tstatus, CertStatus::Failed);
            let (f, r) = dns_finding(self.domain, host, mxs, a, tstatus);
            return self.step(d, f, r, Some(host));
        }
        // The certificate column: only from the delivery's own connection to this address.
        let obs = match self.obs {
            Some(o) if o.ip == ip => o,
            _ => {
                return self.not_observed(
                    Finding::NotReached,
                    format!(
                        "the delivery did not connect to {host} [{ip}]: certificate not observed"
                    ),
                    host,
                );
            }
        };
        let (cert, finding, reason) = match &obs.tls {
            TlsSeen::NotAttempted => {
                return self.not_observed(
                    Finding::NoTlsObserved,
                    format!(
                        "the delivery to {host} [{ip}] did not use TLS (TLS Support none): certificate not observed"
                    ),
                    host,
                );
            }
            TlsSeen::NoStartTls(why) => (
                CertStatus::NotReached,
                Finding::NoStartTls,
                format!(
                    "{host} [{ip}] offers no STARTTLS ({why}); a secure TLSA RRset forbids plain text"
                ),
            ),
            TlsSeen::DaneRejected(why) => (
                CertStatus::Failed,
                Finding::CertMismatch,
                format!("TLSA does not match the certificate of {host}: {why}"),
            ),
            TlsSeen::Chain(_) if tstatus == TlsaStatus::Unusable => (
                CertStatus::Failed,
                Finding::UnusableTlsa,
                format!("the secure TLSA RRset of {host} has no usable record"),
            ),
            TlsSeen::Chain(chain) => match check_chain(chain, set, &t.reference_ids, self.now) {
                Ok(detail) => (
                    CertStatus::Success,
                    Finding::Authenticated,
                    format!("the certificate of {host} matches its TLSA RRset ({detail})"),
                ),
                Err(why) => (
                    CertStatus::Failed,
                    Finding::CertMismatch,
                    format!("TLSA does not match the certificate of {host}: {why}"),
                ),
            },
        };
        let d = self.decide(mxs, a, tstatus, cert);
        let (finding, reason) = if mxs == MxStatus::Insecure && d.action != Action::DaneSuccess {
            dns_finding(self.domain, host, mxs, a, tstatus)
        } else {
            (finding, reason)
        };
        self.step(d, finding, reason, Some(host))
    }
}

/// The chain against the TLSA RRset (RFC 7672 §3): `Ok(what matched)` or `Err(why not)`.
fn check_chain(
    chain: &[CertificateDer<'static>],
    set: &danegate_dane::TlsaSet,
    refs: &danegate_dane::ReferenceIds,
    now: UnixTime,
) -> Result<String, String> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err("no certificate presented".into());
    };
    let v = DaneVerifier::dane(set.clone(), refs.clone());
    match v.verify_chain(leaf, rest, now).outcome {
        o @ VerifyOutcome::Dane(_) => Ok(o.to_string()),
        other => Err(other.to_string()),
    }
}

/// The finding and reason of a decision made from DNS statuses alone.
fn dns_finding(
    domain: &str,
    host: &str,
    mx: MxStatus,
    a: AddrStatus,
    t: TlsaStatus,
) -> (Finding, String) {
    if mx == MxStatus::Insecure {
        return (
            Finding::InsecureMx,
            format!("the MX RRset of {domain} is not DNSSEC-signed"),
        );
    }
    if a == AddrStatus::Insecure {
        return (
            Finding::InsecureAddress,
            format!("the address of {host} is not DNSSEC-signed"),
        );
    }
    match t {
        TlsaStatus::NxDomain => (Finding::NoTlsa, format!("{host} publishes no TLSA record")),
        TlsaStatus::Insecure => (
            Finding::InsecureTlsa,
            format!("the TLSA RRset of {host} is not DNSSEC-signed"),
        ),
        TlsaStatus::Bogus => (Finding::Bogus, format!("BOGUS TLSA answer for {host}")),
        TlsaStatus::Unusable => (
            Finding::UnusableTlsa,
            format!("the secure TLSA RRset of {host} has no usable record"),
        ),
        TlsaStatus::TempFail => (
            Finding::DnsTempFail,
            format!("TLSA lookup of {host} failed"),
        ),
        TlsaStatus::Secure | TlsaStatus::NotReached => {
            (Finding::NotReached, format!("TLSA of {host} not checked"))
        }
    }
}

/// What an enforce MTA-STS policy would have decided for a delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StsVerdict {
    /// The session met the policy (RFC 8461 §4.1, §4.2): would have delivered.
    Pass,
    /// The session did not meet it: mode enforce would have deferred the mail.
    Fail,
    /// The domain publishes no policy (no TXT record, or mode `none`).
    NoPolicy,
    /// The policy could not be fetched (and none was cached): no policy applies.
    FetchFailed,
    /// The delivery used no TLS (TLS Support None) or made no connection: the
    /// certificate was not observed.
    NotObserved,
    /// The policy was not known yet (its lookup was still running).
    NotChecked,
}

impl StsVerdict {
    /// In words: `MTA-STS OK`, `MTA-STS FAILED`, `no policy`, ...
    pub fn words(self) -> &'static str {
        match self {
            StsVerdict::Pass => "MTA-STS OK",
            StsVerdict::Fail => "MTA-STS FAILED",
            StsVerdict::NoPolicy => "no policy",
            StsVerdict::FetchFailed => "policy fetch failed",
            StsVerdict::NotObserved => "not observed",
            StsVerdict::NotChecked => "not checked",
        }
    }
}

/// Why the MTA-STS evaluation decided as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StsFinding {
    /// PKIX-valid certificate naming the MX host, TLS 1.2 or later.
    Valid,
    /// DANE authenticated the session: DANE takes precedence (RFC 8461 §2).
    DaneAuthenticated,
    /// The MX host matches no `mx` pattern of the policy (RFC 8461 §4.1).
    MxMismatch,
    /// The MX host offered no STARTTLS (or refused it).
    StarttlsNotSupported,
    /// TLS older than 1.2.
    OldTls,
    /// The certificate does not name the MX host.
    CertificateHostMismatch,
    /// The certificate has expired (or is not yet valid).
    CertificateExpired,
    /// The chain does not lead to a trusted root.
    CertificateNotTrusted,
    /// Another failure (an aborted handshake, a DANE failure under an enforce policy).
    ValidationFailure,
    /// No policy published.
    NoPolicy,
    /// The policy is mode `none`.
    ModeNone,
    /// The policy fetch failed.
    FetchFailed,
    /// The delivery did not use TLS.
    NoTlsObserved,
    /// The delivery made no connection.
    NoConnection,
    /// The policy lookup was still running.
    Pending,
}

/// The MTA-STS part of a shadow record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsShadow {
    /// The verdict.
    pub verdict: StsVerdict,
    /// The class of the reason.
    pub finding: StsFinding,
    /// The reason in words.
    pub reason: String,
    /// The MX host it is about, if any.
    pub host: Option<String>,
    /// The policy's id, if a policy applied.
    pub policy_id: Option<String>,
    /// The mode the domain publishes (`enforce`, `testing`, `none`), if any.
    pub policy_mode: Option<String>,
    /// The RFC 8460 §4.3 result type of a failure (`certificate-expired`, ...).
    pub result_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_findings_name_the_first_insecure_step() {
        let f = |mx, a, t| dns_finding("d.test", "mx.d.test", mx, a, t).0;
        use AddrStatus as A;
        use MxStatus as M;
        use TlsaStatus as T;
        assert_eq!(f(M::Insecure, A::Secure, T::Secure), Finding::InsecureMx);
        assert_eq!(
            f(M::Secure, A::Insecure, T::Secure),
            Finding::InsecureAddress
        );
        assert_eq!(f(M::Secure, A::Secure, T::NxDomain), Finding::NoTlsa);
        assert_eq!(f(M::Secure, A::Secure, T::Insecure), Finding::InsecureTlsa);
        assert_eq!(f(M::Secure, A::Secure, T::Unusable), Finding::UnusableTlsa);
    }

    #[test]
    fn verdict_words_and_delivery() {
        assert!(ShadowVerdict::DaneSuccess.delivers());
        assert!(ShadowVerdict::Fallback.delivers());
        assert!(!ShadowVerdict::DaneFailed.delivers());
        assert!(!ShadowVerdict::NotObserved.delivers());
        assert_eq!(ShadowVerdict::DaneFailed.words(), "DANE FAILED");
        assert_eq!(
            serde_json::to_string(&ShadowVerdict::NotObserved).unwrap(),
            "\"not-observed\""
        );
    }

    #[test]
    fn empty_chain_is_a_mismatch() {
        let r = check_chain(
            &[],
            &danegate_dane::TlsaSet::empty(),
            &danegate_dane::ReferenceIds::default(),
            UnixTime::now(),
        );
        assert!(r.is_err());
    }
}
