//! The delivery agent: one transaction for the recipients of one message at one
//! destination domain, under the destination's profile; then the queue is told the
//! fate of each recipient, and bounces become DSNs (RFC 3464).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use danegate_bounce::{
    BounceProfile, DsnAction, DsnInput, DsnKind, DsnRecipient, ReturnContent, build_dsn,
    delay_warning_due, dsn_envelope, expired, next_retry,
};
use danegate_config::{Config, DestinationProfile, RouteHostName, RouteHosts};
use danegate_delivery::{
    Action, DaneMode, Event, IpPreference, Options, Session, TlsContext, TlsSupport, Verdict,
    candidates_from_dns, candidates_from_route, open_first_session, verify_destination,
};
use danegate_mta_sts::Mode as MtsMode;
use danegate_queue::{Envelope, NewMessage, NewRecipient, Recipient, RecipientId};
use danegate_smtp::{RecipientStatus, Timeouts};
use danegate_smtpd::ServerEvent;

use crate::Shared;

static NEXT_DCID: AtomicU64 = AtomicU64::new(1);

/// What one attempt came to.
#[derive(Clone)]
pub(crate) enum Attempt {
    /// A transaction took place: per-recipient replies.
    Sent(Vec<(String, RecipientStatus, String)>),
    /// Nothing was sent: retry later (4.x.x).
    Defer { enhanced: String, reason: String },
    /// Nothing can ever be sent (5.x.x): e.g. the domain does not exist.
    Bounce { enhanced: String, reason: String },
}

fn bounce_profile(config: &Config, profile: &DestinationProfile) -> BounceProfile {
    let b = config.bounce_profile_for(profile);
    BounceProfile {
        initial_retry: b.initial_retry,
        max_retry_interval: b.max_retry_interval,
        max_retries: b.max_retries,
        max_queue_time: b.max_queue_time,
        delay_warning_after: b.delay_warning_after,
        hard_bounces: b.hard_bounces,
    }
}

/// A destination domain resolved once per batch from the configuration of that moment:
/// everything the rest of the delivery reads (profile, route, bounce profile, and the
/// profile's settings in delivery's vocabulary).
pub(crate) struct Destination {
    /// The recipient domain.
    pub(crate) domain: String,
    /// The destination profile that applies.
    pub(crate) profile: DestinationProfile,
    /// The SMTP route's hosts, when a route to fixed hosts applies (`USEDNS` routes and
    /// no route: `None`, the MX hosts are used).
    pub(crate) route_hosts: Option<Vec<danegate_config::RouteHost>>,
    /// The bounce profile of the destination profile.
    bounce: BounceProfile,
    /// TLS Support, DANE mode and IP preference (exhaustive conversions).
    tls: TlsSupport,
    pub(crate) dane: DaneMode,
    ip_preference: IpPreference,
}

impl Destination {
    fn resolve(config: &Config, domain: &str) -> Self {
        let profile = config.destination_for(domain).clone();
        let route_hosts = match config.route_for(domain).map(|r| &r.hosts) {
            Some(RouteHosts::Hosts(hosts)) => Some(hosts.clone()),
            _ => None,
        };
        Destination {
            domain: domain.to_string(),
            bounce: bounce_profile(config, &profile),
            tls: profile.tls.into(),
            dane: profile.dane.into(),
            ip_preference: profile.ip_preference.into(),
            route_hosts,
            profile,
        }
    }
}

/// One message of a batch, loaded from the queue.
struct Loaded {
    env: Envelope,
    data: Vec<u8>,
    rcpts: Vec<Recipient>,
}

