//! The MTA-STS check of one recipient domain (RFC 8461) and its TLS-RPT record
//! (RFC 8460 §3), shared by `danegate stsverify` (one domain) and `danegate audit`
//! (many): the `_mta-sts` TXT record (§3.1), the policy fetch and parse (§3.3, §3.2),
//! each MX host with its pattern match (§4.1) and, for the matching ones, STARTTLS, the
//! TLS version and the PKIX result for the MX host's name (§4.2, §5), and the verdict.
//!
//! It checks MTA-STS alone: where DANE applies to an MX host, the gateway lets DANE
//! decide (RFC 8461 §2; see `daneverify`). How an MX host's session is opened is a
//! [`MxProbe`], so the audit can share one session per MX address among its domains
//! while the verdict stays the one `stsverify` gives.

use std::{future::Future, pin::Pin};

use danegate_delivery::{
    Candidate, Event, IpPreference, Options, TlsContext, TlsSupport, candidates_from_dns,
    open_session,
};
use danegate_dns::{AnswerKind, Name, RecordType, Resolver, Security};
use danegate_mta_sts::{
    Fetcher, Mode, PolicySummary, ResultType, fetch::Discovery,
    outcome::classify_certificate_failure,
};
use danegate_tlsrpt::TlsRptRecord;
use serde::Serialize;

/// Exit status: the policy is satisfied by at least one MX host.
pub const EXIT_SATISFIED: u8 = 0;
/// Exit status: the policy is not satisfied (enforce: mail would not be delivered).
pub const EXIT_NOT_SATISFIED: u8 = 1;
/// Exit status: the domain has no (valid) policy, or its mode is `none`.
pub const EXIT_NO_POLICY: u8 = 3;
/// Exit status: temporary failure (DNS, no MX host reachable).
pub const EXIT_TEMPFAIL: u8 = 75;

/// One MX host address checked.
#[derive(Serialize, Debug, Clone)]
pub struct HostReport {
    /// The MX host name.
    pub host: String,
    /// The address and port tried.
    pub address: String,
    /// The host matches one of the policy's `mx` patterns (§4.1).
    pub matches_policy: bool,
    /// STARTTLS offered (`None`: not tried or not reached).
    pub starttls: Option<bool>,
    /// The TLS version negotiated.
    pub tls_version: Option<String>,
    /// `valid: ...` or the RFC 8460 result type and why.
    pub pkix: Option<String>,
    /// `ok`, a result type, `unreachable: ...`, or `not in the policy: never used`.
    pub result: String,
}

/// The whole check of one domain (`stsverify --json`).
#[derive(Serialize, Debug, Default, Clone)]
pub struct Report {
    /// The domain.
    pub domain: String,
    /// The `_mta-sts` TXT record, as `v=STSv1; id=...;`.
    pub txt: Option<String>,
    /// Its `id`.
    pub policy_id: Option<String>,
    /// The policy fetched.
    pub policy: Option<PolicySummary>,
    /// Why there is no policy (TXT or fetch error).
    pub policy_error: Option<String>,
    /// The RFC 8460 §4.3.2 result type of a failed fetch.
    pub policy_error_type: Option<String>,
    /// Each MX host address.
    pub hosts: Vec<HostReport>,
    /// The verdict line, e.g. `MTA-STS SATISFIED for example.org (mode enforce)`.
    pub verdict: String,
    /// The exit status `stsverify` gives ([`EXIT_SATISFIED`], ...).
    pub exit: u8,
    /// The lines `stsverify` prints before the verdict.
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl Report {
    /// The verdict in one word: `satisfied`, `failed`, `no-policy`, `temp-fail`.
    pub fn verdict_word(&self) -> &'static str {
        match self.exit {
            EXIT_SATISFIED => "satisfied",
            EXIT_NOT_SATISFIED => "failed",
            EXIT_NO_POLICY => "no-policy",
            _ => "temp-fail",
        }
    }

