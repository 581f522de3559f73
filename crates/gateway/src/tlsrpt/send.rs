//! Sending the reports (RFC 8460 §5): for each policy domain with sessions recorded on a
//! day, the `_smtp._tls.<domain>` TXT record gives the destinations; the report is
//! gzip-compressed and goes to every `rua` — `mailto:` as a §5.3 message queued through
//! danegate's own queue, `https:` as a POST of `application/tlsrpt+gzip` (§5.4). Each
//! day/domain/destination is claimed durably before it is sent, so nothing is sent
//! twice, even across a restart; a failed POST is retried by the daily task.

use std::{
    net::IpAddr,
    str::FromStr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use danegate_config::Config;
use danegate_dns::{AnswerKind, Security};
use danegate_queue::{NewMessage, NewRecipient};
use danegate_tlsrpt::{
    Day, Recorder, Report, Reporter, Rua, SendState, TlsRptRecord,
    mail::{MEDIA_TYPE_GZIP, MailParams, report_message},
};
use hickory_proto::rr::{Name, RecordType};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::REPORT_POLICY;
use crate::Shared;

/// What happened to one report destination (or why a domain has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The policy domain.
    pub domain: String,
    /// The destination (`mailto:...`, `https://...`), empty when the domain has none.
    pub rua: String,
    /// `queued as MID n`, `posted`, `already sent`, `failed: ...`, `no TLS-RPT record: ...`.
    pub outcome: String,
}

/// One domain's report for `tlsrpt show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The policy domain.
    pub domain: String,
    /// Its `rua` destinations with their state (`not sent`, `sent`, `failed (n): ...`),
    /// or why it has none.
    pub destinations: Vec<(String, String)>,
    /// The report.
    pub report: Report,
}

