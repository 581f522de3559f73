//! `[[sender_group]]`: the host access table (HAT); each group's senders (addresses,
//! networks, host names, `.domain`s or `ALL`) and its policy, with no RELAY group that
//! covers a whole address family (an open relay).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Ctx, Tab};
use crate::domain::check_domain;
use crate::model::*;

const SENDER_GROUP: &[&str] = &["name", "senders", "policy"];

fn parse_sender(text: &str) -> Result<SenderPattern, String> {
    if text.eq_ignore_ascii_case("ALL") {
        return Ok(SenderPattern::All);
    }
    if text.contains('/') {
        let net: IpNet = text
            .parse()
            .map_err(|_| "must be an IP network such as 10.0.0.0/8 or 2001:db8::/32".to_string())?;
        if net.trunc() != net {
            return Err(format!(
                "has host bits set after the prefix: did you mean {}?",
                net.trunc()
            ));
        }
        return Ok(SenderPattern::Net(net));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SenderPattern::Net(IpNet::from(ip)));
    }
    if let Some(rest) = text.strip_prefix('.') {
        return check_domain(rest).map(SenderPattern::DomainSuffix);
    }
    check_domain(text).map(SenderPattern::Host).map_err(|m| {
        format!("{m}; expected an IP address, a CIDR network, a host name, a .domain or ALL")
    })
}

pub(super) fn parse_sender_groups(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<SenderGroup> {
    let tabs = ctx.tables(root, "sender_group", SENDER_GROUP);
    if tabs.is_empty() && !root.has("sender_group") {
        return vec![SenderGroup::default_relaylist()];
    }
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, tab) in tabs {
        let mut name = format!("group{i}");
        if let Some(v) = tab.get("name")
            && let Some(n) = ctx.str_v(tab.key("name"), v)
        {
            if n.trim().is_empty() {
                ctx.err(tab.key("name"), v.span(), "must not be empty");
            } else {
                name = n.to_string();
            }
        }
        if let Some(j) = names.insert(name.to_ascii_uppercase(), i) {
            ctx.err(
                tab.key("name"),
                tab.span_of("name"),
                format!("duplicate sender group name (also sender_group[{j}])"),
            );
        }
        let mut senders = Vec::new();
        match tab.get("senders") {
            None => ctx.missing(
                tab.key("senders"),
                tab.span.clone(),
                "is required: a list of IP addresses, CIDR networks, host names, .domains or \"ALL\"",
            ),
            Some(v) => {
                if let Some(items) = ctx.arr_v(tab.key("senders"), v) {
                    if items.is_empty() {
                        ctx.err(tab.key("senders"), v.span(), "must not be empty");
                    }
                    for (j, item) in items.iter().enumerate() {
                        let key = format!("{}[{j}]", tab.key("senders"));
                        if let Some(s) = ctx.str_v(key.clone(), item) {
                            match parse_sender(s) {
                                Ok(p) => senders.push(p),
                                Err(m) => ctx.err(key, item.span(), m),
                            }
                        }
                    }
                }
            }
        }
        let policy = match tab.get("policy") {
            None => {
                ctx.missing(
                    tab.key("policy"),
                    tab.span.clone(),
                    "is required: one of \"RELAY\", \"ACCEPT\", \"REJECT\", \"TCPREFUSE\"",
                );
                Policy::Reject
            }
            Some(v) => ctx
                .choice_v(tab.key("policy"), v, Policy::ALL)
                .unwrap_or(Policy::Reject),
        };
        // The union of the group's networks, not each one alone: 0.0.0.0/1 +
        // 128.0.0.0/1 relays for everyone just as 0.0.0.0/0 does.
        if policy == Policy::Relay
            && let Some(open) = crate::coverage::covers_a_whole_family(&senders)
        {
            ctx.err(
                tab.key("policy"),
                tab.span_of("policy"),
                format!(
                    "RELAY for {open} would make an open relay (never allowed: anyone could \
                     send mail anywhere through the gateway); use ACCEPT with a \
                     [recipient_access] table, or list your networks"
                ),
            );
        }
        out.push(SenderGroup {
            name,
            senders,
            policy,
        });
    }
    out
}
