//! `danegate`: the command line of the DANE outbound mail gateway.

mod admin_cmd;
mod applog;
mod audit;
mod config_cmd;
mod daneverify;
mod lookup;
mod metrics_cmd;
mod serve;
mod stsverify;
mod web_cmd;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Exit status: an answer was obtained (including NXDOMAIN / NODATA).
pub const EXIT_OK: u8 = 0;
/// Exit status: the answer is BOGUS.
pub const EXIT_BOGUS: u8 = 1;
/// Exit status: bad command line or input.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: temporary failure (timeout, SERVFAIL, no usable resolver) — EX_TEMPFAIL.
pub const EXIT_TEMPFAIL: u8 = 75;

#[derive(Parser)]
#[command(
    name = "danegate",
    version,
    about = "DANE-enforcing outbound mail gateway"
)]
struct Cli {
    /// Admin commands: the running gateway's data directory, the directory of its
    /// control socket (default ./danegate-data).
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// Admin commands: the running gateway's configuration file (its data directory).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Admin commands: JSON instead of tables.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Look a name up with DNSSEC validation and print its security status.
    Lookup(lookup::LookupArgs),
    /// Check whether mail to DOMAIN can be delivered with DANE (the appliance's
    /// `daneverify`, line for line).
    Daneverify(daneverify::DaneverifyArgs),
    /// Check many recipient domains at once with daneverify's verdicts (shared DNS and
    /// TLS work, progress bar, summary, JSON lines or an HTML report).
    Audit(Box<audit::AuditArgs>),
    /// Check a domain's MTA-STS policy (RFC 8461): TXT record, policy, and each MX
    /// host's pattern match, STARTTLS, TLS version and PKIX result.
    Stsverify(stsverify::StsverifyArgs),
    /// Run the gateway (listener, queue, delivery) on a configuration file, or on the
    /// embedded default without --config.
    Serve(serve::ServeArgs),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Validate a configuration file and make the running gateway apply it (through
    /// its control socket, else SIGHUP).
    Commit(config_cmd::CommitArgs),
    /// Set the web UI's administrator password (read from standard input; stored as an
    /// argon2 hash in <data_dir>/web.passwd). There is no default password.
    WebPasswd(web_cmd::WebPasswdArgs),
    /// JSON API tokens: `web-token create` prints a new one.
    #[command(subcommand)]
    WebToken(web_cmd::WebTokenCommand),
    /// Destination controls: list, show, add, edit, delete profiles (validated,
    /// written to the configuration file and applied at once).
    Destconfig(Box<admin_cmd::DestconfigArgs>),
    /// SMTP routes: list, set, delete.
    Smtproutes(admin_cmd::SmtproutesArgs),
    /// DNS settings: upstream resolvers, DNSSEC probe status, trust anchors.
    Dnsconfig(admin_cmd::DnsconfigArgs),
    /// Status of a destination domain: profile, route, counts, last outcome, queue.
    Hoststatus(admin_cmd::HoststatusArgs),
    /// Destination domains with the most active recipients.
    Tophosts(admin_cmd::TophostsArgs),
    /// Queued messages: list, show, delivernow, bounce, delete.
    Queue(admin_cmd::QueueArgs),
    /// Print the end of a log (mail_logs), and follow it with -f.
    Tail(admin_cmd::TailArgs),
    /// Readiness report: per destination domain, what DANE Mandatory and Opportunistic
    /// would have decided for its deliveries, and a recommendation.
    Readiness(admin_cmd::ReadinessArgs),
    /// SMTP TLS Reporting (RFC 8460): `show` a day's reports, `send-now`.
    Tlsrpt(admin_cmd::TlsrptArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS; // --help, --version
            }
            // daneverify documents EX_USAGE (64); lookup keeps clap's 2.
            let daneverify = matches!(
                std::env::args().nth(1).as_deref(),
                Some("daneverify" | "audit" | "stsverify")
            );
            return ExitCode::from(if daneverify {
                daneverify::EXIT_USAGE
            } else {
                EXIT_USAGE
            });
        }
    };
    // `serve` runs many connections at once: worker threads. A one-shot command
    // (`lookup`, `daneverify`) runs one check, whose DNS queries and connection
    // attempts are concurrent futures, not parallel work: one thread does it, and
    // starting no worker threads (nor handing every wake-up from the I/O driver to
    // another thread) makes the short-lived process start and finish sooner.
    let mut builder = match cli.command {
        Command::Serve(_) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
        // An audit checks many domains at once: validation and handshakes in parallel.
        Command::Audit(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("danegate: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_TEMPFAIL);
        }
    };
    let top = admin_cmd::Target {
        data_dir: cli.data_dir.clone(),
        config: cli.config.clone(),
        json: cli.json,
    };
    let code = match cli.command {
        Command::Lookup(args) => runtime.block_on(lookup::run(args)),
        Command::Daneverify(args) => runtime.block_on(daneverify::run(args, &top)),
        Command::Stsverify(args) => runtime.block_on(stsverify::run(args)),
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Audit(args) => runtime.block_on(audit::run(*args, &top)),
        Command::Config(cmd) => runtime.block_on(config_cmd::run(cmd)),
        Command::Commit(args) => config_cmd::commit(args),
        Command::WebPasswd(args) => web_cmd::passwd(args),
        Command::WebToken(cmd) => web_cmd::token(cmd),
        Command::Destconfig(args) => admin_cmd::destconfig(*args, &top),
        Command::Smtproutes(args) => admin_cmd::smtproutes(args, &top),
        Command::Dnsconfig(args) => admin_cmd::dnsconfig(args, &top),
        Command::Hoststatus(args) => admin_cmd::hoststatus(args, &top),
        Command::Tophosts(args) => admin_cmd::tophosts(args, &top),
        Command::Queue(args) => admin_cmd::queue(args, &top),
        Command::Tail(args) => admin_cmd::tail(args, &top),
        Command::Readiness(args) => admin_cmd::readiness(args, &top),
        Command::Tlsrpt(args) => admin_cmd::tlsrpt(args, &top),
    };
    ExitCode::from(code)
}
