//! `[[destination]]`: destination controls; each profile is read as written ([`RawDest`]),
//! then laid over the `default` profile (itself over the built-in one), with the DANE/TLS
//! rule and the bounce profile name checked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use toml::de::DeValue;

use super::{Ctx, Tab, secs, to_u32};
use crate::limits;
use crate::model::*;

const DESTINATION: &[&str] = &[
    "domain",
    "ip_preference",
    "max_concurrent_connections",
    "max_messages_per_connection",
    "recipient_limit",
    "apply_limits",
    "outbound_interface",
    "tls",
    "dane",
    "bounce_profile",
    "bounce_verification",
    "mta_sts",
];
const RECIPIENT_LIMIT: &[&str] = &["recipients", "per_minutes"];

/// A destination table as written: `None` = not written (inherit).
#[derive(Default)]
struct RawDest {
    ip_preference: Option<IpPreference>,
    max_concurrent_connections: Option<u32>,
    max_messages_per_connection: Option<u32>,
    recipient_limit: Option<Option<RecipientLimit>>,
    apply_limits: Option<ApplyLimits>,
    outbound_interface: Option<Option<IpAddr>>,
    tls: Option<TlsSupport>,
    dane: Option<(DaneSupport, Range<usize>)>,
    bounce_profile: Option<(String, Range<usize>)>,
    bounce_verification: Option<bool>,
    mta_sts: Option<MtaSts>,
}

fn read_dest(ctx: &mut Ctx<'_>, tab: &Tab<'_, '_>) -> RawDest {
    let mut raw = RawDest {
        ip_preference: ctx.choice(tab, "ip_preference", IpPreference::ALL),
        ..RawDest::default()
    };
    let (lo, hi) = limits::MAX_CONCURRENT_CONNECTIONS;
    raw.max_concurrent_connections = ctx
        .int(tab, "max_concurrent_connections", lo, hi)
        .map(to_u32);
    let (lo, hi) = limits::MAX_MESSAGES_PER_CONNECTION;
    raw.max_messages_per_connection = ctx
        .int(tab, "max_messages_per_connection", lo, hi)
        .map(to_u32);
    if let Some(v) = tab.get("recipient_limit") {
        let key = tab.key("recipient_limit");
        match v.get_ref() {
            DeValue::String(s) if s.eq_ignore_ascii_case("none") => {
                raw.recipient_limit = Some(None)
            }
            DeValue::Table(_) => {
                if let Some(rt) = ctx.table(key.clone(), v, RECIPIENT_LIMIT) {
                    let (lo, hi) = limits::RECIPIENT_LIMIT_RECIPIENTS;
                    let recipients = match rt.get("recipients") {
                        Some(_) => ctx.int(&rt, "recipients", lo, hi),
                        None => {
                            ctx.missing(
                                rt.key("recipients"),
                                v.span(),
                                format!("is required ({lo} - {hi})"),
                            );
                            None
                        }
                    };
                    let (lo, hi) = limits::RECIPIENT_LIMIT_PER_MINUTES;
                    let minutes = if rt.has("per_minutes") {
                        ctx.int(&rt, "per_minutes", lo, hi)
                    } else {
                        Some(hi)
                    };
                    if let (Some(r), Some(m)) = (recipients, minutes) {
                        raw.recipient_limit = Some(Some(RecipientLimit {
                            recipients: to_u32(r),
                            interval: secs(m * 60),
                        }));
                    }
                }
            }
            _ => ctx.err(
                key,
                v.span(),
                "must be { recipients = N, per_minutes = M } or \"none\"",
            ),
        }
    }
    raw.apply_limits = ctx.choice(tab, "apply_limits", ApplyLimits::ALL);
    if let Some(v) = tab.get("outbound_interface")
        && let Some(s) = ctx.str_v(tab.key("outbound_interface"), v)
    {
        if s.eq_ignore_ascii_case("none") {
            raw.outbound_interface = Some(None);
        } else {
            match s.parse::<IpAddr>() {
                Ok(ip) => raw.outbound_interface = Some(Some(ip)),
                Err(_) => ctx.err(
                    tab.key("outbound_interface"),
                    v.span(),
                    "must be a local IP address (or \"none\")",
                ),
            }
        }
    }
    raw.tls = ctx.choice(tab, "tls", TlsSupport::ALL);
    if let Some(v) = tab.get("dane")
        && let Some(d) = ctx.choice_v(tab.key("dane"), v, DaneSupport::ALL)
    {
        raw.dane = Some((d, v.span()));
    }
    if let Some(v) = tab.get("bounce_profile")
        && let Some(s) = ctx.str_v(tab.key("bounce_profile"), v)
    {
        raw.bounce_profile = Some((s.to_string(), v.span()));
    }
    raw.bounce_verification = ctx.boolean(tab, "bounce_verification");
    raw.mta_sts = ctx.choice(tab, "mta_sts", MtaSts::ALL);
    raw
}

