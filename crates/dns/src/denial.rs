//! Authenticated denial of existence: NSEC (RFC 4035 §5.4, RFC 4034 §4) and
//! NSEC3 (RFC 5155 §8) proofs, on records whose signatures were already verified.

use std::cmp::Ordering;

use data_encoding::BASE32HEX_NOPAD;
use hickory_proto::{
    dnssec::{
        Nsec3HashAlgorithm,
        rdata::{NSEC, NSEC3},
    },
    rr::{Name, RecordType, RecordTypeSet},
};

use crate::budget::{Budget, MAX_NSEC3_ITERATIONS};

/// The outcome of checking a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// The denial is proven.
    Secure,
    /// The denial is proven only as far as an opt-out span or an NSEC3 iteration count
    /// beyond the cap allows: the answer is INSECURE (RFC 5155 §9.2, RFC 9276 §3.2).
    Insecure(String),
    /// Not proven: a secure zone's negative answer becomes BOGUS.
    Fail(String),
}

/// Validated denial records from one zone.
#[derive(Debug, Default, Clone)]
pub struct DenialRecords {
    /// The zone that signed them.
    pub apex: Option<Name>,
    /// NSEC records (owner, rdata).
    pub nsec: Vec<(Name, NSEC)>,
    /// NSEC3 records (owner, rdata).
    pub nsec3: Vec<(Name, NSEC3)>,
}

fn is_delegation(types: &RecordTypeSet) -> bool {
    types.contains(RecordType::DNAME)
        || (types.contains(RecordType::NS) && !types.contains(RecordType::SOA))
}

/// The longest common ancestor of two names.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut n = a.num_labels().min(b.num_labels());
    loop {
        let ta = a.trim_to(n as usize);
        let tb = b.trim_to(n as usize);
        if ta == tb || n == 0 {
            return ta;
        }
        n -= 1;
    }
}

fn wildcard_of(name: &Name) -> Option<Name> {
    name.prepend_label("*").ok()
}

/// True when NSEC (owner, next) covers `name`: owner < name < next in canonical order
/// (RFC 4034 §6.1), with the last NSEC of the zone wrapping round to the apex.
fn nsec_covers(owner: &Name, next: &Name, name: &Name, apex: &Name) -> bool {
    if !apex.zone_of(name) {
        return false;
    }
    match owner.cmp(next) {
        Ordering::Less => owner < name && name < next,
        // Wrap-around (next is the apex) or a zone with one NSEC.
        _ => owner < name || name < next,
    }
}

impl DenialRecords {
    fn apex(&self) -> Name {
        self.apex.clone().unwrap_or_else(Name::root)
    }

    /// The NSEC covering `name`, skipping NSECs at a delegation above `name` (which
    /// cannot prove anything below the cut, RFC 6840 §4.1).
    fn nsec_covering(&self, name: &Name) -> Option<&(Name, NSEC)> {
        let apex = self.apex();
        self.nsec.iter().find(|(owner, nsec)| {
            nsec_covers(owner, nsec.next_domain_name(), name, &apex)
                && !(owner.zone_of(name) && owner != name && is_delegation(nsec.type_set()))
        })
    }

    fn nsec_at(&self, name: &Name) -> Option<&NSEC> {
        self.nsec.iter().find(|(o, _)| o == name).map(|(_, n)| n)
    }

    /// RFC 4035 §5.4: the name does not exist, and no wildcard could have produced it.
    pub fn nxdomain(&self, qname: &Name, budget: &mut Budget) -> Proof {
        if !self.nsec3.is_empty() {
            return self.nsec3_nxdomain(qname, budget);
        }
        let Some((owner, nsec)) = self.nsec_covering(qname) else {
            return Proof::Fail(format!("no NSEC covers {qname}"));
        };
        let a = common_ancestor(qname, owner);
        let b = common_ancestor(qname, nsec.next_domain_name());
        let ce = if a.num_labels() >= b.num_labels() {
            a
        } else {
            b
        };
        let Some(wild) = wildcard_of(&ce) else {
            return Proof::Fail(format!("cannot form the wildcard of {ce}"));
        };
        if self.nsec_at(&wild).is_some() {
            return Proof::Fail(format!(
                "wildcard {wild} exists: {qname} should have been synthesised"
            ));
        }
        if self.nsec_covering(&wild).is_none() {
            return Proof::Fail(format!(
                "no NSEC proves that wildcard {wild} does not exist"
            ));
        }
        Proof::Secure
    }

