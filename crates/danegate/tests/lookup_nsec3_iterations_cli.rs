//! `danegate lookup` of a name in an unsigned child of a zone whose NSEC3 records use
//! more than 150 iterations: INSECURE, as Unbound and delv say (RFC 9276 §3.2), not
//! BOGUS (mail to such domains would otherwise be deferred in every DANE mode).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::process::Command;

use danegate_testkit::dns::{Denial, ServerOptions, World};

#[test]
fn unsigned_child_below_a_high_iteration_nsec3_zone_is_insecure() {
    let mut w = World::new();
    w.zone("example.")
        .denial(Denial::Nsec3 {
            iterations: 200,
            salt: vec![0xaa, 0xbb],
            opt_out: false,
        })
        .records("www 300 IN A 192.0.2.1\n");
    w.zone("hosts.example.")
        .unsigned()
        .records("smtp 300 IN A 192.0.2.25\n");
    let world = w.build();
    let server = world.serve(ServerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("anchor.key");
    std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();
    let run = |name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
            .arg("lookup")
            .arg("--resolver")
            .arg(server.addr().to_string())
            .arg("--trust-anchor")
            .arg(&anchor)
            .args([name, "A"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run("smtp.hosts.example");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["INSECURE", "smtp.hosts.example. 300 IN A 192.0.2.25"],
        "{out}"
    );
    // The zone's own signed data stays SECURE.
    let (code, out) = run("www.example");
    assert_eq!((code, out.lines().next()), (0, Some("SECURE")), "{out}");
}
