//! The recording calls: one per event, each a single line at its call site. Without an
//! installed recorder they do nothing.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::{
    catalog::names::*,
    classify::{classify, tls_version},
    vocab::{
        DaneAction, DaneTable, DaneVerdict, Direction, DnsStatus, DsnKind, MtaStsResult,
        RecipientState, UpstreamFailure,
    },
};

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A listener accepted a message for `recipients` recipients.
pub fn message_received(recipients: usize) {
    counter!(MESSAGES_RECEIVED).increment(1);
    counter!(RECIPIENTS_RECEIVED).increment(count(recipients));
}

/// A listener read a message but did not acknowledge it.
pub fn message_rejected() {
    counter!(MESSAGES_REJECTED).increment(1);
}

/// `n` recipients were delivered.
pub fn recipients_delivered(n: usize) {
    counter!(RECIPIENTS_DELIVERED).increment(count(n));
}

/// One recipient stays queued after an attempt (`enhanced`: its RFC 3463 code).
pub fn recipient_deferred(enhanced: &str, reason: &str) {
    counter!(RECIPIENTS_DEFERRED, "reason" => classify(enhanced, reason).label()).increment(1);
}

/// One recipient bounced (`enhanced`: its RFC 3463 code).
pub fn recipient_bounced(enhanced: &str, reason: &str) {
    counter!(RECIPIENTS_BOUNCED, "reason" => classify(enhanced, reason).label()).increment(1);
}

/// A DSN was queued.
pub fn dsn_queued(kind: DsnKind) {
    counter!(DSNS_QUEUED, "kind" => kind.label()).increment(1);
}

/// A DANE walk ended with `verdict`.
pub fn dane_verdict(verdict: DaneVerdict) {
    counter!(DANE_VERDICTS, "verdict" => verdict.label()).increment(1);
}

/// A decision-table row decided for one MX host address (`line`: 1-based, 0 for the
/// fail-closed default).
pub fn dane_decision(table: DaneTable, line: usize, action: DaneAction) {
    counter!(
        DANE_DECISIONS,
        "table" => table.label(),
        "line" => line.to_string(),
        "action" => action.label()
    )
    .increment(1);
}

/// An MTA-STS policy check of a delivery ended with `result` (RFC 8461). The family is
/// registered at zero; the MTA-STS delivery path calls this once per check, e.g. with
/// an `StsOutcome` `o`:
/// `danegate_metrics::mta_sts_outcome(danegate_metrics::mta_sts_result(o.result_word(), o.delivered_anyway))`.
pub fn mta_sts_outcome(result: MtaStsResult) {
    counter!(MTA_STS_OUTCOMES, "result" => result.label()).increment(1);
}

/// A TLS session was established (`protocol`: `TLSv1.2`, `TLSv1.3`).
pub fn tls_session(direction: Direction, protocol: &str) {
    counter!(
        TLS_SESSIONS,
        "direction" => direction.label(),
        "protocol" => tls_version(protocol)
    )
    .increment(1);
}

/// A TLS handshake failed.
pub fn tls_failure(direction: Direction) {
    counter!(TLS_FAILURES, "direction" => direction.label()).increment(1);
}

/// A connection was opened (in: accepted by a listener and greeted; out: TCP connected
/// to a destination server). An inbound one counts as open until [`connection_closed`].
pub fn connection_opened(direction: Direction) {
    counter!(CONNECTIONS, "direction" => direction.label()).increment(1);
    if direction == Direction::In {
        gauge!(CONNECTIONS_OPEN, "direction" => direction.label()).increment(1.0);
    }
}

/// An inbound connection counted by [`connection_opened`] ended.
pub fn connection_closed() {
    gauge!(CONNECTIONS_OPEN, "direction" => Direction::In.label()).decrement(1.0);
}

/// An inbound connection was turned away.
pub fn connection_refused() {
    counter!(CONNECTIONS_REFUSED).increment(1);
}

/// An outbound connection attempt failed.
pub fn connection_failed() {
    counter!(CONNECTION_FAILURES).increment(1);
}

/// Outbound connections open now (sampled from the delivery slots).
pub fn connections_out_open(n: usize) {
    gauge!(CONNECTIONS_OPEN, "direction" => Direction::Out.label()).set(count(n) as f64);
}

/// A validated lookup ended with `status`; `elapsed` when it missed the answer cache.
pub fn dns_lookup(status: DnsStatus, elapsed: Option<Duration>) {
    counter!(DNS_LOOKUPS, "status" => status.label()).increment(1);
    if let Some(d) = elapsed {
        histogram!(DNS_VALIDATION_SECONDS).record(d.as_secs_f64());
    }
}

/// One exchange with the upstream resolver `upstream` (its configured address) failed.
pub fn dns_upstream_failure(upstream: &str, kind: UpstreamFailure) {
    counter!(
        DNS_UPSTREAM_FAILURES,
        "upstream" => upstream.to_string(),
        "error" => kind.label()
    )
    .increment(1);
}

/// The queue as sampled now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSample {
    /// Recipients queued and not leased.
    pub queued: u64,
    /// Recipients leased to a delivery agent.
    pub in_flight: u64,
    /// Messages stored.
    pub messages: u64,
    /// Age of the oldest message with a queued recipient (`None`: none queued).
    pub oldest_age: Option<Duration>,
}

/// Sets the queue gauges.
pub fn queue_sample(s: QueueSample) {
    gauge!(QUEUE_RECIPIENTS, "state" => RecipientState::Queued.label()).set(s.queued as f64);
    gauge!(QUEUE_RECIPIENTS, "state" => RecipientState::InFlight.label()).set(s.in_flight as f64);
    gauge!(QUEUE_MESSAGES).set(s.messages as f64);
    gauge!(QUEUE_OLDEST_AGE).set(s.oldest_age.map_or(0.0, |d| d.as_secs_f64()));
}
