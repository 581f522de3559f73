//! The admin CLI: `destconfig`, `smtproutes`, `dnsconfig`, `hoststatus`, `tophosts`,
//! `queue`, `tail`, talking to the running gateway over its control socket
//! (`<data_dir>/control.sock`, see `danegate_admin::control`), and the socket's start
//! and stop in `danegate serve`.
//!
//! Exit status: 0 done; 1 not found (unknown profile, route or message); 2 bad command
//! line or a change refused by validation (each error names the field, the key, the
//! value and the allowed range); 75 no running gateway answers.

use std::{
    io::{Read as _, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use clap::{Args, Subcommand};
use danegate_admin::{
    Admin, CommitHook, DestinationForm, DestinationView, DnsForm, DnsView, DomainStatus,
    HostStatus, MessageView, QueuedView, RouteView,
    control::{self, ClientError, ControlServer, Request, Response},
};
use danegate_config::Config;
use danegate_gateway::Running;
use serde::de::DeserializeOwned;

use crate::{EXIT_TEMPFAIL, EXIT_USAGE};

/// Exit status: the profile, route or message does not exist.
pub const EXIT_NOT_FOUND: u8 = 1;

/// How long the CLI waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Which gateway to talk to, and how to print.
#[derive(Args, Debug, Clone, Default)]
pub struct Target {
    /// The running gateway's data directory (its control socket is `DIR/control.sock`).
    #[arg(long, value_name = "DIR", global = true, conflicts_with = "config")]
    pub data_dir: Option<PathBuf>,
    /// The running gateway's configuration file (its `server.data_dir` is used).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Target {
    /// This target, with the top-level `--data-dir` / `--config` as fallback.
    pub fn or(mut self, top: &Target) -> Target {
        if self.data_dir.is_none() && self.config.is_none() {
            self.data_dir = top.data_dir.clone();
            self.config = top.config.clone();
        }
        self.json |= top.json;
        self
    }

    /// The data directory: `--data-dir`, the `server.data_dir` of `--config`, or the
    /// default `./danegate-data`.
    pub(crate) fn data_dir(&self) -> Result<PathBuf, String> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        match &self.config {
            Some(f) => Config::load(f)
                .map(|c| c.server.data_dir)
                .map_err(|e| e.to_string()),
            None => Ok(PathBuf::from(danegate_config::limits::DEFAULT_DATA_DIR)),
        }
    }
}

/// The fields of the Destination Controls form as flags.
#[derive(Args, Debug, Clone, Default)]
pub struct FormArgs {
    /// IP address preference: ipv6-preferred, ipv4-preferred, ipv4-only, ipv6-only
    /// (`default`: follow the default profile).
    #[arg(long, value_name = "PREF")]
    ip_preference: Option<String>,
    /// Concurrent connections, 1–1000.
    #[arg(long, value_name = "N")]
    max_concurrent_connections: Option<String>,
    /// Messages per connection, 1–1000.
    #[arg(long, value_name = "N")]
    max_messages_per_connection: Option<String>,
    /// Recipient limit: `none`, or 0–1,000,000,000 recipients per --per-minutes.
    #[arg(long, value_name = "N|none")]
    recipient_limit: Option<String>,
    /// Minutes of the recipient limit, 1–60 (default 60).
    #[arg(long, value_name = "M", alias = "recipient-limit-per-minutes")]
    per_minutes: Option<String>,
    /// Apply limits: system-wide or per-interface.
    #[arg(long, value_name = "SCOPE")]
    apply_limits: Option<String>,
    /// TLS Support: none, preferred, required, preferred-verify, required-verify,
    /// required-verify-hosted-domains.
    #[arg(long, value_name = "MODE")]
    tls: Option<String>,
    /// DANE Support: none, opportunistic, mandatory.
    #[arg(long, value_name = "MODE")]
    dane: Option<String>,
    /// Bounce profile name.
    #[arg(long, value_name = "NAME")]
    bounce_profile: Option<String>,
    /// Outbound interface (an IP address of this host, or `none`).
    #[arg(long, value_name = "IP|none")]
    outbound_interface: Option<String>,
    /// Bounce Verification: perform address tagging (BATV) of the envelope sender,
    /// yes or no (`default`: follow the default profile).
    #[arg(long, value_name = "yes|no")]
    bounce_verification: Option<String>,
}

impl FormArgs {
    fn form(&self, domain: String) -> DestinationForm {
        DestinationForm {
            domain,
            ip_preference: self.ip_preference.clone(),
            max_concurrent_connections: self.max_concurrent_connections.clone(),
            max_messages_per_connection: self.max_messages_per_connection.clone(),
            recipient_limit: self.recipient_limit.clone(),
            recipient_limit_per_minutes: self.per_minutes.clone(),
            apply_limits: self.apply_limits.clone(),
            tls: self.tls.clone(),
            dane: self.dane.clone(),
            bounce_profile: self.bounce_profile.clone(),
            outbound_interface: self.outbound_interface.clone(),
            bounce_verification: self.bounce_verification.clone(),
        }
    }
}

/// `danegate destconfig ...`
#[derive(Args, Debug)]
pub struct DestconfigArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    cmd: DestconfigCmd,
}