    /// RFC 4035 §5.4 / RFC 5155 §8.5-8.7: the name exists but has no `qtype` records.
    pub fn nodata(&self, qname: &Name, qtype: RecordType, budget: &mut Budget) -> Proof {
        if !self.nsec3.is_empty() {
            return self.nsec3_nodata(qname, qtype, budget);
        }
        if let Some(nsec) = self.nsec_at(qname) {
            return check_bitmap(nsec.type_set(), qtype, qname);
        }
        if let Some((_, nsec)) = self.nsec_covering(qname) {
            // An empty non-terminal: the next name lies below qname (RFC 4035 §3.1.3.2).
            if qname.zone_of(nsec.next_domain_name()) && nsec.next_domain_name() != qname {
                return Proof::Secure;
            }
            // A wildcard NODATA: the name does not exist, the wildcard has no such type.
            let owner = &self
                .nsec_covering(qname)
                .map(|(o, _)| o.clone())
                .unwrap_or_else(Name::root);
            let a = common_ancestor(qname, owner);
            let b = common_ancestor(qname, nsec.next_domain_name());
            let ce = if a.num_labels() >= b.num_labels() {
                a
            } else {
                b
            };
            if let Some(wild) = wildcard_of(&ce)
                && let Some(wnsec) = self.nsec_at(&wild)
            {
                return check_bitmap(wnsec.type_set(), qtype, &wild);
            }
        }
        Proof::Fail(format!(
            "no NSEC proves that {qname} has no {qtype} records"
        ))
    }

    /// RFC 4035 §5.3.4 / RFC 5155 §8.8: a wildcard expansion is valid only if the query
    /// name itself does not exist. `labels` is the RRSIG's labels field.
    pub fn wildcard_answer(&self, qname: &Name, labels: u8, budget: &mut Budget) -> Proof {
        if !self.nsec3.is_empty() {
            let ce = qname.trim_to(labels as usize);
            let nc = qname.trim_to(labels as usize + 1);
            return match self.nsec3_params() {
                Err(p) => p,
                Ok(params) => match self.nsec3_covering(&nc, &params, budget) {
                    Ok(Some(_)) => Proof::Secure,
                    Ok(None) => Proof::Fail(format!(
                        "no NSEC3 proves that {nc} (next closer to {ce}) does not exist"
                    )),
                    Err(p) => p,
                },
            };
        }
        // RFC 4035 §5.3.4, RFC 7129 §5.3: the NSEC must cover the *next closer name* (the
        // source of synthesis plus one label of the query name), not just the query name:
        // an NSEC covering `a.b.zone` where `b.zone` exists (its own NSEC) does not prove
        // that `*.zone` may be expanded for it.
        let nc = qname.trim_to(labels as usize + 1);
        if self.nsec_covering(&nc).is_some() {
            Proof::Secure
        } else {
            Proof::Fail(format!(
                "no NSEC proves that {nc} (the next closer name of {qname}) does not exist \
                 behind the wildcard"
            ))
        }
    }

