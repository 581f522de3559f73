//! The chain of trust (RFC 4035 §5): from a trust anchor down through DS and DNSKEY
//! RRsets to the zone that holds the data, with the per-name cache of what each step
//! found (the zone-key cache).
//!
//! Zone cuts are found top-down: below the closest trust anchor, each label of the
//! name is asked for its DS RRset. A signed DS makes it a secure zone apex (its DNSKEY
//! RRset must then match); a validated NSEC/NSEC3 proof of "delegation without DS"
//! makes everything below INSECURE; anything else means "no cut here". Only validated
//! data ever concludes SECURE or INSECURE, so a forged or stripped answer can make a
//! lookup BOGUS, never falsely secure or insecure.
//!
//! Layers, each using only the ones below it: `resolver` (answers, CNAMEs, answer
//! cache) → `chain` (this module) → `rrset` (signature verification), `denial`
//! (NSEC/NSEC3 proofs), `upstream` (queries) → `trace`, `budget`, `status`.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use hickory_proto::{
    dnssec::{
        DigestType, PublicKey, Verifier,
        rdata::{DNSKEY, DNSSECRData, DS},
    },
    op::{Message, ResponseCode},
    rr::{Name, RData, Record, RecordType},
};
use lru::LruCache;

use crate::{
    anchor::{Anchor, TrustAnchors},
    budget::{self, Budget},
    denial::DenialRecords,
    rfc5011::{REVOKE_FLAG, Rfc5011State, SeenKey},
    rrset::{RrSet, Skew, ZoneKeys, find, group, verify_rrset},
    status::{BogusReason, LookupError},
    upstream::{Reply, Upstreams},
};

/// How long a BOGUS result is remembered (RFC 4035 §4.7 suggests a short time).
pub(crate) const BOGUS_TTL: u32 = 60;
/// How long "no zone cut here" / "insecure delegation" is remembered.
pub(crate) const STEP_TTL: u32 = 300;

type ZoneCache = LruCache<Name, (Step, Instant)>;

/// The chain-of-trust state shared by all lookups: upstreams, anchors, RFC 5011 state
/// and the zone-key cache.
pub(crate) struct Chain {
    pub(crate) upstreams: Upstreams,
    pub(crate) anchors: TrustAnchors,
    pub(crate) max_ttl: u32,
    pub(crate) skew: Skew,
    /// RFC 5011 state, when a state directory is configured.
    pub(crate) rfc5011: Option<Mutex<Rfc5011State>>,
    zones: Mutex<ZoneCache>,
}

impl Chain {
    pub(crate) fn new(
        upstreams: Upstreams,
        anchors: TrustAnchors,
        max_ttl: u32,
        skew: Skew,
        rfc5011: Option<Mutex<Rfc5011State>>,
        zone_entries: NonZeroUsize,
    ) -> Self {
        Chain {
            upstreams,
            anchors,
            max_ttl,
            skew,
            rfc5011,
            zones: Mutex::new(LruCache::new(zone_entries)),
        }
    }