#[derive(Subcommand, Debug)]
enum DestconfigCmd {
    /// List the destination profiles (the default first).
    List,
    /// Show one profile (`default` for the default profile).
    Show {
        /// `example.com`, `.example.com` or `default`.
        domain: String,
    },
    /// Add a profile; fields not given follow the default profile.
    Add {
        /// `example.com`, or `.example.com` for its subdomains.
        domain: String,
        #[command(flatten)]
        fields: FormArgs,
    },
    /// Change fields of a profile (`default` for the default profile); others stay.
    Edit {
        /// The profile.
        domain: String,
        /// Rename the profile to this domain.
        #[arg(long, value_name = "DOMAIN")]
        rename: Option<String>,
        #[command(flatten)]
        fields: FormArgs,
    },
    /// Delete a profile.
    Delete {
        /// The profile.
        domain: String,
    },
}

/// `danegate smtproutes ...`
#[derive(Args, Debug)]
pub struct SmtproutesArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    cmd: SmtproutesCmd,
}

#[derive(Subcommand, Debug)]
enum SmtproutesCmd {
    /// List the SMTP routes.
    List,
    /// Add the route of DOMAIN or replace its hosts.
    Set {
        /// `internal.example` or `.internal.example`.
        domain: String,
        /// `host`, `host:port`, `[IPv6]:port`, in order; or `USEDNS`.
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// Delete the route of DOMAIN.
    Delete {
        /// The route's domain.
        domain: String,
    },
}

/// `danegate dnsconfig ...`
#[derive(Args, Debug)]
pub struct DnsconfigArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    cmd: DnsconfigCmd,
}

#[derive(Subcommand, Debug)]
enum DnsconfigCmd {
    /// Upstream resolvers (priority, DNSSEC probe result) and trust anchors.
    Show,
    /// Set the resolvers (none: those of /etc/resolv.conf), the query timeout and the
    /// trust-anchor file, then commit.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["resolvers", "resolv_conf"])))]
    Set {
        /// `ADDR[:PORT] PRIORITY` (priority 0 when left out); repeat for each resolver.
        #[arg(long = "resolver", value_name = "ADDR PRIO")]
        resolvers: Vec<String>,
        /// No configured resolvers: use the nameservers of /etc/resolv.conf.
        #[arg(long, conflicts_with = "resolvers")]
        resolv_conf: bool,
        /// Query timeout, 1 – 60 seconds (`default`: 3); unchanged when not given.
        #[arg(long = "timeout", value_name = "N")]
        timeout: Option<String>,
        /// A file of DS/DNSKEY lines, or `builtin` for the built-in root anchors;
        /// unchanged when not given.
        #[arg(long = "trust-anchor", value_name = "FILE|builtin")]
        trust_anchor: Option<String>,
    },
}

/// `danegate hoststatus DOMAIN`
#[derive(Args, Debug)]
pub struct HoststatusArgs {
    #[command(flatten)]
    target: Target,
    /// The destination domain.
    domain: String,
}

/// `danegate tophosts [N]`
#[derive(Args, Debug)]
pub struct TophostsArgs {
    #[command(flatten)]
    target: Target,
    /// How many domains (by active recipients).
    #[arg(default_value_t = 20)]
    n: usize,
}

/// `danegate queue ...`
#[derive(Args, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    cmd: QueueCmd,
}

