//! `danegate stsverify DOMAIN`: the MTA-STS diagnostic (RFC 8461), sibling of
//! `daneverify`: the `_mta-sts` TXT record, the policy fetch and parse, each MX host
//! with its pattern match, STARTTLS, TLS version and PKIX result, and the verdict.
//! It checks MTA-STS alone: where DANE applies to an MX host, the gateway lets DANE
//! decide (see `daneverify`). The check itself is [`danegate_admin::stsverify`], which
//! `danegate audit` runs for each of its domains.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use danegate_admin::stsverify::EXIT_TEMPFAIL;
use danegate_admin::stsverify::{DirectProbe, Report, StsCheck};
use danegate_delivery::{Options, TlsContext};
use danegate_https::{ClientOptions, HttpsClient};
use danegate_mta_sts::Fetcher;
use danegate_smtp::Timeouts;

use crate::{applog, lookup::build_resolver};

/// Exit status: usage error.
pub const EXIT_USAGE: u8 = 64;

/// Arguments of `danegate stsverify`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: 0 policy satisfied (an MX host matching the policy offers \
STARTTLS with a certificate that chains to a trusted root and names it), 1 not satisfied \
(mode enforce: mail would not be delivered; mode testing: it would be, and the failure \
reported), 3 no policy (no or invalid TXT record, policy fetch failed or invalid, mode \
none), 64 usage error, 75 temporary failure (DNS, MX hosts unreachable)."
)]
pub struct StsverifyArgs {
    /// Upstream resolver, ADDR or ADDR:PORT; repeat for several, first = highest
    /// priority. Default: the nameservers of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "ADDR[:PORT]")]
    resolvers: Vec<String>,
    /// Trust-anchor file (DS or DNSKEY lines) replacing the built-in root anchors.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,
    /// Extra trusted root certificates (PEM) besides the built-in Mozilla roots, for
    /// the policy host and the MX hosts.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// SMTP port of the MX hosts.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// HTTPS port of the policy host (for test worlds; real policy hosts use 443).
    #[arg(long, default_value_t = 443, hide = true)]
    https_port: u16,
    /// Seconds allowed for each DNS attempt and each HTTPS/SMTP/TLS step.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// Name to send in EHLO.
    #[arg(long, default_value = "danegate.invalid")]
    helo: String,
    /// The domain to check.
    domain: String,
}

/// Runs `danegate stsverify`.
pub async fn run(args: StsverifyArgs) -> u8 {
    applog::install_stderr(false);
    let mut report = Report {
        domain: args
            .domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase(),
        ..Report::default()
    };
    let code = check(&args, &mut report).await;
    report.exit = code;
    if code == EXIT_USAGE {
        return code;
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("danegate stsverify: {e}"),
        }
    } else {
        for line in &report.lines {
            println!("{line}");
        }
        println!("{}", report.verdict);
    }
    code
}

async fn check(args: &StsverifyArgs, r: &mut Report) -> u8 {
    let domain = r.domain.clone();
    if domain.is_empty() || !domain.contains('.') {
        eprintln!("danegate stsverify: {:?} is not a domain name", args.domain);
        return EXIT_USAGE;
    }
    let resolver = match build_resolver(&args.resolvers, args.trust_anchor.as_ref(), args.timeout) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("danegate stsverify: {e}");
            return EXIT_USAGE;
        }
    };
    let extra_roots = match &args.ca_file {
        None => Vec::new(),
        Some(p) => match danegate_https::load_ca_file(p) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("danegate stsverify: --ca-file {e}");
                return EXIT_USAGE;
            }
        },
    };
    let secs = Duration::from_secs(args.timeout);
    let client = match HttpsClient::new(ClientOptions {
        extra_roots: extra_roots.clone(),
        connect_timeout: secs,
        read_timeout: secs,
        ..ClientOptions::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("danegate stsverify: {e}");
            return EXIT_TEMPFAIL;
        }
    };
    let fetcher = Fetcher {
        client,
        port: args.https_port,
    };
    let opts = Options {
        port: args.port,
        timeouts: Timeouts::uniform(secs),
        helo_name: args.helo.clone(),
        ..Options::default()
    };
    let roots = {
        let mut v = TlsContext::webpki_root_anchors().as_ref().clone();
        v.extend(extra_roots);
        std::sync::Arc::new(v)
    };
    let tls = TlsContext::with_roots(domain.clone(), None, roots);
    StsCheck {
        resolver: &resolver,
        fetcher: &fetcher,
        options: &opts,
        tls: &tls,
        probe: &DirectProbe,
    }
    .run(&domain, r)
    .await
}
