//! `danegate serve`: the gateway, on a configuration file or the embedded default.

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use danegate_admin::{
    Admin, CommitHook, central,
    control::{self, ControlServer},
};
use danegate_config::Config;
use danegate_gateway::{GatewayOptions, Running, start};

use crate::{EXIT_TEMPFAIL, EXIT_USAGE, applog};

/// Arguments of `danegate serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (TOML, see docs/configuration.md). Without it, the
    /// embedded default: a listener on 127.0.0.1:2525 relaying for 127.0.0.1 and ::1,
    /// queue in ./danegate-data, system resolvers, built-in trust anchors, DANE
    /// Opportunistic with TLS Preferred.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print debug lines (every DNS query and DANE step) on standard error.
    #[arg(long)]
    debug: bool,
    /// Port of destination SMTP servers (for test worlds; real mail uses 25).
    #[arg(long, default_value_t = 25, hide = true)]
    smtp_port: u16,
    /// Extra trusted root certificates (PEM) for every PKIX check (the *-verify TLS
    /// modes, MTA-STS policy hosts and MX hosts); added to `[server] ca_file`.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// HTTPS port of MTA-STS policy hosts (for test worlds; real policy hosts use 443).
    #[arg(long, default_value_t = 443, hide = true)]
    mta_sts_port: u16,
    /// Serve the web UI and JSON API on ADDR, e.g. 127.0.0.1:8080 (off without it).
    /// Set its password with `danegate web-passwd`.
    #[arg(long, value_name = "ADDR")]
    web: Option<std::net::SocketAddr>,
    /// Do not evaluate what DANE Mandatory and Opportunistic would have decided for
    /// each delivery (the readiness report then stays empty; docs/readiness.md).
    #[arg(long)]
    no_shadow: bool,
    /// Serve /metrics (Prometheus), /healthz and /readyz on ADDR, e.g. 127.0.0.1:9325,
    /// without the web UI (off without it; the web UI serves them too).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

fn load(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::embedded_default()),
    }
}