    /// RFC 4035 §5.2 / RFC 5155 §8.6 / §8.9: `name` is a delegation without DS, or lies
    /// in an opt-out span: the child zone is INSECURE. Returns Some(how) when proven.
    ///
    /// A zone whose validated NSEC3 records use more iterations than the cap gets no
    /// hashing at all: RFC 9276 §3.2 lets a validator treat such a proof as insecure, so
    /// the name below it is INSECURE (as Unbound and BIND's delv say), not checked
    /// against the parent's keys.
    pub fn insecure_delegation(&self, name: &Name, budget: &mut Budget) -> Option<String> {
        if !self.nsec3.is_empty() {
            let params = match self.nsec3_params() {
                Ok(p) => p,
                Err(Proof::Insecure(why)) => {
                    return Some(format!(
                        "{why}: the DS denial for {name} is taken as insecure"
                    ));
                }
                Err(_) => return None,
            };
            if let Ok(Some(n3)) = self.nsec3_matching(name, &params, budget) {
                let t = n3.type_set();
                return (t.contains(RecordType::NS)
                    && !t.contains(RecordType::DS)
                    && !t.contains(RecordType::SOA))
                .then(|| format!("NSEC3 proves the delegation {name} has no DS"));
            }
            if let Ok(Some((_, _, cover))) = self.nsec3_closest_encloser(name, &params, budget)
                && cover.opt_out()
            {
                return Some(format!("{name} lies in an NSEC3 opt-out span"));
            }
            return None;
        }
        let nsec = self.nsec_at(name)?;
        let t = nsec.type_set();
        (t.contains(RecordType::NS) && !t.contains(RecordType::DS) && !t.contains(RecordType::SOA))
            .then(|| format!("NSEC proves the delegation {name} has no DS"))
    }

    // ---- NSEC3 (RFC 5155) ----

    fn nsec3_params(&self) -> Result<(Vec<u8>, u16), Proof> {
        let Some((_, first)) = self
            .nsec3
            .iter()
            .find(|(_, n)| n.hash_algorithm() == Nsec3HashAlgorithm::SHA1)
        else {
            return Err(Proof::Fail(
                "no NSEC3 record with a known hash algorithm".into(),
            ));
        };
        if first.iterations() > MAX_NSEC3_ITERATIONS {
            return Err(Proof::Insecure(format!(
                "NSEC3 iterations {} above the limit of {} (RFC 9276)",
                first.iterations(),
                MAX_NSEC3_ITERATIONS
            )));
        }
        Ok((first.salt().to_vec(), first.iterations()))
    }

