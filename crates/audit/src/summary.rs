//! The end of an audit in numbers: domains per verdict, MX hosts and the share of the
//! work, and the MX hosts that did not answer (connection or TLS failures, timeouts).

use std::collections::{BTreeMap, BTreeSet};

use danegate_delivery::Verdict;
use serde::Serialize;

use crate::{
    record::{DomainResult, verdict_word},
    run::Audit,
};

/// The summary.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// `mandatory` or `opportunistic`.
    pub mode: String,
    /// Domains audited.
    pub domains: usize,
    /// DANE SUCCESS.
    pub dane_success: usize,
    /// DANE FAILED.
    pub dane_failed: usize,
    /// DANE FALLBACK (opportunistic).
    pub fallback: usize,
    /// Temporary failures.
    pub temp_fail: usize,
    /// Distinct MX hosts seen.
    pub mx_hosts: usize,
    /// STARTTLS probes made (one per MX host, address and TLSA RRset).
    pub handshakes: u64,
    /// Probes served from a shared one.
    pub shared: u64,
    /// MX hosts that did not answer (connection refused or timed out, a session that
    /// stopped answering), with how many domains met them.
    pub not_answering: Vec<NotAnswering>,
    /// MTA-STS policies found, `None` when not checked (`--no-sts`).
    pub mta_sts: Option<StsCounts>,
    /// TLS-RPT records found, `None` when not checked (`--no-sts`).
    pub tls_rpt: Option<TlsRptCounts>,
    /// MTA-STS sessions made (one per MX host and address).
    pub sts_handshakes: u64,
    /// MTA-STS sessions served from a shared one.
    pub sts_shared: u64,
    /// Wall time (milliseconds).
    pub elapsed_ms: u64,
}

/// Domains per MTA-STS policy mode and result (RFC 8461).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StsCounts {
    /// With a policy in mode `enforce`.
    pub enforce: usize,
    /// With a policy in mode `testing`.
    pub testing: usize,
    /// With a policy in mode `none`.
    pub none: usize,
    /// Without a policy: no `_mta-sts` TXT record (or no valid one).
    pub no_record: usize,
    /// A TXT record, but the policy fetch or parse failed.
    pub policy_error: usize,
    /// Unknown: the TXT lookup, or the MX hosts, failed temporarily.
    pub temp_fail: usize,
    /// Policy satisfied (a matching MX host passed).
    pub satisfied: usize,
    /// Policy not satisfied (in mode enforce the mail would not be delivered).
    pub failed: usize,
    /// Domains whose policy, were it in mode enforce, would refuse delivery.
    pub enforce_would_refuse: usize,
}

/// Domains per TLS-RPT record status (RFC 8460 §3).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TlsRptCounts {
    /// A valid record.
    pub valid: usize,
    /// An invalid record (syntax, several records, BOGUS).
    pub invalid: usize,
    /// None.
    pub absent: usize,
    /// The lookup failed.
    pub temp_fail: usize,
}

/// An MX host that did not answer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotAnswering {
    /// The host name.
    pub host: String,
    /// The first error seen.
    pub error: String,
    /// Domains whose check met it.
    pub domains: usize,
}

