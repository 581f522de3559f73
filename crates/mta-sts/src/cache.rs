//! The policy cache (RFC 8461 §5.1, §10.2), persisted in the data directory so that
//! policies survive a restart.
//!
//! On each delivery to a domain, [`PolicyCache::resolve`] looks up the TXT record
//! (the resolver caches it) and:
//! - same id as the cached, unexpired policy: the cached policy; once half its
//!   `max_age` (at most a day) has passed it is fetched again (proactive refresh, so
//!   that it never runs out while the domain still publishes it);
//! - a new id (or nothing cached): fetch; on success the new policy replaces the old;
//! - a failed TXT lookup, no TXT record, or a failed fetch: a cached unexpired policy
//!   stays in force (an attacker who blocks DNS or HTTPS cannot strip it, §10.2); with
//!   nothing cached there is no policy.
//!
//! A domain withdraws its policy by publishing mode `none` under a new id (§10.2);
//! that policy is cached like any other and means "no policy".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use danegate_dns::Resolver;
use serde::{Deserialize, Serialize};

use crate::fetch::{Discovery, FetchError, Fetcher};
use crate::outcome::{PolicySummary, ResultType};
use crate::policy::{Mode, Policy};

/// File name of the cache in the data directory.
pub const CACHE_FILE: &str = "mta-sts-policies.json";

/// The longest wait before a cached policy is fetched again while its id is unchanged.
const REFRESH_CAP_SECS: u64 = 86_400;

/// A cached policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedPolicy {
    /// The TXT id it was published under.
    pub id: String,
    /// The policy.
    pub policy: Policy,
    /// When it was fetched (Unix seconds).
    pub fetched: u64,
    /// When it expires: `fetched + max_age` (Unix seconds).
    pub expires: u64,
}

impl CachedPolicy {
    /// When a proactive refresh is due: half of `max_age`, at most a day, after the fetch.
    pub fn refresh_due(&self) -> u64 {
        self.fetched
            .saturating_add((self.policy.max_age / 2).min(REFRESH_CAP_SECS))
    }

    /// The summary for outcomes and status pages.
    pub fn summary(&self, domain: &str) -> PolicySummary {
        PolicySummary::new(domain, &self.id, &self.policy)
    }

    /// True for a policy that asks something of senders (mode enforce or testing).
    pub fn in_force(&self) -> bool {
        self.policy.mode != Mode::None
    }
}

/// What [`PolicyCache::resolve`] found for a domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The policy in force (mode enforce, testing or none), if any.
    pub policy: Option<CachedPolicy>,
    /// A fetch failure that left the domain without a policy (TLS-RPT
    /// `sts-policy-fetch-error`, `sts-policy-invalid`, `sts-webpki-invalid`).
    pub failure: Option<(ResultType, String)>,
}

/// The cache; shared by all deliveries.
#[derive(Debug)]
pub struct PolicyCache {
    path: Option<PathBuf>,
    map: Mutex<HashMap<String, CachedPolicy>>,
    fetcher: Fetcher,
}

/// Now, in Unix seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn info(line: &str) {
    tracing::info!(target: "danegate::mail", "{line}");
}

fn warn(line: &str) {
    tracing::warn!(target: "danegate::mail", "{line}");
}

