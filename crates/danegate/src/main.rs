//! `danegate`: the command line of the DANE outbound mail gateway.

mod applog;
mod config_cmd;
mod daneverify;
mod lookup;
mod serve;

use std::process::ExitCode;

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
    /// Run the gateway (listener, queue, delivery) on a configuration file, or on the
    /// embedded default without --config.
    Serve(serve::ServeArgs),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Validate a configuration file and make the running gateway apply it (SIGHUP).
    Commit(config_cmd::CommitArgs),
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
            let daneverify = std::env::args().nth(1).as_deref() == Some("daneverify");
            return ExitCode::from(if daneverify {
                daneverify::EXIT_USAGE
            } else {
                EXIT_USAGE
            });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("danegate: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_TEMPFAIL);
        }
    };
    let code = match cli.command {
        Command::Lookup(args) => runtime.block_on(lookup::run(args)),
        Command::Daneverify(args) => runtime.block_on(daneverify::run(args)),
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Config(cmd) => config_cmd::run(cmd),
        Command::Commit(args) => config_cmd::commit(args),
    };
    ExitCode::from(code)
}
