//! MTA-STS (RFC 8461) in delivery: the policy of the recipient domain, applied after
//! DANE (§2: where a secure TLSA applies, DANE decides; MTA-STS still filters the MX
//! hosts).
//!
//! - mode `enforce`: only MX hosts matching the policy's `mx` patterns, only over TLS
//!   (1.2 or 1.3: rustls offers nothing older) with a certificate chaining to a
//!   trusted root and naming the MX host — whatever the profile's TLS Support says
//!   (the policy raises it); anything else defers with `4.7.5` and the reason;
//! - mode `testing`: delivery as without a policy, the failure recorded;
//! - mode `none`, no policy, `mta_sts = "off"`, an SMTP route to fixed hosts: nothing.
//!
//! Each attempt's outcome is kept per domain as an [`StsOutcome`] (Delivery Status)
//! and logged to mail_logs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danegate_config::MtaSts;
use danegate_delivery::{
    Action, DaneMode, Event, MxFilter, Options, Session, TlsContext, TlsSupport, Verdict,
    candidates_from_dns, open_session, verify_destination,
};
use danegate_https::{ClientOptions, HttpsClient};
use danegate_mta_sts::outcome::classify_certificate_failure;
use danegate_mta_sts::{
    CachedPolicy, Fetcher, Mode, PolicyCache, ResultType, StsOutcome, StsResult,
};
use danegate_tls::VerifyOutcome;
use rustls_pki_types::TrustAnchor;

use crate::Shared;
use crate::deliver::{Attempt, Destination};

/// The gateway's MTA-STS state: the policy cache and the latest outcome per domain.
pub(crate) struct StsState {
    pub cache: PolicyCache,
    pub outcomes: Mutex<HashMap<String, StsOutcome>>,
    /// The latest policy lookup per domain, for the shadow evaluation.
    pub notes: crate::shadow_sts::Notes,
}