    /// What a policy in mode `enforce` would decide for the domain, whatever its
    /// actual mode (RFC 8461 §5): `deliver` (a matching MX host passed), `refuse`
    /// (none did: mail would stay queued and bounce), `temp-fail` (nothing known), or
    /// `None` when there is no policy in force (none, invalid, mode `none`).
    pub fn enforce_decision(&self) -> Option<&'static str> {
        match self.exit {
            EXIT_SATISFIED => Some("deliver"),
            EXIT_NOT_SATISFIED => Some("refuse"),
            EXIT_TEMPFAIL if self.policy.is_some() => Some("temp-fail"),
            _ => None,
        }
    }
}

/// What opening a session to one MX address under a policy came to.
#[derive(Clone, Debug)]
pub struct MxSession {
    /// `Ok((protocol, verification))`, or `Err((enhanced status, reason))`.
    pub result: Result<(String, String), (&'static str, String)>,
    /// The steps of the attempt.
    pub events: Vec<Event>,
}

/// Opens (and closes) an MTA-STS session to one MX address.
pub trait MxProbe: Send + Sync {
    /// A session to `cand` requiring a PKIX-valid certificate naming it (`ctx`).
    fn session<'a>(
        &'a self,
        cand: &'a Candidate,
        ctx: &'a TlsContext,
        opts: &'a Options,
    ) -> Pin<Box<dyn Future<Output = MxSession> + Send + 'a>>;
}

/// The live session: STARTTLS required, the certificate verified (TLS Support
/// `RequiredVerify`, TLS 1.2 or later, RFC 8461 §4.2), then QUIT.
pub async fn live_session(cand: &Candidate, ctx: &TlsContext, opts: &Options) -> MxSession {
    let mut events: Vec<Event> = Vec::new();
    let result = open_session(
        cand,
        TlsSupport::RequiredVerify,
        ctx,
        opts,
        &mut |e: &Event| events.push(e.clone()),
    )
    .await;
    let result = match result {
        Ok(s) => {
            let ok = (s.protocol.clone(), s.verification.to_string());
            let _ = s.client.quit().await;
            Ok(ok)
        }
        Err(e) => Err((e.enhanced, e.reason)),
    };
    MxSession { result, events }
}

/// [`live_session`] for every address (what `stsverify` does).
pub struct DirectProbe;

impl MxProbe for DirectProbe {
    fn session<'a>(
        &'a self,
        cand: &'a Candidate,
        ctx: &'a TlsContext,
        opts: &'a Options,
    ) -> Pin<Box<dyn Future<Output = MxSession> + Send + 'a>> {
        Box::pin(live_session(cand, ctx, opts))
    }
}

fn classify(events: &[Event]) -> (ResultType, Option<bool>) {
    let mut starttls = None;
    for e in events {
        match e {
            Event::CheckingTls => starttls = Some(true),
            Event::StartTlsFailed { .. } => starttls = Some(false),
            _ => {}
        }
    }
    for e in events.iter().rev() {
        match e {
            Event::CertFailed { reason } => {
                return (classify_certificate_failure(reason), starttls);
            }
            Event::StartTlsFailed { .. } => {
                return (ResultType::StarttlsNotSupported, starttls);
            }
            _ => {}
        }
    }
    (ResultType::ValidationFailure, starttls)
}

/// What the check needs besides the domain.
pub struct StsCheck<'a> {
    /// The validating resolver.
    pub resolver: &'a Resolver,
    /// The policy fetcher (HTTPS client with the trusted roots, policy host port).
    pub fetcher: &'a Fetcher,
    /// Session options: SMTP port, timeouts, EHLO name.
    pub options: &'a Options,
    /// The roots MX certificates must chain to (its other fields are replaced per MX).
    pub tls: &'a TlsContext,
    /// How sessions are opened.
    pub probe: &'a dyn MxProbe,
}

