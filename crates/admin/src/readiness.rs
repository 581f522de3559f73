//! The readiness report: per destination domain, what DANE Mandatory and DANE
//! Opportunistic would have decided for the deliveries of a window (the gateway's
//! shadow evaluation), and a recommendation in words.
//!
//! [`recommend`] holds the rules; it is pure and tested here. In order, the first that
//! applies:
//! 1. no evaluated delivery in the window: `no-data`;
//! 2. the profile already has DANE Mandatory: `mandatory` (or `mandatory-failing`
//!    when the evaluation saw failures: mail is being held);
//! 3. some delivery would have failed under Mandatory and every failure says the
//!    domain cannot do DANE (no TLSA record, an unsigned MX, address or TLSA RRset) and
//!    none passed: `no-dane` ("publishes no TLSA: DANE cannot protect this domain");
//! 4. some delivery would have failed: `would-fail`, with the most recent failure and
//!    since when it is seen;
//! 5. nothing passed and the certificate was never observed (TLS Support none):
//!    `not-observed`;
//! 6. nothing passed, only temporary DNS failures: `temporary`;
//! 7. otherwise every decided delivery passed: `ready` ("safe to set DANE Mandatory:
//!    100 % of 1,234 deliveries in 7 days would have passed").
//!
//! [`recommend_sts`] does the same for what an enforce MTA-STS policy (RFC 8461 §5)
//! would have decided; the first that applies:
//! 1. nothing evaluated: `no-data`;
//! 2. some delivery would have failed: `would-fail` ("would fail MTA-STS enforce:
//!    mx2.example does not match the policy (mx: mx1.example); 3 of 40 deliveries in
//!    7 days would have been deferred");
//! 3. none passed, a policy fetch failed: `fetch-failed`;
//! 4. none passed, the certificate was never observed: `not-observed`;
//! 5. none passed: `no-policy` (the domain publishes none);
//! 6. otherwise: `ready` ("safe to enforce MTA-STS: 100 % of 40 deliveries in 7 days
//!    would have passed").

use danegate_config::{DestinationProfile, MtaSts};
use danegate_delivery::shadow::{Finding, ShadowRecord, ShadowVerdict, StsVerdict};
use danegate_gateway::{
    DomainShadow, ModeCounts, ShadowCounts, ShadowReason, StsCounts, StsReason,
};
use serde::{Deserialize, Serialize};

/// What the report recommends for a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecommendationCode {
    /// No evaluated delivery in the window.
    NoData,
    /// DANE Mandatory is already set, and nothing failed.
    Mandatory,
    /// DANE Mandatory is set and deliveries fail (held in the queue).
    MandatoryFailing,
    /// The domain cannot be protected by DANE (no TLSA, unsigned DNS).
    NoDane,
    /// Setting DANE Mandatory would hold mail.
    WouldFail,
    /// The certificate was never observed (deliveries without TLS).
    NotObserved,
    /// Only temporary DNS failures were seen.
    Temporary,
    /// Safe to set DANE Mandatory.
    Ready,
}

impl RecommendationCode {
    /// The filter a row belongs to on the Readiness page: `would-fail`, `ready`,
    /// `no-dane`, or `other`.
    pub fn filter(self) -> &'static str {
        match self {
            RecommendationCode::WouldFail | RecommendationCode::MandatoryFailing => "would-fail",
            RecommendationCode::Ready | RecommendationCode::Mandatory => "ready",
            RecommendationCode::NoDane => "no-dane",
            _ => "other",
        }
    }
}

/// A recommendation: its code and its words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The rule that applied.
    pub code: RecommendationCode,
    /// In words.
    pub text: String,
}

/// One mode's results for a domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeView {
    /// Counts in the window.
    pub counts: ModeCounts,
    /// Share of decided deliveries (pass + fail) that would have passed, in percent;
    /// `None` when none was decided.
    pub pass_rate: Option<f64>,
    /// The reasons of failures in the window, most recent first.
    pub reasons: Vec<ShadowReason>,
}

impl ModeView {
    fn new(counts: ModeCounts, reasons: Vec<ShadowReason>) -> Self {
        let decided = counts.pass + counts.fail;
        ModeView {
            pass_rate: (decided > 0).then(|| counts.pass as f64 * 100.0 / decided as f64),
            counts,
            reasons,
        }
    }
}

