//! The chain of trust (RFC 4035 §5): from a trust anchor down through DS and DNSKEY
//! RRsets to the zone that holds the data, and signature checks on RRsets.
//!
//! Zone cuts are found top-down: below the closest trust anchor, each label of the
//! name is asked for its DS RRset. A signed DS makes it a secure zone apex (its DNSKEY
//! RRset must then match); a validated NSEC/NSEC3 proof of "delegation without DS"
//! makes everything below INSECURE; anything else means "no cut here". Only validated
//! data ever concludes SECURE or INSECURE, so a forged or stripped answer can make a
//! lookup BOGUS, never falsely secure or insecure.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use hickory_proto::{
    dnssec::{
        PublicKey, Verifier,
        rdata::{DNSKEY, DNSSECRData, DS, RRSIG},
    },
    op::{Message, ResponseCode},
    rr::{DNSClass, Name, RData, Record, RecordType},
};

use crate::{
    anchor::Anchor,
    budget::{self, Budget},
    denial::DenialRecords,
    resolver::Inner,
    rfc5011::{REVOKE_FLAG, SeenKey},
    status::{BogusReason, LookupError},
};

/// A zone whose DNSKEY RRset has been validated.
#[derive(Debug)]
pub(crate) struct ZoneKeys {
    pub apex: Name,
    /// (key tag, key) for each zone key that is not revoked.
    pub keys: Vec<(u16, DNSKEY)>,
    pub ttl: u32,
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

/// An RRset from a message, with the RRSIGs that cover it.
#[derive(Debug, Clone)]
pub(crate) struct RrSet {
    pub name: Name,
    pub rtype: RecordType,
    pub records: Vec<Record>,
    pub sigs: Vec<RRSIG>,
}

impl RrSet {
    pub fn ttl(&self) -> u32 {
        self.records.iter().map(|r| r.ttl).min().unwrap_or(0)
    }
}

/// Groups a section's records into RRsets, attaching each RRSIG to the RRset it covers.
pub(crate) fn group(records: &[Record]) -> Vec<RrSet> {
    let mut sets: Vec<RrSet> = Vec::new();
    let mut index: HashMap<(Name, RecordType), usize> = HashMap::new();
    let mut sigs: Vec<(Name, RRSIG)> = Vec::new();
    for r in records {
        if r.dns_class != DNSClass::IN {
            continue;
        }
        match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sigs.push((r.name.clone(), sig.clone())),
            RData::OPT(_) => {}
            _ => {
                let key = (r.name.clone(), r.record_type());
                let idx = *index.entry(key).or_insert_with(|| {
                    sets.push(RrSet {
                        name: r.name.clone(),
                        rtype: r.record_type(),
                        records: Vec::new(),
                        sigs: Vec::new(),
                    });
                    sets.len() - 1
                });
                sets[idx].records.push(r.clone());
            }
        }
    }
    for (name, sig) in sigs {
        if let Some(&idx) = index.get(&(name, sig.input().type_covered)) {
            sets[idx].sigs.push(sig);
        }
    }
    sets
}

pub(crate) fn find<'a>(sets: &'a [RrSet], name: &Name, rtype: RecordType) -> Option<&'a RrSet> {
    sets.iter().find(|s| s.rtype == rtype && &s.name == name)
}

