//! The classification of attempts into TLS-RPT sessions, on event sequences as the
//! DANE path and the TLS Support path emit them.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code

use std::net::IpAddr;

use danegate_delivery::{Event, Sec, Verdict};
use danegate_tlsrpt::{PolicyType, ResultType, SessionResult};

use super::classify::{cert_result, classify};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(host: &str, a: &str) -> Vec<Event> {
    vec![
        Event::MxFound {
            sec: Sec::Secure,
            host: host.into(),
            preference: 10,
            domain: "d.test".into(),
            implicit: false,
        },
        Event::AddrFound {
            sec: Sec::Secure,
            rtype: "A".into(),
            ip: ip(a),
            host: host.into(),
            domain: "d.test".into(),
        },
    ]
}

fn connected(a: &str) -> Vec<Event> {
    vec![
        Event::Connecting {
            ip: ip(a),
            port: 25,
        },
        Event::Connected {
            ip: ip(a),
            local: ip("192.0.2.9"),
        },
    ]
}

fn tlsa(host: &str, usable: usize) -> Event {
    Event::TlsaFound {
        sec: Sec::Secure,
        host: host.into(),
        domain: "d.test".into(),
        base: host.into(),
        records: vec!["3 1 1 aabb".into()],
        usable,
    }
}

fn end(v: Verdict) -> Vec<Event> {
    vec![
        Event::Verdict {
            verdict: v,
            domain: "d.test".into(),
        },
        Event::Completed,
    ]
}

fn only_failure(events: &[Event], mandatory: bool) -> (PolicyType, danegate_tlsrpt::Failure) {
    let out = classify(events, mandatory);
    assert_eq!(out.len(), 1, "{out:?}");
    match &out[0] {
        (p, SessionResult::Failure(f)) => (p.kind, f.clone()),
        other => panic!("not a failure: {other:?}"),
    }
}

#[test]
fn dane_success_is_a_tlsa_success() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx.d.test", 1));
    e.push(Event::CheckingTls);
    e.push(Event::TlsEstablished {
        protocol: "TLSv1.3".into(),
        cipher: "X".into(),
    });
    e.push(Event::CertOk {
        detail: "ok".into(),
    });
    e.push(Event::TlsSucceeded {
        domain: "d.test".into(),
    });
    e.extend(end(Verdict::DaneSuccess));
    let out = classify(&e, false);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.kind, PolicyType::Tlsa);
    assert_eq!(out[0].0.strings, vec!["3 1 1 aabb"]);
    assert_eq!(out[0].0.mx_hosts, vec!["mx.d.test"]);
    assert_eq!(out[0].1, SessionResult::Success);
}

#[test]
fn tlsa_mismatch_is_tlsa_invalid_with_addresses() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx.d.test", 1));
    e.push(Event::CheckingTls);
    e.push(Event::CertFailed {
        reason: "no TLSA record matched the certificate chain: 3 1 1 aa..: no match".into(),
    });
    e.extend(end(Verdict::DaneFailed));
    let (kind, f) = only_failure(&e, false);
    assert_eq!(kind, PolicyType::Tlsa);
    assert_eq!(f.result_type, ResultType::TlsaInvalid);
    assert_eq!(f.sending_ip, Some(ip("192.0.2.9")));
    assert_eq!(f.receiving_ip, Some(ip("198.51.100.1")));
    assert_eq!(f.mx_host.as_deref(), Some("mx.d.test"));
}

#[test]
fn no_starttls_under_tlsa() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx.d.test", 1));
    e.push(Event::CheckingTls);
    e.push(Event::StartTlsFailed {
        ip: ip("198.51.100.1"),
        error: "STARTTLS not offered; a secure TLSA RRset forbids plain text".into(),
    });
    e.extend(end(Verdict::DaneFailed));
    let (kind, f) = only_failure(&e, false);
    assert_eq!(kind, PolicyType::Tlsa);
    assert_eq!(f.result_type, ResultType::StarttlsNotSupported);
}

#[test]
fn handshake_failure_without_reason_is_validation_failure() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx.d.test", 1));
    e.push(Event::TlsFailed {
        error: "handshake: protocol version".into(),
    });
    e.push(Event::Decision {
        action: "DANE FAIL".into(),
        row: "r".into(),
    });
    e.extend(end(Verdict::DaneFailed));
    let (_, f) = only_failure(&e, false);
    assert_eq!(f.result_type, ResultType::ValidationFailure);
}

#[test]
fn bogus_tlsa_is_dnssec_invalid() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.push(Event::TlsaBogus {
        host: "mx.d.test".into(),
        domain: "d.test".into(),
        base: "mx.d.test".into(),
        reason: "RRSIG expired".into(),
    });
    e.extend(end(Verdict::DaneFailed));
    let (kind, f) = only_failure(&e, false);
    assert_eq!(kind, PolicyType::Tlsa);
    assert_eq!(f.result_type, ResultType::DnssecInvalid);
}

#[test]
fn unusable_tlsa_is_tlsa_invalid_even_when_delivered() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx.d.test", 0));
    e.push(Event::TlsEstablished {
        protocol: "TLSv1.3".into(),
        cipher: "X".into(),
    });
    e.push(Event::CertUnchecked { why: "none".into() });
    e.extend(end(Verdict::Fallback));
    let (kind, f) = only_failure(&e, false);
    assert_eq!(kind, PolicyType::Tlsa);
    assert_eq!(f.result_type, ResultType::TlsaInvalid);
}

