//! `[tls_rpt]`: off by default, required keys when enabled, errors naming the key, and
//! the section survives the writer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use danegate_config::{Config, TlsRpt};

fn parse(extra: &str) -> Result<Config, danegate_config::ConfigErrors> {
    Config::from_toml_str(extra, "t.toml")
}

#[test]
fn off_by_default() {
    let c = parse("").unwrap();
    assert_eq!(c.tls_rpt, TlsRpt::default());
    assert!(!c.tls_rpt.enabled);
    assert_eq!(c.tls_rpt.send_time, (1, 0));
}

#[test]
fn full_section() {
    let c = parse(
        r#"
[tls_rpt]
enabled = true
organization_name = "Example Org"
contact_info = "mailto:postmaster@example.org"
sender = "tlsrpt@gw.example.org"
submitter = "Example.ORG."
send_time = "02:30"
"#,
    )
    .unwrap();
    let t = &c.tls_rpt;
    assert!(t.enabled);
    assert_eq!(t.organization_name, "Example Org");
    assert_eq!(t.sender, "tlsrpt@gw.example.org");
    assert_eq!(t.submitter, "example.org");
    assert_eq!(t.send_time, (2, 30));
    assert_eq!(t.submitter_or("gw"), "example.org");
    // The writer keeps it.
    let back = Config::from_toml_str(&c.to_toml(), "written").unwrap();
    assert_eq!(back.tls_rpt, c.tls_rpt);
}

#[test]
fn enabled_needs_who_and_from() {
    let e = parse("[tls_rpt]\nenabled = true\n").unwrap_err();
    let keys: Vec<&str> = e.errors.iter().map(|e| e.key.as_str()).collect();
    for k in [
        "tls_rpt.organization_name",
        "tls_rpt.contact_info",
        "tls_rpt.sender",
    ] {
        assert!(keys.contains(&k), "{k} missing in {keys:?}");
    }
}

#[test]
fn bad_values_name_their_key() {
    for (text, key) in [
        ("send_time = \"25:00\"", "tls_rpt.send_time"),
        ("send_time = \"1:00\"", "tls_rpt.send_time"),
        ("sender = \"no-at-sign\"", "tls_rpt.sender"),
        ("sender = \"a b@x.example\"", "tls_rpt.sender"),
        ("submitter = \"not a domain\"", "tls_rpt.submitter"),
        ("organization_name = \"\"", "tls_rpt.organization_name"),
        ("enabled = \"yes\"", "tls_rpt.enabled"),
        ("sendtime = \"01:00\"", "tls_rpt.sendtime"),
    ] {
        let e = parse(&format!("[tls_rpt]\n{text}\n")).unwrap_err();
        assert!(
            e.errors.iter().any(|e| e.key == key),
            "{text}: {:?}",
            e.errors
        );
    }
}
