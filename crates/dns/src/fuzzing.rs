//! Entry points for the fuzz targets in `fuzz/`: not a stable API.
//!
//! [`validate_message`] runs one DNS message through the validator's own code —
//! RRset grouping, the chain of trust from a fixed trust anchor through DS and
//! DNSKEY RRsets (RFC 4035 §5.2), RRSIG checks at a fixed time (RFC 4035 §5.3) and
//! the NSEC/NSEC3 denial proofs for the message's question (RFC 4035 §5.4,
//! RFC 5155 §8) — without a network: every record the chain needs is taken from
//! the one message. Nothing here is used by the resolver itself, except that
//! [`fixed_now`] replaces the clock while [`validate_message`] runs on this thread.

use std::{cell::Cell, sync::Arc};

use hickory_proto::{
    dnssec::{
        Verifier,
        rdata::{DNSKEY, DNSSECRData},
    },
    op::Message,
    rr::{Name, RData, Record, RecordType},
};

use crate::{
    anchor::{Anchor, TrustAnchors},
    budget::{Budget, MAX_DESCENT_LABELS},
    denial::{DenialRecords, Proof},
    rrset::{RrSet, Skew, ZoneKeys, find, group, verify_rrset},
};

/// Fuzzing validates at an exact time: no clock skew on RRSIG validity.
const NO_SKEW: Skew = Skew { min: 0, max: 0 };

thread_local! {
    static NOW: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The fixed validation time set by [`validate_message`] on this thread, if any.
pub(crate) fn fixed_now() -> Option<u32> {
    NOW.with(Cell::get)
}

/// Resets the fixed time when validation ends (also on unwind).
struct TimeGuard;

impl Drop for TimeGuard {
    fn drop(&mut self) {
        NOW.with(|c| c.set(None));
    }
}

/// What [`validate_message`] concluded.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Zones whose DNSKEY RRset was validated, anchor first.
    pub secure_zones: Vec<Name>,
    /// RRsets whose signature verified.
    pub verified: usize,
    /// RRsets in a secure zone whose signature did not verify.
    pub bogus: usize,
    /// The denial proofs checked for the question: NXDOMAIN, NODATA, and (when an
    /// answer was synthesised from a wildcard) the wildcard proof.
    pub proofs: Vec<Proof>,
    /// The insecure-delegation proof for the question name, if any.
    pub insecure_delegation: Option<String>,
}

