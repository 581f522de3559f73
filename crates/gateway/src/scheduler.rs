//! The scheduler: takes due recipients from the queue, groups them per message and
//! destination domain (one transaction per group), and runs delivery agents within the
//! destination's concurrency limit (Destination Controls).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use danegate_queue::Recipient;
use tokio::sync::{Semaphore, watch};

use crate::{Shared, deliver};

/// Most delivery groups in progress at once (bounds memory and leases).
const MAX_IN_FLIGHT: usize = 512;

/// Per-destination connection slots ("concurrent connections" of the profile).
#[derive(Default)]
pub(crate) struct Slots {
    by_domain: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl Slots {
    /// Connections open now per destination domain (slots in use; per-interface slots
    /// of one domain added up).
    pub fn in_use(&self) -> std::collections::HashMap<String, usize> {
        let map = self.by_domain.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::collections::HashMap::new();
        for (key, (limit, sem)) in map.iter() {
            let used = (*limit as usize).saturating_sub(sem.available_permits());
            if used > 0 {
                let domain = key.split('|').next().unwrap_or(key).to_string();
                *out.entry(domain).or_insert(0) += used;
            }
        }
        out
    }

    /// The semaphore for `domain`, resized when the profile's limit changed.
    pub fn for_domain(&self, domain: &str, limit: u32) -> Arc<Semaphore> {
        let mut map = self.by_domain.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(domain) {
            Some((l, s)) if *l == limit => s.clone(),
            _ => {
                let s = Arc::new(Semaphore::new(limit.max(1) as usize));
                map.insert(domain.to_string(), (limit, s.clone()));
                s
            }
        }
    }
}

pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        if *stop.borrow() {
            break;
        }
        let room = in_flight.available_permits();
        if room > 0 {
            match shared.store.due(SystemTime::now(), room.min(256)).await {
                Ok(list) if !list.is_empty() => {
                    // Per destination domain, per message (one transaction each), in
                    // batches of the profile's messages per connection.
                    let mut by_domain: BTreeMap<String, BTreeMap<u64, Vec<Recipient>>> =
                        BTreeMap::new();
                    for r in list {
                        by_domain
                            .entry(r.domain.clone())
                            .or_default()
                            .entry(r.mid)
                            .or_default()
                            .push(r);
                    }
                    let config = shared.config();
                    for (domain, msgs) in by_domain {
                        let per_conn = config
                            .destination_for(&domain)
                            .max_messages_per_connection
                            .max(1) as usize;
                        let msgs: Vec<(u64, Vec<Recipient>)> = msgs.into_iter().collect();
                        for chunk in msgs.chunks(per_conn) {
                            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                                return;
                            };
                            let sh = shared.clone();
                            let (domain, chunk) = (domain.clone(), chunk.to_vec());
                            tokio::spawn(async move {
                                deliver::deliver_batch(sh, domain, chunk).await;
                                drop(permit);
                            });
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(target: "danegate::mail", "queue read failed: {e}");
                }
            }
        }
        let wait = match shared.store.next_due_time().await {
            Ok(Some(t)) => t
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(20), shared.opts.tick),
            _ => shared.opts.tick,
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_in_use_are_counted_per_domain() {
        let slots = Slots::default();
        let a = slots.for_domain("example.com", 3);
        let b = slots.for_domain("example.com|192.0.2.1", 2);
        let _p1 = a.clone().try_acquire_owned().unwrap();
        let _p2 = a.clone().try_acquire_owned().unwrap();
        let _p3 = b.clone().try_acquire_owned().unwrap();
        assert_eq!(slots.in_use().get("example.com"), Some(&3));
        drop(_p1);
        assert_eq!(slots.in_use().get("example.com"), Some(&2));
        // a changed limit gives a new semaphore
        let c = slots.for_domain("other.example", 1);
        assert_eq!(c.available_permits(), 1);
        assert!(!slots.in_use().contains_key("other.example"));
    }
}
