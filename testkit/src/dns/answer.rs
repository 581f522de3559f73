//! Answering queries like a non-validating recursive resolver that knows every zone.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::Rewrite;
use super::build::{RRset, WorldData, Zone};

/// Maximum number of CNAME links followed.
const MAX_CNAME_LINKS: usize = 8;
/// Payload size we advertise in our OPT record.
const OUR_PAYLOAD: u16 = 1232;

/// A resolved answer before DNSSEC filtering.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub rcode: ResponseCode,
    pub answer: Vec<Record>,
    pub authority: Vec<Record>,
}

enum Lookup {
    Data {
        records: Vec<Record>,
        proof: Vec<Record>,
    },
    Cname {
        records: Vec<Record>,
        proof: Vec<Record>,
        target: Name,
    },
    NoData(Vec<Record>),
    NxDomain(Vec<Record>),
    /// At or below a delegation to a zone the world does not declare (NS records written
    /// into the zone text): nothing serves it.
    ServFail,
}

fn labels(n: &Name) -> usize {
    n.iter().count()
}

fn with_sigs(set: &RRset) -> impl Iterator<Item = Record> + '_ {
    set.records.iter().chain(set.sigs.iter()).cloned()
}

/// Appends the records of `set` unless an RRset with the same owner and type is present.
fn push_set(out: &mut Vec<Record>, set: Option<&RRset>) {
    let Some(set) = set else { return };
    let Some(first) = set.records.first() else {
        return;
    };
    if out
        .iter()
        .any(|r| r.name == first.name && r.record_type() == first.record_type())
    {
        return;
    }
    out.extend(with_sigs(set));
}

fn push_records(out: &mut Vec<Record>, records: Vec<Record>) {
    for r in records {
        if !out.contains(&r) {
            out.push(r);
        }
    }
}

/// What a denial has to say something about (for `bad_denial`).
struct Protected {
    names: Vec<Name>,
}

impl Zone {
    fn soa(&self) -> Vec<Record> {
        let mut v = Vec::new();
        push_set(&mut v, self.rrset(&self.apex, RecordType::SOA));
        v
    }

    fn nsec_cover(&self, name: &Name) -> Option<&RRset> {
        self.nsec
            .range(..=name.clone())
            .next_back()
            .or_else(|| self.nsec.iter().next_back())
            .map(|(_, s)| s)
    }

    fn nsec3_match(&self, name: &Name) -> Option<&RRset> {
        let c = self.nsec3.as_ref()?;
        c.chain.get(&c.hash(name))
    }

    fn nsec3_cover(&self, name: &Name) -> Option<&RRset> {
        let c = self.nsec3.as_ref()?;
        let h = c.hash(name);
        c.chain
            .range(..h)
            .next_back()
            .or_else(|| c.chain.iter().next_back())
            .map(|(_, s)| s)
    }

    fn next_closer(qname: &Name, ce: &Name) -> Name {
        qname.trim_to(labels(ce) + 1)
    }

    /// Proof that `owner` (which exists, or is an insecure delegation left out of an
    /// opt-out NSEC3 chain) has no RRset of the queried type.
    fn nodata_proof(&self, owner: &Name) -> Vec<Record> {
        let mut v = Vec::new();
        if self.nsec3.is_some() {
            if let Some(m) = self.nsec3_match(owner) {
                push_set(&mut v, Some(m));
            } else if *owner != self.apex {
                // closest provable encloser + next closer name (opt-out span)
                let mut ce = owner.base_name();
                while self.nsec3_match(&ce).is_none() && ce != self.apex {
                    ce = ce.base_name();
                }
                push_set(&mut v, self.nsec3_match(&ce));
                push_set(&mut v, self.nsec3_cover(&Self::next_closer(owner, &ce)));
            }
        } else if !self.nsec.is_empty() {
            match self.nsec.get(owner) {
                Some(s) => push_set(&mut v, Some(s)),
                None => push_set(&mut v, self.nsec_cover(owner)), // empty non-terminal
            }
        }
        v
    }

