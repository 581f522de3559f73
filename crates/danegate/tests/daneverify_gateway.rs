//! `danegate daneverify --config FILE DOMAIN` against a running `danegate serve` (real
//! binary, signed DNS test world, STARTTLS sinks on 127.0.0.x): the check runs inside
//! the gateway, its DNS debug lines land in the gateway's Debug log subscription, and
//! its output and exit status equal those of a standalone run on the same world with
//! the same resolver and trust anchor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    io::{BufRead, BufReader},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{DnsServer, ServerOptions, SignedWorld, World},
    smtp::{SinkOptions, SmtpSink},
};
use hickory_proto::rr::RecordType;

const START_TIMEOUT: Duration = Duration::from_secs(90);

struct Net {
    _world: SignedWorld,
    dns: DnsServer,
    anchor: PathBuf,
    port: u16,
    _sinks: Vec<SmtpSink>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn net(dir: &Path) -> Net {
    let port = free_port();
    let good = TestChain::for_names(&["mx.good.test"]);
    let bad = TestChain::for_names(&["mx.bad.test"]);
    let spki_hash =
        |c: &TestChain| hex(ring::digest::digest(&ring::digest::SHA256, &c.leaf.spki_der).as_ref());
    let mut w = World::new();
    w.zone("test.");
    w.zone("good.test.").records(&format!(
        "@ MX 10 mx\nmx A 127.0.0.171\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
        spki_hash(&good)
    ));
    // The TLSA record names another key: DANE FAILED.
    w.zone("bad.test.").records(&format!(
        "@ MX 10 mx\nmx A 127.0.0.172\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
        spki_hash(&good)
    ));
    w.zone("plain.test.")
        .unsigned()
        .records("@ MX 10 mx\nmx A 127.0.0.173\n");
    w.zone("broken.test.")
        .records("@ MX 10 mx\nmx A 127.0.0.174\n");
    let world = w.build();
    let dns = world.serve(ServerOptions {
        servfail: vec![("broken.test.".into(), RecordType::MX)],
        ..Default::default()
    });
    let anchor = dir.join("anchor.ds");
    std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();
    let sink = |chain: &TestChain, o: u8| {
        SmtpSink::start(SinkOptions {
            tls: Some(chain.server_config(TlsVersions::Tls12Only, Presented::LeafAndIntermediate)),
            bind: Some(SocketAddr::new(IpAddr::from([127, 0, 0, o]), port)),
            ..SinkOptions::default()
        })
    };
    let sinks = vec![sink(&good, 171), sink(&bad, 172), sink(&good, 173)];
    Net {
        _world: world,
        dns,
        anchor,
        port,
        _sinks: sinks,
    }
}

fn config_text(n: &Net, data_dir: &Path, listen: u16) -> String {
    format!(
        r#"
[server]
hostname = "gw.test"
data_dir = "{data}"

[[listener]]
name = "outbound"
address = "127.0.0.1:{listen}"

[dns]
resolvers = [ {{ address = "{dns}", priority = 0 }} ]
trust_anchor_file = "{anchor}"
timeout_secs = 5

[[log]]
name = "mail_logs"
level = "info"

[[log]]
name = "mail_logs_d"
level = "debug"
"#,
        data = data_dir.display(),
        dns = n.dns.addr(),
        anchor = n.anchor.display(),
    )
}

/// A running `danegate serve`; killed on drop.
struct Serve {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(config: &Path, cwd: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_danegate"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn danegate serve");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let s = Serve { child, lines };
        let start = Instant::now();
        while !s
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Control socket"))
        {
            assert!(
                start.elapsed() < START_TIMEOUT,
                "timed out waiting for the control socket; stderr:\n{}",
                s.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `danegate daneverify ARGS` in `cwd`: (exit code, stdout, stderr).
fn daneverify(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
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

#[test]
fn daneverify_runs_inside_the_gateway_with_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let n = net(dir.path());
    let data = dir.path().join("data");
    let cfg = dir.path().join("danegate.toml");
    std::fs::write(&cfg, config_text(&n, &data, free_port())).unwrap();
    let serve = Serve::start(&cfg, dir.path());
    let port = n.port.to_string();
    let cfg_s = cfg.to_str().unwrap();
    let dns = n.dns.addr().to_string();
    let anchor = n.anchor.to_str().unwrap();
    let cases: [(&[&str], i32); 6] = [
        (&["good.test"], 0),
        (&["--json", "good.test"], 0),
        (&["bad.test"], 1),
        (&["--mode", "opportunistic", "plain.test"], 3),
        (&["broken.test"], 75),
        (&["bad..name"], 64),
    ];
    for (extra, code) in cases {
        let common = ["--port", port.as_str(), "--timeout", "5"];
        let mut standalone: Vec<&str> = vec!["--resolver", &dns, "--trust-anchor", anchor];
        standalone.extend(common);
        standalone.extend(extra);
        let (s_code, s_out, s_err) = daneverify(dir.path(), &standalone);
        let mut inside: Vec<&str> = vec!["--config", cfg_s];
        inside.extend(common);
        inside.extend(extra);
        let (g_code, g_out, g_err) = daneverify(dir.path(), &inside);
        assert_eq!(s_code, Some(code), "standalone {extra:?}: {s_out}{s_err}");
        assert_eq!(
            g_code,
            Some(code),
            "in the gateway {extra:?}: {g_out}{g_err}"
        );
        assert_eq!(
            g_out, s_out,
            "output of {extra:?} in the gateway vs standalone"
        );
    }
    // The same check naming the gateway by its data directory.
    let (code, out, err) = daneverify(
        dir.path(),
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--port",
            &port,
            "good.test",
        ],
    );
    assert_eq!(code, Some(0), "--data-dir: {out}{err}");

    // The gateway's Debug subscription received the DNS lines in the appliance format;
    // the Info one did not.
    let debug_log = data.join("logs").join("mail_logs_d");
    let info_log = data.join("logs").join("mail_logs");
    let want_mx = "Debug: DNS query: Q('good.test', 'MX')";
    let want_tlsa = format!("Debug: DNS query: Q('_{port}._tcp.mx.good.test', 'TLSA')");
    let start = Instant::now();
    loop {
        let d = std::fs::read_to_string(&debug_log).unwrap_or_default();
        if d.contains(want_mx) && d.contains(&want_tlsa) && d.contains("DANE SUCCESS for good.test")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no DNS debug lines in {}:\n{d}\nserve stderr:\n{}",
            debug_log.display(),
            serve.lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let info = std::fs::read_to_string(&info_log).unwrap_or_default();
    assert!(!info.contains("DNS query"), "{info}");
    drop(serve);

    // No gateway any more: the same command runs in this process (and, without resolver
    // flags, cannot see the test world, so it does not succeed).
    let (code, out, err) = daneverify(
        dir.path(),
        &[
            "--config",
            cfg_s,
            "--port",
            &port,
            "--timeout",
            "2",
            "good.test",
        ],
    );
    assert_ne!(code, Some(0), "{out}{err}");
    assert!(!err.contains("control socket"), "{err}");
}
