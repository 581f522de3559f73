//! The MTA-STS world (RFC 8461): a DNS world (built with [`crate::dns::World`]) with
//! mail domains that publish `_mta-sts` TXT records, their HTTPS policy hosts
//! ([`crate::https::HttpsServer`], certificates from one test CA the gateway is told
//! to trust through a CA file), and STARTTLS MX hosts ([`crate::smtp::SmtpSink`]) whose
//! certificates are valid, self-signed, expired or for the wrong name.
//!
//! Zones: `sts.test.` (unsigned: the mail domains, their TXT records and policy
//! hosts), `stshosts.test.` (unsigned: the MX hosts, so DANE never applies to them) and
//! `sdane.test.` (signed: one domain whose MX host has a secure TLSA record that does
//! not match its — PKIX-valid — certificate). Every MX host listens on its own
//! 127.0.0.x (40–49) on [`StsWorld::smtp_port`]; every policy host on its own
//! 127.0.0.x (60 and up) on [`StsWorld::https_port`].
//!
//! | domain | MX host | TXT | policy host answers |
//! |---|---|---|---|
//! | `enforce.sts.test` | `mx-good` (valid) | id 1 | enforce, mx `mx-good.stshosts.test` |
//! | `wild.sts.test` | `mx-good` | id 1 | enforce, mx `*.stshosts.test` |
//! | `selfsigned.sts.test` | `mx-selfsigned` | id 1 | enforce |
//! | `expired.sts.test` | `mx-expired` | id 1 | enforce |
//! | `wrongname.sts.test` | `mx-wrongname` (names `other.stshosts.test`) | id 1 | enforce |
//! | `nostarttls.sts.test` | `mx-nostarttls` | id 1 | enforce |
//! | `notinpolicy.sts.test` | `mx-good` | id 1 | enforce, mx `elsewhere.stshosts.test` |
//! | `testing.sts.test` | `mx-selfsigned` | id 1 | testing |
//! | `badcert.sts.test` | `mx-selfsigned` | id 1 | enforce, but from a self-signed HTTPS certificate |
//! | `notfound.sts.test` | `mx-selfsigned` | id 1 | 404 |
//! | `redirect.sts.test` | `mx-selfsigned` | id 1 | 301 to `enforce`'s policy |
//! | `invalid.sts.test` | `mx-selfsigned` | id 1 | `mode: strict` (invalid) |
//! | `notxt.sts.test` | `mx-selfsigned` | none | enforce |
//! | `cached.sts.test` | `mx-good` | id 1 (SERVFAIL on demand) | enforce (changeable) |
//! | `dane.sdane.test` | `mx.sdane.test` (TLSA mismatch, PKIX valid) | id 1 | enforce |
//!
//! TLS-RPT (`_smtp._tls` TXT): `enforce` `rua=mailto:tlsrpt@enforce.sts.test`, `testing`
//! `rua=https://reports.sts.test/v1`, `invalid` an `ftp:` rua (invalid); others none.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::certs::{
    KeyKind, LeafSpec, Presented, TestChain, TestIssuer, TestKey, TlsVersions, Validity,
    self_signed_leaf,
};
use crate::dns::{DnsServer, Rewrite, ServerOptions, World};
use crate::host::free_port;
use crate::https::{HttpsServer, HttpsServerOptions, Route};
use crate::smtp::{SinkOptions, SmtpSink, StartTlsMode};

/// The well-known path of the policy file.
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// A policy file text.
pub fn policy_text(mode: &str, mx: &[&str], max_age: u64) -> String {
    let mut s = format!("version: STSv1\r\nmode: {mode}\r\n");
    for m in mx {
        s += &format!("mx: {m}\r\n");
    }
    s + &format!("max_age: {max_age}\r\n")
}

/// One MX host of the world.
pub struct StsHost {
    /// Its name, e.g. `mx-good.stshosts.test`.
    pub fqdn: String,
    /// Its address.
    pub addr: SocketAddr,
    /// The SMTP server.
    pub sink: SmtpSink,
}

