//! `danegate config check` and `danegate commit`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use danegate_admin::central;

use crate::EXIT_USAGE;

/// `danegate config ...`
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a configuration file: every error with its key path, value and allowed
    /// range, then every warning (e.g. SMTP routes that DANE cannot verify). With
    /// `[queue] backend = "postgres"`, also compare its shared sections (DNS,
    /// Destination Controls, SMTP routes, bounce profiles) with the cluster's central
    /// configuration and name what differs.
    Check(CheckArgs),
    /// List the versions of the cluster's central configuration, newest first
    /// (`[queue] backend = "postgres"` only).
    History(HistoryArgs),
}

/// Arguments of `config check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The file to check.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Arguments of `config history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// A configuration file of the cluster (its `[queue]` settings are used).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// How many versions.
    #[arg(long, default_value_t = 20)]
    limit: i64,
    /// Print the shared sections of each version too.
    #[arg(long)]
    full: bool,
}

/// Runs `danegate config check`: exit 0 when valid (warnings allowed, a difference from
/// the central configuration is a warning), 2 otherwise; `config history`: 0, or 75
/// when the database is unreachable.
pub async fn run(cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Check(a) => {
            let (mut report, ok) = danegate_config::check_report(&a.config);
            if !report.ends_with('\n') {
                report.push('\n');
            }
            if ok && let Ok(config) = danegate_config::Config::load(&a.config) {
                match central::central_db(&config) {
                    Ok(Some(db)) => {
                        for line in central::check(&db, &config).await {
                            report.push_str(&line);
                            report.push('\n');
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        report.push_str(&format!(
                            "warning: cannot compare with the central configuration: {e}\n"
                        ));
                    }
                }
            }
            print!("{report}");
            if ok { 0 } else { EXIT_USAGE }
        }
        ConfigCommand::History(a) => {
            let config = match danegate_config::Config::load(&a.config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("danegate config history: {e}");
                    return EXIT_USAGE;
                }
            };
            let db = match central::central_db(&config) {
                Ok(Some(db)) => db,
                Ok(None) => {
                    eprintln!(
                        "danegate config history: there is no central configuration without [queue] backend = \"postgres\""
                    );
                    return EXIT_USAGE;
                }
                Err(e) => {
                    eprintln!("danegate config history: {e}");
                    return EXIT_USAGE;
                }
            };
            match central::history(&db, a.limit.max(1)).await {
                Ok(list) if list.is_empty() => {
                    println!("no central configuration stored yet");
                    0
                }
                Ok(list) => {
                    for v in list {
                        let based = v
                            .based_on
                            .map_or("seeded".into(), |b| format!("based on {b}"));
                        println!("{} ({based}), sha256 {}", central::describe(&v), v.sha256);
                        if a.full {
                            for l in v.shared.lines() {
                                println!("    {l}");
                            }
                        }
                    }
                    0
                }
                Err(e) => {
                    eprintln!("danegate config history: the queue database is unreachable: {e}");
                    crate::EXIT_TEMPFAIL
                }
            }
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
