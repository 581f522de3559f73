//! The mail world: a signed DNS world with ~23 MX hosts, each a STARTTLS [`SmtpSink`] on
//! its own 127.0.0.x address and one common port, TLSA records computed from the hosts'
//! certificates, and a scenario domain for every row of both of the appliance's DANE tables
//! ([`TABLE_ROWS`]) plus the RFC 7672 cases beyond them ([`SCENARIOS`]).
//!
//! ```no_run
//! use danegate_testkit::mailworld::{MailWorld, TABLE_ROWS};
//! let w = MailWorld::get(); // built once per test binary, shared by every test
//! println!("DNS at {}, MX hosts on port {}", w.dns_addr(), w.port());
//! std::fs::write("/tmp/anchor", w.anchor_ds()).unwrap(); // or w.anchor_file()
//! for &(domain, row, _mandatory, _opportunistic) in TABLE_ROWS {
//!     let host = danegate_testkit::mailworld::mx_hosts(domain)[0];
//!     println!("{domain} [{row}] → {host} ({})", w.sink(host).addr());
//! }
//! ```
//!
//! Zones: `test.` (signed root of the world), `hosts.test.` (signed: the MX hosts, their A
//! and TLSA records, a bogus TLSA, a bogus A, a CNAME'd host), `_tcp.tinsec.hosts.test.`
//! (unsigned: an insecure TLSA below a secure host), `plainhosts.test.` (unsigned hosts),
//! `dom.test.` (signed mail domains, one with a bogus MX) and `idom.test.` (unsigned mail
//! domains). The resolver must SERVFAIL the addresses of `sfa.hosts.test`.
//!
//! TLSA data is computed here with ring (SHA2-256 / SHA2-512 of the certificate or SPKI
//! DER), so the test kit does not depend on the crates it tests.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::OnceLock,
};

use hickory_proto::rr::RecordType;

use crate::{
    certs::{ChainOptions, Issuance, Presented, TestCert, TestChain, TlsVersions, Validity},
    dns::{DnsServer, Fault, ServerOptions, SignedWorld, World},
    host::free_port,
    smtp::{SinkOptions, SmtpSink, StartTlsMode},
};

/// What the DANE path should conclude for a destination (mirrors the delivery verdicts
/// without depending on danegate-delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// DANE SUCCESS: authenticated TLS to an MX host.
    DaneSuccess,
    /// DANE FAIL: nothing is sent; the message stays queued.
    DaneFail,
    /// Fallback to the profile's TLS Support setting (Opportunistic only).
    Fallback,
    /// A temporary DNS failure (SERVFAIL): retry later.
    TempFail,
}

use Expect::{DaneFail as FAIL, DaneSuccess as OK, Fallback as FB, TempFail as TEMP};

/// Every row of both of the appliance's tables: (domain, row as "MX A TLSA Certificate" statuses,
/// expectation under DANE Mandatory, under DANE Opportunistic).
pub const TABLE_ROWS: &[(&str, &str, Expect, Expect)] = &[
    ("good.dom.test", "Secure Secure Secure Success", OK, OK),
    (
        "wrongtlsa.dom.test",
        "Secure Secure Secure Failed",
        FAIL,
        FAIL,
    ),
    ("tinsec.dom.test", "Secure Secure Insecure", FAIL, FB),
    ("notlsa.dom.test", "Secure Secure NXDOMAIN", FAIL, FB),
    ("bogustlsa.dom.test", "Secure Secure Bogus", FAIL, FAIL),
    ("plainhost.dom.test", "Secure Insecure", FAIL, FB),
    ("bogusaddr.dom.test", "Secure Bogus", FAIL, FAIL),
    ("good.idom.test", "Insecure Secure Secure Success", FAIL, FB),
    (
        "wrongtlsa.idom.test",
        "Insecure Secure Secure Failed",
        FAIL,
        FB,
    ),
    ("tinsec.idom.test", "Insecure Secure Insecure", FAIL, FB),
    ("notlsa.idom.test", "Insecure Secure NXDOMAIN", FAIL, FB),
    ("bogustlsa.idom.test", "Insecure Secure Bogus", FAIL, FAIL),
    ("plainhost.idom.test", "Insecure Insecure", FAIL, FB),
    ("bogusaddr.idom.test", "Insecure Bogus", FAIL, FAIL),
    ("bogusmx.dom.test", "Bogus", FAIL, FAIL),
];

