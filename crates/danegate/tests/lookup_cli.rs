//! `danegate lookup` as a user runs it: output, JSON, trace and exit codes against
//! the signed test world.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{process::Command, sync::OnceLock};

use danegate_testkit::dns::{DnsServer, Fault, ServerOptions, SignedWorld, World};
use hickory_proto::rr::RecordType;

struct Fixture {
    _world: SignedWorld,
    server: DnsServer,
    anchor: tempfile_path::Path,
}

mod tempfile_path {
    /// A file in the target directory's temp area that is removed on drop.
    pub struct Path(pub std::path::PathBuf);
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut w = World::new();
        w.zone("test.");
        w.zone("good.test.")
            .records("@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.25\nalias 300 IN CNAME mail\n");
        w.zone("plain.test.")
            .unsigned()
            .records("www 300 IN A 192.0.2.80\n");
        w.zone("bad.test.")
            .records("www 300 IN A 192.0.2.90\n")
            .fault("www", RecordType::A, Fault::ExpiredSignature);
        let world = w.build();
        let server = world.serve(ServerOptions::default());
        let path = std::env::temp_dir().join(format!("danegate-anchor-{}.key", std::process::id()));
        std::fs::write(&path, world.trust_anchor_ds()).unwrap();
        Fixture {
            _world: world,
            server,
            anchor: tempfile_path::Path(path),
        }
    })
}

fn lookup(args: &[&str]) -> (i32, String, String) {
    let f = fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("lookup")
        .arg("--resolver")
        .arg(f.server.addr().to_string())
        .arg("--trust-anchor")
        .arg(&f.anchor.0)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn secure_answer_prints_status_and_records() {
    let (code, out, _) = lookup(&["good.test", "MX"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("SECURE"));
    assert_eq!(
        lines.next(),
        Some("good.test. 300 IN MX 10 mail.good.test.")
    );
}

#[test]
fn cname_links_are_shown_with_their_status() {
    let (code, out, _) = lookup(&["alias.good.test.", "a"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "SECURE",
            "alias.good.test. CNAME mail.good.test. (SECURE)",
            "mail.good.test. 300 IN A 192.0.2.25"
        ]
    );
}

#[test]
fn insecure_nxdomain_nodata_and_bogus() {
    let (code, out, _) = lookup(&["www.plain.test", "A"]);
    assert_eq!((code, out.lines().next()), (0, Some("INSECURE")));
    let (code, out, _) = lookup(&["nothere.good.test", "A"]);
    assert_eq!((code, out.lines().next()), (0, Some("NXDOMAIN (secure)")));
    let (code, out, _) = lookup(&["mail.good.test", "TLSA"]);
    assert_eq!((code, out.lines().next()), (0, Some("NODATA (secure)")));
    let (code, out, _) = lookup(&["www.bad.test", "A"]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("BOGUS (expired signature: RRSIG over www.bad.test. A"),
        "{out}"
    );
}

#[test]
fn json_output() {
    let (code, out, _) = lookup(&["--json", "www.bad.test", "A"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], "bogus");
    assert_eq!(v["kind"], "answer");
    assert!(v["reason"].as_str().unwrap().contains("expired"));
    let (_, out, _) = lookup(&["--json", "alias.good.test", "A"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], "secure");
    assert_eq!(v["chain"][0]["target"], "mail.good.test.");
    assert_eq!(v["records"][0], "mail.good.test. 300 IN A 192.0.2.25");
}

#[test]
fn trace_prints_the_appliance_debug_lines() {
    let (code, _, err) = lookup(&["--trace", "good.test", "MX"]);
    assert_eq!(code, 0);
    let addr = fixture().server.addr().to_string();
    let has = |needle: &str| err.lines().any(|l| l.contains(needle));
    assert!(has("Debug: DNS query: Q('good.test', 'MX')"), "{err}");
    assert!(
        has("Debug: DNS query: QN('good.test', 'MX', 'recursive_nameserver0.parent')"),
        "{err}"
    );
    assert!(
        has(&format!(
            "Debug: DNS query: Q ('good.test', 'MX', '{addr}')"
        )),
        "{err}"
    );
    assert!(
        has("Debug: DNSSEC Response data([(10, 'mail.good.test.')] , secure, 0, 300)"),
        "{err}"
    );
    assert!(has("Debug: DNS encache (good.test, MX, [("), "{err}");
    // every line has the appliance's timestamp: "Tue Feb  5 13:20:03 2019 Debug: "
    for l in err.lines() {
        let (stamp, _) = l.split_once(" Debug: ").unwrap_or_else(|| panic!("{l}"));
        assert_eq!(stamp.len(), 24, "{l}");
    }
    let (_, _, err) = lookup(&["--trace", "mail.good.test", "TLSA"]);
    assert!(
        err.contains("Received NODATA for domain mail.good.test type TLSA"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let bin = env!("CARGO_BIN_EXE_danegate");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["lookup", "--resolver", "dns.example", "x.test", "A"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("bad resolver address \"dns.example\""),
        "{err}"
    );
    let (code, err) = run(&["lookup", "--resolver", "127.0.0.1", "x.test", "NOPE"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown record type \"NOPE\""), "{err}");
    let bad = std::env::temp_dir().join(format!("danegate-bad-anchor-{}.key", std::process::id()));
    std::fs::write(&bad, ". IN DS 1 8 2 NOTHEX\n").unwrap();
    let (code, err) = run(&[
        "lookup",
        "--resolver",
        "127.0.0.1",
        "--trust-anchor",
        bad.to_str().unwrap(),
        "x.test",
        "A",
    ]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, Some(2));
    assert!(err.contains(":1: bad DS rdata"), "{err}");
    let (code, err) = run(&[
        "lookup",
        "--resolver",
        "127.0.0.1",
        "--trust-anchor",
        "/nonexistent/anchor.key",
        "x.test",
        "A",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cannot read trust-anchor file /nonexistent/anchor.key"),
        "{err}"
    );
    let (code, _) = run(&["lookup"]);
    assert_eq!(code, Some(2));
}

#[test]
fn temporary_failure_exits_75() {
    // A port where nothing answers: connection refused on UDP comes back as an error,
    // or the wait times out; either way a temporary failure.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let f = fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args([
            "lookup",
            "--timeout",
            "1",
            "--resolver",
            &addr,
            "--trust-anchor",
        ])
        .arg(&f.anchor.0)
        .args(["good.test", "MX"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "TIMEOUT");
}
