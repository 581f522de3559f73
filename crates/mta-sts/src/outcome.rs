//! What MTA-STS said about one delivery attempt, as data: the policy in force and the
//! result, with the RFC 8460 §4.3 result types a TLS-RPT recorder reports.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::policy::{Mode, Policy};

/// RFC 8460 §4.3 result types that MTA-STS produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    /// The MX host did not offer STARTTLS, or it failed (§4.3.1).
    StarttlsNotSupported,
    /// The certificate does not name the MX host (§4.3.1).
    CertificateHostMismatch,
    /// The certificate has expired (§4.3.1).
    CertificateExpired,
    /// The certificate does not chain to a trusted root (§4.3.1).
    CertificateNotTrusted,
    /// Any other failure to validate (§4.3.1); also: the MX host is not in the policy.
    ValidationFailure,
    /// The policy could not be fetched (§4.3.2).
    StsPolicyFetchError,
    /// The policy did not parse (§4.3.2).
    StsPolicyInvalid,
    /// The policy host's certificate failed PKIX validation (§4.3.2).
    StsWebpkiInvalid,
}

impl ResultType {
    /// The RFC 8460 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
        }
    }
}

impl fmt::Display for ResultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy as reported (RFC 8460 §4.4 `policy-type: sts`, `policy-string`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySummary {
    /// The policy domain.
    pub domain: String,
    /// The TXT id of the policy.
    pub id: String,
    /// The mode.
    pub mode: Mode,
    /// `max_age` in seconds.
    pub max_age: u64,
    /// The `mx` patterns as written (lower-case).
    pub mx: Vec<String>,
}

impl PolicySummary {
    /// The summary of `policy` published under `id` for `domain`.
    pub fn new(domain: &str, id: &str, policy: &Policy) -> Self {
        PolicySummary {
            domain: domain.to_string(),
            id: id.to_string(),
            mode: policy.mode,
            max_age: policy.max_age,
            mx: policy.mx.iter().map(|p| p.as_str().to_string()).collect(),
        }
    }

    /// The policy file's lines (RFC 8460 §4.4 `policy-string`).
    pub fn policy_strings(&self) -> Vec<String> {
        let mut v = vec!["version: STSv1".to_string(), format!("mode: {}", self.mode)];
        v.extend(self.mx.iter().map(|m| format!("mx: {m}")));
        v.push(format!("max_age: {}", self.max_age));
        v
    }
}

/// The result of one attempt under a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum StsResult {
    /// The policy was satisfied (matching MX host, TLS ≥ 1.2, PKIX valid for it).
    Ok,
    /// It was not.
    Failure {
        /// The RFC 8460 result type.
        #[serde(rename = "result-type")]
        result_type: ResultType,
        /// A human-readable reason (logs, DSN, `failure-reason-code`).
        detail: String,
    },
}

/// One delivery attempt's MTA-STS outcome (a TLS-RPT recorder consumes this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsOutcome {
    /// The policy in force (`None`: a fetch failure left no policy, see `result`).
    pub policy: Option<PolicySummary>,
    /// The policy domain (the recipient domain).
    pub domain: String,
    /// The MX host the attempt reached or judged, if any.
    pub mx_host: Option<String>,
    /// Its address, if a connection was made.
    pub receiving_ip: Option<IpAddr>,
    /// The result.
    pub result: StsResult,
    /// True when the mail was delivered despite a failure (mode testing).
    pub delivered_anyway: bool,
}

impl StsOutcome {
    /// The result type word, or `ok`.
    pub fn result_word(&self) -> &'static str {
        match &self.result {
            StsResult::Ok => "ok",
            StsResult::Failure { result_type, .. } => result_type.as_str(),
        }
    }

    /// One line for mail_logs.
    pub fn log_text(&self) -> String {
        let pol = match &self.policy {
            Some(p) => format!("policy {} id {}", p.mode, p.id),
            None => "no policy".to_string(),
        };
        let host = match (&self.mx_host, self.receiving_ip) {
            (Some(h), Some(ip)) => format!(" MX {h} [{ip}]"),
            (Some(h), None) => format!(" MX {h}"),
            _ => String::new(),
        };
        match &self.result {
            StsResult::Ok => format!("MTA-STS {} {pol}{host}: ok", self.domain),
            StsResult::Failure {
                result_type,
                detail,
            } => {
                let anyway = if self.delivered_anyway {
                    " (testing: delivered anyway)"
                } else {
                    ""
                };
                format!(
                    "MTA-STS {} {pol}{host}: {result_type}: {detail}{anyway}",
                    self.domain
                )
            }
        }
    }
}

/// Classifies a failed PKIX check of an MX host's certificate from the verifier's
/// text (webpki error names: `CertExpired`, `UnknownIssuer`, `CertNotValidForName`...).
pub fn classify_certificate_failure(text: &str) -> ResultType {
    let t = text.to_ascii_lowercase();
    if t.contains("expired") || t.contains("notvalidyet") || t.contains("not valid yet") {
        ResultType::CertificateExpired
    } else if t.contains("name") {
        ResultType::CertificateHostMismatch
    } else if t.contains("unknownissuer")
        || t.contains("unknown issuer")
        || t.contains("not trusted")
        || t.contains("badsignature")
        || t.contains("self-signed")
        || t.contains("self signed")
    {
        ResultType::CertificateNotTrusted
    } else {
        ResultType::ValidationFailure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_json() {
        assert_eq!(ResultType::StsWebpkiInvalid.as_str(), "sts-webpki-invalid");
        let o = StsOutcome {
            policy: Some(PolicySummary {
                domain: "example.com".into(),
                id: "1".into(),
                mode: Mode::Enforce,
                max_age: 86400,
                mx: vec!["*.example.com".into()],
            }),
            domain: "example.com".into(),
            mx_host: Some("mx.example.com".into()),
            receiving_ip: Some("192.0.2.1".parse().unwrap()),
            result: StsResult::Failure {
                result_type: ResultType::CertificateExpired,
                detail: "CertExpired".into(),
            },
            delivered_anyway: false,
        };
        let j = serde_json::to_value(&o).unwrap();
        assert_eq!(j["result"]["result"], "failure");
        assert_eq!(j["result"]["result-type"], "certificate-expired");
        assert_eq!(o.result_word(), "certificate-expired");
        assert!(
            o.log_text()
                .contains("MX mx.example.com [192.0.2.1]: certificate-expired"),
            "{}",
            o.log_text()
        );
        assert_eq!(
            o.policy.unwrap().policy_strings(),
            vec![
                "version: STSv1",
                "mode: enforce",
                "mx: *.example.com",
                "max_age: 86400"
            ]
        );
    }

    #[test]
    fn certificate_failures_are_classified() {
        use ResultType::*;
        assert_eq!(
            classify_certificate_failure("PKIX: CertExpired"),
            CertificateExpired
        );
        assert_eq!(
            classify_certificate_failure("CertNotValidForName"),
            CertificateHostMismatch
        );
        assert_eq!(
            classify_certificate_failure("certificate name does not match"),
            CertificateHostMismatch
        );
        assert_eq!(
            classify_certificate_failure("UnknownIssuer"),
            CertificateNotTrusted
        );
        assert_eq!(
            classify_certificate_failure("something else"),
            ValidationFailure
        );
    }
}
