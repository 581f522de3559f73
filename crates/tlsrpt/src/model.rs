//! What one delivery attempt tells TLS-RPT: the policy that applied and the result of
//! the session (RFC 8460 §4.3 and §4.4).

use std::{fmt, net::IpAddr, str::FromStr};

use serde::{Deserialize, Serialize};

/// The policy types of RFC 8460 §4.4 (`policy-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// A DANE TLSA policy (RFC 6698, RFC 7672): a secure TLSA RRset applied.
    Tlsa,
    /// An MTA-STS policy (RFC 8461).
    Sts,
    /// Neither applied.
    NoPolicyFound,
}

impl PolicyType {
    /// `tlsa`, `sts`, `no-policy-found`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Tlsa => "tlsa",
            PolicyType::Sts => "sts",
            PolicyType::NoPolicyFound => "no-policy-found",
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tlsa" => Ok(PolicyType::Tlsa),
            "sts" => Ok(PolicyType::Sts),
            "no-policy-found" => Ok(PolicyType::NoPolicyFound),
            other => Err(format!(
                "unknown policy type {other:?} (tlsa, sts, no-policy-found)"
            )),
        }
    }
}

/// The result types of RFC 8460 §4.3 (`result-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    /// §4.3.1: the receiving MX does not support STARTTLS.
    StarttlsNotSupported,
    /// §4.3.1: the certificate does not name the MX host (or the DANE/STS constraints).
    CertificateHostMismatch,
    /// §4.3.1: the certificate has expired.
    CertificateExpired,
    /// §4.3.1: no trusted certificate authority was found (self-signed, ...).
    CertificateNotTrusted,
    /// §4.3.1: a general failure not matching a category above.
    ValidationFailure,
    /// §4.3.2: none of the records of the TLSA RRset is valid.
    TlsaInvalid,
    /// §4.3.2: no valid records came back from the validating resolver.
    DnssecInvalid,
    /// §4.3.2: the sender requires DANE but no DNSSEC-validated TLSA record was present.
    DaneRequired,
    /// §4.3.3: the MTA-STS policy could not be fetched.
    StsPolicyFetchError,
    /// §4.3.3: the MTA-STS policy is invalid.
    StsPolicyInvalid,
    /// §4.3.3: the MTA-STS policy host's PKIX certificate did not validate.
    StsWebpkiInvalid,
}

impl ResultType {
    /// Every result type, in the order of RFC 8460 §4.3.
    pub const ALL: [ResultType; 11] = [
        ResultType::StarttlsNotSupported,
        ResultType::CertificateHostMismatch,
        ResultType::CertificateExpired,
        ResultType::CertificateNotTrusted,
        ResultType::ValidationFailure,
        ResultType::TlsaInvalid,
        ResultType::DnssecInvalid,
        ResultType::DaneRequired,
        ResultType::StsPolicyFetchError,
        ResultType::StsPolicyInvalid,
        ResultType::StsWebpkiInvalid,
    ];

    /// The RFC's spelling, e.g. `starttls-not-supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
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

impl FromStr for ResultType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ResultType::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown TLS-RPT result type {s:?}"))
    }
}

/// The policy a session was held to (RFC 8460 §4.4 `policy`): its type, its text and
/// the MX hosts or patterns it names. The policy domain is given beside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    /// `tlsa`, `sts` or `no-policy-found`.
    pub kind: PolicyType,
    /// `policy-string`: the TLSA records in presentation form (`3 1 1 ab12...`), or the
    /// lines of the MTA-STS policy; empty for `no-policy-found`.
    pub strings: Vec<String>,
    /// `mx-host`: the MX host a TLSA policy was found for, or the MTA-STS policy's
    /// `mx` patterns (`*.mail.example.com`); may be empty.
    pub mx_hosts: Vec<String>,
}

impl Policy {
    /// A `tlsa` policy: the TLSA records found for `mx_host`.
    pub fn tlsa(records: Vec<String>, mx_host: impl Into<String>) -> Policy {
        Policy {
            kind: PolicyType::Tlsa,
            strings: records,
            mx_hosts: vec![mx_host.into()],
        }
    }

    /// An `sts` policy: its lines (RFC 8461 §3.2) and its `mx` patterns.
    pub fn sts(lines: Vec<String>, mx_patterns: Vec<String>) -> Policy {
        Policy {
            kind: PolicyType::Sts,
            strings: lines,
            mx_hosts: mx_patterns,
        }
    }

    /// `no-policy-found`.
    pub fn none() -> Policy {
        Policy {
            kind: PolicyType::NoPolicyFound,
            strings: Vec::new(),
            mx_hosts: Vec::new(),
        }
    }
}

/// A failed session (RFC 8460 §4.4 `failure-details`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Failure {
    /// Why (§4.3).
    pub result_type: ResultType,
    /// `sending-mta-ip`: our address on the connection, when one was made.
    pub sending_ip: Option<IpAddr>,
    /// `receiving-mx-hostname`.
    pub mx_host: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<IpAddr>,
    /// `failure-reason-code`: a short free-text reason (the verifier's words).
    pub reason_code: Option<String>,
}

/// The outcome of one session (or attempted session) under a policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionResult {
    /// TLS was negotiated and the policy satisfied.
    Success,
    /// The policy was not satisfied.
    Failure(Failure),
}