impl StsState {
    /// The cache in `data_dir`, fetching with `roots` (webpki plus the operator's CA
    /// file) from policy hosts on `port` (443).
    pub fn new(data_dir: &Path, roots: &[TrustAnchor<'static>], port: u16) -> Result<Self, String> {
        let client = HttpsClient::new(ClientOptions {
            extra_roots: roots.to_vec(),
            without_webpki_roots: true,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        })
        .map_err(|e| format!("MTA-STS HTTPS client: {e}"))?;
        Ok(StsState {
            cache: PolicyCache::open(data_dir, Fetcher { client, port }),
            outcomes: Mutex::new(HashMap::new()),
            notes: crate::shadow_sts::Notes::default(),
        })
    }

    fn record(&self, dcid: u64, o: StsOutcome) {
        danegate_metrics::mta_sts_outcome(danegate_metrics::mta_sts_result(
            o.result_word(),
            o.delivered_anyway,
        ));
        if o.policy.is_some() || matches!(o.result, StsResult::Failure { .. }) {
            tracing::info!(target: "danegate::mail", "DCID {dcid} {}", o.log_text());
        }
        if let Ok(mut m) = self.outcomes.lock() {
            m.insert(o.domain.clone(), o);
        }
    }
}

/// The policy in force for this delivery (mode enforce or testing), if any. A fetch
/// failure that leaves no policy is recorded as the domain's outcome.
pub(crate) async fn policy_for(
    shared: &Shared,
    dest: &Destination,
    dcid: u64,
) -> Option<CachedPolicy> {
    if dest.profile.mta_sts == MtaSts::Off || dest.route_hosts.is_some() {
        return None;
    }
    let res = shared
        .sts
        .cache
        .resolve(&shared.resolver(), &dest.domain)
        .await;
    shared
        .sts
        .notes
        .note(&dest.domain, &res, danegate_mta_sts::now_unix());
    let fetch_failed = res.failure.is_some();
    if let Some((result_type, detail)) = res.failure {
        shared.sts.record(
            dcid,
            StsOutcome {
                policy: None,
                domain: dest.domain.clone(),
                mx_host: None,
                receiving_ip: None,
                result: StsResult::Failure {
                    result_type,
                    detail,
                },
                delivered_anyway: false,
            },
        );
    }
    let policy = res.policy.filter(CachedPolicy::in_force);
    if policy.is_none() && !fetch_failed {
        danegate_metrics::mta_sts_outcome(danegate_metrics::MtaStsResult::NoPolicy);
    }
    policy
}

/// The MTA-STS policy in force for `dest` as TLS-RPT names it (RFC 8460 §4.4: the
/// policy file's lines as `policy-string`, the `mx` patterns as `mx-host`), if one
/// applies: the attempt's sessions that no DANE policy covered are counted under it.
pub(crate) fn tlsrpt_policy(
    shared: &Shared,
    dest: &Destination,
) -> Option<danegate_tlsrpt::Policy> {
    if dest.profile.mta_sts == MtaSts::Off || dest.route_hosts.is_some() {
        return None;
    }
    let p = shared
        .sts
        .cache
        .get(&dest.domain)
        .filter(CachedPolicy::in_force)?;
    let mx: Vec<String> = p.policy.mx.iter().map(|m| m.to_string()).collect();
    let mut lines = vec![
        "version: STSv1".to_string(),
        format!("mode: {}", p.policy.mode.as_str()),
    ];
    lines.extend(mx.iter().map(|m| format!("mx: {m}")));
    lines.push(format!("max_age: {}", p.policy.max_age));
    Some(danegate_tlsrpt::Policy::sts(lines, mx))
}

fn outcome(
    dest: &Destination,
    p: &CachedPolicy,
    session: Option<&Session>,
    host: Option<String>,
    result: StsResult,
) -> StsOutcome {
    StsOutcome {
        policy: Some(p.summary(&dest.domain)),
        domain: dest.domain.clone(),
        mx_host: session.map(|s| s.host.clone()).or(host),
        receiving_ip: session.map(|s| s.addr.ip()),
        delivered_anyway: p.policy.mode == Mode::Testing
            && matches!(result, StsResult::Failure { .. }),
        result,
    }
}

fn failure(result_type: ResultType, detail: impl Into<String>) -> StsResult {
    StsResult::Failure {
        result_type,
        detail: detail.into(),
    }
}

/// Mode testing: what the policy would have said about the session delivery got.
pub(crate) fn judge_testing(
    shared: &Shared,
    dest: &Destination,
    dcid: u64,
    p: &CachedPolicy,
    s: &Session,
) {
    let result = if !p.policy.mx_matches(&s.host) {
        failure(
            ResultType::ValidationFailure,
            format!(
                "MX host {} does not match the policy (mx: {})",
                s.host,
                p.policy.mx_text()
            ),
        )
    } else if s.protocol == "none" {
        failure(
            ResultType::StarttlsNotSupported,
            format!("no TLS with {}", s.host),
        )
    } else {
        match &s.verification {
            VerifyOutcome::Dane(_) | VerifyOutcome::Pkix { .. } => StsResult::Ok,
            VerifyOutcome::Failed(f) => {
                failure(classify_certificate_failure(&f.to_string()), f.to_string())
            }
            VerifyOutcome::Unchecked => failure(
                ResultType::ValidationFailure,
                "certificate not checked".to_string(),
            ),
        }
    };
    shared
        .sts
        .record(dcid, outcome(dest, p, Some(s), None, result));
}

/// Mode enforce: DANE first, then PKIX to the MX hosts the policy allows.
pub(crate) async fn open_enforced(
    shared: &Shared,
    dest: &Destination,
    dcid: u64,
    p: &CachedPolicy,
    mut opts: Options,
    log: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Result<Session, Attempt> {
    let domain = dest.domain.as_str();
    let resolver = shared.resolver();
    let policy = Arc::new(p.policy.clone());
    let defer = |shared: &Shared, host: Option<String>, rt: ResultType, why: String| {
        shared
            .sts
            .record(dcid, outcome(dest, p, None, host, failure(rt, why.clone())));
        Attempt::Defer {
            enhanced: "4.7.5".into(),
            reason: format!(
                "MTA-STS policy of {domain} (mode enforce, id {}): {why}",
                p.id
            ),
        }
    };
    // The MX hosts the policy allows (RFC 8461 §4.1).
    let cands = candidates_from_dns(&resolver, domain, opts.ip_preference, shared.opts.smtp_port)
        .await
        .map_err(|e| crate::deliver::defer_or_bounce(e.temporary, e.enhanced, e.reason))?;
    let allowed: Vec<_> = cands
        .into_iter()
        .filter(|c| policy.mx_matches(&c.host))
        .collect();
    if allowed.is_empty() {
        return Err(defer(
            shared,
            None,
            ResultType::ValidationFailure,
            format!("no MX host matches the policy (mx: {})", policy.mx_text()),
        ));
    }
    // DANE first (RFC 8461 §2): where a secure TLSA applies, DANE decides, and a DANE
    // failure is never rescued by PKIX.
    if dest.dane != DaneMode::None {
        let keep = policy.clone();
        opts.mx_filter = Some(MxFilter::new(move |h| keep.mx_matches(h)));
        let walk = verify_destination(&resolver, domain, &opts, log).await;
        opts.mx_filter = None;
        match walk.verdict {
            Verdict::DaneSuccess => {
                if let Some(s) = walk.session {
                    shared
                        .sts
                        .record(dcid, outcome(dest, p, Some(&s), None, StsResult::Ok));
                    return Ok(s);
                }
            }
            Verdict::DaneFailed => {
                let why = crate::deliver::last_reason(&walk.events);
                tracing::info!(target: "danegate::mail", "DCID {dcid} DANE FAILED for {domain}: {why}");
                return Err(defer(
                    shared,
                    walk.fallback_host,
                    ResultType::ValidationFailure,
                    format!(
                        "DANE FAILED for {domain}: {why}; a DANE failure is never rescued by PKIX (RFC 8461 §2)"
                    ),
                ));
            }
            Verdict::TempFail => {
                return Err(Attempt::Defer {
                    enhanced: "4.4.3".into(),
                    reason: format!(
                        "temporary failure for {domain}: {}",
                        crate::deliver::last_reason(&walk.events)
                    ),
                });
            }
            Verdict::Fallback => {
                // No DANE for this host (or an unusable TLSA set): MTA-STS's PKIX
                // check decides, on a fresh session.
                if let Some(s) = walk.session {
                    debug_assert_eq!(s.dane, Some(Action::TlsUnauthenticated));
                    let _ = s.client.quit().await;
                }
            }
        }
    }
    // PKIX (RFC 8461 §4.2): TLS with a certificate chaining to a trusted root and
    // naming the MX host — the recipient domain is no reference identifier here.
    let mut last: Option<(ResultType, String, bool, String)> = None;
    for cand in &allowed {
        let ctx = TlsContext::with_roots(cand.host.clone(), None, shared.roots.clone());
        let mut seen: Vec<Event> = Vec::new();
        let mut both = |e: &Event| {
            log(e);
            seen.push(e.clone());
        };
        match open_session(cand, TlsSupport::RequiredVerify, &ctx, &opts, &mut both).await {
            Ok(s) => {
                shared
                    .sts
                    .record(dcid, outcome(dest, p, Some(&s), None, StsResult::Ok));
                return Ok(s);
            }
            Err(e) => {
                let rt = classify_events(&seen);
                let policy_failure = e.enhanced == "4.7.5";
                last = Some((
                    rt,
                    format!("{}: {}", cand.host, e.reason),
                    policy_failure,
                    cand.host.clone(),
                ));
            }
        }
    }
    match last {
        Some((rt, why, true, host)) => Err(defer(shared, Some(host), rt, why)),
        Some((_, why, false, _)) => Err(Attempt::Defer {
            enhanced: "4.4.1".into(),
            reason: format!("MTA-STS policy of {domain} (mode enforce): {why}"),
        }),
        None => Err(defer(
            shared,
            None,
            ResultType::ValidationFailure,
            "no MX host to try".into(),
        )),
    }
}

/// The RFC 8460 result type of a failed PKIX attempt, from its events.
pub(crate) fn classify_events(events: &[Event]) -> ResultType {
    for e in events.iter().rev() {
        match e {
            Event::CertFailed { reason } => return classify_certificate_failure(reason),
            Event::StartTlsFailed { .. } => return ResultType::StarttlsNotSupported,
            Event::TlsFailed { error } => {
                let t = classify_certificate_failure(error);
                if t != ResultType::ValidationFailure {
                    return t;
                }
            }
            _ => {}
        }
    }
    ResultType::ValidationFailure
}
