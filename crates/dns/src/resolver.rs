//! The validating resolver: `lookup(name, type)` → records + security status.

use std::{
    num::NonZeroUsize,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, RecordType},
};
use lru::LruCache;

use crate::{
    anchor::TrustAnchors,
    budget::{self, Budget},
    chain::{BOGUS_TTL, Chain, STEP_TTL, ZoneState},
    denial::Proof,
    rfc5011::{AnchorStateView, Clock, Rfc5011State},
    rrset::{RrSet, Skew, ZoneKeys, find, group, verify_rrset},
    status::{Answer, AnswerKind, BogusReason, CnameLink, LookupError, Security},
    trace,
    upstream::{Capability, UpstreamConfig, Upstreams},
};

/// What validating a positive RRset found.
struct Positive {
    security: Security,
    /// For a secure wildcard expansion: the RRSIG labels field and the signer's keys.
    wildcard: Option<(u8, Arc<ZoneKeys>)>,
    /// The cache TTL (RFC 4035 §5.3.3 when signed).
    ttl: u32,
}

/// Resolver settings.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// Upstream recursive resolvers with priorities.
    pub upstreams: Vec<UpstreamConfig>,
    /// Trust anchors (built-in root KSKs by default).
    pub anchors: TrustAnchors,
    /// Time allowed for each attempt at each upstream.
    pub timeout: Duration,
    /// Most validated answers kept in the cache.
    pub cache_entries: usize,
    /// Most zone-cut facts kept in the cache.
    pub zone_entries: usize,
    /// No answer is cached longer than this (seconds).
    pub max_ttl: u32,
    /// Where the RFC 5011 trust-anchor state (`trust-anchors.json`) is kept. When set,
    /// every validated DNSKEY RRset of an anchored zone updates it, and keys that became
    /// Valid there are trusted next to the configured anchors (see [`crate::rfc5011`]).
    /// `None`: the anchors are static.
    pub state_dir: Option<PathBuf>,
    /// The RFC 5011 clock (the system clock when `None`); tests simulate hold-downs.
    pub rfc5011_clock: Option<Clock>,
    /// Clock skew allowed on RRSIG inception and expiration: 10% of each signature's
    /// validity period, but at least `sig_skew_min` and at most `sig_skew_max` seconds
    /// (Unbound's `val-sig-skew-min`/`val-sig-skew-max`; defaults 3600 and 86400).
    /// Both 0: signature times are checked exactly (RFC 4035 §5.3.1).
    pub sig_skew_min: u32,
    /// See [`ResolverConfig::sig_skew_min`].
    pub sig_skew_max: u32,
    /// At most this many queries outstanding at each upstream at once (0: no limit); the
    /// bulk audit sets it so it never floods a resolver.
    pub max_in_flight: usize,
}

/// Default [`ResolverConfig::sig_skew_min`] (seconds), as Unbound's `val-sig-skew-min`.
pub const DEFAULT_SIG_SKEW_MIN: u32 = 3600;
/// Default [`ResolverConfig::sig_skew_max`] (seconds), as Unbound's `val-sig-skew-max`.
pub const DEFAULT_SIG_SKEW_MAX: u32 = 86_400;

impl ResolverConfig {
    /// Defaults around the given upstreams and anchors.
    pub fn new(upstreams: Vec<UpstreamConfig>, anchors: TrustAnchors) -> Self {
        ResolverConfig {
            upstreams,
            anchors,
            timeout: Duration::from_secs(3),
            cache_entries: 10_000,
            zone_entries: 10_000,
            max_ttl: 86_400,
            state_dir: None,
            rfc5011_clock: None,
            sig_skew_min: DEFAULT_SIG_SKEW_MIN,
            sig_skew_max: DEFAULT_SIG_SKEW_MAX,
            max_in_flight: 0,
        }
    }
}

type AnswerCache = LruCache<(Name, RecordType), (Answer, Instant)>;
struct Inner {
    /// The chain of trust and its zone-key cache.
    chain: Chain,
    answers: Mutex<AnswerCache>,
    probed: tokio::sync::OnceCell<()>,
}

