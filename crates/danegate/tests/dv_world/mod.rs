//! The small world both daneverify tests check against: good.test (DANE-EE matches),
//! bad.test (the TLSA record names another key: DANE FAILED), plain.test (unsigned),
//! broken.test (its MX query gets SERVFAIL), each MX a STARTTLS sink (TLS 1.2) on its
//! own 127.0.0.x address and a free port.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{DnsServer, ServerOptions, SignedWorld, World},
    host::free_port,
    smtp::{SinkOptions, SmtpSink},
};
use hickory_proto::rr::RecordType;

pub struct DvWorld {
    _world: SignedWorld,
    pub dns: DnsServer,
    /// The trust anchor file (DS).
    pub anchor: PathBuf,
    /// The SMTP port of every MX.
    pub port: u16,
    _sinks: Vec<SmtpSink>,
}

impl DvWorld {
    /// The MX hosts of good, bad, plain and broken.test are 127.0.0.`first` and the
    /// three addresses after it; the trust anchor is written to `anchor`.
    pub fn build(first: u8, anchor: PathBuf) -> Self {
        let port = free_port();
        let good = TestChain::for_names(&["mx.good.test"]);
        let bad = TestChain::for_names(&["mx.bad.test"]);
        let spki_hash = |c: &TestChain| c.leaf.tlsa_hex(1, 1);
        let [o_good, o_bad, o_plain, o_broken] = [first, first + 1, first + 2, first + 3];
        let mut w = World::new();
        w.zone("test.");
        w.zone("good.test.").records(&format!(
            "@ MX 10 mx\nmx A 127.0.0.{o_good}\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
            spki_hash(&good)
        ));
        w.zone("bad.test.").records(&format!(
            "@ MX 10 mx\nmx A 127.0.0.{o_bad}\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
            spki_hash(&good)
        ));
        w.zone("plain.test.")
            .unsigned()
            .records(&format!("@ MX 10 mx\nmx A 127.0.0.{o_plain}\n"));
        w.zone("broken.test.")
            .records(&format!("@ MX 10 mx\nmx A 127.0.0.{o_broken}\n"));
        let world = w.build();
        let dns = world.serve(ServerOptions {
            servfail: vec![("broken.test.".into(), RecordType::MX)],
            ..Default::default()
        });
        std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();
        let sink = |chain: &TestChain, o: u8| {
            SmtpSink::start(SinkOptions {
                tls: Some(
                    chain.server_config(TlsVersions::Tls12Only, Presented::LeafAndIntermediate),
                ),
                bind: Some(SocketAddr::new(IpAddr::from([127, 0, 0, o]), port)),
                ..SinkOptions::default()
            })
        };
        let sinks = vec![sink(&good, o_good), sink(&bad, o_bad), sink(&good, o_plain)];
        DvWorld {
            _world: world,
            dns,
            anchor,
            port,
            _sinks: sinks,
        }
    }
}

/// `danegate daneverify ARGS` in `cwd`, standard input empty: (exit code, stdout,
/// stderr).
pub fn daneverify(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("daneverify")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
