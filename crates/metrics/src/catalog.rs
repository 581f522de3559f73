//! Every metric danegate exports: name, type, labels and help text, in one place.
//! `docs/metrics.md` lists exactly these (a test compares them), and the exporter
//! describes and pre-registers exactly these.
//!
//! Every series also carries the `node` label (the exporter's global label), which is
//! not repeated here.

use crate::vocab::{
    DaneAction, DaneTable, DaneVerdict, Direction, DnsStatus, DsnKind, MtaStsResult, ReasonClass,
    RecipientState, UpstreamFailure,
};

/// The metric names, for the recording calls.
pub mod names {
    /// Build information (gauge, always 1).
    pub const BUILD_INFO: &str = "danegate_build_info";
    /// Messages accepted by the listeners.
    pub const MESSAGES_RECEIVED: &str = "danegate_messages_received_total";
    /// Recipients of the accepted messages.
    pub const RECIPIENTS_RECEIVED: &str = "danegate_recipients_received_total";
    /// Messages refused after DATA.
    pub const MESSAGES_REJECTED: &str = "danegate_messages_rejected_total";
    /// Recipients delivered.
    pub const RECIPIENTS_DELIVERED: &str = "danegate_recipients_delivered_total";
    /// Recipient deferrals, by reason class.
    pub const RECIPIENTS_DEFERRED: &str = "danegate_recipients_deferred_total";
    /// Recipient bounces, by reason class.
    pub const RECIPIENTS_BOUNCED: &str = "danegate_recipients_bounced_total";
    /// DSNs queued, by kind.
    pub const DSNS_QUEUED: &str = "danegate_dsns_queued_total";
    /// DANE walk verdicts.
    pub const DANE_VERDICTS: &str = "danegate_dane_verdicts_total";
    /// DANE decision-table rows applied.
    pub const DANE_DECISIONS: &str = "danegate_dane_decisions_total";
    /// MTA-STS outcomes.
    pub const MTA_STS_OUTCOMES: &str = "danegate_mta_sts_outcomes_total";
    /// TLS sessions established, by direction and version.
    pub const TLS_SESSIONS: &str = "danegate_tls_sessions_total";
    /// TLS handshakes that failed, by direction.
    pub const TLS_FAILURES: &str = "danegate_tls_failures_total";
    /// Connections opened, by direction.
    pub const CONNECTIONS: &str = "danegate_connections_total";
    /// Inbound connections turned away.
    pub const CONNECTIONS_REFUSED: &str = "danegate_connections_refused_total";
    /// Outbound connection attempts that failed.
    pub const CONNECTION_FAILURES: &str = "danegate_connection_failures_total";
    /// Connections open now, by direction.
    pub const CONNECTIONS_OPEN: &str = "danegate_connections_open";
    /// DNS lookups by status.
    pub const DNS_LOOKUPS: &str = "danegate_dns_lookups_total";
    /// DNS resolution and validation latency (cache misses).
    pub const DNS_VALIDATION_SECONDS: &str = "danegate_dns_validation_duration_seconds";
    /// Failed exchanges with upstream resolvers.
    pub const DNS_UPSTREAM_FAILURES: &str = "danegate_dns_upstream_failures_total";
    /// Queued recipients by state.
    pub const QUEUE_RECIPIENTS: &str = "danegate_queue_recipients";
    /// Messages stored in the queue.
    pub const QUEUE_MESSAGES: &str = "danegate_queue_messages";
    /// Age of the oldest message with a queued recipient.
    pub const QUEUE_OLDEST_AGE: &str = "danegate_queue_oldest_message_age_seconds";
}

/// A metric type, as Prometheus names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets at restart).
    Counter,
    /// A value sampled now.
    Gauge,
    /// Observations in buckets ([`DNS_BUCKETS`]).
    Histogram,
}

impl Kind {
    /// `counter`, `gauge`, `histogram`.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One label of a metric and its vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    /// The label name.
    pub name: &'static str,
    /// Every value it can take; empty when the set is open but bounded by the
    /// configuration (upstream resolvers), by a table (decision-table lines) or by the
    /// build (the version).
    pub values: &'static [&'static str],
}

/// One metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Its name (counters end in `_total`, durations in `_seconds`).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its labels besides `node`.
    pub labels: &'static [Label],
    /// The help text (`# HELP`).
    pub help: &'static str,
}

/// The `version` label of [`names::BUILD_INFO`].
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// TLS protocol versions as labels (rustls speaks only these two; anything else is
/// `other`).
pub const TLS_VERSIONS: &[&str] = &["TLSv1.2", "TLSv1.3", "other"];