impl Inner {
    fn lock_answers(&self) -> MutexGuard<'_, AnswerCache> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A DNSSEC-validating stub resolver. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

impl Resolver {
    /// A resolver over the configured upstreams. Nothing is sent until the first lookup
    /// (or [`Resolver::probe`]).
    pub fn new(config: ResolverConfig) -> Self {
        let entries = NonZeroUsize::new(config.cache_entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        let zones = NonZeroUsize::new(config.zone_entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        let rfc5011 = config.state_dir.as_ref().map(|dir| {
            let state = match Rfc5011State::load(dir) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "RFC 5011 state not loaded; using the configured trust anchors");
                    Rfc5011State::empty_in(dir)
                }
            };
            let clock = config.rfc5011_clock.clone().unwrap_or_else(Clock::system);
            Mutex::new(state.with_clock(clock))
        });
        Resolver {
            inner: Arc::new(Inner {
                chain: Chain::new(
                    Upstreams::new(config.upstreams, config.timeout)
                        .limit_in_flight(config.max_in_flight),
                    config.anchors,
                    config.max_ttl,
                    Skew {
                        min: config.sig_skew_min,
                        max: config.sig_skew_max,
                    },
                    rfc5011,
                    zones,
                ),
                answers: Mutex::new(LruCache::new(entries)),
                probed: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Probes every upstream for DNSSEC support (once; later calls return at once).
    pub async fn probe(&self) {
        self.inner
            .probed
            .get_or_init(|| async {
                self.inner.chain.upstreams.probe(&self.probe_zone()).await;
            })
            .await;
    }

    /// Probes every upstream for DNSSEC support again now (a readiness check when no
    /// upstream passed the last probe: one that was down may be back).
    pub async fn reprobe(&self) {
        self.probe().await;
        self.inner.chain.upstreams.probe(&self.probe_zone()).await;
    }

    /// The zone whose DNSKEY the probe asks for: the highest trust anchor.
    fn probe_zone(&self) -> Name {
        self.inner
            .chain
            .anchors
            .iter()
            .map(|(n, _)| n.clone())
            .min_by_key(|n| n.num_labels())
            .unwrap_or_else(Name::root)
    }

    /// Each upstream and what the probe found.
    pub fn upstream_status(&self) -> Vec<(UpstreamConfig, Capability)> {
        self.inner.chain.upstreams.status()
    }

    /// The trust anchors in use.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.inner.chain.anchors
    }

    /// The RFC 5011 state of the anchored zones' keys (empty without a state directory).
    pub fn anchor_state(&self) -> Vec<AnchorStateView> {
        self.inner
            .chain
            .lock_rfc5011()
            .map(|s| s.view())
            .unwrap_or_default()
    }

    /// Is RFC 5011 tracking on (a state directory is configured)?
    pub fn rfc5011_enabled(&self) -> bool {
        self.inner.chain.rfc5011.is_some()
    }

    /// Looks up `name`/`rtype`, following CNAMEs, and validates every part of the answer.
    ///
    /// `Ok` carries data, NXDOMAIN or NODATA, each SECURE, INSECURE or BOGUS; `Err` is a
    /// temporary failure, never to be read as insecure (RFC 7672 §2.1.1-2.1.2).
    pub async fn lookup(&self, name: &Name, rtype: RecordType) -> Result<Answer, LookupError> {
        let mut name = name.clone();
        name.set_fqdn(true);
        trace::query_start(&name, rtype);
        let key = (name.clone(), rtype);
        if let Some(hit) = self.cached(&key) {
            trace::response(&hit);
            crate::observe::cached(&hit);
            return Ok(hit);
        }
        self.probe().await;
        let mut budget = Budget::default();
        let started = Instant::now();
        let answer = self.resolve(&name, rtype, &mut budget).await;
        crate::observe::resolved(answer.as_ref(), started);
        let answer = answer?;
        trace::response(&answer);
        self.store(key, &answer);
        Ok(answer)
    }

    fn cached(&self, key: &(Name, RecordType)) -> Option<Answer> {
        let mut cache = self.inner.lock_answers();
        match cache.get(key) {
            Some((a, exp)) if *exp > Instant::now() => Some(a.clone()),
            Some(_) => {
                cache.pop(key);
                None
            }
            None => None,
        }
    }

    fn store(&self, key: (Name, RecordType), answer: &Answer) {
        let ttl = match answer.security {
            Security::Bogus(_) => answer.ttl.min(BOGUS_TTL),
            _ => answer.ttl,
        }
        .min(self.inner.chain.max_ttl);
        if ttl == 0 {
            return;
        }
        let expires = Instant::now() + Duration::from_secs(u64::from(ttl));
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() + u128::from(ttl) * 1_000_000)
            .unwrap_or(0);
        trace::encache(answer, micros);
        self.inner
            .lock_answers()
            .put(key, (answer.clone(), expires));
    }

    async fn resolve(
        &self,
        qname: &Name,
        qtype: RecordType,
        budget: &mut Budget,
    ) -> Result<Answer, LookupError> {
        let inner = &self.inner;
        let mut chain: Vec<CnameLink> = Vec::new();
        let mut security = Security::Secure;
        let mut ttl = u32::MAX;
        let mut current = qname.clone();
        let mut msg: Message = inner.chain.upstreams.query(&current, qtype).await?.message;
        loop {
            let answers = group(&msg.answers);
            if let Some(set) = find(&answers, &current, qtype) {
                let p = self.validate_positive(set, budget).await?;
                let (sec, set_ttl) = self.check_wildcard(&msg, set, p, budget);
                ttl = ttl.min(set_ttl);
                let records = set
                    .records
                    .iter()
                    .map(|r| {
                        let mut r = r.clone();
                        r.ttl = r.ttl.min(set_ttl);
                        r
                    })
                    .collect();
                return Ok(Answer {
                    qname: qname.clone(),
                    qtype,
                    kind: AnswerKind::Data,
                    security: security.and(sec),
                    records,
                    chain,
                    ttl,
                });
            }
            if qtype != RecordType::CNAME
                && let Some(cname) = find(&answers, &current, RecordType::CNAME)
            {
                let target = match cname.records.first().map(|r| &r.data) {
                    Some(RData::CNAME(c)) => c.0.clone(),
                    _ => {
                        return Ok(self.bogus(
                            qname,
                            qtype,
                            chain,
                            BogusReason::Malformed(format!("bad CNAME at {current}")),
                        ));
                    }
                };
                let p = self.validate_positive(cname, budget).await?;
                let (sec, cname_ttl) = self.check_wildcard(&msg, cname, p, budget);
                ttl = ttl.min(cname_ttl);
                security = security.and(sec.clone());
                chain.push(CnameLink {
                    owner: current.clone(),
                    target: target.clone(),
                    security: sec,
                });
                if chain.len() > budget::MAX_CNAME_LINKS
                    || chain.iter().filter(|l| l.owner == target).count() > 0
                {
                    return Ok(self.bogus(
                        qname,
                        qtype,
                        chain,
                        BogusReason::Malformed(format!(
                            "CNAME chain from {qname} loops or is too long"
                        )),
                    ));
                }
                current = target;
                let has_more = answers.iter().any(|s| s.name == current);
                if !has_more {
                    msg = inner.chain.upstreams.query(&current, qtype).await?.message;
                }
                continue;
            }
            // Negative answer for `current` (RFC 2308).
            let kind = if msg.metadata.response_code == ResponseCode::NXDomain {
                AnswerKind::NxDomain
            } else {
                AnswerKind::NoData
            };
            let (sec, neg_ttl) = self
                .validate_negative(&msg, &current, qtype, kind, budget)
                .await?;
            ttl = ttl.min(neg_ttl);
            return Ok(Answer {
                qname: qname.clone(),
                qtype,
                kind,
                security: security.and(sec),
                records: Vec::new(),
                chain,
                ttl,
            });
        }
    }

    fn bogus(
        &self,
        qname: &Name,
        qtype: RecordType,
        chain: Vec<CnameLink>,
        r: BogusReason,
    ) -> Answer {
        Answer {
            qname: qname.clone(),
            qtype,
            kind: AnswerKind::Data,
            security: Security::Bogus(r),
            records: Vec::new(),
            chain,
            ttl: BOGUS_TTL,
        }
    }

    /// Validates a positive RRset: its status, the signer's keys when it is a secure
    /// wildcard expansion, and its cache TTL.
    async fn validate_positive(
        &self,
        set: &RrSet,
        budget: &mut Budget,
    ) -> Result<Positive, LookupError> {
        let inner = &self.inner;
        let plain = |security| Positive {
            security,
            wildcard: None,
            ttl: set.ttl(),
        };
        if set.sigs.is_empty() {
            // Unsigned: fine only if the zone holding it is provably insecure.
            let target = if set.rtype == RecordType::DS {
                set.name.base_name()
            } else {
                set.name.clone()
            };
            return Ok(plain(
                match inner.chain.zone_for(&target, false, budget).await? {
                    ZoneState::Insecure(why) => {
                        trace::insecure(&set.name, set.rtype, &why);
                        Security::Insecure
                    }
                    ZoneState::Bogus(r) => Security::Bogus(r),
                    ZoneState::Secure(z) => {
                        Security::Bogus(BogusReason::MissingSignature(format!(
                            "{} {} has no RRSIG although zone {} is signed",
                            set.name, set.rtype, z.apex
                        )))
                    }
                },
            ));
        }
        // Signed: the signer must be the name's zone or an ancestor (RFC 4035 §5.3.1).
        // Each distinct signer named by an RRSIG is tried in turn, so that a junk RRSIG
        // in front of a valid one cannot turn a secure answer bogus or insecure; with
        // none verifying, the first signer's verdict stands.
        let mut signers: Vec<Name> = Vec::new();
        for sig in set.sigs.iter().take(budget::MAX_SIGS_PER_RRSET) {
            let s = &sig.input().signer_name;
            if s.zone_of(&set.name)
                && !(set.rtype == RecordType::DS && *s == set.name)
                && !signers.contains(s)
            {
                signers.push(s.clone());
            }
        }
        let mut first: Option<Positive> = None;
        for signer in signers {
            let p = match inner.chain.zone_for(&signer, true, budget).await? {
                ZoneState::Insecure(why) => {
                    trace::insecure(&set.name, set.rtype, &why);
                    plain(Security::Insecure)
                }
                ZoneState::Bogus(r) => plain(Security::Bogus(r)),
                ZoneState::Secure(z) if z.apex != signer => {
                    plain(Security::Bogus(BogusReason::WrongSigner(format!(
                        "{} {} is signed by {signer}, which is not a zone apex (the zone is {})",
                        set.name, set.rtype, z.apex
                    ))))
                }
                ZoneState::Secure(z) => match verify_rrset(&z, set, inner.chain.skew, budget) {
                    Ok(v) => Positive {
                        security: Security::Secure,
                        wildcard: (v.labels < set.name.num_labels()).then_some((v.labels, z)),
                        ttl: v.ttl,
                    },
                    Err(r) => plain(Security::Bogus(r)),
                },
            };
            if p.security.is_secure() {
                return Ok(p);
            }
            first.get_or_insert(p);
        }
        Ok(first.unwrap_or_else(|| {
            let s = set
                .sigs
                .first()
                .map(|s| s.input().signer_name.to_string())
                .unwrap_or_default();
            plain(Security::Bogus(BogusReason::WrongSigner(format!(
                "{} {} is signed by {s}, which is not its zone",
                set.name, set.rtype
            ))))
        }))
    }

    /// A wildcard-expanded answer needs proof that the name itself does not exist
    /// (RFC 4035 §5.3.4), from the zone whose keys verified the expansion. Returns the
    /// final status and the cache TTL (capped by the denial records' TTL).
    fn check_wildcard(
        &self,
        msg: &Message,
        set: &RrSet,
        p: Positive,
        budget: &mut Budget,
    ) -> (Security, u32) {
        let Some((labels, z)) = p.wildcard else {
            return (p.security, p.ttl);
        };
        let (denial, denial_ttl) = self.inner.chain.denial_from(&z, &msg.authorities, budget);
        let sec = match denial.wildcard_answer(&set.name, labels, budget) {
            Proof::Secure => Security::Secure,
            Proof::Insecure(_) => Security::Insecure,
            Proof::Fail(why) => Security::Bogus(BogusReason::BadDenial(format!(
                "wildcard answer for {}: {why}",
                set.name
            ))),
        };
        (sec, p.ttl.min(denial_ttl))
    }

    /// Validates NXDOMAIN / NODATA for `name` (RFC 4035 §5.4); returns status and TTL.
    async fn validate_negative(
        &self,
        msg: &Message,
        name: &Name,
        qtype: RecordType,
        kind: AnswerKind,
        budget: &mut Budget,
    ) -> Result<(Security, u32), LookupError> {
        let auth = group(&msg.authorities);
        let ttl = auth
            .iter()
            .find(|s| s.rtype == RecordType::SOA)
            .and_then(|s| {
                s.records.first().map(|r| match &r.data {
                    RData::SOA(soa) => r.ttl.min(soa.minimum),
                    _ => r.ttl,
                })
            })
            .unwrap_or(STEP_TTL);
        let target = if qtype == RecordType::DS && !name.is_root() {
            name.base_name()
        } else {
            name.clone()
        };
        let z = match self.inner.chain.zone_for(&target, false, budget).await? {
            ZoneState::Insecure(why) => {
                trace::insecure(name, qtype, &why);
                return Ok((Security::Insecure, ttl));
            }
            ZoneState::Bogus(r) => return Ok((Security::Bogus(r), ttl)),
            ZoneState::Secure(z) => z,
        };
        let (denial, denial_ttl) = self.inner.chain.denial_from(&z, &msg.authorities, budget);
        let ttl = ttl.min(denial_ttl);
        let proof = match kind {
            AnswerKind::NxDomain => denial.nxdomain(name, budget),
            _ => denial.nodata(name, qtype, budget),
        };
        let sec = match proof {
            Proof::Secure => Security::Secure,
            Proof::Insecure(_) => Security::Insecure,
            Proof::Fail(why) => {
                // Say why the records that should have proved it were unusable, if they were.
                let sig_problem = auth
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.rtype,
                            RecordType::NSEC | RecordType::NSEC3 | RecordType::SOA
                        )
                    })
                    .find_map(|s| verify_rrset(&z, s, self.inner.chain.skew, budget).err());
                match sig_problem {
                    Some(r) => Security::Bogus(r),
                    None => {
                        Security::Bogus(BogusReason::BadDenial(format!("zone {}: {why}", z.apex)))
                    }
                }
            }
        };
        Ok((sec, ttl))
    }
}