impl StsCheck<'_> {
    /// Checks `domain` (lower case, no trailing dot); the result is in `r` (its
    /// `domain` is set here) and its exit status returned (also in `r.exit`).
    pub async fn run(&self, domain: &str, r: &mut Report) -> u8 {
        r.domain = domain.to_string();
        let code = self.check(domain, r).await;
        r.exit = code;
        code
    }

    async fn check(&self, domain: &str, r: &mut Report) -> u8 {
        // 1. TXT (RFC 8461 §3.1).
        let record = match self.fetcher.discover(self.resolver, domain).await {
            Discovery::Record(rec) => rec,
            Discovery::NoPolicy(e) => {
                r.lines.push(format!("TXT _mta-sts.{domain}: {e}"));
                r.policy_error = Some(e.to_string());
                r.verdict = format!("MTA-STS NO POLICY for {domain}");
                return EXIT_NO_POLICY;
            }
            Discovery::TempFail(e) => {
                r.lines
                    .push(format!("TXT _mta-sts.{domain}: lookup failed: {e}"));
                r.policy_error = Some(e);
                r.verdict = format!("MTA-STS TEMPORARY FAILURE for {domain}");
                return EXIT_TEMPFAIL;
            }
        };
        r.lines
            .push(format!("TXT _mta-sts.{domain}: v=STSv1; id={};", record.id));
        r.txt = Some(format!("v=STSv1; id={};", record.id));
        r.policy_id = Some(record.id.clone());

        // 2. The policy (§3.3, §3.2).
        let policy = match self.fetcher.fetch(self.resolver, domain).await {
            Ok(p) => p,
            Err(e) => {
                r.lines
                    .push(format!("Policy fetch failed ({}): {e}", e.result_type()));
                r.policy_error = Some(e.detail.clone());
                r.policy_error_type = Some(e.result_type().to_string());
                r.verdict = format!("MTA-STS NO POLICY for {domain} ({})", e.result_type());
                return EXIT_NO_POLICY;
            }
        };
        r.lines.push(format!(
            "Policy https://mta-sts.{domain}/.well-known/mta-sts.txt: mode {} max_age {} mx {}",
            policy.mode,
            policy.max_age,
            policy.mx_text()
        ));
        r.policy = Some(PolicySummary::new(domain, &record.id, &policy));
        if policy.mode == Mode::None {
            r.verdict = format!("MTA-STS NO POLICY for {domain} (mode none)");
            return EXIT_NO_POLICY;
        }

        // 3. Each MX host: pattern, STARTTLS, TLS, PKIX naming the MX host (§4).
        let port = self.options.port;
        let cands =
            match candidates_from_dns(self.resolver, domain, IpPreference::Ipv4Preferred, port)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    r.lines.push(format!("MX of {domain}: {}", e.reason));
                    r.verdict = format!("MTA-STS TEMPORARY FAILURE for {domain}: {}", e.reason);
                    return if e.temporary {
                        EXIT_TEMPFAIL
                    } else {
                        EXIT_NOT_SATISFIED
                    };
                }
            };
        let (mut satisfied, mut temp, mut any_match) = (false, false, false);
        for cand in &cands {
            let matches = policy.mx_matches(&cand.host);
            let mut h = HostReport {
                host: cand.host.clone(),
                address: cand.addr.to_string(),
                matches_policy: matches,
                starttls: None,
                tls_version: None,
                pkix: None,
                result: String::new(),
            };
            if !matches {
                h.result = "not in the policy: never used".into();
                r.lines.push(format!(
                    "MX {} [{}]: does not match the policy",
                    cand.host,
                    cand.addr.ip()
                ));
                r.hosts.push(h);
                continue;
            }
            any_match = true;
            let ctx = TlsContext::with_roots(cand.host.clone(), None, self.tls.roots.clone());
            let s = self.probe.session(cand, &ctx, self.options).await;
            match s.result {
                Ok((protocol, verification)) => {
                    h.starttls = Some(true);
                    h.tls_version = Some(protocol);
                    h.pkix = Some(format!("valid: {verification}"));
                    h.result = "ok".into();
                    satisfied = true;
                }
                Err((enhanced, reason)) => {
                    let (rt, starttls) = classify(&s.events);
                    h.starttls = starttls;
                    if enhanced != "4.7.5" {
                        temp = true;
                        h.result = format!("unreachable: {reason}");
                    } else {
                        h.pkix = Some(format!("{rt}: {reason}"));
                        h.result = rt.to_string();
                    }
                }
            }
            r.lines.push(format!(
                "MX {} [{}]: matches the policy; STARTTLS {}; TLS {}; PKIX {}",
                h.host,
                cand.addr.ip(),
                match h.starttls {
                    Some(true) => "offered",
                    Some(false) => "not offered",
                    None => "-",
                },
                h.tls_version.as_deref().unwrap_or("-"),
                h.pkix.as_deref().unwrap_or(&h.result)
            ));
            r.hosts.push(h);
        }
        if satisfied {
            r.verdict = format!("MTA-STS SATISFIED for {domain} (mode {})", policy.mode);
            EXIT_SATISFIED
        } else if any_match && temp && !r.hosts.iter().any(|h| h.pkix.is_some()) {
            r.verdict =
                format!("MTA-STS TEMPORARY FAILURE for {domain}: no matching MX host reachable");
            EXIT_TEMPFAIL
        } else {
            let why = if any_match {
                "no MX host matching the policy passed"
            } else {
                "no MX host matches the policy"
            };
            let consequence = if policy.mode == Mode::Enforce {
                "mail would not be delivered"
            } else {
                "mode testing: mail would be delivered, the failure reported"
            };
            r.verdict = format!("MTA-STS FAILED for {domain}: {why}; {consequence}");
            EXIT_NOT_SATISFIED
        }
    }
}

