//! `danegate audit`: daneverify's check for many recipient domains at once (the
//! `danegate-audit` crate), with a progress bar on a terminal, a summary, JSON lines or a
//! self-contained HTML report.

use std::{
    collections::HashSet,
    io::{IsTerminal, Read, Write},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use clap::Args;
use danegate_admin::{
    daneverify::{Check, CheckMode},
    readiness::parse_since,
};
use danegate_audit::{
    AuditOptions, DomainResult, StsOptions, Summary, html, input, record::verdict_word,
};
use danegate_delivery::{IpPreference, Options, TlsContext};
use danegate_https::{ClientOptions, HttpsClient};
use danegate_mta_sts::Fetcher;
use danegate_smtp::Timeouts;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{admin_cmd::Target, applog, daneverify::ModeArg, lookup::resolver_config};

/// Exit status: the audit ran (whatever the verdicts).
pub const EXIT_OK: u8 = 0;
/// Exit status: usage error (bad option, unreadable or bad input).
pub const EXIT_USAGE: u8 = 64;

/// Arguments of `danegate audit`.
#[derive(Args, Debug)]
#[command(
    after_help = "Input: one domain (or recipient address) per line; `#` comments; \
--from-history adds the domains the gateway delivered to (its shadow evaluation store), \
most traffic first. Each domain gets exactly the verdict `danegate daneverify` gives it, \
and (unless --no-sts) the MTA-STS verdict of `danegate stsverify` and its TLS-RPT \
record. Exit status: 0 the audit ran (whatever the verdicts), 64 usage error."
)]
pub struct AuditArgs {
    /// File of domains, one per line; `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    input: Option<String>,
    /// Also audit the destination domains with deliveries in this window (`24h`, `7d`,
    /// `30d`, at most 31 days), from the gateway's shadow evaluation store
    /// (`<data_dir>/shadow.sqlite`), most deliveries first.
    #[arg(long, value_name = "WINDOW")]
    from_history: Option<String>,
    /// The gateway's data directory (for --from-history).
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// The gateway's configuration file: its `server.data_dir` (for --from-history) and
    /// `server.ca_file` (for MTA-STS, unless --ca-file).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Skip the MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) checks.
    #[arg(long)]
    no_sts: bool,
    /// Extra trusted root certificates (PEM) besides the built-in Mozilla roots, for
    /// MTA-STS policy hosts and MX hosts (as `stsverify --ca-file`).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// HTTPS port of the policy hosts (for test worlds; real policy hosts use 443).
    #[arg(long, default_value_t = 443, hide = true)]
    https_port: u16,
    /// Domains checked at once.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Connections open to one MX address at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=100))]
    per_ip: u64,
    /// DNS queries outstanding at one resolver at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    resolver_in_flight: u64,
    /// One JSON object per domain and line on standard output (summary on standard error).
    #[arg(long, conflicts_with = "html")]
    json: bool,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Upstream resolver, ADDR or ADDR:PORT; repeat for several, first = highest priority.
    /// Default: the nameservers of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    resolvers: Vec<String>,
    /// Trust-anchor file (DS or DNSKEY lines) replacing the built-in root anchors.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,
    /// Decision table.
    #[arg(long, value_enum, default_value_t = ModeArg::Mandatory)]
    mode: ModeArg,
    /// SMTP port to connect to; TLSA is looked up at `_<port>._tcp.<host>`.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Address families: ipv6-preferred, ipv4-preferred, ipv4-only, ipv6-only.
    #[arg(long, default_value = "ipv6-preferred", value_parser = parse_pref)]
    ip_preference: String,
    /// Seconds allowed for each DNS attempt and each SMTP/TLS step.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// Name to send in EHLO.
    #[arg(long, default_value = "danegate.invalid")]
    helo: String,
    /// Domains to audit (besides --input).
    domains: Vec<String>,
}

fn parse_pref(s: &str) -> Result<String, String> {
    s.parse::<IpPreference>().map(|_| s.to_string())
}

fn usage(msg: impl std::fmt::Display) -> u8 {
    eprintln!("danegate audit: {msg}");
    EXIT_USAGE
}

/// The domains of the shadow store with deliveries in the `--from-history` window,
/// most deliveries first.
fn history(args: &AuditArgs, target: &Target, window: &str) -> Result<Vec<String>, String> {
    let secs = parse_since(window).map_err(|e| format!("--from-history {e}"))?;
    let dir = target.data_dir()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let found = danegate_gateway::history_domains(&dir, Duration::from_secs(secs), now)?;
    let mut text = String::new();
    for (d, _) in &found {
        text.push_str(d);
        text.push('\n');
    }
    let domains = input::parse(&text).map_err(|e| format!("shadow store: {e}"))?;
    if domains.is_empty() && args.input.is_none() && args.domains.is_empty() {
        return Err(format!(
            "--from-history {window}: no delivery recorded in {} in that window",
            dir.join("shadow.sqlite").display()
        ));
    }
    eprintln!(
        "danegate audit: {} domain(s) with deliveries in the last {window} from {}",
        domains.len(),
        dir.join("shadow.sqlite").display()
    );
    Ok(domains)
}