/// One mail domain's policy host.
pub struct PolicyHost {
    /// The mail domain, e.g. `enforce.sts.test`.
    pub domain: String,
    /// The HTTPS server of `mta-sts.<domain>`.
    pub server: HttpsServer,
}

/// The running MTA-STS world.
pub struct StsWorld {
    dns: DnsServer,
    anchor: String,
    smtp_port: u16,
    https_port: u16,
    ca_pem: String,
    hosts: Vec<StsHost>,
    policies: Vec<PolicyHost>,
    txt_servfail: Arc<AtomicBool>,
}

fn pem(der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s += std::str::from_utf8(chunk).expect("base64 is ASCII");
        s.push('\n');
    }
    s + "-----END CERTIFICATE-----\n"
}

struct HostSpec {
    label: &'static str,
    octet: u8,
    cert: CertKind,
    starttls: StartTlsMode,
}

enum CertKind {
    Valid,
    SelfSigned,
    Expired,
    WrongName,
}

/// (label, MX host fqdn, TXT published, route)
type DomainSpec = (&'static str, &'static str, bool, Route);

impl StsWorld {
    /// Builds and starts the world.
    ///
    /// # Panics
    /// If an address cannot be bound.
    pub fn start() -> StsWorld {
        let smtp_port = free_port();
        let https_port = free_port();
        let ca = TestIssuer::root("danegate sts test CA", KeyKind::EcdsaP256, Validity::Valid);
        let key = TestKey::default();
        let leaf = |name: &str, validity: Validity| {
            let cert = ca.issue_leaf(&LeafSpec::for_names(&[name]).with_validity(validity), &key);
            TestChain {
                ca: Some(ca.cert.clone()),
                intermediate: None,
                leaf: cert,
            }
        };
        let specs = [
            HostSpec {
                label: "mx-good",
                octet: 40,
                cert: CertKind::Valid,
                starttls: StartTlsMode::Offer,
            },
            HostSpec {
                label: "mx-selfsigned",
                octet: 41,
                cert: CertKind::SelfSigned,
                starttls: StartTlsMode::Offer,
            },
            HostSpec {
                label: "mx-expired",
                octet: 42,
                cert: CertKind::Expired,
                starttls: StartTlsMode::Offer,
            },
            HostSpec {
                label: "mx-wrongname",
                octet: 43,
                cert: CertKind::WrongName,
                starttls: StartTlsMode::Offer,
            },
            HostSpec {
                label: "mx-nostarttls",
                octet: 44,
                cert: CertKind::Valid,
                starttls: StartTlsMode::NotOffered,
            },
        ];
        let mut hosts_zone = String::new();
        let mut hosts = Vec::new();
        for s in &specs {
            let fqdn = format!("{}.stshosts.test", s.label);
            let chain = match s.cert {
                CertKind::Valid => leaf(&fqdn, Validity::Valid),
                CertKind::Expired => leaf(&fqdn, Validity::Expired),
                CertKind::WrongName => leaf("other.stshosts.test", Validity::Valid),
                CertKind::SelfSigned => TestChain {
                    ca: None,
                    intermediate: None,
                    leaf: self_signed_leaf(&LeafSpec::for_names(&[fqdn.as_str()]), &key),
                },
            };
            hosts_zone += &format!("{} 300 IN A 127.0.0.{}\n", s.label, s.octet);
            let addr = SocketAddr::new(IpAddr::from([127, 0, 0, s.octet]), smtp_port);
            hosts.push(StsHost {
                sink: SmtpSink::start(SinkOptions {
                    hostname: fqdn.clone(),
                    tls: Some(chain.server_config(TlsVersions::Both, Presented::Full)),
                    starttls: s.starttls,
                    bind: Some(addr),
                    ..SinkOptions::default()
                }),
                fqdn,
                addr,
            });
        }
        // The DANE host: PKIX-valid certificate, TLSA for another key.
        let dane_chain = leaf("mx.sdane.test", Validity::Valid);
        let other = TestKey::default();
        let other_cert = ca.issue_leaf(&LeafSpec::for_names(&["mx.sdane.test"]), &other);
        let dane_addr = SocketAddr::new(IpAddr::from([127, 0, 0, 49]), smtp_port);
        hosts.push(StsHost {
            sink: SmtpSink::start(SinkOptions {
                hostname: "mx.sdane.test".into(),
                tls: Some(dane_chain.server_config(TlsVersions::Both, Presented::Full)),
                bind: Some(dane_addr),
                ..SinkOptions::default()
            }),
            fqdn: "mx.sdane.test".into(),
            addr: dane_addr,
        });

        let enforce = |mx: &str| Route::text(&policy_text("enforce", &[mx], 86_400));
        let domains: Vec<DomainSpec> = vec![
            ("enforce", "mx-good", true, enforce("mx-good.stshosts.test")),
            ("wild", "mx-good", true, enforce("*.stshosts.test")),
            (
                "selfsigned",
                "mx-selfsigned",
                true,
                enforce("mx-selfsigned.stshosts.test"),
            ),
            (
                "expired",
                "mx-expired",
                true,
                enforce("mx-expired.stshosts.test"),
            ),
            (
                "wrongname",
                "mx-wrongname",
                true,
                enforce("mx-wrongname.stshosts.test"),
            ),
            (
                "nostarttls",
                "mx-nostarttls",
                true,
                enforce("mx-nostarttls.stshosts.test"),
            ),
            (
                "notinpolicy",
                "mx-good",
                true,
                enforce("elsewhere.stshosts.test"),
            ),
            (
                "testing",
                "mx-selfsigned",
                true,
                Route::text(&policy_text(
                    "testing",
                    &["mx-selfsigned.stshosts.test"],
                    86_400,
                )),
            ),
            (
                "badcert",
                "mx-selfsigned",
                true,
                enforce("mx-selfsigned.stshosts.test"),
            ),
            ("notfound", "mx-selfsigned", true, Route::status(404)),
            (
                "redirect",
                "mx-selfsigned",
                true,
                Route::redirect(
                    301,
                    "https://mta-sts.enforce.sts.test/.well-known/mta-sts.txt",
                ),
            ),
            (
                "invalid",
                "mx-selfsigned",
                true,
                Route::text(
                    "version: STSv1\r\nmode: strict\r\nmx: mx-selfsigned.stshosts.test\r\nmax_age: 86400\r\n",
                ),
            ),
            (
                "notxt",
                "mx-selfsigned",
                false,
                enforce("mx-selfsigned.stshosts.test"),
            ),
            ("cached", "mx-good", true, enforce("mx-good.stshosts.test")),
        ];
        let mut sts_zone = String::new();
        let mut policies = Vec::new();
        let mut serve_policy = |domain: String, octet: u8, route: Route, self_signed: bool| {
            let host = format!("mta-sts.{domain}");
            let chain = if self_signed {
                TestChain {
                    ca: None,
                    intermediate: None,
                    leaf: self_signed_leaf(&LeafSpec::for_names(&[host.as_str()]), &key),
                }
            } else {
                leaf(&host, Validity::Valid)
            };
            let mut o =
                HttpsServerOptions::new(chain.server_config(TlsVersions::Both, Presented::Full));
            o.bind = Some(SocketAddr::new(
                IpAddr::from([127, 0, 0, octet]),
                https_port,
            ));
            o.routes.push((POLICY_PATH.to_string(), route));
            policies.push(PolicyHost {
                domain,
                server: HttpsServer::start(o),
            });
        };
        for (i, (label, mx, txt, route)) in domains.into_iter().enumerate() {
            let octet = 60 + u8::try_from(i).expect("few domains");
            sts_zone += &format!("{label} 300 IN MX 10 {mx}.stshosts.test.\n");
            if txt {
                sts_zone += &format!("_mta-sts.{label} 300 IN TXT \"v=STSv1; id=1;\"\n");
            }
            sts_zone += &format!("mta-sts.{label} 300 IN A 127.0.0.{octet}\n");
            serve_policy(
                format!("{label}.sts.test"),
                octet,
                route,
                label == "badcert",
            );
        }
        // TLS-RPT records (RFC 8460 §3): a mailto and an https destination, an invalid
        // record; the other domains have none.
        sts_zone += "_smtp._tls.enforce 300 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@enforce.sts.test\"\n\
             _smtp._tls.testing 300 IN TXT \"v=TLSRPTv1; rua=https://reports.sts.test/v1\"\n\
             _smtp._tls.invalid 300 IN TXT \"v=TLSRPTv1; rua=ftp://reports.sts.test/\"\n";
        let dane_octet = 90;
        let tlsa = other_cert.tlsa_hex(1, 1);
        let sdane_zone = format!(
            "mx 300 IN A 127.0.0.49\n\
             _{smtp_port}._tcp.mx 300 IN TLSA 3 1 1 {tlsa}\n\
             dane 300 IN MX 10 mx.sdane.test.\n\
             _mta-sts.dane 300 IN TXT \"v=STSv1; id=1;\"\n\
             mta-sts.dane 300 IN A 127.0.0.{dane_octet}\n"
        );
        serve_policy(
            "dane.sdane.test".into(),
            dane_octet,
            enforce("mx.sdane.test"),
            false,
        );

        let mut w = World::new();
        w.zone("test.");
        w.zone("stshosts.test.").unsigned().records(&hosts_zone);
        w.zone("sts.test.").unsigned().records(&sts_zone);
        w.zone("sdane.test.").records(&sdane_zone);
        let world = w.build();
        let txt_servfail = Arc::new(AtomicBool::new(false));
        let flag = txt_servfail.clone();
        let dns = world.serve(ServerOptions {
            rewrite: Some(Rewrite::new(move |qname, qtype, msg| {
                if flag.load(Ordering::SeqCst)
                    && qtype == RecordType::TXT
                    && qname
                        .to_string()
                        .eq_ignore_ascii_case("_mta-sts.cached.sts.test.")
                {
                    msg.metadata.response_code = ResponseCode::ServFail;
                    msg.answers.clear();
                    msg.authorities.clear();
                }
            })),
            ..ServerOptions::default()
        });
        StsWorld {
            anchor: world.trust_anchor_ds(),
            dns,
            smtp_port,
            https_port,
            ca_pem: pem(&ca.cert.der),
            hosts,
            policies,
            txt_servfail,
        }
    }

