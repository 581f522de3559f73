//! `[tls_rpt]`: SMTP TLS Reporting (RFC 8460) — who reports, from which address, when.

/// The `[tls_rpt]` section. Off until configured: with `enabled = false` nothing is
/// recorded and no report is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRpt {
    /// Record TLS outcomes and send daily reports.
    pub enabled: bool,
    /// `organization-name` of the reports (RFC 8460 §4.4).
    pub organization_name: String,
    /// `contact-info` of the reports: an email address or URI.
    pub contact_info: String,
    /// The envelope sender and `From:` of mailed reports.
    pub sender: String,
    /// The submitter's domain (§5.1 file names, §5.3 `TLS-Report-Submitter`); empty: the
    /// server's host name.
    pub submitter: String,
    /// The UTC time of day (hour, minute) at which the previous day's reports are sent.
    pub send_time: (u8, u8),
}

impl Default for TlsRpt {
    fn default() -> Self {
        TlsRpt {
            enabled: false,
            organization_name: String::new(),
            contact_info: String::new(),
            sender: String::new(),
            submitter: String::new(),
            send_time: (1, 0),
        }
    }
}

impl TlsRpt {
    /// The submitter domain in force: `submitter`, or `hostname` when it is empty.
    pub fn submitter_or<'a>(&'a self, hostname: &'a str) -> &'a str {
        if self.submitter.is_empty() {
            hostname
        } else {
            &self.submitter
        }
    }

    /// `HH:MM`.
    pub fn send_time_text(&self) -> String {
        format!("{:02}:{:02}", self.send_time.0, self.send_time.1)
    }
}
