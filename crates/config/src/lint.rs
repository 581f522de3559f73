//! Lints: valid configurations that will probably not do what the administrator wants.

use crate::Config;
use crate::domain::{DomainPattern, is_below};
use crate::model::*;

/// The profile that governs mail for a route's domain pattern. For `.example.com` it is
/// the most specific `.suffix` profile covering every subdomain, else the default.
pub(crate) fn profile_for_pattern<'c>(
    config: &'c Config,
    pattern: &DomainPattern,
) -> &'c DestinationProfile {
    match pattern {
        DomainPattern::Exact(d) => config.destination_for(d),
        DomainPattern::Subdomains(d) => config
            .destinations
            .iter()
            .filter_map(|p| match &p.domain {
                DestinationDomain::Pattern(DomainPattern::Subdomains(x))
                    if x == d || is_below(d, x) =>
                {
                    Some((x.len(), p))
                }
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map_or(&config.default_destination, |(_, p)| p),
    }
}

/// Does the RAT accept some recipient domain that `pattern` also matches?
fn rat_overlaps(config: &Config, pattern: &DomainPattern) -> bool {
    config
        .recipient_access
        .domains
        .iter()
        .any(|rat| match (pattern, rat) {
            (DomainPattern::Exact(d), r) => r.matches(d),
            (DomainPattern::Subdomains(d), DomainPattern::Exact(e)) => is_below(e, d),
            (DomainPattern::Subdomains(d), DomainPattern::Subdomains(e)) => {
                d == e || is_below(d, e) || is_below(e, d)
            }
        })
}

fn duration_text(secs: u64) -> String {
    if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

pub(crate) fn lints(config: &Config) -> Vec<Lint> {
    let mut out = Vec::new();
    route_dane_lints(config, &mut out);

    for p in std::iter::once(&config.default_destination).chain(&config.destinations) {
        if let Some(limit) = p.recipient_limit
            && limit.recipients == 0
        {
            let scope = if p.is_default() {
                "any domain without its own profile".to_string()
            } else {
                p.domain.to_string()
            };
            out.push(Lint {
                key: format!("destination(\"{}\").recipient_limit", p.domain),
                message: format!(
                    "recipients = 0: nothing will be delivered to {scope} (0 recipients per {} minutes)",
                    limit.interval.as_secs() / 60
                ),
                fix: "remove recipient_limit (or set it to \"none\") for no limit, or set recipients above 0"
                    .to_string(),
            });
        }
        if p.tls == TlsSupport::None && p.mta_sts == MtaSts::On {
            out.push(Lint {
                key: format!("destination(\"{}\").mta_sts", p.domain),
                message: "tls = \"none\" meets mta_sts = \"on\": a domain publishing an MTA-STS \
                          policy in enforce mode still gets verified TLS (RFC 8461 §5: the policy \
                          raises TLS Support), others get no TLS"
                    .to_string(),
                fix: "set mta_sts = \"off\" in this profile to never use TLS, or choose a tls value other than \"none\""
                    .to_string(),
            });
        }
    }

    let has_accept = config
        .sender_groups
        .iter()
        .any(|g| g.policy == Policy::Accept);
    if has_accept && config.recipient_access.domains.is_empty() {
        out.push(Lint {
            key: "recipient_access.domains".to_string(),
            message: "a sender group has policy ACCEPT but the Recipient Access Table is empty: \
                      every recipient from those senders will be refused"
                .to_string(),
            fix: "list the accepted domains in [recipient_access] domains, or use RELAY for trusted senders"
                .to_string(),
        });
    }

    relay_and_listener_lints(config, &mut out);

    if let Some(first_all) = config
        .sender_groups
        .iter()
        .position(|g| g.senders.contains(&SenderPattern::All))
    {
        for (i, g) in config.sender_groups.iter().enumerate().skip(first_all + 1) {
            out.push(Lint {
                key: format!("sender_group[{i}]"),
                message: format!(
                    "sender group \"{}\" is never used: sender_group[{first_all}] (\"{}\") contains ALL and the first match wins",
                    g.name,
                    config
                        .sender_groups
                        .get(first_all)
                        .map_or("", |g| g.name.as_str())
                ),
                fix: "move the group with ALL to the end of the list".to_string(),
            });
        }
    }
    out
}

/// The appliance's SMTP Routes rule and its documented trap: with DANE enabled in the
/// default destination profile, mail to domains listed in the RAT that also have an SMTP
/// route to fixed hosts is never delivered.
fn route_dane_lints(config: &Config, out: &mut Vec<Lint>) {
    for (i, route) in config.smtp_routes.iter().enumerate() {
        let RouteHosts::Hosts(hosts) = &route.hosts else {
            continue;
        };
        let profile = profile_for_pattern(config, &route.domain);
        if profile.dane == DaneSupport::None {
            continue;
        }
        let bounce = config.bounce_profile_for(profile);
        let hosts_text = hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let which = if profile.is_default() {
            "the default destination profile".to_string()
        } else {
            format!("destination profile \"{}\"", profile.domain)
        };
        let mut message = format!(
            "mail for {} goes to fixed hosts ({hosts_text}) where DANE cannot be verified \
             (only routes to \"USEDNS\" can be), and {which} has dane = \"{}\": \
             this mail will not be delivered and stays queued until bounce profile \"{}\" \
             gives up after {} (max_queue_time_secs)",
            route.domain,
            profile.dane,
            bounce.name,
            duration_text(bounce.max_queue_time.as_secs()),
        );
        if rat_overlaps(config, &route.domain) {
            message.push_str(&format!(
                "; {} is a Recipient Access Table domain routed inward: this is the documented \
                 trap of DANE on {which} plus an SMTP route for an internal (RAT) domain",
                route.domain
            ));
        }
        let fix = match &profile.domain {
            DestinationDomain::Pattern(p) if p == &route.domain => format!(
                "set dane = \"none\" in the [[destination]] with domain = \"{}\"",
                route.domain
            ),
            _ => format!(
                "add a destination profile with DANE off for this domain: \
                 [[destination]] domain = \"{}\" dane = \"none\"",
                route.domain
            ),
        };
        out.push(Lint {
            key: format!("smtp_route[{i}]"),
            message,
            fix,
        });
    }
}

pub(crate) fn notes(config: &Config) -> Vec<Note> {
    let mut out = Vec::new();
    if !config.server.hostname_configured {
        out.push(Note {
            key: "server.hostname".to_string(),
            message: format!(
                "not set: using the system host name \"{}\"",
                config.server.hostname
            ),
        });
    }
    if config.dns.resolvers.is_empty() {
        out.push(Note {
            key: "dns.resolvers".to_string(),
            message: "not set: the nameservers of /etc/resolv.conf are used (priority 0); \
                      each is probed for DNSSEC at start"
                .to_string(),
        });
    }
    for (i, r) in config.dns.resolvers.iter().enumerate() {
        out.push(Note {
            key: format!("dns.resolvers[{i}]"),
            message: format!(
                "{} (priority {}) will be probed for DNSSEC at start (DO bit honoured, RRSIGs \
                 returned); one that strips DNSSEC is reported and not used for DANE lookups",
                r.address, r.priority
            ),
        });
    }
    out.push(Note {
        key: "dns.trust_anchor_file".to_string(),
        message: match &config.dns.trust_anchor_file {
            Some(p) => format!(
                "trust anchors from {} replace the built-in root anchors",
                p.display()
            ),
            None => "not set: the built-in root trust anchors (key tags 20326 and 38696) are used"
                .to_string(),
        },
    });
    out
}

/// The largest RELAY group accepted without a warning, as a prefix length: a /7 is more
/// than the private IPv4 ranges of RFC 1918 together (10/8, 172.16/12, 192.168/16) and
/// than IPv6's unique local fc00::/7 (RFC 4193).
const RELAY_WARN_PREFIX: u32 = 7;

/// RELAY groups covering a large part of the Internet (their whole family is an error,
/// see the parser), and listeners that overlap only where IPv6 sockets accept IPv4.
fn relay_and_listener_lints(config: &Config, out: &mut Vec<Lint>) {
    for (i, g) in config.sender_groups.iter().enumerate() {
        if g.policy != Policy::Relay {
            continue;
        }
        let (v4, v6) = crate::coverage::equivalent_prefix(&g.senders);
        for (family, p) in [("IPv4", v4), ("IPv6", v6)] {
            if let Some(p) = p
                && p < RELAY_WARN_PREFIX
            {
                out.push(Lint {
                    key: format!("sender_group[{i}].senders"),
                    message: format!(
                        "RELAY group \"{}\" covers as many {family} addresses as a /{p}: \
                         a large part of the Internet may send mail anywhere through the gateway",
                        g.name
                    ),
                    fix: "list only your own networks in a RELAY group".to_string(),
                });
            }
        }
    }
    for (i, a) in config.listeners.iter().enumerate() {
        for (j, b) in config.listeners.iter().enumerate().take(i) {
            if let Some(crate::coverage::Overlap::DualStack) =
                crate::coverage::listener_overlap(b.address, a.address)
            {
                out.push(Lint {
                    key: format!("listener[{i}].address"),
                    message: format!(
                        "{} overlaps listener[{j}] ({}) where IPv6 sockets also accept IPv4 \
                         (IPV6_V6ONLY off, the Linux default): the second cannot be bound there",
                        a.address, b.address
                    ),
                    fix: "use distinct ports, or a specific IPv6 address instead of [::]"
                        .to_string(),
                });
            }
        }
    }
}
