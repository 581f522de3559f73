//! `Config` back to TOML, for the admin CLI that persists changes.

use std::fmt::Write as _;
use std::path::Path;

use crate::Config;
use crate::model::*;
use crate::parse::inherited_dane;

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

fn list<T: ToString>(items: &[T]) -> String {
    let inner = items
        .iter()
        .map(|i| quote(&i.to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    format!("[{inner}]")
}

fn recipient_limit(l: &Option<RecipientLimit>) -> String {
    match l {
        None => quote("none"),
        Some(l) => format!(
            "{{ recipients = {}, per_minutes = {} }}",
            l.recipients,
            l.interval.as_secs() / 60
        ),
    }
}

fn interface(i: &Option<std::net::IpAddr>) -> String {
    match i {
        None => quote("none"),
        Some(ip) => quote(&ip.to_string()),
    }
}

pub(crate) fn to_toml(c: &Config) -> String {
    let mut o = String::new();
    o.push_str("# danegate configuration; see docs/configuration.md\n\n");
    if c.sender_groups.is_empty() {
        // No sender group at all (every client refused); absent would mean the default.
        o.push_str("sender_group = []\n\n");
    }
    o.push_str("[server]\n");
    if c.server.hostname_configured {
        let _ = writeln!(o, "hostname = {}", quote(&c.server.hostname));
    }
    let _ = writeln!(o, "data_dir = {}", path(&c.server.data_dir));
    if let Some(p) = &c.server.ca_file {
        let _ = writeln!(o, "ca_file = {}", path(p));
    }
    if c.server.connection_cache_idle.as_millis()
        != u128::from(crate::limits::DEFAULT_CONNECTION_CACHE_IDLE_MS)
    {
        let _ = writeln!(
            o,
            "connection_cache_idle_ms = {}",
            c.server.connection_cache_idle.as_millis()
        );
    }
    if let Some(node) = &c.server.node {
        let _ = writeln!(o, "node = {}", quote(node));
    }
    write_queue(&mut o, &c.queue);

    for l in &c.listeners {
        let _ = writeln!(o, "\n[[listener]]\nname = {}", quote(&l.name));
        let _ = writeln!(o, "address = {}", quote(&l.address.to_string()));
        if let Some(tls) = &l.tls {
            let _ = writeln!(o, "tls_cert = {}", path(&tls.cert));
            let _ = writeln!(o, "tls_key = {}", path(&tls.key));
        }
        let _ = writeln!(o, "max_message_size = {}", l.max_message_size);
        let _ = writeln!(o, "max_recipients = {}", l.max_recipients);
        let _ = writeln!(o, "max_connections = {}", l.max_connections);
        let _ = writeln!(
            o,
            "max_connections_per_client = {}",
            l.max_connections_per_client
        );
        let _ = writeln!(o, "idle_timeout_secs = {}", l.idle_timeout.as_secs());
        let _ = writeln!(o, "max_errors = {}", l.max_errors);
        let _ = writeln!(o, "command_timeout_secs = {}", l.command_timeout.as_secs());
        let _ = writeln!(o, "data_timeout_secs = {}", l.data_timeout.as_secs());
        let _ = writeln!(o, "session_timeout_secs = {}", l.session_timeout.as_secs());
        let _ = writeln!(
            o,
            "reserved_relay_connections = {}",
            l.reserved_relay_connections
        );
    }

    for g in &c.sender_groups {
        let _ = writeln!(o, "\n[[sender_group]]\nname = {}", quote(&g.name));
        let _ = writeln!(o, "senders = {}", list(&g.senders));
        let _ = writeln!(o, "policy = {}", quote(g.policy.as_str()));
    }

    if !c.recipient_access.domains.is_empty() {
        let _ = writeln!(
            o,
            "\n[recipient_access]\ndomains = {}",
            list(&c.recipient_access.domains)
        );
    }

    o.push_str("\n[dns]\n");
    if !c.dns.resolvers.is_empty() {
        o.push_str("resolvers = [\n");
        for r in &c.dns.resolvers {
            let _ = writeln!(
                o,
                "    {{ address = {}, priority = {} }},",
                quote(&r.address.to_string()),
                r.priority
            );
        }
        o.push_str("]\n");
    }
    if let Some(p) = &c.dns.trust_anchor_file {
        let _ = writeln!(o, "trust_anchor_file = {}", path(p));
    }
    let _ = writeln!(o, "timeout_secs = {}", c.dns.timeout.as_secs());

    let d = &c.default_destination;
    o.push_str("\n[[destination]]\ndomain = \"default\"\n");
    let _ = writeln!(o, "ip_preference = {}", quote(d.ip_preference.as_str()));
    let _ = writeln!(
        o,
        "max_concurrent_connections = {}",
        d.max_concurrent_connections
    );
    let _ = writeln!(
        o,
        "max_messages_per_connection = {}",
        d.max_messages_per_connection
    );
    if d.recipient_limit.is_some() {
        let _ = writeln!(
            o,
            "recipient_limit = {}",
            recipient_limit(&d.recipient_limit)
        );
    }
    let _ = writeln!(o, "apply_limits = {}", quote(d.apply_limits.as_str()));
    if d.outbound_interface.is_some() {
        let _ = writeln!(
            o,
            "outbound_interface = {}",
            interface(&d.outbound_interface)
        );
    }
    let _ = writeln!(o, "tls = {}", quote(d.tls.as_str()));
    let _ = writeln!(o, "dane = {}", quote(d.dane.as_str()));
    let _ = writeln!(o, "bounce_profile = {}", quote(&d.bounce_profile));
    if d.bounce_verification {
        let _ = writeln!(o, "bounce_verification = true");
    }
    if d.mta_sts != MtaSts::On {
        let _ = writeln!(o, "mta_sts = {}", quote(d.mta_sts.as_str()));
    }

    for p in &c.destinations {
        write_profile(&mut o, p, d);
    }

    for r in &c.smtp_routes {
        let _ = writeln!(
            o,
            "\n[[smtp_route]]\ndomain = {}",
            quote(&r.domain.to_string())
        );
        let hosts = match &r.hosts {
            RouteHosts::UseDns => list(&["USEDNS"]),
            RouteHosts::Hosts(h) => list(h),
        };
        let _ = writeln!(o, "hosts = {hosts}");
    }

    for b in &c.bounce_profiles {
        let _ = writeln!(o, "\n[[bounce_profile]]\nname = {}", quote(&b.name));
        let _ = writeln!(o, "initial_retry_secs = {}", b.initial_retry.as_secs());
        let _ = writeln!(
            o,
            "max_retry_interval_secs = {}",
            b.max_retry_interval.as_secs()
        );
        let _ = writeln!(o, "max_retries = {}", b.max_retries);
        let _ = writeln!(o, "max_queue_time_secs = {}", b.max_queue_time.as_secs());
        let _ = writeln!(
            o,
            "delay_warning_after_secs = {}",
            b.delay_warning_after.map_or(0, |d| d.as_secs())
        );
        let _ = writeln!(o, "hard_bounces = {}", b.hard_bounces);
    }

    for l in &c.logs {
        let _ = writeln!(o, "\n[[log]]\nname = {}", quote(&l.name));
        if let Some(f) = &l.file {
            let _ = writeln!(o, "file = {}", path(f));
        }
        let _ = writeln!(o, "level = {}", quote(l.level.as_str()));
        let _ = writeln!(o, "format = {}", quote(l.format.as_str()));
        let _ = writeln!(
            o,
            "rotate_size_bytes = {}",
            l.rotate_size_bytes.unwrap_or(0)
        );
        let _ = writeln!(
            o,
            "rotate_interval = {}",
            quote(l.rotate_interval.map_or("none", |i| i.as_str()))
        );
        let _ = writeln!(o, "max_files = {}", l.max_files);
    }
    write_tls_rpt(&mut o, &c.tls_rpt);
    o
}

/// `[tls_rpt]`, only when it differs from the default (off).
fn write_tls_rpt(o: &mut String, t: &crate::TlsRpt) {
    if *t == crate::TlsRpt::default() {
        return;
    }
    let _ = writeln!(o, "\n[tls_rpt]\nenabled = {}", t.enabled);
    for (k, v) in [
        ("organization_name", &t.organization_name),
        ("contact_info", &t.contact_info),
        ("sender", &t.sender),
        ("submitter", &t.submitter),
    ] {
        if !v.is_empty() {
            let _ = writeln!(o, "{k} = {}", quote(v));
        }
    }
    let _ = writeln!(o, "send_time = {}", quote(&t.send_time_text()));
}

/// A non-default profile: the fields written in the file, plus any whose value differs
/// from what it would inherit from the default profile (so programmatic edits persist).
fn write_profile(o: &mut String, p: &DestinationProfile, d: &DestinationProfile) {
    let e = &p.explicit;
    let _ = writeln!(
        o,
        "\n[[destination]]\ndomain = {}",
        quote(&p.domain.to_string())
    );
    if e.ip_preference || p.ip_preference != d.ip_preference {
        let _ = writeln!(o, "ip_preference = {}", quote(p.ip_preference.as_str()));
    }
    if e.max_concurrent_connections || p.max_concurrent_connections != d.max_concurrent_connections
    {
        let _ = writeln!(
            o,
            "max_concurrent_connections = {}",
            p.max_concurrent_connections
        );
    }
    if e.max_messages_per_connection
        || p.max_messages_per_connection != d.max_messages_per_connection
    {
        let _ = writeln!(
            o,
            "max_messages_per_connection = {}",
            p.max_messages_per_connection
        );
    }
    if e.recipient_limit || p.recipient_limit != d.recipient_limit {
        let _ = writeln!(
            o,
            "recipient_limit = {}",
            recipient_limit(&p.recipient_limit)
        );
    }
    if e.apply_limits || p.apply_limits != d.apply_limits {
        let _ = writeln!(o, "apply_limits = {}", quote(p.apply_limits.as_str()));
    }
    if e.outbound_interface || p.outbound_interface != d.outbound_interface {
        let _ = writeln!(
            o,
            "outbound_interface = {}",
            interface(&p.outbound_interface)
        );
    }
    if e.tls || p.tls != d.tls {
        let _ = writeln!(o, "tls = {}", quote(p.tls.as_str()));
    }
    if e.dane || p.dane != inherited_dane(p.tls, d.dane) {
        let _ = writeln!(o, "dane = {}", quote(p.dane.as_str()));
    }
    if e.bounce_profile || p.bounce_profile != d.bounce_profile {
        let _ = writeln!(o, "bounce_profile = {}", quote(&p.bounce_profile));
    }
    if e.bounce_verification || p.bounce_verification != d.bounce_verification {
        let _ = writeln!(o, "bounce_verification = {}", p.bounce_verification);
    }
    if e.mta_sts || p.mta_sts != d.mta_sts {
        let _ = writeln!(o, "mta_sts = {}", quote(p.mta_sts.as_str()));
    }
}

/// `[queue]`, only when it differs from the default (SQLite).
fn write_queue(o: &mut String, q: &crate::QueueSettings) {
    if *q == crate::QueueSettings::default() {
        return;
    }
    let _ = writeln!(o, "\n[queue]\nbackend = {}", quote(q.backend.as_str()));
    if let Some(u) = &q.url {
        let _ = writeln!(o, "url = {}", quote(u));
    }
    match &q.password {
        Some(crate::PasswordSource::File(f)) => {
            let _ = writeln!(o, "password_file = {}", path(f));
        }
        Some(crate::PasswordSource::Env(e)) => {
            let _ = writeln!(o, "password_env = {}", quote(e));
        }
        None => {}
    }
    let _ = writeln!(o, "tls = {}", q.tls);
    if let Some(f) = &q.tls_ca_file {
        let _ = writeln!(o, "tls_ca_file = {}", path(f));
    }
    let _ = writeln!(o, "pool_size = {}", q.pool_size);
    let _ = writeln!(o, "lease_secs = {}", q.lease.as_secs());
}
