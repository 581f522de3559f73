//! Appliance-style log lines: `Tue Feb  5 13:20:03 2019 Info: ...` (ctime timestamp,
//! UTC) on standard error, and for `serve` the log subscriptions of the configuration
//! (`[[log]]`, crates/logs).

use danegate_logs::{LogError, LogsHandle, LogsLayer, StderrLayer, Subscription};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

#[cfg(test)]
pub use danegate_logs::ctime;

/// Sends `danegate*` events to standard error: warnings always, the debug trace
/// (every DNS query, every DANE step) with `trace`.
pub fn install_stderr(trace: bool) {
    install_stderr_level(if trace { Level::DEBUG } else { Level::WARN });
}

/// Sends `danegate*` events up to `max` to standard error.
pub fn install_stderr_level(max: Level) {
    let subscriber = tracing_subscriber::registry().with(StderrLayer { max });
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Sends `danegate*` events up to `max` to standard error and to the log
/// subscriptions; the handle re-applies subscriptions on reload.
pub fn install_with_subscriptions(
    max: Level,
    subs: &[Subscription],
) -> Result<LogsHandle, LogError> {
    let (layer, handle) = LogsLayer::new(subs)?;
    let subscriber = tracing_subscriber::registry()
        .with(StderrLayer { max })
        .with(layer);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_matches_the_appliance() {
        // 2019-02-05 13:20:03 UTC was a Tuesday.
        assert_eq!(ctime(1_549_372_803), "Tue Feb  5 13:20:03 2019");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }
}