/// A scenario beyond the appliance tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// The mail domain to deliver to.
    pub domain: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// The expectation under DANE Mandatory.
    pub mandatory: Expect,
    /// The expectation under DANE Opportunistic.
    pub opportunistic: Expect,
}

const fn sc(domain: &'static str, about: &'static str, m: Expect, o: Expect) -> Scenario {
    Scenario {
        domain,
        about,
        mandatory: m,
        opportunistic: o,
    }
}

/// The RFC 7672 cases beyond the appliance tables.
pub const SCENARIOS: &[Scenario] = &[
    sc("ee301.dom.test", "DANE-EE cert SHA2-256 (3 0 1)", OK, OK),
    sc("ee312.dom.test", "DANE-EE SPKI SHA2-512 (3 1 2)", OK, OK),
    sc("ee300.dom.test", "DANE-EE full certificate (3 0 0)", OK, OK),
    sc(
        "ta201.dom.test",
        "DANE-TA intermediate cert (2 0 1)",
        OK,
        OK,
    ),
    sc(
        "ta211.dom.test",
        "DANE-TA root SPKI, root presented (2 1 1)",
        OK,
        OK,
    ),
    sc(
        "eeexpired.dom.test",
        "DANE-EE ignores names and dates (expired self-signed leaf)",
        OK,
        OK,
    ),
    sc(
        "multi.dom.test",
        "TLSA RRset with non-matching records and one matching",
        OK,
        OK,
    ),
    sc(
        "tamismatch.dom.test",
        "DANE-TA chain fine but leaf names neither reference identifier",
        FAIL,
        FAIL,
    ),
    sc(
        "unusable.dom.test",
        "secure TLSA RRset wholly unusable (PKIX-EE, PKIX-TA): TLS mandatory, unauthenticated",
        FAIL,
        FB,
    ),
    sc(
        "unusablenotls.dom.test",
        "secure TLSA RRset wholly unusable, and the server offers no STARTTLS",
        FAIL,
        FAIL,
    ),
    sc(
        "nostarttls.dom.test",
        "secure TLSA but the server offers no STARTTLS",
        FAIL,
        FAIL,
    ),
    sc("tls12.dom.test", "a TLS 1.2-only server", OK, OK),
    sc("tls13.dom.test", "a TLS 1.3-only server", OK, OK),
    sc(
        "alias.dom.test",
        "MX host is a CNAME: TLSA at the target (real.hosts.test)",
        OK,
        OK,
    ),
    sc(
        "fallover.dom.test",
        "first MX fails DANE, second passes",
        OK,
        OK,
    ),
    sc(
        "good.hosts.test",
        "no MX: the domain itself is the implicit MX",
        OK,
        OK,
    ),
    sc(
        "sfa.dom.test",
        "SERVFAIL for the MX host's addresses",
        TEMP,
        TEMP,
    ),
    sc("nothere.dom.test", "the domain does not exist", FAIL, FAIL),
    sc(
        "twoplain.idom.test",
        "insecure MX, two insecure hosts",
        FAIL,
        FB,
    ),
    sc(
        "twoaddr.idom.test",
        "insecure MX, one insecure host with two addresses",
        FAIL,
        FB,
    ),
];

