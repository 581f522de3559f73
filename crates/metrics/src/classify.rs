//! Pure classification of what the gateway records into bounded label values.

use crate::vocab::{MtaStsResult, ReasonClass};

/// The end of the reason of a recipient bounced because its retries ran out (the
/// gateway's delivery agent appends it).
pub const EXPIRED_SUFFIX: &str = "(retried until the bounce profile's limit)";

/// The start of the reason of a recipient deferred without an attempt because its
/// destination is suspended after a failure.
pub const SUSPENDED_PREFIX: &str = "delivery temporarily suspended";

/// The reason class of a deferral or bounce from the RFC 3463 enhanced status code
/// (`class.subject.detail`) and the reason text the gateway recorded.
///
/// The codes are those of the delivery agent: `X.0.0` a server's reply, `X.1.2` /
/// `X.1.10` no such domain / null MX (RFC 7505 §4.2), `X.4.1` no connection, `X.4.2`
/// connection lost, `X.4.3` DNS failure, `X.4.4` no address, `X.7.5` TLS or DANE
/// (RFC 3463 §3.8 "Security or Policy Status"; RFC 7672 §2.2).
pub fn classify(enhanced: &str, reason: &str) -> ReasonClass {
    if reason.trim_end().ends_with(EXPIRED_SUFFIX) {
        return ReasonClass::Expired;
    }
    if reason.starts_with(SUSPENDED_PREFIX) {
        return ReasonClass::Suspended;
    }
    let mut parts = enhanced.trim().split('.');
    let class = parts.next();
    let subject = parts.next();
    let detail = parts.next();
    if !matches!(class, Some("4" | "5")) || parts.next().is_some() {
        return ReasonClass::Other;
    }
    match (subject, detail) {
        (Some("0"), Some("0")) => ReasonClass::Remote,
        (Some("1"), Some(_)) => ReasonClass::Domain,
        (Some("4"), Some("3" | "4")) => ReasonClass::Dns,
        (Some("4"), Some(_)) => ReasonClass::Connection,
        (Some("7"), Some(_)) if reason.contains("DANE") => ReasonClass::Dane,
        (Some("7"), Some(_)) => ReasonClass::Tls,
        _ => ReasonClass::Other,
    }
}

/// The `result` of an MTA-STS outcome from its RFC 8460 §4.3 result type (`ok` when
/// the policy was met) and whether the mail went out anyway (a `testing` policy,
/// RFC 8461 §5.2). The policy-level failures (§4.3.2: fetch error, invalid policy, the
/// policy host's certificate) are `policy_error`; a domain without a policy has no
/// outcome: count it as [`MtaStsResult::NoPolicy`] directly.
pub fn mta_sts_result(result_type: &str, delivered_anyway: bool) -> MtaStsResult {
    match result_type {
        "ok" => MtaStsResult::Validated,
        "sts-policy-fetch-error" | "sts-policy-invalid" | "sts-webpki-invalid" => {
            MtaStsResult::PolicyError
        }
        _ if delivered_anyway => MtaStsResult::TestingFailed,
        _ => MtaStsResult::Failed,
    }
}

/// A TLS protocol name (`TLSv1.2`, `TLSv1.3`) as a bounded label value; anything else
/// is `other`.
pub fn tls_version(protocol: &str) -> &'static str {
    match protocol {
        "TLSv1.2" => "TLSv1.2",
        "TLSv1.3" => "TLSv1.3",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReasonClass::*;

    #[test]
    fn codes_of_the_delivery_agent() {
        let cases = [
            (
                "4.0.0",
                "mx.test [192.0.2.1]: 450 4.2.0 mailbox busy",
                Remote,
            ),
            (
                "5.0.0",
                "mx.test [192.0.2.1]: 550 5.1.1 no such user",
                Remote,
            ),
            ("4.0.0", "no reply for this recipient", Remote),
            (
                "5.1.2",
                "DANE FAILED for nothere.test: No mail for nothere.test",
                Domain,
            ),
            ("5.1.10", "null MX", Domain),
            ("4.4.1", "connect: connection refused", Connection),
            ("4.4.2", "mx [192.0.2.1]: connection lost", Connection),
            ("4.4.3", "temporary failure for d: SERVFAIL", Dns),
            ("4.4.4", "no server to try", Dns),
            ("5.4.4", "no address", Dns),
            (
                "4.7.5",
                "DANE FAILED for wrongtlsa.test: Certificate verification failed",
                Dane,
            ),
            (
                "4.7.5",
                "DANE mandatory cannot be verified for d: its SMTP route sends to h",
                Dane,
            ),
            (
                "4.7.5",
                "TLS Support Required not met by 192.0.2.1: no STARTTLS",
                Tls,
            ),
            (
                "4.4.1",
                "delivery temporarily suspended: 4.7.5 DANE FAILED",
                Suspended,
            ),
            (
                "5.7.5",
                "DANE FAILED for d: x (retried until the bounce profile's limit)",
                Expired,
            ),
            ("4.3.0", "queue full", Other),
            ("", "", Other),
            ("2.0.0", "ok", Other),
            ("4.7", "short", Other),
            ("4.7.5.1", "long", Other),
        ];
        for (code, reason, want) in cases {
            assert_eq!(classify(code, reason), want, "{code} {reason}");
        }
    }

    #[test]
    fn mta_sts_results_from_rfc_8460_result_types() {
        use MtaStsResult as R;
        let cases = [
            ("ok", false, R::Validated),
            ("starttls-not-supported", false, R::Failed),
            ("certificate-host-mismatch", false, R::Failed),
            ("validation-failure", true, R::TestingFailed),
            ("certificate-expired", true, R::TestingFailed),
            ("sts-policy-fetch-error", false, R::PolicyError),
            ("sts-policy-invalid", true, R::PolicyError),
            ("sts-webpki-invalid", false, R::PolicyError),
        ];
        for (word, anyway, want) in cases {
            assert_eq!(mta_sts_result(word, anyway), want, "{word} {anyway}");
        }
    }

    #[test]
    fn tls_versions_are_bounded() {
        assert_eq!(tls_version("TLSv1.3"), "TLSv1.3");
        assert_eq!(tls_version("TLSv1.2"), "TLSv1.2");
        assert_eq!(tls_version("TLSv1"), "other");
        assert_eq!(tls_version("UNKNOWN"), "other");
        for v in ["TLSv1.2", "TLSv1.3", "x"] {
            assert!(crate::catalog::TLS_VERSIONS.contains(&tls_version(v)));
        }
    }
}