fn now_unix() -> u32 {
    if let Some(t) = crate::fuzzing::fixed_now() {
        return t;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// RFC 4034 §3.1.5: times are compared in serial number arithmetic (RFC 1982).
fn serial_le(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}

/// What verification proved about a signed RRset.
pub(crate) struct Verified {
    /// The RRSIG labels field of the signature that verified (wildcard detection).
    pub labels: u8,
}

/// Verifies an RRset against a zone's keys (RFC 4035 §5.3), within the work budget.
pub(crate) fn verify_rrset(
    zone: &ZoneKeys,
    set: &RrSet,
    budget: &mut Budget,
) -> Result<Verified, BogusReason> {
    let what = format!("{} {}", set.name, set.rtype);
    if set.sigs.is_empty() {
        return Err(BogusReason::MissingSignature(format!(
            "{what} is not signed although zone {} is",
            zone.apex
        )));
    }
    let now = now_unix();
    let mut err: Option<BogusReason> = None;
    let keep = |e: BogusReason, err: &mut Option<BogusReason>| {
        // Prefer the most telling reason: a bad signature over a missing key, etc.
        let rank = |r: &BogusReason| match r {
            BogusReason::BadSignature(_) => 5,
            BogusReason::SignatureExpired(_) | BogusReason::SignatureNotYetValid(_) => 4,
            BogusReason::NoMatchingDnskey(_) => 3,
            BogusReason::WrongSigner(_) => 2,
            _ => 1,
        };
        if err.as_ref().is_none_or(|old| rank(&e) > rank(old)) {
            *err = Some(e);
        }
    };
    for sig in set.sigs.iter().take(budget::MAX_SIGS_PER_RRSET) {
        let input = sig.input();
        if input.signer_name != zone.apex {
            keep(
                BogusReason::WrongSigner(format!(
                    "{what} signed by {} instead of zone {}",
                    input.signer_name, zone.apex
                )),
                &mut err,
            );
            continue;
        }
        if input.num_labels > set.name.num_labels() {
            keep(
                BogusReason::Malformed(format!(
                    "RRSIG over {what} has labels {}",
                    input.num_labels
                )),
                &mut err,
            );
            continue;
        }
        if !input.algorithm.is_supported() {
            continue;
        }
        let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
        if !serial_le(now, expiration) {
            keep(
                BogusReason::SignatureExpired(format!(
                    "RRSIG over {what} (key {}) expired at {}",
                    input.key_tag,
                    fmt_time(expiration)
                )),
                &mut err,
            );
            continue;
        }
        if !serial_le(inception, now) {
            keep(
                BogusReason::SignatureNotYetValid(format!(
                    "RRSIG over {what} (key {}) valid only from {}",
                    input.key_tag,
                    fmt_time(inception)
                )),
                &mut err,
            );
            continue;
        }
        let candidates = zone
            .keys
            .iter()
            .filter(|(tag, k)| *tag == input.key_tag && k.algorithm() == input.algorithm)
            .take(budget::MAX_KEYS_PER_SIG);
        let mut any = false;
        for (_, key) in candidates {
            any = true;
            if !budget.take_verification() {
                return Err(BogusReason::WorkLimit(format!(
                    "too many signature checks for {what} (KeyTrap defence)"
                )));
            }
            match key.verify_rrsig(&set.name, DNSClass::IN, sig, set.records.iter()) {
                Ok(()) => {
                    return Ok(Verified {
                        labels: input.num_labels,
                    });
                }
                Err(_) => {
                    budget.failed_verification();
                    keep(
                        BogusReason::BadSignature(format!(
                            "RRSIG over {what} by key {} ({}) does not verify",
                            input.key_tag,
                            u8::from(input.algorithm)
                        )),
                        &mut err,
                    );
                }
            }
        }
        if !any {
            keep(
                BogusReason::NoMatchingDnskey(format!(
                    "no DNSKEY of {} with tag {} and algorithm {} for {what}",
                    zone.apex,
                    input.key_tag,
                    u8::from(input.algorithm)
                )),
                &mut err,
            );
        }
    }
    Err(err.unwrap_or_else(|| {
        BogusReason::MissingSignature(format!("no RRSIG over {what} uses a supported algorithm"))
    }))
}

fn fmt_time(t: u32) -> String {
    match time::OffsetDateTime::from_unix_timestamp(i64::from(t)) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => t.to_string(),
    }
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

impl Inner {
    /// The state of the zone holding `target`, walking down from the closest anchor.
    pub(crate) async fn zone_for(
        &self,
        target: &Name,
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
            match self.step(&x, &zone, budget).await? {
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
        let step = self.fetch_keys(anchor, &anchors, true, budget).await?;
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
        budget: &mut Budget,
    ) -> Result<Step, LookupError> {
        if let Some(step) = self.cached_step(x) {
            return Ok(step);
        }
        let reply = self.upstreams.query(x, RecordType::DS).await?;
        let msg = reply.message;
        let step = self.classify_ds(x, zone, &msg, budget).await?;
        self.store_step(x, step.clone());
        Ok(step)
    }

    async fn classify_ds(
        &self,
        x: &Name,
        zone: &ZoneKeys,
        msg: &Message,
        budget: &mut Budget,
    ) -> Result<Step, LookupError> {
        if msg.metadata.response_code == ResponseCode::NXDomain {
            return Ok(Step::Stop);
        }
        let answers = group(&msg.answers);
        if let Some(ds_set) = find(&answers, x, RecordType::DS) {
            if let Err(r) = verify_rrset(zone, ds_set, budget) {
                return Ok(Step::Bogus(r));
            }
            let ds: Vec<Anchor> = ds_set
                .records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) if supported_ds(ds) => {
                        Some(Anchor::Ds(ds.clone()))
                    }
                    _ => None,
                })
                .collect();
            if ds.is_empty() {
                return Ok(Step::Insecure(format!(
                    "the DS records of {x} use only unsupported algorithms or digest types (RFC 4035 §5.2)"
                )));
            }
            return self.fetch_keys(x, &ds, false, budget).await;
        }
        let denial = self.denial_from(zone, &msg.authorities, budget);
        if let Some(how) = denial.insecure_delegation(x, budget) {
            return Ok(Step::Insecure(how));
        }
        Ok(Step::NotCut)
    }

    /// Validated NSEC/NSEC3 records of `zone` from a section.
    pub(crate) fn denial_from(
        &self,
        zone: &ZoneKeys,
        section: &[Record],
        budget: &mut Budget,
    ) -> DenialRecords {
        let mut d = DenialRecords {
            apex: Some(zone.apex.clone()),
            ..Default::default()
        };
        for set in group(section) {
            if !matches!(set.rtype, RecordType::NSEC | RecordType::NSEC3)
                || !zone.apex.zone_of(&set.name)
            {
                continue;
            }
            if verify_rrset(zone, &set, budget).is_err() {
                continue;
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
        d
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
        budget: &mut Budget,
    ) -> Result<Step, LookupError> {
        let reply = self.upstreams.query(zone, RecordType::DNSKEY).await?;
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
        if let Err(r) = verify_rrset(&entry_zone, set, budget) {
            return Ok(Step::Bogus(r));
        }
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
            ttl: set.ttl(),
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
                    verify_rrset(&only, set, budget).is_ok()
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
            Step::Bogus(_) => crate::resolver::BOGUS_TTL,
            _ => crate::resolver::STEP_TTL,
        }
        .min(self.max_ttl);
        if ttl == 0 {
            return;
        }
        let expires = Instant::now() + std::time::Duration::from_secs(u64::from(ttl));
        self.lock_zones().put(x.clone(), (step, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic() {
        assert!(serial_le(1, 2));
        assert!(serial_le(5, 5));
        assert!(!serial_le(3, 2));
        // wraps: 0xffff_fff0 is before 0x10
        assert!(serial_le(0xffff_fff0, 0x10));
    }

    #[test]
    fn time_format() {
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_time(1_549_311_600), "2019-02-04T20:20:00Z");
    }
}
