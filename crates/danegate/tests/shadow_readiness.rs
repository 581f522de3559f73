//! Shadow evaluation through a real `danegate serve` (signed DNS test world, STARTTLS
//! sinks on 127.0.0.x): with every domain of the daneverify world under DANE None /
//! TLS Preferred, one message to each; the would-be DANE Mandatory and Opportunistic
//! verdicts recorded for each domain equal what `danegate daneverify --mode ...`
//! decides for it (and MTA-STS enforce: no policy, as none is published);
//! `danegate readiness` (text and --json) and `hoststatus` show them;
//! and nothing about delivery differs from a run with `--no-shadow`.

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
const DOMAINS: [&str; 4] = ["good.test", "bad.test", "plain.test", "broken.test"];

fn config_text(n: &DvWorld, data_dir: &Path, listen: u16) -> String {
    GatewayToml {
        listen_port: listen,
        dns_timeout_secs: 5,
        tls: "preferred",
        dane: "none",
        ..GatewayToml::new(data_dir, n.dns.addr(), &n.anchor)
    }
    .render()
}

/// `danegate ARGS`: (exit code, stdout, stderr).
fn cli(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_danegate"));
    cmd.args(args).current_dir(cwd);
    danegate_testkit::cli::run(cmd, "")
}

fn submit(port: u16, rcpt: &str) {
    danegate_testkit::cli::submit_plain(port, rcpt, "shadow");
}

