//! `danegate daneverify DOMAIN`: the appliance's DANE diagnostic, line for line.
//!
//! When a gateway runs for the data directory (`--config`, `--data-dir`, or the
//! default `./danegate-data`), the check runs inside it over its control socket, with
//! its resolvers, trust anchors, DNS cache and outbound interface, and its DNS debug
//! lines go to the gateway's log subscriptions; the output is streamed back unchanged.
//! Otherwise (or with `--standalone`, `--resolver`, `--trust-anchor` or `--trace`) it
//! runs in this process.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use danegate_admin::{
    control::{self, ClientError},
    daneverify::{Check, CheckMode, EXIT_TEMPFAIL},
};
use danegate_delivery::IpPreference;

use crate::{admin_cmd::Target, applog, lookup::build_resolver};

pub use danegate_admin::daneverify::EXIT_USAGE;

/// Which table decides.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// The appliance's DANE Mandatory table: only Secure/Secure/Secure/Success passes.
    Mandatory,
    /// The appliance's DANE Opportunistic table: fallback rows print `DANE FALLBACK`.
    Opportunistic,
}

/// Arguments of `danegate daneverify`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: 0 DANE SUCCESS, 1 DANE FAILED, 3 DANE FALLBACK \
(--mode opportunistic: mail would be delivered per the profile's TLS Support), \
75 temporary failure (DNS SERVFAIL/timeout, servers unreachable), 64 usage error.\n\n\
With a gateway running for the data directory (--config, --data-dir, default \
./danegate-data) the check runs inside it: its resolvers, trust anchors, DNS cache and \
outbound interface, its debug log subscriptions receive the DNS lines. Without one, \
or with --standalone, --resolver, --trust-anchor or --trace, it runs in this process."
)]
pub struct DaneverifyArgs {
    /// Upstream resolver, ADDR or ADDR:PORT; repeat for several, first = highest priority.
    /// Default: the nameservers of /etc/resolv.conf. Implies --standalone.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    resolvers: Vec<String>,
    /// Trust-anchor file (DS or DNSKEY lines) replacing the built-in root anchors.
    /// Implies --standalone.
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
    ip_preference: String,
    /// Print one JSON object (every step, statuses, records, TLS details, verdict).
    #[arg(long)]
    json: bool,
    /// Print the DNS debug trace on standard error. Implies --standalone.
    #[arg(long)]
    trace: bool,
    /// Seconds allowed for each DNS attempt and each SMTP/TLS step.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// Name to send in EHLO.
    #[arg(long, default_value = "danegate.invalid")]
    helo: String,
    /// The running gateway's data directory (its control socket is `DIR/control.sock`).
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// The running gateway's configuration file (its `server.data_dir` is used).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run in this process even when a gateway is running.
    #[arg(long)]
    standalone: bool,
    /// The destination domain.
    domain: String,
}

fn parse_pref(s: &str) -> Result<String, String> {
    s.parse::<IpPreference>().map(|_| s.to_string())
}

impl DaneverifyArgs {
    fn check(&self) -> Check {
        Check {
            domain: self.domain.clone(),
            port: self.port,
            mode: match self.mode {
                ModeArg::Mandatory => CheckMode::Mandatory,
                ModeArg::Opportunistic => CheckMode::Opportunistic,
            },
            ip_preference: self.ip_preference.clone(),
            timeout_secs: self.timeout,
            helo: self.helo.clone(),
            json: self.json,
        }
    }

    fn standalone(&self) -> bool {
        self.standalone || self.trace || !self.resolvers.is_empty() || self.trust_anchor.is_some()
    }
}

/// Runs `danegate daneverify`.
pub async fn run(args: DaneverifyArgs, top: &Target) -> u8 {
    applog::install_stderr(args.trace);
    let check = args.check();
    if let Err(e) = check.normalized_domain() {
        eprintln!("danegate daneverify: {e}");
        return EXIT_USAGE;
    }
    if !args.standalone() {
        let target = Target {
            data_dir: args.data_dir.clone(),
            config: args.config.clone(),
            json: false,
        }
        .or(top);
        let data_dir = match target.data_dir() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("danegate daneverify: {e}");
                return EXIT_USAGE;
            }
        };
        let path = control::socket_path(&data_dir);
        if path.exists() {
            // No gateway answering there: in this process.
            if let Some(code) = via_gateway(&path, &check) {
                return code;
            }
        }
    }
    let resolver = match build_resolver(&args.resolvers, args.trust_anchor.as_ref(), args.timeout) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("danegate daneverify: {e}");
            return EXIT_USAGE;
        }
    };
    let mut out = |line: String| println!("{line}");
    match danegate_admin::daneverify::run(&resolver, &check, None, &mut out).await {
        Ok(end) => end.exit,
        Err(e) => {
            eprintln!("danegate daneverify: {e}");
            EXIT_USAGE
        }
    }
}

/// The check inside the gateway on `path`; `None` when no gateway answers there.
///
/// A plain blocking exchange on the control socket: this process does nothing else
/// meanwhile (its runtime has one thread and no other task), so no thread is started
/// for it.
fn via_gateway(path: &std::path::Path, check: &Check) -> Option<u8> {
    // Each line must come within a few step timeouts (DNS retries, connect, TLS).
    let idle = Duration::from_secs(check.timeout_secs.saturating_mul(6).saturating_add(30));
    let asked = control::daneverify(path, check, idle, &mut |line: &str| {
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    });
    match asked {
        Ok(Ok(end)) => Some(end.exit),
        Ok(Err(refused)) => {
            eprintln!("danegate daneverify: the gateway refused the check: {refused}");
            Some(EXIT_USAGE)
        }
        Err(ClientError::NotRunning(_)) => None,
        Err(e) => {
            eprintln!("danegate daneverify: {e}");
            Some(EXIT_TEMPFAIL)
        }
    }
}
