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
/// Control characters of `message` are escaped ([`escape_controls`]): a peer's bytes
/// (a Subject, a Message-ID, a reply text) can neither start a new log line nor send
/// terminal escape sequences to whoever reads the log.
pub fn text_line(secs: u64, level: &Level, message: &str) -> String {
    format!(
        "{} {}: {}",
        ctime(secs),
        level_word(level),
        escape_controls(message)
    )
}

/// Characters that must not reach a log file or a terminal as they are: the C0
/// controls (TAB included, LF and CR too: one event is one line), DEL, the C1 controls
/// (U+0080–U+009F; U+009B is a one-character CSI), the line and paragraph separators
/// and the bidirectional embedding/override/isolate controls (which reorder what a
/// terminal shows).
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every control character written as an escape: `\xHH` for ASCII controls
/// (ESC → `\x1b`, LF → `\x0a`), `\u{HHHH}` for the others. Borrowed when nothing
/// needed escaping. (Backslashes are kept as they are, so the four characters `\x1b`
/// may also have been sent literally; they are harmless either way.)
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(must_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !must_escape(c) {
            out.push(c);
        } else if c.is_ascii() {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Text for a terminal: like [`escape_controls`] but line feeds and tabs stay (the
/// text is several lines); a CR, an ESC and every other control is escaped.
pub fn escape_for_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| c == '\n' || c == '\t';
    if !s.chars().any(|c| must_escape(c) && !keep(c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for part in s.split_inclusive(['\n', '\t']) {
        let (body, end) = match part.strip_suffix(['\n', '\t']) {
            Some(b) => (b, &part[b.len()..]),
            None => (part, ""),
        };
        out.push_str(&escape_controls(body));
        out.push_str(end);
    }
    std::borrow::Cow::Owned(out)
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