#[derive(Subcommand, Debug)]
enum QueueCmd {
    /// Queued recipients (of one domain, or all).
    List {
        /// Only this destination domain.
        domain: Option<String>,
        /// At most this many recipients.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// A message: envelope, subject and every recipient.
    Show {
        /// Message id.
        mid: u64,
    },
    /// Make queued recipients (of one domain, or all) due now.
    Delivernow {
        /// Only this destination domain.
        domain: Option<String>,
    },
    /// Bounce a message's queued recipients (or one of them) with a DSN to the sender.
    Bounce {
        /// Message id.
        mid: u64,
        /// Only this recipient.
        rid: Option<u64>,
    },
    /// Delete a message (no DSN).
    Delete {
        /// Message id.
        mid: u64,
    },
}

/// `danegate tail LOG`
#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    target: Target,
    /// The log subscription (`mail_logs`): the file `<data_dir>/logs/<LOG>`.
    log: String,
    /// Read this file instead.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Lines to show.
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    lines: usize,
    /// Keep printing lines as they are written (follows rotations).
    #[arg(short = 'f', long)]
    follow: bool,
}

/// Asks the gateway; `Err(exit status)` after printing why.
fn ask(name: &str, target: &Target, req: &Request) -> Result<Response, u8> {
    let dir = target.data_dir().map_err(|e| {
        eprintln!("danegate {name}: {e}");
        EXIT_USAGE
    })?;
    let path = control::socket_path(&dir);
    control::request(&path, req, TIMEOUT).map_err(|e| {
        eprintln!("danegate {name}: {e}");
        match e {
            ClientError::NotRunning(_) | ClientError::Io(_) => EXIT_TEMPFAIL,
        }
    })
}

/// Prints a refused response: each field error on its own line; returns the status.
fn refused(name: &str, r: &Response) -> u8 {
    if r.errors.is_empty() {
        eprintln!(
            "danegate {name}: {}",
            r.error.as_deref().unwrap_or("refused")
        );
        return EXIT_USAGE;
    }
    eprintln!("danegate {name}: refused, nothing changed:");
    for e in &r.errors {
        let mut line = String::from("  ");
        if !e.field.is_empty() {
            line.push_str(&e.field);
            if !e.value.is_empty() {
                line.push_str(&format!(" = {}", e.value));
            }
            line.push_str(": ");
        }
        line.push_str(&e.message);
        if !e.key.is_empty() {
            line.push_str(&format!(" [{}]", e.key));
        }
        eprintln!("{line}");
    }
    let not_found = r.errors.iter().all(|e| e.message.starts_with("has no "));
    if not_found {
        EXIT_NOT_FOUND
    } else {
        EXIT_USAGE
    }
}

/// The result of an `ok` response as `T`.
fn result<T: DeserializeOwned>(name: &str, r: Response) -> Result<T, u8> {
    serde_json::from_value(r.result.unwrap_or(serde_json::Value::Null)).map_err(|e| {
        eprintln!("danegate {name}: unexpected answer from the gateway: {e}");
        EXIT_TEMPFAIL
    })
}

/// Sends `req`, prints the result as JSON or with `human`.
fn query<T: DeserializeOwned + serde::Serialize>(
    name: &str,
    target: &Target,
    req: Request,
    human: impl FnOnce(&T) -> Result<String, (String, u8)>,
) -> u8 {
    let r = match ask(name, target, &req) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if !r.ok {
        return refused(name, &r);
    }
    let v: T = match result(name, r) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if target.json {
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("danegate {name}: {e}");
                return EXIT_TEMPFAIL;
            }
        }
        return 0;
    }
    match human(&v) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err((msg, code)) => {
            eprintln!("danegate {name}: {msg}");
            code
        }
    }
}

/// Sends a change; prints `done` (or `{"ok":true}` with --json).
fn change(name: &str, target: &Target, req: Request, done: &str) -> u8 {
    let r = match ask(name, target, &req) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if target.json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
        if r.ok {
            return 0;
        }
        return refused(name, &r);
    }
    if !r.ok {
        return refused(name, &r);
    }
    println!("{done}");
    0
}

/// Aligned columns, two spaces apart, like the appliance's tables.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn limit_text(d: &DestinationView) -> String {
    match &d.recipient_limit {
        None => "none".into(),
        Some(l) => format!("{}/{}min", l.recipients, l.per_minutes),
    }
}

