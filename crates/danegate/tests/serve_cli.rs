//! `danegate serve` as an operator runs it: the real binary, a configuration file, a
//! signed DNS test world and SMTP sinks on 127.0.0.x with one common port.
//!
//! * kill -9 at a random moment loses no acknowledged message (at least once);
//! * `config check` / `commit` / SIGHUP: a valid file is applied, an invalid one is
//!   refused with its key path and the old configuration stays; open sessions survive;
//! * SMTP smuggling through the listener never creates a second message;
//! * oversize and malformed commands get the documented replies;
//! * the embedded default starts without `--config` and stops on SIGTERM with 0.
//!
//! Every child process is killed when its guard is dropped (also on panic).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    collections::{BTreeSet, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{DnsServer, ServerOptions, SignedWorld, World},
    gateway::{GatewayToml, ServeProcess},
    host::{self, free_port},
    smtp::{ReceivedMessage, SinkOptions, SmtpSink},
};

/// Generous: the machine is a loaded 2-core box shared with other builds.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------
// The test world
// ---------------------------------------------------------------------------------

struct Net {
    _world: SignedWorld,
    dns: DnsServer,
    _dir: tempfile::TempDir,
    anchor: PathBuf,
    /// The port of every destination MX (the sinks), passed as `--smtp-port`.
    smtp_port: u16,
    /// The certificate of mx.bad.test (its TLSA record names another key).
    bad_chain: TestChain,
}

/// MX addresses (127.0.0.x, common port `smtp_port`).
const BAD_MX: [u8; 4] = [127, 0, 0, 111];
const SMUGGLE_MX: [u8; 4] = [127, 0, 0, 131];
/// kill0.test .. kill2.test: one MX per kill round, started only after the restart.
const KILL_MX_BASE: u8 = 121;
const KILL_ROUNDS: u8 = 3;

fn ip(a: [u8; 4]) -> String {
    IpAddr::from(a).to_string()
}

fn net() -> &'static Net {
    static N: OnceLock<Net> = OnceLock::new();
    N.get_or_init(|| {
        let smtp_port = free_port();
        let bad_chain = TestChain::for_names(&["mx.bad.test"]);
        let other = TestChain::for_names(&["other.example"]);
        let spki_hash = |c: &TestChain| c.leaf.tlsa_hex(1, 1);
        let mut w = World::new();
        w.zone("test.");
        // bad.test: signed, and its TLSA names a key mx.bad.test does not present.
        w.zone("bad.test.").records(&format!(
            "@ MX 10 mx\nmx A {}\n_{smtp_port}._tcp.mx TLSA 3 1 1 {}\n",
            ip(BAD_MX),
            spki_hash(&other)
        ));
        w.zone("smuggle.test.")
            .unsigned()
            .records(&format!("@ MX 10 mx\nmx A {}\n", ip(SMUGGLE_MX)));
        for i in 0..KILL_ROUNDS {
            w.zone(&format!("kill{i}.test."))
                .unsigned()
                .records(&format!("@ MX 10 mx\nmx A 127.0.0.{}\n", KILL_MX_BASE + i));
        }
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
            bad_chain,
        }
    })
}

/// A complete configuration file: listener `outbound` on 127.0.0.1:`port`, RELAY for
/// 127.0.0.1, the test DNS world, default profile TLS Preferred + DANE Opportunistic
/// and a default bounce profile that retries every 1–2 s and does not give up soon.
fn config_text(data_dir: &Path, port: u16, extra: &str) -> String {
    let n = net();
    GatewayToml {
        listen_port: port,
        retry_secs: (1, 2),
        bounce_extra: "max_retries = 10000\nhard_bounces = false".into(),
        extra: extra.into(),
        ..GatewayToml::new(data_dir, n.dns.addr(), &n.anchor)
    }
    .render()
}

// ---------------------------------------------------------------------------------
// The child process
// ---------------------------------------------------------------------------------

/// `danegate serve` of this crate (testkit's process guard, killed on drop).
struct Serve;

impl Serve {
    /// Starts `danegate serve ARGS` in `cwd` and collects its standard error.
    fn spawn(args: &[&str], cwd: &Path) -> ServeProcess {
        ServeProcess::spawn(env!("CARGO_BIN_EXE_danegate"), args, cwd)
    }

