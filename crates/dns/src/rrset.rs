//! RRset signature verification (RFC 4035 §5.3): grouping a section into RRsets with
//! their RRSIGs, checking signature times with the allowed clock skew, and verifying
//! signatures with a zone's validated keys within the work budget. The lowest layer of
//! validation: it knows nothing of queries, caches or zone cuts.

use std::{
    collections::HashMap,
    time::{SystemTime, UNIX_EPOCH},
};

use hickory_proto::{
    dnssec::{
        Verifier,
        rdata::{DNSKEY, DNSSECRData, RRSIG},
    },
    rr::{DNSClass, Name, RData, Record, RecordType},
};

use crate::{
    budget::{self, Budget},
    status::BogusReason,
};

/// A zone whose DNSKEY RRset has been validated.
#[derive(Debug)]
pub(crate) struct ZoneKeys {
    pub apex: Name,
    /// (key tag, key) for each zone key that is not revoked.
    pub keys: Vec<(u16, DNSKEY)>,
    pub ttl: u32,
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
                if let Some(set) = sets.get_mut(idx) {
                    set.records.push(r.clone());
                }
            }
        }
    }
    for (name, sig) in sigs {
        if let Some(set) = index
            .get(&(name, sig.input().type_covered))
            .and_then(|&idx| sets.get_mut(idx))
        {
            set.sigs.push(sig);
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

/// The clock skew allowed on RRSIG inception and expiration times: 10% of the
/// signature's validity period, at least `min` and at most `max` seconds (Unbound's
/// `val-sig-skew-min` / `val-sig-skew-max`, defaults 3600 and 86400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skew {
    pub min: u32,
    pub max: u32,
}

impl Skew {
    /// The skew for a signature valid from `inception` to `expiration`.
    fn for_sig(&self, inception: u32, expiration: u32) -> u32 {
        let life = expiration.wrapping_sub(inception);
        let life = if (life as i32) < 0 { 0 } else { life };
        (life / 10).min(self.max).max(self.min.min(self.max))
    }
}

/// What verification proved about a signed RRset.
pub(crate) struct Verified {
    /// The RRSIG labels field of the signature that verified (wildcard detection).
    pub labels: u8,
    /// How long the RRset may be cached: the least of its TTL, the RRSIG's original TTL
    /// and the time left until the signature expires (RFC 4035 §5.3.3).
    pub ttl: u32,
}

/// Verifies an RRset against a zone's keys (RFC 4035 §5.3), within the work budget.
/// Inception and expiration are checked with the clock skew `skew` allows.
pub(crate) fn verify_rrset(
    zone: &ZoneKeys,
    set: &RrSet,
    skew: Skew,
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
        let allowed = skew.for_sig(inception, expiration);
        if !serial_le(now, expiration.wrapping_add(allowed)) {
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
        if !serial_le(inception.wrapping_sub(allowed), now) {
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
                    let left = if serial_le(now, expiration) {
                        expiration.wrapping_sub(now)
                    } else {
                        0
                    };
                    return Ok(Verified {
                        labels: input.num_labels,
                        ttl: set.ttl().min(input.original_ttl).min(left),
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
    danegate_timefmt::utc(i64::from(t), danegate_timefmt::Layout::Rfc3339)
        .unwrap_or_else(|| t.to_string())
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