    fn nxdomain_proof(&self, qname: &Name, ce: &Name) -> Vec<Record> {
        let mut v = Vec::new();
        let wild = ce.prepend_label("*").expect("wildcard");
        if self.nsec3.is_some() {
            push_set(&mut v, self.nsec3_match(ce));
            push_set(&mut v, self.nsec3_cover(&Self::next_closer(qname, ce)));
            push_set(&mut v, self.nsec3_cover(&wild));
        } else if !self.nsec.is_empty() {
            push_set(&mut v, self.nsec_cover(qname));
            push_set(&mut v, self.nsec_cover(&wild));
        }
        v
    }

    /// Proof that `qname` itself does not exist, for a wildcard expansion.
    fn wildcard_answer_proof(&self, qname: &Name, ce: &Name) -> Vec<Record> {
        let mut v = Vec::new();
        if self.nsec3.is_some() {
            push_set(&mut v, self.nsec3_cover(&Self::next_closer(qname, ce)));
        } else if !self.nsec.is_empty() {
            push_set(&mut v, self.nsec_cover(qname));
        }
        v
    }

    fn wildcard_nodata_proof(&self, qname: &Name, ce: &Name) -> Vec<Record> {
        let mut v = Vec::new();
        let wild = ce.prepend_label("*").expect("wildcard");
        if self.nsec3.is_some() {
            push_set(&mut v, self.nsec3_match(ce));
            push_set(&mut v, self.nsec3_cover(&Self::next_closer(qname, ce)));
            push_set(&mut v, self.nsec3_match(&wild));
        } else if !self.nsec.is_empty() {
            push_set(&mut v, self.nsec.get(&wild));
            push_set(&mut v, self.nsec_cover(qname));
        }
        v
    }

