//! `/metrics`, `/healthz` and `/readyz` of a real `danegate serve`: the signed mail
//! world of the test kit, a known workload (a DANE success, a DANE failure that stays
//! queued, a domain that does not exist and bounces, whose DSN is delivered), then the
//! counters and labels scraped over HTTP, exactly; the same endpoints on the web
//! listener without login; and `/readyz` answering 503 naming `dns` when no upstream
//! resolver answers the DNSSEC probe.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    time::{Duration, Instant},
};

use danegate_testkit::{
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
    mailworld::MailWorld,
};

/// Generous: the machine is a loaded 2-core box shared with other builds.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(180);

const BIN: &str = env!("CARGO_BIN_EXE_danegate");

// ---------------------------------------------------------------------------------
// HTTP and the exposition format
// ---------------------------------------------------------------------------------

/// `GET path` on `addr`: (status, content type, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP head");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

/// One sample line: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap()),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            (name.to_string(), labels, value)
        })
        .collect()
}

/// The value of the series `name` whose labels besides `node` are exactly `labels`.
fn value(all: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    all.iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len() + 1
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

/// The sum over every series of `name` whose labels include `labels`.
fn sum(all: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    all.iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .sum()
}

/// `# TYPE name kind` lines.
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (n, k) = l.split_once(' ').unwrap();
            (n.to_string(), k.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------------

struct Smtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Smtp {
    fn connect(addr: SocketAddr) -> Smtp {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Smtp {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        c.expect(220);
        c.cmd("EHLO internal-mta.test", 250);
        c
    }

    fn expect(&mut self, code: u16) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(line.len() >= 4, "short reply {line:?}");
            all += &line;
            if line.as_bytes()[3] == b' ' {
                assert!(line.starts_with(&code.to_string()), "wanted {code}: {all}");
                return all;
            }
        }
    }

    fn cmd(&mut self, line: &str, code: u16) -> String {
        write!(self.w, "{line}\r\n").unwrap();
        self.expect(code)
    }

    fn send(&mut self, from: &str, to: &str, subject: &str) {
        self.cmd(&format!("MAIL FROM:<{from}>"), 250);
        self.cmd(&format!("RCPT TO:<{to}>"), 250);
        self.cmd("DATA", 354);
        let body =
            format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nHello.\r\n.\r\n");
        self.w.write_all(body.as_bytes()).unwrap();
        self.expect(250);
    }

    fn quit(mut self) {
        self.cmd("QUIT", 221);
    }
}

// ---------------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------------

fn start(config: &str, dir: &Path, smtp_port: u16, extra: &[&str]) -> (ServeProcess, SocketAddr) {
    let cfg = dir.join("danegate.toml");
    std::fs::write(&cfg, config).unwrap();
    let port = smtp_port.to_string();
    let mut args = vec!["--config", cfg.to_str().unwrap(), "--smtp-port", &port];
    args.extend_from_slice(extra);
    let mut p = ServeProcess::spawn(BIN, &args, dir);
    let line = p.wait_line("the listener line", START_TIMEOUT, |l| {
        l.starts_with("danegate: listener ")
    });
    let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    p.wait_line("the metrics line", START_TIMEOUT, |l| {
        l.starts_with("danegate: metrics on ")
    });
    (p, addr)
}

fn poll(what: &str, p: &ServeProcess, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < DELIVERY_TIMEOUT,
            "timed out waiting for {what}; stderr:\n{}",
            p.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------

#[test]
fn a_known_workload_gives_exact_counters_on_metrics_and_web() {
    let w = MailWorld::get();
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayToml {
        hostname: "gw1.test",
        dane: "mandatory",
        tls: "required",
        // Every delivery opens its own session, so each makes its own DANE walk (a
        // cached connection would carry the DSN to good.dom.test without one).
        server_extra: "connection_cache_idle_ms = 0\n".into(),
        ..GatewayToml::new(&dir.path().join("data"), w.dns_addr(), w.anchor_file())
    }
    .render();
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (m, w_arg) = (metrics.to_string(), web.to_string());
    let (p, listener) = start(
        &config,
        dir.path(),
        w.port(),
        &["--metrics", &m, "--web", &w_arg],
    );

    // Before any mail: every closed-vocabulary series is there at zero.
    let (status, ctype, text) = get(metrics, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let s = samples(&text);
    assert_eq!(
        value(&s, "danegate_messages_received_total", &[]),
        Some(0.0)
    );
    for result in [
        "validated",
        "failed",
        "testing_failed",
        "no_policy",
        "policy_error",
    ] {
        assert_eq!(
            value(&s, "danegate_mta_sts_outcomes_total", &[("result", result)]),
            Some(0.0),
            "{result}"
        );
    }

    // The workload, on one SMTP connection: DANE success, DANE failure (stays queued),
    // a domain that does not exist (bounces; its DSN goes to the sender at
    // good.dom.test, over DANE too).
    let mut c = Smtp::connect(listener);
    c.send("sender@good.dom.test", "rcpt@good.dom.test", "metrics good");
    c.send(
        "sender@good.dom.test",
        "rcpt@wrongtlsa.dom.test",
        "metrics wrongtlsa",
    );
    c.send(
        "sender@good.dom.test",
        "rcpt@nothere.dom.test",
        "metrics nothere",
    );
    c.quit();

    let mut s = Vec::new();
    poll("two deliveries, one deferral, one bounce", &p, || {
        let (_, _, text) = get(metrics, "/metrics");
        s = samples(&text);
        value(&s, "danegate_recipients_delivered_total", &[]) == Some(2.0)
            && value(
                &s,
                "danegate_recipients_deferred_total",
                &[("reason", "dane")],
            ) == Some(1.0)
            && value(
                &s,
                "danegate_recipients_bounced_total",
                &[("reason", "domain")],
            ) == Some(1.0)
            && value(&s, "danegate_connections_open", &[("direction", "in")]) == Some(0.0)
    });
    // Wait out the 1 s sampling throttle so the queue gauges are of now.
    std::thread::sleep(Duration::from_millis(1100));
    let (_, _, text) = get(metrics, "/metrics");
    let s = samples(&text);
    let v = |name: &str, labels: &[(&str, &str)]| value(&s, name, labels);

    // Every series carries the node label (no `[server] node`: the hostname's first label).
    for (name, labels, _) in &s {
        assert_eq!(
            labels.get("node").map(String::as_str),
            Some("gw1"),
            "{name}"
        );
    }
    assert_eq!(
        v(
            "danegate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Received.
    assert_eq!(v("danegate_messages_received_total", &[]), Some(3.0));
    assert_eq!(v("danegate_recipients_received_total", &[]), Some(3.0));
    assert_eq!(v("danegate_messages_rejected_total", &[]), Some(0.0));
    assert_eq!(
        v("danegate_connections_total", &[("direction", "in")]),
        Some(1.0)
    );
    assert_eq!(v("danegate_connections_refused_total", &[]), Some(0.0));

    // Fates, by reason class: every other class stays at zero.
    assert_eq!(v("danegate_recipients_delivered_total", &[]), Some(2.0));
    for class in [
        "remote",
        "dane",
        "tls",
        "dns",
        "domain",
        "connection",
        "suspended",
        "expired",
        "other",
    ] {
        let deferred = if class == "dane" { 1.0 } else { 0.0 };
        let bounced = if class == "domain" { 1.0 } else { 0.0 };
        assert_eq!(
            v("danegate_recipients_deferred_total", &[("reason", class)]),
            Some(deferred),
            "deferred {class}"
        );
        assert_eq!(
            v("danegate_recipients_bounced_total", &[("reason", class)]),
            Some(bounced),
            "bounced {class}"
        );
    }
    assert_eq!(
        v("danegate_dsns_queued_total", &[("kind", "failed")]),
        Some(1.0)
    );
    assert_eq!(
        v("danegate_dsns_queued_total", &[("kind", "delayed")]),
        Some(0.0)
    );

    // DANE: two successes (the message and the DSN to good.dom.test), two failures
    // (wrongtlsa: the certificate matches no TLSA record; nothere: NXDOMAIN).
    assert_eq!(
        v("danegate_dane_verdicts_total", &[("verdict", "success")]),
        Some(2.0)
    );
    assert_eq!(
        v("danegate_dane_verdicts_total", &[("verdict", "failed")]),
        Some(2.0)
    );
    assert_eq!(
        v("danegate_dane_verdicts_total", &[("verdict", "fallback")]),
        Some(0.0)
    );
    assert_eq!(
        v("danegate_dane_verdicts_total", &[("verdict", "tempfail")]),
        Some(0.0)
    );
    // The rows: the Mandatory table's Secure/Secure/Secure/Success row for good (one
    // host, one address, twice), its Secure/Secure/Secure/Failed row for wrongtlsa.
    let success_rows: Vec<&Sample> = s
        .iter()
        .filter(|(n, l, _)| {
            n == "danegate_dane_decisions_total"
                && l.get("action").map(String::as_str) == Some("dane_success")
        })
        .collect();
    assert_eq!(success_rows.len(), 1, "{success_rows:?}");
    assert_eq!(success_rows[0].1["table"], "mandatory");
    assert_eq!(success_rows[0].2, 2.0);
    assert!(
        sum(
            &s,
            "danegate_dane_decisions_total",
            &[("table", "mandatory"), ("action", "dane_fail")]
        ) >= 1.0
    );
    assert_eq!(
        sum(
            &s,
            "danegate_dane_decisions_total",
            &[("table", "opportunistic")]
        ),
        0.0
    );
    assert_eq!(
        sum(&s, "danegate_dane_decisions_total", &[("table", "unknown")]),
        0.0
    );
    assert_eq!(
        sum(
            &s,
            "danegate_dane_decisions_total",
            &[("action", "unknown")]
        ),
        0.0
    );

    // TLS: the two deliveries to good.hosts.test over TLS 1.3; nothing inbound.
    assert_eq!(
        v(
            "danegate_tls_sessions_total",
            &[("direction", "out"), ("protocol", "TLSv1.3")]
        ),
        Some(2.0)
    );
    assert_eq!(
        v(
            "danegate_tls_sessions_total",
            &[("direction", "out"), ("protocol", "TLSv1.2")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sum(&s, "danegate_tls_sessions_total", &[("direction", "in")]),
        0.0
    );
    // Outbound: good twice, wrongtlsa at least once.
    assert!(v("danegate_connections_total", &[("direction", "out")]).unwrap() >= 3.0);
    assert_eq!(v("danegate_connection_failures_total", &[]), Some(0.0));

    // DNS: everything validated, no failure of the world's resolver.
    assert!(v("danegate_dns_lookups_total", &[("status", "secure")]).unwrap() > 0.0);
    for status in ["bogus", "servfail", "timeout"] {
        assert_eq!(
            v("danegate_dns_lookups_total", &[("status", status)]),
            Some(0.0),
            "{status}"
        );
    }
    assert!(v("danegate_dns_validation_duration_seconds_count", &[]).unwrap() > 0.0);
    assert!(
        v(
            "danegate_dns_validation_duration_seconds_bucket",
            &[("le", "+Inf")]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(sum(&s, "danegate_dns_upstream_failures_total", &[]), 0.0);

    // The queue: wrongtlsa's recipient waits for its retry.
    assert_eq!(
        v("danegate_queue_recipients", &[("state", "queued")]),
        Some(1.0)
    );
    assert_eq!(
        v("danegate_queue_recipients", &[("state", "in_flight")]),
        Some(0.0)
    );
    assert!(v("danegate_queue_messages", &[]).unwrap() >= 1.0);
    assert!(v("danegate_queue_oldest_message_age_seconds", &[]).unwrap() > 0.0);
    assert_eq!(
        v("danegate_connections_open", &[("direction", "out")]),
        Some(0.0)
    );

    // Every family exported is in the catalog with its type, and every catalog family
    // is exported (the upstream failures only after a first failure).
    let exported = types(&text);
    for (name, kind) in &exported {
        let m = danegate_metrics::catalog::lookup(name)
            .unwrap_or_else(|| panic!("{name} is exported but not in the catalog"));
        assert_eq!(kind, m.kind.word(), "{name}");
    }
    for m in danegate_metrics::CATALOG {
        if m.name != "danegate_dns_upstream_failures_total" {
            assert!(exported.contains_key(m.name), "{} is not exported", m.name);
        }
    }

    // Health and readiness.
    let (status, _, body) = get(metrics, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, ctype, body) = get(metrics, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(ctype, "application/json");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["ready"], true);
    assert_eq!(j["not_ready"], serde_json::json!([]));
    let names: Vec<&str> = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["store", "dns", "listeners", "scheduler"]);
    let dns = &j["checks"][1]["detail"];
    assert!(dns.as_str().unwrap().contains("DNSSEC ok"), "{dns}");

    // The same endpoints on the web listener, without logging in.
    let (status, ctype, web_text) = get(web, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let ws = samples(&web_text);
    assert_eq!(
        value(&ws, "danegate_messages_received_total", &[]),
        Some(3.0)
    );
    assert_eq!(get(web, "/healthz").0, 200);
    assert_eq!(get(web, "/readyz").0, 200);
    drop(p);
}

#[test]
fn readyz_is_503_naming_dns_when_no_resolver_answers_dnssec() {
    let dir = tempfile::tempdir().unwrap();
    // The discard port: nobody answers the DNSSEC probe.
    let config = GatewayToml::without_dns_world(&dir.path().join("data")).render();
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let m = metrics.to_string();
    let (p, listener) = start(&config, dir.path(), 25, &["--metrics", &m]);
    let (status, _, body) = get(metrics, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, ctype, body) = get(metrics, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(ctype, "application/json");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["ready"], false);
    assert_eq!(j["not_ready"], serde_json::json!(["dns"]));
    let dns = j["checks"][1]["detail"].as_str().unwrap();
    assert!(
        dns.starts_with("no upstream resolver passed the DNSSEC probe: 127.0.0.1:9 unreachable"),
        "{dns}"
    );
    // The rest is ready: the queue answers, the listener and the scheduler run.
    for c in j["checks"].as_array().unwrap() {
        if c["name"] != "dns" {
            assert_eq!(c["ok"], true, "{c}");
        }
    }
    // Metrics are served all the same, with the node label from the hostname; a
    // message is accepted and deferred for DNS, the resolver's failures counted.
    let mut c = Smtp::connect(listener);
    c.send("sender@example.test", "rcpt@example.test", "metrics no dns");
    c.quit();
    let mut s = Vec::new();
    poll("a deferral for DNS", &p, || {
        let (status, _, text) = get(metrics, "/metrics");
        assert_eq!(status, 200);
        s = samples(&text);
        value(
            &s,
            "danegate_recipients_deferred_total",
            &[("reason", "dns")],
        ) == Some(1.0)
    });
    assert_eq!(
        value(
            &s,
            "danegate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert!(s.iter().all(|(_, l, _)| l["node"] == "gw"));
    assert_eq!(
        value(&s, "danegate_messages_received_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "danegate_recipients_delivered_total", &[]),
        Some(0.0)
    );
    // Port 9 answers nothing (or an ICMP error): a timeout or a network error, as
    // the kernel has it; the lookups fail as `timeout` or `servfail`, none validates.
    let failures = sum(
        &s,
        "danegate_dns_upstream_failures_total",
        &[("upstream", "127.0.0.1:9")],
    );
    assert!(failures >= 1.0, "{failures}");
    assert_eq!(
        sum(&s, "danegate_dns_upstream_failures_total", &[]),
        failures,
        "only the configured upstream"
    );
    for (_, l, _) in s
        .iter()
        .filter(|(n, _, _)| n == "danegate_dns_upstream_failures_total")
    {
        assert!(
            ["timeout", "network"].contains(&l["error"].as_str()),
            "{l:?}"
        );
    }
    let failed = |st: &str| value(&s, "danegate_dns_lookups_total", &[("status", st)]).unwrap();
    assert!(failed("timeout") + failed("servfail") >= 1.0);
    for status in ["secure", "insecure", "bogus"] {
        assert_eq!(failed(status), 0.0, "{status}");
    }
    assert_eq!(
        value(
            &s,
            "danegate_dane_verdicts_total",
            &[("verdict", "tempfail")]
        ),
        Some(1.0)
    );
    drop(p);
}
