//! The MTA-STS half of the shadow evaluation: for every delivery attempt, what an
//! MTA-STS policy in mode `enforce` (RFC 8461 §5) would have decided for the session
//! the delivery got, whatever the profile's settings. Delivery is not changed.
//!
//! Cheap by design:
//! - **The policy** comes from the gateway's policy cache ([`danegate_mta_sts::PolicyCache`]).
//!   With `mta_sts = "on"` the delivery path resolved it just before connecting
//!   ([`crate::sts::policy_for`] notes the result here). With `mta_sts = "off"` the
//!   shadow looks it up itself, in a background task the delivery never waits for
//!   (TXT through the resolver's cache; an HTTPS fetch only for a policy id not cached
//!   yet), at most once per [`RECHECK`] per domain; until that lookup has answered, the
//!   attempt's MTA-STS result is recorded when it does.
//! - **The session** is the delivery's own: the MX host it connected to is matched
//!   against the policy's `mx` patterns (§4.1), the TLS version it negotiated must be
//!   1.2 or later, and the chain the server presented on that session is checked with
//!   the same PKIX check an enforce delivery makes in its handshake
//!   ([`danegate_delivery::TlsContext::judge_presented`]: the gateway's roots — webpki
//!   plus `ca_file` — and the MX host as the only reference identifier, §4.2). No
//!   second connection. A session DANE authenticated passes (DANE takes precedence,
//!   §2), as it does on the enforce path.
//! - No policy: `no-policy`; no TLS on the delivery (TLS Support None) or no
//!   connection: `not-observed`, never a guess; a failed policy fetch (and nothing
//!   cached): `fetch-failed`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danegate_delivery::shadow::{StsFinding, StsShadow, StsVerdict, TlsSeen};
use danegate_delivery::{Candidate, Session, TlsContext, TlsSupport};
use danegate_mta_sts::outcome::classify_certificate_failure;
use danegate_mta_sts::{CachedPolicy, Mode, Resolution, ResultType};
use danegate_tls::VerifyOutcome;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::Shared;

/// How long what a lookup found (no policy, a failed fetch) is used before the shadow
/// looks again for a domain whose delivery does not.
pub const RECHECK: Duration = Duration::from_secs(3600);
/// Domains whose latest lookup is remembered (beyond this the oldest are forgotten).
const MAX_NOTES: usize = 10_000;

/// What is known of a domain's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    /// A cached policy (any mode).
    Policy(CachedPolicy),
    /// No policy published (no TXT record, or its lookup failed with nothing cached).
    NoPolicy,
    /// The fetch failed and nothing was cached.
    FetchFailed(ResultType, String),
}

#[derive(Clone, Debug)]
struct Note {
    at: u64,
    failure: Option<(ResultType, String)>,
}

/// The latest policy lookup per domain (delivery's or the shadow's own), and the
/// lookups the shadow has running.
#[derive(Default)]
pub(crate) struct Notes {
    map: Mutex<HashMap<String, Note>>,
    running: Mutex<HashSet<String>>,
}

impl Notes {
    /// Notes what a lookup of `domain` found at `now`.
    pub fn note(&self, domain: &str, res: &Resolution, now: u64) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_NOTES && !m.contains_key(domain) {
            let old = now.saturating_sub(RECHECK.as_secs());
            m.retain(|_, n| n.at >= old);
            if m.len() >= MAX_NOTES {
                m.clear();
            }
        }
        m.insert(
            domain.to_ascii_lowercase(),
            Note {
                at: now,
                failure: res.failure.clone(),
            },
        );
    }

    fn get(&self, domain: &str) -> Option<Note> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&domain.to_ascii_lowercase())
            .cloned()
    }

    /// Marks a lookup of `domain` as running; false when one already is.
    fn start(&self, domain: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_string())
    }

    fn done(&self, domain: &str) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(domain);
    }
}