/// A domain's TLS-RPT record (RFC 8460 §3): `_smtp._tls.<domain>` TXT.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct TlsRptView {
    /// `valid`, `absent` (no TXT record, or none beginning with `v=TLSRPTv1`),
    /// `invalid` (a syntax error, several records, a BOGUS answer) or `temp-fail`.
    pub status: &'static str,
    /// The TXT records found (strings concatenated).
    pub txt: Vec<String>,
    /// The report destinations of a valid record (`mailto:...`, `https://...`).
    pub rua: Vec<String>,
    /// Why the record is absent, invalid or unknown.
    pub error: Option<String>,
}

/// Looks up and parses the TLS-RPT record of `domain` the way the gateway does before
/// sending it a report: insecure answers count, BOGUS does not, and unless exactly one
/// TXT record begins with `v=TLSRPTv1` the domain has none (§3).
pub async fn tlsrpt_record(resolver: &Resolver, domain: &str) -> TlsRptView {
    let view = |status, txt, rua, error: String| TlsRptView {
        status,
        txt,
        rua,
        error: Some(error),
    };
    let qname = format!("_smtp._tls.{domain}.");
    let name = match qname.parse::<Name>() {
        Ok(n) => n,
        Err(e) => return view("invalid", vec![], vec![], format!("bad name {qname}: {e}")),
    };
    let answer = match resolver.lookup(&name, RecordType::TXT).await {
        Ok(a) => a,
        Err(e) => {
            return view(
                "temp-fail",
                vec![],
                vec![],
                format!("TXT _smtp._tls.{domain}: {e}"),
            );
        }
    };
    if let Security::Bogus(why) = &answer.security {
        return view(
            "invalid",
            vec![],
            vec![],
            format!("TXT _smtp._tls.{domain} is BOGUS ({why})"),
        );
    }
    if answer.kind != AnswerKind::Data {
        return view(
            "absent",
            vec![],
            vec![],
            format!("no TXT record at _smtp._tls.{domain}"),
        );
    }
    let txts: Vec<String> = answer.txt_strings();
    match TlsRptRecord::select(&txts) {
        Ok(rec) => TlsRptView {
            status: "valid",
            txt: txts,
            rua: rec.rua.iter().map(ToString::to_string).collect(),
            error: None,
        },
        Err(e @ danegate_tlsrpt::RecordError::None) => view("absent", txts, vec![], e.to_string()),
        Err(e) => view("invalid", txts, vec![], e.to_string()),
    }
}
