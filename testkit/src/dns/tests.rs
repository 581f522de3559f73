//! Tests of the signed world: independent checks with ldns-verify-zone and delv (skipped
//! with a note when the tools are absent, failing when `CI` is set: crate::host), and
//! pure-Rust checks of the server.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::*;

/// The world used by most tests.
fn sample() -> &'static SignedWorld {
    static W: OnceLock<SignedWorld> = OnceLock::new();
    W.get_or_init(|| {
        let mut w = World::new();
        w.zone("test.");
        w.zone("secure.test.").records(
            "@ IN MX 10 mail\n\
             mail IN A 192.0.2.1\n\
             mail IN AAAA 2001:db8::1\n\
             _25._tcp.mail IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
             v4only IN A 192.0.2.4\n\
             alias IN CNAME v4only\n\
             alias2 IN CNAME alias\n\
             dangling IN CNAME nowhere\n\
             *.wild IN TXT \"wild\"\n\
             *.wild IN A 192.0.2.9\n\
             deep.ent.sub IN A 192.0.2.10\n\
             out IN CNAME www.nsec3.test.\n\
             toplain IN CNAME www.plain.test.\n\
             undeclared IN NS ns.undeclared\n\
             ns.undeclared IN A 127.0.0.54\n",
        );
        w.zone("nsec3.test.")
            .alg(Alg::RsaSha256)
            .denial(Denial::Nsec3 {
                iterations: 0,
                salt: vec![],
                opt_out: false,
            })
            .records(
                "www IN A 192.0.2.20\n\
                 *.wild IN A 192.0.2.21\n\
                 a.b.c IN A 192.0.2.22\n\
                 big IN A 192.0.2.23\n",
            );
        for i in 0..40 {
            w.zone("nsec3.test.").records(&format!(
                "big IN TXT \"record number {i} with some padding to make the answer big\""
            ));
        }
        w.zone("optout.test.")
            .alg(Alg::Ed25519)
            .denial(Denial::Nsec3 {
                iterations: 5,
                salt: vec![0xab, 0xcd],
                opt_out: true,
            })
            .records("www IN A 192.0.2.30\n");
        w.zone("insecure.optout.test.")
            .unsigned()
            .records("www IN A 192.0.2.31\n");
        w.zone("plain.test.")
            .unsigned()
            .records("www IN A 192.0.2.40\n@ IN MX 10 www\n");
        w.zone("mismatch.test.")
            .ds(DsMode::Mismatch)
            .records("www IN A 192.0.2.50\n");
        w.zone("island.test.")
            .ds(DsMode::None)
            .records("www IN A 192.0.2.51\n");
        w.zone("faults.test.")
            .records(
                "expired IN A 192.0.2.60\n\
                 future IN A 192.0.2.61\n\
                 nosig IN A 192.0.2.62\n\
                 wrongkey IN A 192.0.2.63\n\
                 tampered IN A 192.0.2.64\n\
                 tampered IN TXT \"hello\"\n\
                 good IN A 192.0.2.65\n",
            )
            .fault("expired", RecordType::A, Fault::ExpiredSignature)
            .fault("future", RecordType::A, Fault::NotYetValid)
            .fault("nosig", RecordType::A, Fault::MissingSignature)
            .fault("wrongkey", RecordType::A, Fault::WrongSigner)
            .fault("tampered", RecordType::A, Fault::TamperedRdata)
            .fault("tampered", RecordType::TXT, Fault::TamperedRdata)
            .fault("good", RecordType::NSEC, Fault::ExpiredSignature);
        // a fault on the DS of a child apex lands on the parent's DS RRset
        w.zone("dsfault.test.")
            .records("www IN A 192.0.2.66\n")
            .fault("@", RecordType::DS, Fault::WrongSigner);
        w.zone("baddenial.test.")
            .bad_denial()
            .records("a IN A 192.0.2.70\nm IN A 192.0.2.71\nz IN A 192.0.2.72\n");
        w.zone("baddenial3.test.")
            .bad_denial()
            .denial(Denial::Nsec3 {
                iterations: 0,
                salt: vec![],
                opt_out: false,
            })
            .records("a IN A 192.0.2.73\nm IN A 192.0.2.74\nz IN A 192.0.2.75\nq IN A 192.0.2.76\n");
        w.zone("lame.test.").records("www IN A 192.0.2.80\n");
        w.zone("lame.test.").lame();
        w.zone("keytrap.test.")
            .alg(Alg::RsaSha256)
            .colliding_keys(4)
            .records("www IN A 192.0.2.90\n");
        w.zone("unsupported.test.")
            .alg(Alg::Unsupported(253))
            .records("www IN A 192.0.2.100\n");
        w.zone("bigkeys.test.")
            .alg(Alg::RsaSha256)
            .extra_keys(4)
            .records("www IN A 192.0.2.110\n");
        w.zone("org.")
            .alg(Alg::Ed25519)
            .denial(Denial::Nsec3 {
                iterations: 0,
                salt: vec![],
                opt_out: false,
            });
        w.zone("example.org.")
            .records("@ IN MX 10 mx\nmx IN A 192.0.2.120\n");
        w.build()
    })
}

