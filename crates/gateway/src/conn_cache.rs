//! The delivery connection cache: after a batch, an open session is kept idle for a
//! short time (`server.connection_cache_idle_ms`, 2 s by default, like Postfix's
//! `smtp_connection_cache_time_limit`) so that the next due batch for the same
//! destination is sent over it instead of a new TCP connection, EHLO, STARTTLS and TLS
//! handshake.
//!
//! A session is reused only under the same [`Key`]: the destination domain and
//! everything that made its authentication valid (the whole destination profile: TLS
//! Support, DANE mode, IP preference, outbound interface, ...; the SMTP route's hosts;
//! the EHLO name and port). A configuration change empties the cache
//! ([`ConnCache::clear`]), so a reused session was always verified under the settings
//! in force. Nothing is resumed at the TLS layer: a cached session is the same TLS
//! connection, whose certificate was checked when it was opened.
//!
//! An idle session keeps its destination's connection slot (the profile's concurrent
//! connections): a batch that needs a slot takes an idle session of its key when there
//! is one, and otherwise waits for a free slot *or* for a session given back
//! ([`ConnCache::checkout`]). The profile's messages per connection are counted across
//! reuses ([`Idle::used`]). A cached session found dead by the liveness check (RSET,
//! RFC 5321 §4.1.1.5, as Postfix does) is dropped and the caller opens a new one; that
//! is not a failed delivery attempt.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use danegate_config::{DestinationProfile, RouteHost};
use danegate_delivery::Session;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// What a cached session must match to be reused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// The recipient domain (lower case).
    domain: String,
    /// The whole destination profile in force (TLS, DANE, IP preference, outbound
    /// interface, limits...): any difference means a different key.
    profile: String,
    /// The SMTP route's hosts (empty: the MX hosts).
    route: String,
    /// EHLO name and destination port.
    helo: String,
    port: u16,
}

impl Key {
    /// The key of a delivery to `domain` under `profile`, with the SMTP route's hosts
    /// (`None`: MX hosts).
    pub fn new(
        domain: &str,
        profile: &DestinationProfile,
        route: Option<&[RouteHost]>,
        helo: &str,
        port: u16,
    ) -> Self {
        Key {
            domain: domain.to_ascii_lowercase(),
            profile: format!("{profile:?}"),
            route: route.map(|r| format!("{r:?}")).unwrap_or_default(),
            helo: helo.to_string(),
            port,
        }
    }
}

/// A session taken from the cache.
pub(crate) struct Reused {
    /// The session, after a completed transaction.
    pub session: Session,
    /// Its delivery connection ID (a reused connection keeps its DCID in the logs).
    pub dcid: u64,
    /// Messages already sent over it (against `max_messages_per_connection`).
    pub used: u32,
}

/// An idle session in the cache.
struct Idle {
    conn: Reused,
    /// Its destination connection slot.
    permit: OwnedSemaphorePermit,
    /// Identifies it for its expiry.
    id: u64,
}

/// The cache, shared by every delivery of a gateway.
#[derive(Default)]
pub(crate) struct ConnCache {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    /// Woken whenever a session is given back.
    returned: Notify,
    next_id: AtomicU64,
}

impl ConnCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently given back idle session of `key`, if any.
    fn take(&self, key: &Key) -> Option<Idle> {
        let mut map = self.lock();
        let list = map.get_mut(key)?;
        let idle = list.pop();
        if list.is_empty() {
            map.remove(key);
        }
        idle
    }

    /// A connection slot for a delivery under `key`: an idle session of that key (with
    /// its slot) when there is one, else a free slot of `slots`; while neither is
    /// available, waits for either (a session given back, or a slot freed when an idle
    /// one expires or a delivery ends). `None` if the semaphore was closed.
    pub async fn checkout(
        &self,
        key: &Key,
        slots: Arc<Semaphore>,
    ) -> Option<(OwnedSemaphorePermit, Option<Reused>)> {
        loop {
            // Registered before looking, so a session given back in between wakes us.
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(idle) = self.take(key) {
                return Some((idle.permit, Some(idle.conn)));
            }
            if let Ok(p) = slots.clone().try_acquire_owned() {
                return Some((p, None));
            }
            tokio::select! {
                p = slots.clone().acquire_owned() => return p.ok().map(|p| (p, None)),
                _ = &mut returned => {}
            }
        }
    }

    /// Keeps `session` idle under `key` for `limit`, then closes it (QUIT) unless a
    /// delivery took it meanwhile.
    pub fn give_back(
        self: &Arc<Self>,
        key: Key,
        session: Session,
        dcid: u64,
        used: u32,
        permit: OwnedSemaphorePermit,
        limit: Duration,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(key.clone()).or_default().push(Idle {
            conn: Reused {
                session,
                dcid,
                used,
            },
            permit,
            id,
        });
        self.returned.notify_waiters();
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            if let Some(idle) = cache.remove(&key, id) {
                close(idle.conn.session, idle.conn.dcid).await;
                drop(idle.permit);
            }
        });
    }

    fn remove(&self, key: &Key, id: u64) -> Option<Idle> {
        let mut map = self.lock();
        let list = map.get_mut(key)?;
        let pos = list.iter().position(|i| i.id == id)?;
        let idle = list.remove(pos);
        if list.is_empty() {
            map.remove(key);
        }
        Some(idle)
    }

    /// Closes every idle session (configuration change, shutdown).
    pub fn clear(&self) {
        let all: Vec<Idle> = self.lock().drain().flat_map(|(_, v)| v).collect();
        for idle in all {
            tokio::spawn(async move {
                close(idle.conn.session, idle.conn.dcid).await;
                drop(idle.permit);
            });
        }
    }
}

/// The liveness check before a cached session is reused: RSET (RFC 5321 §4.1.1.5), as
/// Postfix does. False when the session is gone (closed by the server, timed out).
pub(crate) async fn alive(session: &mut Session) -> bool {
    session.client.rset().await.is_ok()
}

/// QUIT, and the appliance's close line.
pub(crate) async fn close(session: Session, dcid: u64) {
    let _ = session.client.quit().await;
    tracing::info!(target: "danegate::mail", "DCID {dcid} close");
}