/// Runs the gateway until SIGTERM/SIGINT; SIGHUP reloads the configuration file.
pub async fn run(args: ServeArgs) -> u8 {
    let stderr_level = if args.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let mut config = match load(args.config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            applog::install_stderr_level(stderr_level);
            eprintln!("danegate serve: {e}");
            return EXIT_USAGE;
        }
    };
    // The log subscriptions ([[log]], default mail_logs in <data_dir>/logs) beside
    // standard error; SIGHUP re-applies them (level, file, rotation changes).
    let logs = match applog::install_with_subscriptions(
        stderr_level,
        &danegate_logs::subscriptions_from_config(&config),
    ) {
        Ok(h) => h,
        Err(e) => {
            applog::install_stderr_level(stderr_level);
            eprintln!("danegate serve: {e}");
            return EXIT_USAGE;
        }
    };
    // A cluster's shared sections come from the central configuration (it wins over
    // the file; an empty store is seeded from it).
    let mut central_cfg = None;
    if let Some(path) = &args.config {
        match central::central_db(&config) {
            Ok(Some(db)) => {
                let node = config.server.node_name();
                let s = central::startup(&db, path, config).await;
                config = s.config;
                central_cfg = Some(central::Central::new(db, &node, s.applied));
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("danegate serve: {e}");
                return EXIT_USAGE;
            }
        }
    }
    for lint in config.lints() {
        tracing::warn!(target: "danegate::mail", "config: {lint}");
    }
    let extra_roots = match &args.ca_file {
        None => Vec::new(),
        Some(p) => match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|pem| danegate_delivery::TlsContext::anchors_from_pem(&pem))
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("danegate serve: --ca-file {}: {e}", p.display());
                return EXIT_USAGE;
            }
        },
    };
    crate::metrics_cmd::install(&config);
    let opts = GatewayOptions {
        config_path: args.config.clone(),
        smtp_port: args.smtp_port,
        extra_roots,
        tick: Duration::from_secs(1),
        shadow: !args.no_shadow,
        sts_https_port: args.mta_sts_port,
    };
    let running = match start(config, opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("danegate serve: {e}");
            return EXIT_TEMPFAIL;
        }
    };
    for (name, addr) in running.listeners() {
        eprintln!("danegate: listener {name} on {addr}");
    }
    let (mut hup, mut term, mut int) = match (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            eprintln!("danegate serve: cannot install signal handlers");
            return EXIT_TEMPFAIL;
        }
    };
    // Only now that SIGHUP is handled may `danegate commit` find us (its default action
    // would end the process).
    let pid_file = running.config().server.data_dir.join("danegate.pid");
    let _ = std::fs::write(&pid_file, format!("{}\n", std::process::id()));
    // The admin CLI's control socket (<data_dir>/control.sock, mode 0600).
    let running = std::sync::Arc::new(running);
    let mut admin = Admin::new(running.clone()).with_commit_hook(logs_hook(logs.clone()));
    if let Some(c) = &central_cfg {
        admin = admin.with_central(c.clone());
    }
    let follower = central_cfg
        .as_ref()
        .map(|c| central::spawn_follower(admin.clone(), c.clone()));
    let control = start_control(admin.clone()).await;
    let web = crate::web_cmd::start(admin.clone(), args.web).await;
    let metrics = crate::metrics_cmd::start(&running, args.metrics).await;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                if args.config.is_none() {
                    // The embedded default: nothing to reload.
                    continue;
                }
                // As `danegate commit`: validated, stored centrally in a cluster, applied.
                let a = admin.clone();
                match tokio::task::spawn_blocking(move || a.commit()).await {
                    Ok(Ok(msg)) => tracing::info!(target: "danegate::mail", "SIGHUP: {msg}"),
                    Ok(Err(e)) => tracing::error!(target: "danegate::mail", "SIGHUP: new configuration refused, the old one stays:\n{e}"),
                    Err(e) => tracing::error!(target: "danegate::mail", "SIGHUP: {e}"),
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let _ = std::fs::remove_file(&pid_file);
    if let Some(f) = follower {
        f.abort();
    }
    drop(admin);
    drop(web);
    drop(metrics);
    stop_control(control, running).await;
    0
}

/// Starts the control socket of `danegate serve` (`<data_dir>/control.sock`, 0600) for
/// `admin`. Failure is logged, not fatal.
async fn start_control(admin: Admin) -> Option<ControlServer> {
    let path = control::socket_path(&admin.config().server.data_dir);
    match control::serve(admin, &path).await {
        Ok(s) => {
            tracing::info!(target: "danegate::mail", "Control socket {} ready", path.display());
            Some(s)
        }
        Err(e) => {
            tracing::error!(target: "danegate::mail", "Control socket {}: {e}; the admin CLI will not reach this gateway", path.display());
            None
        }
    }
}

/// Stops the control socket, then the gateway.
async fn stop_control(control: Option<ControlServer>, running: Arc<Running>) {
    if let Some(c) = control {
        c.shutdown().await;
    }
    let mut running = running;
    for _ in 0..50 {
        match Arc::try_unwrap(running) {
            Ok(r) => {
                r.shutdown().await;
                return;
            }
            Err(r) => {
                running = r;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    tracing::warn!(target: "danegate::mail", "gateway still referenced at exit: not waiting for its tasks");
}

/// The commit hook of `danegate serve`: what SIGHUP does besides applying the
/// configuration — re-apply the log subscriptions.
fn logs_hook(logs: danegate_logs::LogsHandle) -> CommitHook {
    Arc::new(move |c: &Config| {
        logs.apply(&danegate_logs::subscriptions_from_config(c))
            .map_err(|e| format!("the log subscriptions stay as they were: {e}"))
    })
}
