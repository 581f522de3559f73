//! Time stamps and level words of the appliance's log lines
//! (`Tue Feb  5 13:20:03 2019 Info: ...`, UTC).

use std::time::{SystemTime, UNIX_EPOCH};

use danegate_timefmt::Layout;
use tracing::Level;

/// Seconds since the epoch (0 for a time before it).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `Tue Feb  5 13:20:03 2019` for a time in seconds since the epoch (UTC).
pub fn ctime(secs: u64) -> String {
    at(secs, Layout::Ctime)
}

/// `2019-02-05T13:20:03Z` (RFC 3339, UTC) for a time in seconds since the epoch.
pub fn rfc3339(secs: u64) -> String {
    at(secs, Layout::Rfc3339)
}

/// `secs` in `layout`; the plain number past the year 9999.
fn at(secs: u64, layout: Layout) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| danegate_timefmt::utc(s, layout))
        .unwrap_or_else(|| secs.to_string())
}

/// The appliance's name for a level: `Critical` (ERROR), `Warning` (WARN), `Info`,
/// `Debug`, `Trace`.
pub fn level_word(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "Critical",
        Level::WARN => "Warning",
        Level::INFO => "Info",
        Level::DEBUG => "Debug",
        Level::TRACE => "Trace",
    }
}

/// One text line without its newline: `Tue Feb  5 13:20:03 2019 Info: message`.
pub fn text_line(secs: u64, level: &Level, message: &str) -> String {
    format!("{} {}: {message}", ctime(secs), level_word(level))
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
        assert_eq!(ctime(1_703_980_800), "Sun Dec 31 00:00:00 2023");
    }

    #[test]
    fn rfc3339_and_lines() {
        assert_eq!(rfc3339(1_549_372_803), "2019-02-05T13:20:03Z");
        assert_eq!(
            text_line(1_549_372_803, &Level::INFO, "DCID 1 TLS success"),
            "Tue Feb  5 13:20:03 2019 Info: DCID 1 TLS success"
        );
        assert_eq!(level_word(&Level::ERROR), "Critical");
        assert_eq!(level_word(&Level::WARN), "Warning");
    }
}
