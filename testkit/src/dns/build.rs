//! Building and signing the zones of a world.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::rdata::{
    DNSKEY, DNSSECRData, DS, NSEC, NSEC3, NSEC3PARAM, RRSIG, SigInput,
};
use hickory_proto::dnssec::{DigestType, Nsec3HashAlgorithm, PublicKey, PublicKeyBuf, TBS};
use hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use hickory_proto::serialize::txt::Parser;

use super::keys::{Key, KeyFactory, colliding_keys};
use super::{Denial, DsMode, Fault, ZoneSpec};

const DAY: i64 = 86_400;
/// Address of every generated `ns1.<zone>`.
pub(crate) const NS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 53);
const DELEGATION_TTL: u32 = 3600;

/// An RRset with its signatures.
#[derive(Clone, Debug, Default)]
pub(crate) struct RRset {
    pub records: Vec<Record>,
    pub sigs: Vec<Record>,
}

/// The NSEC3 chain of a zone, keyed by raw hash.
pub(crate) struct Nsec3Chain {
    pub salt: Vec<u8>,
    pub iterations: u16,
    pub chain: BTreeMap<Vec<u8>, RRset>,
}

impl Nsec3Chain {
    pub fn hash(&self, name: &Name) -> Vec<u8> {
        nsec3_hash(name, &self.salt, self.iterations)
    }
}

fn nsec3_hash(name: &Name, salt: &[u8], iterations: u16) -> Vec<u8> {
    Nsec3HashAlgorithm::SHA1
        .hash(salt, &name.to_lowercase(), iterations)
        .expect("nsec3 hash")
        .as_ref()
        .to_vec()
}

/// One built zone, ready to answer from.
pub(crate) struct Zone {
    pub apex: Name,
    pub parent: Option<usize>,
    pub signed: bool,
    pub lame: bool,
    pub bad_denial: bool,
    /// Every RRset of the zone (authoritative data, delegation NS/DS, glue, DNSKEY, NSEC).
    pub data: BTreeMap<Name, BTreeMap<u16, RRset>>,
    /// Delegation points (owners of NS other than the apex).
    pub cuts: BTreeSet<Name>,
    /// Names that exist in the zone (authoritative owners, delegation points, empty
    /// non-terminals); glue below cuts is not included.
    pub exists: BTreeSet<Name>,
    pub nsec: BTreeMap<Name, RRset>,
    pub nsec3: Option<Nsec3Chain>,
    /// (tag, algorithm, SHA-256 digest) of the KSK (signed zones).
    pub anchor_ds: Option<(u16, u8, Vec<u8>)>,
    /// (flags, algorithm, public key) of the KSK (signed zones).
    pub anchor_dnskey: Option<(u16, u8, Vec<u8>)>,
    /// (flags, algorithm, public key) of the standby KSK, if the zone has one.
    pub standby_dnskey: Option<(u16, u8, Vec<u8>)>,
}

impl Zone {
    pub fn rrset(&self, name: &Name, rtype: RecordType) -> Option<&RRset> {
        self.data.get(name)?.get(&u16::from(rtype))
    }
}

/// All zones, parents before children (index 0 is the root).
pub(crate) struct WorldData {
    pub zones: Vec<Zone>,
}

type Rrsets = BTreeMap<Name, BTreeMap<u16, Vec<Record>>>;

/// Keys of one signed zone.
struct KeySet {
    keys: Vec<Key>,
    /// Indices of keys that sign the DNSKEY RRset.
    dnskey_signers: Vec<usize>,
    /// Indices of keys that sign everything else.
    zone_signers: Vec<usize>,
    /// Index of the key the parent's DS points at.
    ds_key: usize,
    /// Published, never signing.
    extra: Vec<Key>,
    /// Signs for `Fault::WrongSigner` (not published).
    stray: Key,
    /// The trust-anchor form of the first KSK (flags 257) when it is published revoked.
    anchor_form: Option<DNSKEY>,
    /// Index of the standby KSK, if any.
    standby: Option<usize>,
}

