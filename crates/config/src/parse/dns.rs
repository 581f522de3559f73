//! `[dns]`: the resolvers (address and priority), the trust anchor file, the query
//! timeout and the clock skew allowed on RRSIG inception and expiration (RFC 4035 §5.3.1),
//! minimum not above maximum.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use toml::de::DeValue;

use super::{Ctx, Tab, secs};
use crate::limits;
use crate::model::*;

const DNS: &[&str] = &[
    "resolvers",
    "trust_anchor_file",
    "timeout_secs",
    "sig_skew_min_secs",
    "sig_skew_max_secs",
];
const RESOLVER: &[&str] = &["address", "priority"];

fn parse_resolver_addr(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    text.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

pub(super) fn parse_dns(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Dns {
    let mut dns = Dns {
        resolvers: Vec::new(),
        trust_anchor_file: None,
        timeout: Duration::from_secs(limits::DEFAULT_DNS_TIMEOUT_SECS),
        sig_skew_min_secs: limits::DEFAULT_DNS_SIG_SKEW_MIN_SECS,
        sig_skew_max_secs: limits::DEFAULT_DNS_SIG_SKEW_MAX_SECS,
    };
    let Some(tab) = root
        .get("dns")
        .and_then(|v| ctx.table("dns".into(), v, DNS))
    else {
        return dns;
    };
    if let Some(v) = tab.get("resolvers")
        && let Some(items) = ctx.arr_v(tab.key("resolvers"), v)
    {
        for (j, item) in items.iter().enumerate() {
            let key = format!("{}[{j}]", tab.key("resolvers"));
            let (addr_v, addr_key, priority) = match item.get_ref() {
                DeValue::String(_) => (Some(item), key.clone(), 0),
                DeValue::Table(_) => {
                    let Some(rt) = ctx.table(key.clone(), item, RESOLVER) else {
                        continue;
                    };
                    let (lo, hi) = limits::RESOLVER_PRIORITY;
                    let p = ctx.int(&rt, "priority", lo, hi).unwrap_or(0);
                    if !rt.has("address") {
                        ctx.missing(
                            rt.key("address"),
                            item.span(),
                            "is required, e.g. \"127.0.0.1:53\"",
                        );
                    }
                    (rt.get("address"), rt.key("address"), p)
                }
                _ => {
                    ctx.err(
                        key,
                        item.span(),
                        "must be { address = \"IP[:port]\", priority = N } or \"IP[:port]\"",
                    );
                    continue;
                }
            };
            let Some(addr_v) = addr_v else { continue };
            let Some(text) = ctx.str_v(addr_key.clone(), addr_v) else {
                continue;
            };
            match parse_resolver_addr(text) {
                Some(address) => {
                    if dns.resolvers.iter().any(|r| r.address == address) {
                        ctx.err(addr_key, addr_v.span(), "duplicate resolver");
                    } else {
                        dns.resolvers.push(Resolver {
                            address,
                            priority: u16::try_from(priority).unwrap_or(0),
                        });
                    }
                }
                None => ctx.err(
                    addr_key,
                    addr_v.span(),
                    "must be an IP address with an optional port, e.g. \"127.0.0.1:53\" or \"[::1]:53\"",
                ),
            }
        }
    }
    dns.trust_anchor_file = ctx.path(&tab, "trust_anchor_file");
    let (lo, hi) = limits::DNS_TIMEOUT_SECS;
    if let Some(n) = ctx.int(&tab, "timeout_secs", lo, hi) {
        dns.timeout = secs(n);
    }
    let (lo, hi) = limits::DNS_SIG_SKEW_SECS;
    if let Some(n) = ctx.int(&tab, "sig_skew_min_secs", lo, hi) {
        dns.sig_skew_min_secs = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = ctx.int(&tab, "sig_skew_max_secs", lo, hi) {
        dns.sig_skew_max_secs = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if dns.sig_skew_min_secs > dns.sig_skew_max_secs
        && let Some(v) = tab.get("sig_skew_min_secs")
    {
        ctx.err(
            tab.key("sig_skew_min_secs"),
            v.span(),
            format!(
                "must not exceed sig_skew_max_secs ({})",
                dns.sig_skew_max_secs
            ),
        );
    }
    dns
}
