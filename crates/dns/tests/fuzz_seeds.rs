//! Writes the seed corpora of the fuzz targets in `fuzz/` from the signed test world:
//! real, validly signed DNS messages (with the chain of trust they need), the test
//! world's trust anchors and its TLSA records. Ignored by default; run with
//!
//! ```sh
//! cargo test -p danegate-dns --test fuzz_seeds -- --ignored
//! ```
//!
//! Output: `fuzz/corpus/<target>/<name>`. The `dns_message` inputs start with the
//! validation time (4 octets, big-endian seconds) and the trust anchor (2 octets of
//! length, then its zone-file text), then the DNS message — the layout the target reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use danegate_dns::{Name, RecordType, upstream::exchange};
use danegate_testkit::{
    dns::{Denial, ServerOptions, World},
    mailworld::{MX, MailWorld},
};
use hickory_proto::{
    op::Message,
    rr::{RData, Record},
};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(target: &str, name: &str, data: &[u8]) {
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::fs::write(corpus(target).join(format!("seed-{file}")), data).unwrap();
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

async fn ask(addr: std::net::SocketAddr, n: &Name, t: RecordType) -> Message {
    exchange(addr, n, t, Duration::from_secs(5)).await.unwrap()
}

/// The DNSKEY RRset of every zone from the root down to `qname`, and the DS RRset of
/// every zone cut on the way, with their signatures.
async fn chain(addr: std::net::SocketAddr, qname: &Name) -> Vec<Record> {
    let mut out = Vec::new();
    for n in 0..=qname.num_labels() {
        let z = qname.trim_to(n as usize);
        let keys = ask(addr, &z, RecordType::DNSKEY).await;
        let has_keys = keys
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::DNSKEY && r.name == z);
        if has_keys {
            if !z.is_root() {
                out.extend(ask(addr, &z, RecordType::DS).await.answers);
            }
            out.extend(keys.answers);
        }
    }
    out
}

fn framed(now: u32, anchor: &str, msg: &Message) -> Vec<u8> {
    let mut v = now.to_be_bytes().to_vec();
    v.extend_from_slice(&(anchor.len() as u16).to_be_bytes());
    v.extend_from_slice(anchor.as_bytes());
    v.extend_from_slice(&msg.to_vec().unwrap());
    v
}

async fn seed(addr: std::net::SocketAddr, anchor: &str, now: u32, q: &str, t: RecordType) {
    seed_as(addr, anchor, now, q, q, t).await
}

/// As [`seed`], the files named after `label` (the TLSA port is chosen at run time).
async fn seed_as(
    addr: std::net::SocketAddr,
    anchor: &str,
    now: u32,
    q: &str,
    label: &str,
    t: RecordType,
) {
    let qn = name(q);
    let mut msg = ask(addr, &qn, t).await;
    // The denial target gets the reply as is.
    write(
        "dns_denial",
        &format!("{label}-{t}"),
        &msg.to_vec().unwrap(),
    );
    msg.additionals.extend(chain(addr, &qn).await);
    write(
        "dns_message",
        &format!("{label}-{t}"),
        &framed(now, anchor, &msg),
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes the fuzz seed corpora; run by hand"]
async fn write_seed_corpora() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;

    // A world of denial kinds: NSEC, NSEC3, NSEC3 opt-out, wildcards, an insecure cut.
    let mut w = World::new();
    w.zone("test.");
    w.zone("nsec.test.")
        .records("@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.25\n*.wild 300 IN TXT \"w\"\n");
    w.zone("n3.test.")
        .denial(Denial::Nsec3 {
            iterations: 0,
            salt: vec![0xab, 0xcd],
            opt_out: false,
        })
        .records("@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.26\n*.wild 300 IN TXT \"w\"\n");
    w.zone("oo.test.")
        .denial(Denial::Nsec3 {
            iterations: 1,
            salt: Vec::new(),
            opt_out: true,
        })
        .records("mail 300 IN A 192.0.2.27\n");
    w.zone("plain.test.")
        .unsigned()
        .records("www 300 IN A 192.0.2.80\n");
    let world = w.build();
    let server = world.serve(ServerOptions::default());
    let addr = server.addr();
    let anchor = world.trust_anchor_ds();
    for (q, t) in [
        ("mail.nsec.test.", RecordType::A),
        ("nsec.test.", RecordType::MX),
        ("nothere.nsec.test.", RecordType::A),
        ("mail.nsec.test.", RecordType::TXT),
        ("x.wild.nsec.test.", RecordType::TXT),
        ("mail.n3.test.", RecordType::A),
        ("nothere.n3.test.", RecordType::A),
        ("mail.n3.test.", RecordType::AAAA),
        ("x.wild.n3.test.", RecordType::TXT),
        ("www.plain.test.", RecordType::A),
        ("plain.test.", RecordType::DS),
        ("x.oo.test.", RecordType::A),
        ("nothere.test.", RecordType::A),
    ] {
        seed(addr, &anchor, now, q, t).await;
    }
    write("trust_anchor", "ds", anchor.as_bytes());
    write(
        "trust_anchor",
        "dnskey",
        world.trust_anchor_dnskey().as_bytes(),
    );
    write(
        "trust_anchor",
        "both",
        format!(
            "; comment\n{}{}",
            world.trust_anchor_ds(),
            world.trust_anchor_dnskey()
        )
        .as_bytes(),
    );

    // The mail world: MX, address and TLSA lookups of real DANE scenarios.
    let mw = MailWorld::get();
    let addr = mw.dns_addr();
    let anchor = mw.anchor_ds().to_string();
    let mut tlsa_seen = 0;
    for (domain, hosts) in MX.iter().take(12) {
        seed(addr, &anchor, now, &format!("{domain}."), RecordType::MX).await;
        for host in hosts.iter().take(1) {
            let owner = format!("_{}._tcp.{host}.", mw.port());
            let label = format!("_port._tcp.{host}.");
            seed_as(addr, &anchor, now, &owner, &label, RecordType::TLSA).await;
            let msg = ask(addr, &name(&owner), RecordType::TLSA).await;
            for r in msg.answers {
                if let RData::TLSA(t) = &r.data {
                    let mut rdata = vec![
                        u8::from(t.cert_usage),
                        u8::from(t.selector),
                        u8::from(t.matching),
                    ];
                    rdata.extend_from_slice(&t.cert_data);
                    write("tlsa_rdata", &format!("{host}-{tlsa_seen}"), &rdata);
                    tlsa_seen += 1;
                }
            }
        }
    }
    assert!(tlsa_seen > 0, "the mail world published no TLSA record");
}