/// Applies `raw` over `base`; checks the DANE/TLS rule and the bounce profile name.
fn build_dest(
    ctx: &mut Ctx<'_>,
    key: &str,
    domain: DestinationDomain,
    raw: RawDest,
    base: &DestinationProfile,
    bounces: &[BounceProfile],
) -> DestinationProfile {
    let tls = raw.tls.unwrap_or(base.tls);
    let dane = match &raw.dane {
        Some((d, span)) => {
            if *d != DaneSupport::None && tls == TlsSupport::None {
                ctx.err(
                    format!("{key}.dane"),
                    span.clone(),
                    format!(
                        "DANE requires TLS: dane = \"{d}\" is not allowed with tls = \"none\" \
                         (as on the appliance, DANE Support is selectable only once TLS Support is enabled)"
                    ),
                );
            }
            *d
        }
        None => inherited_dane(tls, base.dane),
    };
    if let Some((name, span)) = &raw.bounce_profile
        && !bounces.iter().any(|b| &b.name == name)
    {
        let known = bounces
            .iter()
            .map(|b| format!("\"{}\"", b.name))
            .collect::<Vec<_>>()
            .join(", ");
        ctx.err(
            format!("{key}.bounce_profile"),
            span.clone(),
            format!("no [[bounce_profile]] has this name (defined: {known})"),
        );
    }
    let explicit = if domain == DestinationDomain::Default {
        ExplicitFields::ALL
    } else {
        ExplicitFields {
            ip_preference: raw.ip_preference.is_some(),
            max_concurrent_connections: raw.max_concurrent_connections.is_some(),
            max_messages_per_connection: raw.max_messages_per_connection.is_some(),
            recipient_limit: raw.recipient_limit.is_some(),
            apply_limits: raw.apply_limits.is_some(),
            outbound_interface: raw.outbound_interface.is_some(),
            tls: raw.tls.is_some(),
            dane: raw.dane.is_some(),
            bounce_profile: raw.bounce_profile.is_some(),
            bounce_verification: raw.bounce_verification.is_some(),
            mta_sts: raw.mta_sts.is_some(),
        }
    };
    DestinationProfile {
        domain,
        ip_preference: raw.ip_preference.unwrap_or(base.ip_preference),
        max_concurrent_connections: raw
            .max_concurrent_connections
            .unwrap_or(base.max_concurrent_connections),
        max_messages_per_connection: raw
            .max_messages_per_connection
            .unwrap_or(base.max_messages_per_connection),
        recipient_limit: raw.recipient_limit.unwrap_or(base.recipient_limit),
        apply_limits: raw.apply_limits.unwrap_or(base.apply_limits),
        outbound_interface: raw.outbound_interface.unwrap_or(base.outbound_interface),
        tls,
        dane,
        bounce_profile: raw
            .bounce_profile
            .map_or_else(|| base.bounce_profile.clone(), |(n, _)| n),
        bounce_verification: raw.bounce_verification.unwrap_or(base.bounce_verification),
        mta_sts: raw.mta_sts.unwrap_or(base.mta_sts),
        explicit,
    }
}

/// The DANE Support a profile gets when it does not set `dane`: the base profile's, except
/// that DANE is off when TLS is off (the form greys DANE out when TLS Support is None).
pub(crate) fn inherited_dane(tls: TlsSupport, base: DaneSupport) -> DaneSupport {
    if tls == TlsSupport::None {
        DaneSupport::None
    } else {
        base
    }
}

pub(super) fn parse_destinations(
    ctx: &mut Ctx<'_>,
    root: &Tab<'_, '_>,
    bounces: &[BounceProfile],
) -> (DestinationProfile, Vec<DestinationProfile>) {
    let tabs = ctx.tables(root, "destination", DESTINATION);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut entries: Vec<(String, DestinationDomain, RawDest)> = Vec::new();
    for (i, tab) in tabs {
        let domain = match tab.get("domain") {
            None => {
                ctx.missing(
                    tab.key("domain"),
                    tab.span.clone(),
                    "is required: \"example.com\", \".example.com\" or \"default\"",
                );
                None
            }
            Some(v) => match ctx.str_v(tab.key("domain"), v) {
                Some(s) if s.eq_ignore_ascii_case("default") => Some(DestinationDomain::Default),
                Some(_) => ctx
                    .domain_v(tab.key("domain"), v)
                    .map(DestinationDomain::Pattern),
                None => None,
            },
        };
        let raw = read_dest(ctx, &tab);
        let Some(domain) = domain else { continue };
        if let Some(j) = seen.insert(domain.to_string(), i) {
            ctx.err(
                tab.key("domain"),
                tab.span_of("domain"),
                format!("duplicate destination profile (also destination[{j}])"),
            );
            continue;
        }
        entries.push((tab.path.clone(), domain, raw));
    }
    let builtin = DestinationProfile::builtin_default();
    let mut default = builtin.clone();
    let mut rest = Vec::new();
    for (key, domain, raw) in entries {
        if domain == DestinationDomain::Default {
            default = build_dest(ctx, &key, domain, raw, &builtin, bounces);
        } else {
            rest.push((key, domain, raw));
        }
    }
    let others = rest
        .into_iter()
        .map(|(key, domain, raw)| build_dest(ctx, &key, domain, raw, &default, bounces))
        .collect();
    (default, others)
}
