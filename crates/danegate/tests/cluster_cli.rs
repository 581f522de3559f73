//! Two `danegate serve` nodes sharing one PostgreSQL queue (`[queue] backend =
//! "postgres"`), as an operator runs them: the real binary, a real PostgreSQL (testkit),
//! a signed DNS test world and an SMTP sink as the destination MX.
//!
//! * mail sent to both listeners, one node killed with SIGKILL while it delivers: every
//!   acknowledged message reaches the sink (the dead node's leases expire and the other
//!   node delivers them; duplicates are allowed: at-least-once);
//! * PostgreSQL restarted (immediate stop) under load: the node answers 4xx or drops
//!   sessions meanwhile, stays up, recovers without a restart and loses nothing
//!   acknowledged;
//! * the database unreachable at start: a clear error and exit status 75.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    collections::{BTreeSet, HashSet},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::{
    dns::{DnsServer, ServerOptions, SignedWorld, World},
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
    postgres::PgServer,
    smtp::{ReceivedMessage, SinkOptions, SmtpSink},
};

const START_TIMEOUT: Duration = Duration::from_secs(90);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(180);
/// `[queue] lease_secs` of the nodes: a killed node's recipients wait this long.
const LEASE_SECS: u64 = 3;

struct Net {
    _world: SignedWorld,
    dns: DnsServer,
    _dir: tempfile::TempDir,
    anchor: PathBuf,
    smtp_port: u16,
}

/// cluster0.test, cluster1.test: one MX each (127.0.0.141 + i), unsigned.
const MX_BASE: u8 = 141;

fn net() -> &'static Net {
    static N: OnceLock<Net> = OnceLock::new();
    N.get_or_init(|| {
        let smtp_port = free_port();
        let mut w = World::new();
        w.zone("test.");
        for i in 0..2 {
            w.zone(&format!("cluster{i}.test."))
                .unsigned()
                .records(&format!("@ MX 10 mx\nmx A 127.0.0.{}\n", MX_BASE + i));
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
        }
    })
}

/// A node's configuration: its own data directory and listener, the shared queue.
fn node_config(dir: &Path, node: &str, port: u16, db_url: &str) -> PathBuf {
    let n = net();
    let extra = format!(
        "[queue]\nbackend = \"postgres\"\nurl = \"{db_url}\"\npool_size = 8\n\
         lease_secs = {LEASE_SECS}\n"
    );
    let text = GatewayToml {
        listen_port: port,
        retry_secs: (1, 2),
        bounce_extra: "max_retries = 10000\nhard_bounces = false".into(),
        extra,
        ..GatewayToml::new(&dir.join(format!("{node}-data")), n.dns.addr(), &n.anchor)
    }
    .render()
    .replace("[server]\n", &format!("[server]\nnode = \"{node}\"\n"));
    let cfg = dir.join(format!("{node}.toml"));
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn start(cfg: &Path, cwd: &Path) -> ServeProcess {
    ServeProcess::start(
        env!("CARGO_BIN_EXE_danegate"),
        cfg,
        net().smtp_port,
        cwd,
        START_TIMEOUT,
    )
}

fn sink(i: u8) -> SmtpSink {
    SmtpSink::start(SinkOptions {
        bind: Some(SocketAddr::new(
            IpAddr::from([127, 0, 0, MX_BASE + i]),
            net().smtp_port,
        )),
        ..SinkOptions::default()
    })
}

fn message_id(m: &ReceivedMessage) -> Option<String> {
    let text = String::from_utf8_lossy(&m.data);
    let start = text.find("\r\nMessage-ID: <")? + "\r\nMessage-ID: <".len();
    let len = text[start..].find('>')?;
    Some(text[start..start + len].to_string())
}

fn body(to: &str, id: &str) -> String {
    format!(
        "From: <alice@sender.test>\r\nTo: <{to}>\r\nSubject: {id}\r\nMessage-ID: <{id}>\r\n\r\nHello {id}.\r\n"
    )
}

/// Clients sending to `port` until `stop`; every message answered 250 goes in `acked`.
fn load(
    tag: &str,
    port: u16,
    domain: &str,
    clients: usize,
    acked: &Arc<Mutex<BTreeSet<String>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (acked, stop, domain, tag) = (
                acked.clone(),
                stop.clone(),
                domain.to_string(),
                tag.to_string(),
            );
            tokio::spawn(async move {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let t = Timeouts::uniform(Duration::from_secs(30));
                let mut n = 0;
                'outer: while !stop.load(Ordering::SeqCst) && n < 2000 {
                    let Ok(mut cl) = SmtpClient::connect(addr, None, t).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    if cl.ehlo("internal-mta.test").await.is_err() {
                        continue;
                    }
                    for _ in 0..5 {
                        if stop.load(Ordering::SeqCst) {
                            break 'outer;
                        }
                        let id = format!("{tag}-c{c}-n{n}@client.test");
                        n += 1;
                        let to = format!("user{c}@{domain}");
                        match cl
                            .send("alice@sender.test", &[&to], body(&to, &id).as_bytes())
                            .await
                        {
                            Ok(d) if d.final_reply.as_ref().is_some_and(|r| r.code == 250) => {
                                acked.lock().unwrap().insert(id);
                            }
                            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                            Err(_) => continue 'outer,
                        }
                    }
                    let _ = cl.quit().await;
                }
            })
        })
        .collect()
}