impl KeySet {
    fn new(kf: &mut KeyFactory, spec: &ZoneSpec) -> Self {
        if let Some(n) = spec.colliding {
            let keys = colliding_keys(spec.alg, n);
            let all: Vec<usize> = (0..keys.len()).collect();
            let stray = kf.key(super::Alg::Unsupported(spec.alg.number()), 256, &[]);
            return KeySet {
                keys,
                dnskey_signers: all.clone(),
                zone_signers: all,
                ds_key: 0,
                extra: Vec::new(),
                stray,
                anchor_form: None,
                standby: None,
            };
        }
        let ksk = kf.key(spec.alg, 257, &[]);
        let used: Vec<usize> = ksk.rsa_fixture.into_iter().collect();
        let zsk = kf.key(spec.alg, 256, &used);
        let mut used: Vec<usize> = [ksk.rsa_fixture, zsk.rsa_fixture]
            .into_iter()
            .flatten()
            .collect();
        let mut extra = Vec::new();
        for _ in 0..spec.extra_keys {
            let k = kf.key(spec.alg, 256, &used);
            used.extend(k.rsa_fixture);
            extra.push(k);
        }
        let stray = kf.key(spec.alg, 256, &used);
        used.extend(stray.rsa_fixture);
        let mut keys = vec![ksk, zsk];
        let mut dnskey_signers = vec![0];
        let mut ds_key = 0;
        let mut standby = None;
        let mut anchor_form = None;
        if spec.standby_ksk {
            keys.push(kf.key(spec.alg, 257, &used));
            dnskey_signers.push(2);
            standby = Some(2);
        }
        if spec.revoked_ksk {
            // RFC 5011 §2.1: the REVOKE bit (0x0080) changes the key tag; the key still
            // self-signs the DNSKEY RRset.
            let first = &mut keys[0];
            anchor_form = Some(first.dnskey.clone());
            first.dnskey = DNSKEY::with_flags(
                first.dnskey.flags() | 0x0080,
                first.dnskey.public_key().clone(),
            );
            first.tag = first.dnskey.calculate_key_tag().expect("key tag");
            ds_key = 2;
        }
        KeySet {
            keys,
            dnskey_signers,
            zone_signers: vec![1],
            ds_key,
            extra,
            stray,
            anchor_form,
            standby,
        }
    }

    fn published(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().chain(self.extra.iter())
    }