impl PolicyCache {
    /// The cache persisted in `<data_dir>/mta-sts-policies.json` (loaded now; a
    /// missing file is an empty cache, an unreadable one is logged and ignored).
    pub fn open(data_dir: &Path, fetcher: Fetcher) -> Self {
        let path = data_dir.join(CACHE_FILE);
        let map = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<HashMap<String, CachedPolicy>>(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    warn(&format!(
                        "MTA-STS policy cache {} unreadable, starting empty: {e}",
                        path.display()
                    ));
                    HashMap::new()
                }
            },
            Err(_) => HashMap::new(),
        };
        PolicyCache {
            path: Some(path),
            map: Mutex::new(map),
            fetcher,
        }
    }

    /// A cache that is not persisted (`stsverify`, tests).
    pub fn in_memory(fetcher: Fetcher) -> Self {
        PolicyCache {
            path: None,
            map: Mutex::new(HashMap::new()),
            fetcher,
        }
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedPolicy>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached, unexpired policy of `domain` (no lookup).
    pub fn get(&self, domain: &str) -> Option<CachedPolicy> {
        let now = now_unix();
        self.lock()
            .get(&domain.to_ascii_lowercase())
            .filter(|c| c.expires > now)
            .cloned()
    }

    /// Every cached policy (expired ones included), sorted by domain.
    pub fn all(&self) -> Vec<(String, CachedPolicy)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|(d, c)| (d.clone(), c.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn store(&self, domain: &str, c: CachedPolicy) {
        let snapshot = {
            let mut m = self.lock();
            m.insert(domain.to_string(), c);
            let now = now_unix();
            m.retain(|_, c| c.expires > now || c.fetched == now);
            m.clone()
        };
        self.save(&snapshot);
    }

    fn save(&self, map: &HashMap<String, CachedPolicy>) {
        let Some(path) = &self.path else { return };
        let tmp = path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(map)
            .map_err(|e| e.to_string())
            .and_then(|bytes| std::fs::write(&tmp, bytes).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
        if let Err(e) = result {
            warn(&format!(
                "MTA-STS policy cache {} not saved: {e}",
                path.display()
            ));
        }
    }

    /// The policy in force for `domain` now (see the module documentation).
    pub async fn resolve(&self, resolver: &Resolver, domain: &str) -> Resolution {
        self.resolve_at(resolver, domain, now_unix()).await
    }

    /// [`Self::resolve`] at Unix time `now` (tests move the clock).
    pub async fn resolve_at(&self, resolver: &Resolver, domain: &str, now: u64) -> Resolution {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let cached = self
            .lock()
            .get(&domain)
            .filter(|c| c.expires > now)
            .cloned();
        let keep = |why: &str| -> Resolution {
            if let Some(c) = &cached {
                info(&format!(
                    "MTA-STS {domain}: {why}; the cached policy id {} ({}) stays in force until {}",
                    c.id,
                    c.policy.mode,
                    unix_text(c.expires)
                ));
            }
            Resolution {
                policy: cached.clone(),
                failure: None,
            }
        };
        match self.fetcher.discover(resolver, &domain).await {
            Discovery::TempFail(e) => keep(&format!("TXT lookup failed ({e})")),
            Discovery::NoPolicy(e) => {
                if cached.is_some() {
                    keep(&e.to_string())
                } else {
                    Resolution::default()
                }
            }
            Discovery::Record(r) => {
                if let Some(c) = &cached
                    && c.id == r.id
                    && now < c.refresh_due()
                {
                    return Resolution {
                        policy: Some(c.clone()),
                        failure: None,
                    };
                }
                match self.fetcher.fetch(resolver, &domain).await {
                    Ok(p) => {
                        let what = match &cached {
                            None => "fetched".to_string(),
                            Some(c) if c.id == r.id => "refreshed".to_string(),
                            Some(c) => format!("updated (id {} replaced)", c.id),
                        };
                        info(&format!(
                            "MTA-STS policy for {domain} {what}: id {} mode {} max_age {} mx {}",
                            r.id,
                            p.mode,
                            p.max_age,
                            p.mx_text()
                        ));
                        let c = CachedPolicy {
                            id: r.id,
                            expires: now.saturating_add(p.max_age),
                            policy: p,
                            fetched: now,
                        };
                        self.store(&domain, c.clone());
                        Resolution {
                            policy: Some(c),
                            failure: None,
                        }
                    }
                    Err(e) => self.fetch_failed(&domain, &r.id, cached.clone(), &e),
                }
            }
        }
    }

    fn fetch_failed(
        &self,
        domain: &str,
        id: &str,
        cached: Option<CachedPolicy>,
        e: &FetchError,
    ) -> Resolution {
        match cached {
            Some(c) => {
                warn(&format!(
                    "MTA-STS policy fetch for {domain} (id {id}) failed, {}: {e}; the cached policy id {} stays in force until {}",
                    e.result_type(),
                    c.id,
                    unix_text(c.expires)
                ));
                Resolution {
                    policy: Some(c),
                    failure: None,
                }
            }
            None => {
                warn(&format!(
                    "MTA-STS policy fetch for {domain} (id {id}) failed, {}: {e}; no policy",
                    e.result_type()
                ));
                Resolution {
                    policy: None,
                    failure: Some((e.result_type(), e.detail.clone())),
                }
            }
        }
    }

    /// Refreshes every cached policy whose refresh is due (a background task calls
    /// this), so that policies of domains mailed rarely do not run out.
    pub async fn refresh_due(&self, resolver: &Resolver) {
        let now = now_unix();
        let due: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, c)| c.expires > now && now >= c.refresh_due())
            .map(|(d, _)| d.clone())
            .collect();
        for d in due {
            let _ = self.resolve_at(resolver, &d, now).await;
        }
    }
}

/// A Unix time as RFC 3339 UTC (logs, status).
pub fn unix_text(secs: u64) -> String {
    danegate_timefmt::utc(
        i64::try_from(secs).unwrap_or(i64::MAX),
        danegate_timefmt::Layout::Rfc3339,
    )
    .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_text_dates() {
        assert_eq!(unix_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(unix_text(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn refresh_due_is_half_max_age_capped_at_a_day() {
        let p = |max_age| CachedPolicy {
            id: "1".into(),
            policy: Policy {
                mode: Mode::Enforce,
                max_age,
                mx: vec![],
            },
            fetched: 1000,
            expires: 1000 + max_age,
        };
        assert_eq!(p(3600).refresh_due(), 2800);
        assert_eq!(p(31_557_600).refresh_due(), 1000 + 86_400);
        assert_eq!(p(0).refresh_due(), 1000);
    }
}
