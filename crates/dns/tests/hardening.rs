//! Correctness hardening of the validator, proven against the signed test world (real
//! signatures; forged replies are built from real signed data by a rewriting server):
//! NSEC3 iteration caps on delegations (RFC 9276 §3.2), the NSEC next-closer proof for
//! wildcard answers (RFC 4035 §5.3.4), TTL caps (RFC 4035 §5.3.3), clock skew on
//! signature times, SHA-1 DS next to SHA-256 (RFC 4509 §3) and the choice of signer for
//! wildcard answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::{str::FromStr, sync::OnceLock};

use danegate_dns::{AnswerKind, BogusReason, Name, RecordType, Resolver, ResolverConfig, Security};
use danegate_testkit::dns::{
    Denial, DnsServer, DsMode, Fault, Rewrite, ServerOptions, SignedWorld, World,
};
use hickory_proto::{
    dnssec::rdata::{DNSSECRData, RRSIG},
    op::{Message, ResponseCode},
    rr::{RData, Record},
};

const DAY: i64 = 86_400;

fn build_world() -> SignedWorld {
    let mut w = World::new();
    w.zone("test.");
    // RFC 9276 §3.2: above 150 iterations the NSEC3 proof counts as insecure.
    w.zone("iter.test.")
        .denial(Denial::Nsec3 {
            iterations: 200,
            salt: vec![7, 7],
            opt_out: false,
        })
        .records("www 300 IN A 192.0.2.10\n");
    w.zone("hosts.iter.test.")
        .unsigned()
        .records("smtp 300 IN A 192.0.2.11\n");
    // NSEC zone with a wildcard and an existing name b.w.test.
    w.zone("w.test.")
        .records("* 300 IN A 192.0.2.20\nb 300 IN TXT \"b\"\n");
    w.zone("ttl.test.")
        .records("www 300 IN A 192.0.2.30\nsoon 300 IN A 192.0.2.31\n")
        .fault("soon", RecordType::A, Fault::Validity(-3600, 120));
    w.zone("skew.test.")
        .records("early 300 IN A 192.0.2.40\nlate 300 IN A 192.0.2.41\n")
        .fault("early", RecordType::A, Fault::Validity(600, 30 * DAY))
        .fault("late", RecordType::A, Fault::Validity(-30 * DAY, -600));
    w.zone("sha1.test.")
        .ds(DsMode::Sha1)
        .records("www 300 IN A 192.0.2.50\n");
    w.zone("downgrade.test.")
        .ds(DsMode::Sha1AndBadSha256)
        .records("www 300 IN A 192.0.2.51\n");
    w.build()
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn rename(records: &[Record], to: &Name) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.name = to.clone();
            r
        })
        .collect()
}

/// The forgeries served in place of the world's replies.
fn forge(world: &SignedWorld) -> Rewrite {
    // a.b.w.test. A: the wildcard expansion of *.w.test. replayed for a name below the
    // existing b.w.test., with the NSEC records of the real NXDOMAIN (b.w.test. -> next
    // covers a.b.w.test., but not the next closer name b.w.test.).
    let expansion = world.reply("x.w.test.", RecordType::A);
    let nx = world.reply("a.b.w.test.", RecordType::A);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    let forged_wild = (expansion.answers.clone(), nx.authorities.clone());
    // junk.w.test. A: a real wildcard answer with a junk RRSIG (signer test., random
    // signature) in front of the valid one.
    let junk_target = n("junk.w.test.");
    let junk = world.reply("junk.w.test.", RecordType::A);
    // www.ttl.test. A: the TTLs raised to a week (TTLs are not signed).
    Rewrite::new(move |qname: &Name, rtype, msg: &mut Message| {
        let q = qname.to_lowercase();
        if q == n("a.b.w.test.") && rtype == RecordType::A {
            msg.metadata.response_code = ResponseCode::NoError;
            msg.answers = rename(&forged_wild.0, &q);
            msg.authorities = forged_wild.1.clone();
        } else if q == junk_target && rtype == RecordType::A {
            let mut answers = junk.answers.clone();
            let valid = answers
                .iter()
                .find_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some((r.clone(), s.clone())),
                    _ => None,
                })
                .expect("signed wildcard answer");
            let mut input = valid.1.input().clone();
            input.signer_name = n("test.");
            input.key_tag = input.key_tag.wrapping_add(1);
            let mut bogus = valid.0.clone();
            bogus.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                input,
                vec![0x42; valid.1.sig().len()],
            )));
            answers.insert(0, bogus);
            msg.answers = answers;
            msg.authorities = junk.authorities.clone();
        } else if q == n("www.ttl.test.") && rtype == RecordType::A {
            for r in &mut msg.answers {
                r.ttl = 7 * 86_400;
            }
        }
    })
}