    fn ds(&self, apex: &Name, mode: DsMode) -> Vec<DS> {
        let key = &self.keys[self.ds_key];
        let digest = |t: DigestType, flip: bool| {
            let mut d = key
                .dnskey
                .to_digest(apex, t)
                .expect("digest")
                .as_ref()
                .to_vec();
            if flip {
                d.iter_mut().for_each(|b| *b ^= 0x5a);
            }
            DS::new(key.tag, key.alg, t, d)
        };
        match mode {
            DsMode::None => Vec::new(),
            DsMode::Mismatch => vec![digest(DigestType::SHA256, true)],
            DsMode::Normal => vec![digest(DigestType::SHA256, false)],
            DsMode::Sha1 => vec![digest(DigestType::SHA1, false)],
            DsMode::Sha1AndBadSha256 => vec![
                digest(DigestType::SHA1, false),
                digest(DigestType::SHA256, true),
            ],
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn abs_owner(owner: &str, apex: &Name) -> Name {
    let n = if owner == "@" {
        apex.clone()
    } else if owner.ends_with('.') {
        Name::from_ascii(owner).unwrap_or_else(|e| panic!("bad owner {owner:?}: {e}"))
    } else {
        Name::parse(owner, Some(apex)).unwrap_or_else(|e| panic!("bad owner {owner:?}: {e}"))
    };
    let mut n = n.to_lowercase();
    n.set_fqdn(true);
    n
}

fn parse_zone(spec: &ZoneSpec) -> Rrsets {
    let mut out: Rrsets = BTreeMap::new();
    for text in &spec.records {
        let full = format!("$ORIGIN {}\n$TTL 300\n{}\n", spec.apex, text);
        let (_, sets) = Parser::new(full, None, Some(spec.apex.clone()))
            .parse()
            .unwrap_or_else(|e| panic!("zone {}: cannot parse records: {e}\n{text}", spec.apex));
        for (_, set) in sets {
            for r in set.records_without_rrsigs() {
                let mut r = r.clone();
                r.name = r.name.to_lowercase();
                assert!(
                    spec.apex.zone_of(&r.name),
                    "zone {}: record {} is outside the zone",
                    spec.apex,
                    r.name
                );
                let v = out
                    .entry(r.name.clone())
                    .or_default()
                    .entry(u16::from(r.record_type()))
                    .or_default();
                if !v.contains(&r) {
                    // one TTL per RRset
                    if let Some(first) = v.first() {
                        r.ttl = first.ttl;
                    }
                    v.push(r);
                }
            }
        }
    }
    out
}

fn add(sets: &mut Rrsets, r: Record) {
    let v = sets
        .entry(r.name.clone())
        .or_default()
        .entry(u16::from(r.record_type()))
        .or_default();
    if !v.contains(&r) {
        v.push(r);
    }
}

fn has(sets: &Rrsets, name: &Name, t: RecordType) -> bool {
    sets.get(name)
        .is_some_and(|m| m.contains_key(&u16::from(t)))
}

fn ns_name(apex: &Name) -> Name {
    apex.prepend_label("ns1").expect("ns name")
}

fn add_apex_defaults(sets: &mut Rrsets, apex: &Name) {
    if !has(sets, apex, RecordType::SOA) {
        let rname = apex.prepend_label("hostmaster").expect("rname");
        let soa = SOA::new(ns_name(apex), rname, 1, 7200, 3600, 1_209_600, 300);
        add(
            sets,
            Record::from_rdata(apex.clone(), 3600, RData::SOA(soa)),
        );
    }
    if !has(sets, apex, RecordType::NS) {
        let ns = ns_name(apex);
        add(
            sets,
            Record::from_rdata(apex.clone(), DELEGATION_TTL, RData::NS(NS(ns.clone()))),
        );
        if !has(sets, &ns, RecordType::A) {
            add(
                sets,
                Record::from_rdata(ns, DELEGATION_TTL, RData::A(A(NS_ADDR))),
            );
        }
    }
}

pub(crate) fn build(specs: Vec<ZoneSpec>) -> WorldData {
    // `specs` comes from a BTreeMap keyed by apex: canonical order, parents first.
    let now = unix_now();
    let n = specs.len();
    let parents: Vec<Option<usize>> = (0..n)
        .map(|i| {
            if specs[i].apex.is_root() {
                return None;
            }
            (0..n)
                .filter(|&j| j != i && specs[j].apex.zone_of(&specs[i].apex))
                .max_by_key(|&j| specs[j].apex.num_labels())
        })
        .collect();

    let mut data: Vec<Rrsets> = specs.iter().map(parse_zone).collect();
    for (sets, spec) in data.iter_mut().zip(&specs) {
        add_apex_defaults(sets, &spec.apex);
    }

    let mut kf = KeyFactory::new();
    let keysets: Vec<Option<KeySet>> = specs
        .iter()
        .map(|s| s.signed.then(|| KeySet::new(&mut kf, s)))
        .collect();

    // Delegations: NS + glue + DS in the parent.
    for c in 0..n {
        let Some(p) = parents[c] else { continue };
        let capex = specs[c].apex.clone();
        data[p].retain(|name, _| !capex.zone_of(name));
        let ns = ns_name(&capex);
        add(
            &mut data[p],
            Record::from_rdata(capex.clone(), DELEGATION_TTL, RData::NS(NS(ns.clone()))),
        );
        add(
            &mut data[p],
            Record::from_rdata(ns, DELEGATION_TTL, RData::A(A(NS_ADDR))),
        );
        for ds in keysets[c]
            .as_ref()
            .map(|ks| ks.ds(&capex, specs[c].ds_mode))
            .unwrap_or_default()
        {
            add(
                &mut data[p],
                Record::from_rdata(
                    capex.clone(),
                    DELEGATION_TTL,
                    RData::DNSSEC(DNSSECRData::DS(ds)),
                ),
            );
        }
    }

    // Faults, keyed by absolute owner and type (a DS fault at a child apex lands in the
    // parent, which is where the DS RRset is signed).
    let mut faults: HashMap<(Name, u16), Fault> = HashMap::new();
    for s in &specs {
        for (owner, t, f) in &s.faults {
            faults.insert((abs_owner(owner, &s.apex), u16::from(*t)), *f);
        }
    }

    let mut zones = Vec::with_capacity(n);
    for (i, sets) in data.into_iter().enumerate() {
        zones.push(sign_zone(
            &specs[i],
            parents[i],
            sets,
            keysets[i].as_ref(),
            &faults,
            now,
        ));
    }
    WorldData { zones }
}

struct Signer<'a> {
    apex: &'a Name,
    keys: &'a KeySet,
    faults: &'a HashMap<(Name, u16), Fault>,
    now: i64,
}

impl Signer<'_> {
    fn rrsig(&self, records: &[Record], key: &Key, inception: i64, expiration: i64) -> Record {
        let first = &records[0];
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: key.alg,
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(expiration as u32),
            sig_inception: SerialNumber::new(inception as u32),
            key_tag: key.tag,
            signer_name: self.apex.clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, records.iter())
            .expect("to-be-signed data");
        let sig = key.sign(&tbs);
        Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    fn sign(&self, mut records: Vec<Record>) -> RRset {
        records.sort();
        let first = &records[0];
        let rtype = first.record_type();
        let fault = self
            .faults
            .get(&(first.name.clone(), u16::from(rtype)))
            .copied();
        let signers = if rtype == RecordType::DNSKEY {
            &self.keys.dnskey_signers
        } else {
            &self.keys.zone_signers
        };
        let (inception, expiration) = match fault {
            Some(Fault::ExpiredSignature) => (self.now - 40 * DAY, self.now - 10 * DAY),
            Some(Fault::NotYetValid) => (self.now + 10 * DAY, self.now + 40 * DAY),
            Some(Fault::Validity(inception, expiration)) => {
                (self.now + inception, self.now + expiration)
            }
            _ => (self.now - 3600, self.now + 30 * DAY),
        };
        let sigs = match fault {
            Some(Fault::MissingSignature) => Vec::new(),
            Some(Fault::WrongSigner) => {
                vec![self.rrsig(&records, &self.keys.stray, inception, expiration)]
            }
            _ => signers
                .iter()
                .map(|&k| self.rrsig(&records, &self.keys.keys[k], inception, expiration))
                .collect(),
        };
        let mut set = RRset { records, sigs };
        if fault == Some(Fault::TamperedRdata) && !tamper(&mut set.records[0]) {
            // no RDATA tampering for this type: corrupt the signatures instead
            for s in &mut set.sigs {
                if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &s.data {
                    let mut bytes = sig.sig().to_vec();
                    if let Some(b) = bytes.last_mut() {
                        *b ^= 0xff;
                    }
                    s.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                        sig.input().clone(),
                        bytes,
                    )));
                }
            }
        }
        set
    }
}

