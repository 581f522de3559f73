//! The DANE path against a real signed world and real STARTTLS servers: every row of
//! both of the appliance's tables, the RFC 7672 cases beyond them, and the appliance's three output samples.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use danegate_delivery::{DaneMode, Event, Outcome, Verdict};
use danegate_testkit::mailworld::{self, Expect, MailWorld, SCENARIOS};

mod common;

use common::{lines, run};

fn fixture() -> &'static MailWorld {
    MailWorld::get()
}

use DaneMode::{Mandatory as M, Opportunistic as O};
use Verdict::{DaneFailed as FAIL, DaneSuccess as OK, Fallback as FB, TempFail as TEMP};

fn verdict(e: Expect) -> Verdict {
    match e {
        Expect::DaneSuccess => OK,
        Expect::DaneFail => FAIL,
        Expect::Fallback => FB,
        Expect::TempFail => TEMP,
    }
}

/// Every row of both of the appliance's tables: (domain, row, Mandatory verdict, Opportunistic verdict).
fn table_rows() -> Vec<(&'static str, &'static str, Verdict, Verdict)> {
    mailworld::TABLE_ROWS
        .iter()
        .map(|&(d, r, m, o)| (d, r, verdict(m), verdict(o)))
        .collect()
}

/// The non-empty input cells of the last deciding row, e.g. ["Secure", "Secure", "Insecure"].
fn last_row(o: &Outcome) -> Vec<String> {
    let Some(row) = o.events.iter().rev().find_map(|e| match e {
        Event::Decision { row, .. } => Some(row.clone()),
        _ => None,
    }) else {
        return Vec::new();
    };
    let cells = row.split_once(": ").map(|(_, c)| c).unwrap_or("");
    let parts: Vec<&str> = cells.split(" | ").collect();
    parts[..parts.len().saturating_sub(1)]
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.trim().to_string())
        .collect()
}

