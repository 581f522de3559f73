//! One domain's audit result, read from the DANE path's events: the verdict and the
//! deciding table row exactly as `daneverify` has them, and per MX host what DNS and
//! TLS found. The JSON schema (one object per domain and line) is documented in
//! docs/readiness.md; field names here are that schema.

use std::net::IpAddr;

use danegate_delivery::{Event, Sec, Verdict};
use serde::Serialize;

/// A check that was not made (`--no-sts`): the MTA-STS (RFC 8461) and TLS-RPT
/// (RFC 8460) slots of the per-domain result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum NotChecked {
    /// Serialized as `"not checked"`.
    #[default]
    #[serde(rename = "not checked")]
    NotChecked,
}

/// A check's result, or `"not checked"`.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Checked<T> {
    /// Not made.
    NotChecked(NotChecked),
    /// Made.
    Done(T),
}

impl<T> Default for Checked<T> {
    fn default() -> Self {
        Checked::NotChecked(NotChecked::NotChecked)
    }
}

impl<T> Checked<T> {
    /// The result, when checked.
    pub fn done(&self) -> Option<&T> {
        match self {
            Checked::Done(t) => Some(t),
            Checked::NotChecked(_) => None,
        }
    }
}

/// The MTA-STS check of a domain: exactly `danegate stsverify`'s (its JSON fields,
/// flattened), with the verdict in one word and what an `enforce` policy would decide.
#[derive(Clone, Debug, Serialize)]
pub struct StsView {
    /// `satisfied`, `failed`, `no-policy`, `temp-fail` (stsverify's exit status 0, 1,
    /// 3, 75).
    pub result: &'static str,
    /// What mode `enforce` would decide: `deliver`, `refuse`, `temp-fail`; `null`
    /// without a policy in force (RFC 8461 §5).
    pub enforce: Option<&'static str>,
    /// stsverify's report: `txt`, `policy_id`, `policy`, `policy_error`,
    /// `policy_error_type`, `hosts`, `verdict`, `exit`.
    #[serde(flatten)]
    pub report: danegate_admin::stsverify::Report,
}

impl StsView {
    /// The view of stsverify's `report`.
    pub fn of(report: danegate_admin::stsverify::Report) -> Self {
        StsView {
            result: report.verdict_word(),
            enforce: report.enforce_decision(),
            report,
        }
    }

    /// The policy's mode word (`enforce`, `testing`, `none`), when a policy was fetched.
    pub fn mode(&self) -> Option<String> {
        self.report.policy.as_ref().map(|p| p.mode.to_string())
    }
}

pub use danegate_admin::stsverify::TlsRptView;

/// One domain.
#[derive(Clone, Debug, Serialize)]
pub struct DomainResult {
    /// The recipient domain.
    pub domain: String,
    /// `mandatory` or `opportunistic`: the table that decided.
    pub mode: &'static str,
    /// `dane-success`, `dane-failed`, `fallback`, `temp-fail` (daneverify's verdict).
    pub verdict: Verdict,
    /// The table row that decided, e.g. `Mandatory table line 1: Secure | Secure | …`.
    pub row: Option<String>,
    /// Why, in one line (the decisive step).
    pub reason: String,
    /// DNSSEC status of the MX RRset (`SECURE`, `INSECURE`, `BOGUS`), when one was found.
    pub mx_status: Option<Sec>,
    /// No MX RRset: the domain itself is the implicit MX (RFC 5321 §5.1).
    pub implicit_mx: bool,
    /// The MX hosts tried, in order.
    pub hosts: Vec<HostResult>,
    /// MTA-STS policy and its MX hosts (RFC 8461), or `"not checked"` (`--no-sts`).
    pub mta_sts: Checked<StsView>,
    /// TLS-RPT record (RFC 8460 §3), or `"not checked"` (`--no-sts`).
    pub tls_rpt: Checked<TlsRptView>,
    /// `daneverify`'s lines for this domain.
    pub lines: Vec<String>,
    /// Wall time of this domain's check (milliseconds; shared work counts for the
    /// first domain that needed it).
    pub elapsed_ms: u64,
}

/// One MX host.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostResult {
    /// Its name.
    pub name: String,
    /// MX preference.
    pub preference: u16,
    /// Addresses tried, each with its answer's DNSSEC status.
    pub addresses: Vec<AddrResult>,
    /// `SECURE`, `INSECURE`, `BOGUS` TLSA, or `None` when not looked up.
    pub tlsa_status: Option<Sec>,
    /// The TLSA RRset was (securely or not) absent.
    pub tlsa_absent: bool,
    /// TLSA records (`usage selector mtype data`).
    pub tlsa: Vec<String>,
    /// TLS established: `TLSv1.3 TLS_AES_256_GCM_SHA384`.
    pub tls: Option<String>,
    /// `ok`, `failed`, `unchecked`, or `None` when no certificate was seen.
    pub certificate: Option<&'static str>,
    /// A connection, STARTTLS, TLS or DNS problem of this host.
    pub error: Option<String>,
}

