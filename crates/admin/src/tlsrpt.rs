//! TLS-RPT (RFC 8460) operations: what a day's reports hold and where they go, and
//! sending them now.

use danegate_gateway::tlsrpt::send::{Line, Pending};
use danegate_tlsrpt::Day;

use crate::Admin;

/// `YYYY-MM-DD`, or `default` when absent.
fn day(date: Option<&str>, default: Day) -> Result<Day, String> {
    match date {
        None => Ok(default),
        Some(d) => d.trim().parse::<Day>().map_err(|e| format!("--date: {e}")),
    }
}

impl Admin {
    /// The reports of `date` (default: today so far, UTC), of one domain or all.
    pub async fn tlsrpt_show(
        &self,
        date: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Vec<Pending>, String> {
        let d = day(date, Day::today())?;
        self.running.tlsrpt_show(d, domain).await
    }

    /// Sends the reports of `date` (default: yesterday, UTC) now; each destination at
    /// most once.
    pub async fn tlsrpt_send(&self, date: Option<&str>) -> Result<Vec<Line>, String> {
        let d = day(date, Day::today().previous())?;
        tracing::info!(target: "danegate::mail", "admin: TLS-RPT reports of {d} requested");
        self.running.tlsrpt_send(d).await
    }
}