/// The MX records of the world's mail domains: (domain, MX hosts in preference order).
/// `bogusmx.dom.test`'s MX RRset is tampered with in the zone (it is BOGUS).
pub const MX: &[(&str, &[&str])] = &[
    ("good.dom.test", &["good.hosts.test"]),
    ("wrongtlsa.dom.test", &["wrongtlsa.hosts.test"]),
    ("notlsa.dom.test", &["notlsa.hosts.test"]),
    ("bogustlsa.dom.test", &["bogustlsa.hosts.test"]),
    ("nostarttls.dom.test", &["nostarttls.hosts.test"]),
    ("unusable.dom.test", &["unusable.hosts.test"]),
    ("unusablenotls.dom.test", &["unusablenotls.hosts.test"]),
    ("ee301.dom.test", &["ee301.hosts.test"]),
    ("ee312.dom.test", &["ee312.hosts.test"]),
    ("ee300.dom.test", &["ee300.hosts.test"]),
    ("ta201.dom.test", &["ta201.hosts.test"]),
    ("ta211.dom.test", &["ta211.hosts.test"]),
    ("tamismatch.dom.test", &["tamismatch.hosts.test"]),
    ("eeexpired.dom.test", &["eeexpired.hosts.test"]),
    ("multi.dom.test", &["multi.hosts.test"]),
    ("tls12.dom.test", &["tls12.hosts.test"]),
    ("tls13.dom.test", &["tls13.hosts.test"]),
    ("bogusaddr.dom.test", &["bogusaddr.hosts.test"]),
    ("sfa.dom.test", &["sfa.hosts.test"]),
    ("tinsec.dom.test", &["tinsec.hosts.test"]),
    ("alias.dom.test", &["alias.hosts.test"]),
    ("plainhost.dom.test", &["mail1.plainhosts.test"]),
    ("bogusmx.dom.test", &["good.hosts.test"]),
    (
        "fallover.dom.test",
        &["wrongtlsa.hosts.test", "good.hosts.test"],
    ),
    ("good.idom.test", &["good.hosts.test"]),
    ("wrongtlsa.idom.test", &["wrongtlsa.hosts.test"]),
    ("notlsa.idom.test", &["notlsa.hosts.test"]),
    ("bogustlsa.idom.test", &["bogustlsa.hosts.test"]),
    ("nostarttls.idom.test", &["nostarttls.hosts.test"]),
    ("unusable.idom.test", &["unusable.hosts.test"]),
    ("ee301.idom.test", &["ee301.hosts.test"]),
    ("ee312.idom.test", &["ee312.hosts.test"]),
    ("ee300.idom.test", &["ee300.hosts.test"]),
    ("ta201.idom.test", &["ta201.hosts.test"]),
    ("ta211.idom.test", &["ta211.hosts.test"]),
    ("tamismatch.idom.test", &["tamismatch.hosts.test"]),
    ("eeexpired.idom.test", &["eeexpired.hosts.test"]),
    ("multi.idom.test", &["multi.hosts.test"]),
    ("tls12.idom.test", &["tls12.hosts.test"]),
    ("tls13.idom.test", &["tls13.hosts.test"]),
    ("bogusaddr.idom.test", &["bogusaddr.hosts.test"]),
    ("sfa.idom.test", &["sfa.hosts.test"]),
    ("tinsec.idom.test", &["tinsec.hosts.test"]),
    ("plainhost.idom.test", &["mail1.plainhosts.test"]),
    (
        "twoplain.idom.test",
        &["mail1.plainhosts.test", "mail2.plainhosts.test"],
    ),
    ("twoaddr.idom.test", &["twoaddr.plainhosts.test"]),
];

/// Every domain of a [`MailWorld::build_bulk`] world with the domain it copies: the
/// table-row and scenario domains (each its own template), then the copies.
pub fn bulk_domains(copies: usize) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for d in TABLE_ROWS
        .iter()
        .map(|r| r.0)
        .chain(SCENARIOS.iter().map(|s| s.domain))
        .chain(MX.iter().map(|m| m.0))
    {
        if !out.iter().any(|(n, _)| n == d) {
            out.push((d.to_string(), d));
        }
    }
    out.push((BULK_DOWN.to_string(), BULK_DOWN));
    for k in 1..=copies {
        for (domain, _) in MX {
            out.push((format!("c{k}-{domain}"), domain));
        }
        out.push((format!("c{k}-{BULK_DOWN}"), BULK_DOWN));
    }
    out
}

/// In a [`MailWorld::build_bulk`] world only: a signed domain whose one MX host,
/// `down.hosts.test` (127.0.0.35, a DANE-EE TLSA record), has no server (connections
/// are refused): a host that does not answer.
pub const BULK_DOWN: &str = "down.dom.test";

/// The MX hosts of `domain` in preference order (as published; empty if it has no MX).
pub fn mx_hosts(domain: &str) -> &'static [&'static str] {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    MX.iter()
        .find(|(n, _)| *n == d)
        .map(|(_, h)| *h)
        .unwrap_or(&[])
}

/// One MX host of the world: its address, certificate chain and how its server behaves.
struct Host {
    name: &'static str,
    octet: u8,
    chain: TestChain,
    versions: TlsVersions,
    presented: Presented,
    starttls: StartTlsMode,
}

impl Host {
    fn fqdn(&self) -> String {
        if self.octet >= 31 {
            format!("{}.plainhosts.test", self.name)
        } else {
            format!("{}.hosts.test", self.name)
        }
    }
}

/// One running SMTP server of the world.
pub struct WorldSink {
    /// The host's short name, e.g. `good` or `mail1`.
    pub name: &'static str,
    /// Its domain name, e.g. `good.hosts.test` or `mail1.plainhosts.test`.
    pub fqdn: String,
    /// Its address (127.0.0.x, [`MailWorld::port`]).
    pub addr: SocketAddr,
    /// The server.
    pub sink: SmtpSink,
    /// Its certificate chain.
    pub chain: TestChain,
}