fn reporter(config: &Config) -> Reporter {
    let t = &config.tls_rpt;
    Reporter {
        organization_name: t.organization_name.clone(),
        contact_info: t.contact_info.clone(),
        submitter: t.submitter_or(&config.server.hostname).to_string(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, danegate_tlsrpt::StoreError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error: {e}"))?
        .map_err(|e| e.to_string())
}

/// The `rua` destinations of `domain`, or why there are none. `Err(temporary)`.
async fn destinations(shared: &Shared, domain: &str) -> Result<Result<Vec<Rua>, String>, String> {
    let name = Name::from_str(&format!("_smtp._tls.{domain}."))
        .map_err(|e| format!("bad name _smtp._tls.{domain}: {e}"))?;
    let answer = match shared.resolver().lookup(&name, RecordType::TXT).await {
        Ok(a) => a,
        Err(e) => return Err(format!("TXT _smtp._tls.{domain}: {e}")),
    };
    if let Security::Bogus(why) = &answer.security {
        return Ok(Err(format!("TXT _smtp._tls.{domain} is BOGUS ({why})")));
    }
    if answer.kind != AnswerKind::Data {
        return Ok(Err(format!("no TXT record at _smtp._tls.{domain}")));
    }
    let txts: Vec<String> = answer.txt_strings();
    Ok(TlsRptRecord::select(&txts)
        .map(|r| r.rua)
        .map_err(|e| format!("_smtp._tls.{domain}: {e}")))
}

/// Sends the reports of `day`.
pub(crate) async fn send_day(shared: &Shared, day: Day) -> Result<Vec<Line>, String> {
    let config = shared.config();
    if !config.tls_rpt.enabled {
        return Err("TLS-RPT is off ([tls_rpt] enabled = false)".into());
    }
    let rec = shared.tlsrpt.get(&config.server.data_dir)?;
    let r = rec.clone();
    let domains = blocking(move || r.domains(day)).await?;
    let mut lines = Vec::new();
    for domain in domains {
        let ruas = match destinations(shared, &domain).await {
            Ok(Ok(r)) => r,
            Ok(Err(why)) => {
                lines.push(Line {
                    domain,
                    rua: String::new(),
                    outcome: format!("no TLS-RPT record: {why}"),
                });
                continue;
            }
            Err(why) => {
                tracing::info!(target: "danegate::mail", "TLS-RPT report for {domain} ({day}) not sent: {why}; retried at the next run");
                lines.push(Line {
                    domain,
                    rua: String::new(),
                    outcome: format!("temporary DNS failure: {why}"),
                });
                continue;
            }
        };
        for rua in ruas {
            let outcome = send_one(shared, &config, &rec, day, &domain, &rua).await;
            lines.push(Line {
                domain: domain.clone(),
                rua: rua.to_string(),
                outcome,
            });
        }
    }
    Ok(lines)
}

/// Builds and sends one report to one destination, at most once.
async fn send_one(
    shared: &Shared,
    config: &Config,
    rec: &Arc<Recorder>,
    day: Day,
    domain: &str,
    rua: &Rua,
) -> String {
    let target = rua.to_string();
    let (r, d, t) = (rec.clone(), domain.to_string(), target.clone());
    match blocking(move || r.claim(day, &d, &t)).await {
        Ok(true) => {}
        Ok(false) => return "already sent".into(),
        Err(e) => return format!("failed: {e}"),
    }
    let result = deliver(shared, config, rec, day, domain, rua).await;
    let (r, d, t) = (rec.clone(), domain.to_string(), target.clone());
    match result {
        Ok(outcome) => {
            if let Err(e) = blocking(move || r.mark_sent(day, &d, &t)).await {
                tracing::error!(target: "danegate::mail", "TLS-RPT report for {domain} ({day}) to {target}: {e}");
            }
            tracing::info!(target: "danegate::mail", "TLS-RPT report for {domain} ({day}) to {target}: {outcome}");
            outcome
        }
        Err(why) => {
            let w = why.clone();
            if let Err(e) = blocking(move || r.mark_failed(day, &d, &t, &w)).await {
                tracing::error!(target: "danegate::mail", "TLS-RPT report for {domain} ({day}) to {target}: {e}");
            }
            tracing::info!(target: "danegate::mail", "TLS-RPT report for {domain} ({day}) to {target} failed: {why}; retried later");
            format!("failed: {why}")
        }
    }
}

async fn deliver(
    shared: &Shared,
    config: &Config,
    rec: &Arc<Recorder>,
    day: Day,
    domain: &str,
    rua: &Rua,
) -> Result<String, String> {
    let who = reporter(config);
    let (r, d, w) = (rec.clone(), domain.to_string(), who.clone());
    let report = blocking(move || r.report(day, &d, &w))
        .await?
        .ok_or_else(|| format!("nothing recorded for {domain} on {day}"))?;
    let gz = report.to_gzip().map_err(|e| format!("gzip: {e}"))?;
    match rua {
        Rua::Mailto(to) => {
            let data = report_message(
                &report,
                &gz,
                &MailParams {
                    policy_domain: domain,
                    day,
                    submitter: &who.submitter,
                    from: &config.tls_rpt.sender,
                    to,
                    now: SystemTime::now(),
                },
            )
            .map_err(|e| format!("cannot build the message: {e}"))?;
            let rcpt_domain = to
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            let mid = shared
                .store
                .enqueue(NewMessage {
                    sender: config.tls_rpt.sender.clone(),
                    recipients: vec![NewRecipient {
                        address: to.clone(),
                        domain: rcpt_domain,
                        dsn_notify: None,
                        dsn_orcpt: None,
                    }],
                    data,
                    received_from: "local".into(),
                    icid: 0,
                    policy: REPORT_POLICY.into(),
                    dsn_ret: None,
                    dsn_envid: None,
                })
                .await
                .map_err(|e| format!("cannot queue the report: {e}"))?;
            shared.wake.notify_one();
            Ok(format!("queued as MID {mid}"))
        }
        Rua::Https(url) => post(shared, url, gz).await,
    }
}

/// RFC 8460 §5.4: `POST` with `Content-Type: application/tlsrpt+gzip`; a 2xx answer is
/// success. The host is resolved with the gateway's resolver; PKIX against the webpki
/// roots plus the operator's extra CA certificates.
async fn post(shared: &Shared, url: &str, body: Vec<u8>) -> Result<String, String> {
    let u = danegate_https::HttpsUrl::parse(url).map_err(|e| e.to_string())?;
    let addrs: Vec<IpAddr> = match u.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let name = Name::from_str(&format!("{}.", u.host)).map_err(|e| e.to_string())?;
            let resolver = shared.resolver();
            let mut out = Vec::new();
            for (_, ans) in danegate_delivery::mx_walk::addresses(
                &resolver,
                &name,
                danegate_delivery::IpPreference::default(),
            )
            .await
            {
                if let Ok(a) = ans
                    && !matches!(a.security, Security::Bogus(_))
                {
                    out.extend(danegate_delivery::mx_walk::ips(&a));
                }
            }
            if out.is_empty() {
                return Err(format!("no address for {}", u.host));
            }
            out
        }
    };
    let client = danegate_https::HttpsClient::new(danegate_https::ClientOptions {
        extra_roots: shared.opts.extra_roots.clone(),
        ..danegate_https::ClientOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let resp = client
        .post(&u, &addrs, MEDIA_TYPE_GZIP, body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("posted (HTTP {})", resp.status))
}

/// What `tlsrpt show` prints for `day`.
pub(crate) async fn show_day(
    shared: &Shared,
    day: Day,
    only: Option<&str>,
) -> Result<Vec<Pending>, String> {
    let config = shared.config();
    let rec = shared.tlsrpt.get(&config.server.data_dir)?;
    let r = rec.clone();
    let mut domains = blocking(move || r.domains(day)).await?;
    if let Some(d) = only {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        domains.retain(|x| *x == d);
    }
    let who = reporter(&config);
    let mut out = Vec::new();
    for domain in domains {
        let (r, d, w) = (rec.clone(), domain.clone(), who.clone());
        let Some(report) = blocking(move || r.report(day, &d, &w)).await? else {
            continue;
        };
        let destinations = match destinations(shared, &domain).await {
            Ok(Ok(ruas)) => {
                let mut v = Vec::new();
                for rua in ruas {
                    let (r, d, t) = (rec.clone(), domain.clone(), rua.to_string());
                    let state = match blocking(move || r.send_state(day, &d, &t)).await? {
                        None => "not sent".to_string(),
                        Some(SendState::Sent) => "sent".into(),
                        Some(SendState::Claimed) => "sending (or interrupted: not resent)".into(),
                        Some(SendState::Failed { attempts, error }) => {
                            format!("failed ({attempts} attempts): {error}")
                        }
                    };
                    v.push((rua.to_string(), state));
                }
                v
            }
            Ok(Err(why)) => vec![(String::new(), format!("not sent: {why}"))],
            Err(why) => vec![(String::new(), format!("unknown: {why}"))],
        };
        out.push(Pending {
            domain,
            destinations,
            report,
        });
    }
    Ok(out)
}

/// How long until the next daily run at `hh:mm` UTC after `now` (at most a day).
fn until_next(now: SystemTime, (h, m): (u8, u8)) -> Duration {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let of_day = secs % 86_400;
    let at = u64::from(h) * 3600 + u64::from(m) * 60;
    let wait = if at > of_day {
        at - of_day
    } else {
        86_400 - of_day + at
    };
    Duration::from_secs(wait)
}

/// How often failed sends are retried.
const RETRY_EVERY: Duration = Duration::from_secs(15 * 60);
/// Days looked back at each daily run (reports missed while the gateway was down).
const CATCH_UP_DAYS: usize = 7;

/// The daily task: once a day at `[tls_rpt] send_time` (UTC) — or at start when that
/// time of today has passed — the reports of the previous days (up to a week back: what
/// a stopped gateway missed) are sent; every 15 minutes, reports whose sending failed
/// are tried again (the same at-most-once claims apply).
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut last_daily: Option<Day> = None;
    loop {
        let config = shared.config();
        if config.tls_rpt.enabled {
            let now = SystemTime::now();
            let today = Day::of(now);
            let secs_of_day = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() % 86_400)
                .unwrap_or(0);
            let (h, m) = config.tls_rpt.send_time;
            let due =
                secs_of_day >= u64::from(h) * 3600 + u64::from(m) * 60 && last_daily != Some(today);
            if due {
                last_daily = Some(today);
            }
            let mut day = today.previous();
            for _ in 0..CATCH_UP_DAYS {
                if (due || has_failed(&shared, &config, day).await)
                    && let Err(e) = send_day(&shared, day).await
                {
                    tracing::error!(target: "danegate::mail", "TLS-RPT reports of {day}: {e}");
                }
                day = day.previous();
            }
        }
        let config = shared.config();
        let wait = until_next(SystemTime::now(), config.tls_rpt.send_time).min(RETRY_EVERY);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn has_failed(shared: &Shared, config: &Config, day: Day) -> bool {
    let Ok(rec) = shared.tlsrpt.get(&config.server.data_dir) else {
        return false;
    };
    blocking(move || rec.has_failed(day)).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        // 00:30 → 01:00 is 30 minutes away.
        assert_eq!(until_next(t(1800), (1, 0)), Duration::from_secs(1800));
        // 01:00 exactly → a day later.
        assert_eq!(until_next(t(3600), (1, 0)), Duration::from_secs(86_400));
        // 23:00 → 01:00 the next day.
        assert_eq!(until_next(t(82_800), (1, 0)), Duration::from_secs(7200));
    }
}
