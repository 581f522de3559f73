//! The gateway, in Postfix's order: the listener accepts mail from internal servers
//! (Host Access Table, Recipient Access Table), the queue stores it durably, the
//! scheduler picks due recipients per destination domain, the delivery agent sends
//! them under the destination's TLS and DANE policy, and bounces go back as DSNs.

mod batv;
mod conn_cache;
mod deliver;
mod health;
mod listener;
mod observe;
mod rate;
mod scheduler;
mod shadow;
mod shadow_sts;
mod store;
mod sts;
pub mod tlsrpt;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use danegate_config::Config;
use danegate_dns::{Resolver, ResolverConfig, TrustAnchors, UpstreamConfig};
use danegate_queue::Store;
use danegate_smtpd::{ParamsHandle, Server};
use rustls_pki_types::TrustAnchor;
use tokio::sync::{Notify, watch};

pub use batv::{BatvKey, Verdict as BatvVerdict};
pub use deliver::notify_allows;
pub use health::node_label;
pub use listener::{load_listener_tls, postmaster_address};
pub use shadow::history_domains;
pub use shadow::{
    DAILY_KEEP, DomainShadow, HOURLY_KEEP, MAX_DOMAINS, ModeCounts, REASONS_KEPT, ShadowCounts,
    ShadowReason, StsCounts, StsReason,
};

/// Settings that are not part of the configuration file.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// The configuration file (for reloads); `None` runs the embedded default.
    pub config_path: Option<PathBuf>,
    /// The SMTP port of destination servers (25; tests use another).
    pub smtp_port: u16,
    /// Extra PKIX roots (PEM) for the `*-verify` TLS modes, besides the webpki roots.
    pub extra_roots: Vec<TrustAnchor<'static>>,
    /// The longest the scheduler sleeps without looking at the queue.
    pub tick: Duration,
    /// Shadow evaluation of every delivery attempt (what DANE Mandatory and
    /// Opportunistic would have decided), persisted in `<data_dir>/shadow.sqlite`.
    pub shadow: bool,
    /// The HTTPS port of MTA-STS policy hosts (443; tests use another).
    pub sts_https_port: u16,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            config_path: None,
            smtp_port: 25,
            extra_roots: Vec::new(),
            tick: Duration::from_secs(1),
            shadow: true,
            sts_https_port: 443,
        }
    }
}

/// A gateway start failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The queue could not be opened.
    #[error("{0}")]
    Queue(#[from] danegate_queue::QueueError),
    /// A listener could not be set up.
    #[error("listener {name} ({addr}): {error}")]
    Listener {
        /// Its name.
        name: String,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        error: String,
    },
    /// The trust-anchor file could not be read.
    #[error("{0}")]
    Anchors(#[from] danegate_dns::AnchorError),
    /// `[server] ca_file` could not be read, or MTA-STS could not be set up.
    #[error("{0}")]
    Tls(String),
}

/// The last delivery outcome for a destination domain (for Delivery Status and
/// `hoststatus`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastOutcome {
    /// When the attempt ended.
    pub when: std::time::SystemTime,
    /// The MX host (or route host) tried last, if any.
    pub host: Option<String>,
    /// `DANE SUCCESS`, `DANE FAILED`, `DANE FALLBACK`, `DANE UNUSABLE TLSA` (a secure
    /// TLSA RRset without a usable record: TLS, unauthenticated), `DANE TEMPORARY FAILURE`, or
    /// `no DANE` when the profile's DANE Support is None or a route applied.
    pub dane: String,
    /// TLS protocol and cipher of the session, when one was established.
    pub tls: Option<(String, String)>,
    /// What happened, in one line (the reply, or the reason for a deferral).
    pub detail: String,
    /// The host (and address) the attempt connected to last, also when it failed.
    pub tried: Option<String>,
    /// TLS reached the server's certificate and its check failed: why.
    pub cert_failed: Option<String>,
}