    /// For `bad_denial`: a validly signed denial record that proves nothing about any of the
    /// protected names, or nothing at all.
    fn useless_denial(&self, p: &Protected) -> Vec<Record> {
        let mut v = Vec::new();
        if let Some(c) = &self.nsec3 {
            let hashes: Vec<Vec<u8>> = p.names.iter().map(|n| c.hash(n)).collect();
            let keys: Vec<&Vec<u8>> = c.chain.keys().collect();
            for (i, owner) in keys.iter().enumerate() {
                let next = keys[(i + 1) % keys.len()];
                if hashes.iter().all(|h| !matches_or_covers(*owner, next, h)) {
                    push_set(&mut v, c.chain.get(*owner));
                    break;
                }
            }
        } else {
            for (owner, set) in &self.nsec {
                let Some(RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::NSEC(nsec))) =
                    set.records.first().map(|r| &r.data)
                else {
                    continue;
                };
                let next = nsec.next_domain_name();
                if p.names.iter().all(|n| !matches_or_covers(owner, next, n)) {
                    push_set(&mut v, Some(set));
                    break;
                }
            }
        }
        v
    }

    /// SOA plus the denial proof (or, with `bad_denial`, a useless one). `exempt` keeps the
    /// good proof: DS NODATA answers are exempt because validators probe DS at every label
    /// to find zone cuts, and sabotaging those would make positive answers bogus too.
    fn negative(&self, exempt: bool, proof: Vec<Record>, protected: Protected) -> Vec<Record> {
        let mut v = self.soa();
        if self.bad_denial && self.signed && !exempt {
            push_records(&mut v, self.useless_denial(&protected));
        } else {
            push_records(&mut v, proof);
        }
        v
    }

    fn lookup(&self, qname: &Name, qtype: RecordType) -> Lookup {
        if self
            .cuts
            .iter()
            .any(|c| c.zone_of(qname) && !(c == qname && qtype == RecordType::DS))
        {
            return Lookup::ServFail;
        }
        if self.exists.contains(qname) {
            let Some(types) = self.data.get(qname) else {
                // empty non-terminal
                let proof = self.nodata_proof(qname);
                return Lookup::NoData(self.negative(
                    qtype == RecordType::DS,
                    proof,
                    Protected {
                        names: vec![qname.clone()],
                    },
                ));
            };
            if self.cuts.contains(qname) && qtype == RecordType::DS {
                if let Some(set) = self.rrset(qname, RecordType::DS) {
                    return Lookup::Data {
                        records: with_sigs(set).collect(),
                        proof: Vec::new(),
                    };
                }
                let proof = self.nodata_proof(qname);
                return Lookup::NoData(self.negative(
                    qtype == RecordType::DS,
                    proof,
                    Protected {
                        names: vec![qname.clone()],
                    },
                ));
            }
            if qtype == RecordType::ANY {
                let mut records = Vec::new();
                for set in types.values() {
                    records.extend(with_sigs(set));
                }
                return Lookup::Data {
                    records,
                    proof: Vec::new(),
                };
            }
            if let Some(set) = types.get(&u16::from(qtype)) {
                return Lookup::Data {
                    records: with_sigs(set).collect(),
                    proof: Vec::new(),
                };
            }
            if let Some(set) = types.get(&u16::from(RecordType::CNAME))
                && let Some(target) = cname_target(set)
            {
                return Lookup::Cname {
                    records: with_sigs(set).collect(),
                    proof: Vec::new(),
                    target,
                };
            }
            let proof = self.nodata_proof(qname);
            return Lookup::NoData(self.negative(
                qtype == RecordType::DS,
                proof,
                Protected {
                    names: vec![qname.clone()],
                },
            ));
        }

        // qname does not exist: closest encloser, then wildcard or NXDOMAIN
        let mut ce = qname.base_name();
        while !self.exists.contains(&ce) && ce != self.apex && labels(&ce) > 0 {
            ce = ce.base_name();
        }
        let wild = ce.prepend_label("*").expect("wildcard");
        let next_closer = Self::next_closer(qname, &ce);
        if let Some(types) = self.data.get(&wild) {
            let synth = |set: &RRset| -> Vec<Record> {
                with_sigs(set)
                    .map(|mut r| {
                        r.name = qname.clone();
                        r
                    })
                    .collect()
            };
            if let Some(set) = types.get(&u16::from(qtype)) {
                return Lookup::Data {
                    records: synth(set),
                    proof: self.wildcard_answer_proof(qname, &ce),
                };
            }
            if let Some(set) = types.get(&u16::from(RecordType::CNAME))
                && let Some(target) = cname_target(set)
            {
                return Lookup::Cname {
                    records: synth(set),
                    proof: self.wildcard_answer_proof(qname, &ce),
                    target,
                };
            }
            let proof = self.wildcard_nodata_proof(qname, &ce);
            return Lookup::NoData(self.negative(
                qtype == RecordType::DS,
                proof,
                Protected {
                    names: vec![qname.clone(), next_closer, wild],
                },
            ));
        }
        let proof = self.nxdomain_proof(qname, &ce);
        Lookup::NxDomain(self.negative(
            false,
            proof,
            Protected {
                names: vec![qname.clone(), next_closer, wild, ce],
            },
        ))
    }
}

/// Whether the span (owner, next) of a denial record matches or covers `x`.
fn matches_or_covers<T: Ord + ?Sized>(owner: &T, next: &T, x: &T) -> bool {
    if x == owner {
        return true;
    }
    if owner < next {
        owner < x && x < next
    } else {
        // last record of the chain wraps around
        x > owner || x < next
    }
}

fn cname_target(set: &RRset) -> Option<Name> {
    match &set.records.first()?.data {
        RData::CNAME(c) => Some(c.0.to_lowercase()),
        _ => None,
    }
}

impl WorldData {
    /// The zone answering for `name`: the deepest zone containing it, except that DS at a
    /// zone apex comes from the parent. `None` when that zone (or one above it) is lame.
    fn zone_for(&self, name: &Name, qtype: RecordType) -> Option<usize> {
        let mut best = 0;
        for (i, z) in self.zones.iter().enumerate() {
            if z.apex.zone_of(name) && labels(&z.apex) >= labels(&self.zones[best].apex) {
                best = i;
            }
        }
        if qtype == RecordType::DS
            && self.zones[best].apex == *name
            && let Some(p) = self.zones[best].parent
        {
            best = p;
        }
        let mut i = Some(best);
        while let Some(j) = i {
            if self.zones[j].lame {
                return None;
            }
            i = self.zones[j].parent;
        }
        Some(best)
    }