fn server() -> &'static DnsServer {
    static S: OnceLock<DnsServer> = OnceLock::new();
    S.get_or_init(|| sample().serve(ServerOptions::default()))
}

fn request(name: &str, t: RecordType, dnssec_ok: bool, payload: Option<u16>) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    if let Some(p) = payload {
        let mut e = Edns::new();
        e.set_max_payload(p);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m
}

fn udp_exchange(addr: SocketAddr, req: &Message) -> Option<Message> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s.send_to(&req.to_vec().unwrap(), addr).unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(Message::from_vec(&buf[..n]).unwrap())
}

fn tcp_exchange(stream: &mut TcpStream, req: &Message) -> Message {
    use std::io::{Read, Write};
    let bytes = req.to_vec().unwrap();
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    stream.write_all(&out).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

fn q(name: &str, t: RecordType) -> Message {
    udp_exchange(server().addr(), &request(name, t, true, Some(4096))).expect("answer")
}

fn types(records: &[hickory_proto::rr::Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}

fn count(records: &[hickory_proto::rr::Record], t: RecordType) -> usize {
    records.iter().filter(|r| r.record_type() == t).count()
}

/// An external checker: skips outside CI with a note, fails in CI (crate::host).
fn tool(name: &str) -> Option<PathBuf> {
    crate::host::require_tool(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dns-world-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Debugging aid: prints every zone of the sample world.
#[test]
#[ignore]
fn print_world() {
    let w = sample();
    for z in w.zone_names() {
        println!("==== {z}\n{}", w.zone_text(&z).unwrap());
    }
    println!("{}", w.trust_anchor_ds());
    println!("{}", w.trust_anchor_dnskey());
}

/// Debugging aid: `cargo test -p danegate-testkit serve_forever -- --ignored --nocapture`
/// serves the sample world for 10 minutes and prints the address and anchor files.
#[test]
#[ignore]
fn serve_forever() {
    let dir = temp_dir("forever");
    let s = server();
    std::fs::write(dir.join("anchor.ds"), sample().trust_anchor_ds()).unwrap();
    std::fs::write(dir.join("delv.anchor"), delv_anchor(sample())).unwrap();
    println!("serving on {} ; anchors in {}", s.addr(), dir.display());
    std::thread::sleep(Duration::from_secs(600));
}

fn delv_anchor(w: &SignedWorld) -> String {
    delv_anchor_line(&w.trust_anchor_ds())
}

/// "<zone> 3600 IN DS <tag> <alg> <dtype> <hex>" -> a delv trust-anchors clause
fn delv_anchor_line(line: &str) -> String {
    let f: Vec<&str> = line.split_whitespace().collect();
    format!(
        "trust-anchors {{\n  {} static-ds {} {} {} \"{}\";\n}};\n",
        f[0], f[4], f[5], f[6], f[7]
    )
}

// ---------------------------------------------------------------------------------------
// Independent checks: ldns-verify-zone

fn ldns_verify(w: &SignedWorld, zone: &str, dir: &Path) -> (bool, String) {
    let bin = Path::new("/usr/bin/ldns-verify-zone");
    let file = dir.join(format!("{}zone", zone.replace('.', "_")));
    std::fs::write(&file, w.zone_text(zone).unwrap()).unwrap();
    let out = Command::new(bin).arg(&file).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn ldns_verify_zone_accepts_the_signed_zones_and_rejects_broken_ones() {
    if tool("ldns-verify-zone").is_none() {
        return;
    }
    let dir = temp_dir("ldns");
    let w = sample();
    // zones with deliberate faults must be rejected ("test." holds dsfault.test.'s DS,
    // signed by a stray key)
    let broken = [
        "faults.test.",
        "keytrap.test.",
        "unsupported.test.",
        "test.",
    ];
    let mut checked = 0;
    for z in w.zone_names() {
        let unsigned = !w.zone_text(&z).unwrap().contains(" DNSKEY ");
        if unsigned {
            continue;
        }
        let (ok, text) = ldns_verify(w, &z, &dir);
        if broken.contains(&z.as_str()) {
            assert!(
                !ok,
                "ldns-verify-zone accepted the broken zone {z}:\n{text}"
            );
        } else {
            assert!(ok, "ldns-verify-zone rejected {z}:\n{text}");
        }
        checked += 1;
    }
    assert!(checked >= 12, "{checked}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ldns_verify_zone_rejects_each_fault() {
    if tool("ldns-verify-zone").is_none() {
        return;
    }
    let dir = temp_dir("ldns-faults");
    for (i, fault) in [
        Fault::ExpiredSignature,
        Fault::NotYetValid,
        Fault::MissingSignature,
        Fault::WrongSigner,
        Fault::TamperedRdata,
    ]
    .into_iter()
    .enumerate()
    {
        for alg in [Alg::EcdsaP256Sha256, Alg::RsaSha256, Alg::Ed25519] {
            let mut w = World::new();
            w.zone("f.")
                .alg(alg)
                .records("www IN A 192.0.2.1\nmx IN MX 10 www")
                .fault("www", RecordType::A, fault);
            let w = w.build();
            let (ok, text) = ldns_verify(&w, "f.", &dir);
            assert!(!ok, "{fault:?} {alg:?} not detected:\n{text}");
            // the same zone without the fault verifies
            let mut w = World::new();
            w.zone("f.")
                .alg(alg)
                .records("www IN A 192.0.2.1\nmx IN MX 10 www");
            let (ok, text) = ldns_verify(&w.build(), "f.", &dir);
            assert!(ok, "#{i} clean zone rejected:\n{text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Independent checks: delv (BIND's validator) through our non-validating server

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// positive answer, fully validated
    Secure,
    /// NXDOMAIN, fully validated
    SecureNx,
    /// NODATA, fully validated
    SecureNoData,
    /// unsigned answer (insecure)
    Insecure,
    /// validation failure
    Bogus,
    /// SERVFAIL from the server
    ServFail,
}

fn delv(addr: SocketAddr, anchor: &Path, name: &str, t: &str) -> String {
    let out = Command::new("delv")
        .args([
            "@127.0.0.1",
            "-p",
            &addr.port().to_string(),
            "-a",
            anchor.to_str().unwrap(),
            "+root=.",
            name,
            t,
        ])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn classify(out: &str) -> Expect {
    if out.contains("ncache nxdomain") && out.contains("fully validated") {
        Expect::SecureNx
    } else if out.contains("ncache nxrrset") && out.contains("fully validated") {
        Expect::SecureNoData
    } else if out.contains("resolution failed: failure") {
        Expect::ServFail
    } else if out.contains("resolution failed") {
        Expect::Bogus
    } else if out.contains("; unsigned answer") {
        // (also a secure CNAME leading into an insecure zone)
        Expect::Insecure
    } else if out.contains("; fully validated") {
        Expect::Secure
    } else {
        panic!("cannot classify delv output:\n{out}")
    }
}

#[test]
fn delv_agrees_with_the_world() {
    if tool("delv").is_none() {
        return;
    }
    use Expect::*;
    let dir = temp_dir("delv");
    let anchor = dir.join("anchor.conf");
    std::fs::write(&anchor, delv_anchor(sample())).unwrap();
    let cases: &[(&str, &str, Expect)] = &[
        ("secure.test.", "MX", Secure),
        ("mail.secure.test.", "A", Secure),
        ("mail.secure.test.", "AAAA", Secure),
        ("_25._tcp.mail.secure.test.", "TLSA", Secure),
        ("x.wild.secure.test.", "TXT", Secure),
        ("a.b.wild.secure.test.", "A", Secure),
        ("y.wild.secure.test.", "MX", SecureNoData),
        ("alias2.secure.test.", "A", Secure),
        ("alias.secure.test.", "AAAA", SecureNoData),
        ("dangling.secure.test.", "A", SecureNx),
        ("out.secure.test.", "A", Secure),
        ("toplain.secure.test.", "A", Insecure),
        ("ent.sub.secure.test.", "A", SecureNoData),
        ("nope.secure.test.", "A", SecureNx),
        ("mail.secure.test.", "TXT", SecureNoData),
        ("secure.test.", "DS", Secure),
        ("www.nsec3.test.", "A", Secure),
        ("nope.nsec3.test.", "A", SecureNx),
        ("www.nsec3.test.", "TXT", SecureNoData),
        ("b.c.nsec3.test.", "A", SecureNoData),
        ("y.wild.nsec3.test.", "A", Secure),
        ("y.wild.nsec3.test.", "TXT", SecureNoData),
        ("big.nsec3.test.", "TXT", Secure),
        ("www.optout.test.", "A", Secure),
        ("nope.optout.test.", "A", SecureNx),
        ("www.insecure.optout.test.", "A", Insecure),
        ("insecure.optout.test.", "DS", SecureNoData),
        ("www.plain.test.", "A", Insecure),
        ("plain.test.", "MX", Insecure),
        ("plain.test.", "DS", SecureNoData),
        ("www.mismatch.test.", "A", Bogus),
        ("www.island.test.", "A", Insecure),
        ("expired.faults.test.", "A", Bogus),
        ("future.faults.test.", "A", Bogus),
        ("nosig.faults.test.", "A", Bogus),
        ("wrongkey.faults.test.", "A", Bogus),
        ("tampered.faults.test.", "A", Bogus),
        ("tampered.faults.test.", "TXT", Bogus),
        ("good.faults.test.", "A", Secure),
        ("good.faults.test.", "TXT", Bogus),
        ("www.dsfault.test.", "A", Bogus),
        ("a.baddenial.test.", "A", Secure),
        ("a.baddenial.test.", "TXT", Bogus),
        ("nope.baddenial.test.", "A", Bogus),
        ("a.baddenial3.test.", "A", Secure),
        ("a.baddenial3.test.", "TXT", Bogus),
        ("nope.baddenial3.test.", "A", Bogus),
        ("www.lame.test.", "A", ServFail),
        ("www.keytrap.test.", "A", Bogus),
        ("www.unsupported.test.", "A", Insecure),
        ("www.bigkeys.test.", "A", Secure),
        ("mx.example.org.", "A", Secure),
        ("nope.example.org.", "A", SecureNx),
        ("foo.invalid.", "A", SecureNx),
    ];
    let addr = server().addr();
    let mut failures = Vec::new();
    for (name, t, want) in cases {
        let out = delv(addr, &anchor, name, t);
        let got = classify(&out);
        if got != *want {
            failures.push(format!("{name} {t}: want {want:?}, got {got:?}\n{out}"));
        }
    }
    // a resolver that strips DNSSEC makes secure data unverifiable
    let stripping = sample().serve(ServerOptions {
        strip_dnssec: true,
        ..Default::default()
    });
    let out = delv(stripping.addr(), &anchor, "secure.test.", "MX");
    if classify(&out) != Bogus {
        failures.push(format!("strip_dnssec: want Bogus\n{out}"));
    }
    // an island of security validates from its own anchor
    let island = dir.join("island.conf");
    let line = sample().ds_line("island.test").unwrap();
    assert!(line.starts_with("island.test. 3600 IN DS "), "{line}");
    std::fs::write(&island, delv_anchor_line(&line)).unwrap();
    let out = Command::new("delv")
        .args(["@127.0.0.1", "-p", &addr.port().to_string(), "-a"])
        .arg(&island)
        .args(["+root=island.test.", "www.island.test.", "A"])
        .output()
        .unwrap();
    let out =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if classify(&out) != Secure {
        failures.push(format!("island with its own anchor: want Secure\n{out}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Pure-Rust checks of the server

#[test]
fn trust_anchors_are_well_formed() {
    let w = sample();
    let ds = w.trust_anchor_ds();
    let f: Vec<&str> = ds.split_whitespace().collect();
    assert_eq!(&f[..4], &[".", "3600", "IN", "DS"]);
    assert_eq!(f[4].parse::<u16>().unwrap(), w.root_key_tag());
    assert_eq!(&f[5..7], &["13", "2"]);
    assert_eq!(f[7].len(), 64);
    let key = w.trust_anchor_dnskey();
    assert!(key.starts_with(". 3600 IN DNSKEY 257 3 13 "), "{key}");
    // the DNSKEY anchor matches the root's published KSK
    let m = q(".", RecordType::DNSKEY);
    let b64 = key.split_whitespace().last().unwrap();
    assert!(m.answers.iter().any(|r| match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(k)) => {
            use hickory_proto::dnssec::PublicKey;
            data_encoding::BASE64.encode(k.public_key().public_bytes()) == b64
        }
        _ => false,
    }));
}

#[test]
fn header_flags_and_edns() {
    let addr = server().addr();
    let mut req = request("mail.secure.test.", RecordType::A, true, Some(1232));
    req.metadata.checking_disabled = true;
    let m = udp_exchange(addr, &req).unwrap();
    assert_eq!(m.metadata.id, req.metadata.id);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(m.metadata.op_code, OpCode::Query);
    assert!(m.metadata.recursion_available);
    assert!(m.metadata.recursion_desired);
    assert!(m.metadata.checking_disabled);
    assert!(!m.metadata.authoritative);
    assert!(!m.metadata.authentic_data);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let edns = m.edns.as_ref().expect("OPT in response");
    assert!(edns.flags().dnssec_ok);
    assert_eq!(types(&m.answers), vec![RecordType::A, RecordType::RRSIG]);

    // no EDNS: no OPT, no DNSSEC records, RD copied (clear)
    let mut req = request("mail.secure.test.", RecordType::A, false, None);
    req.metadata.recursion_desired = false;
    let m = udp_exchange(addr, &req).unwrap();
    assert!(m.edns.is_none());
    assert!(!m.metadata.recursion_desired);
    assert!(!m.metadata.checking_disabled);
    assert_eq!(types(&m.answers), vec![RecordType::A]);

    // EDNS with DO=0: OPT but no DNSSEC records
    let m = udp_exchange(
        addr,
        &request("nope.secure.test.", RecordType::A, false, Some(1232)),
    )
    .unwrap();
    assert!(m.edns.is_some());
    assert!(!m.edns.as_ref().unwrap().flags().dnssec_ok);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(types(&m.authorities), vec![RecordType::SOA]);
}

#[test]
fn negative_answers_carry_proofs() {
    // NSEC NXDOMAIN: SOA + RRSIG, NSEC covering the name, NSEC covering the wildcard
    let m = q("nope.secure.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(count(&m.authorities, RecordType::SOA), 1);
    assert_eq!(count(&m.authorities, RecordType::NSEC), 2);
    assert_eq!(count(&m.authorities, RecordType::RRSIG), 3);
    // NSEC NODATA: the NSEC of the name itself
    let m = q("mail.secure.test.", RecordType::TXT);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let nsec: Vec<_> = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NSEC)
        .collect();
    assert_eq!(nsec.len(), 1);
    assert_eq!(nsec[0].name, Name::from_ascii("mail.secure.test.").unwrap());
    // NSEC3 NXDOMAIN: closest encloser, next closer, wildcard
    let m = q("x.nope.nsec3.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!((2..=3).contains(&count(&m.authorities, RecordType::NSEC3)));
    // names under no zone: NXDOMAIN from the root with proof
    // ("." -> "ns1." covers both foo.invalid. and *.)
    let m = q("foo.invalid.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(count(&m.authorities, RecordType::NSEC), 1);
    // DS at an insecure delegation under opt-out: closest encloser + opt-out span
    let m = q("insecure.optout.test.", RecordType::DS);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let n3: Vec<_> = m
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::NSEC3(n)) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(n3.len(), 2);
    assert!(n3.iter().all(|n| n.opt_out()));
    // unsigned zone: SOA only
    let m = q("nope.plain.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(types(&m.authorities), vec![RecordType::SOA]);
}

#[test]
fn cname_chains_and_wildcards() {
    // two links, then the address
    let m = q("alias2.secure.test.", RecordType::A);
    let t: Vec<_> = types(&m.answers)
        .into_iter()
        .filter(|t| *t != RecordType::RRSIG)
        .collect();
    assert_eq!(t, vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]);
    // CNAME to a NODATA: the proof is for the target
    let m = q("alias.secure.test.", RecordType::AAAA);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(count(&m.answers, RecordType::CNAME), 1);
    let nsec = m
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::NSEC)
        .unwrap();
    assert_eq!(nsec.name, Name::from_ascii("v4only.secure.test.").unwrap());
    // dangling CNAME: NXDOMAIN for the last name
    let m = q("dangling.secure.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(count(&m.answers, RecordType::CNAME), 1);
    // across zones
    let m = q("out.secure.test.", RecordType::A);
    assert_eq!(count(&m.answers, RecordType::A), 1);
    assert_eq!(count(&m.answers, RecordType::RRSIG), 2);
    // wildcard: owner synthesized, RRSIG labels smaller than the owner's, proof in authority
    let m = q("a.b.wild.secure.test.", RecordType::A);
    let a = m
        .answers
        .iter()
        .find(|r| r.record_type() == RecordType::A)
        .unwrap();
    assert_eq!(a.name, Name::from_ascii("a.b.wild.secure.test.").unwrap());
    let sig = m
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => Some(s),
            _ => None,
        })
        .unwrap();
    assert_eq!(sig.input().num_labels, 3);
    assert_eq!(count(&m.authorities, RecordType::NSEC), 1);
}

#[test]
fn big_answers_truncate_over_udp_and_not_over_tcp() {
    let addr = server().addr();
    // 40 TXT records: more than 1232 bytes
    let m = udp_exchange(
        addr,
        &request("big.nsec3.test.", RecordType::TXT, true, Some(1232)),
    )
    .unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert!(m.edns.is_some());
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = request("big.nsec3.test.", RecordType::TXT, true, Some(1232));
    let m = tcp_exchange(&mut tcp, &req);
    assert!(!m.metadata.truncation);
    assert_eq!(count(&m.answers, RecordType::TXT), 40);
    assert!(m.to_vec().unwrap().len() > 1232);
    // several queries on one connection
    for name in ["mail.secure.test.", "www.plain.test.", "www.nsec3.test."] {
        let m = tcp_exchange(&mut tcp, &request(name, RecordType::A, true, Some(1232)));
        assert_eq!(count(&m.answers, RecordType::A), 1, "{name}");
    }
    // a large advertised size gets the whole answer over UDP
    let m = udp_exchange(
        addr,
        &request("big.nsec3.test.", RecordType::TXT, true, Some(8192)),
    )
    .unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(count(&m.answers, RecordType::TXT), 40);
    // a DNSKEY RRset with 6 RSA keys exceeds 512 bytes without EDNS
    let m = udp_exchange(
        addr,
        &request("bigkeys.test.", RecordType::DNSKEY, false, None),
    )
    .unwrap();
    assert!(m.metadata.truncation);
    let m = udp_exchange(
        addr,
        &request("bigkeys.test.", RecordType::DNSKEY, true, Some(4096)),
    )
    .unwrap();
    assert_eq!(count(&m.answers, RecordType::DNSKEY), 6);
    assert!(m.to_vec().unwrap().len() > 1232);
}

#[test]
fn strip_dnssec_silent_and_servfail_options() {
    let w = sample();
    let s = w.serve(ServerOptions {
        strip_dnssec: true,
        ..Default::default()
    });
    let m = udp_exchange(
        s.addr(),
        &request("nope.secure.test.", RecordType::A, true, Some(1232)),
    )
    .unwrap();
    assert_eq!(types(&m.authorities), vec![RecordType::SOA]);
    let m = udp_exchange(
        s.addr(),
        &request("secure.test.", RecordType::DNSKEY, true, Some(4096)),
    )
    .unwrap();
    assert_eq!(
        types(&m.answers),
        vec![RecordType::DNSKEY, RecordType::DNSKEY]
    );
    drop(s);

    let s = w.serve(ServerOptions {
        silent: true,
        ..Default::default()
    });
    let req = request("mail.secure.test.", RecordType::A, true, Some(1232));
    assert!(udp_exchange(s.addr(), &req).is_none());
    assert_eq!(s.queries(), 0);
    drop(s);

    let s = w.serve(ServerOptions {
        servfail: vec![("mail.secure.test".into(), RecordType::A)],
        ..Default::default()
    });
    let m = udp_exchange(s.addr(), &req).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = udp_exchange(
        s.addr(),
        &request("mail.secure.test.", RecordType::AAAA, true, None),
    )
    .unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(s.queries(), 2);
}

#[test]
fn lame_keytrap_unsupported_and_bad_denial_shapes() {
    let m = q("www.lame.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = q("lame.test.", RecordType::DS);
    assert_eq!(count(&m.answers, RecordType::DS), 1);
    // a delegation written into zone text, to a zone the world does not declare
    let m = q("www.undeclared.secure.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = q("undeclared.secure.test.", RecordType::DS);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(count(&m.authorities, RecordType::NSEC), 1);

    let m = q("keytrap.test.", RecordType::DNSKEY);
    let tags: Vec<u16> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(k)) => {
                Some(k.calculate_key_tag().unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(tags.len(), 4);
    assert!(tags.iter().all(|t| *t == tags[0]));
    let sig_tags: Vec<u16> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => {
                Some(s.input().key_tag)
            }
            _ => None,
        })
        .collect();
    assert_eq!(sig_tags, vec![tags[0]; 4]);
    let m = q("keytrap.test.", RecordType::DS);
    assert!(m.answers.iter().any(|r| match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DS(ds)) => ds.key_tag() == tags[0],
        _ => false,
    }));

    let m = q("unsupported.test.", RecordType::DS);
    assert!(m.answers.iter().any(|r| match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DS(ds)) => {
            u8::from(ds.algorithm()) == 253
        }
        _ => false,
    }));

    // bad denial: the NSEC present neither matches nor covers the name
    let m = q("b.baddenial.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    for r in &m.authorities {
        if let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::NSEC(n)) = &r.data {
            let qn = Name::from_ascii("b.baddenial.test.").unwrap();
            let covers = if r.name < *n.next_domain_name() {
                r.name <= qn && qn < *n.next_domain_name()
            } else {
                qn >= r.name || qn < *n.next_domain_name()
            };
            assert!(!covers, "{r}");
        }
    }
}

#[test]
fn garbage_is_ignored_and_queries_are_counted() {
    let w = sample();
    let s = w.serve(ServerOptions::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for junk in [
        &b""[..],
        &b"\x00"[..],
        &b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc"[..],
        &[0xffu8; 600][..],
    ] {
        sock.send_to(junk, s.addr()).unwrap();
    }
    let mut buf = [0u8; 512];
    assert!(sock.recv_from(&mut buf).is_err(), "garbage was answered");
    // a response (QR=1) is not answered either
    let mut resp = request("mail.secure.test.", RecordType::A, false, None);
    resp.metadata.message_type = MessageType::Response;
    assert!(udp_exchange(s.addr(), &resp).is_none());
    // TCP garbage then a valid query on a new connection
    {
        use std::io::Write;
        let mut t = TcpStream::connect(s.addr()).unwrap();
        t.write_all(b"\x00\x05hello\x00\x01").unwrap();
    }
    for _ in 0..3 {
        udp_exchange(
            s.addr(),
            &request("mail.secure.test.", RecordType::A, true, Some(1232)),
        )
        .unwrap();
    }
    let mut t = TcpStream::connect(s.addr()).unwrap();
    tcp_exchange(
        &mut t,
        &request("mail.secure.test.", RecordType::A, true, Some(1232)),
    );
    assert_eq!(s.queries(), 4);
}

#[tokio::test]
async fn usable_from_async_tests() {
    let mut w = World::new();
    w.zone("async.")
        .alg(Alg::Ed25519)
        .records("www IN A 192.0.2.200");
    let world = w.build();
    let s = world.serve(ServerOptions::default());
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let req = request("www.async.", RecordType::A, true, Some(1232));
    sock.send_to(&req.to_vec().unwrap(), s.addr())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(types(&m.answers), vec![RecordType::A, RecordType::RRSIG]);
    drop(s);
}

#[test]
fn many_colliding_keys_build_quickly_and_come_over_tcp() {
    let start = std::time::Instant::now();
    let mut w = World::new();
    w.zone("kt.").alg(Alg::RsaSha256).colliding_keys(64);
    let w = w.build();
    assert!(start.elapsed() < Duration::from_secs(10));
    let s = w.serve(ServerOptions::default());
    let m = udp_exchange(
        s.addr(),
        &request("kt.", RecordType::DNSKEY, true, Some(1232)),
    )
    .unwrap();
    assert!(m.metadata.truncation);
    let mut t = TcpStream::connect(s.addr()).unwrap();
    let m = tcp_exchange(
        &mut t,
        &request("kt.", RecordType::DNSKEY, true, Some(1232)),
    );
    assert_eq!(count(&m.answers, RecordType::DNSKEY), 64);
    assert_eq!(count(&m.answers, RecordType::RRSIG), 64);
    let tags: std::collections::BTreeSet<u16> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DNSKEY(k)) => {
                Some(k.calculate_key_tag().unwrap())
            }
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => {
                Some(s.input().key_tag)
            }
            _ => None,
        })
        .collect();
    assert_eq!(tags.len(), 1);
}

#[test]
fn standby_and_revoked_ksk() {
    let mut w = World::new();
    w.zone(".").standby_ksk();
    let world = w.build();
    let text = world.zone_text(".").unwrap();
    assert_eq!(
        text.matches("DNSKEY\t257").count() + text.matches("DNSKEY 257").count(),
        2,
        "{text}"
    );
    let standby = world.standby_dnskey_line(".").unwrap();
    assert!(standby.contains(" DNSKEY 257 3 13 "), "{standby}");
    assert_ne!(standby, world.trust_anchor_dnskey());

    let mut w = World::new();
    w.zone(".").revoked_ksk();
    let world = w.build();
    let text = world.zone_text(".").unwrap();
    assert!(text.contains("385"), "{text}");
    // The anchor lines describe the key before revocation.
    assert!(world.trust_anchor_dnskey().contains(" DNSKEY 257 3 13 "));
    let key = world.trust_anchor_dnskey();
    let b64 = key.split_whitespace().last().unwrap();
    assert!(text.contains(b64), "the revoked key is published");
    assert!(World::new().build().standby_dnskey_line(".").is_none());
}