#[tokio::test]
async fn every_row_of_both_appliance_tables() {
    let mut wrong = Vec::new();
    let rows = table_rows();
    // The 14 rows of the Opportunistic table, "Insecure Secure Secure" with both
    // certificate outcomes; they are also every kind of row of the Mandatory table.
    assert_eq!(rows.len(), 15, "a scenario per table row");
    for (domain, row, want_m, want_o) in rows {
        for (mode, want) in [(M, want_m), (O, want_o)] {
            let o = run(domain, mode).await;
            if o.verdict != want {
                wrong.push(format!(
                    "{domain} [{row}] {mode:?}: want {want:?}, got {:?}\n  {}",
                    o.verdict,
                    lines(&o).join("\n  ")
                ));
            }
            // In the Opportunistic table every column matters, so the deciding row must be
            // the appliance row this scenario was built for (statuses come from real signing).
            if mode == O {
                let decided = last_row(&o);
                let want_cells: Vec<&str> = row.split(' ').collect();
                if decided.is_empty()
                    || !want_cells
                        .starts_with(&decided.iter().map(String::as_str).collect::<Vec<_>>())
                {
                    wrong.push(format!(
                        "{domain} {mode:?}: decided by row {decided:?}, want [{row}]"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn tlsa_parameter_combinations_and_chains() {
    for (domain, want) in [
        ("ee301.dom.test", OK),
        ("ee312.dom.test", OK),
        ("ee300.dom.test", OK),
        ("ta201.dom.test", OK),
        ("ta211.dom.test", OK),
        ("eeexpired.dom.test", OK),
        ("multi.dom.test", OK),
        ("tamismatch.dom.test", FAIL),
        ("unusable.dom.test", FAIL),
    ] {
        let o = run(domain, M).await;
        assert_eq!(o.verdict, want, "{domain}:\n{}", lines(&o).join("\n"));
    }
}

#[tokio::test]
async fn every_extra_scenario_in_both_modes() {
    let mut wrong = Vec::new();
    for s in SCENARIOS {
        for (mode, want) in [(M, s.mandatory), (O, s.opportunistic)] {
            let o = run(s.domain, mode).await;
            if o.verdict != verdict(want) {
                wrong.push(format!(
                    "{} ({}) {mode:?}: want {want:?}, got {:?}\n  {}",
                    s.domain,
                    s.about,
                    o.verdict,
                    lines(&o).join("\n  ")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn dane_ta_name_mismatch_says_why() {
    let o = run("tamismatch.dom.test", M).await;
    let failed = o.events.iter().find_map(|e| match e {
        Event::CertFailed { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(failed.unwrap().contains("name"), "{:?}", lines(&o));
}

#[tokio::test]
async fn secure_tlsa_without_starttls_never_goes_plain() {
    for mode in [M, O] {
        let o = run("nostarttls.dom.test", mode).await;
        assert_eq!(o.verdict, FAIL);
        assert!(o.session.is_none());
        assert!(o.events.iter().any(|e| matches!(e, Event::StartTlsFailed { error, .. } if error.contains("STARTTLS not offered"))));
    }
}

#[tokio::test]
async fn tls12_and_tls13_servers_report_openssl_names() {
    let o = run("tls12.dom.test", M).await;
    assert_eq!(o.verdict, OK);
    let s = o.session.as_ref().unwrap();
    assert_eq!(s.protocol, "TLSv1.2");
    assert_eq!(s.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
    let o = run("tls13.dom.test", M).await;
    let s = o.session.as_ref().unwrap();
    assert_eq!(
        (s.protocol.as_str(), s.cipher.as_str()),
        ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    );
}

#[tokio::test]
async fn cname_mx_host_uses_tlsa_at_the_target() {
    let o = run("alias.dom.test", M).await;
    assert_eq!(o.verdict, OK, "{}", lines(&o).join("\n"));
    let base = o.events.iter().find_map(|e| match e {
        Event::TlsaFound { base, .. } => Some(base.clone()),
        _ => None,
    });
    assert_eq!(base.as_deref(), Some("real.hosts.test"));
}

#[tokio::test]
async fn first_mx_failing_second_passing() {
    let o = run("fallover.dom.test", M).await;
    assert_eq!(o.verdict, OK);
    let l = lines(&o);
    assert!(
        l.contains(&"Trying next MX record in fallover.dom.test".to_string()),
        "{l:?}"
    );
    assert_eq!(o.session.as_ref().unwrap().host, "good.hosts.test");
}

#[tokio::test]
async fn no_mx_record_uses_the_domain_itself() {
    let o = run("good.hosts.test", M).await;
    assert_eq!(o.verdict, OK, "{}", lines(&o).join("\n"));
    assert!(matches!(o.events[0], Event::MxFound { implicit: true, .. }));
}

#[tokio::test]
async fn address_servfail_is_a_temporary_failure() {
    for mode in [M, O] {
        let o = run("sfa.dom.test", mode).await;
        assert_eq!(o.verdict, TEMP, "{}", lines(&o).join("\n"));
    }
}

#[tokio::test]
async fn nonexistent_domain_fails() {
    let o = run("nothere.dom.test", M).await;
    assert_eq!(o.verdict, FAIL);
    assert!(matches!(o.events[0], Event::NoMailDomain { .. }));
}

// ---- the appliance's three samples, line by line (addresses and names are ours) ----

#[tokio::test]
async fn golden_success_sample() {
    let f = fixture();
    let o = run("good.dom.test", M).await;
    let l = lines(&o);
    let want_head = [
        "SECURE MX record(good.hosts.test) found for good.dom.test".to_string(),
        "SECURE A record (127.0.0.11) found for MX(good.hosts.test) in good.dom.test".to_string(),
        format!("Connecting to 127.0.0.11 on port {}.", f.port()),
    ];
    assert_eq!(&l[..3], &want_head[..], "{l:#?}");
    assert!(
        l[3].starts_with("Connected to 127.0.0.11 from interface 127.0.0."),
        "{}",
        l[3]
    );
    assert_eq!(
        &l[4..],
        &[
            "SECURE TLSA record found for MX(good.hosts.test) in good.dom.test",
            "Checking TLS connection.",
            "TLS connection established: protocol TLSv1.3, cipher TLS_AES_256_GCM_SHA384.",
            "Certificate verification successful",
            "TLS connection succeeded good.dom.test.",
            "DANE SUCCESS for good.dom.test",
            "DANE verification completed.",
        ][..]
    );
}

#[tokio::test]
async fn golden_bogus_sample() {
    let o = run("bogusmx.dom.test", M).await;
    assert_eq!(
        lines(&o),
        vec![
            "BOGUS MX record found for bogusmx.dom.test",
            "DANE FAILED for bogusmx.dom.test",
            "DANE verification completed.",
        ]
    );
}

#[tokio::test]
async fn golden_insecure_samples() {
    let o = run("twoplain.idom.test", M).await;
    assert_eq!(
        lines(&o),
        vec![
            "INSECURE MX record(mail1.plainhosts.test) found for twoplain.idom.test",
            "INSECURE MX record(mail1.plainhosts.test) found. The command will still proceed.",
            "INSECURE A record (127.0.0.31) found for MX(mail1.plainhosts.test) in twoplain.idom.test",
            "Trying next MX record in twoplain.idom.test",
            "INSECURE MX record(mail2.plainhosts.test) found for twoplain.idom.test",
            "INSECURE MX record(mail2.plainhosts.test) found. The command will still proceed.",
            "INSECURE A record (127.0.0.32) found for MX(mail2.plainhosts.test) in twoplain.idom.test",
            "DANE FAILED for twoplain.idom.test",
            "DANE verification completed.",
        ]
    );
    let o = run("twoaddr.idom.test", M).await;
    assert_eq!(
        lines(&o),
        vec![
            "INSECURE MX record(twoaddr.plainhosts.test) found for twoaddr.idom.test",
            "INSECURE MX record(twoaddr.plainhosts.test) found. The command will still proceed.",
            "INSECURE A record (127.0.0.33) found for MX(twoaddr.plainhosts.test) in twoaddr.idom.test",
            "Trying next A record (127.0.0.34) for MX(twoaddr.plainhosts.test) in twoaddr.idom.test",
            "INSECURE A record (127.0.0.34) found for MX(twoaddr.plainhosts.test) in twoaddr.idom.test",
            "DANE FAILED for twoaddr.idom.test",
            "DANE verification completed.",
        ]
    );
}

#[tokio::test]
async fn each_connection_runs_the_verifier_again() {
    // No session resumption may skip DANE: two runs, two full verifications.
    for _ in 0..2 {
        let o = run("good.dom.test", M).await;
        assert!(o.events.iter().any(|e| matches!(e, Event::CertOk { .. })));
    }
}