    /// Resolves across the world, chasing CNAMEs.
    pub fn resolve(
        &self,
        qname: &Name,
        qtype: RecordType,
        servfail: &[(Name, RecordType)],
    ) -> Answer {
        let servfail_answer = Answer {
            rcode: ResponseCode::ServFail,
            ..Answer::default()
        };
        let mut out = Answer::default();
        let mut name = qname.to_lowercase();
        name.set_fqdn(true);
        for _ in 0..=MAX_CNAME_LINKS {
            if servfail.iter().any(|(n, t)| *n == name && *t == qtype) {
                return servfail_answer;
            }
            let Some(zi) = self.zone_for(&name, qtype) else {
                return servfail_answer;
            };
            match self.zones[zi].lookup(&name, qtype) {
                Lookup::Data { records, proof } => {
                    push_records(&mut out.answer, records);
                    push_records(&mut out.authority, proof);
                    return out;
                }
                Lookup::Cname {
                    records,
                    proof,
                    target,
                } => {
                    push_records(&mut out.answer, records);
                    push_records(&mut out.authority, proof);
                    name = target;
                }
                Lookup::NoData(auth) => {
                    push_records(&mut out.authority, auth);
                    return out;
                }
                Lookup::NxDomain(auth) => {
                    push_records(&mut out.authority, auth);
                    out.rcode = ResponseCode::NXDomain;
                    return out;
                }
                Lookup::ServFail => return servfail_answer,
            }
        }
        out
    }
}

fn is_dnssec_proof_type(t: RecordType) -> bool {
    matches!(t, RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3)
}

/// The reply to `qname`/`qtype` with DO=1, as [`respond`] would build it.
pub(crate) fn reply(world: &WorldData, qname: &Name, qtype: RecordType) -> Message {
    let mut resp = Message::response(0, OpCode::Query);
    resp.metadata.recursion_available = true;
    resp.metadata.checking_disabled = true;
    resp.queries = vec![Query::query(qname.clone(), qtype)];
    let ans = world.resolve(qname, qtype, &[]);
    resp.metadata.response_code = ans.rcode;
    resp.answers = ans.answer;
    resp.authorities = ans.authority;
    resp
}

/// Builds the wire response for a request, or `None` to stay silent (unparseable input,
/// responses).
pub(crate) fn respond(
    world: &WorldData,
    request: &[u8],
    udp: bool,
    strip_dnssec: bool,
    servfail: &[(Name, RecordType)],
    rewrite: Option<&Rewrite>,
) -> Option<Vec<u8>> {
    let req = Message::from_vec(request).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = false;
    resp.metadata.authentic_data = false;
    resp.queries = req.queries.clone();
    let dnssec_ok = req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    if req.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(OUR_PAYLOAD);
        e.set_dnssec_ok(dnssec_ok);
        resp.edns = Some(e);
    }
    if req.metadata.op_code != OpCode::Query {
        resp.metadata.response_code = ResponseCode::NotImp;
    } else if req.queries.len() != 1 {
        resp.metadata.response_code = ResponseCode::FormErr;
    } else if req.queries[0].query_class() != DNSClass::IN {
        resp.metadata.response_code = ResponseCode::Refused;
    } else {
        let q = &req.queries[0];
        let qtype = q.query_type();
        let mut ans = world.resolve(q.name(), qtype, servfail);
        if strip_dnssec {
            ans.answer
                .retain(|r| !is_dnssec_proof_type(r.record_type()));
            ans.authority
                .retain(|r| !is_dnssec_proof_type(r.record_type()));
        } else if !dnssec_ok {
            ans.answer
                .retain(|r| r.record_type() == qtype || !is_dnssec_proof_type(r.record_type()));
            ans.authority
                .retain(|r| !is_dnssec_proof_type(r.record_type()));
        }
        resp.metadata.response_code = ans.rcode;
        resp.answers = ans.answer;
        resp.authorities = ans.authority;
        if let Some(rw) = rewrite {
            rw.apply(q.name(), qtype, &mut resp);
        }
    }
    let bytes = resp.to_vec().ok()?;
    if udp {
        let limit = req
            .edns
            .as_ref()
            .map(|e| e.max_payload().max(512))
            .unwrap_or(512) as usize;
        if bytes.len() > limit {
            return resp.truncate().to_vec().ok();
        }
    }
    Some(bytes)
}
