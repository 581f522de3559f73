//! `[[smtp_route]]`: SMTP routes; a domain pattern and its hosts (`host[:port]`, IP
//! addresses, `[IPv6]:port`) or `USEDNS` alone; domains unique.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{Ctx, Tab, V};
use crate::domain::{DomainPattern, check_domain};
use crate::model::*;

const ROUTE: &[&str] = &["domain", "hosts"];

fn parse_route_host(text: &str) -> Result<RouteHost, String> {
    const HELP: &str =
        "must be \"host\", \"host:port\", \"IP\", \"IP:port\", \"[IPv6]:port\" or \"USEDNS\"";
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err("port must be between 1 and 65535".to_string()),
        }
    };
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(RouteHost {
            host: RouteHostName::Ip(ip),
            port: 25,
        });
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err("port must be between 1 and 65535".to_string());
        }
        return Ok(RouteHost {
            host: RouteHostName::Ip(sa.ip()),
            port: sa.port(),
        });
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<IpAddr>()
    {
        return Ok(RouteHost {
            host: RouteHostName::Ip(ip),
            port: 25,
        });
    }
    if text.starts_with('[') {
        return Err(HELP.to_string());
    }
    let (name, p) = match text.rsplit_once(':') {
        Some((n, p)) => (n, port(p)?),
        None => (text, 25),
    };
    let name = check_domain(name).map_err(|m| format!("{m}; {HELP}"))?;
    Ok(RouteHost {
        host: RouteHostName::Name(name),
        port: p,
    })
}

pub(super) fn parse_routes(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<SmtpRoute> {
    let tabs = ctx.tables(root, "smtp_route", ROUTE);
    let mut out: Vec<SmtpRoute> = Vec::new();
    let mut seen: HashMap<DomainPattern, usize> = HashMap::new();
    for (i, tab) in tabs {
        let domain = match tab.get("domain") {
            None => {
                ctx.missing(
                    tab.key("domain"),
                    tab.span.clone(),
                    "is required: \"internal.example\" or \".internal.example\"",
                );
                None
            }
            Some(v) => ctx.domain_v(tab.key("domain"), v),
        };
        if let Some(d) = &domain
            && let Some(j) = seen.insert(d.clone(), i)
        {
            ctx.err(
                tab.key("domain"),
                tab.span_of("domain"),
                format!("duplicate SMTP route (also smtp_route[{j}])"),
            );
        }
        let hosts_key = tab.key("hosts");
        let hosts = match tab.get("hosts") {
            None => {
                ctx.missing(
                    hosts_key,
                    tab.span.clone(),
                    "is required: [\"host[:port]\", ...] or [\"USEDNS\"]",
                );
                None
            }
            Some(v) => parse_hosts(ctx, hosts_key, v),
        };
        if let (Some(domain), Some(hosts)) = (domain, hosts) {
            out.push(SmtpRoute { domain, hosts });
        }
    }
    out
}

fn parse_hosts(ctx: &mut Ctx<'_>, key: String, v: &V<'_>) -> Option<RouteHosts> {
    let items = ctx.arr_v(key.clone(), v)?;
    if items.is_empty() {
        ctx.err(key, v.span(), "must list at least one host, or \"USEDNS\"");
        return None;
    }
    let mut hosts = Vec::new();
    let mut usedns = false;
    let mut ok = true;
    for (j, item) in items.iter().enumerate() {
        let k = format!("{key}[{j}]");
        let Some(s) = ctx.str_v(k.clone(), item) else {
            ok = false;
            continue;
        };
        if s.eq_ignore_ascii_case("USEDNS") {
            usedns = true;
            continue;
        }
        match parse_route_host(s) {
            Ok(h) => hosts.push(h),
            Err(m) => {
                ok = false;
                ctx.err(k, item.span(), m);
            }
        }
    }
    if usedns && (!hosts.is_empty() || items.len() > 1) {
        ctx.err(key, v.span(), "\"USEDNS\" must be the only entry when used");
        return None;
    }
    if !ok {
        return None;
    }
    Some(if usedns {
        RouteHosts::UseDns
    } else {
        RouteHosts::Hosts(hosts)
    })
}
