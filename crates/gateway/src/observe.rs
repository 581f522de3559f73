//! The gateway's events as metrics (`danegate-metrics`): listener events, the delivery
//! agent's steps, DSNs. Each call site is one line; the mapping is here.

use danegate_delivery::{Action, DaneMode, Event, Verdict};
use danegate_metrics::{self as m, DaneAction, DaneTable, DaneVerdict, Direction};
use danegate_smtpd::ServerEvent;

/// A listener event.
pub(crate) fn server_event(e: &ServerEvent) {
    match e {
        ServerEvent::Connected { .. } => m::connection_opened(Direction::In),
        ServerEvent::Closed { .. } => m::connection_closed(),
        ServerEvent::Refused { .. } => m::connection_refused(),
        ServerEvent::TlsEstablished { protocol, .. } => m::tls_session(Direction::In, protocol),
        ServerEvent::TlsFailed { .. } => m::tls_failure(Direction::In),
        ServerEvent::MessageAccepted { rcpts, .. } => m::message_received(rcpts.len()),
        ServerEvent::MessageRejected { .. } => m::message_rejected(),
        _ => {}
    }
}

/// A step of a delivery attempt (the DANE path or the TLS Support path).
pub(crate) fn delivery_event(e: &Event) {
    match e {
        Event::Connected { .. } => m::connection_opened(Direction::Out),
        Event::ConnectFailed { .. } => m::connection_failed(),
        Event::TlsEstablished { protocol, .. } => m::tls_session(Direction::Out, protocol),
        Event::TlsFailed { .. } => m::tls_failure(Direction::Out),
        Event::Verdict { verdict, .. } => m::dane_verdict(verdict_label(*verdict)),
        Event::Decision { action, row } => {
            let (table, line) = table_line(row);
            m::dane_decision(table, line, action_label(action));
        }
        _ => {}
    }
}

/// A DSN was queued.
pub(crate) fn dsn_queued(kind: danegate_bounce::DsnKind) {
    m::dsn_queued(match kind {
        danegate_bounce::DsnKind::Failed => m::DsnKind::Failed,
        danegate_bounce::DsnKind::Delayed => m::DsnKind::Delayed,
    });
}

fn verdict_label(v: Verdict) -> DaneVerdict {
    match v {
        Verdict::DaneSuccess => DaneVerdict::Success,
        Verdict::DaneFailed => DaneVerdict::Failed,
        Verdict::Fallback => DaneVerdict::Fallback,
        Verdict::TempFail => DaneVerdict::Tempfail,
    }
}

/// The action of a decision event, whose text is the [`Action`]'s display.
fn action_label(action: &str) -> DaneAction {
    [
        (Action::DaneSuccess, DaneAction::DaneSuccess),
        (Action::DaneFail, DaneAction::DaneFail),
        (Action::Fallback, DaneAction::Fallback),
        (Action::TlsUnauthenticated, DaneAction::TlsUnauthenticated),
        (Action::TempFail, DaneAction::Tempfail),
    ]
    .into_iter()
    .find(|(a, _)| a.to_string() == action)
    .map_or(DaneAction::Unknown, |(_, l)| l)
}

/// The table and 1-based line of a decision event's row, written by the DANE path as
/// `{mode:?} table line {n}: {row}`; `(Unknown, 0)` when it does not read so.
fn table_line(row: &str) -> (DaneTable, usize) {
    let Some((mode, rest)) = row.split_once(" table line ") else {
        return (DaneTable::Unknown, 0);
    };
    let table = [
        (DaneMode::Mandatory, DaneTable::Mandatory),
        (DaneMode::Opportunistic, DaneTable::Opportunistic),
        (DaneMode::None, DaneTable::None),
    ]
    .into_iter()
    .find(|(d, _)| format!("{d:?}") == mode)
    .map_or(DaneTable::Unknown, |(_, t)| t);
    let line = rest
        .split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (table, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_rows_as_the_dane_path_writes_them() {
        let row = format!(
            "{:?} table line {}: {}",
            DaneMode::Opportunistic,
            7,
            "SECURE | INSECURE | | => Fallback"
        );
        assert_eq!(table_line(&row), (DaneTable::Opportunistic, 7));
        let row = format!("{:?} table line {}: x", DaneMode::Mandatory, 1);
        assert_eq!(table_line(&row), (DaneTable::Mandatory, 1));
        assert_eq!(table_line("something else"), (DaneTable::Unknown, 0));
        assert_eq!(table_line("Other table line x: y"), (DaneTable::Unknown, 0));
    }

    #[test]
    fn actions_by_their_display() {
        assert_eq!(
            action_label(&Action::DaneSuccess.to_string()),
            DaneAction::DaneSuccess
        );
        assert_eq!(
            action_label(&Action::TlsUnauthenticated.to_string()),
            DaneAction::TlsUnauthenticated
        );
        assert_eq!(action_label("nonsense"), DaneAction::Unknown);
    }
}