fn read_input(args: &AuditArgs, target: &Target) -> Result<Vec<String>, String> {
    let mut text = String::new();
    match args.input.as_deref() {
        Some("-") => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("standard input: {e}"))?;
        }
        Some(path) => {
            text = std::fs::read_to_string(path).map_err(|e| format!("--input {path}: {e}"))?;
        }
        None => {}
    }
    for d in &args.domains {
        text.push_str(d);
        text.push('\n');
    }
    let mut domains = input::parse(&text).map_err(|e| match args.input.as_deref() {
        Some(p) => format!("{p}: {e}"),
        None => e,
    })?;
    if let Some(window) = &args.from_history {
        // The union: the given domains first, then the history's not among them.
        let seen: HashSet<String> = domains.iter().cloned().collect();
        domains.extend(
            history(args, target, window)?
                .into_iter()
                .filter(|d| !seen.contains(d)),
        );
    }
    if domains.is_empty() {
        return Err(
            "no domain to audit: give --input FILE, --input -, --from-history WINDOW or domains"
                .into(),
        );
    }
    Ok(domains)
}

fn progress(n: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} domains ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The MTA-STS options: stsverify's HTTPS client and session options, the roots
/// extended by `--ca-file` or the configuration's `server.ca_file`.
fn sts_options(args: &AuditArgs, target: &Target) -> Result<Option<StsOptions>, String> {
    if args.no_sts {
        return Ok(None);
    }
    let ca_file = match (&args.ca_file, &target.config) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(cfg)) => danegate_config::Config::load(cfg)
            .map_err(|e| e.to_string())?
            .server
            .ca_file
            .clone(),
        (None, None) => None,
    };
    let extra_roots = match &ca_file {
        None => Vec::new(),
        Some(p) => danegate_https::load_ca_file(p).map_err(|e| format!("--ca-file {e}"))?,
    };
    let secs = Duration::from_secs(args.timeout);
    let client = HttpsClient::new(ClientOptions {
        extra_roots: extra_roots.clone(),
        connect_timeout: secs,
        read_timeout: secs,
        ..ClientOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let roots = {
        let mut v = TlsContext::webpki_root_anchors().as_ref().clone();
        v.extend(extra_roots);
        Arc::new(v)
    };
    Ok(Some(StsOptions {
        fetcher: Fetcher {
            client,
            port: args.https_port,
        },
        tls: TlsContext::with_roots(String::new(), None, roots),
        options: Options {
            port: args.port,
            timeouts: Timeouts::uniform(secs),
            helo_name: args.helo.clone(),
            ..Options::default()
        },
    }))
}

/// The MTA-STS and TLS-RPT note of a domain's text line: empty when it has neither.
fn sts_note(r: &DomainResult) -> String {
    let mut parts = Vec::new();
    if let Some(v) = r.mta_sts.done() {
        match v.mode() {
            Some(mode) => parts.push(format!("MTA-STS {mode} {}", v.result)),
            None if v.report.txt.is_some() => parts.push("MTA-STS policy error".to_string()),
            None if v.result == "temp-fail" => parts.push("MTA-STS unknown".to_string()),
            None => {}
        }
    }
    if let Some(t) = r.tls_rpt.done()
        && t.status != "absent"
    {
        parts.push(format!("TLS-RPT {}", t.status));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  [{}]", parts.join("; "))
    }
}

/// Runs `danegate audit`.
pub async fn run(args: AuditArgs, top: &Target) -> u8 {
    applog::install_stderr_level(tracing::Level::ERROR);
    let target = Target {
        data_dir: args.data_dir.clone(),
        config: args.config.clone(),
        json: false,
    }
    .or(top);
    let domains = match read_input(&args, &target) {
        Ok(d) => d,
        Err(e) => return usage(e),
    };
    let sts = match sts_options(&args, &target) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let mut config =
        match resolver_config(&args.resolvers, args.trust_anchor.as_ref(), args.timeout) {
            Ok(c) => c,
            Err(e) => return usage(e),
        };
    config.max_in_flight = usize::try_from(args.resolver_in_flight).unwrap_or(usize::MAX);
    config.cache_entries = config.cache_entries.max(domains.len().saturating_mul(8));
    let resolver = danegate_dns::Resolver::new(config);
    let opts = AuditOptions {
        check: Check {
            domain: String::new(),
            port: args.port,
            mode: match args.mode {
                ModeArg::Mandatory => CheckMode::Mandatory,
                ModeArg::Opportunistic => CheckMode::Opportunistic,
            },
            ip_preference: args.ip_preference.clone(),
            timeout_secs: args.timeout,
            helo: args.helo.clone(),
            json: false,
        },
        concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
        per_ip: usize::try_from(args.per_ip).unwrap_or(usize::MAX),
        sts,
    };
    let bar = progress(domains.len());
    let tick = bar.clone();
    let done = Arc::new(move |r: &DomainResult| {
        tick.inc(1);
        tick.set_message(format!("{} {}", r.domain, verdict_word(r.verdict)));
    });
    let audit = match danegate_audit::audit(resolver, domains, &opts, done).await {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    bar.finish_and_clear();
    let summary = Summary::of(&audit);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        for r in &audit.results {
            let line = serde_json::to_string(r).unwrap_or_default();
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        eprint!("{}", summary.text());
        return EXIT_OK;
    }
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, html::report(&summary, &audit.results)) {
            return usage(format!("--html {}: {e}", path.display()));
        }
    } else {
        let width = audit
            .results
            .iter()
            .map(|r| r.domain.len())
            .max()
            .unwrap_or(0);
        for r in &audit.results {
            let _ = writeln!(
                out,
                "{:<width$}  {:<12}  {}{}",
                r.domain,
                verdict_word(r.verdict),
                r.reason,
                sts_note(r)
            );
        }
    }
    let _ = write!(out, "{}", summary.text());
    let _ = out.flush();
    EXIT_OK
}