/// What the delivery's session showed, owned (the evaluation may finish after the
/// session is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionSeen {
    /// The MX host.
    pub host: String,
    /// Its address.
    pub addr: SocketAddr,
    /// `TLSv1.2`, `TLSv1.3`, or `none`.
    pub protocol: String,
    /// What TLS showed.
    pub tls: TlsSeen,
    /// DANE authenticated the session.
    pub dane_authenticated: bool,
}

/// What the delivery attempt showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The session, if the delivery got one.
    pub session: Option<SessionSeen>,
    /// The delivery itself ran under an enforce policy and was refused by it: the
    /// RFC 8460 result type and the reason.
    pub enforce_failure: Option<(ResultType, String)>,
}

impl Seen {
    /// From the delivery's session (if any) and what its enforce path refused.
    pub fn new(session: Option<&Session>, enforce_failure: Option<(ResultType, String)>) -> Self {
        Seen {
            session: session.map(|s| SessionSeen {
                host: s.host.clone(),
                addr: s.addr,
                protocol: s.protocol.clone(),
                tls: s.tls_seen.clone(),
                dane_authenticated: matches!(s.verification, VerifyOutcome::Dane(_)),
            }),
            enforce_failure,
        }
    }
}

/// The finding of an RFC 8460 result type.
fn finding_of(rt: ResultType) -> StsFinding {
    match rt {
        ResultType::StarttlsNotSupported => StsFinding::StarttlsNotSupported,
        ResultType::CertificateHostMismatch => StsFinding::CertificateHostMismatch,
        ResultType::CertificateExpired => StsFinding::CertificateExpired,
        ResultType::CertificateNotTrusted => StsFinding::CertificateNotTrusted,
        _ => StsFinding::ValidationFailure,
    }
}