/// Validates everything `wire` (one DNS message) proves, from `anchors`, with
/// signatures judged at `now` (seconds since the epoch, RFC 1982 serial arithmetic).
/// `None` when the message does not parse.
pub fn validate_message(wire: &[u8], anchors: &TrustAnchors, now: u32) -> Option<Outcome> {
    let msg = Message::from_vec(wire).ok()?;
    NOW.with(|c| c.set(Some(now)));
    let _guard = TimeGuard;
    let mut all: Vec<Record> = Vec::new();
    all.extend(msg.answers.iter().cloned());
    all.extend(msg.authorities.iter().cloned());
    all.extend(msg.additionals.iter().cloned());
    let sets = group(&all);
    let mut budget = Budget::default();
    let mut out = Outcome::default();
    let mut zones: Vec<Arc<ZoneKeys>> = Vec::new();

    // The anchored zones (RFC 4035 §5: validation starts at a trust anchor).
    let mut anchored: Vec<Name> = Vec::new();
    for (name, _) in anchors.iter() {
        if !anchored.contains(name) {
            anchored.push(name.clone());
        }
    }
    for zone in &anchored {
        let trusted: Vec<Anchor> = anchors.for_zone(zone).cloned().collect();
        if let Some(set) = find(&sets, zone, RecordType::DNSKEY)
            && let Some(z) = zone_keys(zone, set, &trusted, &mut budget)
        {
            zones.push(z);
        }
    }
    // Down through signed DS RRsets, as deep as the message goes (bounded).
    for _ in 0..MAX_DESCENT_LABELS {
        let mut grew = false;
        for set in sets.iter().filter(|s| s.rtype == RecordType::DS) {
            if zones.iter().any(|z| z.apex == set.name) {
                continue;
            }
            let Some(parent) = deepest(&zones, &set.name) else {
                continue;
            };
            if parent.apex == set.name || verify_rrset(&parent, set, NO_SKEW, &mut budget).is_err()
            {
                continue;
            }
            let ds: Vec<Anchor> = set
                .records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) => Some(Anchor::Ds(ds.clone())),
                    _ => None,
                })
                .collect();
            if let Some(keys) = find(&sets, &set.name, RecordType::DNSKEY)
                && let Some(z) = zone_keys(&set.name, keys, &ds, &mut budget)
            {
                zones.push(z);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    out.secure_zones = zones.iter().map(|z| z.apex.clone()).collect();

    // Every other RRset against the deepest secure zone holding it.
    let mut wildcard_labels: Option<u8> = None;
    let qname = msg.queries.first().map(|q| q.name().clone());
    for set in &sets {
        let Some(zone) = deepest(&zones, &set.name) else {
            continue;
        };
        match verify_rrset(&zone, set, NO_SKEW, &mut budget) {
            Ok(v) => {
                out.verified += 1;
                if qname.as_ref() == Some(&set.name) && v.labels < set.name.num_labels() {
                    wildcard_labels = Some(v.labels);
                }
            }
            Err(_) => out.bogus += 1,
        }
    }

    // The denial proofs for the question, from validated NSEC/NSEC3 records.
    if let Some(q) = msg.queries.first()
        && let Some(zone) = deepest(&zones, q.name())
    {
        let mut d = DenialRecords {
            apex: Some(zone.apex.clone()),
            ..Default::default()
        };
        for set in group(&msg.authorities) {
            if !matches!(set.rtype, RecordType::NSEC | RecordType::NSEC3)
                || !zone.apex.zone_of(&set.name)
                || verify_rrset(&zone, &set, NO_SKEW, &mut budget).is_err()
            {
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
        out.proofs.push(d.nxdomain(q.name(), &mut budget));
        out.proofs
            .push(d.nodata(q.name(), q.query_type(), &mut budget));
        if let Some(labels) = wildcard_labels {
            out.proofs
                .push(d.wildcard_answer(q.name(), labels, &mut budget));
        }
        out.insecure_delegation = d.insecure_delegation(q.name(), &mut budget);
    }
    Some(out)
}

/// The deepest validated zone at or above `name`.
fn deepest(zones: &[Arc<ZoneKeys>], name: &Name) -> Option<Arc<ZoneKeys>> {
    zones
        .iter()
        .filter(|z| z.apex.zone_of(name))
        .max_by_key(|z| z.apex.num_labels())
        .cloned()
}

/// A zone's DNSKEY RRset validated by a key that `trusted` (DS or DNSKEY) vouches
/// for (RFC 4035 §5.2); the same rules as the resolver, without RFC 5011 state.
fn zone_keys(
    zone: &Name,
    set: &RrSet,
    trusted: &[Anchor],
    budget: &mut Budget,
) -> Option<Arc<ZoneKeys>> {
    let keys: Vec<(u16, DNSKEY)> = set
        .records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) if k.zone_key() && !k.revoke() => {
                k.calculate_key_tag().ok().map(|t| (t, k.clone()))
            }
            _ => None,
        })
        .collect();
    let entry: Vec<(u16, DNSKEY)> = keys
        .iter()
        .filter(|(tag, k)| {
            trusted.iter().any(|a| match a {
                Anchor::Ds(ds) => {
                    ds.key_tag() == *tag
                        && ds.algorithm() == k.algorithm()
                        && ds.covers(zone, k).unwrap_or(false)
                }
                Anchor::Dnskey(ak) => {
                    ak.public_key() == k.public_key() && ak.algorithm() == k.algorithm()
                }
            })
        })
        .cloned()
        .collect();
    if entry.is_empty() {
        return None;
    }
    let entry_zone = ZoneKeys {
        apex: zone.clone(),
        keys: entry,
        ttl: set.ttl(),
    };
    verify_rrset(&entry_zone, set, NO_SKEW, budget).ok()?;
    Some(Arc::new(ZoneKeys {
        apex: zone.clone(),
        keys,
        ttl: set.ttl(),
    }))
}