    /// `danegate serve --config F --smtp-port P`, then waits for the listener line.
    fn start(config: &Path, cwd: &Path) -> ServeProcess {
        let bin = env!("CARGO_BIN_EXE_danegate");
        ServeProcess::start(bin, config, net().smtp_port, cwd, START_TIMEOUT)
    }
}

/// Runs a short-lived `danegate` subcommand: (exit code, stdout + stderr).
fn run_cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn listener_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn mx_sink(addr: [u8; 4], tls: Option<&TestChain>) -> SmtpSink {
    SmtpSink::start(SinkOptions {
        tls: tls.map(|c| c.server_config(TlsVersions::Both, Presented::LeafAndIntermediate)),
        bind: Some(SocketAddr::new(IpAddr::from(addr), net().smtp_port)),
        ..SinkOptions::default()
    })
}

fn message_id(m: &ReceivedMessage) -> Option<String> {
    let text = String::from_utf8_lossy(&m.data);
    let start = text.find("\r\nMessage-ID: <")? + "\r\nMessage-ID: <".len();
    let len = text[start..].find('>')?;
    Some(text[start..start + len].to_string())
}

fn body(from: &str, to: &str, id: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {id}\r\nMessage-ID: <{id}>\r\n\r\nHello {id}.\r\n"
    )
}

fn has_id(s: &SmtpSink, id: &str) -> bool {
    s.messages()
        .iter()
        .any(|m| message_id(m).as_deref() == Some(id))
}

async fn poll_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn timeouts() -> Timeouts {
    Timeouts::uniform(Duration::from_secs(30))
}

/// One message over a fresh session; the final reply.
async fn submit(port: u16, to: &str, id: &str) -> danegate_smtp::Delivery {
    let mut c = SmtpClient::connect(listener_addr(port), None, timeouts())
        .await
        .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let d = c
        .send(
            "alice@sender.test",
            &[to],
            body("alice@sender.test", to, id).as_bytes(),
        )
        .await
        .unwrap();
    let _ = c.quit().await;
    d
}

/// A small deterministic PRNG seeded from the clock (the seed is printed).
struct Rng(u64);
impl Rng {
    fn from_clock() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("serve_cli: random seed {seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// ---------------------------------------------------------------------------------
// 1. kill -9 loses nothing acknowledged
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_message() {
    const CLIENTS: usize = 4;
    const MAX_PER_CLIENT: usize = 3000;
    let mut rng = Rng::from_clock();
    for round in 0..KILL_ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let domain = format!("kill{round}.test");
        let cfg = dir.path().join("danegate.toml");
        std::fs::write(&cfg, config_text(&dir.path().join("data"), port, "")).unwrap();
        let mut gw = Serve::start(&cfg, dir.path());

        // Concurrent clients; every 250 after the content is an acknowledged message.
        let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (acked, stop, domain) = (acked.clone(), stop.clone(), domain.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                'outer: while !stop.load(Ordering::SeqCst) && n < MAX_PER_CLIENT {
                    let Ok(mut cl) =
                        SmtpClient::connect(listener_addr(port), None, timeouts()).await
                    else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    if cl.ehlo("internal-mta.test").await.is_err() {
                        continue;
                    }
                    // several messages per session, then a new session
                    for _ in 0..5 {
                        if stop.load(Ordering::SeqCst) || n >= MAX_PER_CLIENT {
                            break 'outer;
                        }
                        let id = format!("r{round}-c{c}-n{n}@client.test");
                        n += 1;
                        let to = format!("user{c}@{domain}");
                        match cl
                            .send(
                                "alice@sender.test",
                                &[&to],
                                body("alice@sender.test", &to, &id).as_bytes(),
                            )
                            .await
                        {
                            Ok(d) if d.final_reply.as_ref().is_some_and(|r| r.code == 250) => {
                                acked.lock().unwrap().insert(id);
                            }
                            Ok(_) => {}
                            Err(_) => continue 'outer,
                        }
                    }
                    let _ = cl.quit().await;
                }
            }));
        }

        // Kill at a random moment after the first acknowledgement.
        let t0 = Instant::now();
        while acked.lock().unwrap().is_empty() {
            assert!(
                t0.elapsed() < START_TIMEOUT,
                "no message acknowledged; stderr:\n{}",
                gw.log_tail()
            );
            assert!(gw.alive(), "danegate died; stderr:\n{}", gw.log_tail());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let delay = Duration::from_millis(rng.below(1500));
        tokio::time::sleep(delay).await;
        let submitting = tasks.iter().filter(|t| !t.is_finished()).count();
        gw.kill9();
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let acked: BTreeSet<String> = acked.lock().unwrap().clone();
        eprintln!(
            "serve_cli: round {round}: SIGKILL {delay:?} after the first ack, {} acknowledged, \
             {submitting} clients were submitting",
            acked.len()
        );
        assert!(
            submitting > 0,
            "round {round}: every client had finished before the kill"
        );
        drop(gw);

        // The MX comes up, then danegate restarts on the same data directory.
        let sink = mx_sink([127, 0, 0, KILL_MX_BASE + round], None);
        let gw = Serve::start(&cfg, dir.path());
        let start = Instant::now();
        loop {
            let got: HashSet<String> = sink.messages().iter().filter_map(message_id).collect();
            let missing: Vec<&String> = acked.iter().filter(|id| !got.contains(*id)).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < DELIVERY_TIMEOUT,
                "round {round}: {} of {} acknowledged messages never delivered after the restart, e.g. {:?}; stderr:\n{}",
                missing.len(),
                acked.len(),
                &missing[..missing.len().min(5)],
                gw.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(gw);
    }
}

