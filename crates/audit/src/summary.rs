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
    /// Wall time (milliseconds).
    pub elapsed_ms: u64,
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
            elapsed_ms: audit.elapsed_ms,
        }
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
