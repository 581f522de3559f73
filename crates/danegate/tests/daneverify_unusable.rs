//! `danegate daneverify` for a domain whose MX host publishes a secure TLSA RRset without
//! a usable record (RFC 7672 §2.2: TLS mandatory, unauthenticated), in both modes,
//! against the signed mail world and its real STARTTLS servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::process::Command;

use danegate_testkit::mailworld::MailWorld;

fn daneverify(mode: &str, domain: &str) -> (Option<i32>, Vec<String>) {
    let w = MailWorld::get();
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("daneverify")
        .args([
            "--resolver",
            &w.dns_addr().to_string(),
            "--port",
            &w.port().to_string(),
            "--timeout",
            "5",
            "--ip-preference",
            "ipv4-preferred",
            "--mode",
            mode,
        ])
        .arg("--trust-anchor")
        .arg(w.anchor_file())
        .arg(domain)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (out.status.code(), lines)
}

#[test]
fn opportunistic_says_fallback_and_why() {
    let (code, l) = daneverify("opportunistic", "unusable.dom.test");
    assert_eq!(code, Some(3), "{l:#?}");
    let n = l.len();
    assert_eq!(
        l[n - 3],
        "DANE UNUSABLE TLSA: TLS mandatory, unauthenticated: MX(unusable.hosts.test) in \
         unusable.dom.test publishes a secure TLSA RRset without a usable record (RFC 7672 §2.2)",
        "{l:#?}"
    );
    assert_eq!(l[n - 2], "DANE FALLBACK for unusable.dom.test");
    assert_eq!(l[n - 1], "DANE verification completed.");
    assert!(
        l.contains(
            &"SECURE TLSA record found for MX(unusable.hosts.test) in unusable.dom.test, \
              but none is usable: TLS is mandatory, unauthenticated"
                .to_string()
        ),
        "{l:#?}"
    );
    assert!(
        l.iter()
            .any(|x| x.starts_with("TLS connection established: protocol TLSv1.")),
        "{l:#?}"
    );
}

#[test]
fn opportunistic_without_starttls_fails() {
    let (code, l) = daneverify("opportunistic", "unusablenotls.dom.test");
    assert_eq!(code, Some(1), "{l:#?}");
    assert_eq!(l[l.len() - 2], "DANE FAILED for unusablenotls.dom.test");
    assert!(
        l.iter().any(|x| x.contains("STARTTLS not offered")),
        "{l:#?}"
    );
}

#[test]
fn mandatory_fails() {
    let (code, l) = daneverify("mandatory", "unusable.dom.test");
    assert_eq!(code, Some(1), "{l:#?}");
    assert_eq!(l[l.len() - 2], "DANE FAILED for unusable.dom.test");
    assert!(
        !l.iter().any(|x| x.starts_with("DANE UNUSABLE TLSA")),
        "{l:#?}"
    );
}