/// Delivers a batch of messages for one destination domain over one connection (up to
/// the profile's messages per connection), within the profile's concurrency and
/// recipient rate limits (Destination Controls).
pub(crate) async fn deliver_batch(
    shared: Arc<Shared>,
    domain: String,
    batch: Vec<(u64, Vec<Recipient>)>,
) {
    let config = shared.config();
    let dest = Destination::resolve(&config, &domain);
    let profile = &dest.profile;
    let slot_key = match (profile.apply_limits, profile.outbound_interface) {
        (danegate_config::ApplyLimits::PerInterface, Some(ip)) => format!("{domain}|{ip}"),
        _ => domain.clone(),
    };
    let slots = shared
        .slots
        .for_domain(&slot_key, profile.max_concurrent_connections);
    // An idle session of this destination (and its slot), or a free slot.
    let key = crate::conn_cache::Key::new(
        &domain,
        profile,
        dest.route_hosts.as_deref(),
        &config.server.hostname,
        shared.opts.smtp_port,
    );
    let Some((slot, mut cached)) = shared.conns.checkout(&key, slots).await else {
        return;
    };
    let idle_limit = config.server.connection_cache_idle;
    let mut msgs: Vec<Loaded> = Vec::new();
    let mids: Vec<u64> = batch.iter().map(|(mid, _)| *mid).collect();
    let loaded = shared.store.load(&mids).await;
    for ((mid, rcpts), read) in batch.into_iter().zip(loaded) {
        match read {
            Ok(Some((env, data))) => msgs.push(Loaded { env, data, rcpts }),
            Ok(None) => {} // removed by an administrator meanwhile
            Err(e) => {
                tracing::error!(target: "danegate::mail", "MID {mid} cannot be read from the queue: {e}");
                let rids: Vec<RecipientId> = rcpts.iter().map(|r| r.rid).collect();
                let _ = shared.store.release(mid, &rids).await;
            }
        }
    }
    let Some(first) = msgs.first() else {
        if let Some(c) = cached {
            shared
                .conns
                .give_back(key, c.session, c.dcid, c.used, slot, idle_limit);
        }
        return;
    };
    // Over the recipient rate: back to the queue until the window ends, without
    // counting an attempt and without holding a connection slot or scheduler room.
    if let Err(wait) =
        shared
            .rates
            .take(&domain, profile.recipient_limit.as_ref(), first.rcpts.len())
    {
        for m in &msgs {
            postpone(&shared, m, wait).await;
        }
        if let Some(c) = cached {
            shared
                .conns
                .give_back(key, c.session, c.dcid, c.used, slot, idle_limit);
        }
        return;
    }
    // A cached session that still answers is used first (not a new attempt); a dead
    // one is dropped and a new session is opened.
    let mut reused = None;
    if let Some(mut c) = cached.take() {
        if crate::conn_cache::alive(&mut c.session).await {
            tracing::debug!(target: "danegate::mail", "DCID {} reused for {domain}", c.dcid);
            reused = Some(c);
        } else {
            tracing::debug!(target: "danegate::mail", "DCID {} cached connection is gone", c.dcid);
        }
    }
    let (dcid, mut used) = match &reused {
        Some(c) => (c.dcid, c.used),
        None => (NEXT_DCID.fetch_add(1, Ordering::Relaxed), 0),
    };
    // A destination that just failed is not tried again for every queued message:
    // they are deferred with the same reason until the suspension ends (Postfix's
    // "delivery temporarily suspended").
    let mut trail = crate::shadow::Trail::default();
    let routed = dest.route_hosts.is_some();
    // A reused session is not a new TLS session (TLS-RPT counts sessions).
    let fresh = reused.is_none();
    let opened = match (reused, shared.suspension(&domain)) {
        (Some(c), _) => {
            // The shadow evaluation still sees this batch: the DNS answers come from
            // the cache, the certificate chain from the session.
            trail.name_session(&c.session);
            if let Some(dns) =
                crate::shadow::lookup(&shared, &domain, routed, dest.ip_preference).await
            {
                let dane_path = dest.dane != DaneMode::None;
                crate::shadow::record(
                    &shared,
                    &dns,
                    Some(&c.session),
                    &trail,
                    dane_path,
                    msgs.len(),
                );
                trail.name_from(&dns);
            }
            Ok(c.session)
        }
        (None, Some(reason)) => Err(Attempt::Defer {
            enhanced: "4.4.1".into(),
            reason: format!("delivery temporarily suspended: {reason}"),
        }),
        (None, None) => {
            // The shadow evaluation's DNS runs alongside the delivery's connection.
            let (opened, dns) = tokio::join!(
                open(&shared, &config, &dest, dcid, &mut trail),
                crate::shadow::lookup(&shared, &domain, routed, dest.ip_preference)
            );
            if let Ok(s) = &opened {
                trail.name_session(s);
            }
            if let Some(dns) = dns {
                let dane_path = dest.dane != DaneMode::None;
                let session = opened.as_ref().ok();
                crate::shadow::record(&shared, &dns, session, &trail, dane_path, msgs.len());
                trail.name_from(&dns);
            }
            opened
        }
    };
    // TLS-RPT: not for a route's smart host, nor for a batch carrying a report.
    let skip = !fresh
        || dest.route_hosts.is_some()
        || msgs.iter().any(|m| crate::tlsrpt::is_report(&m.env));
    let mandatory = dest.dane == DaneMode::Mandatory;
    crate::tlsrpt::after_open(
        &shared,
        &config,
        &domain,
        mandatory,
        &trail.events,
        skip,
        crate::sts::tlsrpt_policy(&shared, &dest).as_ref(),
    )
    .await;
    let mut session = match opened {
        Ok(s) => {
            if used == 0 {
                log_tls(dcid, &domain, &s);
            }
            s
        }
        Err(attempt) => {
            if let Attempt::Defer { enhanced, reason } = &attempt
                && !reason.starts_with("delivery temporarily suspended")
            {
                let hold = dest
                    .bounce
                    .initial_retry
                    .clamp(Duration::from_secs(1), Duration::from_secs(300));
                shared.suspend(&domain, hold, format!("{enhanced} {reason}"));
            }
            record(&shared, &dest, &trail, None, None, None, &attempt);
            for m in &msgs {
                settle(
                    &shared,
                    &config,
                    &dest,
                    dcid,
                    &m.env,
                    &m.rcpts,
                    &m.data,
                    attempt.clone(),
                )
                .await;
            }
            return;
        }
    };
    let cap = profile.max_messages_per_connection.max(1);
    let mut connected = true;
    let mut rest = msgs.into_iter().enumerate();
    while let Some((i, m)) = rest.next() {
        if used >= cap {
            // Messages per connection counted across reuses: the rest go back to the
            // queue for another connection.
            release(&shared, &m).await;
            for (_, m) in rest.by_ref() {
                release(&shared, &m).await;
            }
            shared.wake.notify_one();
            break;
        }
        if i > 0
            && let Err(wait) =
                shared
                    .rates
                    .take(&domain, profile.recipient_limit.as_ref(), m.rcpts.len())
        {
            // Over the recipient rate: this one and the rest wait for the next window.
            postpone(&shared, &m, wait).await;
            for (_, m) in rest.by_ref() {
                postpone(&shared, &m, wait).await;
            }
            break;
        }
        log_start(dcid, &m);
        let sender = envelope_sender(&shared, &config, profile, dcid, &m.env.sender);
        let (attempt, alive) = send(&mut session, dcid, &sender, &m.env, &m.rcpts, &m.data).await;
        used = used.saturating_add(1);
        let tls = (session.protocol != "none")
            .then(|| (session.protocol.clone(), session.cipher.clone()));
        let dane = session.dane;
        record(
            &shared,
            &dest,
            &trail,
            Some(session.host.clone()),
            tls,
            dane,
            &attempt,
        );
        settle(
            &shared, &config, &dest, dcid, &m.env, &m.rcpts, &m.data, attempt,
        )
        .await;
        if !alive {
            connected = false;
            // The connection is gone: the others go back to the queue untouched.
            for (_, m) in rest.by_ref() {
                release(&shared, &m).await;
            }
            break;
        }
    }
    if connected && used < cap && !idle_limit.is_zero() {
        shared
            .conns
            .give_back(key, session, dcid, used, slot, idle_limit);
    } else {
        crate::conn_cache::close(session, dcid).await;
    }
}