/// What an enforce policy would have decided (pure): `known` is the domain's policy
/// state, `seen` the delivery attempt, `pkix` the PKIX check of a presented chain.
pub(crate) fn evaluate(
    domain: &str,
    known: &Known,
    seen: &Seen,
    pkix: &dyn Fn(&SessionSeen, &[CertificateDer<'static>]) -> VerifyOutcome,
) -> StsShadow {
    let plain = |verdict, finding, reason: String, rt: Option<ResultType>| StsShadow {
        verdict,
        finding,
        reason,
        host: None,
        policy_id: None,
        policy_mode: None,
        result_type: rt.map(|r| r.to_string()),
    };
    let p = match known {
        Known::NoPolicy => {
            return plain(
                StsVerdict::NoPolicy,
                StsFinding::NoPolicy,
                format!("{domain} publishes no MTA-STS policy"),
                None,
            );
        }
        Known::FetchFailed(rt, detail) => {
            return plain(
                StsVerdict::FetchFailed,
                StsFinding::FetchFailed,
                format!("the MTA-STS policy of {domain} could not be fetched ({rt}): {detail}"),
                Some(*rt),
            );
        }
        Known::Policy(p) => p,
    };
    let r =
        |verdict, finding, reason: String, host: Option<&str>, rt: Option<ResultType>| StsShadow {
            verdict,
            finding,
            reason,
            host: host.map(str::to_string),
            policy_id: Some(p.id.clone()),
            policy_mode: Some(p.policy.mode.as_str().to_string()),
            result_type: rt.map(|x| x.to_string()),
        };
    if p.policy.mode == Mode::None {
        return r(
            StsVerdict::NoPolicy,
            StsFinding::ModeNone,
            format!("the MTA-STS policy of {domain} (id {}) is mode none", p.id),
            None,
            None,
        );
    }
    let Some(s) = &seen.session else {
        return match &seen.enforce_failure {
            Some((rt, why)) => r(
                StsVerdict::Fail,
                if why.contains("matches the policy") {
                    StsFinding::MxMismatch
                } else {
                    finding_of(*rt)
                },
                why.clone(),
                None,
                Some(*rt),
            ),
            None => r(
                StsVerdict::NotObserved,
                StsFinding::NoConnection,
                format!("the delivery to {domain} got no session: not observed"),
                None,
                None,
            ),
        };
    };
    let host = s.host.as_str();
    let ip = s.addr.ip();
    if !p.policy.mx_matches(host) {
        return r(
            StsVerdict::Fail,
            StsFinding::MxMismatch,
            format!(
                "{host} does not match the policy (mx: {})",
                p.policy.mx_text()
            ),
            Some(host),
            Some(ResultType::ValidationFailure),
        );
    }
    let chain = match &s.tls {
        TlsSeen::NotAttempted => {
            return r(
                StsVerdict::NotObserved,
                StsFinding::NoTlsObserved,
                format!(
                    "the delivery to {host} [{ip}] did not use TLS (TLS Support none): certificate not observed"
                ),
                Some(host),
                None,
            );
        }
        TlsSeen::NoStartTls(why) => {
            return r(
                StsVerdict::Fail,
                StsFinding::StarttlsNotSupported,
                format!("{host} [{ip}] offers no STARTTLS ({why}); the policy requires TLS"),
                Some(host),
                Some(ResultType::StarttlsNotSupported),
            );
        }
        TlsSeen::DaneRejected(why) => {
            return r(
                StsVerdict::Fail,
                StsFinding::ValidationFailure,
                format!("the certificate of {host} failed DANE: {why}"),
                Some(host),
                Some(ResultType::ValidationFailure),
            );
        }
        TlsSeen::Chain(c) => c,
    };
    if !matches!(s.protocol.as_str(), "TLSv1.2" | "TLSv1.3") {
        return r(
            StsVerdict::Fail,
            StsFinding::OldTls,
            format!(
                "{host} negotiated {}: the policy requires TLS 1.2 or later",
                s.protocol
            ),
            Some(host),
            Some(ResultType::ValidationFailure),
        );
    }
    if s.dane_authenticated {
        return r(
            StsVerdict::Pass,
            StsFinding::DaneAuthenticated,
            format!("DANE authenticated {host}: DANE takes precedence (RFC 8461 §2)"),
            Some(host),
            None,
        );
    }
    match pkix(s, chain) {
        v @ VerifyOutcome::Pkix { .. } => r(
            StsVerdict::Pass,
            StsFinding::Valid,
            format!("{host} [{ip}]: {} over {}", v, s.protocol),
            Some(host),
            None,
        ),
        VerifyOutcome::Failed(f) => {
            let rt = classify_certificate_failure(&f.to_string());
            r(
                StsVerdict::Fail,
                finding_of(rt),
                format!("certificate of {host} [{ip}] not verified: {f}"),
                Some(host),
                Some(rt),
            )
        }
        other => r(
            StsVerdict::Fail,
            StsFinding::ValidationFailure,
            format!("certificate of {host} [{ip}] not verified ({other})"),
            Some(host),
            Some(ResultType::ValidationFailure),
        ),
    }
}

/// The PKIX check of the enforce path, on a chain already presented.
fn pkix_check(
    roots: &Arc<Vec<rustls_pki_types::TrustAnchor<'static>>>,
    s: &SessionSeen,
    chain: &[CertificateDer<'static>],
) -> VerifyOutcome {
    let cand = Candidate {
        host: s.host.clone(),
        addr: s.addr,
    };
    TlsContext::with_roots(s.host.clone(), None, roots.clone()).judge_presented(
        TlsSupport::RequiredVerify,
        &cand,
        chain,
        UnixTime::now(),
    )
}

fn now_unix() -> u64 {
    danegate_mta_sts::now_unix()
}

/// What is known of `domain`'s policy now, without any lookup: `None` when nothing
/// is (no cached policy, no lookup noted).
fn known_now(shared: &Shared, domain: &str) -> Option<(Known, u64)> {
    if let Some(p) = shared.sts.cache.get(domain) {
        let at = shared
            .sts
            .notes
            .get(domain)
            .map(|n| n.at)
            .unwrap_or(p.fetched);
        return Some((Known::Policy(p), at));
    }
    let n = shared.sts.notes.get(domain)?;
    Some((
        match n.failure {
            Some((rt, d)) => Known::FetchFailed(rt, d),
            None => Known::NoPolicy,
        },
        n.at,
    ))
}

/// Looks up `domain`'s policy into the cache and notes the result.
async fn lookup(shared: &Shared, domain: &str) -> Known {
    let res = shared.sts.cache.resolve(&shared.resolver(), domain).await;
    shared.sts.notes.note(domain, &res, now_unix());
    match (res.policy, res.failure) {
        (Some(p), _) => Known::Policy(p),
        (None, Some((rt, d))) => Known::FetchFailed(rt, d),
        (None, None) => Known::NoPolicy,
    }
}

/// The MTA-STS result of an attempt: `Some` when the policy is known now; `None`
/// when a background lookup was started, which calls `done` with the result.
pub(crate) fn evaluate_attempt(
    shared: &Arc<Shared>,
    domain: &str,
    seen: Seen,
    done: impl FnOnce(&Shared, StsShadow) + Send + 'static,
) -> Option<StsShadow> {
    let now = now_unix();
    let roots = shared.roots.clone();
    let known = known_now(shared, domain);
    let stale = known
        .as_ref()
        .is_none_or(|(_, at)| now >= at.saturating_add(RECHECK.as_secs()));
    if let Some((k, _)) = &known {
        if stale && shared.sts.notes.start(domain) {
            // Look again for the next attempts; this one uses what is known.
            let sh = shared.clone();
            let d = domain.to_string();
            tokio::spawn(async move {
                lookup(&sh, &d).await;
                sh.sts.notes.done(&d);
            });
        }
        return Some(evaluate(domain, k, &seen, &|s, c| pkix_check(&roots, s, c)));
    }
    if !shared.sts.notes.start(domain) {
        return Some(StsShadow {
            verdict: StsVerdict::NotChecked,
            finding: StsFinding::Pending,
            reason: format!("the MTA-STS policy lookup of {domain} is still running"),
            host: None,
            policy_id: None,
            policy_mode: None,
            result_type: None,
        });
    }
    let sh = shared.clone();
    let d = domain.to_string();
    tokio::spawn(async move {
        let k = lookup(&sh, &d).await;
        sh.sts.notes.done(&d);
        let r = evaluate(&d, &k, &seen, &|s, c| pkix_check(&roots, s, c));
        done(&sh, r);
    });
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use danegate_mta_sts::policy::parse;
    use danegate_tls::{Failure, FailureKind};

    fn policy(mode: &str, mx: &str) -> Known {
        let p = parse(&format!(
            "version: STSv1\nmode: {mode}\nmx: {mx}\nmax_age: 86400\n"
        ))
        .unwrap();
        Known::Policy(CachedPolicy {
            id: "7".into(),
            policy: p,
            fetched: 0,
            expires: u64::MAX,
        })
    }

    fn seen(host: &str, protocol: &str, tls: TlsSeen) -> Seen {
        Seen {
            session: Some(SessionSeen {
                host: host.into(),
                addr: "192.0.2.1:25".parse().unwrap(),
                protocol: protocol.into(),
                tls,
                dane_authenticated: false,
            }),
            enforce_failure: None,
        }
    }

    fn chain() -> TlsSeen {
        TlsSeen::Chain(vec![CertificateDer::from(vec![1u8, 2, 3])])
    }

    fn ok(_: &SessionSeen, _: &[CertificateDer<'static>]) -> VerifyOutcome {
        VerifyOutcome::Pkix {
            reference: "mx.d.test".into(),
            presented: "mx.d.test".into(),
        }
    }

    fn expired(_: &SessionSeen, _: &[CertificateDer<'static>]) -> VerifyOutcome {
        VerifyOutcome::Failed(Failure {
            kind: FailureKind::ChainInvalid,
            details: vec!["CertExpired".into()],
        })
    }

    fn never(_: &SessionSeen, _: &[CertificateDer<'static>]) -> VerifyOutcome {
        panic!("the chain is not looked at")
    }

    #[test]
    fn no_policy_mode_none_and_fetch_failure() {
        let s = seen("mx.d.test", "TLSv1.3", chain());
        let r = evaluate("d.test", &Known::NoPolicy, &s, &never);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::NoPolicy, StsFinding::NoPolicy)
        );
        let r = evaluate("d.test", &policy("none", "mx.d.test"), &s, &never);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::NoPolicy, StsFinding::ModeNone)
        );
        let k = Known::FetchFailed(ResultType::StsPolicyInvalid, "bad".into());
        let r = evaluate("d.test", &k, &s, &never);
        assert_eq!(r.verdict, StsVerdict::FetchFailed);
        assert_eq!(r.result_type.as_deref(), Some("sts-policy-invalid"));
    }

    #[test]
    fn session_checks_in_order() {
        let k = policy("testing", "*.d.test");
        // The MX host first: a host outside the policy fails whatever its TLS.
        let r = evaluate(
            "d.test",
            &k,
            &seen("mx.other.test", "TLSv1.3", chain()),
            &never,
        );
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::Fail, StsFinding::MxMismatch)
        );
        assert_eq!(
            r.reason,
            "mx.other.test does not match the policy (mx: *.d.test)"
        );
        assert_eq!(r.policy_mode.as_deref(), Some("testing"));
        // No TLS tried: not observed; no STARTTLS offered: a failure.
        let r = evaluate(
            "d.test",
            &k,
            &seen("mx.d.test", "none", TlsSeen::NotAttempted),
            &never,
        );
        assert_eq!(r.verdict, StsVerdict::NotObserved);
        let r = evaluate(
            "d.test",
            &k,
            &seen(
                "mx.d.test",
                "none",
                TlsSeen::NoStartTls("not offered".into()),
            ),
            &never,
        );
        assert_eq!(r.finding, StsFinding::StarttlsNotSupported);
        assert_eq!(r.result_type.as_deref(), Some("starttls-not-supported"));
        let r = evaluate("d.test", &k, &seen("mx.d.test", "TLSv1.1", chain()), &never);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::Fail, StsFinding::OldTls)
        );
        let r = evaluate("d.test", &k, &seen("mx.d.test", "TLSv1.2", chain()), &ok);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::Pass, StsFinding::Valid)
        );
        let r = evaluate(
            "d.test",
            &k,
            &seen("mx.d.test", "TLSv1.3", chain()),
            &expired,
        );
        assert_eq!(r.verdict, StsVerdict::Fail);
        assert_eq!(r.finding, StsFinding::CertificateExpired);
        // DANE authenticated: passes without PKIX (RFC 8461 §2).
        let mut s = seen("mx.d.test", "TLSv1.3", chain());
        if let Some(x) = s.session.as_mut() {
            x.dane_authenticated = true;
        }
        let r = evaluate("d.test", &k, &s, &never);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::Pass, StsFinding::DaneAuthenticated)
        );
    }

    #[test]
    fn no_session_is_not_observed_unless_enforce_refused_it() {
        let k = policy("enforce", "mx.d.test");
        let r = evaluate("d.test", &k, &Seen::default(), &never);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::NotObserved, StsFinding::NoConnection)
        );
        let s = Seen {
            session: None,
            enforce_failure: Some((
                ResultType::ValidationFailure,
                "MTA-STS policy of d.test (mode enforce, id 7): no MX host matches the policy (mx: mx.d.test)".into(),
            )),
        };
        let r = evaluate("d.test", &k, &s, &never);
        assert_eq!(
            (r.verdict, r.finding),
            (StsVerdict::Fail, StsFinding::MxMismatch)
        );
        let s = Seen {
            session: None,
            enforce_failure: Some((ResultType::CertificateExpired, "expired".into())),
        };
        let r = evaluate("d.test", &k, &s, &never);
        assert_eq!(r.finding, StsFinding::CertificateExpired);
    }

    #[test]
    fn notes_are_bounded() {
        let n = Notes::default();
        for i in 0..(MAX_NOTES + 10) {
            n.note(&format!("d{i}.test"), &Resolution::default(), 1_000_000);
        }
        assert!(n.map.lock().unwrap().len() <= MAX_NOTES);
        assert!(n.start("a.test"));
        assert!(!n.start("a.test"));
        n.done("a.test");
        assert!(n.start("a.test"));
    }
}
