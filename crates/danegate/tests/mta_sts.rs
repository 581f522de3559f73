//! MTA-STS (RFC 8461) end to end through `danegate serve`: the STS world's signed DNS
//! on 127.0.0.1 serving `_mta-sts` TXT records, HTTPS policy hosts with certificates
//! from a test CA the gateway trusts through `[server] ca_file`, and STARTTLS SMTP
//! sinks as MX hosts.
//!
//! * enforce + valid certificate → delivered over verified TLS;
//! * enforce + self-signed / expired / wrong-name certificate, no STARTTLS, MX not in
//!   the policy → deferred (4.7.5) with the reason and the RFC 8460 result type;
//! * testing → delivered, the failure logged;
//! * policy fetch failures (bad HTTPS certificate, 404, redirect, invalid syntax) →
//!   no policy (delivered as before), the failure logged;
//! * no TXT record → no policy even though a policy file is served;
//! * DANE secure-but-mismatching + PKIX-valid certificate + enforce → not delivered;
//! * a cached policy survives a restart and a failing TXT lookup.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::gateway::{GatewayToml, ServeProcess};
use danegate_testkit::host::free_port;
use danegate_testkit::https::Route;
use danegate_testkit::smtp::SmtpSink;
use danegate_testkit::stsworld::{POLICY_PATH, StsWorld};

/// Generous: the machine is a loaded 2-core box shared with other builds.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(180);

struct Net {
    world: StsWorld,
    _dir: tempfile::TempDir,
    anchor: PathBuf,
    ca: PathBuf,
}

fn net() -> &'static Net {
    static N: OnceLock<Net> = OnceLock::new();
    N.get_or_init(|| {
        let world = StsWorld::start();
        let dir = tempfile::tempdir().unwrap();
        let (anchor, ca) = world.write_files(dir.path());
        Net {
            world,
            _dir: dir,
            anchor,
            ca,
        }
    })
}

/// `danegate serve` on the STS world: TLS Preferred + DANE Opportunistic (the
/// default profile), `[server] ca_file` = the test CA, retries every 1-2 s.
fn serve(data: &Path, port: u16) -> ServeProcess {
    let n = net();
    let text = GatewayToml {
        listen_port: port,
        retry_secs: (1, 2),
        bounce_extra: "max_retries = 10000\nhard_bounces = false".into(),
        server_extra: format!("ca_file = \"{}\"\n", n.ca.display()),
        // TLS-RPT on: the sessions under an MTA-STS policy are counted as `sts`.
        extra: "[tls_rpt]\nenabled = true\norganization_name = \"Test\"\n\
                contact_info = \"mailto:tls@gw.test\"\nsender = \"tlsrpt@gw.test\"\n"
            .into(),
        ..GatewayToml::new(data, n.world.dns_addr(), &n.anchor)
    }
    .render();
    let cfg = data.with_extension("toml");
    std::fs::write(&cfg, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_danegate");
    let sts_port = n.world.https_port().to_string();
    let smtp_port = n.world.smtp_port().to_string();
    let mut p = ServeProcess::spawn(
        bin,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--smtp-port",
            &smtp_port,
            "--mta-sts-port",
            &sts_port,
        ],
        data.parent().unwrap(),
    );
    p.wait_line("the listener line", START_TIMEOUT, |l| {
        l.starts_with("danegate: listener ")
    });
    p
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
    let d = c
        .send("alice@sender.test", &[to], body.as_bytes())
        .await
        .unwrap();
    assert!(format!("{d:?}").contains("250"), "{d:?}");
    let _ = c.quit().await;
}

fn delivered_to(sink: &SmtpSink, rcpt: &str) -> bool {
    sink.messages()
        .iter()
        .any(|m| m.rcpt_to.iter().any(|r| r == rcpt) && m.tls.is_some())
}