fn time_text(unix: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix as i64) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

fn destination_text(d: &DestinationView) -> String {
    let mark = |f: &str| {
        if d.is_default || d.explicit.iter().any(|e| e == f) {
            ""
        } else {
            " (default)"
        }
    };
    let rows = [
        ("Destination", d.domain.clone(), ""),
        (
            "IP Address Preference",
            d.ip_preference.clone(),
            "ip_preference",
        ),
        (
            "Concurrent Connections",
            d.max_concurrent_connections.to_string(),
            "max_concurrent_connections",
        ),
        (
            "Messages per Connection",
            d.max_messages_per_connection.to_string(),
            "max_messages_per_connection",
        ),
        ("Recipient Limit", limit_text(d), "recipient_limit"),
        ("Apply Limits", d.apply_limits.clone(), "apply_limits"),
        (
            "Outbound Interface",
            d.outbound_interface
                .clone()
                .unwrap_or_else(|| "auto".into()),
            "outbound_interface",
        ),
        ("TLS Support", d.tls.clone(), "tls"),
        ("DANE Support", d.dane.clone(), "dane"),
        ("Bounce Profile", d.bounce_profile.clone(), "bounce_profile"),
        (
            "Bounce Verification",
            if d.bounce_verification { "Yes" } else { "No" }.to_string(),
            "bounce_verification",
        ),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v, f)| {
            let m = if f.is_empty() { "" } else { mark(f) };
            format!("{k:<w$}  {v}{m}\n")
        })
        .collect()
}

fn routes_text(routes: &[RouteView]) -> String {
    if routes.is_empty() {
        return "No SMTP routes.\n".into();
    }
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| vec![r.domain.clone(), r.hosts.join(", ")])
        .collect();
    let mut out = table(&["DOMAIN", "DESTINATION HOSTS"], &rows);
    for r in routes {
        if let Some(w) = &r.dane_warning {
            out.push_str(&format!("warning: {}: {w}\n", r.domain));
        }
    }
    out
}

