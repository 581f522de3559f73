//! The admin CLI against a running `danegate serve` (real binary, signed DNS test world,
//! SMTP sinks on 127.0.0.x), over the control socket:
//!
//! * `destconfig add` DANE Mandatory for a domain whose TLSA does not match → the next
//!   message stays queued with DANE FAILED (`hoststatus`); `destconfig edit --dane none`
//!   + `queue delivernow` → delivered; the file on disk holds the change;
//! * `destconfig add --max-concurrent-connections 1001` → exit 2 naming field and range;
//! * `queue list/show/bounce/delete`, `tophosts`, `dnsconfig show --json`,
//!   `smtproutes set/list/delete`, `commit` through the socket, `tail --file`;
//! * no gateway → exit 75.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{DnsServer, ServerOptions, SignedWorld, World},
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
    smtp::{SinkOptions, SmtpSink},
};
use serde_json::Value;

const START_TIMEOUT: Duration = Duration::from_secs(90);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// mx.adm.test: signed zone, TLSA names a key the MX does not present.
const ADM_MX: [u8; 4] = [127, 0, 0, 141];
/// mx.plain.test: unsigned, nobody listens (mail stays queued).
const PLAIN_MX: [u8; 4] = [127, 0, 0, 142];

struct Net {
    _world: SignedWorld,
    dns: DnsServer,
    _dir: tempfile::TempDir,
    anchor: PathBuf,
    smtp_port: u16,
    adm_chain: TestChain,
}

fn ip(a: [u8; 4]) -> String {
    IpAddr::from(a).to_string()
}

