//! A secure TLSA RRset without a usable record (only PKIX-TA/PKIX-EE here), RFC 7672
//! §2.2: TLS is mandatory, but unauthenticated. Against the signed mail world and its
//! real STARTTLS servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use danegate_delivery::{Action, DaneMode, Event, Outcome, Verdict};
use danegate_testkit::mailworld::MailWorld;

mod common;

use common::{lines, run};

fn decisions(o: &Outcome) -> Vec<(String, String)> {
    o.events
        .iter()
        .filter_map(|e| match e {
            Event::Decision { action, row } => Some((action.clone(), row.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn opportunistic_delivers_over_unauthenticated_tls() {
    let o = run("unusable.dom.test", DaneMode::Opportunistic).await;
    let l = lines(&o);
    assert_eq!(o.verdict, Verdict::Fallback, "{l:#?}");
    // The session is TLS, unauthenticated, and says which table row gave it.
    let s = o.session.as_ref().expect("the TLS session to deliver over");
    assert!(s.protocol.starts_with("TLSv1."), "{}", s.protocol);
    assert_eq!(s.dane, Some(Action::TlsUnauthenticated));
    assert_eq!(s.host, "unusable.hosts.test");
    // The sink saw STARTTLS.
    let cmds = MailWorld::get().sink("unusable").commands();
    assert!(cmds.iter().any(|c| c == "STARTTLS"), "{cmds:?}");
    // daneverify: the why, then DANE FALLBACK.
    let n = l.len();
    assert_eq!(l[n - 2], "DANE FALLBACK for unusable.dom.test", "{l:#?}");
    assert_eq!(l[n - 1], "DANE verification completed.");
    assert!(
        l[n - 3].starts_with("DANE UNUSABLE TLSA: TLS mandatory, unauthenticated: MX(unusable.hosts.test) in unusable.dom.test"),
        "{l:#?}"
    );
    assert!(
        l.iter().any(|x| x
            == "SECURE TLSA record found for MX(unusable.hosts.test) in unusable.dom.test, but none is usable: TLS is mandatory, unauthenticated"),
        "{l:#?}"
    );
    assert!(
        l.iter()
            .any(|x| x.starts_with("TLS connection established: protocol TLSv1.")),
        "{l:#?}"
    );
    // Decided by the table's extension row, as data.
    let (action, row) = decisions(&o).pop().unwrap();
    assert_eq!(action, "DANE UNUSABLE TLSA: TLS mandatory, unauthenticated");
    assert!(row.contains("Secure | Secure | Unusable"), "{row}");
    let _ = o.session.unwrap().client.quit().await;
}

#[tokio::test]
async fn opportunistic_without_starttls_never_goes_plain() {
    let o = run("unusablenotls.dom.test", DaneMode::Opportunistic).await;
    let l = lines(&o);
    assert_eq!(o.verdict, Verdict::DaneFailed, "{l:#?}");
    assert!(o.session.is_none());
    assert!(
        o.fallback_host.is_none(),
        "no fallback to the TLS Support path"
    );
    assert!(
        o.events.iter().any(|e| matches!(e, Event::StartTlsFailed { error, .. } if error.contains("STARTTLS not offered"))),
        "{l:#?}"
    );
    assert_eq!(
        &l[l.len() - 2..],
        &[
            "DANE FAILED for unusablenotls.dom.test",
            "DANE verification completed."
        ]
    );
    let (action, row) = decisions(&o).pop().unwrap();
    assert_eq!(action, "DANE Fail");
    assert!(
        row.contains("Unusable") || row.contains("| | | NotReached") || row.ends_with("DANE Fail"),
        "{row}"
    );
    // Nothing was ever sent to the server.
    let cmds = MailWorld::get().sink("unusablenotls").commands();
    assert!(!cmds.iter().any(|c| c.starts_with("MAIL")), "{cmds:?}");
}

#[tokio::test]
async fn mandatory_fails() {
    for domain in ["unusable.dom.test", "unusablenotls.dom.test"] {
        let o = run(domain, DaneMode::Mandatory).await;
        let l = lines(&o);
        assert_eq!(o.verdict, Verdict::DaneFailed, "{domain}: {l:#?}");
        assert!(o.session.is_none());
        assert_eq!(l[l.len() - 2], format!("DANE FAILED for {domain}"));
        let (action, _) = decisions(&o).pop().unwrap();
        assert_eq!(action, "DANE Fail");
    }
}