/// The running world: DNS server, trust anchor and the MX hosts' SMTP servers.
pub struct MailWorld {
    world: SignedWorld,
    dns: DnsServer,
    anchor: String,
    anchor_file: OnceLock<PathBuf>,
    port: u16,
    sinks: Vec<WorldSink>,
}

fn leaf_for(name: &str) -> TestChain {
    TestChain::generate(&ChainOptions::for_names(&[name]))
}

/// TLSA RDATA (usage, selector, matching type, hex data) for `cert`, per RFC 6698 §2.1.
fn tlsa_of(usage: u8, sel: u8, mt: u8, cert: &TestCert) -> (u8, u8, u8, String) {
    (usage, sel, mt, cert.tlsa_hex(sel, mt))
}

fn tlsa_line(owner: &str, port: u16, t: &(u8, u8, u8, String)) -> String {
    format!(
        "_{port}._tcp.{owner} 300 IN TLSA {} {} {} {}\n",
        t.0, t.1, t.2, t.3
    )
}

impl MailWorld {
    /// The world of this process, built on first use and never torn down.
    pub fn get() -> &'static MailWorld {
        static W: OnceLock<MailWorld> = OnceLock::new();
        W.get_or_init(MailWorld::build)
    }

    /// Builds a fresh world on a fresh port (dropping it stops its servers).
    ///
    /// # Panics
    /// If an address 127.0.0.10–34 cannot be bound on the chosen port.
    pub fn build() -> MailWorld {
        build(0)
    }

    /// [`Self::build`] plus `copies` copies of every mail domain of [`MX`]
    /// (`c<k>-<label>.dom.test`, `c<k>-<label>.idom.test`, k = 1..=copies) with the same MX
    /// hosts (and the same bogus MX RRset for copies of `bogusmx`): many domains sharing
    /// few MX hosts, as a bulk audit meets them. [`bulk_domains`] lists them.
    ///
    /// # Panics
    /// As [`Self::build`].
    pub fn build_bulk(copies: usize) -> MailWorld {
        build(copies)
    }

    /// The SMTP port every MX host listens on (127.0.0.x:port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The DNS server (UDP and TCP) serving the world.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The DNS server itself (e.g. for its query count).
    pub fn dns(&self) -> &DnsServer {
        &self.dns
    }

    /// The signed world (zone texts, DS lines).
    pub fn signed_world(&self) -> &SignedWorld {
        &self.world
    }

    /// The root trust anchor as a DS record line (the anchor zone is `test`).
    pub fn anchor_ds(&self) -> &str {
        &self.anchor
    }

    /// [`Self::anchor_ds`] written to a file in the temp directory (written once).
    pub fn anchor_file(&self) -> &Path {
        self.anchor_file.get_or_init(|| {
            let p = std::env::temp_dir().join(format!(
                "danegate-mailworld-anchor-{}-{}.ds",
                std::process::id(),
                self.port
            ));
            self.write_anchor(&p);
            p
        })
    }

    /// Writes [`Self::anchor_ds`] to `path`.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write_anchor(&self, path: &Path) {
        std::fs::write(path, &self.anchor)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The SMTP server of an MX host, by short name (`good`, `mail1`) or domain name
    /// (`good.hosts.test`, `mail1.plainhosts.test`). For `twoaddr` it is the first address.
    ///
    /// # Panics
    /// If there is no such host.
    pub fn sink(&self, host: &str) -> &SmtpSink {
        &self.host(host).sink
    }

    /// Like [`Self::sink`], with the host's name, address and certificate chain.
    ///
    /// # Panics
    /// If there is no such host.
    pub fn host(&self, host: &str) -> &WorldSink {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        self.sinks
            .iter()
            .find(|s| s.name == h || s.fqdn == h)
            .unwrap_or_else(|| panic!("no MX host {host:?} in the mail world"))
    }

    /// Every SMTP server of the world (`twoaddr` twice: 127.0.0.33 and .34).
    pub fn sinks(&self) -> &[WorldSink] {
        &self.sinks
    }
}

