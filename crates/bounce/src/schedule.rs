//! The retry schedule of a bounce profile: when to try again, when to give up,
//! when to warn the sender.
//!
//! Semantics follow Postfix (`minimal_backoff_time`, `maximal_backoff_time`,
//! `maximal_queue_lifetime`, `delay_warning_time`) and the appliance's bounce
//! profile form (initial retry, maximum retry interval, maximum number of retries,
//! maximum time in queue, delay warnings, hard bounces). The caller owns the clock
//! and the random source; nothing here reads either.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Retries are never scheduled sooner than this, whatever the profile says.
pub const MIN_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// One bounce profile (bounce profiles).
///
/// The defaults are those of [`BounceProfile::default`]: first retry after 60 s,
/// intervals doubling up to 3600 s, at most 100 retries, at most 72 h in the queue,
/// no delay warnings, hard bounces on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceProfile {
    /// Interval before the first retry (after the first failed attempt).
    pub initial_retry: Duration,
    /// Upper bound of the interval between two attempts; the doubling stops here.
    pub max_retry_interval: Duration,
    /// Number of *retries* after the first attempt. `0` means one attempt only.
    pub max_retries: u32,
    /// Maximum time in the queue, counted from the first queueing; at exactly this
    /// age the message bounces.
    pub max_queue_time: Duration,
    /// Send one delay warning (an RFC 3464 DSN with `Action: delayed`) once a
    /// message has waited this long; `None` disables delay warnings.
    pub delay_warning_after: Option<Duration>,
    /// Send a failure DSN (RFC 3464 `Action: failed`) when a recipient bounces.
    /// When false, failed recipients are dropped without notice (the appliance's
    /// "Send Hard Bounce Messages: No"); a null sender never gets one either way.
    pub hard_bounces: bool,
}

impl Default for BounceProfile {
    fn default() -> Self {
        Self {
            initial_retry: Duration::from_secs(60),
            max_retry_interval: Duration::from_secs(3600),
            max_retries: 100,
            max_queue_time: Duration::from_secs(72 * 3600),
            delay_warning_after: None,
            hard_bounces: true,
        }
    }
}

/// The interval before the next attempt, without jitter.
///
/// `attempts_so_far` counts the delivery attempts already made (the first attempt
/// included). After one attempt the interval is `initial_retry`, after two it is
/// doubled, and so on, never above `max_retry_interval` and never below
/// [`MIN_RETRY_INTERVAL`]. `attempts_so_far == 0` (nothing tried yet) also gives
/// `initial_retry`.
pub fn base_retry_interval(profile: &BounceProfile, attempts_so_far: u32) -> Duration {
    let cap = upper_bound(profile);
    let doublings = attempts_so_far.saturating_sub(1);
    let base = 2u32
        .checked_pow(doublings)
        .and_then(|factor| profile.initial_retry.checked_mul(factor))
        .unwrap_or(cap);
    base.clamp(MIN_RETRY_INTERVAL, cap)
}

/// The interval before the next attempt: [`base_retry_interval`] with ±20 %
/// uniform jitter, so that messages queued together do not retry together.
///
/// The result is never below [`MIN_RETRY_INTERVAL`] and never above
/// `max_retry_interval` (if a profile sets a maximum below one second, one second
/// wins). Integer arithmetic only: no overflow or panic for any profile.
pub fn next_retry<R: Rng + ?Sized>(
    profile: &BounceProfile,
    attempts_so_far: u32,
    rng: &mut R,
) -> Duration {
    let base = base_retry_interval(profile, attempts_so_far).as_nanos();
    let spread = base / 5;
    let offset = rng.random_range(0..=spread.saturating_mul(2));
    let jittered = (base - spread).saturating_add(offset);
    let cap = upper_bound(profile);
    let nanos = jittered.clamp(MIN_RETRY_INTERVAL.as_nanos(), cap.as_nanos());
    duration_from_nanos(nanos).unwrap_or(cap)
}

