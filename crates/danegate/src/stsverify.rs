//! `danegate stsverify DOMAIN`: the MTA-STS diagnostic (RFC 8461), sibling of
//! `daneverify`: the `_mta-sts` TXT record, the policy fetch and parse, each MX host
//! with its pattern match, STARTTLS, TLS version and PKIX result, and the verdict.
//! It checks MTA-STS alone: where DANE applies to an MX host, the gateway lets DANE
//! decide (see `daneverify`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use danegate_delivery::{
    Event, IpPreference, Options, TlsContext, TlsSupport, candidates_from_dns, open_session,
};
use danegate_https::{ClientOptions, HttpsClient};
use danegate_mta_sts::fetch::Discovery;
use danegate_mta_sts::outcome::classify_certificate_failure;
use danegate_mta_sts::{Fetcher, Mode, PolicySummary, ResultType};
use danegate_smtp::Timeouts;
use serde::Serialize;

use crate::{applog, lookup::build_resolver};

/// Exit status: the policy is satisfied by at least one MX host.
pub const EXIT_SATISFIED: u8 = 0;
/// Exit status: the policy is not satisfied (enforce: mail would not be delivered).
pub const EXIT_NOT_SATISFIED: u8 = 1;
/// Exit status: the domain has no (valid) policy, or its mode is `none`.
pub const EXIT_NO_POLICY: u8 = 3;
/// Exit status: usage error.
pub const EXIT_USAGE: u8 = 64;
/// Exit status: temporary failure (DNS, no MX host reachable).
pub const EXIT_TEMPFAIL: u8 = 75;

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

/// One MX host address checked.
#[derive(Serialize, Debug)]
struct HostReport {
    host: String,
    address: String,
    matches_policy: bool,
    starttls: Option<bool>,
    tls_version: Option<String>,
    pkix: Option<String>,
    result: String,
}

/// The whole check (`--json`).
#[derive(Serialize, Debug, Default)]
struct Report {
    domain: String,
    txt: Option<String>,
    policy_id: Option<String>,
    policy: Option<PolicySummary>,
    policy_error: Option<String>,
    policy_error_type: Option<String>,
    hosts: Vec<HostReport>,
    verdict: String,
    exit: u8,
}

fn classify(events: &[Event]) -> (ResultType, Option<bool>) {
    let mut starttls = None;
    for e in events {
        match e {
            Event::CheckingTls => starttls = Some(true),
            Event::StartTlsFailed { .. } => starttls = Some(false),
            _ => {}
        }
    }
    for e in events.iter().rev() {
        match e {
            Event::CertFailed { reason } => {
                return (classify_certificate_failure(reason), starttls);
            }
            Event::StartTlsFailed { .. } => {
                return (ResultType::StarttlsNotSupported, starttls);
            }
            _ => {}
        }
    }
    (ResultType::ValidationFailure, starttls)
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
        println!("{}", report.verdict);
    }
    code
}

fn say(json: bool, line: String) {
    if !json {
        println!("{line}");
    }
}