/// `DCID d TLS success protocol P cipher C`, with ` for <domain>` only when the session
/// was DANE-authenticated (the appliance's marker: `grep "TLS success.*for"`).
fn log_tls(dcid: u64, domain: &str, s: &Session) {
    if s.protocol == "none" {
        return;
    }
    if matches!(s.verification, danegate_tls::VerifyOutcome::Dane(_)) {
        tracing::info!(target: "danegate::mail", "DCID {dcid} TLS success protocol {} cipher {} for {domain}", s.protocol, s.cipher);
    } else {
        tracing::info!(target: "danegate::mail", "DCID {dcid} TLS success protocol {} cipher {}", s.protocol, s.cipher);
    }
    if s.dane == Some(Action::TlsUnauthenticated) {
        tracing::info!(target: "danegate::mail", "DCID {dcid} DANE UNUSABLE TLSA: TLS mandatory, unauthenticated, to {} [{}] ({domain} has a secure TLSA RRset without a usable record)", s.host, s.addr.ip());
    }
}

/// Remembers the last outcome for `domain` (Delivery Status, `hoststatus`).
fn record(
    shared: &Shared,
    dest: &Destination,
    trail: &crate::shadow::Trail,
    host: Option<String>,
    tls: Option<(String, String)>,
    dane_action: Option<Action>,
    attempt: &Attempt,
) {
    let detail = match attempt {
        Attempt::Sent(results) => results
            .first()
            .map(|(_, _, r)| r.clone())
            .unwrap_or_default(),
        Attempt::Defer { enhanced, reason } | Attempt::Bounce { enhanced, reason } => {
            format!("{enhanced} {reason}")
        }
    };
    let dane = if dest.dane == DaneMode::None || dest.route_hosts.is_some() {
        "no DANE".to_string()
    } else if detail.contains("DANE FAILED") {
        "DANE FAILED".to_string()
    } else if matches!(attempt, Attempt::Sent(_)) && dane_action == Some(Action::DaneSuccess) {
        "DANE SUCCESS".to_string()
    } else if matches!(attempt, Attempt::Sent(_)) && dane_action == Some(Action::TlsUnauthenticated)
    {
        "DANE UNUSABLE TLSA".to_string()
    } else if matches!(attempt, Attempt::Sent(_)) {
        "DANE FALLBACK".to_string()
    } else {
        "DANE TEMPORARY FAILURE".to_string()
    };
    let o = crate::LastOutcome {
        when: SystemTime::now(),
        host,
        dane,
        tls,
        detail,
        tried: trail.tried.clone(),
        cert_failed: trail.cert_failed.clone(),
    };
    if let Ok(mut m) = shared.outcomes.lock() {
        m.insert(dest.domain.clone(), o);
    }
}