    fn hash(
        &self,
        name: &Name,
        params: &(Vec<u8>, u16),
        budget: &mut Budget,
    ) -> Result<Vec<u8>, Proof> {
        if !budget.take_hash() {
            return Err(Proof::Fail(
                "NSEC3 hash budget exhausted (CVE-2023-50868 defence)".into(),
            ));
        }
        Nsec3HashAlgorithm::SHA1
            .hash(&params.0, name, params.1)
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| Proof::Fail(format!("cannot hash {name}: {e}")))
    }

    /// (owner hash, record) for each NSEC3 of this zone with these parameters.
    fn nsec3_hashed(&self, params: &(Vec<u8>, u16)) -> Vec<(Vec<u8>, &NSEC3)> {
        let apex = self.apex();
        self.nsec3
            .iter()
            .filter(|(owner, n)| {
                n.hash_algorithm() == Nsec3HashAlgorithm::SHA1
                    && n.salt() == params.0.as_slice()
                    && n.iterations() == params.1
                    && owner.base_name() == apex
            })
            .filter_map(|(owner, n)| {
                let label = owner.iter().next()?;
                let hash = BASE32HEX_NOPAD.decode(&label.to_ascii_uppercase()).ok()?;
                Some((hash, n))
            })
            .collect()
    }

    fn nsec3_matching(
        &self,
        name: &Name,
        params: &(Vec<u8>, u16),
        budget: &mut Budget,
    ) -> Result<Option<&NSEC3>, Proof> {
        let h = self.hash(name, params, budget)?;
        Ok(self
            .nsec3_hashed(params)
            .into_iter()
            .find(|(oh, _)| *oh == h)
            .map(|(_, n)| n))
    }

    fn nsec3_covering(
        &self,
        name: &Name,
        params: &(Vec<u8>, u16),
        budget: &mut Budget,
    ) -> Result<Option<&NSEC3>, Proof> {
        let h = self.hash(name, params, budget)?;
        Ok(self
            .nsec3_hashed(params)
            .into_iter()
            .find(|(oh, n)| {
                let next = n.next_hashed_owner_name();
                match oh.as_slice().cmp(next) {
                    Ordering::Less => oh.as_slice() < h.as_slice() && h.as_slice() < next,
                    _ => oh.as_slice() < h.as_slice() || h.as_slice() < next,
                }
            })
            .map(|(_, n)| n))
    }

    /// RFC 5155 §8.3: the closest provable encloser of `qname` (a proper ancestor), the
    /// next closer name, and the NSEC3 covering the next closer name.
    fn nsec3_closest_encloser(
        &self,
        qname: &Name,
        params: &(Vec<u8>, u16),
        budget: &mut Budget,
    ) -> Result<Option<(Name, Name, &NSEC3)>, Proof> {
        let apex = self.apex();
        if !apex.zone_of(qname) {
            return Ok(None);
        }
        let mut candidate = qname.base_name();
        let mut next_closer = qname.clone();
        loop {
            if let Some(m) = self.nsec3_matching(&candidate, params, budget)? {
                if is_delegation(m.type_set()) && candidate != apex {
                    return Ok(None);
                }
                return Ok(self
                    .nsec3_covering(&next_closer, params, budget)?
                    .map(|c| (candidate, next_closer, c)));
            }
            if candidate == apex || candidate.is_root() {
                return Ok(None);
            }
            next_closer = candidate.clone();
            candidate = candidate.base_name();
        }
    }

    fn nsec3_nxdomain(&self, qname: &Name, budget: &mut Budget) -> Proof {
        let params = match self.nsec3_params() {
            Ok(p) => p,
            Err(p) => return p,
        };
        let (ce, _nc, cover) = match self.nsec3_closest_encloser(qname, &params, budget) {
            Ok(Some(x)) => x,
            Ok(None) => return Proof::Fail(format!("no NSEC3 closest encloser proof for {qname}")),
            Err(p) => return p,
        };
        let Some(wild) = wildcard_of(&ce) else {
            return Proof::Fail(format!("cannot form the wildcard of {ce}"));
        };
        match self.nsec3_covering(&wild, &params, budget) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Proof::Fail(format!(
                    "no NSEC3 proves that wildcard {wild} does not exist"
                ));
            }
            Err(p) => return p,
        }
        if cover.opt_out() {
            Proof::Insecure(format!(
                "NXDOMAIN for {qname} proven only by an NSEC3 opt-out span"
            ))
        } else {
            Proof::Secure
        }
    }

    fn nsec3_nodata(&self, qname: &Name, qtype: RecordType, budget: &mut Budget) -> Proof {
        let params = match self.nsec3_params() {
            Ok(p) => p,
            Err(p) => return p,
        };
        match self.nsec3_matching(qname, &params, budget) {
            Ok(Some(n3)) => return check_bitmap(n3.type_set(), qtype, qname),
            Ok(None) => {}
            Err(p) => return p,
        }
        let (ce, _nc, cover) = match self.nsec3_closest_encloser(qname, &params, budget) {
            Ok(Some(x)) => x,
            Ok(None) => {
                return Proof::Fail(format!(
                    "no NSEC3 proves that {qname} has no {qtype} records"
                ));
            }
            Err(p) => return p,
        };
        if qtype == RecordType::DS && cover.opt_out() {
            return Proof::Insecure(format!("{qname} lies in an NSEC3 opt-out span"));
        }
        let Some(wild) = wildcard_of(&ce) else {
            return Proof::Fail(format!("cannot form the wildcard of {ce}"));
        };
        match self.nsec3_matching(&wild, &params, budget) {
            Ok(Some(n3)) => check_bitmap(n3.type_set(), qtype, &wild),
            Ok(None) => Proof::Fail(format!(
                "no NSEC3 proves that {qname} has no {qtype} records"
            )),
            Err(p) => p,
        }
    }
}

