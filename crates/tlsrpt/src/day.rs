//! The UTC day a report covers (RFC 8460 §4.1: "reports cover a full day, starting and
//! ending at 0000 UTC").

use std::{fmt, str::FromStr, time::SystemTime};

use time::{Date, Month, OffsetDateTime};

/// One UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(Date);

impl Day {
    /// The UTC day of `t`.
    pub fn of(t: SystemTime) -> Day {
        Day(OffsetDateTime::from(t).date())
    }

    /// Today (UTC).
    pub fn today() -> Day {
        Day::of(SystemTime::now())
    }

    /// The day before.
    pub fn previous(self) -> Day {
        Day(self.0.previous_day().unwrap_or(self.0))
    }

    /// The day after.
    pub fn next(self) -> Day {
        Day(self.0.next_day().unwrap_or(self.0))
    }

    /// Seconds since the epoch at 00:00:00 UTC of this day.
    pub fn start_unix(self) -> i64 {
        self.0.midnight().assume_utc().unix_timestamp()
    }

    /// Seconds since the epoch at 23:59:59 UTC of this day.
    pub fn end_unix(self) -> i64 {
        self.start_unix() + 86_399
    }

    /// `2016-04-01T00:00:00Z` (RFC 8460 §4.4 `start-datetime`).
    pub fn start_rfc3339(self) -> String {
        danegate_timefmt::utc(self.start_unix(), danegate_timefmt::Layout::Rfc3339)
            .unwrap_or_default()
    }

    /// `2016-04-01T23:59:59Z` (RFC 8460 §4.4 `end-datetime`).
    pub fn end_rfc3339(self) -> String {
        danegate_timefmt::utc(self.end_unix(), danegate_timefmt::Layout::Rfc3339)
            .unwrap_or_default()
    }

    /// `20160401` (report ids).
    pub fn compact(self) -> String {
        format!(
            "{:04}{:02}{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl fmt::Display for Day {
    /// `2016-04-01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl FromStr for Day {
    type Err = String;
    /// `YYYY-MM-DD`, strictly.
    fn from_str(s: &str) -> Result<Day, String> {
        let bad = || format!("{s:?} is not a date: expected YYYY-MM-DD, e.g. 2026-04-01");
        let b = s.as_bytes();
        if b.len() != 10
            || b.get(4) != Some(&b'-')
            || b.get(7) != Some(&b'-')
            || !s
                .char_indices()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
        let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
            return Err(bad());
        };
        let month = u8::try_from(m)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(bad)?;
        let year = i32::try_from(y).map_err(|_| bad())?;
        let day = u8::try_from(d).map_err(|_| bad())?;
        Date::from_calendar_date(year, month, day)
            .map(Day)
            .map_err(|_| format!("{s:?} is not a date of the calendar"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let d: Day = "2016-04-01".parse().unwrap();
        assert_eq!(d.to_string(), "2016-04-01");
        assert_eq!(d.start_rfc3339(), "2016-04-01T00:00:00Z");
        assert_eq!(d.end_rfc3339(), "2016-04-01T23:59:59Z");
        assert_eq!(d.compact(), "20160401");
        assert_eq!(d.start_unix(), 1_459_468_800);
        assert_eq!(d.previous().to_string(), "2016-03-31");
        assert_eq!(d.next().to_string(), "2016-04-02");
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "",
            "2016-4-01",
            "2016/04/01",
            "2016-02-30",
            "2016-13-01",
            "20160401",
            "2016-04-01x",
            "+016-04-01",
        ] {
            assert!(bad.parse::<Day>().is_err(), "{bad}");
        }
    }
}
