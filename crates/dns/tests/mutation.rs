//! Property: a validated answer in which any single byte of a signature, a key or a
//! denial record was changed is never SECURE (RFC 4035 §5). Each case takes a real reply
//! of the signed test world, changes one byte of one record's RDATA on its way to the
//! resolver, and looks the name up with a fresh resolver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::{
    str::FromStr,
    sync::{Arc, Mutex, OnceLock},
};

use danegate_dns::{Name, RecordType, Resolver};
use danegate_testkit::dns::{Denial, DnsServer, Rewrite, ServerOptions, SignedWorld, World};
use hickory_proto::{
    dnssec::rdata::DNSSECRData,
    op::Message,
    rr::{RData, Record},
    serialize::binary::{BinDecoder, BinEncodable, Restrict},
};
use proptest::prelude::*;

/// Which records of which reply a case mutates.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// RRSIGs covering this type.
    SigOver(RecordType),
    /// Records of this type (DNSKEY, DS, NSEC, NSEC3).
    Data(RecordType),
}

#[derive(Clone, Debug)]
struct Mutation {
    /// The reply to mutate: query name and type.
    reply: (Name, RecordType),
    target: Target,
    /// Which of the eligible records, which byte of its RDATA, XOR with what.
    index: usize,
    byte: usize,
    xor: u8,
}

/// (lookup name, lookup type, reply to mutate, target) for each scenario.
fn scenarios() -> Vec<(&'static str, RecordType, &'static str, RecordType, Target)> {
    use RecordType::*;
    vec![
        // A signed answer: its RRSIG, the zone's keys, their RRSIG, the DS, the parents' keys.
        ("www.m.test.", A, "www.m.test.", A, Target::SigOver(A)),
        ("www.m.test.", A, "m.test.", DNSKEY, Target::Data(DNSKEY)),
        ("www.m.test.", A, "m.test.", DNSKEY, Target::SigOver(DNSKEY)),
        ("www.m.test.", A, "m.test.", DS, Target::Data(DS)),
        ("www.m.test.", A, "m.test.", DS, Target::SigOver(DS)),
        ("www.m.test.", A, "test.", DNSKEY, Target::Data(DNSKEY)),
        ("www.m.test.", A, ".", DNSKEY, Target::Data(DNSKEY)),
        ("www.m3.test.", A, "www.m3.test.", A, Target::SigOver(A)),
        // Denials: NSEC and NSEC3 records and their RRSIGs (NXDOMAIN and NODATA).
        ("nx.m.test.", A, "nx.m.test.", A, Target::Data(NSEC)),
        ("nx.m.test.", A, "nx.m.test.", A, Target::SigOver(NSEC)),
        ("www.m.test.", TXT, "www.m.test.", TXT, Target::Data(NSEC)),
        (
            "www.m.test.",
            TXT,
            "www.m.test.",
            TXT,
            Target::SigOver(NSEC),
        ),
        ("nx.m3.test.", A, "nx.m3.test.", A, Target::Data(NSEC3)),
        ("nx.m3.test.", A, "nx.m3.test.", A, Target::SigOver(NSEC3)),
        (
            "www.m3.test.",
            TXT,
            "www.m3.test.",
            TXT,
            Target::Data(NSEC3),
        ),
        (
            "www.m3.test.",
            TXT,
            "www.m3.test.",
            TXT,
            Target::SigOver(NSEC3),
        ),
    ]
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn eligible(r: &Record, target: Target) -> bool {
    match (target, &r.data) {
        (Target::SigOver(t), RData::DNSSEC(DNSSECRData::RRSIG(s))) => s.input().type_covered == t,
        (Target::Data(t), _) => r.record_type() == t,
        _ => false,
    }
}

/// Applies `m` to one record of `msg`. Returns false when the mutated RDATA no longer
/// parses or equals the original (names compare without case, RFC 4343): then the
/// record is left out / unchanged and the case proves nothing.
fn apply(m: &Mutation, msg: &mut Message) -> bool {
    let mut all: Vec<&mut Record> = msg
        .answers
        .iter_mut()
        .chain(msg.authorities.iter_mut())
        .filter(|r| eligible(r, m.target))
        .collect();
    if all.is_empty() {
        return false;
    }
    let count = all.len();
    let rec = &mut all[m.index % count];
    let Ok(mut bytes) = rec.data.to_bytes() else {
        return false;
    };
    if bytes.is_empty() {
        return false;
    }
    let i = m.byte % bytes.len();
    bytes[i] ^= m.xor;
    let len = bytes.len() as u16;
    let mut dec = BinDecoder::new(&bytes);
    match RData::read(&mut dec, rec.record_type(), Restrict::new(len)) {
        Ok(data) if data != rec.data => {
            rec.data = data;
            true
        }
        _ => false,
    }
}

struct Fixture {
    world: SignedWorld,
    server: DnsServer,
    mutation: Arc<Mutex<Option<Mutation>>>,
    /// Whether the current case's mutation was applied to a reply.
    applied: Arc<Mutex<bool>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut w = World::new();
        w.zone("test.");
        w.zone("m.test.").records("www 300 IN A 192.0.2.1\n");
        w.zone("m3.test.")
            .denial(Denial::Nsec3 {
                iterations: 0,
                salt: vec![],
                opt_out: false,
            })
            .records("www 300 IN A 192.0.2.2\n");
        let world = w.build();
        let mutation: Arc<Mutex<Option<Mutation>>> = Arc::new(Mutex::new(None));
        let applied = Arc::new(Mutex::new(false));
        let (m2, a2) = (mutation.clone(), applied.clone());
        let server = world.serve(ServerOptions {
            rewrite: Some(Rewrite::new(move |qname, qtype, msg| {
                let Some(m) = m2.lock().unwrap().clone() else {
                    return;
                };
                if m.reply.0 == *qname && m.reply.1 == qtype && apply(&m, msg) {
                    *a2.lock().unwrap() = true;
                }
            })),
            ..Default::default()
        });
        Fixture {
            world,
            server,
            mutation,
            applied,
        }
    })
}

