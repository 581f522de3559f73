//! `[server]`: the gateway's host name (checked as a domain; the system's host name when
//! absent) and its data directory.

use std::path::PathBuf;

use super::{Ctx, Tab};
use crate::domain::check_domain;
use crate::limits;
use crate::model::*;

const SERVER: &[&str] = &["hostname", "data_dir", "node"];

pub(super) fn parse_server(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Server {
    let mut server = Server {
        hostname: String::new(),
        hostname_configured: false,
        data_dir: PathBuf::from(limits::DEFAULT_DATA_DIR),
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