#[test]
fn mandatory_without_tlsa_is_dane_required() {
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.push(Event::TlsaNone {
        sec: Sec::Secure,
        host: "mx.d.test".into(),
        domain: "d.test".into(),
        base: "mx.d.test".into(),
    });
    e.extend(end(Verdict::DaneFailed));
    let (kind, f) = only_failure(&e, true);
    assert_eq!(kind, PolicyType::NoPolicyFound);
    assert_eq!(f.result_type, ResultType::DaneRequired);
    // Opportunistic: a missing TLSA is no failure.
    assert!(classify(&e, false).is_empty());
    // Mandatory and an insecure MX: no TLSA lookup at all.
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(end(Verdict::DaneFailed));
    let (_, f) = only_failure(&e, true);
    assert_eq!(f.result_type, ResultType::DaneRequired);
}

#[test]
fn tls_support_path_no_policy() {
    // Fallback: TLS without a policy is a success.
    let mut e = connected("198.51.100.2");
    e.push(Event::CheckingTls);
    e.push(Event::TlsEstablished {
        protocol: "TLSv1.3".into(),
        cipher: "X".into(),
    });
    e.push(Event::CertUnchecked { why: "pref".into() });
    let out = classify(&e, false);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.kind, PolicyType::NoPolicyFound);
    assert_eq!(out[0].1, SessionResult::Success);
    // No STARTTLS, clear text: one starttls-not-supported.
    let mut e = connected("198.51.100.2");
    e.push(Event::StartTlsFailed {
        ip: ip("198.51.100.2"),
        error: "STARTTLS not offered".into(),
    });
    e.push(Event::ClearTextFallback {
        ip: ip("198.51.100.2"),
        mode: "Preferred".into(),
        reason: "STARTTLS not offered".into(),
    });
    let (kind, f) = only_failure(&e, false);
    assert_eq!(kind, PolicyType::NoPolicyFound);
    assert_eq!(f.result_type, ResultType::StarttlsNotSupported);
    // TLS Support None: not counted.
    let mut e = connected("198.51.100.2");
    e.push(Event::TlsNotAttempted {
        ip: ip("198.51.100.2"),
        mode: "None".into(),
    });
    assert!(classify(&e, false).is_empty());
    // A connection that failed: not counted.
    let e = vec![Event::ConnectFailed {
        ip: ip("198.51.100.2"),
        port: 25,
        error: "refused".into(),
    }];
    assert!(classify(&e, false).is_empty());
}

#[test]
fn second_mx_after_a_failure_counts_both() {
    let mut e = addr("mx1.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx1.d.test", 1));
    e.push(Event::CertFailed {
        reason: "no TLSA record matched the certificate chain".into(),
    });
    e.push(Event::NextMx {
        domain: "d.test".into(),
    });
    e.extend(addr("mx2.d.test", "198.51.100.3"));
    e.extend(connected("198.51.100.3"));
    e.push(tlsa("mx2.d.test", 1));
    e.push(Event::TlsEstablished {
        protocol: "TLSv1.3".into(),
        cipher: "X".into(),
    });
    e.push(Event::CertOk {
        detail: "ok".into(),
    });
    e.extend(end(Verdict::DaneSuccess));
    let out = classify(&e, false);
    assert_eq!(out.len(), 2);
    assert!(matches!(out[0].1, SessionResult::Failure(_)));
    assert_eq!(out[0].0.mx_hosts, vec!["mx1.d.test"]);
    assert_eq!(out[1].1, SessionResult::Success);
    assert_eq!(out[1].0.mx_hosts, vec!["mx2.d.test"]);
}

#[test]
fn certificate_reasons() {
    assert_eq!(
        cert_result("certificate name does not match the reference identifiers: x"),
        ResultType::CertificateHostMismatch
    );
    assert_eq!(
        cert_result(
            "certificate chain to the DANE-TA trust anchor is invalid: certificate expired (not valid after ...)"
        ),
        ResultType::CertificateExpired
    );
    assert_eq!(
        cert_result(
            "certificate chain to the DANE-TA trust anchor is invalid: the chain does not lead to the trust anchor"
        ),
        ResultType::CertificateNotTrusted
    );
    assert_eq!(
        cert_result("no usable TLSA record"),
        ResultType::TlsaInvalid
    );
    assert_eq!(
        cert_result("server certificate unreadable"),
        ResultType::ValidationFailure
    );
}

#[test]
fn sessions_without_dane_go_under_an_sts_policy() {
    let mut e = connected("198.51.100.2");
    e.push(Event::StartTlsFailed {
        ip: ip("198.51.100.2"),
        error: "STARTTLS not offered".into(),
    });
    let sts = danegate_tlsrpt::Policy::sts(
        vec!["version: STSv1".into(), "mode: testing".into()],
        vec!["*.d.test".into()],
    );
    let out = super::under_sts(classify(&e, false), Some(&sts));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, sts);
    // DANE sessions stay under tlsa.
    let mut e = addr("mx.d.test", "198.51.100.1");
    e.extend(connected("198.51.100.1"));
    e.push(tlsa("mx.d.test", 1));
    e.push(Event::CertOk {
        detail: "ok".into(),
    });
    let out = super::under_sts(classify(&e, false), Some(&sts));
    assert_eq!(out[0].0.kind, PolicyType::Tlsa);
}