fn json(cwd: &Path, args: &[&str]) -> Value {
    let (code, out, err) = cli(cwd, args);
    assert_eq!(code, Some(0), "{args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Runs a gateway (`extra` serve arguments), sends one message to each domain and waits
/// until each has a delivery outcome; returns what `hoststatus --json` says per domain.
fn run(n: &DvWorld, dir: &Path, name: &str, extra: &[&str]) -> (ServeProcess, String, Vec<Value>) {
    let data = dir.join(format!("data-{name}"));
    let cfg = dir.join(format!("{name}.toml"));
    let listen = free_port();
    std::fs::write(&cfg, config_text(n, &data, listen)).unwrap();
    let cfg_s = cfg.to_str().unwrap().to_string();
    let port = n.port.to_string();
    let mut args = vec!["--config", cfg_s.as_str(), "--smtp-port", port.as_str()];
    args.extend(extra);
    let mut serve = ServeProcess::spawn(env!("CARGO_BIN_EXE_danegate"), &args, dir);
    serve.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
    for d in DOMAINS {
        submit(listen, &format!("user@{d}"));
    }
    let start = Instant::now();
    let statuses = loop {
        let all: Vec<Value> = DOMAINS
            .iter()
            .map(|d| json(dir, &["hoststatus", "--config", &cfg_s, "--json", d]))
            .collect();
        // Every domain has an outcome, and the queue's counts have settled (the outcome
        // is noted just before the recipients' fates are written).
        if all.iter().all(|h| !h["counts"]["last"].is_null()) {
            std::thread::sleep(Duration::from_millis(500));
            let again: Vec<Value> = DOMAINS
                .iter()
                .map(|d| json(dir, &["hoststatus", "--config", &cfg_s, "--json", d]))
                .collect();
            if again == all {
                break all;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no outcome for every domain: {all:?}\n{}",
            serve.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    (serve, cfg_s, statuses)
}

/// The listener port written in configuration file `cfg`.
fn listen_of(cfg: &str) -> u16 {
    let text = std::fs::read_to_string(cfg).unwrap();
    let i = text.find("127.0.0.1:").unwrap() + "127.0.0.1:".len();
    text[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// daneverify's exit status for a shadow verdict.
fn exit_of(verdict: &str) -> i32 {
    match verdict {
        "dane-success" => 0,
        "dane-failed" => 1,
        "fallback" => 3,
        "temp-fail" => 75,
        other => panic!("verdict {other} has no daneverify equivalent"),
    }
}

#[test]
fn shadow_verdicts_equal_daneverify_and_delivery_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let n = DvWorld::build(131, dir.path().join("anchor.ds"));
    let (serve, cfg, with) = run(&n, dir.path(), "shadow", &[]);

    // Readiness as JSON: one row per domain, the verdicts of daneverify.
    let r = json(
        dir.path(),
        &["readiness", "--config", &cfg, "--json", "--since", "24h"],
    );
    assert_eq!(r["shadow_enabled"], Value::Bool(true));
    assert_eq!(r["window"], "24 hours");
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), DOMAINS.len(), "{r:#}");
    let dns = n.dns.addr().to_string();
    let port = n.port.to_string();
    for d in DOMAINS {
        let row = rows.iter().find(|x| x["domain"] == d).unwrap();
        assert_eq!(row["messages"], 1, "{row:#}");
        assert_eq!(row["dane"], "none");
        assert_eq!(row["tls"], "preferred");
        let latest = &row["latest"];
        for mode in ["mandatory", "opportunistic"] {
            let (code, out, err) = daneverify(
                dir.path(),
                &[
                    "--resolver",
                    &dns,
                    "--trust-anchor",
                    n.anchor.to_str().unwrap(),
                    "--port",
                    &port,
                    "--timeout",
                    "5",
                    "--mode",
                    mode,
                    d,
                ],
            );
            let verdict = latest[mode]["verdict"].as_str().unwrap();
            assert_eq!(
                Some(exit_of(verdict)),
                code,
                "{d} {mode}: shadow {verdict} ({}), daneverify:\n{out}{err}",
                latest[mode]["reason"]
            );
        }
        // No domain of this world publishes an MTA-STS policy (broken.test's TXT
        // lookup fails like its MX lookup: with nothing cached, no policy).
        assert_eq!(latest["mta_sts"]["verdict"], "no-policy", "{latest:#}");
        assert_eq!(row["mta_sts"]["recommendation"]["code"], "no-policy");
    }
    let rec = |d: &str| {
        rows.iter()
            .find(|x| x["domain"] == d)
            .unwrap()
            .get("recommendation")
            .unwrap()
            .clone()
    };
    assert_eq!(rec("good.test")["code"], "ready");
    assert_eq!(
        rec("good.test")["text"],
        "safe to set DANE Mandatory: 100 % of 1 delivery in 24 hours would have passed"
    );
    assert_eq!(rec("bad.test")["code"], "would-fail");
    assert!(
        rec("bad.test")["text"]
            .as_str()
            .unwrap()
            .starts_with("would fail: TLSA does not match the certificate of mx.bad.test"),
        "{}",
        rec("bad.test")
    );
    assert_eq!(rec("plain.test")["code"], "no-dane");
    assert_eq!(rec("broken.test")["code"], "temporary");
    assert_eq!(r["summary"]["messages"], 4);
    assert_eq!(r["summary"]["would_be_protected"], 1);

    // The text report.
    let (code, out, err) = cli(dir.path(), &["readiness", "--config", &cfg]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("Readiness over the last 7 days: 4 message(s) to 4 domain(s)"),
        "{out}"
    );
    assert!(
        out.contains("safe to set DANE Mandatory: 100 % of 1 delivery in 7 days would have passed"),
        "{out}"
    );
    assert!(out.contains("bad.test:\n  Mandatory: DANE FAILED — TLSA does not match the certificate of mx.bad.test"), "{out}");
    let (code, _, err) = cli(
        dir.path(),
        &["readiness", "--config", &cfg, "--since", "90d"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("at most 31 days"), "{err}");

    // hoststatus: the host tried and the shadow result of the latest delivery.
    let (code, out, err) = cli(dir.path(), &["hoststatus", "--config", &cfg, "bad.test"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Shadow Mandatory         DANE FAILED: TLSA does not match the certificate of mx.bad.test"), "{out}");
    assert!(
        out.contains("Shadow MTA-STS enforce   no policy: bad.test publishes no MTA-STS policy"),
        "{out}"
    );
    assert!(
        out.contains("Last Host Tried          mx.bad.test [127.0.0.132]"),
        "{out}"
    );

    // Under DANE Mandatory the delivery's own DANE check refuses bad.test's certificate
    // (no session): the shadow still sees that rejection, and the report says the
    // mail is being held.
    let (code, out, err) = cli(
        dir.path(),
        &[
            "destconfig",
            "--config",
            &cfg,
            "add",
            "bad.test",
            "--dane",
            "mandatory",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    submit(listen_of(&cfg), "again@bad.test");
    let start = Instant::now();
    let row = loop {
        let r = json(
            dir.path(),
            &["readiness", "--config", &cfg, "--json", "--since", "24h"],
        );
        let row = r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["domain"] == "bad.test")
            .unwrap()
            .clone();
        if row["messages"] == 2 {
            break row;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{row:#}\n{}",
            serve.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(row["dane"], "mandatory");
    assert_eq!(row["latest"]["tls"], "rejected", "{row:#}");
    assert_eq!(row["latest"]["mandatory"]["verdict"], "dane-failed");
    assert_eq!(row["latest"]["mandatory"]["finding"], "cert-mismatch");
    assert_eq!(
        row["recommendation"]["code"], "mandatory-failing",
        "{row:#}"
    );
    let h = json(
        dir.path(),
        &["hoststatus", "--config", &cfg, "--json", "bad.test"],
    );
    assert!(
        h["counts"]["last"]["cert_failed"].is_string(),
        "a failed certificate check is said: {h:#}"
    );
    let (_, out, _) = cli(dir.path(), &["hoststatus", "--config", &cfg, "bad.test"]);
    assert!(
        out.contains("Last TLS                 TLS negotiated, certificate check failed"),
        "{out}"
    );

    // A restart keeps the records.
    drop(serve);
    let cfg_path = cfg.clone();
    let port_s = n.port.to_string();
    let mut again = ServeProcess::spawn(
        env!("CARGO_BIN_EXE_danegate"),
        &["--config", &cfg_path, "--smtp-port", &port_s],
        dir.path(),
    );
    again.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
    let r2 = json(
        dir.path(),
        &["readiness", "--config", &cfg, "--json", "--since", "24h"],
    );
    assert_eq!(
        r2["rows"].as_array().unwrap().len(),
        DOMAINS.len(),
        "{r2:#}"
    );
    drop(again);

    // The same deliveries without shadow evaluation: the same outcomes.
    let (_serve2, cfg2, without) = run(&n, dir.path(), "plain", &["--no-shadow"]);
    for (a, b) in with.iter().zip(&without) {
        let (ca, cb) = (&a["counts"], &b["counts"]);
        for k in ["delivered", "hard_bounced", "active"] {
            assert_eq!(ca[k], cb[k], "{}: {k}", a["domain"]);
        }
        for k in ["dane", "host", "tls_protocol", "tried"] {
            assert_eq!(ca["last"][k], cb["last"][k], "{}: last.{k}", a["domain"]);
        }
        assert!(cb["last"]["shadow"].is_null());
    }
    let r3 = json(dir.path(), &["readiness", "--config", &cfg2, "--json"]);
    assert_eq!(r3["shadow_enabled"], Value::Bool(false));
    assert!(r3["rows"].as_array().unwrap().is_empty());
}
