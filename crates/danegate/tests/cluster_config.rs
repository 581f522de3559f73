//! The central, versioned configuration of a cluster: real `danegate serve` nodes on
//! one real PostgreSQL database (testkit), edited with the real admin CLI over their
//! control sockets.
//!
//! * a Destination Controls edit on node gw1 (`destconfig add`) is stored centrally and
//!   applied by node gw2 within seconds: gw2's `destconfig list` shows it and gw2's
//!   file holds it, with gw2's own keys and comments kept;
//! * an SMTP route set on gw2 is applied by gw1 the same way;
//! * a node started later on a stale file takes the central version (which wins);
//! * `config check` reports a hand-edited file's differences, and none for an identical
//!   file; `config history` lists the versions; `danegate commit` of a hand edit is
//!   stored and applied by the other nodes;
//! * a DNS settings edit (`dnsconfig set`) on gw3 is applied by gw1 and gw2;
//! * a version that does not validate is applied by no node (each logs it) and
//!   `config check` shows it; the next edit supersedes it and is applied everywhere;
//! * an edit while the database is down is refused and changes nothing; `config check`
//!   says it cannot compare; once the database is back the edit goes through.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use danegate_queue::postgres::central::{self, CentralDb, Published};
use danegate_testkit::{
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
    postgres::PgServer,
};

const START_TIMEOUT: Duration = Duration::from_secs(90);
/// "Within a few seconds": the nodes poll every 2 s besides LISTEN/NOTIFY.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A node's file: its own data directory, listener and a comment of its own; the same
/// shared sections on every node.
fn node_config(dir: &Path, node: &str, db_url: &str) -> PathBuf {
    let text = GatewayToml {
        listen_port: free_port(),
        extra: format!("[queue]\nbackend = \"postgres\"\nurl = \"{db_url}\"\npool_size = 4\n"),
        ..GatewayToml::without_dns_world(&dir.join(format!("{node}-data")))
    }
    .render()
    .replace(
        "[server]\n",
        &format!("# {node}: this node's own file\n[server]\nnode = \"{node}\"   # unique\n"),
    );
    let cfg = dir.join(format!("{node}.toml"));
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn start(cfg: &Path, cwd: &Path) -> ServeProcess {
    ServeProcess::start(
        env!("CARGO_BIN_EXE_danegate"),
        cfg,
        free_port(),
        cwd,
        START_TIMEOUT,
    )
}

/// `danegate --config CFG ARGS...`: exit code, stdout + stderr.
fn cli(cfg: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_danegate"));
    cmd.arg("--config").arg(cfg).args(args);
    joined(cmd)
}

/// Runs `cmd` with an empty standard input: exit code, stdout + stderr.
fn joined(cmd: Command) -> (i32, String) {
    let (code, out, err) = danegate_testkit::cli::run(cmd, "");
    (code.unwrap_or(-1), out + &err)
}

fn ok(cfg: &Path, args: &[&str]) -> String {
    let (code, out) = cli(cfg, args);
    assert_eq!(code, 0, "danegate {args:?}: {out}");
    out
}

/// `danegate config check --config CFG`.
fn check(cfg: &Path) -> (i32, String) {
    sub(&["config", "check"], cfg)
}

/// `danegate ARGS... --config CFG` (the subcommand's own `--config`).
fn sub(args: &[&str], cfg: &Path) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_danegate"));
    cmd.args(args).arg("--config").arg(cfg);
    joined(cmd)
}

