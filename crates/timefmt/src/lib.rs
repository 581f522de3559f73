//! Dates as danegate writes them, all through the `time` crate's formatter: one
//! function ([`utc`], or [`format`] for a time already in hand) and one [`Layout`] per
//! kind of date the product shows. Always UTC.

use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

/// How a date is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `Tue Feb  5 13:20:03 2019`: C's `ctime` without the newline (the appliance's log
    /// lines).
    Ctime,
    /// `Tue, 5 Feb 2019 13:20:03 +0000`: an RFC 5322 §3.3 date-time (message headers,
    /// DSNs).
    Rfc5322,
    /// `2019-02-05T13:20:03Z`: an RFC 3339 §5.6 date-time (JSON, traces).
    Rfc3339,
    /// `2019-02-05 13:20:03 UTC` (reports and pages for people).
    Readable,
    /// `2019-02-05 13:20:03Z` (the columns of the admin command's listings).
    Listing,
    /// `2019-02-05`.
    Date,
    /// `20190205132003`: the RRSIG time of the DNS presentation format (RFC 4034 §3.2).
    Compact,
}

impl Layout {
    fn items(self) -> &'static [BorrowedFormatItem<'static>] {
        match self {
            Layout::Ctime => format_description!(
                "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
            ),
            Layout::Rfc5322 => format_description!(
                "[weekday repr:short], [day padding:none] [month repr:short] [year] [hour]:[minute]:[second] +0000"
            ),
            Layout::Rfc3339 => {
                format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")
            }
            Layout::Readable => {
                format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")
            }
            Layout::Listing => {
                format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z")
            }
            Layout::Date => format_description!("[year]-[month]-[day]"),
            Layout::Compact => format_description!("[year][month][day][hour][minute][second]"),
        }
    }
}

/// `t` (taken as UTC) in `layout`.
pub fn format(t: OffsetDateTime, layout: Layout) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    // Every layout names only fields an OffsetDateTime has: formatting cannot fail.
    t.format(layout.items()).unwrap_or_default()
}

/// Seconds since the epoch in `layout`; `None` outside the years 1 to 9999.
pub fn utc(unix_secs: i64, layout: Layout) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .filter(|t| t.year() >= 1)
        .map(|t| format(t, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout() {
        // 2019-02-05 13:20:03 UTC was a Tuesday.
        let t = 1_549_372_803;
        let f = |l| utc(t, l).unwrap();
        assert_eq!(f(Layout::Ctime), "Tue Feb  5 13:20:03 2019");
        assert_eq!(f(Layout::Rfc5322), "Tue, 5 Feb 2019 13:20:03 +0000");
        assert_eq!(f(Layout::Rfc3339), "2019-02-05T13:20:03Z");
        assert_eq!(f(Layout::Readable), "2019-02-05 13:20:03 UTC");
        assert_eq!(f(Layout::Listing), "2019-02-05 13:20:03Z");
        assert_eq!(f(Layout::Date), "2019-02-05");
        assert_eq!(f(Layout::Compact), "20190205132003");
        assert_eq!(
            utc(0, Layout::Ctime).as_deref(),
            Some("Thu Jan  1 00:00:00 1970")
        );
        assert_eq!(
            utc(1_703_980_800, Layout::Ctime).as_deref(),
            Some("Sun Dec 31 00:00:00 2023")
        );
        assert_eq!(
            utc(951_782_400, Layout::Rfc5322).as_deref(),
            Some("Tue, 29 Feb 2000 00:00:00 +0000")
        );
    }

    #[test]
    fn out_of_range_is_none() {
        assert_eq!(utc(i64::MAX, Layout::Date), None);
        assert_eq!(utc(-70_000_000_000, Layout::Date), None);
    }

    #[test]
    fn an_offset_is_written_as_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_549_372_803)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(format(t, Layout::Rfc3339), "2019-02-05T13:20:03Z");
    }
}