impl Summary {
    /// Counts `audit`'s results.
    pub fn of(audit: &Audit) -> Summary {
        let count = |v: Verdict| audit.results.iter().filter(|r| r.verdict == v).count();
        let mut hosts = BTreeSet::new();
        let mut down: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for r in &audit.results {
            for h in &r.hosts {
                hosts.insert(h.name.clone());
                // Refused or timed out connections, and sessions that stopped answering
                // (RFC 5321 §4.5.3.2 timeouts); not servers that answered "no".
                if let Some(e) = &h.error
                    && h.tls.is_none()
                    && (e.starts_with("Connection to") || e.contains("timeout during"))
                {
                    let entry = down.entry(h.name.clone()).or_insert((e.clone(), 0));
                    entry.1 += 1;
                }
            }
        }
        let checked = audit.results.iter().any(|r| r.mta_sts.done().is_some());
        let mut sts = StsCounts::default();
        let mut rpt = TlsRptCounts::default();
        for r in &audit.results {
            if let Some(v) = r.mta_sts.done() {
                match v.mode().as_deref() {
                    Some("enforce") => sts.enforce += 1,
                    Some("testing") => sts.testing += 1,
                    Some(_) => sts.none += 1,
                    None if v.result == "temp-fail" => sts.temp_fail += 1,
                    None if v.report.txt.is_some() => sts.policy_error += 1,
                    None => sts.no_record += 1,
                }
                match v.result {
                    "satisfied" => sts.satisfied += 1,
                    "failed" => sts.failed += 1,
                    _ => {}
                }
                if v.enforce == Some("refuse") {
                    sts.enforce_would_refuse += 1;
                }
            }
            if let Some(t) = r.tls_rpt.done() {
                match t.status {
                    "valid" => rpt.valid += 1,
                    "invalid" => rpt.invalid += 1,
                    "absent" => rpt.absent += 1,
                    _ => rpt.temp_fail += 1,
                }
            }
        }
        Summary {
            mode: audit
                .results
                .first()
                .map(|r| r.mode.to_string())
                .unwrap_or_default(),
            domains: audit.results.len(),
            dane_success: count(Verdict::DaneSuccess),
            dane_failed: count(Verdict::DaneFailed),
            fallback: count(Verdict::Fallback),
            temp_fail: count(Verdict::TempFail),
            mx_hosts: hosts.len(),
            handshakes: audit.probes.handshakes,
            shared: audit.probes.shared,
            not_answering: down
                .into_iter()
                .map(|(host, (error, domains))| NotAnswering {
                    host,
                    error,
                    domains,
                })
                .collect(),
            mta_sts: checked.then_some(sts),
            tls_rpt: checked.then_some(rpt),
            sts_handshakes: audit.sts_probes.handshakes,
            sts_shared: audit.sts_probes.shared,
            elapsed_ms: audit.elapsed_ms,
        }
    }

    /// The MTA-STS line of the summary, when checked.
    pub fn sts_text(&self) -> Option<String> {
        let s = self.mta_sts.as_ref()?;
        Some(format!(
            "MTA-STS: {} enforce, {} testing, {} none; {} without a record, {} policy \
             fetch/parse error(s), {} unknown; satisfied {}, failed {}; \
             mode enforce would refuse {}",
            s.enforce,
            s.testing,
            s.none,
            s.no_record,
            s.policy_error,
            s.temp_fail,
            s.satisfied,
            s.failed,
            s.enforce_would_refuse
        ))
    }

    /// The TLS-RPT line of the summary, when checked.
    pub fn tlsrpt_text(&self) -> Option<String> {
        let t = self.tls_rpt.as_ref()?;
        Some(format!(
            "TLS-RPT: {} valid, {} invalid, {} absent, {} unknown",
            t.valid, t.invalid, t.absent, t.temp_fail
        ))
    }

    /// The summary as lines for a terminal.
    pub fn text(&self) -> String {
        let pct = |n: usize| {
            if self.domains == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.domains as f64
            }
        };
        let mut s = format!(
            "{} domains audited ({} table) in {:.1} s\n",
            self.domains,
            self.mode,
            self.elapsed_ms as f64 / 1000.0
        );
        for (v, n) in [
            (Verdict::DaneSuccess, self.dane_success),
            (Verdict::DaneFailed, self.dane_failed),
            (Verdict::Fallback, self.fallback),
            (Verdict::TempFail, self.temp_fail),
        ] {
            s.push_str(&format!(
                "  {:<13} {n:>7}  {:5.1} %\n",
                verdict_word(v),
                pct(n)
            ));
        }
        s.push_str(&format!(
            "{} MX hosts; {} STARTTLS probes, {} answered from a shared probe\n",
            self.mx_hosts, self.handshakes, self.shared
        ));
        if let (Some(sts), Some(rpt)) = (self.sts_text(), self.tlsrpt_text()) {
            s.push_str(&format!(
                "{sts}\n{rpt}\n{} MTA-STS sessions, {} answered from a shared one\n",
                self.sts_handshakes, self.sts_shared
            ));
        }
        if !self.not_answering.is_empty() {
            s.push_str("MX hosts that did not answer:\n");
            for d in &self.not_answering {
                s.push_str(&format!(
                    "  {} ({} domains): {}\n",
                    d.host, d.domains, d.error
                ));
            }
        }
        s
    }
}

/// Results whose verdict is `v` (for filters).
pub fn with_verdict(results: &[DomainResult], v: Verdict) -> impl Iterator<Item = &DomainResult> {
    results.iter().filter(move |r| r.verdict == v)
}
