//! The DANE verifier corpus (`tests/danetest/*.txt`, format in its README.txt) run
//! as data against [`DaneVerifier::verify_chain`], with certificates generated here.
//! Every case runs; the test fails listing every case whose result differs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{collections::HashMap, path::Path};

use danegate_dane::{ReferenceIds, Tlsa, TlsaSet};
use danegate_tls::{DaneVerifier, FailureKind, TaSource, VerifyOutcome};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls_pki_types::{CertificateDer, UnixTime};

struct Made {
    cert: Certificate,
    key: KeyPair,
}

fn params(sans: &[&str], cn: &str, ca: bool, expired: bool) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("names");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    }
    if expired {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    } else {
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2040, 1, 1);
    }
    p
}

/// The certificates of the corpus README, by name: (DER, SPKI DER).
fn certificates() -> HashMap<&'static str, (Vec<u8>, Vec<u8>)> {
    let mut made: HashMap<&'static str, Made> = HashMap::new();
    let mut make = |name: &'static str,
                    sans: &[&str],
                    cn: &str,
                    ca: bool,
                    expired: bool,
                    issuer: Option<&'static str>| {
        let key = KeyPair::generate().expect("key");
        let p = params(sans, cn, ca, expired);
        let cert = match issuer {
            Some(i) => {
                let i = &made[i];
                p.signed_by(&key, &i.cert, &i.key).expect("sign")
            }
            None => p.self_signed(&key).expect("self-sign"),
        };
        made.insert(name, Made { cert, key });
    };
    const MX: &[&str] = &["mx.example.com"];
    make("root", &[], "Corpus Root", true, false, None);
    make(
        "int1",
        &[],
        "Corpus Intermediate 1",
        true,
        false,
        Some("root"),
    );
    make(
        "int2",
        &[],
        "Corpus Intermediate 2",
        true,
        false,
        Some("int1"),
    );
    make("leaf", MX, "mx.example.com", false, false, Some("int2"));
    make("leaf1", MX, "mx.example.com", false, false, Some("root"));
    make("leaf2", MX, "mx.example.com", false, false, Some("int1"));
    make("self", MX, "mx.example.com", false, false, None);
    make("expired", MX, "mx.example.com", false, true, Some("int1"));
    make("xint", &[], "Corpus Expired CA", true, true, Some("root"));
    make("xleaf", MX, "mx.example.com", false, false, Some("xint"));
    make(
        "other",
        &["other.example.net"],
        "other.example.net",
        false,
        false,
        Some("int1"),
    );
    make(
        "wild",
        &["*.example.com"],
        "*.example.com",
        false,
        false,
        Some("int1"),
    );
    make("cnonly", &[], "mx.example.com", false, false, Some("int1"));
    let mut out: HashMap<&'static str, (Vec<u8>, Vec<u8>)> = made
        .into_iter()
        .map(|(n, m)| (n, (m.cert.der().to_vec(), m.key.public_key_der())))
        .collect();
    out.insert(
        "garbage",
        (b"\x30\x03not a certificate".to_vec(), Vec::new()),
    );
    out
}

#[derive(Debug, Default)]
struct Case {
    file: String,
    line: usize,
    name: String,
    chain: Vec<String>,
    names: Vec<String>,
    tlsa: Vec<String>,
    expect: String,
}

fn parse_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("corpus file");
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            if raw.trim().is_empty() {
                cases.extend(cur.take());
            }
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{file}:{}: not `key: value`", i + 1));
        let c = cur.get_or_insert_with(|| Case {
            file: file.clone(),
            line: i + 1,
            ..Case::default()
        });
        let value = value.trim().to_string();
        match key.trim() {
            "name" => c.name = value,
            "chain" => c.chain = value.split_whitespace().map(String::from).collect(),
            "names" => c.names = value.split_whitespace().map(String::from).collect(),
            "tlsa" => c.tlsa.push(value),
            "expect" => c.expect = value,
            k => panic!("{file}:{}: unknown key {k:?}", i + 1),
        }
    }
    cases.extend(cur);
    cases
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The RDATA of one `tlsa:` line.
fn rdata(spec: &str, certs: &HashMap<&'static str, (Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let f: Vec<&str> = spec.split_whitespace().collect();
    let num = |s: &str| s.parse::<u8>().expect("TLSA field");
    let (u, s, m) = (num(f[0]), num(f[1]), num(f[2]));
    let data = if f[3] == "hex" {
        unhex(f[4])
    } else {
        let (der, spki) = certs
            .get(f[3])
            .unwrap_or_else(|| panic!("no certificate {:?}", f[3]));
        let mut data = Tlsa::for_cert(u, s, m, der, spki)
            .unwrap_or_else(|| panic!("cannot compute {spec}"))
            .data;
        match f.get(4) {
            Some(&"bad") => {
                if let Some(b) = data.last_mut() {
                    *b ^= 0x01;
                }
            }
            Some(&"short") => {
                data.pop();
            }
            None => {}
            Some(x) => panic!("unknown modifier {x:?}"),
        }
        data
    };
    let mut out = vec![u, s, m];
    out.extend(data);
    out
}

fn run(case: &Case, certs: &HashMap<&'static str, (Vec<u8>, Vec<u8>)>) -> String {
    let set = TlsaSet::from_rdata(case.tlsa.iter().map(|t| rdata(t, certs)));
    let names = if case.names.is_empty() {
        vec!["mx.example.com".to_string()]
    } else {
        case.names.clone()
    };
    let verifier = DaneVerifier::dane(set, ReferenceIds::new(&names));
    let chain: Vec<CertificateDer<'static>> = case
        .chain
        .iter()
        .map(|n| {
            CertificateDer::from(
                certs
                    .get(n.as_str())
                    .unwrap_or_else(|| panic!("no certificate {n:?}"))
                    .0
                    .clone(),
            )
        })
        .collect();
    let report = verifier.verify_chain(&chain[0], &chain[1..], UnixTime::now());
    match report.outcome {
        VerifyOutcome::Dane(m) => {
            let src = match m.ta_source {
                None => String::new(),
                Some(TaSource::Presented) => " presented".into(),
                Some(TaSource::Dns) => " dns".into(),
            };
            format!("ok {}{src}", m.depth)
        }
        VerifyOutcome::Failed(f) => format!(
            "fail {}",
            match f.kind {
                FailureKind::NoUsableRecords => "no-usable",
                FailureKind::NoMatch => "no-match",
                FailureKind::ChainInvalid => "chain-invalid",
                FailureKind::NameMismatch => "name-mismatch",
                FailureKind::BadCertificate => "bad-certificate",
            }
        ),
        other => format!("unexpected outcome {other:?}"),
    }
}

#[test]
fn dane_verifier_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/danetest");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt") && !p.ends_with("README.txt"))
        .collect();
    files.sort();
    let certs = certificates();
    let mut failures = Vec::new();
    let mut count = 0;
    for f in &files {
        for case in parse_cases(f) {
            assert!(
                !case.chain.is_empty() && !case.expect.is_empty(),
                "{}:{}: a case needs chain and expect",
                case.file,
                case.line
            );
            count += 1;
            let got = run(&case, &certs);
            if got != case.expect {
                failures.push(format!(
                    "{}:{} {:?}: expected {:?}, got {:?}",
                    case.file, case.line, case.name, case.expect, got
                ));
            }
        }
    }
    assert!(count >= 60, "only {count} cases found in {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