fn log_start(dcid: u64, m: &Loaded) {
    let list = m
        .rcpts
        .iter()
        .map(|r| r.rid.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(target: "danegate::mail", "Delivery start DCID {dcid} MID {} to RID [{list}]", m.env.mid);
}

async fn postpone(shared: &Shared, m: &Loaded, wait: Duration) {
    let rids: Vec<RecipientId> = m.rcpts.iter().map(|r| r.rid).collect();
    tracing::info!(target: "danegate::mail", "MID {} held by the recipient rate limit for {}s", m.env.mid, wait.as_secs());
    let until = SystemTime::now() + wait.max(Duration::from_secs(1));
    let _ = shared.store.postpone(m.env.mid, &rids, until).await;
}

async fn release(shared: &Shared, m: &Loaded) {
    let rids: Vec<RecipientId> = m.rcpts.iter().map(|r| r.rid).collect();
    let _ = shared.store.release(m.env.mid, &rids).await;
}

/// Opens a session for `domain` under its profile: an SMTP route to fixed hosts, the
/// DANE path, or the TLS Support path.
async fn open(
    shared: &Shared,
    config: &Config,
    dest: &Destination,
    dcid: u64,
    trail: &mut crate::shadow::Trail,
) -> Result<Session, Attempt> {
    let (domain, profile) = (dest.domain.as_str(), &dest.profile);
    let resolver = shared.resolver();
    let mut opts = Options {
        mode: dest.dane,
        port: shared.opts.smtp_port,
        ip_preference: dest.ip_preference,
        timeouts: Timeouts::uniform(Duration::from_secs(60)),
        helo_name: config.server.hostname.clone(),
        local: profile.outbound_interface,
        ..Options::default()
    };
    let mut port = opts.port;
    let mut log = |e: &Event| {
        if let Event::Connecting { port: p, .. } = e {
            port = *p;
        }
        trail.observe(e);
        log_delivery_event(dcid, port, e)
    };
    // MTA-STS (RFC 8461): an enforce policy takes over after DANE; testing judges
    // the session delivery gets.
    let sts = crate::sts::policy_for(shared, dest, dcid).await;
    if let Some(p) = sts.as_ref().filter(|p| p.policy.mode == MtsMode::Enforce) {
        let r = crate::sts::open_enforced(shared, dest, dcid, p, opts.clone(), &mut log).await;
        // What the policy refused, for the shadow's MTA-STS result (4.7.5: the policy
        // decided; anything else is a connection or DNS failure).
        if let Err(Attempt::Defer { enhanced, reason }) = &r
            && enhanced == "4.7.5"
        {
            trail.sts_refused = Some((crate::sts::classify_events(&trail.events), reason.clone()));
        }
        return r;
    }
    opts.judge_pkix = sts.is_some();
    let tls = dest.tls;
    let session = match &dest.route_hosts {
        Some(hosts) => {
            if dest.dane != DaneMode::None {
                // The appliance: DANE is skipped on a route to an explicit host, and
                // with DANE on the profile the mail stays queued until it bounces.
                let list = hosts
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Attempt::Defer {
                    enhanced: "4.7.5".into(),
                    reason: format!(
                        "DANE {} cannot be verified for {domain}: its SMTP route sends to {list}, not to the MX hosts; held until the bounce profile's limit (fix: a destination profile for {domain} with dane = none)",
                        profile.dane.as_str()
                    ),
                });
            }
            let pairs: Vec<(String, u16)> = hosts
                .iter()
                .map(|h| {
                    let name = match &h.host {
                        RouteHostName::Ip(ip) => ip.to_string(),
                        RouteHostName::Name(n) => n.clone(),
                    };
                    (name, h.port)
                })
                .collect();
            let route_host = pairs.first().map(|(n, _)| n.clone());
            let cands = match candidates_from_route(&resolver, &pairs, opts.ip_preference).await {
                Ok(c) => c,
                Err(e) => return Err(defer_or_bounce(e.temporary, e.enhanced, e.reason)),
            };
            let ctx = TlsContext::with_roots(domain, route_host, shared.roots.clone());
            match open_first_session(&cands, tls, &ctx, &opts, &mut log).await {
                Ok(s) => s,
                Err(e) => return Err(defer_or_bounce(e.temporary, e.enhanced, e.reason)),
            }
        }
        None if dest.dane == DaneMode::None => {
            match plain_path(shared, &resolver, domain, tls, &opts, &mut log).await {
                Ok(s) => s,
                Err(a) => return Err(a),
            }
        }
        None => {
            let outcome = verify_destination(&resolver, domain, &opts, &mut log).await;
            match outcome.verdict {
                Verdict::DaneSuccess => match outcome.session {
                    Some(s) => s,
                    None => {
                        return Err(Attempt::Defer {
                            enhanced: "4.7.5".into(),
                            reason: format!("DANE SUCCESS for {domain} without a session"),
                        });
                    }
                },
                // The table's TlsUnauthenticated row (RFC 7672 §2.2): the walk hands
                // over the TLS session; the TLS Support path (maybe plain text) is
                // never taken for it.
                Verdict::Fallback => match outcome.session {
                    Some(s) => s,
                    None => {
                        opts.mode = DaneMode::None;
                        plain_path(shared, &resolver, domain, tls, &opts, &mut log).await?
                    }
                },
                Verdict::DaneFailed => {
                    let why = last_reason(&outcome.events);
                    tracing::info!(target: "danegate::mail", "DCID {dcid} DANE FAILED for {domain}: {why}");
                    // A domain that does not exist will never be deliverable.
                    if outcome
                        .events
                        .iter()
                        .any(|e| matches!(e, Event::NoMailDomain { .. }))
                    {
                        return Err(Attempt::Bounce {
                            enhanced: "5.1.2".into(),
                            reason: format!("DANE FAILED for {domain}: {why}"),
                        });
                    }
                    return Err(Attempt::Defer {
                        enhanced: "4.7.5".into(),
                        reason: format!("DANE FAILED for {domain}: {why}"),
                    });
                }
                Verdict::TempFail => {
                    return Err(Attempt::Defer {
                        enhanced: "4.4.3".into(),
                        reason: format!(
                            "temporary failure for {domain}: {}",
                            last_reason(&outcome.events)
                        ),
                    });
                }
            }
        }
    };
    if let Some(p) = &sts {
        crate::sts::judge_testing(shared, dest, dcid, p, &session);
    }
    Ok(session)
}

