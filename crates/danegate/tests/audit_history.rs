//! `danegate audit --from-history`: the domains come from the shadow evaluation store a
//! real `danegate serve` wrote while delivering (signed DNS test world, STARTTLS sinks):
//! only domains with deliveries, most traffic first, united with `--input` without
//! duplicates, found through `--config` or `--data-dir`; each domain's verdict is the
//! one `danegate daneverify` gives; bad windows and a missing store are usage errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use danegate_testkit::{
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
};
use serde_json::Value;

mod dv_world;

use dv_world::{DvWorld, daneverify};

const START_TIMEOUT: Duration = Duration::from_secs(90);

/// `danegate ARGS` in `cwd` with `stdin`: (exit code, stdout, stderr).
fn cli(cwd: &Path, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_danegate"));
    cmd.args(args).current_dir(cwd);
    danegate_testkit::cli::run(cmd, stdin)
}

fn submit(port: u16, rcpt: &str) {
    danegate_testkit::cli::submit_plain(port, rcpt, "h");
}

/// The audit's JSON lines: (domain, verdict) in order.
fn verdicts(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|l| {
            let o: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (
                o["domain"].as_str().unwrap().to_string(),
                o["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn domains_from_the_shadow_store_by_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = DvWorld::build(151, d.join("anchor.ds"));
    let data = d.join("data");
    let cfg = d.join("gw.toml");
    let listen = free_port();
    std::fs::write(
        &cfg,
        GatewayToml {
            listen_port: listen,
            dns_timeout_secs: 5,
            tls: "preferred",
            dane: "none",
            ..GatewayToml::new(&data, n.dns.addr(), &n.anchor)
        }
        .render(),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap().to_string();
    let port = n.port.to_string();
    let mut serve = ServeProcess::spawn(
        env!("CARGO_BIN_EXE_danegate"),
        &["--config", &cfg_s, "--smtp-port", &port],
        d,
    );
    serve.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
    // Traffic: plain.test 3 messages, good.test 2, bad.test 1; broken.test none.
    for (domain, count) in [("plain.test", 3), ("good.test", 2), ("bad.test", 1)] {
        for i in 0..count {
            submit(listen, &format!("u{i}@{domain}"));
        }
    }
    // Wait until the store has every delivery (readiness flushes the store).
    let start = Instant::now();
    loop {
        let (code, out, err) = cli(
            d,
            &["readiness", "--config", &cfg_s, "--json", "--since", "24h"],
            "",
        );
        assert_eq!(code, Some(0), "{out}{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        if r["summary"]["messages"] == 6 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{r:#}\n{}",
            serve.log_tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    let dns = n.dns.addr().to_string();
    let anchor = n.anchor.to_str().unwrap().to_string();
    let world = [
        "--resolver",
        dns.as_str(),
        "--trust-anchor",
        anchor.as_str(),
        "--port",
        port.as_str(),
        "--timeout",
        "5",
        "--json",
    ];
    let audit = |extra: &[&str], stdin: &str| {
        let mut args = vec!["audit"];
        args.extend(world);
        args.extend(extra);
        cli(d, &args, stdin)
    };

    // Alone, beside the running gateway: most traffic first, and daneverify's verdicts.
    let (code, out, err) = audit(&["--from-history", "30d", "--config", &cfg_s], "");
    assert_eq!(code, Some(0), "{err}");
    let got = verdicts(&out);
    let names: Vec<&str> = got.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(names, ["plain.test", "good.test", "bad.test"], "{out}");
    assert!(
        err.contains("3 domain(s) with deliveries in the last 30d"),
        "{err}"
    );
    for (domain, verdict) in &got {
        let (code, dv, dverr) = daneverify(
            d,
            &[
                "--resolver",
                &dns,
                "--trust-anchor",
                &anchor,
                "--port",
                &port,
                "--json",
                domain,
            ],
        );
        let dv: Value = serde_json::from_str(&dv).unwrap_or_else(|e| panic!("{e}: {dv}{dverr}"));
        let want = match code {
            Some(0) => "dane-success",
            Some(1) => "dane-failed",
            Some(3) => "fallback",
            _ => "temp-fail",
        };
        assert_eq!(verdict, want, "{domain}: {dv}");
    }
    assert_eq!(got[1].1, "dane-success");

    // With --input (standard input) and a domain: the union, given domains first.
    let (code, out, err) = audit(
        &[
            "--from-history",
            "7d",
            "--data-dir",
            data.to_str().unwrap(),
            "--input",
            "-",
            "--no-sts",
        ],
        "good.test\nbroken.test\nGOOD.test.\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<String> = verdicts(&out).into_iter().map(|(d, _)| d).collect();
    assert_eq!(
        names,
        ["good.test", "broken.test", "plain.test", "bad.test"],
        "{out}"
    );

    // The top-level --config finds the store too.
    let mut args = vec!["--config", cfg_s.as_str(), "audit"];
    args.extend(world);
    args.extend(["--from-history", "24h", "--no-sts"]);
    let (code, out, err) = cli(d, &args, "");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(verdicts(&out).len(), 3, "{out}");

    // Usage errors: windows, and a data directory without a store.
    for (window, why) in [
        ("90d", "at most 31 days"),
        ("7x", "unknown unit"),
        ("0d", "longer than 0"),
    ] {
        let (code, _, err) = audit(&["--from-history", window, "--config", &cfg_s], "");
        assert_eq!(code, Some(64), "{window}: {err}");
        assert!(err.contains("--from-history") && err.contains(why), "{err}");
    }
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = audit(
        &[
            "--from-history",
            "30d",
            "--data-dir",
            empty.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("no shadow evaluation store"), "{err}");
    drop(serve);
}