/// Buckets of [`names::DNS_VALIDATION_SECONDS`], in seconds: a cached zone key on
/// loopback takes well under a millisecond, a cold chain against a distant resolver
/// several round trips, the timeout 5 s by default.
pub const DNS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const fn l(name: &'static str, values: &'static [&'static str]) -> Label {
    Label { name, values }
}

const fn m(name: &'static str, kind: Kind, labels: &'static [Label], help: &'static str) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};
use names::*;

/// Every metric, in documentation order.
pub const CATALOG: &[Metric] = &[
    m(
        BUILD_INFO,
        Gauge,
        &[l("version", &[])],
        "Always 1: the danegate version of this node.",
    ),
    m(
        MESSAGES_RECEIVED,
        Counter,
        &[],
        "Messages the listeners accepted (250 once the queue stored them).",
    ),
    m(
        RECIPIENTS_RECEIVED,
        Counter,
        &[],
        "Recipients of the messages the listeners accepted.",
    ),
    m(
        MESSAGES_REJECTED,
        Counter,
        &[],
        "Messages read after DATA but not acknowledged (too big, bare newline, queue unavailable).",
    ),
    m(
        RECIPIENTS_DELIVERED,
        Counter,
        &[],
        "Recipients the next hop accepted.",
    ),
    m(
        RECIPIENTS_DEFERRED,
        Counter,
        &[l("reason", ReasonClass::LABELS)],
        "Delivery attempts that left a recipient queued for a retry, by reason class.",
    ),
    m(
        RECIPIENTS_BOUNCED,
        Counter,
        &[l("reason", ReasonClass::LABELS)],
        "Recipients bounced (permanent failure or retries exhausted), by reason class.",
    ),
    m(
        DSNS_QUEUED,
        Counter,
        &[l("kind", DsnKind::LABELS)],
        "Delivery status notifications (RFC 3464) queued to senders, by kind.",
    ),
    m(
        DANE_VERDICTS,
        Counter,
        &[l("verdict", DaneVerdict::LABELS)],
        "DANE walks of a destination's MX hosts (RFC 7672), by verdict.",
    ),
    m(
        DANE_DECISIONS,
        Counter,
        &[
            l("table", DaneTable::LABELS),
            l("line", &[]),
            l("action", DaneAction::LABELS),
        ],
        "DANE decisions for one MX host address, by decision table, table line and action.",
    ),
    m(
        MTA_STS_OUTCOMES,
        Counter,
        &[l("result", MtaStsResult::LABELS)],
        "MTA-STS (RFC 8461) policy checks of deliveries, by result.",
    ),
    m(
        TLS_SESSIONS,
        Counter,
        &[
            l("direction", Direction::LABELS),
            l("protocol", TLS_VERSIONS),
        ],
        "TLS sessions established, by direction and protocol version.",
    ),
    m(
        TLS_FAILURES,
        Counter,
        &[l("direction", Direction::LABELS)],
        "TLS handshakes that failed (certificate verification included), by direction.",
    ),
    m(
        CONNECTIONS,
        Counter,
        &[l("direction", Direction::LABELS)],
        "SMTP connections opened: accepted by the listeners (in), made by the delivery agent (out).",
    ),
    m(
        CONNECTIONS_REFUSED,
        Counter,
        &[],
        "Inbound connections turned away (connection limits, Host Access Table TCPREFUSE).",
    ),
    m(
        CONNECTION_FAILURES,
        Counter,
        &[],
        "Outbound connection attempts that failed before the server's greeting.",
    ),
    m(
        CONNECTIONS_OPEN,
        Gauge,
        &[l("direction", Direction::LABELS)],
        "SMTP connections open now, by direction.",
    ),
    m(
        DNS_LOOKUPS,
        Counter,
        &[l("status", DnsStatus::LABELS)],
        "DNSSEC-validated lookups (cache hits included), by status.",
    ),
    m(
        DNS_VALIDATION_SECONDS,
        Histogram,
        &[],
        "Time to resolve and validate one lookup that missed the answer cache, in seconds.",
    ),
    m(
        DNS_UPSTREAM_FAILURES,
        Counter,
        &[l("upstream", &[]), l("error", UpstreamFailure::LABELS)],
        "Failed exchanges with an upstream resolver (each one fails over to the next), by resolver and error.",
    ),
    m(
        QUEUE_RECIPIENTS,
        Gauge,
        &[l("state", RecipientState::LABELS)],
        "Recipients in the queue, by state (sampled at each scrape).",
    ),
    m(
        QUEUE_MESSAGES,
        Gauge,
        &[],
        "Messages stored in the queue, finished ones not yet removed included (sampled at each scrape).",
    ),
    m(
        QUEUE_OLDEST_AGE,
        Gauge,
        &[],
        "Age of the oldest message that still has a queued recipient, in seconds; 0 when the queue is empty (sampled at each scrape).",
    ),
];

/// The catalog entry of `name`.
pub fn lookup(name: &str) -> Option<&'static Metric> {
    CATALOG.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in CATALOG {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("danegate_"), "{}", m.name);
            assert!(
                m.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                m.name
            );
            // Prometheus naming: counters end in _total, and only counters do.
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert!(!m.help.is_empty());
            assert!(m.labels.iter().all(|l| l.name != "node"), "{}", m.name);
        }
    }

    #[test]
    fn every_name_constant_is_in_the_catalog() {
        for n in [
            BUILD_INFO,
            MESSAGES_RECEIVED,
            RECIPIENTS_RECEIVED,
            MESSAGES_REJECTED,
            RECIPIENTS_DELIVERED,
            RECIPIENTS_DEFERRED,
            RECIPIENTS_BOUNCED,
            DSNS_QUEUED,
            DANE_VERDICTS,
            DANE_DECISIONS,
            MTA_STS_OUTCOMES,
            TLS_SESSIONS,
            TLS_FAILURES,
            CONNECTIONS,
            CONNECTIONS_REFUSED,
            CONNECTION_FAILURES,
            CONNECTIONS_OPEN,
            DNS_LOOKUPS,
            DNS_VALIDATION_SECONDS,
            DNS_UPSTREAM_FAILURES,
            QUEUE_RECIPIENTS,
            QUEUE_MESSAGES,
            QUEUE_OLDEST_AGE,
        ] {
            assert!(lookup(n).is_some(), "{n} not in the catalog");
        }
        assert_eq!(CATALOG.len(), 23);
    }

    #[test]
    fn buckets_increase() {
        assert!(DNS_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