struct Fixture {
    world: SignedWorld,
    server: DnsServer,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let world = build_world();
        let server = world.serve(ServerOptions {
            rewrite: Some(forge(&world)),
            ..Default::default()
        });
        Fixture { world, server }
    })
}

fn config() -> ResolverConfig {
    let f = fixture();
    common::world_config(&f.world, f.server.addr())
}

async fn look_with(c: ResolverConfig, name: &str, t: RecordType) -> danegate_dns::Answer {
    Resolver::new(c)
        .lookup(&n(name), t)
        .await
        .unwrap_or_else(|e| panic!("{name} {t}: {e}"))
}

async fn look(name: &str, t: RecordType) -> danegate_dns::Answer {
    look_with(config(), name, t).await
}

#[tokio::test]
async fn unsigned_child_of_a_high_iteration_nsec3_zone_is_insecure() {
    let a = look("smtp.hosts.iter.test.", RecordType::A).await;
    assert_eq!(
        (a.kind, a.security.clone()),
        (AnswerKind::Data, Security::Insecure),
        "{a:?}"
    );
    assert_eq!(a.records.len(), 1);
    // Signed data of the zone itself stays secure: only its denials are insecure.
    let a = look("www.iter.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure, "{a:?}");
}

#[tokio::test]
async fn nsec_wildcard_replayed_below_an_existing_name_is_bogus() {
    let a = look("a.b.w.test.", RecordType::A).await;
    match &a.security {
        Security::Bogus(BogusReason::BadDenial(why)) => {
            assert!(why.contains("b.w.test."), "{why}")
        }
        other => panic!("expected BOGUS (bad denial), got {other:?}"),
    }
    // Genuine expansions stay secure, one label and two labels below the wildcard.
    for name in ["x.w.test.", "p.q.w.test."] {
        let a = look(name, RecordType::A).await;
        assert_eq!(a.security, Security::Secure, "{name}: {a:?}");
        assert_eq!(a.records[0].name, n(name));
    }
}

#[tokio::test]
async fn junk_first_rrsig_does_not_spoil_a_wildcard_answer() {
    let a = look("junk.w.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure, "{a:?}");
}

#[tokio::test]
async fn ttl_is_capped_by_the_original_ttl() {
    let a = look("www.ttl.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure, "{a:?}");
    assert!(a.ttl <= 300, "ttl {}", a.ttl);
    assert!(a.records.iter().all(|r| r.ttl <= 300), "{:?}", a.records);
}

#[tokio::test]
async fn ttl_is_capped_by_the_signature_expiration() {
    let a = look("soon.ttl.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure, "{a:?}");
    assert!(a.ttl <= 120, "ttl {}", a.ttl);
    assert!(a.records.iter().all(|r| r.ttl <= 120), "{:?}", a.records);
}

#[tokio::test]
async fn small_clock_skew_is_allowed_and_configurable() {
    // Default skew (10% of the validity period, 1 hour to 1 day): valid.
    for name in ["early.skew.test.", "late.skew.test."] {
        let a = look(name, RecordType::A).await;
        assert_eq!(a.security, Security::Secure, "{name}: {a:?}");
    }
    // No skew: exact times.
    let mut strict = config();
    strict.sig_skew_min = 0;
    strict.sig_skew_max = 0;
    let a = look_with(strict.clone(), "early.skew.test.", RecordType::A).await;
    assert!(
        matches!(
            a.security,
            Security::Bogus(BogusReason::SignatureNotYetValid(_))
        ),
        "{a:?}"
    );
    let a = look_with(strict, "late.skew.test.", RecordType::A).await;
    assert!(
        matches!(
            a.security,
            Security::Bogus(BogusReason::SignatureExpired(_))
        ),
        "{a:?}"
    );
}

#[tokio::test]
async fn sha1_ds_is_ignored_next_to_sha256() {
    // SHA-1 alone still makes a chain of trust.
    let a = look("www.sha1.test.", RecordType::A).await;
    assert_eq!(a.security, Security::Secure, "{a:?}");
    // A matching SHA-1 DS cannot stand in for a SHA-256 DS of the same key that does not
    // match (RFC 4509 §3).
    let a = look("www.downgrade.test.", RecordType::A).await;
    assert!(
        matches!(a.security, Security::Bogus(BogusReason::DsMismatch(_))),
        "{a:?}"
    );
}
