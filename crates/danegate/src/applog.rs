//! Appliance-style log lines: `Tue Feb  5 13:20:03 2019 Info: ...` (ctime timestamp,
//! UTC), and a `tracing` layer that writes events in that form to standard error.

use std::{
    fmt::Write as _,
    io::Write as _,
    time::{SystemTime, UNIX_EPOCH},
};

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Tue Feb  5 13:20:03 2019` for a time in seconds since the epoch (UTC).
pub fn ctime(secs: u64) -> String {
    let days = secs / 86_400;
    let weekday = DAYS[(days % 7) as usize];
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = secs % 86_400;
    format!(
        "{weekday} {} {day:>2} {:02}:{:02}:{:02} {year}",
        MONTHS[(month - 1) as usize],
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The appliance's name for a level.
pub fn level_word(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "Critical",
        Level::WARN => "Warning",
        Level::INFO => "Info",
        Level::DEBUG => "Debug",
        Level::TRACE => "Trace",
    }
}

/// Writes every event at or above `max` to standard error as an appliance log line.
pub struct StderrLayer {
    /// The most verbose level written.
    pub max: Level,
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
}

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.max || !meta.target().starts_with("danegate") {
            return;
        }
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} {}: {}",
            ctime(now),
            level_word(meta.level()),
            msg.0
        );
    }
}

/// Sends `danegate*` events to standard error: warnings always, the debug trace
/// (every DNS query, every DANE step) with `trace`.
pub fn install_stderr(trace: bool) {
    install_stderr_level(if trace { Level::DEBUG } else { Level::WARN });
}

/// Sends `danegate*` events up to `max` to standard error.
pub fn install_stderr_level(max: Level) {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(StderrLayer { max });
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_matches_the_appliance() {
        // 2019-02-05 13:20:03 UTC was a Tuesday.
        assert_eq!(ctime(1_549_372_803), "Tue Feb  5 13:20:03 2019");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_582_977_600), "Sat Feb 29 12:00:00 2020");
    }
}
