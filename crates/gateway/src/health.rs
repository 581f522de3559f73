//! What `/metrics` and `/readyz` ask a running gateway: the sampled gauges (queue
//! depth, age of the oldest message, connections out) and the readiness checks (store
//! reachable, a DNSSEC-capable upstream resolver, listeners and scheduler running).

use std::{
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use danegate_config::Config;
use danegate_dns::{Capability, Resolver};
use danegate_metrics::health::{BoxFuture, Check, Probe};
use danegate_queue::Store;

use crate::Running;

/// The shortest time between two samplings of the queue (scrapes closer together get
/// the previous values): bounds the load a scraper can put on the store.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The shortest time between two DNSSEC probes run by `/readyz` when no upstream passed
/// the last one.
const REPROBE_EVERY: Duration = Duration::from_secs(10);

static LAST_REFRESH: Mutex<Option<Instant>> = Mutex::new(None);
static LAST_REPROBE: Mutex<Option<Instant>> = Mutex::new(None);

/// The value of the `node` label of every metric: the node's name in a cluster. Until
/// `[server] node` exists, the configured `[server] hostname` (itself the system's
/// host name when not configured). Read once, at start.
pub fn node_label(config: &Config) -> String {
    config.server.hostname.clone()
}

/// True (and the clock reset) when `every` has passed since the last time.
fn due(last: &Mutex<Option<Instant>>, every: Duration) -> bool {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match *last {
        Some(t) if now.duration_since(t) < every => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}

/// Age of the oldest message with a queued recipient (message ids grow with time: the
/// first queued recipient in id order belongs to it).
async fn oldest_age(store: &dyn Store) -> Option<Duration> {
    let first = store.list(None, 1).await.ok()?.into_iter().next()?;
    let env = store.envelope(first.mid).await.ok()??;
    Some(
        SystemTime::now()
            .duration_since(env.received_at)
            .unwrap_or(Duration::ZERO),
    )
}

/// The DNS check: at least one upstream answered the DNSSEC probe with signed data.
async fn dns_check(resolver: &Resolver) -> Check {
    resolver.probe().await; // once per resolver; at once afterwards
    let capable = |s: &[(danegate_dns::UpstreamConfig, Capability)]| {
        s.iter().any(|(_, c)| *c == Capability::Dnssec)
    };
    let mut status = resolver.upstream_status();
    if !capable(&status) && due(&LAST_REPROBE, REPROBE_EVERY) {
        resolver.reprobe().await;
        status = resolver.upstream_status();
    }
    let list = status
        .iter()
        .map(|(u, c)| format!("{} {c}", u.addr))
        .collect::<Vec<_>>()
        .join(", ");
    if capable(&status) {
        Check::ok("dns", list)
    } else if status.is_empty() {
        Check::failed("dns", "no upstream resolver configured")
    } else {
        Check::failed(
            "dns",
            format!("no upstream resolver passed the DNSSEC probe: {list}"),
        )
    }
}

impl Running {
    /// Samples the queue and the open outbound connections into their gauges (at most
    /// once a second).
    pub async fn refresh_metrics(&self) {
        if !due(&LAST_REFRESH, REFRESH_EVERY) {
            return;
        }
        let store = self.shared.store.clone();
        if let Ok(stats) = store.stats().await {
            danegate_metrics::queue_sample(danegate_metrics::QueueSample {
                queued: stats.total.active,
                in_flight: stats.total.in_flight,
                messages: stats.messages,
                oldest_age: oldest_age(&*store).await,
            });
        }
        danegate_metrics::connections_out_open(self.connections_out().values().sum());
    }

    /// The readiness checks: `store` (the queue answers), `dns` (an upstream resolver
    /// passed the DNSSEC probe; when none has, the probe is run again, at most every
    /// 10 s), `listeners` (every listener task runs) and `scheduler`.
    pub async fn readiness(&self) -> Vec<Check> {
        let store = match self.shared.store.next_due_time().await {
            Ok(_) => Check::ok("store", "the queue answers"),
            Err(e) => Check::failed("store", e.to_string()),
        };
        let dns = dns_check(&self.shared.resolver()).await;
        let down: Vec<String> = self
            .listeners
            .iter()
            .zip(&self.tasks)
            .filter(|(_, t)| t.is_finished())
            .map(|((name, addr, _), _)| format!("{name} ({addr})"))
            .collect();
        let listeners = if self.listeners.is_empty() {
            Check::failed("listeners", "no listener configured")
        } else if down.is_empty() {
            let up = self
                .listeners
                .iter()
                .map(|(name, addr, _)| format!("{name} ({addr})"))
                .collect::<Vec<_>>()
                .join(", ");
            Check::ok("listeners", up)
        } else {
            Check::failed("listeners", format!("stopped: {}", down.join(", ")))
        };
        let scheduler = match self.tasks.get(self.listeners.len()) {
            Some(t) if !t.is_finished() => Check::ok("scheduler", "running"),
            _ => Check::failed("scheduler", "stopped"),
        };
        vec![store, dns, listeners, scheduler]
    }
}

impl Probe for Running {
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.refresh_metrics())
    }

    fn readiness(&self) -> BoxFuture<'_, Vec<Check>> {
        Box::pin(Running::readiness(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_throttles() {
        let m = Mutex::new(None);
        assert!(due(&m, Duration::from_secs(3600)));
        assert!(!due(&m, Duration::from_secs(3600)));
        assert!(due(&m, Duration::ZERO));
    }
}
