//! The MTA-STS half of the shadow evaluation through a real `danegate serve` on the
//! STS world (signed DNS with `_mta-sts` TXT records, HTTPS policy hosts with a test
//! CA the gateway trusts through `[server] ca_file`, STARTTLS sinks as MX hosts):
//! deliveries under DANE None / TLS Preferred with `mta_sts = "off"` (the shadow
//! looks the policy up itself), `"on"` (the delivery's own lookup, an enforce policy
//! applied) and TLS None (not observed). For each domain the recorded would-be
//! MTA-STS enforce result equals what `danegate stsverify` decides for it; delivery
//! is what it is without the shadow; `readiness` and `hoststatus` show it; a second
//! delivery fetches no policy again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::gateway::{GatewayToml, ServeProcess};
use danegate_testkit::host::free_port;
use danegate_testkit::smtp::SmtpSink;
use danegate_testkit::stsworld::{POLICY_PATH, StsWorld};
use serde_json::Value;

const START_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(120);

/// `mta_sts = "off"` (the default profile of this gateway): the shadow's own lookup.
const OFF: [&str; 8] = [
    "enforce",
    "selfsigned",
    "expired",
    "nostarttls",
    "notinpolicy",
    "testing",
    "invalid",
    "notxt",
];
/// `mta_sts = "on"`: the delivery's lookup; wrongname's enforce policy defers it.
const ON: [&str; 3] = ["wild", "wrongname", "notfound"];
/// TLS None, `mta_sts = "off"`: the certificate is not observed.
const PLAIN: &str = "cached";

fn config(w: &StsWorld, data: &Path, anchor: &Path, ca: &Path, listen: u16) -> String {
    let mut extra = String::from(
        "[[destination]]\ndomain = \"default\"\ntls = \"preferred\"\ndane = \"none\"\n\
         mta_sts = \"off\"\nip_preference = \"ipv4-preferred\"\n",
    );
    for d in ON {
        extra += &format!("\n[[destination]]\ndomain = \"{d}.sts.test\"\nmta_sts = \"on\"\n");
    }
    extra += &format!("\n[[destination]]\ndomain = \"{PLAIN}.sts.test\"\ntls = \"none\"\n");
    GatewayToml {
        listen_port: listen,
        retry_secs: (1, 2),
        bounce_extra: "max_retries = 10000\nhard_bounces = false".into(),
        server_extra: format!("ca_file = \"{}\"\n", ca.display()),
        with_default_destination: false,
        extra,
        ..GatewayToml::new(data, w.dns_addr(), anchor)
    }
    .render()
}

async fn submit(port: u16, to: &str) {
    let mut c = SmtpClient::connect(
        SocketAddr::from(([127, 0, 0, 1], port)),
        None,
        Timeouts::uniform(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let body = format!("From: <alice@sender.test>\r\nTo: <{to}>\r\nSubject: sts\r\n\r\nHello.\r\n");
    c.send("alice@sender.test", &[to], body.as_bytes())
        .await
        .unwrap();
    let _ = c.quit().await;
}

fn delivered(sink: &SmtpSink, rcpt: &str) -> bool {
    sink.messages()
        .iter()
        .any(|m| m.rcpt_to.iter().any(|r| r == rcpt))
}

fn cli(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn readiness(cwd: &Path, cfg: &str) -> Value {
    let (code, out, err) = cli(
        cwd,
        &["readiness", "--config", cfg, "--json", "--since", "24h"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    serde_json::from_str(&out).unwrap()
}

fn row<'a>(r: &'a Value, domain: &str) -> Option<&'a Value> {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["domain"] == domain)
}

/// The shadow verdict `stsverify`'s exit status stands for.
fn verdicts_of_exit(code: i32) -> &'static [&'static str] {
    match code {
        0 => &["pass"],
        1 => &["fail"],
        3 => &["no-policy", "fetch-failed"],
        other => panic!("stsverify exit {other}"),
    }
}

/// A gateway named `name` in `dir` (its own data directory), with `extra` serve
/// arguments: (process, configuration path, listener port).
fn gateway(
    w: &StsWorld,
    dir: &Path,
    name: &str,
    (anchor, ca): (&Path, &Path),
    extra: &[&str],
) -> (ServeProcess, String, u16) {
    let data = dir.join(format!("data-{name}"));
    let cfg = dir.join(format!("{name}.toml"));
    let listen = free_port();
    std::fs::write(&cfg, config(w, &data, anchor, ca, listen)).unwrap();
    let cfg_s = cfg.to_str().unwrap().to_string();
    let smtp_port = w.smtp_port().to_string();
    let https_port = w.https_port().to_string();
    let mut args = vec![
        "--config",
        cfg_s.as_str(),
        "--smtp-port",
        smtp_port.as_str(),
        "--mta-sts-port",
        https_port.as_str(),
    ];
    args.extend(extra);
    let mut serve = ServeProcess::spawn(env!("CARGO_BIN_EXE_danegate"), &args, dir);
    serve.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
    (serve, cfg_s, listen)
}

fn domains() -> Vec<&'static str> {
    OFF.iter()
        .chain(ON.iter())
        .copied()
        .chain([PLAIN])
        .collect()
}

/// The MX host each domain's mail goes to.
fn host_of(d: &str) -> &'static str {
    match d {
        "enforce" | "wild" | "notinpolicy" | "cached" => "mx-good",
        "expired" => "mx-expired",
        "nostarttls" => "mx-nostarttls",
        "wrongname" => "mx-wrongname",
        _ => "mx-selfsigned",
    }
}