    fn lock_zones(&self) -> MutexGuard<'_, ZoneCache> {
        self.zones.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_rfc5011(&self) -> Option<MutexGuard<'_, Rfc5011State>> {
        self.rfc5011
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What the chain of trust says about the zone holding a name.
#[derive(Debug, Clone)]
pub(crate) enum ZoneState {
    Secure(Arc<ZoneKeys>),
    Insecure(String),
    Bogus(BogusReason),
}

/// What a DS query at one name told us (cached per name).
#[derive(Debug, Clone)]
pub(crate) enum Step {
    NotCut,
    Stop,
    Secure(Arc<ZoneKeys>),
    Insecure(String),
    Bogus(BogusReason),
}

/// Does key `k` (tag `tag`) of `zone` match the DS or DNSKEY anchor `a`?
fn anchor_matches(zone: &Name, tag: u16, k: &DNSKEY, a: &Anchor) -> bool {
    match a {
        Anchor::Ds(ds) => {
            ds.key_tag() == tag
                && ds.algorithm() == k.algorithm()
                && ds.covers(zone, k).unwrap_or(false)
        }
        Anchor::Dnskey(ak) => ak.public_key() == k.public_key() && ak.algorithm() == k.algorithm(),
    }
}

fn supported_ds(ds: &DS) -> bool {
    ds.algorithm().is_supported() && ds.digest_type().is_supported()
}

/// RFC 4509 §3: a SHA-1 DS is ignored when the RRset also holds a SHA-256 (or SHA-384)
/// DS for the same key (tag and algorithm), so that a forged SHA-1 digest cannot stand
/// in for the stronger one.
fn drop_weak_ds(ds: Vec<DS>) -> Vec<DS> {
    let strong = |d: &DS| matches!(d.digest_type(), DigestType::SHA256 | DigestType::SHA384);
    let keep: Vec<bool> = ds
        .iter()
        .map(|d| {
            d.digest_type() != DigestType::SHA1
                || !ds.iter().any(|o| {
                    strong(o) && o.key_tag() == d.key_tag() && o.algorithm() == d.algorithm()
                })
        })
        .collect();
    ds.into_iter()
        .zip(keep)
        .filter_map(|(d, k)| k.then_some(d))
        .collect()
}

impl Chain {
    /// The state of the zone holding `target`, walking down from the closest anchor.
    ///
    /// `apex` says that `target` names itself a zone apex (the signer of an RRSIG): its
    /// DNSKEY RRset will be needed if its DS exists, so both are asked at once (one
    /// sequential round trip less per lookup; the DNSKEY answer is validated only
    /// against a validated DS, as always, RFC 4035 §5.2).
    pub(crate) async fn zone_for(
        &self,
        target: &Name,
        apex: bool,
        budget: &mut Budget,
    ) -> Result<ZoneState, LookupError> {
        let Some(anchor) = self.anchors.closest(target).cloned() else {
            return Ok(ZoneState::Insecure(format!(
                "no trust anchor covers {target}"
            )));
        };
        let mut zone = match self.anchor_keys(&anchor, budget).await? {
            ZoneState::Secure(z) => z,
            other => return Ok(other),
        };
        let first = anchor.num_labels() as usize + 1;
        let last = target.num_labels() as usize;
        if last.saturating_sub(first) > budget::MAX_DESCENT_LABELS {
            return Ok(ZoneState::Bogus(BogusReason::WorkLimit(format!(
                "{target} has too many labels"
            ))));
        }
        for n in first..=last {
            let x = target.trim_to(n);
            match self.step(&x, &zone, apex && n == last, budget).await? {
                Step::NotCut => {}
                Step::Stop => break,
                Step::Secure(z) => zone = z,
                Step::Insecure(why) => return Ok(ZoneState::Insecure(why)),
                Step::Bogus(r) => return Ok(ZoneState::Bogus(r)),
            }
        }
        Ok(ZoneState::Secure(zone))
    }

    async fn anchor_keys(
        &self,
        anchor: &Name,
        budget: &mut Budget,
    ) -> Result<ZoneState, LookupError> {
        if let Some(step) = self.cached_step(anchor) {
            return Ok(match step {
                Step::Secure(z) => ZoneState::Secure(z),
                Step::Bogus(r) => ZoneState::Bogus(r),
                Step::Insecure(w) => ZoneState::Insecure(w),
                Step::NotCut | Step::Stop => {
                    ZoneState::Bogus(BogusReason::NoDnskey(anchor.to_string()))
                }
            });
        }
        let anchors: Vec<Anchor> = self.anchors.for_zone(anchor).cloned().collect();
        let step = self
            .fetch_keys(anchor, &anchors, true, None, budget)
            .await?;
        let state = match &step {
            Step::Secure(z) => ZoneState::Secure(z.clone()),
            Step::Bogus(r) => ZoneState::Bogus(r.clone()),
            Step::Insecure(w) => ZoneState::Insecure(w.clone()),
            Step::NotCut | Step::Stop => {
                ZoneState::Bogus(BogusReason::NoDnskey(anchor.to_string()))
            }
        };
        self.store_step(anchor, step);
        Ok(state)
    }

    async fn step(
        &self,
        x: &Name,
        zone: &ZoneKeys,
        speculate: bool,
        budget: &mut Budget,
    ) -> Result<Step, LookupError> {
        if let Some(step) = self.cached_step(x) {
            return Ok(step);
        }
        let (reply, keys) = if speculate {
            let (ds, keys) = futures_util::future::join(
                self.upstreams.query(x, RecordType::DS),
                self.upstreams.query(x, RecordType::DNSKEY),
            )
            .await;
            // A failed speculative DNSKEY query is asked again if it is needed.
            (ds?, keys.ok())
        } else {
            (self.upstreams.query(x, RecordType::DS).await?, None)
        };
        let msg = reply.message;
        let step = self.classify_ds(x, zone, &msg, keys, budget).await?;
        self.store_step(x, step.clone());
        Ok(step)
    }

