//! `danegate web-passwd` (the web UI's administrator password) and `danegate web-token
//! create` (JSON API bearer tokens). Both write into the gateway's data directory; the
//! running web UI reads the files on each login / request, so no restart is needed.

use std::{
    io::{BufRead, IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    process::{Command, Stdio},
    sync::Arc,
};

use clap::{Args, Subcommand};
use danegate_admin::Admin;
use danegate_config::Config;
use danegate_web::WebSettings;

use crate::EXIT_USAGE;

/// Which gateway: its data directory, directly or from its configuration file.
#[derive(Args, Debug)]
pub struct WebTarget {
    /// The gateway's configuration file (its `server.data_dir` is used).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The gateway's data directory (default: the embedded default's ./danegate-data).
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
}

impl WebTarget {
    fn data_dir(&self) -> Result<PathBuf, String> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        match &self.config {
            Some(f) => Config::load(f)
                .map(|c| c.server.data_dir.clone())
                .map_err(|e| e.to_string()),
            None => Ok(Config::embedded_default().server.data_dir),
        }
    }
}

/// Arguments of `danegate web-passwd`.
#[derive(Args, Debug)]
pub struct WebPasswdArgs {
    #[command(flatten)]
    target: WebTarget,
}

/// `danegate web-token ...`.
#[derive(Subcommand, Debug)]
pub enum WebTokenCommand {
    /// Create an API token: printed once on standard output; only its SHA-256 digest is
    /// stored (<data_dir>/web.tokens). Revoke a token by deleting its line there.
    Create {
        /// A note stored beside the digest (who or what uses the token).
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        target: WebTarget,
    },
}

/// Turns terminal echo off (`stty -echo`) while it lives.
struct NoEcho(bool);

impl NoEcho {
    fn new() -> NoEcho {
        let ok = Command::new("stty")
            .arg("-echo")
            .stdin(Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success());
        NoEcho(ok)
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if self.0 {
            let _ = Command::new("stty")
                .arg("echo")
                .stdin(Stdio::inherit())
                .status();
        }
    }
}

fn read_line(prompt: Option<&str>) -> Result<String, String> {
    if let Some(p) = prompt {
        eprint!("{p}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if prompt.is_some() {
        eprintln!();
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads the new password: twice without echo on a terminal, else the first line of
/// standard input.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let _guard = NoEcho::new();
        let a = read_line(Some("New web UI password: "))?;
        let b = read_line(Some("Again: "))?;
        if a != b {
            return Err("the two passwords differ; nothing changed".into());
        }
        Ok(a)
    } else {
        read_line(None)
    }
}

/// `danegate web-passwd`: sets the web UI password (argon2id hash, mode 0600).
pub fn passwd(args: WebPasswdArgs) -> u8 {
    let dir = match args.target.data_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("danegate web-passwd: {e}");
            return EXIT_USAGE;
        }
    };
    let password = match read_password() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("danegate web-passwd: {e}");
            return EXIT_USAGE;
        }
    };
    let file = danegate_web::password_file(&dir);
    match danegate_web::auth::set_password(&file, &password) {
        Ok(()) => {
            println!(
                "web UI password set: {} (argon2id, mode 0600); log in as admin",
                file.display()
            );
            0
        }
        Err(e) => {
            eprintln!("danegate web-passwd: {}: {e}", file.display());
            if e.kind() == std::io::ErrorKind::InvalidInput {
                EXIT_USAGE
            } else {
                1
            }
        }
    }
}

/// `danegate web-token ...`.
pub fn token(cmd: WebTokenCommand) -> u8 {
    match cmd {
        WebTokenCommand::Create { label, target } => {
            let dir = match target.data_dir() {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("danegate web-token: {e}");
                    return EXIT_USAGE;
                }
            };
            let file = danegate_web::tokens_file(&dir);
            match danegate_web::auth::create_token(&file, &label) {
                Ok(t) => {
                    println!("{t}");
                    eprintln!(
                        "API token created; its digest is in {} (shown only now: keep it)",
                        file.display()
                    );
                    0
                }
                Err(e) => {
                    eprintln!("danegate web-token: {}: {e}", file.display());
                    1
                }
            }
        }
    }
}

/// The web UI of `danegate serve --web ADDR`; dropping it stops the web server (which
/// then lets go of the gateway).
pub struct WebHandle {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the web UI and JSON API on `listen` (nothing without `--web`), on the
/// operations of `admin` (its commit hook, its central configuration). A failure is
/// reported and the gateway runs on without the web UI.
pub async fn start(admin: Admin, listen: Option<SocketAddr>) -> Option<WebHandle> {
    let listen = listen?;
    let mut settings = WebSettings::for_data_dir(&admin.config().server.data_dir);
    settings.listen = listen;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let admin = Arc::new(admin);
    match danegate_web::serve(admin, settings.clone(), async move {
        let _ = rx.await;
    })
    .await
    {
        Ok(addr) => {
            eprintln!("danegate: web UI on http://{addr}/");
            Some(WebHandle { _stop: stop })
        }
        Err(e) => {
            eprintln!("danegate serve: --web {listen}: {e}; running without the web UI");
            tracing::error!(target: "danegate::mail", "web UI on {listen}: {e}");
            None
        }
    }
}
