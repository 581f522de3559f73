//! The audit gives every domain exactly daneverify's verdict (and lines), in both
//! modes, over a signed world of 237 domains covering every row of both decision
//! tables, the RFC 7672 scenarios beyond them and a host without a server, sharing
//! 24 MX hosts: one
//! `daneverify` run (in-process, its own resolver) per distinct domain shape, the
//! audit over all of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use danegate_admin::daneverify::{self, Check, CheckMode};
use danegate_audit::{AuditOptions, Summary, audit, html, record::verdict_word};
use danegate_dns::{Resolver, ResolverConfig, TrustAnchors, UpstreamConfig};
use danegate_testkit::mailworld::{MailWorld, bulk_domains};

const COPIES: usize = 4;

fn resolver(w: &MailWorld) -> Resolver {
    let mut c = ResolverConfig::new(
        vec![UpstreamConfig {
            addr: w.dns_addr(),
            priority: 0,
        }],
        TrustAnchors::parse(w.anchor_ds(), "test anchor").unwrap(),
    );
    c.timeout = Duration::from_secs(2);
    c.max_in_flight = 16;
    Resolver::new(c)
}

fn check(w: &MailWorld, mode: CheckMode, domain: &str) -> Check {
    Check {
        domain: domain.into(),
        port: w.port(),
        mode,
        ip_preference: "ipv4-only".into(),
        timeout_secs: 5,
        helo: "audit.test".into(),
        json: false,
    }
}

/// daneverify's verdict and lines for `domain`.
async fn daneverify_of(
    w: &MailWorld,
    r: &Resolver,
    mode: CheckMode,
    domain: &str,
) -> (String, Vec<String>) {
    let mut lines = Vec::new();
    let end = daneverify::run(r, &check(w, mode, domain), None, &mut |l| lines.push(l))
        .await
        .unwrap();
    (end.verdict, lines)
}

async fn equivalent(mode: CheckMode) {
    let w = MailWorld::build_bulk(COPIES);
    let all = bulk_domains(COPIES);
    assert!(all.len() >= 200, "{}", all.len());
    // daneverify once per template, with a resolver of its own.
    let dv = resolver(&w);
    let mut expected = BTreeMap::new();
    for t in all.iter().map(|(_, t)| *t).collect::<BTreeSet<_>>() {
        expected.insert(t, daneverify_of(&w, &dv, mode, t).await);
    }
    // Every verdict occurs (the world covers every table outcome).
    let verdicts: BTreeSet<&str> = expected.values().map(|(v, _)| v.as_str()).collect();
    let want: &[&str] = match mode {
        CheckMode::Mandatory => &["dane-success", "dane-failed", "temp-fail"],
        CheckMode::Opportunistic => &["dane-success", "dane-failed", "fallback", "temp-fail"],
    };
    assert_eq!(verdicts, want.iter().copied().collect(), "{expected:?}");
    // A few copies checked by daneverify too: a copy is its template with another name.
    for (d, t) in all.iter().filter(|(d, _)| d.starts_with("c3-")).take(12) {
        let (v, _) = daneverify_of(&w, &dv, mode, d).await;
        assert_eq!(v, expected[t].0, "{d} (copy of {t})");
    }

    let opts = AuditOptions {
        check: check(&w, mode, ""),
        concurrency: 64,
        per_ip: 2,
        sts: None,
    };
    let domains: Vec<String> = all.iter().map(|(d, _)| d.clone()).collect();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let done = Arc::new(move |_: &danegate_audit::DomainResult| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let a = audit(resolver(&w), domains.clone(), &opts, done)
        .await
        .unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), all.len());
    assert_eq!(
        a.results
            .iter()
            .map(|r| r.domain.clone())
            .collect::<Vec<_>>(),
        domains,
        "results in input order"
    );
    let mut wrong = Vec::new();
    for (r, (d, t)) in a.results.iter().zip(&all) {
        let (v, lines) = &expected[t];
        let lines: Vec<String> = if d == t {
            lines.clone()
        } else {
            lines.iter().map(|l| l.replace(*t, d)).collect()
        };
        if verdict_word(r.verdict) != v {
            wrong.push(format!(
                "{d} (as {t}): audit {:?}, daneverify {v}",
                r.verdict
            ));
        } else if r.lines != lines {
            wrong.push(format!(
                "{d} (as {t}): lines differ:\naudit:      {:?}\ndaneverify: {lines:?}",
                r.lines
            ));
        }
        assert_eq!(serde_json::to_value(r).unwrap()["mta_sts"], "not checked");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Shared: one STARTTLS probe per (host, address, TLSA RRset), not per domain.
    let s = Summary::of(&a);
    assert_eq!(s.domains, all.len());
    assert!(s.handshakes <= 25, "{s:?}");
    assert!(s.shared >= 50, "{s:?}");
    // The host without a server is reported, once, with every domain that uses it.
    assert_eq!(s.not_answering.len(), 1, "{s:?}");
    assert_eq!(s.not_answering[0].host, "down.hosts.test");
    assert_eq!(s.not_answering[0].domains, COPIES + 1);
    assert!(s.not_answering[0].error.contains("127.0.0.35"), "{s:?}");
    // The HTML report names every domain.
    let page = html::report(&s, &a.results);
    for d in &domains {
        assert!(page.contains(&format!("<td>{d}</td>")), "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_verdicts_equal_daneverify() {
    equivalent(CheckMode::Mandatory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunistic_verdicts_equal_daneverify() {
    equivalent(CheckMode::Opportunistic).await;
}
