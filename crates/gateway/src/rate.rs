//! Recipient rate limits per destination (0 – 1,000,000,000 recipients
//! per 1 – 60 minutes), as fixed windows.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use danegate_config::RecipientLimit;

/// Per-domain windows: (start, recipients sent in it).
#[derive(Default)]
pub(crate) struct RateLimits {
    windows: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RateLimits {
    /// Takes `n` recipients from `domain`'s window if they fit (with no limit, always);
    /// otherwise says how long until the window ends. A message with more recipients
    /// than the whole limit goes alone in a fresh window (it could never fit
    /// otherwise); a limit of 0 recipients holds the destination.
    pub fn take(
        &self,
        domain: &str,
        limit: Option<&RecipientLimit>,
        n: usize,
    ) -> Result<(), Duration> {
        self.try_take_at(domain, limit, n, Instant::now())
    }

    fn try_take_at(
        &self,
        domain: &str,
        limit: Option<&RecipientLimit>,
        n: usize,
        now: Instant,
    ) -> Result<(), Duration> {
        let Some(limit) = limit else { return Ok(()) };
        let max = u64::from(limit.recipients);
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = map.entry(domain.to_string()).or_insert((now, 0));
        if now.duration_since(w.0) >= limit.interval {
            *w = (now, 0);
        }
        let n = n as u64;
        if w.1 + n <= max || (w.1 == 0 && max > 0) {
            w.1 += n;
            Ok(())
        } else {
            Err(limit.interval.saturating_sub(now.duration_since(w.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(recipients: u32, secs: u64) -> RecipientLimit {
        RecipientLimit {
            recipients,
            interval: Duration::from_secs(secs),
        }
    }

    #[test]
    fn windows_count_recipients() {
        let r = RateLimits::default();
        let t0 = Instant::now();
        let l = lim(5, 60);
        assert!(r.try_take_at("d", Some(&l), 3, t0).is_ok());
        assert!(r.try_take_at("d", Some(&l), 2, t0).is_ok());
        let wait = r
            .try_take_at("d", Some(&l), 1, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // other domains are separate
        assert!(r.try_take_at("e", Some(&l), 5, t0).is_ok());
        // a new window
        assert!(
            r.try_take_at("d", Some(&l), 5, t0 + Duration::from_secs(60))
                .is_ok()
        );
        // no limit: always
        assert!(r.try_take_at("d", None, 1_000_000, t0).is_ok());
    }

    #[test]
    fn oversized_message_goes_alone_and_zero_holds() {
        let r = RateLimits::default();
        let t0 = Instant::now();
        assert!(r.try_take_at("d", Some(&lim(2, 60)), 10, t0).is_ok());
        assert!(r.try_take_at("d", Some(&lim(2, 60)), 1, t0).is_err());
        assert!(r.try_take_at("z", Some(&lim(0, 60)), 1, t0).is_err());
    }
}