/// The tests share the server's mutation slot: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fn resolver() -> Resolver {
    let f = fixture();
    Resolver::new(common::world_config(&f.world, f.server.addr()))
}

#[test]
fn unmutated_scenarios_are_secure() {
    // Without a mutation every scenario is SECURE: the property below is not vacuous.
    let _one = serial();
    let f = fixture();
    *f.mutation.lock().unwrap() = None;
    for (name, t, ..) in scenarios() {
        let a = runtime()
            .block_on(resolver().lookup(&n(name), t))
            .unwrap_or_else(|e| panic!("{name} {t}: {e}"));
        assert!(a.security.is_secure(), "{name} {t}: {:?}", a.security);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_mutated_byte_is_never_secure(
        scenario in 0..scenarios().len(),
        index in 0usize..8,
        byte in 0usize..4096,
        xor in 1u8..=255,
    ) {
        let _one = serial();
        let f = fixture();
        let (name, t, reply, rtype, target) = scenarios()[scenario];
        *f.applied.lock().unwrap() = false;
        *f.mutation.lock().unwrap() = Some(Mutation {
            reply: (n(reply), rtype),
            target,
            index,
            byte,
            xor,
        });
        let result = runtime().block_on(resolver().lookup(&n(name), t));
        let applied = *f.applied.lock().unwrap();
        *f.mutation.lock().unwrap() = None;
        prop_assume!(applied, "the mutation left the record unchanged");
        if let Ok(a) = result {
            prop_assert!(
                !a.security.is_secure(),
                "{name} {t} is SECURE with one byte of the {target:?} in the reply to \
                 {reply} {rtype} changed (byte {byte}, xor {xor:#04x}): {a:?}"
            );
        }
    }
}
