//! The concurrent audit: at most `concurrency` domains in flight, one resolver (and its
//! cache) and one [`SharedProbe`] for all of them, each domain walked by the DANE path
//! with `daneverify`'s options.

use std::{sync::Arc, time::Instant};

use danegate_admin::daneverify::Check;
use danegate_delivery::verify_destination_with;
use danegate_dns::Resolver;
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{
    record::{self, DomainResult},
    share::{ProbeStats, SharedProbe},
};

/// How to audit.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// The check every domain gets (its `domain` is replaced; `json` is ignored): mode,
    /// port, IP preference, per-step timeout, EHLO name — as `daneverify` takes them.
    pub check: Check,
    /// Domains checked at once (at least 1).
    pub concurrency: usize,
    /// Connections open to one MX address at once (at least 1).
    pub per_ip: usize,
}

/// The audit's results.
#[derive(Debug)]
pub struct Audit {
    /// One per domain, in input order.
    pub results: Vec<DomainResult>,
    /// Handshakes made and shared.
    pub probes: ProbeStats,
    /// Wall time of the whole audit (milliseconds).
    pub elapsed_ms: u64,
}

/// Audits `domains` with `resolver`; `done` is called as each domain finishes (for a
/// progress bar). An error names a bad option (nothing was checked then).
pub async fn audit(
    resolver: Resolver,
    domains: Vec<String>,
    opts: &AuditOptions,
    done: Arc<dyn Fn(&DomainResult) + Send + Sync>,
) -> Result<Audit, String> {
    // Validate the options once, as daneverify would.
    let mut probe_check = opts.check.clone();
    probe_check.domain = "example.invalid".into();
    probe_check.options(None)?;
    let start = Instant::now();
    let probe = Arc::new(SharedProbe::new(opts.per_ip));
    let limit = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mode = record::mode_word(opts.check.mode);
    let mut tasks = JoinSet::new();
    let mut results: Vec<Option<DomainResult>> = vec![None; domains.len()];
    for (i, domain) in domains.into_iter().enumerate() {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let (resolver, probe, done) = (resolver.clone(), probe.clone(), done.clone());
        let mut check = opts.check.clone();
        check.domain = domain;
        tasks.spawn(async move {
            let r = check_one(&resolver, &probe, &check, mode).await;
            done(&r);
            drop(permit);
            (i, r)
        });
        // Collect what finished meanwhile, so memory stays bounded by the results.
        while let Some(joined) = tasks.try_join_next() {
            let (i, r) = joined.map_err(|e| format!("an audit task failed: {e}"))?;
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(r);
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, r)) => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
            Err(e) => return Err(format!("an audit task failed: {e}")),
        }
    }
    probe.finish().await;
    Ok(Audit {
        results: results.into_iter().flatten().collect(),
        probes: probe.stats(),
        elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

async fn check_one(
    resolver: &Resolver,
    probe: &SharedProbe,
    check: &Check,
    mode: &'static str,
) -> DomainResult {
    let start = Instant::now();
    let domain = check.domain.clone();
    let opts = match check.options(None) {
        Ok(o) => o,
        // Validated before the first domain: unreachable in practice.
        Err(e) => {
            return DomainResult {
                reason: e,
                ..record::from_events(&domain, mode, danegate_delivery::Verdict::TempFail, &[], 0)
            };
        }
    };
    let outcome = verify_destination_with(resolver, probe, &domain, &opts, &mut |_| {}).await;
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    record::from_events(&domain, mode, outcome.verdict, &outcome.events, ms)
}