fn status_rows(list: &[DomainStatus]) -> Vec<Vec<String>> {
    list.iter()
        .map(|s| {
            vec![
                s.domain.clone(),
                s.active.to_string(),
                s.connections_out.to_string(),
                s.in_flight.to_string(),
                s.delivered.to_string(),
                s.soft_bounced.to_string(),
                s.hard_bounced.to_string(),
                s.last
                    .as_ref()
                    .map(|l| l.dane.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect()
}

const STATUS_HEADERS: &[&str] = &[
    "DOMAIN",
    "ACTIVE",
    "CONN OUT",
    "IN FLIGHT",
    "DELIVERED",
    "SOFT BOUNCED",
    "HARD BOUNCED",
    "LAST DANE",
];

fn queued_text(list: &[QueuedView]) -> String {
    if list.is_empty() {
        return "No queued recipients.\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|q| {
            vec![
                q.mid.to_string(),
                q.rid.to_string(),
                q.address.clone(),
                if q.sender.is_empty() {
                    "<>".into()
                } else {
                    q.sender.clone()
                },
                q.attempts.to_string(),
                if q.in_flight {
                    "in flight".into()
                } else {
                    time_text(q.next_attempt)
                },
                q.last_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "MID",
            "RID",
            "RECIPIENT",
            "SENDER",
            "ATTEMPTS",
            "NEXT ATTEMPT",
            "LAST REASON",
        ],
        &rows,
    )
}

/// `danegate destconfig ...`
pub fn destconfig(args: DestconfigArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    let name = "destconfig";
    match args.cmd {
        DestconfigCmd::List => query(
            name,
            &t,
            Request::Destinations,
            |v: &Vec<DestinationView>| {
                let rows: Vec<Vec<String>> = v
                    .iter()
                    .map(|d| {
                        vec![
                            d.domain.clone(),
                            d.tls.clone(),
                            d.dane.clone(),
                            d.ip_preference.clone(),
                            d.max_concurrent_connections.to_string(),
                            d.max_messages_per_connection.to_string(),
                            limit_text(d),
                            d.bounce_profile.clone(),
                        ]
                    })
                    .collect();
                Ok(table(
                    &[
                        "DESTINATION",
                        "TLS",
                        "DANE",
                        "IP PREFERENCE",
                        "CONNECTIONS",
                        "MSGS/CONN",
                        "RCPT LIMIT",
                        "BOUNCE PROFILE",
                    ],
                    &rows,
                ))
            },
        ),
        DestconfigCmd::Show { domain } => {
            let d = domain.clone();
            query(
                name,
                &t,
                Request::Destination { domain },
                move |v: &Option<DestinationView>| match v {
                    Some(v) => Ok(destination_text(v)),
                    None => Err((
                        format!(
                            "no destination profile for {d} (see `danegate hoststatus {d}` for the one that applies)"
                        ),
                        EXIT_NOT_FOUND,
                    )),
                },
            )
        }
        DestconfigCmd::Add { domain, fields } => {
            let done = format!("Destination profile {domain} added and committed.");
            let form = fields.form(domain);
            change(name, &t, Request::AddDestination { form }, &done)
        }
        DestconfigCmd::Edit {
            domain,
            rename,
            fields,
        } => {
            let done = format!("Destination profile {domain} changed and committed.");
            let form = fields.form(rename.unwrap_or_default());
            change(name, &t, Request::EditDestination { domain, form }, &done)
        }
        DestconfigCmd::Delete { domain } => {
            let done = format!("Destination profile {domain} deleted and committed.");
            change(name, &t, Request::DeleteDestination { domain }, &done)
        }
    }
}

/// `danegate smtproutes ...`
pub fn smtproutes(args: SmtproutesArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    let name = "smtproutes";
    match args.cmd {
        SmtproutesCmd::List => query(name, &t, Request::Routes, |v: &Vec<RouteView>| {
            Ok(routes_text(v))
        }),
        SmtproutesCmd::Set { domain, hosts } => {
            let done = format!("SMTP route {domain} set and committed.");
            change(name, &t, Request::SetRoute { domain, hosts }, &done)
        }
        SmtproutesCmd::Delete { domain } => {
            let done = format!("SMTP route {domain} deleted and committed.");
            change(name, &t, Request::DeleteRoute { domain }, &done)
        }
    }
}

/// `danegate dnsconfig show/set`
pub fn dnsconfig(args: DnsconfigArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    match args.cmd {
        DnsconfigCmd::Set {
            resolvers,
            resolv_conf: _,
            timeout,
            trust_anchor,
        } => {
            let form = DnsForm {
                resolvers: resolvers.join("\n"),
                timeout_secs: timeout,
                trust_anchor_file: trust_anchor,
            };
            change(
                "dnsconfig",
                &t,
                Request::SetDns { form },
                "DNS settings set and committed.",
            )
        }
        DnsconfigCmd::Show => query("dnsconfig", &t, Request::Dns, |v: &DnsView| {
            let ups: Vec<Vec<String>> = v
                .upstreams
                .iter()
                .map(|u| {
                    vec![
                        u.address.clone(),
                        u.priority.to_string(),
                        u.capability.clone(),
                    ]
                })
                .collect();
            let mut out = String::from("Upstream resolvers:\n");
            out.push_str(&indent(&table(
                &["ADDRESS", "PRIORITY", "DNSSEC PROBE"],
                &ups,
            )));
            out.push_str(&format!("Timeout: {} s\n\n", v.timeout_secs));
            out.push_str(&format!("Trust anchors ({}):\n", v.anchor_source));
            let anchors: Vec<Vec<String>> = v
                .anchors
                .iter()
                .map(|a| {
                    vec![
                        a.owner.clone(),
                        a.kind.clone(),
                        a.text.clone(),
                        a.rfc5011.clone(),
                    ]
                })
                .collect();
            out.push_str(&indent(&table(
                &["ZONE", "TYPE", "DATA", "RFC 5011"],
                &anchors,
            )));
            Ok(out)
        }),
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// `danegate hoststatus DOMAIN`
pub fn hoststatus(args: HoststatusArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    query(
        "hoststatus",
        &t,
        Request::HostStatus {
            domain: args.domain,
        },
        |h: &HostStatus| {
            let mut out = format!("Host Status for: {}\n\n", h.domain);
            let c = &h.counts;
            let kv = [
                ("Active Recipients", c.active.to_string()),
                ("Connections Out", c.connections_out.to_string()),
                ("In Flight", c.in_flight.to_string()),
                ("Delivered Recipients", c.delivered.to_string()),
                ("Soft Bounced Events", c.soft_bounced.to_string()),
                ("Hard Bounced Recipients", c.hard_bounced.to_string()),
            ];
            for (k, v) in kv {
                out.push_str(&format!("{k:<24} {v}\n"));
            }
            match &c.last {
                Some(l) => {
                    out.push_str(&format!(
                        "{:<24} {} {} at {}\n",
                        "Last Outcome",
                        l.dane,
                        l.host.as_deref().unwrap_or("-"),
                        time_text(l.when)
                    ));
                    if let (Some(p), Some(ci)) = (&l.tls_protocol, &l.tls_cipher) {
                        out.push_str(&format!("{:<24} {p} {ci}\n", "Last TLS"));
                    }
                    out.push_str(&format!("{:<24} {}\n", "Last Detail", l.detail));
                }
                None => out.push_str(&format!("{:<24} -\n", "Last Outcome")),
            }
            out.push_str(&format!(
                "\nDestination profile applied: {}\n",
                h.profile.domain
            ));
            out.push_str(&indent(&destination_text(&h.profile)));
            match &h.route {
                Some(r) => {
                    out.push_str("\nSMTP route:\n");
                    out.push_str(&indent(&routes_text(std::slice::from_ref(r))));
                }
                None => out.push_str("\nSMTP route: none (MX delivery)\n"),
            }
            out.push_str("\nQueued recipients:\n");
            out.push_str(&indent(&queued_text(&h.queued)));
            Ok(out)
        },
    )
}

/// `danegate tophosts [N]`
pub fn tophosts(args: TophostsArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    query(
        "tophosts",
        &t,
        Request::TopHosts { n: args.n },
        |v: &Vec<DomainStatus>| {
            if v.is_empty() {
                return Ok("No destination domains yet.\n".into());
            }
            Ok(table(STATUS_HEADERS, &status_rows(v)))
        },
    )
}

/// `danegate queue ...`
pub fn queue(args: QueueArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    let name = "queue";
    match args.cmd {
        QueueCmd::List { domain, limit } => query(
            name,
            &t,
            Request::QueueList { domain, limit },
            |v: &Vec<QueuedView>| Ok(queued_text(v)),
        ),
        QueueCmd::Show { mid } => query(
            name,
            &t,
            Request::QueueShow { mid },
            move |v: &Option<MessageView>| {
                let Some(m) = v else {
                    return Err((format!("MID {mid} is not in the queue"), EXIT_NOT_FOUND));
                };
                let mut out = String::new();
                let kv = [
                    ("MID", m.mid.to_string()),
                    (
                        "Sender",
                        if m.sender.is_empty() {
                            "<>".into()
                        } else {
                            m.sender.clone()
                        },
                    ),
                    ("Subject", m.subject.clone().unwrap_or_default()),
                    ("Received", time_text(m.received_at)),
                    ("From", format!("{} (ICID {})", m.received_from, m.icid)),
                    ("Policy", m.policy.clone()),
                    ("Size", format!("{} bytes", m.size)),
                ];
                for (k, v) in kv {
                    out.push_str(&format!("{k:<9} {v}\n"));
                }
                let rows: Vec<Vec<String>> = m
                    .recipients
                    .iter()
                    .map(|r| {
                        vec![
                            r.rid.to_string(),
                            r.address.clone(),
                            if r.in_flight {
                                "in flight".into()
                            } else {
                                r.state.clone()
                            },
                            r.attempts.to_string(),
                            r.last_reason.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                out.push('\n');
                out.push_str(&table(
                    &["RID", "RECIPIENT", "STATE", "ATTEMPTS", "LAST REASON"],
                    &rows,
                ));
                Ok(out)
            },
        ),
        QueueCmd::Delivernow { domain } => {
            let what = domain.clone().unwrap_or_else(|| "all domains".into());
            query(
                name,
                &t,
                Request::DeliverNow { domain },
                move |n: &usize| {
                    Ok(format!(
                        "Delivery now requested for {what}: {n} recipient(s).\n"
                    ))
                },
            )
        }
        QueueCmd::Bounce { mid, rid } => {
            let r = match ask(name, &t, &Request::Bounce { mid, rid }) {
                Ok(r) => r,
                Err(code) => return code,
            };
            if !r.ok {
                eprintln!(
                    "danegate queue: {}",
                    r.error.as_deref().unwrap_or("refused")
                );
                return EXIT_NOT_FOUND;
            }
            let n: usize = match result(name, r) {
                Ok(n) => n,
                Err(code) => return code,
            };
            if t.json {
                println!("{n}");
            } else {
                println!("MID {mid}: {n} recipient(s) bounced; a DSN goes to the sender.");
            }
            0
        }
        QueueCmd::Delete { mid } => {
            query(name, &t, Request::Delete { mid }, move |found: &bool| {
                if *found {
                    Ok(format!("MID {mid} deleted.\n"))
                } else {
                    Err((format!("MID {mid} is not in the queue"), EXIT_NOT_FOUND))
                }
            })
        }
    }
}

/// `danegate tail LOG [-n N] [-f]`: reads the log file directly (not the socket).
pub fn tail(args: TailArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    let path = match &args.file {
        Some(f) => f.clone(),
        None => match t.data_dir() {
            Ok(d) => d.join("logs").join(&args.log),
            Err(e) => {
                eprintln!("danegate tail: {e}");
                return EXIT_USAGE;
            }
        },
    };
    if args.log.contains('/') || args.log.contains("..") {
        eprintln!("danegate tail: {}: not a log subscription name", args.log);
        return EXIT_USAGE;
    }
    let text = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if args.follow && e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            eprintln!("danegate tail: {}: {e}", path.display());
            return EXIT_TEMPFAIL;
        }
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines[lines.len().saturating_sub(args.lines)..] {
        println!("{l}");
    }
    if args.follow {
        follow(&path, text.len() as u64);
    }
    0
}

/// Prints what is appended to `path` from `offset` on, forever; starts again at the
/// beginning when the file was rotated (replaced or shorter).
fn follow(path: &Path, mut offset: u64) {
    use std::os::unix::fs::MetadataExt as _;
    let mut ino = std::fs::metadata(path).map(|m| m.ino()).ok();
    let mut partial = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if Some(meta.ino()) != ino || meta.len() < offset {
            ino = Some(meta.ino());
            offset = 0;
        }
        if meta.len() == offset {
            continue;
        }
        let Ok(mut f) = std::fs::File::open(path) else {
            continue;
        };
        if f.seek(SeekFrom::Start(offset)).is_err() {
            continue;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            continue;
        }
        offset += buf.len() as u64;
        partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(i) = partial.find('\n') {
            let line: String = partial.drain(..=i).collect();
            print!("{line}");
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
}

/// `danegate commit` through the control socket: the gateway re-reads its file,
/// validates and applies it. `None` when no gateway answers on the socket (the caller
/// falls back to SIGHUP); `Some(status)` otherwise.
pub fn commit_via_socket(data_dir: &Path) -> Option<u8> {
    let path = control::socket_path(data_dir);
    if !path.exists() {
        return None;
    }
    let r = match control::request(&path, &Request::Commit, TIMEOUT) {
        Ok(r) => r,
        Err(ClientError::NotRunning(_)) => return None,
        Err(e) => {
            eprintln!("danegate commit: {e}");
            return Some(EXIT_TEMPFAIL);
        }
    };
    if !r.ok {
        return Some(refused("commit", &r));
    }
    let msg: String = result("commit", r).unwrap_or_else(|_| "committed".into());
    println!("{msg}");
    Some(0)
}

/// Starts the control socket of `danegate serve` (`<data_dir>/control.sock`, 0600);
/// `hook` runs after each commit through the socket. Failure is logged, not fatal.
pub async fn start_control(
    running: &Arc<Running>,
    hook: Option<CommitHook>,
) -> Option<ControlServer> {
    let mut admin = Admin::new(running.clone());
    if let Some(h) = hook {
        admin = admin.with_commit_hook(h);
    }
    let path = control::socket_path(&running.config().server.data_dir);
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
pub async fn stop_control(control: Option<ControlServer>, running: Arc<Running>) {
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
pub fn logs_hook(logs: danegate_logs::LogsHandle) -> CommitHook {
    Arc::new(move |c: &Config| {
        logs.apply(&danegate_logs::subscriptions_from_config(c))
            .map_err(|e| format!("the log subscriptions stay as they were: {e}"))
    })
}
