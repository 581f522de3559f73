//! `danegate tlsrpt show|send-now`: a day's TLS-RPT (RFC 8460) reports, through the
//! running gateway's control socket (it looks up each domain's `_smtp._tls` record with
//! its own resolver and sends through its own queue). Without a running gateway,
//! `show` reads the recorder in the data directory itself (destinations unknown).

use std::{path::Path, time::Duration};

use clap::{Args, Subcommand};
use danegate_admin::control::{self, ClientError, Request};
use danegate_config::Config;
use danegate_gateway::tlsrpt::send::{Line, Pending};
use danegate_tlsrpt::{Day, Recorder, Reporter};

use super::{Target, client::query, render::table};
use crate::{EXIT_TEMPFAIL, EXIT_USAGE};

/// `danegate tlsrpt ...`
#[derive(Args, Debug)]
pub struct TlsrptArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(crate) cmd: TlsrptCmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum TlsrptCmd {
    /// What would be sent: each policy domain's report for the day (sessions and
    /// failures per policy) and its destinations with their state.
    Show {
        /// The UTC day, YYYY-MM-DD (default: today so far).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Only this policy domain.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
    },
    /// Send the day's reports now instead of at `[tls_rpt] send_time`; a destination
    /// already sent to is never sent to again.
    SendNow {
        /// The UTC day, YYYY-MM-DD (default: yesterday).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
}

/// `danegate tlsrpt ...`
pub fn tlsrpt(args: TlsrptArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    match args.cmd {
        TlsrptCmd::Show { date, domain } => {
            let dir = match t.data_dir() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("danegate tlsrpt show: {e}");
                    return EXIT_USAGE;
                }
            };
            let ping = control::request(
                &control::socket_path(&dir),
                &Request::Ping,
                Duration::from_secs(10),
            );
            if let Err(ClientError::NotRunning(_)) = ping {
                return offline_show(&t, &dir, date.as_deref(), domain.as_deref());
            }
            query(
                "tlsrpt show",
                &t,
                Request::TlsrptShow { date, domain },
                |v: &Vec<Pending>| Ok(show_text(v)),
            )
        }
        TlsrptCmd::SendNow { date } => query(
            "tlsrpt send-now",
            &t,
            Request::TlsrptSend { date },
            |v: &Vec<Line>| {
                if v.is_empty() {
                    return Ok("nothing recorded for that day\n".into());
                }
                let rows: Vec<Vec<String>> = v
                    .iter()
                    .map(|l| {
                        vec![
                            l.domain.clone(),
                            if l.rua.is_empty() {
                                "-".into()
                            } else {
                                l.rua.clone()
                            },
                            l.outcome.clone(),
                        ]
                    })
                    .collect();
                Ok(table(&["POLICY DOMAIN", "DESTINATION", "OUTCOME"], &rows))
            },
        ),
    }
}

fn show_text(v: &[Pending]) -> String {
    if v.is_empty() {
        return "nothing recorded for that day\n".into();
    }
    let mut out = String::new();
    for p in v {
        let r = &p.report;
        let (ok, failed) = r.totals();
        out.push_str(&format!(
            "{}  {} .. {}  report-id {}\n  sessions: {ok} successful, {failed} failed\n",
            p.domain, r.date_range.start_datetime, r.date_range.end_datetime, r.report_id
        ));
        for (rua, state) in &p.destinations {
            let to = if rua.is_empty() { "-" } else { rua.as_str() };
            out.push_str(&format!("  to {to}: {state}\n"));
        }
        for pol in &r.policies {
            let s = &pol.summary;
            out.push_str(&format!(
                "  policy {}{}: {} successful, {} failed\n",
                pol.policy.policy_type,
                if pol.policy.mx_host.is_empty() {
                    String::new()
                } else {
                    format!(" (mx-host {})", pol.policy.mx_host.join(", "))
                },
                s.total_successful_session_count,
                s.total_failure_session_count
            ));
            for line in &pol.policy.policy_string {
                out.push_str(&format!("    {line}\n"));
            }
            for f in &pol.failure_details {
                out.push_str(&format!(
                    "    {} x{}: {} [{}] from {}{}\n",
                    f.result_type,
                    f.failed_session_count,
                    f.receiving_mx_hostname.as_deref().unwrap_or("-"),
                    f.receiving_ip.as_deref().unwrap_or("-"),
                    f.sending_mta_ip.as_deref().unwrap_or("-"),
                    f.failure_reason_code
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    out
}

/// `show` without a running gateway: the recorder in `dir`, the reporter of the
/// configuration file (the embedded default without `--config`).
fn offline_show(t: &Target, dir: &Path, date: Option<&str>, only: Option<&str>) -> u8 {
    let name = "danegate tlsrpt show";
    let day = match date {
        None => Day::today(),
        Some(d) => match d.trim().parse::<Day>() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{name}: --date: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let config = match &t.config {
        Some(f) => match Config::load(f) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{name}: {e}");
                return EXIT_USAGE;
            }
        },
        None => Config::embedded_default(),
    };
    let who = Reporter {
        organization_name: config.tls_rpt.organization_name.clone(),
        contact_info: config.tls_rpt.contact_info.clone(),
        submitter: config
            .tls_rpt
            .submitter_or(&config.server.hostname)
            .to_string(),
    };
    eprintln!(
        "{name}: no running gateway; reading {} (destinations are looked up by the gateway)",
        dir.join(danegate_tlsrpt::store::FILE_NAME).display()
    );
    let mut out: Vec<Pending> = Vec::new();
    let rec = match Recorder::open_existing(dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: {e}");
            return EXIT_TEMPFAIL;
        }
    };
    if let Some(rec) = rec {
        let domains = match rec.domains(day) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{name}: {e}");
                return EXIT_TEMPFAIL;
            }
        };
        let only = only.map(|d| d.trim_end_matches('.').to_ascii_lowercase());
        for domain in domains {
            if only.as_ref().is_some_and(|o| *o != domain) {
                continue;
            }
            match rec.report(day, &domain, &who) {
                Ok(Some(report)) => out.push(Pending {
                    domain,
                    destinations: vec![(String::new(), "unknown: no running gateway".to_string())],
                    report,
                }),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("{name}: {e}");
                    return EXIT_TEMPFAIL;
                }
            }
        }
    }
    if t.json {
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("{name}: {e}");
                return EXIT_TEMPFAIL;
            }
        }
    } else {
        print!("{}", danegate_logs::escape_for_terminal(&show_text(&out)));
    }
    0
}