fn wait_delivered(p: &ServeProcess, sink: &SmtpSink, rcpt: &str) {
    let start = std::time::Instant::now();
    while !delivered_to(sink, rcpt) {
        assert!(
            start.elapsed() < DELIVERY_TIMEOUT,
            "{rcpt} not delivered; stderr:\n{}",
            p.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for a log line containing every one of `parts`.
fn wait_log(p: &mut ServeProcess, parts: &[&str]) -> String {
    p.wait_line(&parts.join(" … "), DELIVERY_TIMEOUT, |l| {
        parts.iter().all(|x| l.contains(x))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn enforce_testing_fetch_failures_and_dane_first() {
    let n = net();
    let w = &n.world;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut p = serve(&dir.path().join("data"), port);
    let domains = [
        "enforce",
        "wild",
        "selfsigned",
        "expired",
        "wrongname",
        "nostarttls",
        "notinpolicy",
        "testing",
        "badcert",
        "notfound",
        "redirect",
        "invalid",
        "notxt",
    ];
    for d in domains {
        submit(port, &format!("bob@{d}.sts.test")).await;
    }
    submit(port, "bob@dane.sdane.test").await;

    // enforce + valid certificate: delivered over TLS, the policy satisfied.
    let good = &w.host("mx-good").sink;
    for d in ["enforce", "wild"] {
        wait_delivered(&p, good, &format!("bob@{d}.sts.test"));
        wait_log(
            &mut p,
            &[
                &format!("MTA-STS {d}.sts.test policy enforce id 1 MX mx-good.stshosts.test"),
                ": ok",
            ],
        );
        wait_log(
            &mut p,
            &[&format!(
                "MTA-STS policy for {d}.sts.test fetched: id 1 mode enforce"
            )],
        );
    }

    // Delivery Status (hoststatus over the control socket): policy and outcome.
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
            "hoststatus",
            "enforce.sts.test",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["mta_sts"]["policy"]["mode"], "enforce", "{text}");
    assert_eq!(v["mta_sts"]["policy"]["id"], "1", "{text}");
    assert_eq!(
        v["mta_sts"]["policy"]["mx"][0], "mx-good.stshosts.test",
        "{text}"
    );
    assert_eq!(v["mta_sts"]["last"]["result"]["result"], "ok", "{text}");
    assert_eq!(v["profile"]["mta_sts"], "on", "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "hoststatus",
            "enforce.sts.test",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MTA-STS policy") && text.contains("enforce (id 1)"),
        "{text}"
    );
    assert!(
        text.contains("MTA-STS last outcome") && text.contains("ok (MX mx-good.stshosts.test)"),
        "{text}"
    );

    // enforce + a failing host: deferred with 4.7.5 and the reason.
    for (d, result) in [
        ("selfsigned", "certificate-not-trusted"),
        ("expired", "certificate-expired"),
        ("wrongname", "certificate-host-mismatch"),
        ("nostarttls", "starttls-not-supported"),
        ("notinpolicy", "validation-failure"),
    ] {
        let domain = format!("{d}.sts.test");
        wait_log(
            &mut p,
            &[&format!("MTA-STS {domain} policy enforce id 1"), result],
        );
        let l = wait_log(
            &mut p,
            &[
                "Delayed:",
                "4.7.5",
                &format!("MTA-STS policy of {domain} (mode enforce, id 1)"),
            ],
        );
        if d == "notinpolicy" {
            assert!(l.contains("no MX host matches the policy"), "{l}");
        }
    }
    assert!(!delivered_to(good, "bob@notinpolicy.sts.test"));
    let selfsigned = &w.host("mx-selfsigned").sink;
    assert!(!delivered_to(selfsigned, "bob@selfsigned.sts.test"));
    assert!(!delivered_to(
        &w.host("mx-expired").sink,
        "bob@expired.sts.test"
    ));
    assert!(!delivered_to(
        &w.host("mx-wrongname").sink,
        "bob@wrongname.sts.test"
    ));
    assert!(w.host("mx-nostarttls").sink.messages().is_empty());

    // testing: delivered, the failure logged.
    wait_delivered(&p, selfsigned, "bob@testing.sts.test");
    wait_log(
        &mut p,
        &[
            "MTA-STS testing.sts.test policy testing id 1",
            "certificate-not-trusted",
            "(testing: delivered anyway)",
        ],
    );

    // Fetch failures: no policy, delivered as without one, the failure logged.
    for (d, result) in [
        ("badcert", "sts-webpki-invalid"),
        ("notfound", "sts-policy-fetch-error"),
        ("redirect", "sts-policy-fetch-error"),
        ("invalid", "sts-policy-invalid"),
    ] {
        wait_delivered(&p, selfsigned, &format!("bob@{d}.sts.test"));
        wait_log(
            &mut p,
            &[
                &format!("MTA-STS policy fetch for {d}.sts.test (id 1) failed, {result}"),
                "no policy",
            ],
        );
    }
    // The redirect was not followed.
    assert!(
        w.policy_host("enforce.sts.test")
            .requests_for(POLICY_PATH)
            .len()
            <= 2
    );

    // No TXT: no policy, even though the file is served (and never asked for).
    wait_delivered(&p, selfsigned, "bob@notxt.sts.test");
    assert!(w.policy_host("notxt.sts.test").requests().is_empty());

    // DANE first: a secure TLSA that does not match is never rescued by the valid
    // PKIX certificate.
    let l = wait_log(
        &mut p,
        &[
            "Delayed:",
            "4.7.5",
            "MTA-STS policy of dane.sdane.test",
            "DANE FAILED",
        ],
    );
    assert!(l.contains("never rescued by PKIX"), "{l}");
    assert!(w.host("mx.sdane.test").sink.messages().is_empty());

    // TLS-RPT (RFC 8460 §4.4): the enforce domain's session is counted under its `sts`
    // policy, with the policy file's lines as policy-string.
    let cfg = dir.path().join("data").with_extension("toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(["--config", cfg.to_str().unwrap()])
        .args(["tlsrpt", "show", "--domain", "enforce.sts.test", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let flat = v.to_string();
    assert!(flat.contains(r#""policy-type":"sts""#), "{flat}");
    assert!(flat.contains("mode: enforce"), "{flat}");
    assert!(
        flat.contains(r#""total-successful-session-count":1"#),
        "{flat}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_policy_survives_restart_and_txt_failure() {
    let n = net();
    let w = &n.world;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = &w.host("mx-good").sink;
    let host = w.policy_host("cached.sts.test");

    let port = free_port();
    let mut p = serve(&data, port);
    submit(port, "first@cached.sts.test").await;
    wait_delivered(&p, good, "first@cached.sts.test");
    wait_log(
        &mut p,
        &["MTA-STS cached.sts.test policy enforce id 1", ": ok"],
    );
    drop(p);
    assert!(data.join("mta-sts-policies.json").exists());

    // Restart with the TXT lookup failing and the policy host gone (404): the cached
    // policy stays in force.
    w.fail_cached_txt(true);
    host.set_route(POLICY_PATH, Route::status(404));
    let fetches = host.requests_for(POLICY_PATH).len();
    let port = free_port();
    let mut p = serve(&data, port);
    submit(port, "second@cached.sts.test").await;
    wait_delivered(&p, good, "second@cached.sts.test");
    wait_log(
        &mut p,
        &[
            "MTA-STS cached.sts.test: TXT lookup failed",
            "the cached policy id 1 (enforce) stays in force",
        ],
    );
    wait_log(
        &mut p,
        &["MTA-STS cached.sts.test policy enforce id 1", ": ok"],
    );
    assert_eq!(host.requests_for(POLICY_PATH).len(), fetches, "no fetch");
    w.fail_cached_txt(false);
}

/// `danegate stsverify` against the STS world: its lines, JSON and exit codes.
#[test]
fn stsverify_lines_json_and_exit_codes() {
    let n = net();
    let w = &n.world;
    let run = |domain: &str, json: bool| {
        let dns = w.dns_addr().to_string();
        let port = w.smtp_port().to_string();
        let https = w.https_port().to_string();
        let mut args = vec![
            "stsverify",
            "--resolver",
            &dns,
            "--trust-anchor",
            n.anchor.to_str().unwrap(),
            "--ca-file",
            n.ca.to_str().unwrap(),
            "--port",
            &port,
            "--https-port",
            &https,
            "--timeout",
            "10",
        ];
        if json {
            args.push("--json");
        }
        args.push(domain);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_danegate"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run("enforce.sts.test", false);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("TXT _mta-sts.enforce.sts.test: v=STSv1; id=1;"),
        "{out}"
    );
    assert!(
        out.contains("mode enforce max_age 86400 mx mx-good.stshosts.test"),
        "{out}"
    );
    assert!(out.contains("MX mx-good.stshosts.test [127.0.0.40]: matches the policy; STARTTLS offered; TLS TLSv1.3; PKIX valid"), "{out}");
    assert!(
        out.contains("MTA-STS SATISFIED for enforce.sts.test (mode enforce)"),
        "{out}"
    );

    let (code, out, _) = run("expired.sts.test", false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("certificate-expired"), "{out}");
    assert!(out.contains("MTA-STS FAILED for expired.sts.test"), "{out}");
    let (code, out, _) = run("notinpolicy.sts.test", false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not match the policy"), "{out}");
    let (code, out, _) = run("nostarttls.sts.test", false);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("STARTTLS not offered"), "{out}");

    let (code, out, _) = run("notxt.sts.test", false);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("MTA-STS NO POLICY for notxt.sts.test"),
        "{out}"
    );
    let (code, out, _) = run("invalid.sts.test", false);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("sts-policy-invalid"), "{out}");

    let (code, out, _) = run("wrongname.sts.test", true);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["domain"], "wrongname.sts.test");
    assert_eq!(v["policy"]["mode"], "enforce");
    assert_eq!(v["hosts"][0]["matches_policy"], true);
    assert_eq!(v["hosts"][0]["result"], "certificate-host-mismatch");
    assert_eq!(v["exit"], 1);

    let (code, _, _) = run("not a domain", false);
    assert_eq!(code, 64);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(["stsverify", "--bogus-option", "x.test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