    async fn classify_ds(
        &self,
        x: &Name,
        zone: &ZoneKeys,
        msg: &Message,
        keys: Option<Reply>,
        budget: &mut Budget,
    ) -> Result<Step, LookupError> {
        if msg.metadata.response_code == ResponseCode::NXDomain {
            return Ok(Step::Stop);
        }
        let answers = group(&msg.answers);
        if let Some(ds_set) = find(&answers, x, RecordType::DS) {
            let ds_ttl = match verify_rrset(zone, ds_set, self.skew, budget) {
                Ok(v) => v.ttl,
                Err(r) => return Ok(Step::Bogus(r)),
            };
            let ds: Vec<DS> = ds_set
                .records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) if supported_ds(ds) => Some(ds.clone()),
                    _ => None,
                })
                .collect();
            if ds.is_empty() {
                return Ok(Step::Insecure(format!(
                    "the DS records of {x} use only unsupported algorithms or digest types (RFC 4035 §5.2)"
                )));
            }
            let ds: Vec<Anchor> = drop_weak_ds(ds).into_iter().map(Anchor::Ds).collect();
            return Ok(match self.fetch_keys(x, &ds, false, keys, budget).await? {
                // The zone's keys are no better than the DS that vouched for them.
                Step::Secure(z) if z.ttl > ds_ttl => Step::Secure(Arc::new(ZoneKeys {
                    apex: z.apex.clone(),
                    keys: z.keys.clone(),
                    ttl: ds_ttl,
                })),
                other => other,
            });
        }
        let (denial, _) = self.denial_from(zone, &msg.authorities, budget);
        if let Some(how) = denial.insecure_delegation(x, budget) {
            return Ok(Step::Insecure(how));
        }
        Ok(Step::NotCut)
    }

    /// Validated NSEC/NSEC3 records of `zone` from a section, and the least cache TTL of
    /// their RRsets (RFC 4035 §5.3.3; `u32::MAX` when there are none).
    pub(crate) fn denial_from(
        &self,
        zone: &ZoneKeys,
        section: &[Record],
        budget: &mut Budget,
    ) -> (DenialRecords, u32) {
        let mut d = DenialRecords {
            apex: Some(zone.apex.clone()),
            ..Default::default()
        };
        let mut ttl = u32::MAX;
        for set in group(section) {
            if !matches!(set.rtype, RecordType::NSEC | RecordType::NSEC3)
                || !zone.apex.zone_of(&set.name)
            {
                continue;
            }
            match verify_rrset(zone, &set, self.skew, budget) {
                Ok(v) => ttl = ttl.min(v.ttl),
                Err(_) => continue,
            }
            for r in &set.records {
                match &r.data {
                    RData::DNSSEC(DNSSECRData::NSEC(n)) => d.nsec.push((r.name.clone(), n.clone())),
                    RData::DNSSEC(DNSSECRData::NSEC3(n)) => {
                        d.nsec3.push((r.name.clone(), n.clone()))
                    }
                    _ => {}
                }
            }
        }
        (d, ttl)
    }

    /// Fetches `zone`'s DNSKEY RRset and validates it against DS records or DNSKEY
    /// anchors (RFC 4035 §5.2). For an anchored zone (`anchored`) with RFC 5011 state,
    /// the keys the state made Valid are trusted too, Revoked ones never, and the
    /// validated RRset then updates the state.
    async fn fetch_keys(
        &self,
        zone: &Name,
        trusted: &[Anchor],
        anchored: bool,
        prefetched: Option<Reply>,
        budget: &mut Budget,
    ) -> Result<Step, LookupError> {
        let reply = match prefetched {
            Some(reply) => reply,
            None => self.upstreams.query(zone, RecordType::DNSKEY).await?,
        };
        let sets = group(&reply.message.answers);
        let Some(set) = find(&sets, zone, RecordType::DNSKEY) else {
            return Ok(Step::Bogus(BogusReason::NoDnskey(format!(
                "{zone} has a DS record but no DNSKEY RRset was returned"
            ))));
        };
        let mut keys: Vec<(u16, DNSKEY)> = Vec::new();
        for r in &set.records {
            if let RData::DNSSEC(DNSSECRData::DNSKEY(k)) = &r.data
                && let Ok(tag) = k.calculate_key_tag()
            {
                keys.push((tag, k.clone()));
            }
        }
        let zone_text = zone.to_string();
        let (learned, revoked) = match anchored.then(|| self.lock_rfc5011()).flatten() {
            Some(st) => (st.trusted(&zone_text), st.revoked(&zone_text)),
            None => (Vec::new(), Vec::new()),
        };
        let is_in = |list: &[(u8, Vec<u8>)], k: &DNSKEY| {
            list.iter().any(|(alg, key)| {
                *alg == u8::from(k.algorithm()) && key.as_slice() == k.public_key().public_bytes()
            })
        };
        // The keys vouched for by the parent (or the anchor, or RFC 5011 state).
        let entry: Vec<(u16, DNSKEY)> = keys
            .iter()
            .filter(|(tag, k)| {
                k.zone_key()
                    && !k.revoke()
                    && !is_in(&revoked, k)
                    && (trusted.iter().any(|a| anchor_matches(zone, *tag, k, a))
                        || is_in(&learned, k))
            })
            .cloned()
            .collect();
        if entry.is_empty() {
            let tags: Vec<String> = trusted
                .iter()
                .map(|a| match a {
                    Anchor::Ds(ds) => ds.key_tag().to_string(),
                    Anchor::Dnskey(k) => k
                        .calculate_key_tag()
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                })
                .collect();
            let have: Vec<String> = keys.iter().map(|(t, _)| t.to_string()).collect();
            return Ok(Step::Bogus(BogusReason::DsMismatch(format!(
                "no DNSKEY of {zone} (tags {}) matches its DS/anchor (tags {})",
                have.join(" "),
                tags.join(" ")
            ))));
        }
        let entry_zone = ZoneKeys {
            apex: zone.clone(),
            keys: entry,
            ttl: set.ttl(),
        };
        let ttl = match verify_rrset(&entry_zone, set, self.skew, budget) {
            Ok(v) => v.ttl,
            Err(r) => return Ok(Step::Bogus(r)),
        };
        if anchored && self.rfc5011.is_some() {
            self.observe_rfc5011(zone, &zone_text, trusted, &keys, set, budget);
        }
        let zone_keys: Vec<(u16, DNSKEY)> = keys
            .into_iter()
            .filter(|(_, k)| k.zone_key() && !k.revoke() && !is_in(&revoked, k))
            .collect();
        Ok(Step::Secure(Arc::new(ZoneKeys {
            apex: zone.clone(),
            keys: zone_keys,
            ttl,
        })))
    }

    /// Feeds a validated DNSKEY RRset of an anchored zone to the RFC 5011 state machine
    /// and saves the state when it changed.
    fn observe_rfc5011(
        &self,
        zone: &Name,
        zone_text: &str,
        configured: &[Anchor],
        keys: &[(u16, DNSKEY)],
        set: &RrSet,
        budget: &mut Budget,
    ) {
        let seen: Vec<SeenKey> = keys
            .iter()
            .filter(|(_, k)| k.zone_key())
            .map(|(tag, k)| {
                let plain = if k.revoke() {
                    DNSKEY::with_flags(k.flags() & !REVOKE_FLAG, k.public_key().clone())
                } else {
                    k.clone()
                };
                let plain_tag = plain.calculate_key_tag().unwrap_or(*tag);
                // RFC 5011 §2.1: a revocation counts only when the revoked key signs
                // the DNSKEY RRset itself.
                let self_signed = k.revoke() && {
                    let only = ZoneKeys {
                        apex: zone.clone(),
                        keys: vec![(*tag, k.clone())],
                        ttl: 0,
                    };
                    verify_rrset(&only, set, self.skew, budget).is_ok()
                };
                SeenKey {
                    tag: plain_tag,
                    algorithm: u8::from(k.algorithm()),
                    public_key: k.public_key().public_bytes().to_vec(),
                    sep: k.flags() & 0x0001 != 0,
                    revoked: k.revoke(),
                    self_signed,
                    configured: configured
                        .iter()
                        .any(|a| anchor_matches(zone, plain_tag, &plain, a)),
                }
            })
            .collect();
        let Some(mut st) = self.lock_rfc5011() else {
            return;
        };
        let now = st.now();
        let changes = st.observe(now, zone_text, &seen);
        if changes.is_empty() {
            return;
        }
        for c in &changes {
            tracing::info!(
                zone = zone_text,
                key_tag = c.tag,
                algorithm = c.algorithm,
                from = %c.from,
                to = %c.to,
                "RFC 5011 trust-anchor state change"
            );
        }
        if let Err(e) = st.save() {
            tracing::error!(error = %e, "cannot save the RFC 5011 state");
        }
    }

    fn cached_step(&self, x: &Name) -> Option<Step> {
        let mut cache = self.lock_zones();
        match cache.get(x) {
            Some((step, expires)) if *expires > Instant::now() => Some(step.clone()),
            Some(_) => {
                cache.pop(x);
                None
            }
            None => None,
        }
    }

    fn store_step(&self, x: &Name, step: Step) {
        let ttl = match &step {
            Step::Secure(z) => z.ttl,
            Step::Bogus(_) => BOGUS_TTL,
            _ => STEP_TTL,
        }
        .min(self.max_ttl);
        if ttl == 0 {
            return;
        }
        let expires = Instant::now() + std::time::Duration::from_secs(u64::from(ttl));
        self.lock_zones().put(x.clone(), (step, expires));
    }
}
