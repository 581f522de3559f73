//! `danegate daneverify --config FILE DOMAIN` against a running `danegate serve` (real
//! binary, signed DNS test world, STARTTLS sinks on 127.0.0.x): the check runs inside
//! the gateway, its DNS debug lines land in the gateway's Debug log subscription, and
//! its output and exit status equal those of a standalone run on the same world with
//! the same resolver and trust anchor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    path::Path,
    time::{Duration, Instant},
};

use danegate_testkit::{
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
};

mod dv_world;

use dv_world::{DvWorld, daneverify};

const START_TIMEOUT: Duration = Duration::from_secs(90);

/// No default destination or bounce profile: the built-in ones, as daneverify's.
fn config_text(n: &DvWorld, data_dir: &Path, listen: u16) -> String {
    GatewayToml {
        listen_port: listen,
        dns_timeout_secs: 5,
        with_default_destination: false,
        with_default_bounce: false,
        extra: r#"
[[log]]
name = "mail_logs"
level = "info"

[[log]]
name = "mail_logs_d"
level = "debug"
"#
        .into(),
        ..GatewayToml::new(data_dir, n.dns.addr(), &n.anchor)
    }
    .render()
}

#[test]
fn daneverify_runs_inside_the_gateway_with_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let n = DvWorld::build(171, dir.path().join("anchor.ds"));
    let data = dir.path().join("data");
    let cfg = dir.path().join("danegate.toml");
    std::fs::write(&cfg, config_text(&n, &data, free_port())).unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let mut serve = ServeProcess::spawn(
        env!("CARGO_BIN_EXE_danegate"),
        &["--config", cfg_arg],
        dir.path(),
    );
    serve.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
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
            serve.log_tail()
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