/// What the MTA-STS readiness report recommends for a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StsCode {
    /// No delivery evaluated for MTA-STS in the window.
    NoData,
    /// The domain publishes no policy.
    NoPolicy,
    /// Its policy could not be fetched.
    FetchFailed,
    /// An enforce policy would have deferred deliveries.
    WouldFail,
    /// The certificate was never observed (deliveries without TLS).
    NotObserved,
    /// Every delivery met the policy.
    Ready,
}

/// The MTA-STS recommendation: its code and its words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsRecommendation {
    /// The rule that applied.
    pub code: StsCode,
    /// In words.
    pub text: String,
}

/// What an enforce MTA-STS policy would have decided for a domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StsView {
    /// Counts in the window.
    pub counts: StsCounts,
    /// Share of decided deliveries (pass + fail) that would have passed, in percent;
    /// `None` when none was decided.
    pub pass_rate: Option<f64>,
    /// The reasons of failures in the window, most recent first.
    pub reasons: Vec<StsReason>,
    /// The recommendation.
    pub recommendation: StsRecommendation,
}

/// The `MTA-STS` cell of the readiness table: `100 % pass (40/40)`, `no policy`, ...
pub fn sts_cell(v: &StsView) -> String {
    let c = &v.counts;
    match v.pass_rate {
        Some(p) => format!(
            "{} pass ({}/{})",
            percent(p),
            thousands(c.pass),
            thousands(c.pass + c.fail)
        ),
        None if c.fetch_failed > 0 => "policy fetch failed".into(),
        None if c.not_observed > 0 => "not observed".into(),
        None if c.no_policy > 0 => "no policy".into(),
        None if c.not_checked > 0 => "not checked".into(),
        None => "-".into(),
    }
}

/// What the report recommends for MTA-STS (the rules in the module documentation);
/// `applies`: the profile has `mta_sts = "on"` and the domain's latest policy is
/// mode enforce, so the policy is already enforced.
pub fn recommend_sts(
    c: &StsCounts,
    reasons: &[StsReason],
    applies: bool,
    window: &str,
) -> StsRecommendation {
    let r = |code, text: String| StsRecommendation { code, text };
    let under_policy = c.pass + c.fail + c.not_observed;
    if under_policy + c.no_policy + c.fetch_failed == 0 {
        return r(
            StsCode::NoData,
            format!("MTA-STS not evaluated in {window}"),
        );
    }
    let latest = |v: StsVerdict| {
        reasons
            .iter()
            .filter(|x| x.verdict == v)
            .max_by_key(|x| x.last_seen)
            .map(|f| format!("{} (since {})", f.reason, date(f.first_seen)))
    };
    if c.fail > 0 {
        let why = latest(StsVerdict::Fail).unwrap_or_else(|| "see the failure reasons".into());
        let text = if applies {
            format!(
                "MTA-STS enforce applies and {} of {} in {window} failed (deferred): {why}",
                thousands(c.fail),
                deliveries(under_policy)
            )
        } else {
            format!(
                "would fail MTA-STS enforce: {why}; {} of {} in {window} would have been deferred",
                thousands(c.fail),
                deliveries(under_policy)
            )
        };
        return r(StsCode::WouldFail, text);
    }
    if c.pass == 0 && c.fetch_failed > 0 {
        let why = latest(StsVerdict::FetchFailed).unwrap_or_else(|| "see the reasons".into());
        return r(
            StsCode::FetchFailed,
            format!("MTA-STS policy fetch failed: {why}; no policy applies"),
        );
    }
    if c.pass == 0 && c.not_observed > 0 {
        return r(
            StsCode::NotObserved,
            "cannot tell for MTA-STS: the deliveries used no TLS, so the certificate was not observed"
                .into(),
        );
    }
    if c.pass == 0 {
        return r(StsCode::NoPolicy, "publishes no MTA-STS policy".into());
    }
    let rate = c.pass as f64 * 100.0 / under_policy as f64;
    let mut text = if applies {
        format!(
            "MTA-STS enforce applies: {} of {} in {window} passed",
            percent(rate),
            deliveries(under_policy)
        )
    } else {
        format!(
            "safe to enforce MTA-STS: {} of {} in {window} would have passed",
            percent(rate),
            deliveries(under_policy)
        )
    };
    if c.not_observed > 0 {
        text.push_str(&format!(
            " (the other {} were not observed: no TLS or no connection)",
            thousands(c.not_observed)
        ));
    }
    r(StsCode::Ready, text)
}