fn net() -> Net {
    let smtp_port = free_port();
    let adm_chain = TestChain::for_names(&["mx.adm.test"]);
    let other = TestChain::for_names(&["other.example"]);
    let spki = other.leaf.tlsa_hex(1, 1);
    let mut w = World::new();
    w.zone("test.");
    w.zone("adm.test.").records(&format!(
        "@ MX 10 mx\nmx A {}\n_{smtp_port}._tcp.mx TLSA 3 1 1 {spki}\n",
        ip(ADM_MX)
    ));
    w.zone("plain.test.")
        .unsigned()
        .records(&format!("@ MX 10 mx\nmx A {}\n", ip(PLAIN_MX)));
    let world = w.build();
    let dns = world.serve(ServerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("anchor.key");
    std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();
    Net {
        _world: world,
        dns,
        _dir: dir,
        anchor,
        smtp_port,
        adm_chain,
    }
}

/// Default profile TLS Preferred, DANE None: only a profile added by the CLI asks for DANE.
fn config_text(n: &Net, data_dir: &Path, port: u16) -> String {
    GatewayToml {
        listen_port: port,
        dane: "none",
        retry_secs: (1, 2),
        bounce_extra: "max_retries = 10000".into(),
        ..GatewayToml::new(data_dir, n.dns.addr(), &n.anchor)
    }
    .render()
}

/// `danegate serve` of this crate (testkit's process guard).
struct Serve;

impl Serve {
    /// Starts it and waits for its control socket.
    fn start(config: &Path, cwd: &Path, smtp_port: u16) -> ServeProcess {
        let bin = env!("CARGO_BIN_EXE_danegate");
        let mut s = ServeProcess::start(bin, config, smtp_port, cwd, START_TIMEOUT);
        s.wait_line("the control socket", START_TIMEOUT, |l| {
            l.contains("Control socket")
        });
        s
    }
}

/// `danegate --config CFG ARGS`: (exit code, stdout, stderr).
fn cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; its stdout.
fn ok(cfg: &Path, args: &[&str]) -> String {
    let (code, out, err) = cli(cfg, args);
    assert_eq!(code, 0, "danegate {args:?} failed: {out}{err}");
    out
}

/// Runs a `--json` command that must succeed; its JSON.
fn json(cfg: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = ok(cfg, &a);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn poll(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn submit(port: u16, to: &str, subject: &str) {
    let mut c = SmtpClient::connect(
        SocketAddr::from(([127, 0, 0, 1], port)),
        None,
        Timeouts::uniform(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let body = format!(
        "From: <alice@sender.test>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nHello.\r\n"
    );
    let d = c
        .send("alice@sender.test", &[to], body.as_bytes())
        .await
        .unwrap();
    assert!(d.all_delivered(), "not accepted: {d:?}");
    let _ = c.quit().await;
}

/// The queued recipients of a domain (JSON `queue list DOMAIN`).
fn queued(cfg: &Path, domain: &str) -> Vec<Value> {
    json(cfg, &["queue", "list", domain])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_against_a_running_gateway() {
    let n = net();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("danegate.toml");
    let data = dir.path().join("data");
    std::fs::write(&cfg, config_text(&n, &data, port)).unwrap();

    // No gateway yet: exit 75 with a clear message.
    let (code, _, err) = cli(&cfg, &["destconfig", "list"]);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("no running gateway"), "{err}");

    let sink = SmtpSink::start(SinkOptions {
        tls: Some(
            n.adm_chain
                .server_config(TlsVersions::Both, Presented::LeafAndIntermediate),
        ),
        bind: Some(SocketAddr::new(IpAddr::from(ADM_MX), n.smtp_port)),
        ..SinkOptions::default()
    });
    let mut gw = Serve::start(&cfg, dir.path(), n.smtp_port);

    // The control socket is private.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("control.sock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // --- destconfig add: out of range → exit 2 naming field, value and range.
    let (code, out, err) = cli(
        &cfg,
        &[
            "destconfig",
            "add",
            "adm.test",
            "--max-concurrent-connections",
            "1001",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("max_concurrent_connections"), "{err}");
    assert!(err.contains("1001") && err.contains("1000"), "{err}");
    assert!(!std::fs::read_to_string(&cfg).unwrap().contains("adm.test"));

    // --- destconfig add: DANE Mandatory for adm.test (TLSA does not match).
    let out = ok(
        &cfg,
        &[
            "destconfig",
            "add",
            "adm.test",
            "--tls",
            "required",
            "--dane",
            "mandatory",
            "--max-concurrent-connections",
            "10",
        ],
    );
    assert!(out.contains("adm.test"), "{out}");
    let file = std::fs::read_to_string(&cfg).unwrap();
    assert!(file.contains("domain = \"adm.test\""), "{file}");
    assert!(file.contains("dane = \"mandatory\""), "{file}");
    assert!(file.contains("max_concurrent_connections = 10"), "{file}");
    let list = ok(&cfg, &["destconfig", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("adm.test") && l.contains("mandatory")),
        "{list}"
    );
    let show = json(&cfg, &["destconfig", "show", "adm.test"]);
    assert_eq!(show["dane"], "mandatory");
    assert_eq!(show["max_concurrent_connections"], 10);
    let (code, _, _) = cli(&cfg, &["destconfig", "show", "nope.test"]);
    assert_eq!(code, 1);

    // --- MTA-STS: --mta-sts on|off.
    ok(&cfg, &["destconfig", "add", "sts.test", "--mta-sts", "off"]);
    let file = std::fs::read_to_string(&cfg).unwrap();
    assert!(file.contains("mta_sts = \"off\""), "{file}");
    let show = json(&cfg, &["destconfig", "show", "sts.test"]);
    assert_eq!(show["mta_sts"], "off");
    let human = ok(&cfg, &["destconfig", "show", "sts.test"]);
    assert!(human.contains("MTA-STS"), "{human}");

    // --- Bounce Verification address tagging: --bounce-verification yes|no.
    ok(
        &cfg,
        &[
            "destconfig",
            "add",
            "bv.test",
            "--bounce-verification",
            "yes",
        ],
    );
    let file = std::fs::read_to_string(&cfg).unwrap();
    assert!(file.contains("bounce_verification = true"), "{file}");
    let show = json(&cfg, &["destconfig", "show", "bv.test"]);
    assert_eq!(show["bounce_verification"], true);
    let human = ok(&cfg, &["destconfig", "show", "bv.test"]);
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("Bounce Verification") && l.contains("Yes")),
        "{human}"
    );
    ok(
        &cfg,
        &[
            "destconfig",
            "edit",
            "bv.test",
            "--bounce-verification",
            "no",
        ],
    );
    let show = json(&cfg, &["destconfig", "show", "bv.test"]);
    assert_eq!(show["bounce_verification"], false);
    let (code, out, err) = cli(
        &cfg,
        &[
            "destconfig",
            "edit",
            "bv.test",
            "--bounce-verification",
            "maybe",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("bounce_verification"), "{err}");

    // The next message to adm.test stays queued with DANE FAILED.
    submit(port, "bob@adm.test", "dane-one").await;
    poll("DANE FAILED for adm.test", DELIVERY_TIMEOUT, || {
        let h = json(&cfg, &["hoststatus", "adm.test"]);
        h["counts"]["last"]["dane"] == "DANE FAILED"
    });
    assert!(
        sink.messages().is_empty(),
        "delivered despite DANE Mandatory"
    );
    let h = json(&cfg, &["hoststatus", "adm.test"]);
    assert_eq!(h["profile"]["domain"], "adm.test");
    assert_eq!(h["profile"]["dane"], "mandatory");
    assert_eq!(h["queued"].as_array().map(Vec::len), Some(1), "{h}");
    let human = ok(&cfg, &["hoststatus", "adm.test"]);
    assert!(human.contains("DANE FAILED"), "{human}");
    assert!(human.contains("bob@adm.test"), "{human}");

    // --- destconfig edit → DANE None; delivernow → delivered.
    ok(&cfg, &["destconfig", "edit", "adm.test", "--dane", "none"]);
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("dane = \"none\"")
    );
    let out = ok(&cfg, &["queue", "delivernow", "adm.test"]);
    assert!(out.contains("adm.test"), "{out}");
    poll("delivery to adm.test", DELIVERY_TIMEOUT, || {
        !sink.messages().is_empty()
    });
    poll("adm.test queue empty", DELIVERY_TIMEOUT, || {
        queued(&cfg, "adm.test").is_empty()
    });

    // --- queue list / show / bounce / delete on plain.test (nobody listens there).
    submit(port, "carol@plain.test", "plain-one").await;
    submit(port, "dave@plain.test", "plain-two").await;
    poll("two queued for plain.test", DELIVERY_TIMEOUT, || {
        queued(&cfg, "plain.test").len() == 2
    });
    let q = queued(&cfg, "plain.test");
    let mid1 = q[0]["mid"].as_u64().unwrap();
    let mid2 = q[1]["mid"].as_u64().unwrap();
    // The node holding each message: the embedded queue is one node, named after the
    // host name's first label (gw.test: "gw").
    assert!(q.iter().all(|r| r["node"] == "gw"), "{q:?}");
    let table = ok(&cfg, &["queue", "list"]);
    assert!(table.starts_with("MID"), "{table}");
    assert!(table.contains("carol@plain.test"), "{table}");
    let head: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        [
            "MID",
            "RID",
            "RECIPIENT",
            "SENDER",
            "ATTEMPTS",
            "NEXT",
            "ATTEMPT",
            "NODE",
            "LAST",
            "REASON"
        ],
        "{table}"
    );
    let m = json(&cfg, &["queue", "show", &mid1.to_string()]);
    assert_eq!(m["subject"], "plain-one");
    assert_eq!(m["node"], "gw");
    assert_eq!(m["recipients"][0]["address"], "carol@plain.test");
    assert_eq!(m["recipients"][0]["state"], "queued");
    assert_eq!(m["recipients"][0]["node"], "gw");
    let human = ok(&cfg, &["queue", "show", &mid1.to_string()]);
    assert!(human.contains("plain-one"), "{human}");
    assert!(
        human
            .lines()
            .any(|l| l.split_whitespace().eq(["Node", "gw"])),
        "{human}"
    );

    // tophosts: plain.test has the most active recipients.
    let top = json(&cfg, &["tophosts", "5"]);
    assert_eq!(top[0]["domain"], "plain.test", "{top}");
    assert_eq!(
        top[0]["active"].as_u64().unwrap() + top[0]["in_flight"].as_u64().unwrap(),
        2
    );
    let top = ok(&cfg, &["tophosts"]);
    assert!(top.starts_with("DOMAIN"), "{top}");

    // bounce: the recipient becomes bounced and a DSN to the sender is queued.
    let out = ok(&cfg, &["queue", "bounce", &mid1.to_string()]);
    assert!(out.contains("1 recipient"), "{out}");
    let m = json(&cfg, &["queue", "show", &mid1.to_string()]);
    assert_eq!(m["recipients"][0]["state"], "bounced", "{m}");
    let dsn_line = format!("generated DSN for MID {mid1}");
    gw.wait_line("the DSN", START_TIMEOUT, |l| l.contains(&dsn_line));
    let (code, _, _) = cli(&cfg, &["queue", "bounce", &mid1.to_string()]);
    assert_eq!(code, 1, "nothing left to bounce");

    // delete.
    let out = ok(&cfg, &["queue", "delete", &mid2.to_string()]);
    assert!(out.contains("deleted"), "{out}");
    assert!(queued(&cfg, "plain.test").is_empty());
    let (code, _, _) = cli(&cfg, &["queue", "show", &mid2.to_string()]);
    assert_eq!(code, 1);
    let (code, _, _) = cli(&cfg, &["queue", "delete", &mid2.to_string()]);
    assert_eq!(code, 1);

    // --- dnsconfig show --json: the upstream, probed, with capability "dnssec".
    let d = json(&cfg, &["dnsconfig", "show"]);
    assert_eq!(
        d["upstreams"][0]["address"],
        n.dns.addr().to_string(),
        "{d}"
    );
    assert_eq!(d["upstreams"][0]["capability"], "dnssec", "{d}");
    assert!(
        d["anchors"][0]["rfc5011"]
            .as_str()
            .unwrap()
            .contains("no RFC 5011 tracking")
    );
    let human = ok(&cfg, &["dnsconfig", "show"]);
    assert!(
        human.contains("DNSSEC PROBE") && human.contains("dnssec"),
        "{human}"
    );

    // --- dnsconfig set: validated, persisted, applied; a bad line is named.
    let resolver = format!("{} 3", n.dns.addr());
    let out = ok(
        &cfg,
        &[
            "dnsconfig",
            "set",
            "--resolver",
            &resolver,
            "--timeout",
            "3",
        ],
    );
    assert!(out.contains("committed"), "{out}");
    let file = std::fs::read_to_string(&cfg).unwrap();
    assert!(file.contains("timeout_secs = 3"), "{file}");
    let d = json(&cfg, &["dnsconfig", "show"]);
    assert_eq!(d["upstreams"][0]["priority"], 3, "{d}");
    assert_eq!(d["timeout_secs"], 3, "{d}");
    let (code, out, err) = cli(
        &cfg,
        &[
            "dnsconfig",
            "set",
            "--resolver",
            &resolver,
            "--resolver",
            "nope 1",
        ],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(format!("{out}{err}").contains("line 2"), "{out}{err}");
    let (code, _, _) = cli(&cfg, &["dnsconfig", "set", "--timeout", "3"]);
    assert_ne!(code, 0, "a resolver or --resolv-conf is required");

    // --- smtproutes set / list / delete.
    ok(
        &cfg,
        &[
            "smtproutes",
            "set",
            "route.test",
            "127.0.0.143:2526",
            "mx2.route.test",
        ],
    );
    let r = json(&cfg, &["smtproutes", "list"]);
    assert_eq!(r[0]["domain"], "route.test");
    assert_eq!(r[0]["hosts"][0], "127.0.0.143:2526");
    assert_eq!(r[0]["hosts"][1], "mx2.route.test");
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("[[smtp_route]]")
    );
    let (code, _, err) = cli(&cfg, &["smtproutes", "set", "route.test", "bad host!"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hosts"), "{err}");
    ok(&cfg, &["smtproutes", "delete", "route.test"]);
    assert_eq!(json(&cfg, &["smtproutes", "list"]), serde_json::json!([]));
    let (code, _, _) = cli(&cfg, &["smtproutes", "delete", "route.test"]);
    assert_eq!(code, 1);

    // --- destconfig delete.
    ok(&cfg, &["destconfig", "delete", "adm.test"]);
    assert!(!std::fs::read_to_string(&cfg).unwrap().contains("adm.test"));

    // --- commit through the socket: a hand edit of the file is applied.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[[destination]]\ndomain = \"hand.test\"\ntls = \"required\"\n");
    std::fs::write(&cfg, &text).unwrap();
    let (code, out, err) = cli(&cfg, &["commit", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("committed"), "{out}");
    let show = json(&cfg, &["destconfig", "show", "hand.test"]);
    assert_eq!(show["tls"], "required");
    // An invalid file is refused with its key path, nothing changes.
    std::fs::write(
        &cfg,
        text.replace(
            "tls = \"required\"\n",
            "tls = \"required\"\nmax_messages_per_connection = 0\n",
        ),
    )
    .unwrap();
    let (code, out, err) = cli(&cfg, &["commit", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("max_messages_per_connection"), "{err}");

    // --- tail: the end of a log file.
    let log = dir.path().join("some_log");
    std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
    let out = ok(
        &cfg,
        &[
            "tail",
            "mail_logs",
            "-n",
            "2",
            "--file",
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(out, "two\nthree\n");

    drop(gw);
}
