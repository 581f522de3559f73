//! The answer to "is this DNS answer authentic?" (RFC 4033 §5, RFC 4035 §4.3).

use std::fmt;

use hickory_proto::rr::{Name, Record, RecordType};
use serde::Serialize;

/// The security status of an answer, per RFC 4035 §4.3.
///
/// `Indeterminate` (no trust anchor covers the name) is reported as
/// [`Security::Insecure`]: RFC 7672 §2.1.1 treats both alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Security {
    /// A chain of validated signatures leads from a trust anchor to the data.
    Secure,
    /// A validated proof shows that no chain of trust leads to the data
    /// (an unsigned delegation, an unsupported algorithm, no trust anchor).
    Insecure,
    /// A chain of trust should lead to the data but does not validate.
    Bogus(BogusReason),
}

impl Security {
    /// The weaker of two statuses: Bogus < Insecure < Secure (RFC 4035 §5).
    pub fn and(self, other: Security) -> Security {
        match (self, other) {
            (Security::Bogus(r), _) | (_, Security::Bogus(r)) => Security::Bogus(r),
            (Security::Insecure, _) | (_, Security::Insecure) => Security::Insecure,
            _ => Security::Secure,
        }
    }

    /// `SECURE`, `INSECURE` or `BOGUS`: the words of the appliance's `daneverify`.
    pub fn word(&self) -> &'static str {
        match self {
            Security::Secure => "SECURE",
            Security::Insecure => "INSECURE",
            Security::Bogus(_) => "BOGUS",
        }
    }

    /// Lower-case word, as used in trace lines and JSON.
    pub fn lower(&self) -> &'static str {
        match self {
            Security::Secure => "secure",
            Security::Insecure => "insecure",
            Security::Bogus(_) => "bogus",
        }
    }

    /// True for [`Security::Secure`].
    pub fn is_secure(&self) -> bool {
        matches!(self, Security::Secure)
    }
}

/// Why an answer is bogus. Each names what failed, so that an administrator can
/// compare it with `delv +vtrace` or DNSViz.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum BogusReason {
    /// An RRset from a signed zone came without any RRSIG (RFC 4035 §5.3).
    MissingSignature(String),
    /// Every RRSIG had expired (RFC 4035 §5.3.1).
    SignatureExpired(String),
    /// Every RRSIG had an inception in the future (RFC 4035 §5.3.1).
    SignatureNotYetValid(String),
    /// No DNSKEY of the signer matched the RRSIG's key tag and algorithm.
    NoMatchingDnskey(String),
    /// A signature did not verify with the key it names.
    BadSignature(String),
    /// No DNSKEY of the zone matches its parent's DS RRset (RFC 4035 §5.2).
    DsMismatch(String),
    /// The RRSIG's signer is not the apex of the zone holding the data.
    WrongSigner(String),
    /// A negative answer came without a valid NSEC/NSEC3 proof (RFC 4035 §5.4, RFC 5155 §8).
    BadDenial(String),
    /// The zone's DNSKEY RRset could not be had or was empty.
    NoDnskey(String),
    /// The per-answer work budget ran out (KeyTrap CVE-2023-50387, CVE-2023-50868).
    WorkLimit(String),
    /// The answer is malformed (e.g. a CNAME loop, an RRSIG whose labels field is impossible).
    Malformed(String),
}

impl fmt::Display for BogusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, detail) = match self {
            BogusReason::MissingSignature(d) => ("missing RRSIG", d),
            BogusReason::SignatureExpired(d) => ("expired signature", d),
            BogusReason::SignatureNotYetValid(d) => ("signature not yet valid", d),
            BogusReason::NoMatchingDnskey(d) => ("no matching DNSKEY", d),
            BogusReason::BadSignature(d) => ("bad signature", d),
            BogusReason::DsMismatch(d) => ("DS mismatch", d),
            BogusReason::WrongSigner(d) => ("wrong signer", d),
            BogusReason::BadDenial(d) => ("bad denial proof", d),
            BogusReason::NoDnskey(d) => ("no DNSKEY", d),
            BogusReason::WorkLimit(d) => ("validation work limit", d),
            BogusReason::Malformed(d) => ("malformed answer", d),
        };
        write!(f, "{what}: {detail}")
    }
}

/// What kind of answer came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerKind {
    /// Records of the asked type exist (at the end of any CNAME chain).
    Data,
    /// The name does not exist (RCODE 3).
    NxDomain,
    /// The name exists but has no records of the asked type.
    NoData,
}

/// One CNAME link of a chain, with the status of its own validation (RFC 7672 §2.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CnameLink {
    /// The alias.
    pub owner: Name,
    /// Where it points.
    pub target: Name,
    /// The status of the CNAME RRset itself.
    pub security: Security,
}

/// A validated answer: the records, their kind and their security status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The name asked for.
    pub qname: Name,
    /// The type asked for.
    pub qtype: RecordType,
    /// Data, NXDOMAIN or NODATA.
    pub kind: AnswerKind,
    /// The status of the whole answer: the weakest of every link and the final data.
    pub security: Security,
    /// The final records (empty for NXDOMAIN / NODATA), with their owner after CNAME expansion.
    pub records: Vec<Record>,
    /// The CNAME links followed, in order.
    pub chain: Vec<CnameLink>,
    /// The smallest TTL of what makes up the answer (seconds).
    pub ttl: u32,
}

impl Answer {
    /// The name the chain ended at (the query name when there is no CNAME).
    pub fn final_name(&self) -> &Name {
        self.chain.last().map(|l| &l.target).unwrap_or(&self.qname)
    }

    /// The TXT records of the answer, each one's character-strings concatenated
    /// (RFC 7208 §3.3 style, as MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3)
    /// read them); records of other types are skipped.
    pub fn txt_strings(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|r| match &r.data {
                hickory_proto::rr::RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The status word of the CLI: `SECURE`, `INSECURE`, `BOGUS (reason)`,
    /// `NXDOMAIN (secure|insecure)`, `NODATA (secure|insecure)`.
    pub fn status_line(&self) -> String {
        match (&self.security, self.kind) {
            (Security::Bogus(r), _) => format!("BOGUS ({r})"),
            (s, AnswerKind::Data) => s.word().to_string(),
            (s, AnswerKind::NxDomain) => format!("NXDOMAIN ({})", s.lower()),
            (s, AnswerKind::NoData) => format!("NODATA ({})", s.lower()),
        }
    }
}

/// A lookup that produced no answer: a temporary failure (RFC 7672 §2.1.2).
///
/// Never to be read as "insecure": the caller defers, it does not fall back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No upstream answered in time.
    #[error("timeout: no answer from {0}")]
    Timeout(String),
    /// The upstream answered SERVFAIL (or REFUSED, or another error RCODE).
    #[error("SERVFAIL from {upstream} for {name} {rtype}")]
    ServFail {
        /// Which upstream said so.
        upstream: String,
        /// The name asked.
        name: String,
        /// The type asked.
        rtype: String,
    },
    /// No upstream could be reached, or none is usable for DNSSEC.
    #[error("no usable upstream: {0}")]
    NoUpstream(String),
    /// The network failed (connection refused, unreachable, a broken answer from every upstream).
    #[error("network error: {0}")]
    Network(String),
}

impl LookupError {
    /// `TIMEOUT` or `SERVFAIL`: the status word of the CLI.
    pub fn status_word(&self) -> &'static str {
        match self {
            LookupError::Timeout(_) => "TIMEOUT",
            _ => "SERVFAIL",
        }
    }
}
