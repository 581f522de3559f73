//! The shared TLS probe: one STARTTLS handshake per (MX host, address, port, TLSA
//! RRset, reference identifiers) serves every domain of the audit that reaches the same
//! tuple, and at most a few connections are open to one MX address at once.
//!
//! The first domain to need a tuple runs the live probe ([`danegate_delivery::probe::live`],
//! the very code the gateway and `daneverify` run) and records its steps; every other
//! domain waits for that result and gets the same steps replayed, so its events — and
//! the table's decision made from them — are those of a probe of its own. A host that
//! does not answer is probed (and times out) once.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use std::{future::Future, pin::Pin};

use danegate_admin::stsverify::{MxProbe, MxSession, live_session};
use danegate_dane::policy::CertStatus;
use danegate_delivery::{
    Candidate, Event, Options, TlsContext,
    probe::{ProbeFuture, ProbeRequest, Probed, Steps, TlsInfo, TlsProbe, live},
};
use tokio::{
    sync::{OnceCell, Semaphore},
    task::JoinHandle,
};

/// What identifies a probe's result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    host: String,
    ip: IpAddr,
    port: u16,
    base: String,
    records: Vec<String>,
    reference_ids: Vec<String>,
    all_unusable: bool,
    helo: String,
    local: Option<IpAddr>,
}

impl Key {
    fn of(req: &ProbeRequest<'_>) -> Self {
        let mut records = req.records.to_vec();
        records.sort();
        Key {
            host: req.host.to_ascii_lowercase(),
            ip: req.ip,
            port: req.port,
            base: req.base.to_ascii_lowercase(),
            records,
            reference_ids: req.reference_ids.names().to_vec(),
            all_unusable: req.all_unusable,
            helo: req.helo.to_string(),
            local: req.local,
        }
    }
}

/// A probe's steps and result, kept for replay.
#[derive(Clone)]
struct Recorded {
    events: Vec<Event>,
    cert: CertStatus,
    tls: Option<TlsInfo>,
}

/// Counters of the shared probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeStats {
    /// Live probes (TCP connections) made.
    pub handshakes: u64,
    /// Probes answered from an earlier (or concurrent) live probe.
    pub shared: u64,
}

/// A [`TlsProbe`] that shares results and limits connections per address.
pub struct SharedProbe {
    results: Mutex<HashMap<Key, Arc<OnceCell<Recorded>>>>,
    per_ip: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    per_ip_limit: usize,
    quits: Mutex<Vec<JoinHandle<()>>>,
    handshakes: AtomicU64,
    shared: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedProbe {
    /// A probe opening at most `per_ip_limit` (at least 1) connections to one address
    /// at once.
    pub fn new(per_ip_limit: usize) -> Self {
        SharedProbe {
            results: Mutex::new(HashMap::new()),
            per_ip: Mutex::new(HashMap::new()),
            per_ip_limit: per_ip_limit.max(1),
            quits: Mutex::new(Vec::new()),
            handshakes: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ProbeStats {
        ProbeStats {
            handshakes: self.handshakes.load(Ordering::Relaxed),
            shared: self.shared.load(Ordering::Relaxed),
        }
    }

    /// Waits for the QUIT exchanges still running (RFC 5321 §4.1.1.10): a process must
    /// not exit in the middle of them.
    pub async fn finish(&self) {
        let quits: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.quits));
        for q in quits {
            let _ = q.await;
        }
    }

    fn slot(&self, key: Key) -> Arc<OnceCell<Recorded>> {
        lock(&self.results).entry(key).or_default().clone()
    }

    /// The connection slots of `ip` (shared with the MTA-STS sessions, so at most
    /// `per_ip` connections of either kind are open to one address).
    pub fn limiter(&self, ip: IpAddr) -> Arc<Semaphore> {
        lock(&self.per_ip)
            .entry(ip)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_ip_limit)))
            .clone()
    }

    async fn run_live(&self, req: ProbeRequest<'_>) -> Recorded {
        let permit = self.limiter(req.ip).acquire_owned().await.ok();
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        let mut events = Vec::new();
        let probed = live(req, &mut |e| events.push(e)).await;
        if let Some(client) = probed.client {
            // QUIT without holding the result back; the address's slot is held until
            // the session is closed.
            let quit = tokio::spawn(async move {
                let _ = client.quit().await;
                drop(permit);
            });
            lock(&self.quits).push(quit);
        }
        Recorded {
            events,
            cert: probed.cert,
            tls: probed.tls,
        }
    }
}

impl TlsProbe for SharedProbe {
    fn probe<'a>(&'a self, req: ProbeRequest<'a>, steps: &'a mut Steps<'_>) -> ProbeFuture<'a> {
        Box::pin(async move {
            let cell = self.slot(Key::of(&req));
            let mut ran = false;
            let rec = cell
                .get_or_init(|| {
                    ran = true;
                    self.run_live(req)
                })
                .await;
            if !ran {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
            for e in &rec.events {
                steps(e.clone());
            }
            Probed {
                cert: rec.cert,
                tls: rec.tls.clone(),
                client: None,
            }
        })
    }
}

/// What identifies an MTA-STS session: the MX host (the reference identifier) and the
/// address; port, EHLO name and roots are the run's.
type StsKey = (String, std::net::SocketAddr);

/// The MTA-STS sessions (RFC 8461 §4.2, §5): one live session per (MX host, address)
/// serves every domain of the audit whose policy lets it use that host; connections
/// count against the same per-address slots as the DANE probes.
pub struct SharedStsProbe {
    dane: Arc<SharedProbe>,
    results: Mutex<HashMap<StsKey, Arc<OnceCell<MxSession>>>>,
    handshakes: AtomicU64,
    shared: AtomicU64,
}

impl SharedStsProbe {
    /// Sessions limited by `dane`'s per-address slots.
    pub fn new(dane: Arc<SharedProbe>) -> Self {
        SharedStsProbe {
            dane,
            results: Mutex::new(HashMap::new()),
            handshakes: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ProbeStats {
        ProbeStats {
            handshakes: self.handshakes.load(Ordering::Relaxed),
            shared: self.shared.load(Ordering::Relaxed),
        }
    }
}

impl MxProbe for SharedStsProbe {
    fn session<'a>(
        &'a self,
        cand: &'a Candidate,
        ctx: &'a TlsContext,
        opts: &'a Options,
    ) -> Pin<Box<dyn Future<Output = MxSession> + Send + 'a>> {
        Box::pin(async move {
            // The reference identifier is the MX host name (ctx), the roots the run's.
            let key = (cand.host.to_ascii_lowercase(), cand.addr);
            let cell = lock(&self.results).entry(key).or_default().clone();
            let mut ran = false;
            let s = cell
                .get_or_init(|| {
                    ran = true;
                    self.live(cand, ctx, opts)
                })
                .await;
            if !ran {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
            s.clone()
        })
    }
}

impl SharedStsProbe {
    async fn live(&self, cand: &Candidate, ctx: &TlsContext, opts: &Options) -> MxSession {
        let _permit = self.dane.limiter(cand.addr.ip()).acquire_owned().await.ok();
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        live_session(cand, ctx, opts).await
    }
}