/// A matching NSEC/NSEC3 proves NODATA when its bitmap lacks the type and CNAME, and it
/// is from the right side of a zone cut (RFC 4035 §5.4, RFC 6840 §4.1, RFC 5155 §8.5).
fn check_bitmap(types: &RecordTypeSet, qtype: RecordType, owner: &Name) -> Proof {
    if types.contains(qtype) {
        return Proof::Fail(format!("the denial record at {owner} says {qtype} exists"));
    }
    if types.contains(RecordType::CNAME) {
        return Proof::Fail(format!("the denial record at {owner} says a CNAME exists"));
    }
    if qtype == RecordType::DS {
        if types.contains(RecordType::SOA) {
            return Proof::Fail(format!(
                "the denial record for DS at {owner} comes from the child zone"
            ));
        }
    } else if is_delegation(types) {
        return Proof::Fail(format!(
            "the denial record at {owner} is from the parent side of a delegation"
        ));
    }
    Proof::Secure
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn nsec(owner: &str, next: &str, types: &[RecordType]) -> (Name, NSEC) {
        (n(owner), NSEC::new(n(next), types.iter().copied()))
    }

    #[test]
    fn canonical_cover_and_wrap() {
        let apex = n("example.");
        assert!(nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("b.example."),
            &apex
        ));
        assert!(!nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("d.example."),
            &apex
        ));
        // last NSEC wraps to the apex
        assert!(nsec_covers(
            &n("z.example."),
            &n("example."),
            &n("zz.example."),
            &apex
        ));
        assert!(!nsec_covers(
            &n("z.example."),
            &n("example."),
            &n("other."),
            &apex
        ));
        // a name below the owner sorts after it
        assert!(nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("x.a.example."),
            &apex
        ));
    }

    #[test]
    fn nsec_nxdomain_needs_wildcard_proof() {
        use RecordType::*;
        let mut d = DenialRecords {
            apex: Some(n("example.")),
            nsec: vec![nsec("a.example.", "c.example.", &[A, RRSIG, NSEC])],
            nsec3: vec![],
        };
        let mut b = Budget::default();
        // b.example: covered, but *.example. is not covered (example. < *.example. < a.example.)
        assert!(matches!(
            d.nxdomain(&n("b.example."), &mut b),
            Proof::Fail(_)
        ));
        d.nsec.push(nsec(
            "example.",
            "a.example.",
            &[SOA, NS, RRSIG, NSEC, DNSKEY],
        ));
        assert_eq!(d.nxdomain(&n("b.example."), &mut b), Proof::Secure);
    }

    #[test]
    fn nsec_nodata_rules() {
        use RecordType::*;
        let d = DenialRecords {
            apex: Some(n("example.")),
            nsec: vec![
                nsec("mail.example.", "sub.example.", &[A, RRSIG, NSEC]),
                nsec("sub.example.", "x.y.example.", &[NS, RRSIG, NSEC]),
                nsec("alias.example.", "mail.example.", &[CNAME, RRSIG, NSEC]),
            ],
            nsec3: vec![],
        };
        let mut b = Budget::default();
        assert_eq!(d.nodata(&n("mail.example."), AAAA, &mut b), Proof::Secure);
        assert!(matches!(
            d.nodata(&n("mail.example."), A, &mut b),
            Proof::Fail(_)
        ));
        assert!(matches!(
            d.nodata(&n("alias.example."), A, &mut b),
            Proof::Fail(_)
        ));
        // parent-side delegation NSEC proves only the absence of DS
        assert!(matches!(
            d.nodata(&n("sub.example."), A, &mut b),
            Proof::Fail(_)
        ));
        assert_eq!(d.nodata(&n("sub.example."), DS, &mut b), Proof::Secure);
        assert!(d.insecure_delegation(&n("sub.example."), &mut b).is_some());
        assert!(d.insecure_delegation(&n("mail.example."), &mut b).is_none());
        // empty non-terminal y.example. (x.y.example. exists)
        assert_eq!(d.nodata(&n("y.example."), TXT, &mut b), Proof::Secure);
    }

    #[test]
    fn ancestor_delegation_nsec_cannot_deny_below_cut() {
        use RecordType::*;
        let d = DenialRecords {
            apex: Some(n("example.")),
            nsec: vec![
                nsec("example.", "sub.example.", &[SOA, NS, RRSIG, NSEC, DNSKEY]),
                nsec("sub.example.", "example.", &[NS, RRSIG, NSEC]),
            ],
            nsec3: vec![],
        };
        let mut b = Budget::default();
        assert!(matches!(
            d.nxdomain(&n("www.sub.example."), &mut b),
            Proof::Fail(_)
        ));
    }
}
