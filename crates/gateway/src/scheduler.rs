//! The scheduler: takes due recipients from the queue, groups them per message and
//! destination domain (one transaction per group), and runs delivery agents within the
//! destination's concurrency limit (PRODUCT.md §4, Destination Controls).

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
