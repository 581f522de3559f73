//! `danegate daneverify` as an administrator runs it: the appliance's lines, JSON,
//! trace and exit codes, against a signed world and real STARTTLS servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{path::Path, process::Command, sync::OnceLock};

mod dv_world;

use dv_world::DvWorld;
fn fixture() -> &'static DvWorld {
    static F: OnceLock<DvWorld> = OnceLock::new();
    F.get_or_init(|| {
        DvWorld::build(
            61,
            std::env::temp_dir().join(format!("danegate-dv-anchor-{}.key", std::process::id())),
        )
    })
}

fn daneverify(extra: &[&str]) -> (Option<i32>, String, String) {
    let f = fixture();
    let dns = f.dns.addr().to_string();
    let port = f.port.to_string();
    let anchor = f.anchor.to_str().unwrap();
    let mut args = vec!["--resolver", &dns, "--port", &port, "--timeout", "5"];
    args.extend(["--trust-anchor", anchor]);
    args.extend(extra);
    dv_world::daneverify(Path::new("."), &args)
}

#[test]
fn success_prints_the_seed_lines_and_exits_0() {
    let port = fixture().port;
    let (code, out, _) = daneverify(&["good.test"]);
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "SECURE MX record(mx.good.test) found for good.test"
    );
    assert_eq!(
        lines[1],
        "SECURE A record (127.0.0.61) found for MX(mx.good.test) in good.test"
    );
    assert_eq!(
        lines[2],
        format!("Connecting to 127.0.0.61 on port {port}.")
    );
    assert!(lines[3].starts_with("Connected to 127.0.0.61 from interface "));
    assert_eq!(
        lines[4],
        "SECURE TLSA record found for MX(mx.good.test) in good.test"
    );
    assert_eq!(lines[5], "Checking TLS connection.");
    assert_eq!(
        lines[6],
        "TLS connection established: protocol TLSv1.2, cipher ECDHE-ECDSA-AES256-GCM-SHA384."
    );
    assert_eq!(
        &lines[7..],
        &[
            "Certificate verification successful",
            "TLS connection succeeded good.test.",
            "DANE SUCCESS for good.test",
            "DANE verification completed."
        ]
    );
}

#[test]
fn failure_exits_1() {
    let (code, out, _) = daneverify(&["bad.test"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Certificate verification failed: no TLSA record matched"),
        "{out}"
    );
    assert!(
        out.ends_with("DANE FAILED for bad.test\nDANE verification completed.\n"),
        "{out}"
    );
}

#[test]
fn opportunistic_mode_prints_fallback_and_exits_3() {
    let (code, out, _) = daneverify(&["--mode", "opportunistic", "plain.test"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("DANE FALLBACK for plain.test"), "{out}");
    // the same domain under the default (Mandatory) table fails
    let (code, out, _) = daneverify(&["plain.test"]);
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn temporary_failure_exits_75() {
    let (code, out, _) = daneverify(&["broken.test"]);
    assert_eq!(code, Some(75), "{out}");
    assert!(
        out.contains("Temporary DNS failure looking up MX of broken.test"),
        "{out}"
    );
    assert!(
        out.contains("DANE TEMPORARY FAILURE for broken.test"),
        "{out}"
    );
}

#[test]
fn json_has_every_step_and_the_verdict() {
    let (code, out, _) = daneverify(&["--json", "good.test"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verdict"], "dane-success");
    assert_eq!(v["mode"], "mandatory");
    let steps = v["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["event"] == "tls-established" && s["protocol"] == "TLSv1.2")
    );
    assert!(
        steps.iter().any(|s| s["event"] == "tlsa-found"
            && s["records"][0].as_str().unwrap().starts_with("3 1 1 "))
    );
    assert!(steps.iter().any(|s| s["event"] == "decision"));
    assert_eq!(
        steps.last().unwrap()["line"],
        "DANE verification completed."
    );
}

#[test]
fn trace_shows_dns_queries() {
    let (_, _, err) = daneverify(&["--trace", "good.test"]);
    assert!(
        err.contains("Debug: DNS query: Q('good.test', 'MX')"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Debug: DNS query: Q('_{}._tcp.mx.good.test', 'TLSA')",
            fixture().port
        )),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_64() {
    let bin = env!("CARGO_BIN_EXE_danegate");
    for args in [
        vec!["daneverify"],
        vec!["daneverify", "--mode", "sometimes", "x.test"],
        vec!["daneverify", "--port", "0", "x.test"],
        vec!["daneverify", "--resolver", "not-an-ip", "x.test"],
        vec!["daneverify", "bad..name"],
    ] {
        let out = Command::new(bin).args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
}