/// The shared state of a running gateway.
pub(crate) struct Shared {
    pub config: RwLock<Arc<Config>>,
    pub resolver: RwLock<Resolver>,
    pub store: Arc<dyn Store>,
    pub wake: Notify,
    pub opts: GatewayOptions,
    pub roots: Arc<Vec<TrustAnchor<'static>>>,
    pub slots: scheduler::Slots,
    /// Idle delivery sessions kept for the next batch to the same destination.
    pub conns: Arc<conn_cache::ConnCache>,
    pub rates: rate::RateLimits,
    pub outcomes: std::sync::Mutex<std::collections::HashMap<String, LastOutcome>>,
    /// Destinations whose last attempt failed before any transaction: until when, why.
    pub suspended:
        std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, String)>>,
    /// The bounce verification key, loaded at first need.
    pub batv: batv::KeyCache,
    /// Shadow evaluation results.
    pub shadow: shadow::ShadowStore,
    /// The TLS-RPT recorder, opened at first need.
    pub tlsrpt: tlsrpt::Cell,
    /// MTA-STS: the policy cache and the latest outcome per domain.
    pub sts: sts::StsState,
}

impl Shared {
    /// The reason `domain` is suspended, while it is.
    pub fn suspension(&self, domain: &str) -> Option<String> {
        let mut map = self.suspended.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(domain) {
            Some((until, why)) if *until > std::time::Instant::now() => Some(why.clone()),
            Some(_) => {
                map.remove(domain);
                None
            }
            None => None,
        }
    }

    /// Suspends deliveries to `domain` for `hold` after a failed attempt.
    pub fn suspend(&self, domain: &str, hold: Duration, why: String) {
        let mut map = self.suspended.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(domain.to_string(), (std::time::Instant::now() + hold, why));
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    pub fn resolver(&self) -> Resolver {
        self.resolver
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// A running gateway. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    shared: Arc<Shared>,
    listeners: Vec<(String, SocketAddr, ParamsHandle)>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn build_resolver(config: &Config) -> Result<Resolver, StartError> {
    let upstreams = config
        .dns
        .effective_resolvers()
        .into_iter()
        .map(|r| UpstreamConfig {
            addr: r.address,
            priority: u32::from(r.priority),
        })
        .collect();
    let anchors = match &config.dns.trust_anchor_file {
        Some(p) => TrustAnchors::from_file(p)?,
        None => TrustAnchors::builtin(),
    };
    let mut rc = ResolverConfig::new(upstreams, anchors);
    rc.timeout = config.dns.timeout;
    rc.sig_skew_min = config.dns.sig_skew_min_secs;
    rc.sig_skew_max = config.dns.sig_skew_max_secs;
    // RFC 5011 tracking of the built-in root anchors; a trust-anchor file overrides them
    // and is used as is.
    if config.dns.trust_anchor_file.is_none() {
        rc.state_dir = Some(config.server.data_dir.join("state"));
    }
    Ok(Resolver::new(rc))
}

/// Starts listeners and the scheduler for `config`.
pub async fn start(config: Config, opts: GatewayOptions) -> Result<Running, StartError> {
    let store::Opened {
        store,
        wakeups: db_wakeups,
    } = store::open(&config).await?;
    let resolver = build_resolver(&config)?;
    let mut roots: Vec<TrustAnchor<'static>> = danegate_delivery::TlsContext::webpki_root_anchors()
        .as_ref()
        .clone();
    roots.extend(opts.extra_roots.iter().cloned());
    let shadow_store = shadow::ShadowStore::new(&config.server.data_dir, opts.shadow);
    // `[server] ca_file`: the operator's extra roots, for every PKIX check.
    if let Some(p) = &config.server.ca_file {
        let extra = danegate_https::load_ca_file(p)
            .map_err(|e| StartError::Tls(format!("[server] ca_file {e}")))?;
        roots.extend(extra);
    }
    let sts = sts::StsState::new(&config.server.data_dir, &roots, opts.sts_https_port)
        .map_err(StartError::Tls)?;
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config.clone())),
        resolver: RwLock::new(resolver),
        store,
        wake: Notify::new(),
        opts,
        roots: Arc::new(roots),
        slots: scheduler::Slots::default(),
        conns: Arc::default(),
        rates: rate::RateLimits::default(),
        outcomes: std::sync::Mutex::new(std::collections::HashMap::new()),
        suspended: std::sync::Mutex::new(std::collections::HashMap::new()),
        batv: batv::KeyCache::default(),
        shadow: shadow_store,
        tlsrpt: tlsrpt::Cell::default(),
        sts,
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut listeners = Vec::new();
    let mut tasks = Vec::new();
    for l in &config.listeners {
        let params = listener::params(&config, l).map_err(|error| StartError::Listener {
            name: l.name.clone(),
            addr: l.address,
            error,
        })?;
        let policy = Arc::new(listener::GatewayPolicy::new(shared.clone()));
        let server = Server::bind(params, policy)
            .await
            .map_err(|e| StartError::Listener {
                name: l.name.clone(),
                addr: l.address,
                error: e.to_string(),
            })?;
        let addr = server.local_addr();
        tracing::info!(target: "danegate::mail", "Listener {} ({}) started on {addr}", l.name, if l.tls.is_some() { "STARTTLS" } else { "no TLS" });
        listeners.push((l.name.clone(), addr, server.params_handle()));
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            server
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        }));
    }
    let sh = shared.clone();
    let rx = stop_rx.clone();
    tasks.push(tokio::spawn(async move { scheduler::run(sh, rx).await }));
    tasks.push(tokio::spawn(shadow::flusher(
        shared.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(tlsrpt::send::run(
        shared.clone(),
        stop_rx.clone(),
    )));
    if let Some(w) = db_wakeups {
        // Another node queued mail (LISTEN/NOTIFY on the shared queue): look now.
        let sh = shared.clone();
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = w.notified() => sh.wake.notify_one(),
                    _ = rx.wait_for(|s| *s) => break,
                }
            }
        }));
    }
    // MTA-STS: refresh cached policies before they run out (RFC 8461 §5.1), also
    // for domains not mailed meanwhile.
    let sh = shared.clone();
    let mut rx = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = async { let _ = rx.wait_for(|s| *s).await; } => break,
                _ = tokio::time::sleep(Duration::from_secs(600)) => {
                    sh.sts.cache.refresh_due(&sh.resolver()).await;
                }
            }
        }
    }));
    Ok(Running {
        shared,
        listeners,
        stop,
        tasks,
    })
}