/// Whether the message (or recipient) must bounce now instead of being retried.
///
/// True when it has been queued for `max_queue_time` or longer (an age of exactly
/// `max_queue_time` bounces), or when the retries are used up: `attempts` counts
/// delivery attempts made (first attempt plus retries), so this is true once
/// `attempts >= max_retries + 1`. A clock that went backwards (`now` before
/// `first_queued`) counts as age zero.
pub fn expired(
    profile: &BounceProfile,
    first_queued: SystemTime,
    attempts: u32,
    now: SystemTime,
) -> bool {
    let retries_done = attempts.saturating_sub(1);
    age(first_queued, now) >= profile.max_queue_time
        || (attempts > 0 && retries_done >= profile.max_retries)
}

/// Whether a delay warning (RFC 3464 `Action: delayed`) is due now.
///
/// At most one warning per message: false once `already_warned`. Due when the
/// profile enables warnings and the message has waited at least
/// `delay_warning_after`, but not once it has reached `max_queue_time` (it bounces
/// then, and a failure DSN replaces the warning).
pub fn delay_warning_due(
    profile: &BounceProfile,
    first_queued: SystemTime,
    now: SystemTime,
    already_warned: bool,
) -> bool {
    let Some(after) = profile.delay_warning_after else {
        return false;
    };
    let waited = age(first_queued, now);
    !already_warned && waited >= after && waited < profile.max_queue_time
}

fn age(first_queued: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(first_queued).unwrap_or(Duration::ZERO)
}

fn upper_bound(profile: &BounceProfile) -> Duration {
    profile.max_retry_interval.max(MIN_RETRY_INTERVAL)
}

