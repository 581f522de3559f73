//! SMTP TLS Reporting (RFC 8460) in the gateway: every delivery attempt's TLS outcome is
//! recorded per policy domain and UTC day (`[tls_rpt] enabled`), and once a day the
//! previous day's reports are sent to each domain's `_smtp._tls` `rua` destinations.
//!
//! - [`classify`]: the events of one attempt → counted sessions (pure);
//! - [`send`]: the `_smtp._tls` lookup, the report message queued through our own queue,
//!   the HTTPS POST, at most once per day, domain and destination; the daily task.
//!
//! Report messages are queued with the mail flow policy [`REPORT_POLICY`]; a delivery
//! that carries one is never recorded (RFC 8460 §5.3: no report about a report).

mod classify;
pub mod send;

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use danegate_config::Config;
use danegate_delivery::Event;
use danegate_queue::Envelope;
use danegate_tlsrpt::{Policy, Recorder, SessionResult};

use crate::{Running, Shared};

/// The queue's mail flow policy of a TLS-RPT report message.
pub const REPORT_POLICY: &str = "TLSRPT";

/// The recorder, opened at first need in the data directory.
#[derive(Default)]
pub(crate) struct Cell {
    inner: Mutex<Option<Arc<Recorder>>>,
}

impl Cell {
    pub(crate) fn get(&self, data_dir: &Path) -> Result<Arc<Recorder>, String> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = g.as_ref() {
            return Ok(r.clone());
        }
        let r = Arc::new(Recorder::open(data_dir).map_err(|e| e.to_string())?);
        *g = Some(r.clone());
        Ok(r)
    }
}

/// Is this queued message a TLS-RPT report (its delivery is never recorded)?
pub(crate) fn is_report(env: &Envelope) -> bool {
    env.policy == REPORT_POLICY
}

/// Records sessions for `domain`, off the async threads; errors are logged.
pub(crate) async fn record(shared: &Shared, domain: &str, sessions: Vec<(Policy, SessionResult)>) {
    if sessions.is_empty() {
        return;
    }
    let config = shared.config();
    if !config.tls_rpt.enabled {
        return;
    }
    let rec = match shared.tlsrpt.get(&config.server.data_dir) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(target: "danegate::mail", "TLS-RPT: cannot record for {domain}: {e}");
            return;
        }
    };
    let d = domain.to_string();
    let r = tokio::task::spawn_blocking(move || {
        for (p, s) in &sessions {
            rec.record(&d, p, s)?;
        }
        Ok::<_, danegate_tlsrpt::StoreError>(())
    })
    .await;
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(target: "danegate::mail", "TLS-RPT: cannot record for {domain}: {e}")
        }
        Err(e) => {
            tracing::error!(target: "danegate::mail", "TLS-RPT: cannot record for {domain}: {e}")
        }
    }
}

/// After a delivery attempt opened (or failed to open) a session for `domain`: counts
/// its TLS sessions from the attempt's `events`, unless told to `skip` (a batch that
/// carries a report, a route to a smart host). `sts`: the MTA-STS policy that applied
/// to the attempt, if any — the sessions that no DANE policy covered are then counted
/// under it instead of `no-policy-found` (RFC 8461 §2: DANE first).
pub(crate) async fn after_open(
    shared: &Shared,
    config: &Config,
    domain: &str,
    mandatory: bool,
    events: &[Event],
    skip: bool,
    sts: Option<&Policy>,
) {
    if !config.tls_rpt.enabled || skip {
        return;
    }
    let sessions = classify::classify(events, mandatory);
    record(shared, domain, under_sts(sessions, sts)).await;
}

/// Moves the `no-policy-found` sessions under the MTA-STS policy that applied.
pub(crate) fn under_sts(
    sessions: Vec<(Policy, SessionResult)>,
    sts: Option<&Policy>,
) -> Vec<(Policy, SessionResult)> {
    let Some(sts) = sts else { return sessions };
    sessions
        .into_iter()
        .map(|(p, r)| {
            if p.kind == danegate_tlsrpt::PolicyType::NoPolicyFound {
                (sts.clone(), r)
            } else {
                (p, r)
            }
        })
        .collect()
}

impl Running {
    /// Records one session's TLS-RPT outcome for the policy domain `domain` today (UTC),
    /// e.g. an MTA-STS outcome: `Policy::sts(lines, mx_patterns)` with
    /// `SessionResult::Failure(..)` carrying `sts-webpki-invalid`. Nothing is recorded
    /// while `[tls_rpt] enabled` is false.
    pub async fn tlsrpt_record(&self, domain: &str, policy: Policy, result: SessionResult) {
        record(&self.shared, domain, vec![(policy, result)]).await;
    }

    /// Sends the reports of `day` now (each destination at most once, ever) and says
    /// what happened to each.
    pub async fn tlsrpt_send(&self, day: danegate_tlsrpt::Day) -> Result<Vec<send::Line>, String> {
        send::send_day(&self.shared, day).await
    }

    /// What would be (or was) sent for `day`: each domain's report and destinations.
    pub async fn tlsrpt_show(
        &self,
        day: danegate_tlsrpt::Day,
        domain: Option<&str>,
    ) -> Result<Vec<send::Pending>, String> {
        send::show_day(&self.shared, day, domain).await
    }
}

#[cfg(test)]
mod tests;