/// Changes a record's RDATA in place; false if the type is not handled.
fn tamper(r: &mut Record) -> bool {
    let tampered = |n: &Name| n.prepend_label("tampered").expect("name");
    match &mut r.data {
        RData::A(a) => a.0 = Ipv4Addr::from(u32::from(a.0) ^ 1),
        RData::AAAA(a) => a.0 = Ipv6Addr::from(u128::from(a.0) ^ 1),
        RData::MX(mx) => mx.exchange = tampered(&mx.exchange),
        RData::CNAME(c) => c.0 = tampered(&c.0),
        RData::NS(ns) => ns.0 = tampered(&ns.0),
        RData::PTR(p) => p.0 = tampered(&p.0),
        RData::SOA(soa) => soa.serial = soa.serial.wrapping_add(1),
        RData::TXT(t) => {
            let mut strings: Vec<String> = t
                .txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            match strings.last_mut() {
                Some(s) => s.push('!'),
                None => strings.push("!".into()),
            }
            *t = TXT::new(strings);
        }
        RData::TLSA(t) => match t.cert_data.first_mut() {
            Some(b) => *b ^= 0xff,
            None => t.cert_data.push(0),
        },
        RData::DNSSEC(DNSSECRData::DS(ds)) => {
            let mut digest = ds.digest().to_vec();
            if let Some(b) = digest.first_mut() {
                *b ^= 0xff;
            }
            *ds = DS::new(ds.key_tag(), ds.algorithm(), ds.digest_type(), digest);
        }
        RData::DNSSEC(DNSSECRData::DNSKEY(k)) => {
            let mut key = k.public_key().public_bytes().to_vec();
            if let Some(b) = key.last_mut() {
                *b ^= 0xff;
            }
            let alg = k.public_key().algorithm();
            *k = hickory_proto::dnssec::rdata::DNSKEY::with_flags(
                k.flags(),
                PublicKeyBuf::new(key, alg),
            );
        }
        _ => return false,
    }
    true
}

