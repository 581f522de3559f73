//! `danegate-smtp-sink`: the test kit's [`SmtpSink`] as a stand-alone process, for the
//! DANE integration stage (`tests/integration/dane.sh`) and the bench.
//!
//! ```text
//! danegate-smtp-sink --listen 127.0.5.1:25 --cert-chain chain.pem --key key.pem
//! ```
//!
//! Serves SMTP with STARTTLS (unless `--no-starttls`) presenting the certificates of
//! `--cert-chain` (leaf first, in file order) until killed. Prints `listening on
//! ADDR:PORT` on stdout once the socket is bound. Exit codes: 0 never (it runs until
//! killed), 2 for bad arguments or unreadable/unusable certificates, 1 if the address
//! cannot be bound.
//!
//! Bench flags (bench/gateway.sh): `--count-only` serves a minimal SMTP server that
//! keeps no message, only a count (same EHLO keywords and STARTTLS; TCP_NODELAY set);
//! `--count-file PATH` rewrites PATH every 100 ms (when it changed) with one line
//! `MESSAGES LAST_MESSAGE_UNIX_MS CONNECTIONS TLS_MESSAGES`; `--quiet` prints nothing but errors.

mod count;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgGroup, Parser};
use danegate_testkit::certs::{TlsVersions, ring_provider};
use danegate_testkit::smtp::{SinkOptions, SmtpSink, StartTlsMode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// An SMTP server with STARTTLS for DANE tests (dev-only).
#[derive(Parser, Debug)]
#[command(name = "danegate-smtp-sink", version)]
#[command(group(ArgGroup::new("versions").args(["tls12_only", "tls13_only"])))]
struct Args {
    /// Address and port to listen on, e.g. 127.0.5.1:25.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// PEM file with the certificates to present, leaf first.
    #[arg(long, value_name = "PEM", required_unless_present = "no_starttls")]
    cert_chain: Option<PathBuf>,
    /// PEM file with the leaf's private key (PKCS#8, SEC1 or PKCS#1).
    #[arg(long, value_name = "PEM", required_unless_present = "no_starttls")]
    key: Option<PathBuf>,
    /// Do not offer STARTTLS (the command gets 502).
    #[arg(long)]
    no_starttls: bool,
    /// Accept TLS 1.2 only.
    #[arg(long)]
    tls12_only: bool,
    /// Accept TLS 1.3 only.
    #[arg(long)]
    tls13_only: bool,
    /// Name in the greeting and the EHLO reply.
    #[arg(long, default_value = "sink.test")]
    hostname: String,
    /// Keep no message in memory, only a count (bench mode; TLS 1.2/1.3 flags apply).
    #[arg(long)]
    count_only: bool,
    /// Every 100 ms, write "MESSAGES LAST_MESSAGE_UNIX_MS CONNECTIONS TLS_MESSAGES" to this file
    /// (replaced atomically, only when it changed).
    #[arg(long, value_name = "PATH")]
    count_file: Option<PathBuf>,
    /// Do not print the "listening on" line.
    #[arg(long)]
    quiet: bool,
}

fn server_config(args: &Args) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let (Some(chain_path), Some(key_path)) = (&args.cert_chain, &args.key) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(chain_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", chain_path.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", chain_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let versions = if args.tls12_only {
        TlsVersions::Tls12Only
    } else if args.tls13_only {
        TlsVersions::Tls13Only
    } else {
        TlsVersions::Both
    };
    let cfg = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions.versions())
        .map_err(|e| format!("protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Some(Arc::new(cfg)))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let tls = if args.no_starttls {
        None
    } else {
        match server_config(&args) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("danegate-smtp-sink: {e}");
                return ExitCode::from(2);
            }
        }
    };
    // SmtpSink::start panics when it cannot bind; check first for a clean error.
    if let Err(e) = std::net::TcpListener::bind(args.listen) {
        eprintln!("danegate-smtp-sink: bind {}: {e}", args.listen);
        return ExitCode::from(1);
    }
    if args.count_only {
        let counters = Arc::new(count::Counters::default());
        if let Some(p) = &args.count_file {
            count::spawn_count_file(p.clone(), counters.clone());
        }
        let quiet = args.quiet;
        let r = count::run(args.listen, args.hostname.clone(), tls, counters, |addr| {
            if !quiet {
                println!("listening on {addr}");
                let _ = std::io::stdout().flush();
            }
        });
        if let Err(e) = r {
            eprintln!("danegate-smtp-sink: {e}");
            return ExitCode::from(1);
        }
        return ExitCode::SUCCESS;
    }
    let opts = SinkOptions {
        hostname: args.hostname.clone(),
        tls,
        starttls: if args.no_starttls {
            StartTlsMode::NotOffered
        } else {
            StartTlsMode::Offer
        },
        bind: Some(args.listen),
        ..SinkOptions::default()
    };
    let sink = SmtpSink::start(opts);
    if !args.quiet {
        println!("listening on {}", sink.addr());
        let _ = std::io::stdout().flush();
    }
    // Serve until killed (SIGTERM/SIGINT end the process with their default action).
    let tmp = args.count_file.as_ref().map(|p| p.with_extension("tmp"));
    let mut last = None;
    loop {
        match (&args.count_file, &tmp) {
            (Some(path), Some(tmp)) => {
                let messages = sink.messages();
                let tls = messages.iter().filter(|m| m.tls.is_some()).count();
                let cur = (messages.len(), sink.connections(), tls);
                if last != Some(cur) {
                    let line = format!("{} {} {} {}\n", cur.0, count::now_ms(), cur.1, cur.2);
                    if std::fs::write(tmp, line)
                        .and_then(|()| std::fs::rename(tmp, path))
                        .is_ok()
                    {
                        last = Some(cur);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            _ => std::thread::park(),
        }
    }
}
