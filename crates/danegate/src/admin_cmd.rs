//! The admin CLI: `destconfig`, `smtproutes`, `dnsconfig`, `hoststatus`, `tophosts`,
//! `queue`, `tail`, talking to the running gateway over its control socket
//! (`<data_dir>/control.sock`, see `danegate_admin::control`): arguments in [`args`],
//! the socket client in [`client`], text renderers in [`render`], the handlers here.
//! The socket's start and stop are in `danegate serve` (crate::serve).
//!
//! Exit status: 0 done; 1 not found (unknown profile, route or message); 2 bad command
//! line or a change refused by validation (each error names the field, the key, the
//! value and the allowed range); 75 no running gateway answers.

mod args;
mod client;
mod readiness;
mod render;
mod tlsrpt;

use std::{
    io::{Read as _, Seek as _, SeekFrom},
    path::Path,
    time::Duration,
};

use danegate_admin::{
    DestinationView, DnsForm, DnsView, DomainStatus, HostStatus, MessageView, QueuedView,
    RouteView, control::Request,
};

pub use args::{
    DestconfigArgs, DnsconfigArgs, HoststatusArgs, QueueArgs, SmtproutesArgs, TailArgs, Target,
    TophostsArgs,
};
use args::{DestconfigCmd, DnsconfigCmd, QueueCmd, SmtproutesCmd};
pub use client::commit_via_socket;
use client::{ask, change, query, result};
pub use readiness::{ReadinessArgs, readiness};
use render::{
    STATUS_HEADERS, destination_text, indent, limit_text, queued_text, routes_text, status_rows,
    table, time_text,
};
pub use tlsrpt::{TlsrptArgs, tlsrpt};

use crate::{EXIT_TEMPFAIL, EXIT_USAGE};

/// Exit status: the profile, route or message does not exist.
pub const EXIT_NOT_FOUND: u8 = 1;

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
                    if let Some(t) = &l.tried {
                        out.push_str(&format!("{:<24} {t}\n", "Last Host Tried"));
                    }
                    out.push_str(&format!("{:<24} {}\n", "Last TLS", l.tls_text()));
                    out.push_str(&format!("{:<24} {}\n", "Last Detail", l.detail));
                    out.push_str(&readiness::shadow_lines(l.shadow.as_ref()));
                }
                None => out.push_str(&format!("{:<24} -\n", "Last Outcome")),
            }
            if let Some(s) = &h.mta_sts {
                for (k, v) in s.lines() {
                    out.push_str(&format!("{k:<24} {v}\n"));
                }
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
                    ("Node", m.node.clone()),
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
                            r.node.clone(),
                            r.last_reason.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                out.push('\n');
                out.push_str(&table(
                    &[
                        "RID",
                        "RECIPIENT",
                        "STATE",
                        "ATTEMPTS",
                        "NODE",
                        "LAST REASON",
                    ],
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
    for l in lines.iter().skip(lines.len().saturating_sub(args.lines)) {
        println!("{}", danegate_logs::escape_for_terminal(l));
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
            print!("{}", danegate_logs::escape_for_terminal(&line));
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
}