impl StsView {
    fn new(d: &DomainShadow, profile: &DestinationProfile, window: &str) -> Self {
        let c = d.counts.mta_sts;
        let applies = profile.mta_sts == MtaSts::On
            && d.latest
                .as_ref()
                .and_then(|l| l.mta_sts.as_ref())
                .and_then(|s| s.policy_mode.as_deref())
                == Some("enforce");
        let decided = c.pass + c.fail;
        StsView {
            counts: c,
            pass_rate: (decided > 0).then(|| c.pass as f64 * 100.0 / decided as f64),
            reasons: d.sts_reasons.clone(),
            recommendation: recommend_sts(&c, &d.sts_reasons, applies, window),
        }
    }
}

/// One destination domain of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadinessRow {
    /// The domain.
    pub domain: String,
    /// Messages whose delivery was evaluated in the window.
    pub messages: u64,
    /// Of those, delivered DANE-authenticated by the profile in force.
    pub protected: u64,
    /// The destination profile that applies (`default` for the default profile).
    pub profile: String,
    /// Its DANE Support.
    pub dane: String,
    /// Its TLS Support.
    pub tls: String,
    /// What DANE Mandatory would have decided.
    pub mandatory: ModeView,
    /// What DANE Opportunistic would have decided.
    pub opportunistic: ModeView,
    /// Its MTA-STS setting (`on`, `off`).
    pub mta_sts_setting: String,
    /// What an enforce MTA-STS policy would have decided, and the recommendation.
    pub mta_sts: StsView,
    /// First delivery ever evaluated (Unix seconds).
    pub first_seen: u64,
    /// Latest delivery evaluated (Unix seconds).
    pub last_seen: u64,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// The latest delivery's evaluation.
    pub latest: Option<ShadowRecord>,
}

/// The share of traffic per outcome, for the summary chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessSummary {
    /// Messages evaluated.
    pub messages: u64,
    /// Delivered DANE-authenticated today (the profiles in force).
    pub protected: u64,
    /// Would be DANE-authenticated under Mandatory (includes `protected`).
    pub would_be_protected: u64,
    /// Would fail under Mandatory.
    pub would_fail: u64,
    /// Neither (temporary failures, not observed).
    pub undecided: u64,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    /// The window, in seconds.
    pub since_secs: u64,
    /// The window in words (`7 days`).
    pub window: String,
    /// Whether the gateway evaluates deliveries (`serve --no-shadow` turns it off).
    pub shadow_enabled: bool,
    /// The totals.
    pub summary: ReadinessSummary,
    /// One row per domain, most messages first.
    pub rows: Vec<ReadinessRow>,
}

/// `1,234`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A percentage as people read it: `100 %`, `99.9 %` (rounded down, never overstating).
pub fn percent(p: f64) -> String {
    let tenths = (p * 10.0).floor() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0} %")
    } else {
        format!("{tenths:.1} %")
    }
}