impl Running {
    /// The bound address of each listener (name, address).
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .map(|(n, a, _)| (n.clone(), *a))
            .collect()
    }

    /// The queue.
    pub fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.shared.config()
    }

    /// The resolver deliveries use: the configured upstreams and trust anchors, and
    /// its DNS cache (shared with every clone).
    pub fn resolver(&self) -> Resolver {
        self.shared.resolver()
    }

    /// The last delivery outcome of every destination domain tried since start.
    pub fn last_outcomes(&self) -> std::collections::HashMap<String, LastOutcome> {
        self.shared
            .outcomes
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// The shadow evaluation results of every destination domain seen in the last
    /// `since` (counts, recent failure reasons, latest record), most messages first.
    pub async fn shadow_report(&self, since: Duration) -> Result<Vec<DomainShadow>, String> {
        let sh = self.shared.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        tokio::task::spawn_blocking(move || sh.shadow.report(since, now))
            .await
            .map_err(|e| format!("shadow report: {e}"))?
    }

    /// The shadow evaluation of the latest delivery attempt to `domain`, if any.
    pub fn latest_shadow(&self, domain: &str) -> Option<danegate_delivery::shadow::ShadowRecord> {
        self.shared.shadow.latest(domain)
    }

    /// Whether shadow evaluation is on.
    pub fn shadow_enabled(&self) -> bool {
        self.shared.shadow.enabled()
    }

    /// The MTA-STS policy cached for `domain` (unexpired), without a lookup.
    pub fn sts_policy(&self, domain: &str) -> Option<danegate_mta_sts::CachedPolicy> {
        self.shared.sts.cache.get(domain)
    }

    /// The latest MTA-STS outcome of every domain delivered to since start.
    pub fn sts_outcomes(&self) -> std::collections::HashMap<String, danegate_mta_sts::StsOutcome> {
        self.shared
            .sts
            .outcomes
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Queues a DSN about `env` to its sender, as the delivery agent does (never for a
    /// null sender; nothing for an empty recipient list).
    pub async fn queue_dsn(
        &self,
        env: &danegate_queue::Envelope,
        data: &[u8],
        kind: danegate_bounce::DsnKind,
        recipients: Vec<danegate_bounce::DsnRecipient>,
    ) {
        let config = self.shared.config();
        deliver::send_dsn(&self.shared, &config, env, data, kind, recipients).await;
    }

    /// Delivery connections open now, per destination domain ("connections out").
    pub fn connections_out(&self) -> std::collections::HashMap<String, usize> {
        self.shared.slots.in_use()
    }

    /// Each upstream resolver with what its DNSSEC probe found, and the trust anchors.
    pub fn dns_status(
        &self,
    ) -> (
        Vec<(UpstreamConfig, danegate_dns::Capability)>,
        TrustAnchors,
    ) {
        let r = self.shared.resolver();
        (r.upstream_status(), r.anchors().clone())
    }

    /// The RFC 5011 state of the trust anchors; `None` when they are static (a
    /// trust-anchor file is configured).
    pub fn anchor_state(&self) -> Option<Vec<danegate_dns::AnchorStateView>> {
        let r = self.shared.resolver();
        r.rfc5011_enabled().then(|| r.anchor_state())
    }

    /// Runs the DNSSEC capability probe of the upstream resolvers now, if the resolver in
    /// use has not run it yet (it otherwise runs before the first lookup); for the admin
    /// `dnsconfig show`.
    pub async fn probe_dns(&self) {
        self.shared.resolver().probe().await;
    }

    /// The configuration file the gateway was started with (`None`: embedded default).
    pub fn config_path(&self) -> Option<&std::path::Path> {
        self.shared.opts.config_path.as_deref()
    }

    /// Makes every queued recipient (of `domain`, or all) due now, lifts the
    /// suspension of those destinations, and wakes the scheduler — the appliance's
    /// "deliver now". Returns how many recipients were rescheduled.
    pub async fn deliver_now(
        &self,
        domain: Option<&str>,
    ) -> Result<usize, danegate_queue::QueueError> {
        if let Ok(mut m) = self.shared.suspended.lock() {
            match domain {
                Some(d) => {
                    m.remove(&d.trim_end_matches('.').to_ascii_lowercase());
                }
                None => m.clear(),
            }
        }
        let n = self.shared.store.deliver_now(domain).await?;
        self.kick();
        Ok(n)
    }

    /// Looks at the queue now instead of at the next tick.
    pub fn kick(&self) {
        self.shared.wake.notify_one();
    }

    /// Applies a new, already validated configuration atomically: new connections and
    /// new delivery attempts use it; connections and deliveries in progress finish with
    /// the old one; nothing queued is touched. Listener addresses cannot change
    /// without a restart (an error says so and nothing is applied).
    pub fn apply(&self, config: Config) -> Result<(), String> {
        let old = self.shared.config();
        let same_listeners = old.listeners.len() == config.listeners.len()
            && old
                .listeners
                .iter()
                .zip(&config.listeners)
                .all(|(a, b)| a.address == b.address);
        if !same_listeners {
            return Err("listener addresses changed: restart danegate to apply them".into());
        }
        let mut params = Vec::new();
        for (l, (_, _, _)) in config.listeners.iter().zip(&self.listeners) {
            params.push(
                listener::params(&config, l).map_err(|e| format!("listener {}: {e}", l.name))?,
            );
        }
        let resolver = build_resolver(&config).map_err(|e| e.to_string())?;
        for (p, (_, _, handle)) in params.into_iter().zip(&self.listeners) {
            handle.set(p);
        }
        if let Ok(mut r) = self.shared.resolver.write() {
            *r = resolver;
        }
        if let Ok(mut c) = self.shared.config.write() {
            *c = Arc::new(config);
        }
        // Sessions verified under the old settings are not reused.
        self.shared.conns.clear();
        tracing::info!(target: "danegate::mail", "Configuration committed");
        self.kick();
        Ok(())
    }

    /// Stops listeners and the scheduler; deliveries in progress are abandoned and
    /// their recipients become due again at the next start (at-least-once).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.shared.conns.clear();
    }
}