fn build(copies: usize) -> MailWorld {
    let port = free_port();
    let h = |name: &'static str, octet: u8| Host {
        name,
        octet,
        chain: leaf_for(&format!("{name}.hosts.test")),
        versions: TlsVersions::Both,
        presented: Presented::LeafAndIntermediate,
        starttls: StartTlsMode::Offer,
    };
    let mut hosts: Vec<Host> = vec![
        h("good", 11),
        h("wrongtlsa", 12),
        h("notlsa", 13),
        h("bogustlsa", 14),
        Host {
            starttls: StartTlsMode::NotOffered,
            ..h("nostarttls", 15)
        },
        h("unusable", 16),
        Host {
            starttls: StartTlsMode::NotOffered,
            ..h("unusablenotls", 10)
        },
        h("ee301", 17),
        h("ee312", 18),
        h("ee300", 19),
        h("ta201", 20),
        Host {
            presented: Presented::Full,
            ..h("ta211", 21)
        },
        Host {
            chain: leaf_for("someone-else.example"),
            ..h("tamismatch", 22)
        },
        Host {
            chain: TestChain::generate(&ChainOptions {
                names: vec!["wrong.example".into()],
                validity: Validity::Expired,
                issuance: Issuance::SelfSigned,
                ..ChainOptions::default()
            }),
            ..h("eeexpired", 23)
        },
        h("multi", 24),
        Host {
            versions: TlsVersions::Tls12Only,
            ..h("tls12", 25)
        },
        Host {
            versions: TlsVersions::Tls13Only,
            ..h("tls13", 26)
        },
        h("bogusaddr", 27),
        h("real", 28),
        h("sfa", 29),
        h("tinsec", 30),
    ];
    // Hosts in the unsigned zone plainhosts.test (octets 31 and up).
    hosts.push(Host {
        chain: leaf_for("mail1.plainhosts.test"),
        ..h("mail1", 31)
    });
    hosts.push(Host {
        chain: leaf_for("mail2.plainhosts.test"),
        ..h("mail2", 32)
    });
    hosts.push(Host {
        chain: leaf_for("twoaddr.plainhosts.test"),
        ..h("twoaddr", 33)
    });

    let by = |n: &str| hosts.iter().find(|x| x.name == n).unwrap();
    let other = leaf_for("other.example");
    let mut hz = String::new();
    let mut plain = String::new();
    for host in &hosts {
        let line = format!("{} 300 IN A 127.0.0.{}\n", host.name, host.octet);
        if host.octet >= 31 {
            plain.push_str(&line);
        } else {
            hz.push_str(&line);
        }
    }
    plain.push_str("twoaddr 300 IN A 127.0.0.34\n");
    let ee = |n: &str| tlsa_of(3, 1, 1, &by(n).chain.leaf);
    for n in [
        "good",
        "bogustlsa",
        "nostarttls",
        "bogusaddr",
        "tls12",
        "tls13",
        "sfa",
    ] {
        hz.push_str(&tlsa_line(n, port, &ee(n)));
    }
    hz.push_str(&tlsa_line(
        "wrongtlsa",
        port,
        &tlsa_of(3, 1, 1, &other.leaf),
    ));
    hz.push_str(&tlsa_line(
        "unusable",
        port,
        &tlsa_of(1, 1, 1, &by("unusable").chain.leaf),
    ));
    hz.push_str(&tlsa_line(
        "unusable",
        port,
        &tlsa_of(0, 0, 1, by("unusable").chain.ca.as_ref().unwrap()),
    ));
    hz.push_str(&tlsa_line(
        "unusablenotls",
        port,
        &tlsa_of(1, 1, 1, &by("unusablenotls").chain.leaf),
    ));
    hz.push_str(&tlsa_line(
        "ee301",
        port,
        &tlsa_of(3, 0, 1, &by("ee301").chain.leaf),
    ));
    hz.push_str(&tlsa_line(
        "ee312",
        port,
        &tlsa_of(3, 1, 2, &by("ee312").chain.leaf),
    ));
    hz.push_str(&tlsa_line(
        "ee300",
        port,
        &tlsa_of(3, 0, 0, &by("ee300").chain.leaf),
    ));
    hz.push_str(&tlsa_line(
        "ta201",
        port,
        &tlsa_of(2, 0, 1, by("ta201").chain.intermediate.as_ref().unwrap()),
    ));
    hz.push_str(&tlsa_line(
        "ta211",
        port,
        &tlsa_of(2, 1, 1, by("ta211").chain.ca.as_ref().unwrap()),
    ));
    hz.push_str(&tlsa_line(
        "tamismatch",
        port,
        &tlsa_of(
            2,
            0,
            1,
            by("tamismatch").chain.intermediate.as_ref().unwrap(),
        ),
    ));
    hz.push_str(&tlsa_line("eeexpired", port, &ee("eeexpired")));
    hz.push_str(&tlsa_line("multi", port, &tlsa_of(3, 1, 1, &other.leaf)));
    hz.push_str(&tlsa_line("multi", port, &ee("multi")));
    hz.push_str(&tlsa_line(
        "multi",
        port,
        &tlsa_of(2, 0, 1, other.intermediate.as_ref().unwrap()),
    ));
    hz.push_str(&tlsa_line("real", port, &ee("real")));
    hz.push_str("alias 300 IN CNAME real\n");
    for n in ["mail1", "mail2", "twoaddr"] {
        plain.push_str(&tlsa_line(n, port, &ee(n)));
    }

    if copies > 0 {
        hz.push_str("down 300 IN A 127.0.0.35\n");
        hz.push_str(&tlsa_line("down", port, &ee("good")));
    }
    let mut w = World::new();
    w.zone("test.");
    w.zone("hosts.test.")
        .records(&hz)
        .fault(
            &format!("_{port}._tcp.bogustlsa"),
            RecordType::TLSA,
            Fault::TamperedRdata,
        )
        .fault("bogusaddr", RecordType::A, Fault::ExpiredSignature);
    // TLSA in an unsigned zone below a secure host: TLSA status Insecure.
    w.zone("_tcp.tinsec.hosts.test.").unsigned().records(
        &tlsa_line("tinsec.hosts.test.", port, &ee("tinsec")).replace(
            &format!("_{port}._tcp.tinsec.hosts.test."),
            &format!("_{port}"),
        ),
    );
    w.zone("plainhosts.test.").unsigned().records(&plain);
    let mut dom = String::new();
    let mut idom = String::new();
    for (domain, mxs) in MX {
        let (label, text) = if let Some(l) = domain.strip_suffix(".idom.test") {
            (l, &mut idom)
        } else if let Some(l) = domain.strip_suffix(".dom.test") {
            (l, &mut dom)
        } else {
            unreachable!("{domain}")
        };
        let labels =
            std::iter::once(label.to_string()).chain((1..=copies).map(|k| format!("c{k}-{label}")));
        for l in labels {
            for (i, mx) in mxs.iter().enumerate() {
                text.push_str(&format!("{l} 300 IN MX {} {mx}.\n", 10 * (i + 1)));
            }
        }
    }
    if copies > 0 {
        for l in
            std::iter::once("down".to_string()).chain((1..=copies).map(|k| format!("c{k}-down")))
        {
            dom.push_str(&format!("{l} 300 IN MX 10 down.hosts.test.\n"));
        }
    }
    let dz =
        w.zone("dom.test.")
            .records(&dom)
            .fault("bogusmx", RecordType::MX, Fault::TamperedRdata);
    for k in 1..=copies {
        dz.fault(
            &format!("c{k}-bogusmx"),
            RecordType::MX,
            Fault::TamperedRdata,
        );
    }
    w.zone("idom.test.").unsigned().records(&idom);
    let world = w.build();
    let dns = world.serve(ServerOptions {
        servfail: vec![
            ("sfa.hosts.test.".into(), RecordType::A),
            ("sfa.hosts.test.".into(), RecordType::AAAA),
        ],
        ..Default::default()
    });
    let mut sinks = Vec::new();
    for host in &hosts {
        let mut octets = vec![host.octet];
        if host.name == "twoaddr" {
            octets.push(34);
        }
        for o in octets {
            let addr = SocketAddr::new(IpAddr::from([127, 0, 0, o]), port);
            sinks.push(WorldSink {
                name: host.name,
                fqdn: host.fqdn(),
                addr,
                sink: SmtpSink::start(SinkOptions {
                    hostname: format!("{}.hosts.test", host.name),
                    tls: Some(host.chain.server_config(host.versions, host.presented)),
                    starttls: host.starttls,
                    bind: Some(addr),
                    ..SinkOptions::default()
                }),
                chain: host.chain.clone(),
            });
        }
    }
    MailWorld {
        anchor: world.trust_anchor_ds(),
        world,
        dns,
        anchor_file: OnceLock::new(),
        port,
        sinks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_row_and_scenario_domain_has_its_mx_published() {
        for d in TABLE_ROWS
            .iter()
            .map(|r| r.0)
            .chain(SCENARIOS.iter().map(|s| s.domain))
        {
            let implicit = d == "good.hosts.test" || d == "nothere.dom.test";
            assert_eq!(mx_hosts(d).is_empty(), implicit, "{d}");
        }
    }
}
