//! `danegate config check` and `danegate commit`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::EXIT_USAGE;

/// `danegate config ...`
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a configuration file: every error with its key path, value and allowed
    /// range, then every warning (e.g. SMTP routes that DANE cannot verify).
    Check(CheckArgs),
}

/// Arguments of `config check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The file to check.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Runs `danegate config check`: exit 0 when valid (warnings allowed), 2 otherwise.
pub fn run(cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Check(a) => {
            let (report, ok) = danegate_config::check_report(&a.config);
            print!("{report}");
            if !report.ends_with('\n') {
                println!();
            }
            if ok { 0 } else { EXIT_USAGE }
        }
    }
}

/// Arguments of `danegate commit`.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// The configuration file the running gateway was started with.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Validates the file, then asks the running gateway to apply it, like the appliance's
/// `commit`: through its control socket (`<data_dir>/control.sock`; the gateway
/// re-reads and validates its file and answers), else with SIGHUP to the process of
/// the pid file in its data directory. An invalid file is refused here and the running
/// configuration stays.
pub fn commit(args: CommitArgs) -> u8 {
    let config = match danegate_config::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("danegate commit: configuration refused, nothing changed:\n{e}");
            return EXIT_USAGE;
        }
    };
    if let Some(code) = crate::admin_cmd::commit_via_socket(&config.server.data_dir) {
        return code;
    }
    let pid_file = config.server.data_dir.join("danegate.pid");
    let pid = match std::fs::read_to_string(&pid_file) {
        Ok(p) => p.trim().to_string(),
        Err(e) => {
            eprintln!(
                "danegate commit: no running gateway ({}: {e})",
                pid_file.display()
            );
            return crate::EXIT_TEMPFAIL;
        }
    };
    if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
        eprintln!(
            "danegate commit: {} does not hold a process id",
            pid_file.display()
        );
        return crate::EXIT_TEMPFAIL;
    }
    match std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
    {
        Ok(s) if s.success() => {
            println!(
                "committed: danegate (pid {pid}) reloads {}",
                args.config.display()
            );
            0
        }
        _ => {
            eprintln!("danegate commit: could not signal process {pid}");
            crate::EXIT_TEMPFAIL
        }
    }
}
