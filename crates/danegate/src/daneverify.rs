//! `danegate daneverify DOMAIN`: the appliance's DANE diagnostic, line for line.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use danegate_delivery::{DaneMode, Event, IpPreference, Options, Verdict, verify_destination};
use danegate_smtp::Timeouts;
use serde_json::json;

use crate::{EXIT_TEMPFAIL, applog, lookup::build_resolver};

/// Exit status: DANE SUCCESS.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit status: DANE FAILED.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: DANE FALLBACK (opportunistic mode only): mail would go per TLS Support.
pub const EXIT_FALLBACK: u8 = 3;
/// Exit status: usage error (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;

/// Which table decides.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// The seed's DANE Mandatory table: only Secure/Secure/Secure/Success passes.
    Mandatory,
    /// The seed's DANE Opportunistic table: fallback rows print `DANE FALLBACK`.
    Opportunistic,
}

/// Arguments of `danegate daneverify`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: 0 DANE SUCCESS, 1 DANE FAILED, 3 DANE FALLBACK \
(--mode opportunistic: mail would be delivered per the profile's TLS Support), \
75 temporary failure (DNS SERVFAIL/timeout, servers unreachable), 64 usage error."
)]
pub struct DaneverifyArgs {
    /// Upstream resolver, ADDR or ADDR:PORT; repeat for several, first = highest priority.
    /// Default: the nameservers of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    resolvers: Vec<String>,
    /// Trust-anchor file (DS or DNSKEY lines) replacing the built-in root anchors.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,
    /// SMTP port to connect to; TLSA is looked up at `_<port>._tcp.<host>`.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Decision table.
    #[arg(long, value_enum, default_value_t = ModeArg::Mandatory)]
    mode: ModeArg,
    /// Address families: ipv6-preferred, ipv4-preferred, ipv4-only, ipv6-only.
    #[arg(long, default_value = "ipv6-preferred", value_parser = parse_pref)]
    ip_preference: IpPreference,
    /// Print one JSON object (every step, statuses, records, TLS details, verdict).
    #[arg(long)]
    json: bool,
    /// Print the DNS debug trace on standard error.
    #[arg(long)]
    trace: bool,
    /// Seconds allowed for each DNS attempt and each SMTP/TLS step.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// Name to send in EHLO.
    #[arg(long, default_value = "danegate.invalid")]
    helo: String,
    /// The destination domain.
    domain: String,
}

fn parse_pref(s: &str) -> Result<IpPreference, String> {
    s.parse()
}

/// Runs `danegate daneverify`.
pub async fn run(args: DaneverifyArgs) -> u8 {
    applog::install_stderr(args.trace);
    let domain = args.domain.trim().trim_end_matches('.').to_string();
    if domain.is_empty() || domain.parse::<danegate_dns::Name>().is_err() {
        eprintln!("danegate daneverify: bad domain {:?}", args.domain);
        return EXIT_USAGE;
    }
    let resolver = match build_resolver(&args.resolvers, args.trust_anchor.as_ref(), args.timeout) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("danegate daneverify: {e}");
            return EXIT_USAGE;
        }
    };
    let opts = Options {
        mode: match args.mode {
            ModeArg::Mandatory => DaneMode::Mandatory,
            ModeArg::Opportunistic => DaneMode::Opportunistic,
        },
        port: args.port,
        ip_preference: args.ip_preference,
        timeouts: Timeouts::uniform(Duration::from_secs(args.timeout)),
        helo_name: args.helo.clone(),
        ..Options::default()
    };
    let json = args.json;
    let mut print = |e: &Event| {
        if !json && e.is_summary() {
            println!("{e}");
        }
        tracing::debug!(target: "danegate::dane", "{e}");
    };
    let outcome = verify_destination(&resolver, &domain, &opts, &mut print).await;
    if let Some(s) = outcome.session {
        let _ = s.client.quit().await;
    }
    if json {
        let steps: Vec<serde_json::Value> = outcome
            .events
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("line".into(), json!(e.to_string()));
                }
                v
            })
            .collect();
        let obj = json!({
            "domain": domain,
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "verdict": outcome.verdict,
            "fallback_host": outcome.fallback_host,
            "steps": steps,
        });
        println!("{obj}");
    }
    match outcome.verdict {
        Verdict::DaneSuccess => EXIT_SUCCESS,
        Verdict::DaneFailed => EXIT_FAILED,
        Verdict::Fallback => EXIT_FALLBACK,
        Verdict::TempFail => EXIT_TEMPFAIL,
    }
}
