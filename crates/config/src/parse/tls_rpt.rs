//! `[tls_rpt]`: SMTP TLS Reporting. When `enabled`, `organization_name`, `contact_info`
//! and `sender` are required; `send_time` is `HH:MM` (UTC).

use super::{Ctx, Tab};
use crate::domain::check_domain;
use crate::tls_rpt::TlsRpt;

const TLS_RPT: &[&str] = &[
    "enabled",
    "organization_name",
    "contact_info",
    "sender",
    "submitter",
    "send_time",
];

/// `HH:MM`, 00:00 to 23:59.
fn parse_time(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// A mailbox `local@domain` without spaces or angle brackets.
fn check_address(s: &str) -> Result<(), String> {
    let bad = "must be an email address local@domain, e.g. \"tlsrpt@gateway.example.com\"";
    let (local, domain) = s.rsplit_once('@').ok_or(bad)?;
    if local.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"'))
    {
        return Err(bad.into());
    }
    check_domain(domain)
        .map(|_| ())
        .map_err(|m| format!("domain part {m}"))
}

pub(super) fn parse_tls_rpt(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> TlsRpt {
    let mut t = TlsRpt::default();
    let Some(tab) = root
        .get("tls_rpt")
        .and_then(|v| ctx.table("tls_rpt".into(), v, TLS_RPT))
    else {
        return t;
    };
    if let Some(b) = ctx.boolean(&tab, "enabled") {
        t.enabled = b;
    }
    for (name, field) in [
        ("organization_name", &mut t.organization_name),
        ("contact_info", &mut t.contact_info),
    ] {
        if let Some(v) = tab.get(name)
            && let Some(s) = ctx.str_v(tab.key(name), v)
        {
            if s.trim().is_empty() || s.chars().any(char::is_control) {
                ctx.err(
                    tab.key(name),
                    v.span(),
                    "must be non-empty text on one line",
                );
            } else {
                *field = s.trim().to_string();
            }
        }
    }
    if let Some(v) = tab.get("sender")
        && let Some(s) = ctx.str_v(tab.key("sender"), v)
    {
        match check_address(s) {
            Ok(()) => t.sender = s.to_string(),
            Err(m) => ctx.err(tab.key("sender"), v.span(), m),
        }
    }
    if let Some(v) = tab.get("submitter")
        && let Some(s) = ctx.str_v(tab.key("submitter"), v)
    {
        match check_domain(s) {
            Ok(d) => t.submitter = d,
            Err(m) => ctx.err(tab.key("submitter"), v.span(), m),
        }
    }
    if let Some(v) = tab.get("send_time")
        && let Some(s) = ctx.str_v(tab.key("send_time"), v)
    {
        match parse_time(s) {
            Some(hm) => t.send_time = hm,
            None => ctx.err(
                tab.key("send_time"),
                v.span(),
                "must be a UTC time of day HH:MM between 00:00 and 23:59",
            ),
        }
    }
    if t.enabled {
        for name in ["organization_name", "contact_info", "sender"] {
            if !tab.has(name) {
                ctx.missing(
                    tab.key(name),
                    tab.span.clone(),
                    "is required when tls_rpt.enabled = true",
                );
            }
        }
    }
    t
}