/// A window in words: `24 hours`, `7 days`, `90 minutes`.
pub fn window_words(secs: u64) -> String {
    let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if secs >= 2 * 86_400 && secs.is_multiple_of(86_400) {
        plural(secs / 86_400, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

/// Parses `24h`, `7d`, `2w`, `90m` or seconds; at most 31 days (what the store keeps).
pub fn parse_since(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: a number with h, d, w or m (e.g. 24h, 7d, 30d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (h, d, w or m)")),
    };
    let secs = n.saturating_mul(mult);
    if secs == 0 {
        return Err(format!("{s:?}: the window must be longer than 0"));
    }
    if secs > 31 * 86_400 {
        return Err(format!(
            "{s:?}: at most 31 days (the shadow store keeps 32 days)"
        ));
    }
    Ok(secs)
}

/// UTC date of a Unix time (`2026-12-02`).
fn date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| danegate_timefmt::utc(s, danegate_timefmt::Layout::Date))
        .unwrap_or_else(|| secs.to_string())
}

fn deliveries(n: u64) -> String {
    format!(
        "{} deliver{}",
        thousands(n),
        if n == 1 { "y" } else { "ies" }
    )
}

/// What the report recommends (the rules in the module documentation).
pub fn recommend(
    dane: &str,
    counts: &ShadowCounts,
    mandatory_reasons: &[ShadowReason],
    window: &str,
) -> Recommendation {
    let m = &counts.mandatory;
    let n = counts.deliveries;
    let r = |code, text: String| Recommendation { code, text };
    if n == 0 {
        return r(
            RecommendationCode::NoData,
            format!("no delivery evaluated in {window}"),
        );
    }
    let latest_fail = mandatory_reasons
        .iter()
        .filter(|x| x.verdict == ShadowVerdict::DaneFailed)
        .max_by_key(|x| x.last_seen);
    if dane == "mandatory" {
        return match latest_fail.filter(|_| m.fail > 0) {
            Some(f) => r(
                RecommendationCode::MandatoryFailing,
                format!(
                    "DANE Mandatory is set and {} of {} in {window} failed (held in the queue): {} (since {})",
                    thousands(m.fail),
                    deliveries(n),
                    f.reason,
                    date(f.first_seen)
                ),
            ),
            None => r(
                RecommendationCode::Mandatory,
                format!(
                    "DANE Mandatory is set: {} of {} in {window} authenticated",
                    thousands(m.authenticated),
                    deliveries(n)
                ),
            ),
        };
    }
    if m.fail > 0 {
        let cannot = |f: &Finding| {
            matches!(
                f,
                Finding::NoTlsa
                    | Finding::InsecureMx
                    | Finding::InsecureAddress
                    | Finding::InsecureTlsa
                    | Finding::NoMailDomain
            )
        };
        let fails: Vec<&ShadowReason> = mandatory_reasons
            .iter()
            .filter(|x| x.verdict == ShadowVerdict::DaneFailed)
            .collect();
        if m.pass == 0 && !fails.is_empty() && fails.iter().all(|x| cannot(&x.finding)) {
            let text = if fails.iter().any(|x| x.finding == Finding::NoTlsa) {
                "publishes no TLSA: DANE cannot protect this domain".to_string()
            } else if fails.iter().any(|x| x.finding == Finding::NoMailDomain) {
                "accepts no mail (no such domain or a null MX)".to_string()
            } else {
                "its DNS is not DNSSEC-signed: DANE cannot protect this domain".to_string()
            };
            return r(RecommendationCode::NoDane, text);
        }
        let why = latest_fail
            .map(|f| format!("{} (since {})", f.reason, date(f.first_seen)))
            .unwrap_or_else(|| "see the failure reasons".into());
        return r(
            RecommendationCode::WouldFail,
            format!(
                "would fail: {why}; {} of {} in {window} would have been held",
                thousands(m.fail),
                deliveries(n)
            ),
        );
    }
    if m.pass == 0 && m.not_observed > 0 {
        return r(
            RecommendationCode::NotObserved,
            "cannot tell: the deliveries used no TLS, so the certificate was not observed \
             (TLS Support preferred would show it)"
                .into(),
        );
    }
    if m.pass == 0 {
        return r(
            RecommendationCode::Temporary,
            format!("cannot tell yet: only temporary DNS failures in {window}"),
        );
    }
    let rate = m.pass as f64 * 100.0 / n as f64;
    let mut text = format!(
        "safe to set DANE Mandatory: {} of {} in {window} would have passed",
        percent(rate),
        deliveries(n)
    );
    let rest = m.temp + m.not_observed;
    if rest > 0 {
        text.push_str(&format!(
            " (the other {} were not decided: temporary DNS failures or no TLS)",
            thousands(rest)
        ));
    }
    r(RecommendationCode::Ready, text)
}

impl ReadinessRow {
    /// The row of `d` under `profile`.
    pub fn new(d: &DomainShadow, profile: &DestinationProfile, window: &str) -> Self {
        let (mr, or): (Vec<ShadowReason>, Vec<ShadowReason>) = d
            .reasons
            .iter()
            .cloned()
            .partition(|r| r.mode == "mandatory");
        let dane = profile.dane.as_str().to_string();
        let recommendation = recommend(&dane, &d.counts, &mr, window);
        ReadinessRow {
            domain: d.domain.clone(),
            messages: d.counts.deliveries,
            protected: d.counts.protected,
            profile: if profile.is_default() {
                "default".into()
            } else {
                profile.domain.to_string()
            },
            dane,
            tls: profile.tls.as_str().to_string(),
            mandatory: ModeView::new(d.counts.mandatory, mr),
            opportunistic: ModeView::new(d.counts.opportunistic, or),
            mta_sts_setting: profile.mta_sts.as_str().to_string(),
            mta_sts: StsView::new(d, profile, window),
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            recommendation,
            latest: d.latest.clone(),
        }
    }
}

impl ReadinessSummary {
    /// The totals of `rows`.
    pub fn of(rows: &[ReadinessRow]) -> Self {
        let mut s = ReadinessSummary::default();
        for r in rows {
            s.messages += r.messages;
            s.protected += r.protected;
            s.would_be_protected += r.mandatory.counts.authenticated.max(r.protected);
            s.would_fail += r.mandatory.counts.fail;
        }
        s.undecided = s
            .messages
            .saturating_sub(s.would_be_protected + s.would_fail);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pass: u64, fail: u64, temp: u64, unobs: u64) -> ShadowCounts {
        ShadowCounts {
            deliveries: pass + fail + temp + unobs,
            protected: 0,
            mandatory: ModeCounts {
                pass,
                authenticated: pass,
                fail,
                temp,
                not_observed: unobs,
            },
            opportunistic: ModeCounts::default(),
            mta_sts: StsCounts::default(),
        }
    }

    fn sts(pass: u64, fail: u64, no_policy: u64, fetch: u64, unobs: u64) -> StsCounts {
        StsCounts {
            pass,
            fail,
            no_policy,
            fetch_failed: fetch,
            not_observed: unobs,
            not_checked: 0,
        }
    }

    fn sts_reason(verdict: StsVerdict, text: &str, first: u64) -> StsReason {
        StsReason {
            verdict,
            finding: danegate_delivery::shadow::StsFinding::MxMismatch,
            reason: text.into(),
            host: Some("mx2.example".into()),
            first_seen: first,
            last_seen: first + 10,
            count: 1,
        }
    }

    #[test]
    fn sts_recommendations() {
        let day = 1_796_169_600; // 2026-12-02
        let r = recommend_sts(&sts(40, 0, 0, 0, 0), &[], false, "7 days");
        assert_eq!(r.code, StsCode::Ready);
        assert_eq!(
            r.text,
            "safe to enforce MTA-STS: 100 % of 40 deliveries in 7 days would have passed"
        );
        let r = recommend_sts(&sts(40, 0, 0, 0, 0), &[], true, "7 days");
        assert_eq!(
            r.text,
            "MTA-STS enforce applies: 100 % of 40 deliveries in 7 days passed"
        );
        let why = "mx2.example does not match the policy (mx: mx1.example)";
        let r = recommend_sts(
            &sts(37, 3, 0, 0, 0),
            &[sts_reason(StsVerdict::Fail, why, day)],
            false,
            "7 days",
        );
        assert_eq!(r.code, StsCode::WouldFail);
        assert_eq!(
            r.text,
            format!(
                "would fail MTA-STS enforce: {why} (since 2026-12-02); 3 of 40 deliveries in 7 days would have been deferred"
            )
        );
        assert_eq!(
            recommend_sts(&sts(0, 0, 5, 0, 0), &[], false, "7 days").code,
            StsCode::NoPolicy
        );
        assert_eq!(
            recommend_sts(&sts(0, 0, 0, 0, 0), &[], false, "7 days").code,
            StsCode::NoData
        );
        assert_eq!(
            recommend_sts(&sts(0, 0, 0, 0, 2), &[], false, "7 days").code,
            StsCode::NotObserved
        );
        let r = recommend_sts(
            &sts(0, 0, 0, 2, 0),
            &[sts_reason(StsVerdict::FetchFailed, "404", day)],
            false,
            "7 days",
        );
        assert_eq!(r.code, StsCode::FetchFailed);
        assert!(r.text.contains("404 (since 2026-12-02)"), "{}", r.text);
        let r = recommend_sts(&sts(3, 0, 0, 0, 1), &[], false, "24 hours");
        assert_eq!(r.code, StsCode::Ready);
        assert!(r.text.contains("75 % of 4 deliveries"), "{}", r.text);
        assert!(
            r.text.contains("the other 1 were not observed"),
            "{}",
            r.text
        );
    }

    fn reason(finding: Finding, text: &str, first: u64) -> ShadowReason {
        ShadowReason {
            mode: "mandatory".into(),
            verdict: ShadowVerdict::DaneFailed,
            finding,
            reason: text.into(),
            host: Some("mx2.example".into()),
            first_seen: first,
            last_seen: first + 10,
            count: 1,
        }
    }

    #[test]
    fn ready_when_every_delivery_passed() {
        let r = recommend("none", &counts(1234, 0, 0, 0), &[], "7 days");
        assert_eq!(r.code, RecommendationCode::Ready);
        assert_eq!(
            r.text,
            "safe to set DANE Mandatory: 100 % of 1,234 deliveries in 7 days would have passed"
        );
        let r = recommend("opportunistic", &counts(1, 0, 0, 0), &[], "24 hours");
        assert!(
            r.text.contains("100 % of 1 delivery in 24 hours"),
            "{}",
            r.text
        );
    }

    #[test]
    fn no_tlsa_means_dane_cannot_protect() {
        let r = recommend(
            "none",
            &counts(0, 7, 0, 0),
            &[reason(
                Finding::NoTlsa,
                "mx.example publishes no TLSA record",
                1,
            )],
            "7 days",
        );
        assert_eq!(r.code, RecommendationCode::NoDane);
        assert_eq!(r.text, "publishes no TLSA: DANE cannot protect this domain");
        let r = recommend(
            "none",
            &counts(0, 7, 0, 0),
            &[reason(Finding::InsecureMx, "unsigned", 1)],
            "7 days",
        );
        assert_eq!(r.code, RecommendationCode::NoDane);
        assert!(r.text.contains("not DNSSEC-signed"));
    }

    #[test]
    fn a_mismatch_would_fail_with_its_host_and_date() {
        let day = 1_796_169_600; // 2026-12-02
        let r = recommend(
            "none",
            &counts(10, 2, 0, 0),
            &[reason(
                Finding::CertMismatch,
                "TLSA does not match the certificate of mx2.example: no match",
                day,
            )],
            "7 days",
        );
        assert_eq!(r.code, RecommendationCode::WouldFail);
        assert!(
            r.text.starts_with(
                "would fail: TLSA does not match the certificate of mx2.example: no match (since 2026-12-02)"
            ),
            "{}",
            r.text
        );
        // A no-TLSA failure alongside passes is a failure, not "no DANE".
        let r = recommend(
            "none",
            &counts(3, 1, 0, 0),
            &[reason(Finding::NoTlsa, "mx2 publishes no TLSA record", day)],
            "7 days",
        );
        assert_eq!(r.code, RecommendationCode::WouldFail);
    }

    #[test]
    fn undecided_and_mandatory_profiles() {
        assert_eq!(
            recommend("none", &counts(0, 0, 0, 4), &[], "7 days").code,
            RecommendationCode::NotObserved
        );
        assert_eq!(
            recommend("none", &counts(0, 0, 3, 0), &[], "7 days").code,
            RecommendationCode::Temporary
        );
        assert_eq!(
            recommend("none", &counts(0, 0, 0, 0), &[], "7 days").code,
            RecommendationCode::NoData
        );
        assert_eq!(
            recommend("mandatory", &counts(5, 0, 0, 0), &[], "7 days").code,
            RecommendationCode::Mandatory
        );
        let r = recommend(
            "mandatory",
            &counts(5, 1, 0, 0),
            &[reason(Finding::CertMismatch, "mismatch", 1)],
            "7 days",
        );
        assert_eq!(r.code, RecommendationCode::MandatoryFailing);
        assert_eq!(r.code.filter(), "would-fail");
        let r = recommend("none", &counts(9, 0, 1, 0), &[], "7 days");
        assert_eq!(r.code, RecommendationCode::Ready);
        assert!(r.text.contains("90 % of 10"), "{}", r.text);
    }

    #[test]
    fn words_and_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(percent(100.0), "100 %");
        assert_eq!(percent(99.96), "99.9 %");
        assert_eq!(window_words(7 * 86_400), "7 days");
        assert_eq!(window_words(86_400), "24 hours");
        assert_eq!(window_words(24 * 3600 + 3600), "25 hours");
        assert_eq!(parse_since("7d"), Ok(7 * 86_400));
        assert_eq!(parse_since("24h"), Ok(86_400));
        assert_eq!(parse_since("30d"), Ok(30 * 86_400));
        assert!(parse_since("40d").is_err());
        assert!(parse_since("7x").is_err());
        assert!(parse_since("").is_err());
        assert!(parse_since("0h").is_err());
    }
}
