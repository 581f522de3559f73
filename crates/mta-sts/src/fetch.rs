//! Discovery and fetch (RFC 8461 §3): the `_mta-sts.<domain>` TXT record through the
//! validating resolver, then `https://mta-sts.<domain>/.well-known/mta-sts.txt` —
//! PKIX-validated, no redirects, at most 64 KiB, `text/plain` (§3.3).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use danegate_dns::{AnswerKind, Name, RecordType, Resolver, Security};
use danegate_https::{HttpsClient, HttpsUrl};
use hickory_proto::rr::RData;

use crate::outcome::ResultType;
use crate::policy::{self, Policy};
use crate::txt::{self, StsRecord, TxtError};

/// The path of the policy file (§3.3).
pub const WELL_KNOWN: &str = "/.well-known/mta-sts.txt";

/// What the TXT lookup says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// One valid record.
    Record(StsRecord),
    /// No (valid, unique) record: the domain publishes no policy (§3.1).
    NoPolicy(TxtError),
    /// The lookup failed (timeout, SERVFAIL, BOGUS): nothing is known.
    TempFail(String),
}

/// Which RFC 8460 §4.3.2 class a fetch failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// The policy host's certificate failed PKIX validation (`sts-webpki-invalid`).
    Webpki,
    /// The file is not a valid policy (`sts-policy-invalid`).
    Invalid,
    /// Anything else: no address, connection, status, redirect, size, type
    /// (`sts-policy-fetch-error`).
    Fetch,
}

/// A failed fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchError {
    /// The class.
    pub kind: FetchErrorKind,
    /// What happened.
    pub detail: String,
}

impl FetchError {
    /// The RFC 8460 result type.
    pub fn result_type(&self) -> ResultType {
        match self.kind {
            FetchErrorKind::Webpki => ResultType::StsWebpkiInvalid,
            FetchErrorKind::Invalid => ResultType::StsPolicyInvalid,
            FetchErrorKind::Fetch => ResultType::StsPolicyFetchError,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Looks up policies: TXT through the resolver, the file through the HTTPS client.
#[derive(Clone, Debug)]
pub struct Fetcher {
    /// The HTTPS client (its roots: `webpki-roots` plus the operator's CA file).
    pub client: HttpsClient,
    /// The HTTPS port of policy hosts: 443 (tests use others).
    pub port: u16,
}

fn name(text: &str) -> Result<Name, String> {
    let mut n = Name::from_str(text).map_err(|e| format!("{text:?}: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

impl Fetcher {
    /// The TXT record of `_mta-sts.<domain>` (§3.1). Insecure answers count (MTA-STS
    /// does not need DNSSEC); BOGUS and failed lookups are temporary failures.
    pub async fn discover(&self, resolver: &Resolver, domain: &str) -> Discovery {
        let qname = match name(&format!("_mta-sts.{domain}")) {
            Ok(n) => n,
            Err(e) => return Discovery::NoPolicy(TxtError::Invalid(e)),
        };
        match resolver.lookup(&qname, RecordType::TXT).await {
            Err(e) => Discovery::TempFail(format!("TXT _mta-sts.{domain}: {e}")),
            Ok(a) => {
                if let Security::Bogus(r) = &a.security {
                    return Discovery::TempFail(format!("TXT _mta-sts.{domain}: BOGUS ({r})"));
                }
                if a.kind != AnswerKind::Data {
                    return Discovery::NoPolicy(TxtError::NoRecord);
                }
                let texts: Vec<String> = a.txt_strings();
                match txt::select(&texts) {
                    Ok(r) => Discovery::Record(r),
                    Err(e) => Discovery::NoPolicy(e),
                }
            }
        }
    }

    /// The addresses of `host` (A and AAAA through the resolver; BOGUS unusable).
    async fn addresses(&self, resolver: &Resolver, host: &str) -> Result<Vec<IpAddr>, String> {
        let qname = name(host)?;
        let mut out = Vec::new();
        let mut trouble = Vec::new();
        for t in [RecordType::A, RecordType::AAAA] {
            match resolver.lookup(&qname, t).await {
                Err(e) => trouble.push(format!("{t} {host}: {e}")),
                Ok(a) if matches!(a.security, Security::Bogus(_)) => {
                    trouble.push(format!("{t} {host}: BOGUS"))
                }
                Ok(a) => out.extend(a.records.iter().filter_map(|r| match &r.data {
                    RData::A(v4) => Some(IpAddr::V4(v4.0)),
                    RData::AAAA(v6) => Some(IpAddr::V6(v6.0)),
                    _ => None,
                })),
            }
        }
        if out.is_empty() {
            return Err(if trouble.is_empty() {
                format!("{host} has no address")
            } else {
                trouble.join("; ")
            });
        }
        Ok(out)
    }

    /// Fetches and parses the policy of `domain` (§3.3): a 200 `text/plain` body of
    /// at most the client's limit (64 KiB) that parses as a policy.
    pub async fn fetch(&self, resolver: &Resolver, domain: &str) -> Result<Policy, FetchError> {
        let fetch_err = |detail: String| FetchError {
            kind: FetchErrorKind::Fetch,
            detail,
        };
        let host = format!("mta-sts.{domain}");
        let url = HttpsUrl::parse(&format!("https://{host}:{}{WELL_KNOWN}", self.port))
            .map_err(|e| fetch_err(e.to_string()))?;
        let addrs = self
            .addresses(resolver, &host)
            .await
            .map_err(|e| fetch_err(format!("policy host: {e}")))?;
        let resp = self
            .client
            .get(&url, &addrs)
            .await
            .map_err(|e| FetchError {
                kind: if e.cert_problem().is_some() {
                    FetchErrorKind::Webpki
                } else {
                    FetchErrorKind::Fetch
                },
                detail: format!("{url}: {e}"),
            })?;
        resp.require_content_type("text/plain")
            .map_err(|e| fetch_err(format!("{url}: {e}")))?;
        let text = String::from_utf8(resp.body).map_err(|_| FetchError {
            kind: FetchErrorKind::Invalid,
            detail: format!("{url}: the policy is not UTF-8 text"),
        })?;
        policy::parse(&text).map_err(|e| FetchError {
            kind: FetchErrorKind::Invalid,
            detail: format!("{url}: {e}"),
        })
    }
}