// ---------------------------------------------------------------------------------
// 2. config check, commit, SIGHUP
// ---------------------------------------------------------------------------------

const BAD_MANDATORY: &str = r#"
[[destination]]
domain = "bad.test"
tls = "required"
dane = "mandatory"
"#;

const BAD_NONE: &str = r#"
[[destination]]
domain = "bad.test"
tls = "preferred"
dane = "none"
"#;

/// Back to mandatory, but with an out-of-range value: must be refused as a whole.
const BAD_INVALID: &str = r#"
[[destination]]
domain = "bad.test"
tls = "required"
dane = "mandatory"
max_concurrent_connections = 1001
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_commit_and_sighup_reload() {
    let n = net();
    let sink = mx_sink(BAD_MX, Some(&n.bad_chain));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let cfg = dir.path().join("danegate.toml");
    let cfg_s = cfg.to_str().unwrap();
    std::fs::write(&cfg, config_text(&data, port, BAD_MANDATORY)).unwrap();

    // config check on a bad file: non-zero, key path, value, range.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, config_text(&data, port, BAD_INVALID)).unwrap();
    let (code, out) = run_cli(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("destination[1].max_concurrent_connections"))
        .unwrap_or_else(|| panic!("no key path in:\n{out}"));
    assert!(line.contains("1001"), "{line}");
    assert!(line.contains("between 1 and 1000"), "{line}");
    let (code, out) = run_cli(&["config", "check", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");

    let mut gw = Serve::start(&cfg, dir.path());
    let pid_file = data.join("danegate.pid");
    poll_until("the pid file", START_TIMEOUT, || pid_file.exists()).await;
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        gw.pid().to_string()
    );

    // Mandatory DANE with a TLSA mismatch: deferred, never delivered.
    let d = submit(port, "bob@bad.test", "reload-m1@client.test").await;
    assert!(d.all_delivered(), "{d:?}");
    gw.wait_line("the DANE deferral", DELIVERY_TIMEOUT, |l| {
        l.contains("Delayed:") && l.contains("DANE")
    });
    assert!(
        !has_id(&sink, "reload-m1@client.test"),
        "mandatory DANE failure delivered anyway"
    );

    // A session opened before the reload...
    let mut open = SmtpClient::connect(listener_addr(port), None, timeouts())
        .await
        .unwrap();
    open.ehlo("internal-mta.test").await.unwrap();

    // ...a valid change committed: bad.test becomes dane = none / tls = preferred.
    std::fs::write(&cfg, config_text(&data, port, BAD_NONE)).unwrap();
    let (code, out) = run_cli(&["commit", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");
    gw.wait_line("the reload", START_TIMEOUT, |l| {
        l.contains("configuration reloaded")
    });

    // ...is not dropped, and its message follows the new configuration.
    let d = open
        .send(
            "alice@sender.test",
            &["bob@bad.test"],
            body("alice@sender.test", "bob@bad.test", "reload-m2@client.test").as_bytes(),
        )
        .await
        .expect("the session opened before the reload still works");
    assert!(d.all_delivered(), "{d:?}");
    let _ = open.quit().await;
    poll_until("reload-m2 at mx.bad.test", DELIVERY_TIMEOUT, || {
        has_id(&sink, "reload-m2@client.test")
    })
    .await;
    let m2 = sink
        .messages()
        .into_iter()
        .find(|m| message_id(m).as_deref() == Some("reload-m2@client.test"))
        .unwrap();
    assert!(m2.tls.is_some(), "TLS Preferred used the offered STARTTLS");
    // the message held under the old configuration goes too
    poll_until("reload-m1 at mx.bad.test", DELIVERY_TIMEOUT, || {
        has_id(&sink, "reload-m1@client.test")
    })
    .await;

    // An invalid file: commit refuses it with the key path; the gateway keeps running
    // on the old configuration (bad.test still dane = none).
    std::fs::write(&cfg, config_text(&data, port, BAD_INVALID)).unwrap();
    let (code, out) = run_cli(&["commit", "--config", cfg_s]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("destination[1].max_concurrent_connections = 1001")
            && out.contains("between 1 and 1000"),
        "{out}"
    );
    assert!(gw.alive(), "danegate died; stderr:\n{}", gw.log_tail());
    let d = submit(port, "bob@bad.test", "reload-m3@client.test").await;
    assert!(d.all_delivered(), "{d:?}");
    poll_until("reload-m3 at mx.bad.test", DELIVERY_TIMEOUT, || {
        has_id(&sink, "reload-m3@client.test")
    })
    .await;

    // The same invalid file by a bare SIGHUP (no commit in front): the gateway refuses
    // it itself, names the key and keeps the old configuration.
    gw.signal("HUP");
    let refused = gw.wait_line("the refusal", START_TIMEOUT, |l| {
        l.contains("new configuration refused")
    });
    let lines = gw.lines();
    let at = lines.iter().position(|l| *l == refused).unwrap();
    assert!(
        lines[at..]
            .iter()
            .take(5)
            .any(|l| l.contains("destination[1].max_concurrent_connections")),
        "refusal does not name the key:\n{}",
        lines[at..].join("\n")
    );
    assert!(gw.alive(), "danegate died; stderr:\n{}", gw.log_tail());
    let d = submit(port, "bob@bad.test", "reload-m4@client.test").await;
    assert!(d.all_delivered(), "{d:?}");
    poll_until("reload-m4 at mx.bad.test", DELIVERY_TIMEOUT, || {
        has_id(&sink, "reload-m4@client.test")
    })
    .await;
    assert!(gw.alive());
    assert_eq!(
        gw.lines()
            .iter()
            .filter(|l| l.contains("configuration reloaded"))
            .count(),
        1,
        "only the valid file was reloaded; stderr:\n{}",
        gw.log_tail()
    );
}

// ---------------------------------------------------------------------------------
// Raw SMTP for tests 3 and 4
// ---------------------------------------------------------------------------------

struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(listener_addr(port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut raw = Raw {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let (code, text) = raw.reply();
        assert_eq!(code, 220, "{text}");
        raw
    }

    /// One (possibly multi-line) reply: its code and its last line.
    fn reply(&mut self) -> (u16, String) {
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed while waiting for a reply");
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("not a reply: {line:?}"));
            if line.as_bytes().get(3) != Some(&b'-') {
                return (code, line.trim_end().to_string());
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
        self.w.flush().unwrap();
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// QUIT, then everything up to EOF.
    fn quit_rest(mut self) -> String {
        self.send(b"QUIT\r\n");
        let mut rest = String::new();
        let _ = self.r.read_to_string(&mut rest);
        rest
    }
}

/// The numbers after `key` in the lines containing `marker`: the queue ids of
/// `MID N queued as Q` (key `queued as `) and of `Message done DCID D MID Q ...`
/// (key ` MID `; delivery lines name messages by queue id).
fn ids(lines: &[String], marker: &str, key: &str) -> BTreeSet<u64> {
    lines
        .iter()
        .filter(|l| l.contains(marker))
        .filter_map(|l| {
            let at = l.find(key)? + key.len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// 3. SMTP smuggling
// ---------------------------------------------------------------------------------

#[test]
fn smtp_smuggling_never_creates_a_second_message() {
    let sink = mx_sink(SMUGGLE_MX, None);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("danegate.toml");
    std::fs::write(&cfg, config_text(&dir.path().join("data"), port, "")).unwrap();
    let mut gw = Serve::start(&cfg, dir.path());

    let variants: [(&str, &str); 6] = [
        ("lf-dot-crlf", "\n.\r\n"),
        ("lf-dot-lf", "\n.\n"),
        ("cr-dot-crlf", "\r.\r\n"),
        ("crlf-dot-lf", "\r\n.\n"),
        ("cr-dot-cr", "\r.\r"),
        ("crlf-dot-cr", "\r\n.\r"),
    ];
    let mut accepted_outer = Vec::new();
    for (tag, sep) in variants {
        let mut s = Raw::connect(port);
        assert_eq!(s.cmd("EHLO internal-mta.test").0, 250);
        assert_eq!(s.cmd("MAIL FROM:<alice@sender.test>").0, 250);
        assert_eq!(s.cmd("RCPT TO:<legit@smuggle.test>").0, 250);
        assert_eq!(s.cmd("DATA").0, 354);
        let content = format!(
            "From: <alice@sender.test>\r\nTo: <legit@smuggle.test>\r\nSubject: outer-{tag}\r\n\
             Message-ID: <outer-{tag}@client.test>\r\n\r\nhello{sep}\
             MAIL FROM:<smuggler@sender.test>\r\nRCPT TO:<victim@smuggle.test>\r\nDATA\r\n\
             From: <smuggler@sender.test>\r\nSubject: SMUGGLED-{tag}\r\n\
             Message-ID: <smuggled-{tag}@client.test>\r\n\r\nevil\r\n.\r\n"
        );
        s.send(content.as_bytes());
        let (code, text) = s.reply();
        assert!(
            code == 250 || (code == 554 && text.contains("5.5.2")),
            "{tag}: one reply for the whole content, 250 or 554 5.5.2; got {text}"
        );
        if code == 250 {
            accepted_outer.push(format!("outer-{tag}@client.test"));
        }
        // Nothing of the smuggled commands was answered: QUIT gets the only reply left.
        let rest = s.quit_rest();
        assert!(
            rest.starts_with("221") && rest.lines().count() == 1,
            "{tag}: replies to smuggled commands: {rest:?}"
        );
    }

    // A normal message afterwards: the sync point.
    let mut s = Raw::connect(port);
    assert_eq!(s.cmd("EHLO internal-mta.test").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<alice@sender.test>").0, 250);
    assert_eq!(s.cmd("RCPT TO:<legit@smuggle.test>").0, 250);
    assert_eq!(s.cmd("DATA").0, 354);
    s.send(
        body(
            "alice@sender.test",
            "legit@smuggle.test",
            "marker@client.test",
        )
        .as_bytes(),
    );
    s.send(b".\r\n");
    let (code, text) = s.reply();
    assert_eq!(code, 250, "{text}");
    let _ = s.quit_rest();

    // Exactly the accepted messages were queued, and all of them were delivered.
    let start = Instant::now();
    loop {
        let lines = gw.lines();
        let queued = ids(&lines, " queued as ", "queued as ");
        let done = ids(&lines, "Message done", " MID ");
        if queued.len() == 1 + accepted_outer.len() && queued.is_subset(&done) {
            break;
        }
        assert!(
            queued.len() <= 1 + accepted_outer.len(),
            "more messages queued than accepted: {queued:?}; stderr:\n{}",
            gw.log_tail()
        );
        assert!(
            start.elapsed() < DELIVERY_TIMEOUT,
            "not delivered: queued {queued:?} done {done:?}; stderr:\n{}",
            gw.log_tail()
        );
        assert!(gw.alive(), "danegate died; stderr:\n{}", gw.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    let msgs = sink.messages();
    assert!(has_id(&sink, "marker@client.test"));
    for m in &msgs {
        assert!(
            !m.rcpt_to.iter().any(|r| r.contains("victim")) && !m.mail_from.contains("smuggler"),
            "a smuggled message was delivered: {m:?}"
        );
        let id = message_id(m).unwrap_or_default();
        assert!(!id.starts_with("smuggled-"), "smuggled message: {m:?}");
    }
    assert_eq!(msgs.len(), 1 + accepted_outer.len(), "{msgs:?}");
}

// ---------------------------------------------------------------------------------
// 4. Oversize and malformed commands
// ---------------------------------------------------------------------------------

#[test]
fn oversize_and_malformed_commands_get_the_documented_replies() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("danegate.toml");
    std::fs::write(&cfg, config_text(&dir.path().join("data"), port, "")).unwrap();
    let mut gw = Serve::start(&cfg, dir.path());

    let mut s = Raw::connect(port);
    let (code, _) = s.cmd("EHLO internal-mta.test");
    assert_eq!(code, 250);

    let (code, text) = s.cmd("RCPT TO:<bob@smuggle.test>");
    assert_eq!(code, 503, "RCPT before MAIL: {text}");
    assert!(text.starts_with("503 5.5.1"), "{text}");

    let (code, text) = s.cmd("FROBNICATE now");
    assert_eq!(code, 500, "unknown command: {text}");
    assert!(text.starts_with("500 5.5.1"), "{text}");

    let long = format!("NOOP {}", "a".repeat(1995));
    assert_eq!(long.len(), 2000);
    let (code, text) = s.cmd(&long);
    assert_eq!(code, 500, "2000-byte command: {text}");
    assert!(text.starts_with("500 5.5.2"), "{text}");

    // the default max_message_size is 10485760
    let (code, text) = s.cmd("MAIL FROM:<alice@sender.test> SIZE=20000000");
    assert_eq!(code, 552, "SIZE too big: {text}");
    assert!(text.starts_with("552 5.3.4"), "{text}");

    // The session is still usable after those errors.
    let (code, text) = s.cmd("MAIL FROM:<alice@sender.test> SIZE=1000");
    assert_eq!(code, 250, "{text}");
    assert_eq!(s.cmd("RSET").0, 250);
    let rest = s.quit_rest();
    assert!(rest.starts_with("221"), "{rest:?}");
    assert!(gw.alive(), "danegate died; stderr:\n{}", gw.log_tail());
}

// ---------------------------------------------------------------------------------
// 5. The embedded default
// ---------------------------------------------------------------------------------

#[test]
fn embedded_default_starts_creates_its_data_dir_and_stops_on_sigterm() {
    let free = std::net::TcpListener::bind("127.0.0.1:2525").is_ok();
    if !host::require(
        free,
        "a free port 127.0.0.1:2525 (the embedded default listener)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Serve::spawn(&[], dir.path());
    // Wait for the listener line, or a bind failure if another process took the port
    // in the meantime (skip, not a failure).
    let start = Instant::now();
    loop {
        let lines = gw.lines();
        if lines.iter().any(|l| l.starts_with("danegate: listener ")) {
            break;
        }
        if !gw.alive() {
            std::thread::sleep(Duration::from_millis(200));
            let tail = gw.log_tail();
            if tail.contains("2525") && tail.to_lowercase().contains("in use") {
                host::require(false, "127.0.0.1:2525 (taken by another process meanwhile)");
                return;
            }
            panic!("danegate serve (embedded default) exited:\n{tail}");
        }
        assert!(
            start.elapsed() < START_TIMEOUT,
            "no listener line; stderr:\n{}",
            gw.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = gw
        .lines()
        .into_iter()
        .find(|l| l.starts_with("danegate: listener "))
        .unwrap();
    assert!(line.ends_with(" on 127.0.0.1:2525"), "{line}");
    assert!(
        dir.path().join("danegate-data").is_dir(),
        "./danegate-data not created"
    );
    // It answers SMTP.
    let s = Raw::connect(2525);
    let _ = s.quit_rest();

    gw.signal("TERM");
    let st = gw.wait_exit(START_TIMEOUT);
    assert_eq!(st.code(), Some(0), "{st}; stderr:\n{}", gw.log_tail());
    assert!(
        !dir.path().join("danegate-data/danegate.pid").exists(),
        "the pid file stays after a clean stop"
    );
}
