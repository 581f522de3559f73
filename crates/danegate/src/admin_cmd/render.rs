//! The admin CLI's text renderers: tables, destination profiles, routes, queued
//! recipients, delivery status rows, times.

use danegate_admin::{DestinationView, DomainStatus, QueuedView, RouteView};
use danegate_timefmt::Layout;

/// Aligned columns, two spaces apart, like the appliance's tables.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let width = widths.get(i).copied().unwrap_or(0);
                let pad = width.saturating_sub(c.chars().count());
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

pub(super) fn limit_text(d: &DestinationView) -> String {
    match &d.recipient_limit {
        None => "none".into(),
        Some(l) => format!("{}/{}min", l.recipients, l.per_minutes),
    }
}

/// Seconds since the epoch as `2019-02-05 13:20:03Z` (UTC); the bare number when it is
/// no date (beyond the year 9999).
pub(super) fn time_text(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| danegate_timefmt::utc(t, Layout::Listing))
        .unwrap_or_else(|| unix.to_string())
}

pub(super) fn destination_text(d: &DestinationView) -> String {
    let mark = |f: &str| {
        if d.is_default || d.explicit.iter().any(|e| e == f) {
            ""
        } else {
            " (default)"
        }
    };
    let rows = [
        ("Destination", d.domain.clone(), ""),
        (
            "IP Address Preference",
            d.ip_preference.clone(),
            "ip_preference",
        ),
        (
            "Concurrent Connections",
            d.max_concurrent_connections.to_string(),
            "max_concurrent_connections",
        ),
        (
            "Messages per Connection",
            d.max_messages_per_connection.to_string(),
            "max_messages_per_connection",
        ),
        ("Recipient Limit", limit_text(d), "recipient_limit"),
        ("Apply Limits", d.apply_limits.clone(), "apply_limits"),
        (
            "Outbound Interface",
            d.outbound_interface
                .clone()
                .unwrap_or_else(|| "auto".into()),
            "outbound_interface",
        ),
        ("TLS Support", d.tls.clone(), "tls"),
        ("DANE Support", d.dane.clone(), "dane"),
        ("Bounce Profile", d.bounce_profile.clone(), "bounce_profile"),
        (
            "Bounce Verification",
            if d.bounce_verification { "Yes" } else { "No" }.to_string(),
            "bounce_verification",
        ),
        ("MTA-STS", d.mta_sts.clone(), "mta_sts"),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v, f)| {
            let m = if f.is_empty() { "" } else { mark(f) };
            format!("{k:<w$}  {v}{m}\n")
        })
        .collect()
}

pub(super) fn routes_text(routes: &[RouteView]) -> String {
    if routes.is_empty() {
        return "No SMTP routes.\n".into();
    }
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| vec![r.domain.clone(), r.hosts.join(", ")])
        .collect();
    let mut out = table(&["DOMAIN", "DESTINATION HOSTS"], &rows);
    for r in routes {
        if let Some(w) = &r.dane_warning {
            out.push_str(&format!("warning: {}: {w}\n", r.domain));
        }
    }
    out
}

pub(super) fn status_rows(list: &[DomainStatus]) -> Vec<Vec<String>> {
    list.iter()
        .map(|s| {
            vec![
                s.domain.clone(),
                s.active.to_string(),
                s.connections_out.to_string(),
                s.in_flight.to_string(),
                s.delivered.to_string(),
                s.soft_bounced.to_string(),
                s.hard_bounced.to_string(),
                s.last
                    .as_ref()
                    .map(|l| l.dane.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect()
}

pub(super) const STATUS_HEADERS: &[&str] = &[
    "DOMAIN",
    "ACTIVE",
    "CONN OUT",
    "IN FLIGHT",
    "DELIVERED",
    "SOFT BOUNCED",
    "HARD BOUNCED",
    "LAST DANE",
];

pub(super) fn queued_text(list: &[QueuedView]) -> String {
    if list.is_empty() {
        return "No queued recipients.\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|q| {
            vec![
                q.mid.to_string(),
                q.rid.to_string(),
                q.address.clone(),
                if q.sender.is_empty() {
                    "<>".into()
                } else {
                    q.sender.clone()
                },
                q.attempts.to_string(),
                if q.in_flight {
                    "in flight".into()
                } else {
                    time_text(q.next_attempt)
                },
                q.node.clone(),
                q.last_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "MID",
            "RID",
            "RECIPIENT",
            "SENDER",
            "ATTEMPTS",
            "NEXT ATTEMPT",
            "NODE",
            "LAST REASON",
        ],
        &rows,
    )
}

pub(super) fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::time_text;

    #[test]
    fn time_text_is_utc_or_the_number() {
        assert_eq!(time_text(1_549_372_803), "2019-02-05 13:20:03Z");
        assert_eq!(time_text(0), "1970-01-01 00:00:00Z");
        assert_eq!(time_text(u64::MAX), u64::MAX.to_string());
    }
}