fn sign_zone(
    spec: &ZoneSpec,
    parent: Option<usize>,
    mut sets: Rrsets,
    keys: Option<&KeySet>,
    faults: &HashMap<(Name, u16), Fault>,
    now: i64,
) -> Zone {
    let apex = spec.apex.clone();
    let ns_t = u16::from(RecordType::NS);
    let cuts: BTreeSet<Name> = sets
        .iter()
        .filter(|(name, types)| **name != apex && types.contains_key(&ns_t))
        .map(|(name, _)| name.clone())
        .collect();
    let below_cut = |name: &Name| cuts.iter().any(|c| c != name && c.zone_of(name));

    let soa_min = sets
        .get(&apex)
        .and_then(|m| m.get(&u16::from(RecordType::SOA)))
        .and_then(|v| v.first())
        .map(|r| match &r.data {
            RData::SOA(soa) => soa.minimum.min(r.ttl),
            _ => 300,
        })
        .unwrap_or(300);

    let mut anchor_ds = None;
    let mut anchor_dnskey = None;
    let mut standby_dnskey = None;
    if let Some(ks) = keys {
        let dnskeys: Vec<Record> = ks
            .published()
            .map(|k| {
                Record::from_rdata(
                    apex.clone(),
                    3600,
                    RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone())),
                )
            })
            .collect();
        sets.entry(apex.clone())
            .or_default()
            .insert(u16::from(RecordType::DNSKEY), dnskeys);
        if let Denial::Nsec3 {
            iterations,
            salt,
            opt_out,
        } = &spec.denial
        {
            // RFC 5155 §4.1.2: the flags field (opt-out) of NSEC3PARAM is zero in zone data.
            let _ = opt_out;
            let p = NSEC3PARAM::new(Nsec3HashAlgorithm::SHA1, false, *iterations, salt.clone());
            sets.entry(apex.clone()).or_default().insert(
                u16::from(RecordType::NSEC3PARAM),
                vec![Record::from_rdata(
                    apex.clone(),
                    0,
                    RData::DNSSEC(DNSSECRData::NSEC3PARAM(p)),
                )],
            );
        }
        // The first KSK as a resolver would have it configured (before any revocation).
        let ksk = &ks.keys[0];
        let form = ks.anchor_form.as_ref().unwrap_or(&ksk.dnskey);
        let tag = form.calculate_key_tag().expect("key tag");
        let digest = form.to_digest(&apex, DigestType::SHA256).expect("digest");
        anchor_ds = Some((tag, u8::from(ksk.alg), digest.as_ref().to_vec()));
        anchor_dnskey = Some((
            form.flags(),
            u8::from(ksk.alg),
            form.public_key().public_bytes().to_vec(),
        ));
        standby_dnskey = ks.standby.map(|i| {
            let k = &ks.keys[i].dnskey;
            (
                k.flags(),
                u8::from(ks.keys[i].alg),
                k.public_key().public_bytes().to_vec(),
            )
        });
    }

    // Existing names: owners not below a cut, plus empty non-terminals.
    let owners: Vec<Name> = sets.keys().filter(|n| !below_cut(n)).cloned().collect();
    let mut exists: BTreeSet<Name> = owners.iter().cloned().collect();
    for o in &owners {
        if *o == apex {
            continue;
        }
        let mut p = o.base_name();
        while p != apex && apex.zone_of(&p) {
            exists.insert(p.clone());
            p = p.base_name();
        }
    }

    // Sign (or copy) every RRset.
    let mut data: BTreeMap<Name, BTreeMap<u16, RRset>> = BTreeMap::new();
    let signer = keys.map(|ks| Signer {
        apex: &apex,
        keys: ks,
        faults,
        now,
    });
    for (name, types) in sets {
        let glue = below_cut(&name);
        let cut = cuts.contains(&name);
        for (t, records) in types {
            let set = match &signer {
                Some(s) if !glue && (!cut || t == u16::from(RecordType::DS)) => s.sign(records),
                _ => RRset {
                    records,
                    sigs: Vec::new(),
                },
            };
            data.entry(name.clone()).or_default().insert(t, set);
        }
    }

    let mut nsec = BTreeMap::new();
    let mut nsec3 = None;
    if let Some(s) = &signer {
        let rrsig_t = u16::from(RecordType::RRSIG);
        match &spec.denial {
            Denial::Nsec => {
                for (i, name) in owners.iter().enumerate() {
                    let next = owners[(i + 1) % owners.len()].clone();
                    let mut types: Vec<RecordType> =
                        data[name].keys().map(|t| RecordType::from(*t)).collect();
                    types.push(RecordType::NSEC);
                    types.push(RecordType::RRSIG);
                    let rec = Record::from_rdata(
                        name.clone(),
                        soa_min,
                        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))),
                    );
                    let set = s.sign(vec![rec]);
                    nsec.insert(name.clone(), set.clone());
                    data.get_mut(name)
                        .expect("owner")
                        .insert(u16::from(RecordType::NSEC), set);
                }
            }
            Denial::Nsec3 {
                iterations,
                salt,
                opt_out,
            } => {
                let ds_t = u16::from(RecordType::DS);
                let mut hashed: BTreeMap<Vec<u8>, Name> = BTreeMap::new();
                for name in &exists {
                    let insecure_cut = cuts.contains(name)
                        && !data.get(name).is_some_and(|m| m.contains_key(&ds_t));
                    if *opt_out && insecure_cut {
                        continue;
                    }
                    hashed.insert(nsec3_hash(name, salt, *iterations), name.clone());
                }
                let hashes: Vec<Vec<u8>> = hashed.keys().cloned().collect();
                let mut chain = BTreeMap::new();
                for (i, h) in hashes.iter().enumerate() {
                    let name = &hashed[h];
                    let next = hashes[(i + 1) % hashes.len()].clone();
                    let mut types: Vec<RecordType> = Vec::new();
                    let mut any_sig = false;
                    if let Some(m) = data.get(name) {
                        for (t, set) in m {
                            if *t != rrsig_t {
                                types.push(RecordType::from(*t));
                            }
                            any_sig |= !set.sigs.is_empty();
                        }
                    }
                    if any_sig {
                        types.push(RecordType::RRSIG);
                    }
                    let owner = apex
                        .prepend_label(data_encoding::BASE32_DNSSEC.encode(h))
                        .expect("nsec3 owner");
                    let rec = Record::from_rdata(
                        owner,
                        soa_min,
                        RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
                            Nsec3HashAlgorithm::SHA1,
                            *opt_out,
                            *iterations,
                            salt.clone(),
                            next,
                            types,
                        ))),
                    );
                    chain.insert(h.clone(), s.sign(vec![rec]));
                }
                nsec3 = Some(Nsec3Chain {
                    salt: salt.clone(),
                    iterations: *iterations,
                    chain,
                });
            }
        }
    }

    Zone {
        apex,
        parent,
        signed: keys.is_some(),
        lame: spec.lame,
        bad_denial: spec.bad_denial,
        data,
        cuts,
        exists,
        nsec,
        nsec3,
        anchor_ds,
        anchor_dnskey,
        standby_dnskey,
    }
}