fn duration_from_nanos(nanos: u128) -> Option<Duration> {
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    Some(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn defaults() {
        let p = BounceProfile::default();
        assert_eq!(p.initial_retry, S(60));
        assert_eq!(p.max_retry_interval, S(3600));
        assert_eq!(p.max_retries, 100);
        assert_eq!(p.max_queue_time, S(72 * 3600));
        assert_eq!(p.delay_warning_after, None);
        assert!(p.hard_bounces);
    }

    #[test]
    fn base_doubles_then_caps() {
        let p = BounceProfile::default();
        let got: Vec<u64> = (0..10)
            .map(|n| base_retry_interval(&p, n).as_secs())
            .collect();
        assert_eq!(got, [60, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        // Monotone and capped for every attempt count, including huge ones.
        let mut prev = Duration::ZERO;
        for n in (0..200).chain([u32::MAX - 1, u32::MAX]) {
            let b = base_retry_interval(&p, n);
            assert!(b >= prev, "attempt {n}: {b:?} < {prev:?}");
            assert!(b <= p.max_retry_interval);
            prev = b;
        }
    }

    #[test]
    fn base_respects_floor_and_odd_profiles() {
        let p = BounceProfile {
            initial_retry: Duration::ZERO,
            max_retry_interval: Duration::ZERO,
            ..BounceProfile::default()
        };
        assert_eq!(base_retry_interval(&p, 5), S(1));
        let p = BounceProfile {
            initial_retry: S(7200),
            max_retry_interval: S(3600),
            ..BounceProfile::default()
        };
        assert_eq!(base_retry_interval(&p, 1), S(3600));
        let p = BounceProfile {
            initial_retry: Duration::MAX,
            max_retry_interval: Duration::MAX,
            ..BounceProfile::default()
        };
        assert_eq!(base_retry_interval(&p, 40), Duration::MAX);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(next_retry(&p, 40, &mut rng) <= Duration::MAX);
    }

    #[test]
    fn jitter_bounds_over_10000_draws() {
        let p = BounceProfile::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempts in [1u32, 2, 4, 6, 7, 8, 50] {
            let base = base_retry_interval(&p, attempts).as_secs_f64();
            let (mut lo, mut hi, mut sum) = (f64::MAX, 0f64, 0f64);
            for _ in 0..10_000 {
                let d = next_retry(&p, attempts, &mut rng);
                assert!(d >= MIN_RETRY_INTERVAL);
                assert!(d <= p.max_retry_interval, "{d:?}");
                let s = d.as_secs_f64();
                assert!(
                    s >= base * 0.8 - 1e-9 && s <= base * 1.2 + 1e-9,
                    "{s} vs {base}"
                );
                lo = lo.min(s);
                hi = hi.max(s);
                sum += s;
            }
            // The jitter is really used: both ends of the ±20 % band are reached
            // (up to the cap), and the mean sits near the base.
            assert!(
                lo < base * 0.82,
                "attempts {attempts}: min {lo} base {base}"
            );
            if base * 1.2 <= p.max_retry_interval.as_secs_f64() {
                assert!(
                    hi > base * 1.18,
                    "attempts {attempts}: max {hi} base {base}"
                );
                let mean = sum / 10_000.0;
                assert!((mean / base - 1.0).abs() < 0.01, "mean {mean} base {base}");
            } else {
                assert_eq!(hi, p.max_retry_interval.as_secs_f64());
            }
        }
    }

    #[test]
    fn jitter_never_below_one_second() {
        let p = BounceProfile {
            initial_retry: S(1),
            ..BounceProfile::default()
        };
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..10_000 {
            let d = next_retry(&p, 1, &mut rng);
            assert!(d >= S(1) && d <= Duration::from_millis(1200), "{d:?}");
        }
    }

    #[test]
    fn growth_is_monotone_in_expectation() {
        let p = BounceProfile::default();
        let mut rng = StdRng::seed_from_u64(11);
        let mean = |n: u32, rng: &mut StdRng| -> f64 {
            (0..1000)
                .map(|_| next_retry(&p, n, rng).as_secs_f64())
                .sum::<f64>()
                / 1000.0
        };
        let mut prev = 0.0;
        for n in 1..12 {
            let m = mean(n, &mut rng);
            assert!(m >= prev * 0.98, "attempt {n}: mean {m} after {prev}");
            prev = m;
        }
        // Doubling: the jitter bands of two consecutive uncapped steps never overlap.
        let a = next_retry(&p, 2, &mut rng);
        let b = next_retry(&p, 3, &mut rng);
        assert!(b > a);
    }

    #[test]
    fn expired_at_the_edges() {
        let p = BounceProfile::default();
        let t0 = SystemTime::UNIX_EPOCH + S(1_700_000_000);
        let max = p.max_queue_time;
        assert!(!expired(&p, t0, 1, t0));
        assert!(!expired(&p, t0, 1, t0 + max - Duration::from_nanos(1)));
        assert!(expired(&p, t0, 1, t0 + max));
        assert!(expired(&p, t0, 1, t0 + max + S(1)));
        // Clock went backwards: not expired by age.
        assert!(!expired(&p, t0, 1, t0 - S(3600)));
        // Retries: 100 retries = 101 attempts.
        assert!(!expired(&p, t0, 0, t0));
        assert!(!expired(&p, t0, 100, t0));
        assert!(expired(&p, t0, 101, t0));
        assert!(expired(&p, t0, u32::MAX, t0));
        let once = BounceProfile {
            max_retries: 0,
            ..BounceProfile::default()
        };
        assert!(!expired(&once, t0, 0, t0));
        assert!(expired(&once, t0, 1, t0));
    }

    #[test]
    fn delay_warning_once() {
        let p = BounceProfile {
            delay_warning_after: Some(S(4 * 3600)),
            ..BounceProfile::default()
        };
        let t0 = SystemTime::UNIX_EPOCH + S(1_700_000_000);
        assert!(!delay_warning_due(&p, t0, t0 + S(4 * 3600 - 1), false));
        assert!(delay_warning_due(&p, t0, t0 + S(4 * 3600), false));
        assert!(!delay_warning_due(&p, t0, t0 + S(4 * 3600), true));
        assert!(!delay_warning_due(&p, t0, t0 + S(48 * 3600), true));
        // At bounce time a failure DSN replaces the warning.
        assert!(!delay_warning_due(&p, t0, t0 + p.max_queue_time, false));
        // Disabled by default.
        let off = BounceProfile::default();
        assert!(!delay_warning_due(&off, t0, t0 + S(70 * 3600), false));
        // Simulated scheduler: exactly one warning over the message's life.
        let mut warned = false;
        let mut sent = 0;
        for minutes in (0..72 * 60).step_by(7) {
            if delay_warning_due(&p, t0, t0 + S(minutes * 60), warned) {
                warned = true;
                sent += 1;
            }
        }
        assert_eq!(sent, 1);
    }
}