/// Waits until `pred` holds.
fn wait_for(
    what: &str,
    timeout: Duration,
    mut pred: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let t0 = Instant::now();
    while !pred() {
        assert!(
            t0.elapsed() < timeout,
            "timed out ({timeout:?}) waiting for {what}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("cluster_config: {what} after {:?}", t0.elapsed());
}

#[test]
fn an_edit_on_one_node_is_applied_by_every_node() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let url = pg.url(&db);
    let dir = tempfile::tempdir().unwrap();
    let cfg_a = node_config(dir.path(), "gw1", &url);
    let cfg_b = node_config(dir.path(), "gw2", &url);
    let mut a = start(&cfg_a, dir.path());
    // The first node seeded the central configuration from its file.
    a.wait_line("the seed", START_TIMEOUT, |l| {
        l.contains("central configuration: no version stored yet; version 1 seeded")
    });
    let mut b = start(&cfg_b, dir.path());
    let logs = |a: &ServeProcess, b: &ServeProcess| {
        format!("gw1:\n{}\ngw2:\n{}", a.log_tail(), b.log_tail())
    };

    // An identical file: config check finds no difference.
    let (code, out) = check(&cfg_b);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("this file matches version 1, made on gw1"),
        "{out}"
    );

    // A Destination Controls edit on gw1 through the admin CLI (gw1's control socket).
    ok(
        &cfg_a,
        &[
            "destconfig",
            "add",
            "central.test",
            "--max-concurrent-connections",
            "7",
            "--tls",
            "required",
        ],
    );
    // gw2 applies it: its running configuration and its file.
    wait_for(
        "gw1's edit in gw2's destconfig list",
        APPLY_TIMEOUT,
        || {
            cli(&cfg_b, &["destconfig", "list"])
                .1
                .contains("central.test")
        },
        || logs(&a, &b),
    );
    let show = ok(&cfg_b, &["destconfig", "show", "central.test"]);
    assert!(show.contains('7'), "{show}");
    let text_b = std::fs::read_to_string(&cfg_b).unwrap();
    assert!(text_b.contains("domain = \"central.test\""), "{text_b}");
    assert!(
        text_b.contains("max_concurrent_connections = 7"),
        "{text_b}"
    );
    // gw2's own keys and comments are untouched.
    assert!(
        text_b.contains("\n# gw2: this node's own file\n[server]\n"),
        "{text_b}"
    );
    assert!(text_b.contains("node = \"gw2\"   # unique"), "{text_b}");
    assert!(!text_b.contains("gw1"), "{text_b}");
    b.wait_line("the apply line", APPLY_TIMEOUT, |l| {
        l.contains("central configuration version 2, made on gw1") && l.contains("applied")
    });

    // The other way: an SMTP route set on gw2 reaches gw1.
    ok(
        &cfg_b,
        &["smtproutes", "set", "route.test", "10.9.9.9:2525"],
    );
    wait_for(
        "gw2's route on gw1",
        APPLY_TIMEOUT,
        || {
            cli(&cfg_a, &["smtproutes", "list"])
                .1
                .contains("route.test")
        },
        || logs(&a, &b),
    );
    assert!(
        std::fs::read_to_string(&cfg_a)
            .unwrap()
            .contains("10.9.9.9:2525")
    );

    // A node started later on a stale file (without either change) takes the central
    // version at start.
    let cfg_c = node_config(dir.path(), "gw3", &url);
    let stale = std::fs::read_to_string(&cfg_c).unwrap();
    let (code, out) = check(&cfg_c);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "warning: this file differs from the central configuration (version 3, made on gw2"
        ),
        "{out}"
    );
    assert!(
        out.contains("destination \"central.test\": only in the central configuration"),
        "{out}"
    );
    assert!(
        out.contains("smtp_route \"route.test\": only in the central configuration"),
        "{out}"
    );
    let mut c = start(&cfg_c, dir.path());
    c.wait_line("central wins", START_TIMEOUT, |l| {
        l.contains("central configuration version 3")
            && l.contains("the central configuration wins")
    });
    let list = ok(&cfg_c, &["destconfig", "list"]);
    assert!(list.contains("central.test"), "{list}");
    let text_c = std::fs::read_to_string(&cfg_c).unwrap();
    assert!(
        text_c.contains("central.test") && text_c.contains("route.test"),
        "{text_c}"
    );
    assert!(text_c.contains("node = \"gw3\"   # unique"), "{text_c}");
    let (code, out) = check(&cfg_c);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("this file matches version 3"), "{out}");

    // A file edited by hand: config check names what differs.
    let edited = text_c.replace(
        "max_concurrent_connections = 7",
        "max_concurrent_connections = 9",
    );
    assert_ne!(edited, text_c);
    let hand = dir.path().join("hand.toml");
    std::fs::write(&hand, edited).unwrap();
    let (code, out) = check(&hand);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "destination \"central.test\": max_concurrent_connections = 9 in this file, 7 centrally"
        ),
        "{out}"
    );
    drop(stale);

    // The history: three versions, newest first.
    let (code, hist) = sub(&["config", "history"], &cfg_a);
    assert_eq!(code, 0, "{hist}");
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(lines.len(), 3, "{hist}");
    assert!(lines[0].starts_with("version 3, made on gw2"), "{hist}");
    assert!(lines[0].contains("(based on 2)"), "{hist}");
    assert!(
        lines[2].starts_with("version 1, made on gw1") && lines[2].contains("(seeded)"),
        "{hist}"
    );

    // `danegate commit` of a hand edit on gw3 publishes it; gw1 applies it.
    let t = std::fs::read_to_string(&cfg_c).unwrap().replace(
        "max_concurrent_connections = 7",
        "max_concurrent_connections = 11",
    );
    std::fs::write(&cfg_c, t).unwrap();
    let (code, out) = sub(&["commit"], &cfg_c);
    assert_eq!(code, 0, "{out}");
    wait_for(
        "gw3's committed file on gw1",
        APPLY_TIMEOUT,
        || {
            std::fs::read_to_string(&cfg_a)
                .unwrap()
                .contains("max_concurrent_connections = 11")
        },
        || logs(&a, &c),
    );

    // A version that does not validate (stored by a node of a newer build, or by
    // hand): no node applies it, each says so, and config check shows the difference.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = CentralDb::new(pg.conn_string(&db).parse().unwrap(), None);
    let publish = |text: String, based_on: i64| {
        rt.block_on(async {
            let (mut client, _) = store.session(false).await.unwrap();
            central::publish(&mut client, Some(based_on), &text, "gw9")
                .await
                .unwrap()
        })
    };
    let v4 = rt
        .block_on(async {
            let (client, _) = store.session(false).await.unwrap();
            central::current(&client).await.unwrap()
        })
        .unwrap();
    assert_eq!(v4.version, 4);
    let bad = v4.shared.replace(
        "max_concurrent_connections = 11",
        "max_concurrent_connections = 5000",
    );
    assert_ne!(bad, v4.shared);
    assert_eq!(publish(bad, 4), Published::Made(5));
    for (name, node) in [("gw1", &mut a), ("gw2", &mut b)] {
        let l = node.wait_line("the refusal", APPLY_TIMEOUT, |l| {
            l.contains("central configuration version 5, made on gw9")
                && l.contains("is NOT applied on this node")
        });
        assert!(l.contains("max_concurrent_connections"), "{name}: {l}");
    }
    let show = ok(&cfg_a, &["destconfig", "show", "central.test"]);
    assert!(show.contains("11"), "{show}");
    let (code, out) = check(&cfg_a);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(version 5, made on gw9")
            && out.contains("max_concurrent_connections = 11 in this file, 5000 centrally")
            && out.contains("the central version does not validate"),
        "{out}"
    );
    // An edit on gw1 supersedes the version every node refused (it is based on it),
    // and is applied by the others.
    ok(
        &cfg_a,
        &[
            "destconfig",
            "edit",
            "central.test",
            "--max-concurrent-connections",
            "12",
        ],
    );
    wait_for(
        "gw1's edit after the refused version on gw2",
        APPLY_TIMEOUT,
        || ok(&cfg_b, &["destconfig", "show", "central.test"]).contains("12"),
        || logs(&a, &b),
    );
    b.wait_line("version 6 applied", APPLY_TIMEOUT, |l| {
        l.contains("central configuration version 6, made on gw1") && l.contains("applied")
    });
    // A version made outside the nodes (e.g. by a newer build) is applied the same way.
    let v6 = rt
        .block_on(async {
            let (client, _) = store.session(false).await.unwrap();
            central::current(&client).await.unwrap()
        })
        .unwrap();
    assert_eq!((v6.version, v6.based_on), (6, Some(5)));
    let good = v6.shared.replace(
        "max_concurrent_connections = 12",
        "max_concurrent_connections = 13",
    );
    assert_eq!(publish(good, 6), Published::Made(7));
    wait_for(
        "version 7 on gw2",
        APPLY_TIMEOUT,
        || ok(&cfg_b, &["destconfig", "show", "central.test"]).contains("13"),
        || logs(&a, &b),
    );

    // A DNS settings edit on gw3 reaches the others too.
    ok(
        &cfg_c,
        &[
            "dnsconfig",
            "set",
            "--resolver",
            "127.0.0.1:9 0",
            "--timeout",
            "4",
        ],
    );
    for cfg in [&cfg_a, &cfg_b] {
        wait_for(
            "gw3's DNS timeout",
            APPLY_TIMEOUT,
            || {
                std::fs::read_to_string(cfg)
                    .unwrap()
                    .contains("timeout_secs = 4")
            },
            || logs(&a, &c),
        );
    }
    let dns = ok(&cfg_b, &["dnsconfig", "show"]);
    assert!(dns.contains('4'), "{dns}");
    assert!(a.alive() && b.alive() && c.alive());
}

