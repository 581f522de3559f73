//! The concurrent audit: at most `concurrency` domains in flight, one resolver (and its
//! cache) and one [`SharedProbe`] for all of them, each domain walked by the DANE path
//! with `daneverify`'s options and, at the same time, checked for MTA-STS by
//! `stsverify`'s code (its MX sessions shared by [`SharedStsProbe`]) and for a TLS-RPT
//! record.

use std::{sync::Arc, time::Instant};

use danegate_admin::{
    daneverify::Check,
    stsverify::{Report, StsCheck, tlsrpt_record},
};
use danegate_delivery::{Options, TlsContext, verify_destination_with};
use danegate_dns::Resolver;
use danegate_mta_sts::Fetcher;
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{
    record::{self, Checked, DomainResult, StsView, TlsRptView},
    share::{ProbeStats, SharedProbe, SharedStsProbe},
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
    /// The MTA-STS and TLS-RPT checks, `None` to skip them (`--no-sts`).
    pub sts: Option<StsOptions>,
}

/// How MTA-STS is checked: as `danegate stsverify` checks it.
#[derive(Clone, Debug)]
pub struct StsOptions {
    /// The policy fetcher (HTTPS client with the trusted roots, policy host port).
    pub fetcher: Fetcher,
    /// The roots MX certificates must chain to (the rest of it is replaced per MX).
    pub tls: TlsContext,
    /// Session options of the MX hosts: SMTP port, timeouts, EHLO name.
    pub options: Options,
}

/// The audit's results.
#[derive(Debug)]
pub struct Audit {
    /// One per domain, in input order.
    pub results: Vec<DomainResult>,
    /// Handshakes made and shared.
    pub probes: ProbeStats,
    /// MTA-STS sessions made and shared.
    pub sts_probes: ProbeStats,
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
    let sts = opts
        .sts
        .clone()
        .map(|o| Arc::new((o, SharedStsProbe::new(probe.clone()))));
    let limit = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mode = record::mode_word(opts.check.mode);
    let mut tasks = JoinSet::new();
    let mut results: Vec<Option<DomainResult>> = vec![None; domains.len()];
    for (i, domain) in domains.into_iter().enumerate() {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let (resolver, probe, done) = (resolver.clone(), probe.clone(), done.clone());
        let sts = sts.clone();
        let mut check = opts.check.clone();
        check.domain = domain;
        tasks.spawn(async move {
            let r = check_one(&resolver, &probe, sts.as_deref(), &check, mode).await;
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
        sts_probes: sts.map(|s| s.1.stats()).unwrap_or_default(),
        elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

async fn check_one(
    resolver: &Resolver,
    probe: &SharedProbe,
    sts: Option<&(StsOptions, SharedStsProbe)>,
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
    let mut quiet = |_: &danegate_delivery::Event| {};
    let dane = verify_destination_with(resolver, probe, &domain, &opts, &mut quiet);
    let (outcome, extra) = tokio::join!(dane, async {
        match sts {
            Some(s) => Some(sts_one(resolver, s, &domain).await),
            None => None,
        }
    });
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut r = record::from_events(&domain, mode, outcome.verdict, &outcome.events, ms);
    if let Some((sts, rpt)) = extra {
        r.mta_sts = Checked::Done(sts);
        r.tls_rpt = Checked::Done(rpt);
    }
    r
}

/// `danegate stsverify`'s check of `domain` (its MX sessions shared), and the TLS-RPT
/// record. The policy host `mta-sts.<domain>` is the domain's own, so its fetch is made
/// once per domain (the domains are distinct); the DNS answers are shared through the
/// resolver's cache.
async fn sts_one(
    resolver: &Resolver,
    (o, probe): &(StsOptions, SharedStsProbe),
    domain: &str,
) -> (StsView, TlsRptView) {
    let check = StsCheck {
        resolver,
        fetcher: &o.fetcher,
        options: &o.options,
        tls: &o.tls,
        probe,
    };
    let mut report = Report::default();
    let (_, rpt) = tokio::join!(
        check.run(domain, &mut report),
        tlsrpt_record(resolver, domain)
    );
    (StsView::of(report), rpt)
}