async fn wait_all_delivered(
    what: &str,
    sink: &SmtpSink,
    acked: &BTreeSet<String>,
    log: impl Fn() -> String,
) {
    let start = Instant::now();
    loop {
        let got: HashSet<String> = sink.messages().iter().filter_map(message_id).collect();
        let missing: Vec<&String> = acked.iter().filter(|id| !got.contains(*id)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < DELIVERY_TIMEOUT,
            "{what}: {} of {} acknowledged messages never delivered, e.g. {:?}; stderr:\n{}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)],
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_node_loses_nothing_the_other_delivers_its_leases() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let url = pg.url(&db);
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let mut a = start(&node_config(dir.path(), "gw1", pa, &url), dir.path());
    let b = start(&node_config(dir.path(), "gw2", pb, &url), dir.path());
    let mx = sink(0);

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = load("a", pa, "cluster0.test", 2, &acked, &stop);
    tasks.extend(load("b", pb, "cluster0.test", 2, &acked, &stop));

    // Kill gw1 once it has delivered something (so it is delivering), while clients
    // still submit to both.
    let t0 = Instant::now();
    while mx.messages().len() < 20 {
        assert!(
            t0.elapsed() < START_TIMEOUT,
            "nothing delivered; gw1:\n{}\ngw2:\n{}",
            a.log_tail(),
            b.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill9();
    // gw2 keeps accepting for a moment after the kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.iter().any(|id| id.starts_with("a-")));
    assert!(acked.iter().any(|id| id.starts_with("b-")));
    eprintln!(
        "cluster_cli: {} acknowledged, {} delivered before the kill",
        acked.len(),
        mx.messages().len()
    );
    // gw1 stays dead: gw2 alone delivers everything, gw1's leases after their expiry.
    wait_all_delivered("after kill -9 of gw1", &mx, &acked, || b.log_tail()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_under_load_loses_nothing() {
    let Some(pg) = PgServer::start() else { return };
    let db = pg.create_database();
    let url = pg.url(&db);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gw = start(&node_config(dir.path(), "gw1", port, &url), dir.path());
    let mx = sink(1);

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load("r", port, "cluster1.test", 3, &acked, &stop);
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 20 {
        assert!(
            t0.elapsed() < START_TIMEOUT,
            "no ack; stderr:\n{}",
            gw.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pg.stop_immediate();
    let during = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        gw.alive(),
        "the node must survive the database outage:\n{}",
        gw.log_tail()
    );
    pg.start_again();
    // Mail is acknowledged again after the outage, without restarting the node.
    let t1 = Instant::now();
    while acked.lock().unwrap().len() < during + 20 {
        assert!(
            t1.elapsed() < START_TIMEOUT,
            "no ack after the database came back; stderr:\n{}",
            gw.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    wait_all_delivered("after the database restart", &mx, &acked, || gw.log_tail()).await;
    assert!(gw.alive());
}

#[test]
fn unreachable_database_at_start_exits_75() {
    let dir = tempfile::tempdir().unwrap();
    // A socket directory where no server listens.
    let url = format!(
        "postgresql://postgres@/q?host={}&port=5432",
        dir.path().display()
    );
    let cfg = node_config(dir.path(), "gw1", free_port(), &url);
    let mut gw = ServeProcess::spawn(
        env!("CARGO_BIN_EXE_danegate"),
        &["--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    let st = gw.wait_exit(START_TIMEOUT);
    assert_eq!(st.code(), Some(75), "{}", gw.log_tail());
    let log = gw.log_tail();
    assert!(log.contains("queue database unreachable"), "{log}");
}

/// `queue list` and `queue show` asked on one node show the whole cluster's queue with
/// the node holding each message: mail accepted by gw1 (for a destination that refuses
/// connections, so it stays queued) is listed by gw2 as held by gw1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_list_on_one_node_names_the_node_holding_each_message() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let url = pg.url(&db);
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let cfg_a = node_config(dir.path(), "gw1", pa, &url);
    let cfg_b = node_config(dir.path(), "gw2", pb, &url);
    let mut a = start(&cfg_a, dir.path());
    let mut b = start(&cfg_b, dir.path());
    for gw in [&mut a, &mut b] {
        gw.wait_line("the control socket", START_TIMEOUT, |l| {
            l.contains("Control socket")
        });
    }
    let cli = |cfg: &Path, args: &[&str]| -> serde_json::Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_danegate"))
            .arg("--config")
            .arg(cfg)
            .args(args)
            .arg("--json")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "danegate {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    };

    // Nothing listens on cluster1.test's MX: the messages stay queued (retried).
    let mut c = SmtpClient::connect(
        SocketAddr::from(([127, 0, 0, 1], pa)),
        None,
        Timeouts::uniform(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    for i in 0..3 {
        let to = format!("user{i}@cluster1.test");
        let d = c
            .send(
                "alice@sender.test",
                &[&to],
                body(&to, &format!("held-{i}@client.test")).as_bytes(),
            )
            .await
            .unwrap();
        assert!(d.all_delivered(), "not accepted: {d:?}");
    }
    let _ = c.quit().await;

    // Asked on gw2: three recipients, each held by gw1 (the accepting node) whenever it
    // is not being delivered; one being retried at that moment is held by the node
    // delivering it.
    let t0 = Instant::now();
    let list = loop {
        let list = cli(&cfg_b, &["queue", "list", "cluster1.test"]);
        let rows = list.as_array().unwrap().clone();
        for r in &rows {
            let node = r["node"].as_str().unwrap();
            if r["in_flight"] == true {
                assert!(node == "gw1" || node == "gw2", "{r}");
            } else {
                assert_eq!(node, "gw1", "{r}");
            }
        }
        if rows.len() == 3 && rows.iter().all(|r| r["in_flight"] == false) {
            break rows;
        }
        assert!(
            t0.elapsed() < DELIVERY_TIMEOUT,
            "never three idle queued recipients: {list}\ngw1:\n{}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mid = list[0]["mid"].as_u64().unwrap();
    let m = cli(&cfg_b, &["queue", "show", &mid.to_string()]);
    assert_eq!(m["node"], "gw1", "the accepting node: {m}");
    let r = &m["recipients"][0];
    assert!(
        r["node"] == "gw1" || (r["in_flight"] == true && r["node"] == "gw2"),
        "{m}"
    );
    // The same on gw1.
    let on_a = cli(&cfg_a, &["queue", "list", "cluster1.test"]);
    assert_eq!(on_a.as_array().unwrap().len(), 3, "{on_a}");
    assert!(b.alive() && a.alive());
}