#[test]
fn an_edit_while_the_database_is_down_is_refused_and_changes_nothing() {
    let Some(pg) = PgServer::start() else { return };
    let db = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    let cfg = node_config(dir.path(), "gw1", &pg.url(&db));
    let mut gw = start(&cfg, dir.path());
    gw.wait_line("the seed", START_TIMEOUT, |l| {
        l.contains("version 1 seeded")
    });
    let before = std::fs::read_to_string(&cfg).unwrap();

    pg.stop_immediate();
    // config check cannot compare: a warning, the file itself is valid.
    let (code, out) = check(&cfg);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: cannot compare with the central configuration: the queue database is unreachable"),
        "{out}"
    );
    let (code, out) = cli(
        &cfg,
        &["destconfig", "add", "down.test", "--tls", "required"],
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("the central configuration database is unreachable, nothing was changed"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    let list = ok(&cfg, &["destconfig", "list"]);
    assert!(!list.contains("down.test"), "{list}");
    assert!(gw.alive(), "{}", gw.log_tail());

    // Once the database is back, the same edit goes through.
    pg.start_again();
    let t0 = Instant::now();
    loop {
        let (code, out) = cli(
            &cfg,
            &["destconfig", "add", "down.test", "--tls", "required"],
        );
        if code == 0 {
            break;
        }
        assert!(t0.elapsed() < START_TIMEOUT, "{out}\n{}", gw.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(std::fs::read_to_string(&cfg).unwrap().contains("down.test"));
    // (A version number after a database crash may skip: PostgreSQL's sequences do.)
    gw.wait_line("the new version", APPLY_TIMEOUT, |l| {
        l.contains("central configuration: version ") && l.contains(" stored (based on 1)")
    });
}