async fn plain_path(
    shared: &Shared,
    resolver: &danegate_dns::Resolver,
    domain: &str,
    tls: TlsSupport,
    opts: &Options,
    log: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Result<Session, Attempt> {
    let cands = candidates_from_dns(resolver, domain, opts.ip_preference, shared.opts.smtp_port)
        .await
        .map_err(|e| defer_or_bounce(e.temporary, e.enhanced, e.reason))?;
    let ctx = TlsContext::with_roots(domain, None, shared.roots.clone());
    open_first_session(&cands, tls, &ctx, opts, log)
        .await
        .map_err(|e| defer_or_bounce(e.temporary, e.enhanced, e.reason))
}

pub(crate) fn defer_or_bounce(temporary: bool, enhanced: &str, reason: String) -> Attempt {
    if temporary {
        Attempt::Defer {
            enhanced: enhanced.to_string(),
            reason,
        }
    } else {
        Attempt::Bounce {
            enhanced: enhanced.to_string(),
            reason,
        }
    }
}

/// The most telling line of a DANE walk: the last failure before the verdict.
pub(crate) fn last_reason(events: &[Event]) -> String {
    events
        .iter()
        .rev()
        .find(|e| {
            !matches!(
                e,
                Event::Verdict { .. }
                    | Event::Completed
                    | Event::Decision { .. }
                    | Event::NextMx { .. }
                    | Event::NextAddr { .. }
            )
        })
        .map(|e| e.to_string())
        .unwrap_or_else(|| "no usable MX host".into())
}

/// The MAIL FROM of a delivery: the sender, tagged (BATV `prvs=`) when the profile
/// has Bounce Verification address tagging and the sender is not null. Only the SMTP
/// envelope changes, never the headers. Without a key the sender goes out untagged.
fn envelope_sender(
    shared: &Shared,
    config: &Config,
    profile: &DestinationProfile,
    dcid: u64,
    sender: &str,
) -> String {
    if !profile.bounce_verification || sender.is_empty() {
        return sender.to_string();
    }
    match shared.batv.get(&config.server.data_dir) {
        Ok(key) => key.tag(sender),
        Err(e) => {
            tracing::error!(target: "danegate::mail", "DCID {dcid} bounce verification key unavailable, sender not tagged: {e}");
            sender.to_string()
        }
    }
}

/// One transaction on an open session; the flag is false when the connection is lost.
async fn send(
    session: &mut Session,
    dcid: u64,
    sender: &str,
    env: &Envelope,
    rcpts: &[Recipient],
    data: &[u8],
) -> (Attempt, bool) {
    let addrs: Vec<&str> = rcpts.iter().map(|r| r.address.as_str()).collect();
    let (host, ip) = (session.host.clone(), session.addr.ip());
    // RFC 3461 §6.2: a relay passes the DSN request on to the next hop.
    let dsn = danegate_smtp::DsnParams {
        ret: env.dsn_ret.clone(),
        envid: env.dsn_envid.clone(),
        recipients: rcpts
            .iter()
            .map(|r| (r.dsn_notify.clone(), r.dsn_orcpt.clone()))
            .collect(),
    };
    match session
        .client
        .send_with_dsn(sender, &addrs, data, Some(&dsn))
        .await
    {
        Ok(d) => {
            let out = d
                .recipients
                .iter()
                .map(|r| {
                    (
                        r.address.clone(),
                        r.status,
                        format!("{host} [{ip}]: {}", r.reply),
                    )
                })
                .collect();
            (Attempt::Sent(out), true)
        }
        Err(e) => {
            tracing::info!(target: "danegate::mail", "DCID {dcid} transaction with {host} failed: {e}");
            let permanent = matches!(&e, danegate_smtp::SmtpError::Rejected { reply, .. } if reply.is_permanent());
            let alive = matches!(&e, danegate_smtp::SmtpError::Rejected { .. });
            let attempt = defer_or_bounce(
                !permanent,
                if permanent { "5.0.0" } else { "4.4.2" },
                format!("{host} [{ip}]: {e}"),
            );
            (attempt, alive)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn settle(
    shared: &Shared,
    config: &Config,
    dest: &Destination,
    dcid: u64,
    env: &Envelope,
    rcpts: &[Recipient],
    data: &[u8],
    attempt: Attempt,
) {
    let mid = env.mid;
    let bp = &dest.bounce;
    let now = SystemTime::now();
    let mut delivered = Vec::new();
    let mut responses: Vec<(RecipientId, String)> = Vec::new();
    let mut deferred: Vec<(&Recipient, String, String)> = Vec::new();
    let mut bounced: Vec<(&Recipient, String, String)> = Vec::new();
    match attempt {
        Attempt::Sent(results) => {
            for r in rcpts {
                let found = results
                    .iter()
                    .find(|(a, _, _)| a.eq_ignore_ascii_case(&r.address));
                match found {
                    Some((_, RecipientStatus::Delivered, reply)) => {
                        delivered.push(r.rid);
                        responses.push((r.rid, reply.clone()));
                    }
                    Some((_, RecipientStatus::Transient, reply)) => {
                        deferred.push((r, "4.0.0".into(), reply.clone()))
                    }
                    Some((_, RecipientStatus::Permanent, reply)) => {
                        bounced.push((r, "5.0.0".into(), reply.clone()))
                    }
                    None => {
                        deferred.push((r, "4.0.0".into(), "no reply for this recipient".into()))
                    }
                }
            }
        }
        Attempt::Defer { enhanced, reason } => {
            for r in rcpts {
                deferred.push((r, enhanced.clone(), reason.clone()));
            }
        }
        Attempt::Bounce { enhanced, reason } => {
            for r in rcpts {
                bounced.push((r, enhanced.clone(), reason.clone()));
            }
        }
    }
    if !delivered.is_empty() {
        let list = delivered
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        tracing::info!(target: "danegate::mail", "Message done DCID {dcid} MID {mid} to RID [{list}]");
        danegate_metrics::recipients_delivered(delivered.len());
        for (rid, reply) in &responses {
            tracing::info!(target: "danegate::mail", "MID {mid} RID [{rid}] Response '{reply}'");
        }
        if let Err(e) = shared.store.delivered(mid, &delivered, "250").await {
            tracing::error!(target: "danegate::mail", "MID {mid} queue update failed: {e}");
        }
    }
    let mut still_deferred = false;
    for (r, enhanced, reason) in deferred {
        let attempts = r.attempts.saturating_add(1);
        if expired(bp, env.received_at, attempts, now) {
            tracing::info!(target: "danegate::mail", "MID {mid} RID [{}] gave up after {attempts} attempts: {reason}", r.rid);
            let status = format!("5{}", enhanced.get(1..).unwrap_or(".0.0"));
            bounced.push((
                r,
                status,
                format!("{reason} (retried until the bounce profile's limit)"),
            ));
            continue;
        }
        still_deferred = true;
        danegate_metrics::recipient_deferred(&enhanced, &reason);
        let wait = next_retry(bp, attempts, &mut rand::rng());
        tracing::info!(target: "danegate::mail", "Delayed: DCID {dcid} MID {mid} to RID [{}] - {enhanced} {reason}; next attempt in {}s", r.rid, wait.as_secs());
        if let Err(e) = shared
            .store
            .deferred(mid, &[r.rid], now + wait, &format!("{enhanced} {reason}"))
            .await
        {
            tracing::error!(target: "danegate::mail", "MID {mid} queue update failed: {e}");
        }
    }
    if !bounced.is_empty() {
        for (r, enhanced, reason) in &bounced {
            tracing::info!(target: "danegate::mail", "Bounced: DCID {dcid} MID {mid} to RID {} - {enhanced} {reason}", r.rid);
            danegate_metrics::recipient_bounced(enhanced, reason);
            if let Err(e) = shared
                .store
                .bounced(mid, &[r.rid], &format!("{enhanced} {reason}"))
                .await
            {
                tracing::error!(target: "danegate::mail", "MID {mid} queue update failed: {e}");
            }
        }
        if bp.hard_bounces {
            // RFC 3461 §4.1: NOTIFY=NEVER, or a list without FAILURE, asks for no DSN.
            let list: Vec<DsnRecipient> = bounced
                .iter()
                .filter(|(r, _, _)| notify_allows(r, "FAILURE"))
                .map(|(r, enhanced, reason)| DsnRecipient {
                    final_recipient: r.address.clone(),
                    original_recipient: r.dsn_orcpt.clone(),
                    action: DsnAction::Failed,
                    status: enhanced.clone(),
                    remote_mta: None,
                    diagnostic: Some(reason.clone()),
                    last_attempt: Some(now),
                    will_retry_until: None,
                })
                .collect();
            send_dsn(shared, config, env, data, DsnKind::Failed, list).await;
        }
    }
    if still_deferred && delay_warning_due(bp, env.received_at, now, env.delay_warned) {
        let list: Vec<DsnRecipient> = rcpts
            .iter()
            .filter(|r| notify_allows(r, "DELAY"))
            .map(|r| DsnRecipient {
                final_recipient: r.address.clone(),
                original_recipient: r.dsn_orcpt.clone(),
                action: DsnAction::Delayed,
                status: "4.0.0".into(),
                remote_mta: None,
                diagnostic: r.last_reason.clone(),
                last_attempt: Some(now),
                will_retry_until: Some(env.received_at + bp.max_queue_time),
            })
            .collect();
        send_dsn(shared, config, env, data, DsnKind::Delayed, list).await;
        let _ = shared.store.set_delay_warned(mid).await;
    }
    if !still_deferred {
        log_if_finished(shared, env, rcpts).await;
    }
}

/// `Message finished MID m done` once no recipient of the message is queued any more
/// (all delivered or bounced; a message already removed from the queue is finished).
async fn log_if_finished(shared: &Shared, env: &Envelope, done: &[Recipient]) {
    let mid = env.mid;
    // Known without a queue read when every other recipient was already final when
    // the batch loaded the envelope.
    let others_final = env.recipients.iter().all(|r| {
        r.state != danegate_queue::RcptState::Queued || done.iter().any(|d| d.rid == r.rid)
    });
    if others_final {
        tracing::info!(target: "danegate::mail", "Message finished MID {mid} done");
        return;
    }
    let finished = match shared.store.envelope(mid).await {
        Ok(Some(env)) => env
            .recipients
            .iter()
            .all(|r| r.state != danegate_queue::RcptState::Queued),
        Ok(None) => true,
        Err(_) => false,
    };
    if finished {
        tracing::info!(target: "danegate::mail", "Message finished MID {mid} done");
    }
}

/// Does the recipient's NOTIFY parameter (RFC 3461 §4.1) ask for this kind of DSN?
/// Without one, failures and delays are reported (RFC 3461 §6.2).
pub fn notify_allows(r: &Recipient, kind: &str) -> bool {
    r.dsn_notify
        .as_deref()
        .is_none_or(|n| n.split(',').any(|k| k.trim().eq_ignore_ascii_case(kind)))
}

/// Queues a DSN to the original sender; never for a null sender (no bounce of a bounce).
pub(crate) async fn send_dsn(
    shared: &Shared,
    config: &Config,
    env: &Envelope,
    data: &[u8],
    kind: DsnKind,
    recipients: Vec<DsnRecipient>,
) {
    if recipients.is_empty() {
        return;
    }
    let Some((from, to)) = dsn_envelope(&env.sender) else {
        tracing::info!(target: "danegate::mail", "MID {} has a null sender: no DSN", env.mid);
        return;
    };
    let input = DsnInput {
        reporting_mta: config.server.hostname.clone(),
        arrival_date: env.received_at,
        original_sender: env.sender.clone(),
        original_envelope_id: env.dsn_envid.clone(),
        original_message: data,
        return_content: if env
            .dsn_ret
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("FULL"))
        {
            ReturnContent::Full
        } else {
            ReturnContent::Headers
        },
        max_returned_bytes: danegate_bounce::DEFAULT_MAX_RETURNED_BYTES,
        kind,
        recipients,
    };
    let dsn = match build_dsn(&input) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(target: "danegate::mail", "MID {}: cannot build the DSN: {e}", env.mid);
            return;
        }
    };
    let domain = to
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let msg = NewMessage {
        sender: from,
        recipients: vec![NewRecipient {
            address: to,
            domain,
            dsn_notify: None,
            dsn_orcpt: None,
        }],
        data: dsn,
        received_from: "local".into(),
        icid: 0,
        policy: "DSN".into(),
        dsn_ret: None,
        dsn_envid: None,
    };
    match shared.store.enqueue(msg).await {
        Ok(new) => {
            tracing::info!(target: "danegate::mail", "MID {new} generated DSN for MID {}", env.mid);
            crate::observe::dsn_queued(kind);
            shared.wake.notify_one();
        }
        Err(e) => {
            tracing::error!(target: "danegate::mail", "MID {}: cannot queue the DSN: {e}", env.mid)
        }
    }
}

/// Delivery steps as log lines: the appliance's `DCID` lines at Info, every DANE step
/// at Debug.
fn log_delivery_event(dcid: u64, port: u16, e: &Event) {
    if let Event::Connected { ip, local } = e {
        tracing::info!(target: "danegate::mail", "New SMTP DCID {dcid} interface {local} address {ip} port {port}");
    }
    tracing::debug!(target: "danegate::dane", "DCID {dcid} {e}");
    crate::observe::delivery_event(e);
}

/// Listener events as the appliance's ICID lines.
pub(crate) fn log_server_event(e: &ServerEvent) {
    match e {
        ServerEvent::Connected {
            icid,
            peer,
            local,
            rdns,
            policy,
            sender_group,
        } => {
            let (host, verified) = match rdns {
                Some(r) => (r.name.as_str(), if r.verified { "yes" } else { "no" }),
                None => ("(unknown)", "no"),
            };
            tracing::info!(target: "danegate::mail", "New SMTP ICID {icid} interface {} address {} reverse dns host {host} verified {verified}", local.ip(), peer.ip());
            tracing::info!(target: "danegate::mail", "ICID {icid} {policy} SG {} match {}", sender_group.as_deref().unwrap_or("(none)"), peer.ip());
        }
        ServerEvent::Refused {
            icid, peer, reason, ..
        } => {
            tracing::info!(target: "danegate::mail", "ICID {icid} refused {} ({reason:?})", peer.ip())
        }
        ServerEvent::TlsEstablished {
            icid,
            protocol,
            cipher,
        } => {
            tracing::info!(target: "danegate::mail", "ICID {icid} TLS success protocol {protocol} cipher {cipher}")
        }
        ServerEvent::TlsFailed { icid, error } => {
            tracing::info!(target: "danegate::mail", "ICID {icid} TLS failed: {error}")
        }
        ServerEvent::MailFrom {
            icid, mid, from, ..
        } => {
            tracing::info!(target: "danegate::mail", "Start MID {mid} ICID {icid}");
            tracing::info!(target: "danegate::mail", "MID {mid} ICID {icid} From: <{from}>");
        }
        ServerEvent::Rcpt {
            icid,
            mid,
            rid: Some(rid),
            to,
            ..
        } => {
            tracing::info!(target: "danegate::mail", "MID {mid} ICID {icid} RID {rid} To: <{to}>")
        }
        ServerEvent::Rcpt {
            icid,
            mid,
            rid: None,
            to,
            reply,
        } => {
            tracing::info!(target: "danegate::mail", "MID {mid} ICID {icid} Rejected RID To: <{to}> {reply}")
        }
        ServerEvent::MessageAccepted {
            mid,
            queue_id,
            bytes,
            from,
            ..
        } => {
            tracing::info!(target: "danegate::mail", "MID {mid} ready {bytes} bytes from <{from}>");
            tracing::info!(target: "danegate::mail", "MID {mid} queued as {queue_id}");
        }
        ServerEvent::MessageRejected { mid, reply, .. } => {
            tracing::info!(target: "danegate::mail", "MID {mid} rejected: {reply}")
        }
        ServerEvent::Closed { icid, .. } => {
            tracing::info!(target: "danegate::mail", "ICID {icid} close")
        }
        _ => {}
    }
}
