//! `[[listener]]`: the SMTP listeners; names and addresses unique, no two addresses that
//! cannot both be bound, STARTTLS certificate and key together, size, connection and
//! timeout limits.

use std::collections::HashMap;
use std::net::SocketAddr;

use toml::de::DeValue;

use super::{Ctx, Tab, secs, to_u32};
use crate::limits;
use crate::model::*;

const LISTENER: &[&str] = &[
    "name",
    "address",
    "tls_cert",
    "tls_key",
    "max_message_size",
    "max_recipients",
    "max_connections",
    "max_connections_per_client",
    "idle_timeout_secs",
    "max_errors",
    "command_timeout_secs",
    "data_timeout_secs",
    "session_timeout_secs",
    "reserved_relay_connections",
];

pub(super) fn parse_listeners(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<Listener> {
    let tabs = ctx.tables(root, "listener", LISTENER);
    if let Some(v) = root.get("listener")
        && matches!(v.get_ref(), DeValue::Array(a) if a.is_empty())
    {
        ctx.err("listener", v.span(), "must have at least one [[listener]]");
    }
    if tabs.is_empty() && !root.has("listener") {
        return vec![Listener::default_listener()];
    }
    let mut out: Vec<Listener> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut addrs: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, tab) in tabs {
        let mut l = Listener::default_listener();
        l.name = format!("listener{i}");
        if let Some(v) = tab.get("name")
            && let Some(n) = ctx.str_v(tab.key("name"), v)
        {
            if n.trim().is_empty() {
                ctx.err(tab.key("name"), v.span(), "must not be empty");
            } else {
                l.name = n.to_string();
            }
        }
        if let Some(j) = names.insert(l.name.clone(), i) {
            ctx.err(
                tab.key("name"),
                tab.span_of("name"),
                format!("duplicate listener name (also listener[{j}])"),
            );
        }
        if let Some(v) = tab.get("address")
            && let Some(a) = ctx.str_v(tab.key("address"), v)
        {
            match a.parse::<SocketAddr>() {
                Ok(a) => l.address = a,
                Err(_) => ctx.err(
                    tab.key("address"),
                    v.span(),
                    "must be IP:port, e.g. \"127.0.0.1:2525\" or \"[::1]:2525\"",
                ),
            }
        }
        if l.address.port() != 0
            && let Some(j) = addrs.insert(l.address, i)
        {
            ctx.err(
                tab.key("address"),
                tab.span_of("address"),
                format!("duplicate listener address (also listener[{j}])"),
            );
        }
        // 0.0.0.0:25 with 127.0.0.1:25: the second bind fails (address in use).
        for (j, other) in out.iter().enumerate() {
            let other: SocketAddr = other.address;
            if let Some(crate::coverage::Overlap::Certain) =
                crate::coverage::listener_overlap(other, l.address)
            {
                ctx.err(
                    tab.key("address"),
                    tab.span_of("address"),
                    format!(
                        "overlaps listener[{j}] ({other}): an unspecified address takes the \
                         port on every address of its family, so both cannot be bound; \
                         keep one of them"
                    ),
                );
            }
        }
        let cert = ctx.path(&tab, "tls_cert");
        let key = ctx.path(&tab, "tls_key");
        match (tab.has("tls_cert"), tab.has("tls_key")) {
            (true, false) => ctx.missing(
                tab.key("tls_key"),
                tab.span_of("tls_cert"),
                "is required when tls_cert is set (STARTTLS needs both)",
            ),
            (false, true) => ctx.missing(
                tab.key("tls_cert"),
                tab.span_of("tls_key"),
                "is required when tls_key is set (STARTTLS needs both)",
            ),
            _ => {}
        }
        if let (Some(cert), Some(key)) = (cert, key) {
            l.tls = Some(ListenerTls { cert, key });
        }
        let (lo, hi) = limits::MAX_MESSAGE_SIZE;
        if let Some(n) = ctx.int(&tab, "max_message_size", lo, hi) {
            l.max_message_size = u64::try_from(n).unwrap_or(0);
        }
        let (lo, hi) = limits::MAX_RECIPIENTS;
        if let Some(n) = ctx.int(&tab, "max_recipients", lo, hi) {
            l.max_recipients = to_u32(n);
        }
        let (lo, hi) = limits::MAX_CONNECTIONS;
        if let Some(n) = ctx.int(&tab, "max_connections", lo, hi) {
            l.max_connections = to_u32(n);
        }
        l.max_connections_per_client = l.max_connections_per_client.min(l.max_connections);
        if let Some(n) = ctx.int(
            &tab,
            "max_connections_per_client",
            1,
            i64::from(l.max_connections),
        ) {
            l.max_connections_per_client = to_u32(n);
        }
        let (lo, hi) = limits::IDLE_TIMEOUT_SECS;
        if let Some(n) = ctx.int(&tab, "idle_timeout_secs", lo, hi) {
            l.idle_timeout = secs(n);
        }
        let (lo, hi) = limits::MAX_ERRORS;
        if let Some(n) = ctx.int(&tab, "max_errors", lo, hi) {
            l.max_errors = to_u32(n);
        }
        listener_slow_client_limits(ctx, &tab, &mut l);
        out.push(l);
    }
    out
}

/// The slow-client limits of a listener (RFC 5321 §4.5.3.2 timeouts, RELAY slots).
fn listener_slow_client_limits(ctx: &mut Ctx<'_>, tab: &Tab<'_, '_>, l: &mut Listener) {
    for (key, (lo, hi), slot) in [
        (
            "command_timeout_secs",
            limits::COMMAND_TIMEOUT_SECS,
            &mut l.command_timeout,
        ),
        (
            "data_timeout_secs",
            limits::DATA_TIMEOUT_SECS,
            &mut l.data_timeout,
        ),
        (
            "session_timeout_secs",
            limits::SESSION_TIMEOUT_SECS,
            &mut l.session_timeout,
        ),
    ] {
        if let Some(n) = ctx.int(tab, key, lo, hi) {
            *slot = secs(n);
        }
    }
    // Default: 50, at most a tenth of max_connections (a small listener must not
    // reserve all its slots and turn every ACCEPT client away).
    l.reserved_relay_connections = l.reserved_relay_connections.min(l.max_connections / 10);
    if let Some(n) = ctx.int(
        tab,
        "reserved_relay_connections",
        0,
        i64::from(l.max_connections),
    ) {
        l.reserved_relay_connections = to_u32(n);
    }
}