/// Waits until `local@D` is delivered for every domain but wrongname (held by its
/// enforce policy), and the queue's counts of every domain have settled; returns
/// what `hoststatus --json` says per domain.
fn settle(w: &StsWorld, dir: &Path, cfg: &str, serve: &ServeProcess, local: &str) -> Vec<Value> {
    let start = Instant::now();
    for d in domains().iter().filter(|d| **d != "wrongname") {
        let rcpt = format!("{local}@{d}.sts.test");
        while !delivered(&w.host(host_of(d)).sink, &rcpt) {
            assert!(
                start.elapsed() < WAIT,
                "{rcpt} not delivered\n{}",
                serve.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let status = || -> Vec<Value> {
        domains()
            .iter()
            .map(|d| {
                let (code, out, err) = cli(
                    dir,
                    &[
                        "hoststatus",
                        "--config",
                        cfg,
                        "--json",
                        &format!("{d}.sts.test"),
                    ],
                );
                assert_eq!(code, Some(0), "{out}{err}");
                serde_json::from_str(&out).unwrap()
            })
            .collect()
    };
    loop {
        let all = status();
        if all.iter().all(|h| !h["counts"]["last"].is_null()) {
            std::thread::sleep(Duration::from_millis(500));
            let again = status();
            let same = all
                .iter()
                .zip(&again)
                .all(|(a, b)| a["counts"]["delivered"] == b["counts"]["delivered"]);
            if same {
                break again;
            }
        }
        assert!(start.elapsed() < WAIT, "{all:?}\n{}", serve.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_sts_results_equal_stsverify_and_delivery_is_unchanged() {
    let w = StsWorld::start();
    let dir = tempfile::tempdir().unwrap();
    let (anchor, ca) = w.write_files(dir.path());
    let files = (anchor.as_path(), ca.as_path());
    let (serve, cfg_s, listen) = gateway(&w, dir.path(), "shadow", files, &[]);
    let smtp_port = w.smtp_port().to_string();
    let https_port = w.https_port().to_string();
    let all = domains();
    for d in &all {
        submit(listen, &format!("bob@{d}.sts.test")).await;
    }

    // Every domain gets its MTA-STS shadow result (the "off" ones once the shadow's
    // own background lookup has answered).
    let start = Instant::now();
    let report = loop {
        let r = readiness(dir.path(), &cfg_s);
        let done = all.iter().all(|d| {
            row(&r, &format!("{d}.sts.test")).is_some_and(|x| {
                let v = &x["latest"]["mta_sts"]["verdict"];
                v.is_string() && v != "not-checked"
            })
        });
        if done {
            break r;
        }
        assert!(
            start.elapsed() < WAIT,
            "no MTA-STS shadow result for every domain: {r:#}\n{}",
            serve.log_tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    // The shadow's own lookup fetched the "off" domain's policy once.
    let policy_host = w.policy_host("enforce.sts.test");
    assert_eq!(policy_host.requests_for(POLICY_PATH).len(), 1);
    // An "on" domain: the delivery's own fetch only; the shadow adds none.
    assert_eq!(
        w.policy_host("wild.sts.test")
            .requests_for(POLICY_PATH)
            .len(),
        1
    );

    // Each equals stsverify's verdict for the domain.
    let dns = w.dns_addr().to_string();
    for d in OFF.iter().chain(ON.iter()) {
        let domain = format!("{d}.sts.test");
        let (code, out, err) = cli(
            dir.path(),
            &[
                "stsverify",
                "--resolver",
                &dns,
                "--trust-anchor",
                anchor.to_str().unwrap(),
                "--ca-file",
                ca.to_str().unwrap(),
                "--port",
                &smtp_port,
                "--https-port",
                &https_port,
                "--timeout",
                "10",
                &domain,
            ],
        );
        let sts = &row(&report, &domain).unwrap()["latest"]["mta_sts"];
        let v = sts["verdict"].as_str().unwrap();
        assert!(
            verdicts_of_exit(code.unwrap()).contains(&v),
            "{domain}: shadow {v} ({}), stsverify exit {code:?}:\n{out}{err}",
            sts["reason"]
        );
    }
    let latest =
        |d: &str| row(&report, &format!("{d}.sts.test")).unwrap()["latest"]["mta_sts"].clone();
    assert_eq!(latest("enforce")["finding"], "valid");
    assert_eq!(latest("enforce")["policy_mode"], "enforce");
    assert_eq!(
        latest("selfsigned")["result_type"],
        "certificate-not-trusted"
    );
    assert_eq!(latest("expired")["result_type"], "certificate-expired");
    assert_eq!(latest("nostarttls")["finding"], "starttls-not-supported");
    assert_eq!(latest("notinpolicy")["finding"], "mx-mismatch");
    assert_eq!(
        latest("notinpolicy")["reason"],
        "mx-good.stshosts.test does not match the policy (mx: elsewhere.stshosts.test)"
    );
    assert_eq!(latest("testing")["policy_mode"], "testing");
    assert_eq!(latest("testing")["verdict"], "fail");
    assert_eq!(latest("invalid")["verdict"], "fetch-failed");
    assert_eq!(latest("invalid")["result_type"], "sts-policy-invalid");
    assert_eq!(latest("notxt")["verdict"], "no-policy");
    assert_eq!(latest("wild")["verdict"], "pass");
    // The delivery's own enforce path refused wrongname: that is the shadow's result.
    assert_eq!(latest("wrongname")["verdict"], "fail");
    assert_eq!(
        latest("wrongname")["result_type"],
        "certificate-host-mismatch"
    );
    assert_eq!(latest("notfound")["verdict"], "fetch-failed");
    // TLS None: not observed, never a guess.
    assert_eq!(latest(PLAIN)["verdict"], "not-observed");
    assert_eq!(latest(PLAIN)["finding"], "no-tls-observed");

    // "off" and a failed fetch deliver as without a policy; only the enforce policy
    // applied ("on") holds wrongname. (Compared with --no-shadow at the end.)
    let with = settle(&w, dir.path(), &cfg_s, &serve, "bob");
    assert!(!delivered(
        &w.host("mx-wrongname").sink,
        "bob@wrongname.sts.test"
    ));

    // Readiness: the MTA-STS column and recommendations.
    let rec = |d: &str| {
        row(&report, &format!("{d}.sts.test")).unwrap()["mta_sts"]["recommendation"].clone()
    };
    assert_eq!(rec("enforce")["code"], "ready");
    assert_eq!(
        rec("enforce")["text"],
        "safe to enforce MTA-STS: 100 % of 1 delivery in 24 hours would have passed"
    );
    assert_eq!(rec("notinpolicy")["code"], "would-fail");
    assert!(
        rec("notinpolicy")["text"].as_str().unwrap().starts_with(
            "would fail MTA-STS enforce: mx-good.stshosts.test does not match the policy"
        ),
        "{}",
        rec("notinpolicy")
    );
    assert_eq!(rec("notxt")["code"], "no-policy");
    assert_eq!(rec("invalid")["code"], "fetch-failed");
    assert_eq!(rec(PLAIN)["code"], "not-observed");
    let (code, out, err) = cli(dir.path(), &["readiness", "--config", &cfg_s]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("MTA-STS ENFORCE"), "{out}");
    assert!(
        out.contains(
            "MTA-STS: would fail MTA-STS enforce: mx-good.stshosts.test does not match the policy"
        ),
        "{out}"
    );
    assert!(
        out.contains("MTA-STS: safe to enforce MTA-STS: 100 % of 1 delivery in 7 days"),
        "{out}"
    );

    // Delivery Status: the latest delivery's shadow line.
    let (code, out, err) = cli(
        dir.path(),
        &["hoststatus", "--config", &cfg_s, "notinpolicy.sts.test"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(
            "Shadow MTA-STS enforce   MTA-STS FAILED: mx-good.stshosts.test does not match the policy"
        ),
        "{out}"
    );

    // Cheap: a second delivery to an "off" domain uses the cached policy (no fetch, no
    // lookup of its own) and is decided at once.
    // (stsverify fetched it once more above, on its own.)
    let fetches = policy_host.requests_for(POLICY_PATH).len();
    submit(listen, "again@enforce.sts.test").await;
    let start = Instant::now();
    loop {
        let r = readiness(dir.path(), &cfg_s);
        let x = row(&r, "enforce.sts.test").unwrap();
        if x["messages"] == 2 {
            assert_eq!(x["mta_sts"]["counts"]["pass"], 2, "{x:#}");
            break;
        }
        assert!(start.elapsed() < WAIT, "{x:#}\n{}", serve.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(policy_host.requests_for(POLICY_PATH).len(), fetches);
    drop(serve);

    // The same deliveries without shadow evaluation: the same outcomes.
    let (serve2, cfg2, listen2) = gateway(&w, dir.path(), "plain", files, &["--no-shadow"]);
    for d in &all {
        submit(listen2, &format!("nosh@{d}.sts.test")).await;
    }
    let without = settle(&w, dir.path(), &cfg2, &serve2, "nosh");
    assert!(!delivered(
        &w.host("mx-wrongname").sink,
        "nosh@wrongname.sts.test"
    ));
    for (a, b) in with.iter().zip(&without) {
        let (ca, cb) = (&a["counts"], &b["counts"]);
        for k in ["delivered", "hard_bounced", "active"] {
            assert_eq!(ca[k], cb[k], "{}: {k}", a["domain"]);
        }
        for k in ["dane", "host", "tls_protocol"] {
            assert_eq!(ca["last"][k], cb["last"][k], "{}: last.{k}", a["domain"]);
        }
        assert!(cb["last"]["shadow"].is_null());
    }
}
