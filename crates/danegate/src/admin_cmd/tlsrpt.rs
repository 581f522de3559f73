//! `danegate tlsrpt show|send-now`: a day's TLS-RPT (RFC 8460) reports, through the
//! running gateway's control socket (it looks up each domain's `_smtp._tls` record with
//! its own resolver and sends through its own queue).

use clap::{Args, Subcommand};
use danegate_admin::control::Request;
use danegate_gateway::tlsrpt::send::{Line, Pending};

use super::{Target, client::query, render::table};

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
        TlsrptCmd::Show { date, domain } => query(
            "tlsrpt show",
            &t,
            Request::TlsrptShow { date, domain },
            |v: &Vec<Pending>| Ok(show_text(v)),
        ),
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