    /// The DNS server address.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The root trust anchor (DS line).
    pub fn anchor_ds(&self) -> &str {
        &self.anchor
    }

    /// Writes the trust anchor to `path`.
    pub fn write_anchor(&self, path: &Path) {
        std::fs::write(path, &self.anchor).expect("write anchor");
    }

    /// Writes the test CA (PEM) to `path`: the CA file the gateway is told to trust.
    pub fn write_ca(&self, path: &Path) {
        std::fs::write(path, &self.ca_pem).expect("write CA file");
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The SMTP port of every MX host.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// The HTTPS port of every policy host.
    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// The MX host by label (`mx-good`) or name.
    ///
    /// # Panics
    /// If there is none.
    pub fn host(&self, name: &str) -> &StsHost {
        self.hosts
            .iter()
            .find(|h| h.fqdn == name || h.fqdn.split('.').next() == Some(name))
            .unwrap_or_else(|| panic!("no MX host {name} in the STS world"))
    }

    /// The policy host of a mail domain.
    ///
    /// # Panics
    /// If there is none.
    pub fn policy_host(&self, domain: &str) -> &HttpsServer {
        &self
            .policies
            .iter()
            .find(|p| p.domain == domain)
            .unwrap_or_else(|| panic!("no policy host for {domain}"))
            .server
    }

    /// Makes the TXT lookup of `_mta-sts.cached.sts.test` SERVFAIL (true) or answer.
    pub fn fail_cached_txt(&self, fail: bool) {
        self.txt_servfail.store(fail, Ordering::SeqCst);
    }

    /// A temporary directory path helper: `<dir>/anchor.ds` and `<dir>/ca.pem`
    /// written, returned in that order.
    pub fn write_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let a = dir.join("anchor.ds");
        let c = dir.join("ca.pem");
        self.write_anchor(&a);
        self.write_ca(&c);
        (a, c)
    }
}
