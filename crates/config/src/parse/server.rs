//! `[server]`: the gateway's host name (checked as a domain; the system's host name when
//! absent), its data directory, the operator's extra CA file and the delivery
//! connection cache's idle limit.

use std::path::PathBuf;
use std::time::Duration;

use super::{Ctx, Tab};
use crate::domain::check_domain;
use crate::limits;
use crate::model::*;

const SERVER: &[&str] = &[
    "hostname",
    "data_dir",
    "ca_file",
    "connection_cache_idle_ms",
    "node",
];

pub(super) fn parse_server(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Server {
    let mut server = Server {
        hostname: String::new(),
        hostname_configured: false,
        data_dir: PathBuf::from(limits::DEFAULT_DATA_DIR),
        ca_file: None,
        connection_cache_idle: Duration::from_millis(limits::DEFAULT_CONNECTION_CACHE_IDLE_MS),
        node: None,
    };
    let tab = root
        .get("server")
        .and_then(|v| ctx.table("server".into(), v, SERVER));
    if let Some(tab) = tab {
        if let Some(v) = tab.get("hostname")
            && let Some(h) = ctx.str_v(tab.key("hostname"), v)
        {
            match check_domain(h) {
                Ok(h) => {
                    server.hostname = h;
                    server.hostname_configured = true;
                }
                Err(m) => ctx.err(tab.key("hostname"), v.span(), m),
            }
        }
        if let Some(p) = ctx.path(&tab, "data_dir") {
            server.data_dir = p;
        }
        server.ca_file = ctx.path(&tab, "ca_file");
        let (lo, hi) = limits::CONNECTION_CACHE_IDLE_MS;
        if let Some(ms) = ctx.int(&tab, "connection_cache_idle_ms", lo, hi) {
            server.connection_cache_idle = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        }
        if let Some(v) = tab.get("node")
            && let Some(n) = ctx.str_v(tab.key("node"), v)
        {
            match crate::queue::check_node(n) {
                Ok(()) => server.node = Some(n.to_string()),
                Err(m) => ctx.err(tab.key("node"), v.span(), m),
            }
        }
    }
    if !server.hostname_configured {
        server.hostname = crate::system_hostname();
    }
    server
}