async fn check(args: &StsverifyArgs, r: &mut Report) -> u8 {
    let json = args.json;
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

    // 1. TXT (RFC 8461 §3.1).
    let record = match fetcher.discover(&resolver, &domain).await {
        Discovery::Record(rec) => rec,
        Discovery::NoPolicy(e) => {
            say(json, format!("TXT _mta-sts.{domain}: {e}"));
            r.policy_error = Some(e.to_string());
            r.verdict = format!("MTA-STS NO POLICY for {domain}");
            return EXIT_NO_POLICY;
        }
        Discovery::TempFail(e) => {
            say(json, format!("TXT _mta-sts.{domain}: lookup failed: {e}"));
            r.policy_error = Some(e);
            r.verdict = format!("MTA-STS TEMPORARY FAILURE for {domain}");
            return EXIT_TEMPFAIL;
        }
    };
    say(
        json,
        format!("TXT _mta-sts.{domain}: v=STSv1; id={};", record.id),
    );
    r.txt = Some(format!("v=STSv1; id={};", record.id));
    r.policy_id = Some(record.id.clone());

    // 2. The policy (§3.3, §3.2).
    let policy = match fetcher.fetch(&resolver, &domain).await {
        Ok(p) => p,
        Err(e) => {
            say(
                json,
                format!("Policy fetch failed ({}): {e}", e.result_type()),
            );
            r.policy_error = Some(e.detail.clone());
            r.policy_error_type = Some(e.result_type().to_string());
            r.verdict = format!("MTA-STS NO POLICY for {domain} ({})", e.result_type());
            return EXIT_NO_POLICY;
        }
    };
    let summary = PolicySummary::new(&domain, &record.id, &policy);
    say(
        json,
        format!(
            "Policy https://mta-sts.{domain}/.well-known/mta-sts.txt: mode {} max_age {} mx {}",
            policy.mode,
            policy.max_age,
            policy.mx_text()
        ),
    );
    r.policy = Some(summary);
    if policy.mode == Mode::None {
        r.verdict = format!("MTA-STS NO POLICY for {domain} (mode none)");
        return EXIT_NO_POLICY;
    }

    // 3. Each MX host: pattern, STARTTLS, TLS, PKIX naming the MX host (§4).
    let cands =
        match candidates_from_dns(&resolver, &domain, IpPreference::Ipv4Preferred, args.port).await
        {
            Ok(c) => c,
            Err(e) => {
                say(json, format!("MX of {domain}: {}", e.reason));
                r.verdict = format!("MTA-STS TEMPORARY FAILURE for {domain}: {}", e.reason);
                return if e.temporary {
                    EXIT_TEMPFAIL
                } else {
                    EXIT_NOT_SATISFIED
                };
            }
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
    let (mut satisfied, mut temp, mut any_match) = (false, false, false);
    for cand in &cands {
        let matches = policy.mx_matches(&cand.host);
        let mut h = HostReport {
            host: cand.host.clone(),
            address: cand.addr.to_string(),
            matches_policy: matches,
            starttls: None,
            tls_version: None,
            pkix: None,
            result: String::new(),
        };
        if !matches {
            h.result = "not in the policy: never used".into();
            say(
                json,
                format!(
                    "MX {} [{}]: does not match the policy",
                    cand.host,
                    cand.addr.ip()
                ),
            );
            r.hosts.push(h);
            continue;
        }
        any_match = true;
        let ctx = TlsContext::with_roots(cand.host.clone(), None, roots.clone());
        let mut seen: Vec<Event> = Vec::new();
        let result = open_session(
            cand,
            TlsSupport::RequiredVerify,
            &ctx,
            &opts,
            &mut |e: &Event| seen.push(e.clone()),
        )
        .await;
        match result {
            Ok(s) => {
                h.starttls = Some(true);
                h.tls_version = Some(s.protocol.clone());
                h.pkix = Some(format!("valid: {}", s.verification));
                h.result = "ok".into();
                satisfied = true;
                let _ = s.client.quit().await;
            }
            Err(e) => {
                let (rt, starttls) = classify(&seen);
                h.starttls = starttls;
                if e.enhanced != "4.7.5" {
                    temp = true;
                    h.result = format!("unreachable: {}", e.reason);
                } else {
                    h.pkix = Some(format!("{rt}: {}", e.reason));
                    h.result = rt.to_string();
                }
            }
        }
        say(
            json,
            format!(
                "MX {} [{}]: matches the policy; STARTTLS {}; TLS {}; PKIX {}",
                h.host,
                cand.addr.ip(),
                match h.starttls {
                    Some(true) => "offered",
                    Some(false) => "not offered",
                    None => "-",
                },
                h.tls_version.as_deref().unwrap_or("-"),
                h.pkix.as_deref().unwrap_or(&h.result)
            ),
        );
        r.hosts.push(h);
    }
    if satisfied {
        r.verdict = format!("MTA-STS SATISFIED for {domain} (mode {})", policy.mode);
        EXIT_SATISFIED
    } else if any_match && temp && !r.hosts.iter().any(|h| h.pkix.is_some()) {
        r.verdict =
            format!("MTA-STS TEMPORARY FAILURE for {domain}: no matching MX host reachable");
        EXIT_TEMPFAIL
    } else {
        let why = if any_match {
            "no MX host matching the policy passed"
        } else {
            "no MX host matches the policy"
        };
        let consequence = if policy.mode == Mode::Enforce {
            "mail would not be delivered"
        } else {
            "mode testing: mail would be delivered, the failure reported"
        };
        r.verdict = format!("MTA-STS FAILED for {domain}: {why}; {consequence}");
        EXIT_NOT_SATISFIED
    }
}
