//! `danegate lookup`: one validated DNS lookup, as an administrator's diagnostic.

use std::{path::PathBuf, str::FromStr, time::Duration};

use clap::Args;
use danegate_dns::{
    AnswerKind, LookupError, Name, RecordType, Resolver, ResolverConfig, Security, TrustAnchors,
    UpstreamConfig,
};
use serde_json::json;

use crate::{EXIT_BOGUS, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE, applog};

/// Arguments of `danegate lookup`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: 0 an answer (data, NXDOMAIN or NODATA, secure or insecure), \
1 BOGUS, 2 usage error, 75 temporary failure (timeout, SERVFAIL, no usable resolver)."
)]
pub struct LookupArgs {
    /// Upstream resolver, ADDR or ADDR:PORT ([V6]:PORT). Repeat for several: the first
    /// has the highest priority. Default: the nameservers of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    resolvers: Vec<String>,
    /// Trust-anchor file (DS or DNSKEY lines, zone-file syntax) replacing the built-in
    /// root anchors.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Print the DNS debug trace (every query) on standard error.
    #[arg(long)]
    trace: bool,
    /// Seconds to wait for each upstream attempt.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    timeout: u64,
    /// The name to look up.
    name: String,
    /// The record type (A, AAAA, MX, TLSA, DS, DNSKEY, TXT, ...).
    #[arg(name = "TYPE")]
    rtype: String,
}

fn usage(msg: impl std::fmt::Display) -> u8 {
    eprintln!("danegate lookup: {msg}");
    EXIT_USAGE
}

/// Resolvers of /etc/resolv.conf, in order.
pub fn system_resolvers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("nameserver")).then(|| it.next().map(str::to_string))?
        })
        .collect()
}

/// Builds the resolver from the common options, or returns a usage error message.
pub fn build_resolver(
    resolvers: &[String],
    trust_anchor: Option<&PathBuf>,
    timeout: u64,
) -> Result<Resolver, String> {
    resolver_config(resolvers, trust_anchor, timeout).map(Resolver::new)
}

/// The resolver configuration from the common options (for callers that change more
/// settings, like `audit`), or a usage error message.
pub fn resolver_config(
    resolvers: &[String],
    trust_anchor: Option<&PathBuf>,
    timeout: u64,
) -> Result<ResolverConfig, String> {
    let list = if resolvers.is_empty() {
        system_resolvers()
    } else {
        resolvers.to_vec()
    };
    if list.is_empty() {
        return Err("no resolver given and none found in /etc/resolv.conf".into());
    }
    let upstreams = list
        .iter()
        .enumerate()
        .map(|(i, r)| UpstreamConfig::parse(r, i as u32).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let anchors = match trust_anchor {
        Some(p) => TrustAnchors::from_file(p).map_err(|e| e.to_string())?,
        None => TrustAnchors::builtin(),
    };
    let mut config = ResolverConfig::new(upstreams, anchors);
    config.timeout = Duration::from_secs(timeout);
    Ok(config)
}

/// Runs `danegate lookup`.
pub async fn run(args: LookupArgs) -> u8 {
    applog::install_stderr(args.trace);
    let name = match Name::from_str(&args.name) {
        Ok(mut n) => {
            n.set_fqdn(true);
            n
        }
        Err(e) => return usage(format!("bad name {:?}: {e}", args.name)),
    };
    let rtype = match RecordType::from_str(&args.rtype.to_ascii_uppercase()) {
        Ok(t) if !matches!(t, RecordType::Unknown(_)) => t,
        _ => return usage(format!("unknown record type {:?}", args.rtype)),
    };
    let resolver = match build_resolver(&args.resolvers, args.trust_anchor.as_ref(), args.timeout) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    match resolver.lookup(&name, rtype).await {
        Ok(answer) => {
            if args.json {
                let (status, reason) = match &answer.security {
                    Security::Bogus(r) => ("bogus", Some(r.to_string())),
                    s => (s.lower(), None),
                };
                let kind = match answer.kind {
                    AnswerKind::Data => "answer",
                    AnswerKind::NxDomain => "nxdomain",
                    AnswerKind::NoData => "nodata",
                };
                let obj = json!({
                    "name": name.to_ascii(),
                    "type": rtype.to_string(),
                    "status": status,
                    "kind": kind,
                    "reason": reason,
                    "records": answer.records.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    "chain": answer.chain.iter().map(|l| json!({
                        "owner": l.owner.to_ascii(),
                        "target": l.target.to_ascii(),
                        "status": l.security.lower(),
                    })).collect::<Vec<_>>(),
                    "ttl": answer.ttl,
                });
                println!("{obj}");
            } else {
                println!("{}", answer.status_line());
                for link in &answer.chain {
                    println!(
                        "{} CNAME {} ({})",
                        link.owner,
                        link.target,
                        link.security.word()
                    );
                }
                for r in &answer.records {
                    println!("{r}");
                }
            }
            match answer.security {
                Security::Bogus(_) => EXIT_BOGUS,
                _ => EXIT_OK,
            }
        }
        Err(e) => {
            if args.json {
                let status = match e {
                    LookupError::Timeout(_) => "timeout",
                    _ => "servfail",
                };
                let obj = json!({
                    "name": name.to_ascii(),
                    "type": rtype.to_string(),
                    "status": status,
                    "kind": null,
                    "reason": e.to_string(),
                    "records": [],
                    "chain": [],
                });
                println!("{obj}");
            } else {
                println!("{}", e.status_word());
                eprintln!("danegate lookup: {e}");
            }
            EXIT_TEMPFAIL
        }
    }
}