/// One address.
#[derive(Clone, Debug, Serialize)]
pub struct AddrResult {
    /// `A` or `AAAA`.
    pub rtype: String,
    /// The address.
    pub ip: IpAddr,
    /// The answer's status.
    pub status: Sec,
}

/// The mode's word.
pub fn mode_word(mode: danegate_admin::daneverify::CheckMode) -> &'static str {
    match mode {
        danegate_admin::daneverify::CheckMode::Mandatory => "mandatory",
        danegate_admin::daneverify::CheckMode::Opportunistic => "opportunistic",
    }
}

/// The verdict's word as in the JSON (`dane-success`, ...).
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::DaneSuccess => "dane-success",
        Verdict::DaneFailed => "dane-failed",
        Verdict::Fallback => "fallback",
        Verdict::TempFail => "temp-fail",
    }
}

/// Builds the result of `domain` from its events.
pub fn from_events(
    domain: &str,
    mode: &'static str,
    verdict: Verdict,
    events: &[Event],
    elapsed_ms: u64,
) -> DomainResult {
    let mut r = DomainResult {
        domain: domain.to_string(),
        mode,
        verdict,
        row: None,
        reason: String::new(),
        mx_status: None,
        implicit_mx: false,
        hosts: Vec::new(),
        mta_sts: Checked::default(),
        tls_rpt: Checked::default(),
        lines: events
            .iter()
            .filter(|e| e.is_summary())
            .map(ToString::to_string)
            .collect(),
        elapsed_ms,
    };
    let mut problem: Option<String> = None;
    let mut success: Option<String> = None;
    for e in events {
        let host = r.hosts.last_mut();
        match e {
            Event::MxFound {
                sec,
                host,
                preference,
                implicit,
                ..
            } => {
                r.mx_status = Some(*sec);
                r.implicit_mx = *implicit;
                r.hosts.push(HostResult {
                    name: host.clone(),
                    preference: *preference,
                    ..HostResult::default()
                });
            }
            Event::MxBogus { .. } => {
                r.mx_status = Some(Sec::Bogus);
                problem = Some(e.to_string());
            }
            Event::NoMailDomain { sec, .. } => {
                r.mx_status = Some(*sec);
                problem = Some(e.to_string());
            }
            Event::AddrFound { sec, rtype, ip, .. } => {
                if let Some(h) = host {
                    h.addresses.push(AddrResult {
                        rtype: rtype.clone(),
                        ip: *ip,
                        status: *sec,
                    });
                }
                if *sec != Sec::Secure {
                    problem = Some(e.to_string());
                }
            }
            Event::AddrBogus { .. } | Event::NoAddress { .. } | Event::DnsTempFail { .. } => {
                if let Some(h) = host {
                    h.error = Some(e.to_string());
                }
                problem = Some(e.to_string());
            }
            Event::TlsaFound {
                sec,
                records,
                usable,
                ..
            } => {
                if let Some(h) = host {
                    h.tlsa_status = Some(*sec);
                    h.tlsa = records.clone();
                }
                if *sec != Sec::Secure || *usable == 0 {
                    problem = Some(e.to_string());
                }
            }
            Event::TlsaNone { sec, .. } => {
                if let Some(h) = host {
                    h.tlsa_status = Some(*sec);
                    h.tlsa_absent = true;
                }
                problem = Some(e.to_string());
            }
            Event::TlsaBogus { .. } => {
                if let Some(h) = host {
                    h.tlsa_status = Some(Sec::Bogus);
                }
                problem = Some(e.to_string());
            }
            Event::ConnectFailed { .. }
            | Event::StartTlsFailed { .. }
            | Event::TlsFailed { .. } => {
                if let Some(h) = host {
                    h.error = Some(e.to_string());
                }
                problem = Some(e.to_string());
            }
            Event::TlsEstablished { protocol, cipher } => {
                if let Some(h) = host {
                    h.tls = Some(format!("{protocol} {cipher}"));
                }
            }
            Event::CertOk { detail } => {
                if let Some(h) = host {
                    h.certificate = Some("ok");
                    success = Some(format!("{}: {detail}", h.name));
                }
            }
            Event::CertFailed { .. } => {
                if let Some(h) = host {
                    h.certificate = Some("failed");
                }
                problem = Some(e.to_string());
            }
            Event::CertUnchecked { .. } => {
                if let Some(h) = host {
                    h.certificate = Some("unchecked");
                }
            }
            Event::UnauthenticatedTls { .. } => problem = Some(e.to_string()),
            Event::Decision { row, .. } => r.row = Some(row.clone()),
            _ => {}
        }
    }
    r.reason = match (verdict, success, problem) {
        (Verdict::DaneSuccess, Some(s), _) => format!("authenticated {s}"),
        (_, _, Some(p)) => p,
        (_, _, None) => r.row.clone().unwrap_or_default(),
    };
    r
}
