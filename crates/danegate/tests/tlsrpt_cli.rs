//! TLS-RPT (RFC 8460) end to end, through a real `danegate serve` in a signed DNS world
//! with real SMTP servers and a real HTTPS collector:
//!
//! * deliveries to a DANE domain (success), a domain whose TLSA matches nothing
//!   (`tlsa-invalid`) and one whose MX offers no STARTTLS (`starttls-not-supported`)
//!   are recorded; `danegate tlsrpt show --json` shows them;
//! * `danegate tlsrpt send-now --date TODAY` sends each domain's report to its
//!   `_smtp._tls` destinations: the mailed reports arrive at the collector's MX as RFC
//!   8460 §5.3 `multipart/report` messages whose gzip JSON parses with the expected
//!   counts and result types; the `https:` destination answers 500 first (logged in
//!   mail_logs, tried again at the next run, the mailed ones not resent), then receives
//!   the same report as a POST of `application/tlsrpt+gzip`;
//! * the delivery of the reports themselves is not recorded (no report about a report);
//! * after a restart, what was recorded is still there and nothing is sent twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    io::Read as _,
    net::{IpAddr, SocketAddr},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{ServerOptions, World},
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
    https::{HttpsServer, Route},
    smtp::{SinkOptions, SmtpSink, StartTlsMode},
};
use danegate_tlsrpt::{PolicyType, Report, ResultType};
use mail_parser::{MessageParser, MimeHeaders as _};
use serde_json::Value;

const START_TIMEOUT: Duration = Duration::from_secs(90);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

const GOOD: [u8; 4] = [127, 0, 0, 161];
const MISMATCH: [u8; 4] = [127, 0, 0, 162];
const NOSTARTTLS: [u8; 4] = [127, 0, 0, 163];
const COLLECT: [u8; 4] = [127, 0, 0, 164];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

fn pem(der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out + "-----END CERTIFICATE-----\n"
}

/// `danegate --config CFG ARGS`: (exit code, stdout, stderr).
fn cli(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(cfg: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = cli(cfg, &a);
    assert_eq!(code, 0, "danegate {args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn poll(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn serve(cfg: &Path, cwd: &Path, smtp_port: u16, ca: &Path) -> ServeProcess {
    let port = smtp_port.to_string();
    let mut s = ServeProcess::spawn(
        env!("CARGO_BIN_EXE_danegate"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--smtp-port",
            &port,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        cwd,
    );
    s.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
    s
}

async fn submit(port: u16, to: &str) {
    let mut c = SmtpClient::connect(
        SocketAddr::from(([127, 0, 0, 1], port)),
        None,
        Timeouts::uniform(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let body = format!("From: <alice@sender.test>\r\nTo: <{to}>\r\nSubject: hi\r\n\r\nHello.\r\n");
    let d = c
        .send("alice@sender.test", &[to], body.as_bytes())
        .await
        .unwrap();
    assert!(d.all_delivered(), "not accepted: {d:?}");
    let _ = c.quit().await;
}

/// The `show --json` entry of `domain`.
fn shown<'a>(show: &'a Value, domain: &str) -> Option<&'a Value> {
    show.as_array()
        .unwrap()
        .iter()
        .find(|p| p["domain"] == domain)
}

fn gunzip(b: &[u8]) -> Report {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("report JSON: {e}: {s}"))
}

/// The one policy of `r` and its single failure's result type (if any).
fn policy_of(r: &Report) -> (PolicyType, u64, u64, Option<ResultType>) {
    assert_eq!(r.policies.len(), 1, "{r:?}");
    let p = &r.policies[0];
    (
        p.policy.policy_type,
        p.summary.total_successful_session_count,
        p.summary.total_failure_session_count,
        p.failure_details.first().map(|f| f.result_type),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_recorded_mailed_and_posted_once() {
    let smtp_port = free_port();
    let chain = |n: &str| TestChain::for_names(&[format!("{n}.rpt.test")]);
    let (good, mis, nos, col) = (
        chain("mx-good"),
        chain("mx-mis"),
        chain("mx-nos"),
        chain("mx-col"),
    );
    let other = TestChain::for_names(&["other.example"]);
    let spki = |c: &TestChain| c.leaf.tlsa_hex(1, 1);

    // The HTTPS collector, with a certificate from a CA the gateway is told to trust.
    let web = TestChain::for_names(&["collector.rpt.test"]);
    let https = HttpsServer::with_route(
        web.server_config(TlsVersions::Both, Presented::LeafAndIntermediate),
        "/tlsrpt",
        Route::status(500),
    );
    let hp = https.port();

    let rua = "mailto:reports@collect.rpt.test";
    let mut w = World::new();
    w.zone("test.");
    w.zone("rpt.test.").records(&format!(
        "good MX 10 mx-good\n\
         mx-good A {g}\n\
         _{smtp_port}._tcp.mx-good TLSA 3 1 1 {sg}\n\
         _smtp._tls.good TXT \"v=TLSRPTv1; rua={rua}\"\n\
         mismatch MX 10 mx-mis\n\
         mx-mis A {m}\n\
         _{smtp_port}._tcp.mx-mis TLSA 3 1 1 {so}\n\
         _smtp._tls.mismatch TXT \"v=TLSRPTv1; rua={rua},https://collector.rpt.test:{hp}/tlsrpt\"\n\
         nostarttls MX 10 mx-nos\n\
         mx-nos A {n}\n\
         _{smtp_port}._tcp.mx-nos TLSA 3 1 1 {sn}\n\
         _smtp._tls.nostarttls TXT \"v=TLSRPTv1; rua={rua}\"\n\
         collect MX 10 mx-col\n\
         mx-col A {c}\n\
         _{smtp_port}._tcp.mx-col TLSA 3 1 1 {sc}\n\
         _smtp._tls.collect TXT \"v=TLSRPTv1; rua={rua}\"\n\
         collector A 127.0.0.1\n",
        g = ip(GOOD),
        m = ip(MISMATCH),
        n = ip(NOSTARTTLS),
        c = ip(COLLECT),
        sg = spki(&good),
        so = spki(&other),
        sn = spki(&nos),
        sc = spki(&col),
    ));
    let world = w.build();
    let dns = world.serve(ServerOptions::default());

    let sink = |c: &TestChain, a: [u8; 4], starttls: StartTlsMode| {
        SmtpSink::start(SinkOptions {
            tls: Some(c.server_config(TlsVersions::Both, Presented::LeafAndIntermediate)),
            starttls,
            bind: Some(SocketAddr::new(ip(a), smtp_port)),
            ..SinkOptions::default()
        })
    };
    let good_sink = sink(&good, GOOD, StartTlsMode::Offer);
    let _mis_sink = sink(&mis, MISMATCH, StartTlsMode::Offer);
    let _nos_sink = sink(&nos, NOSTARTTLS, StartTlsMode::NotOffered);
    let col_sink = sink(&col, COLLECT, StartTlsMode::Offer);

    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("anchor.key");
    std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem(&web.ca.as_ref().unwrap().der)).unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let cfg = dir.path().join("danegate.toml");
    let text = GatewayToml {
        listen_port: port,
        extra: "[tls_rpt]\n\
                enabled = true\n\
                organization_name = \"Gateway Test Org\"\n\
                contact_info = \"mailto:tls@gw.test\"\n\
                sender = \"tlsrpt@gw.test\"\n"
            .into(),
        ..GatewayToml::new(&data, dns.addr(), &anchor)
    }
    .render();
    std::fs::write(&cfg, text).unwrap();
    let mut gw = serve(&cfg, dir.path(), smtp_port, &ca);

    // --- Three deliveries: DANE success, TLSA mismatch, no STARTTLS under TLSA.
    submit(port, "bob@good.rpt.test").await;
    submit(port, "bob@mismatch.rpt.test").await;
    submit(port, "bob@nostarttls.rpt.test").await;
    good_sink.wait_for_messages(1, DELIVERY_TIMEOUT);
    let today = danegate_tlsrpt::Day::today().to_string();
    let show = |cfg: &Path| json(cfg, &["tlsrpt", "show", "--date", &today]);
    poll("three domains recorded", DELIVERY_TIMEOUT, || {
        let s = show(&cfg);
        ["good.rpt.test", "mismatch.rpt.test", "nostarttls.rpt.test"]
            .iter()
            .all(|d| shown(&s, d).is_some())
    });
    let s = show(&cfg);
    let mis_shown = shown(&s, "mismatch.rpt.test").unwrap();
    let dests: Vec<String> = mis_shown["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d[0].as_str().unwrap(), d[1].as_str().unwrap()))
        .collect();
    assert_eq!(
        dests,
        vec![
            format!("{rua} not sent"),
            format!("https://collector.rpt.test:{hp}/tlsrpt not sent")
        ]
    );
    // The human form names the failure.
    let (code, out, err) = cli(
        &cfg,
        &[
            "tlsrpt",
            "show",
            "--date",
            &today,
            "--domain",
            "mismatch.rpt.test",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("tlsa-invalid x1: mx-mis.rpt.test [127.0.0.162]"),
        "{out}"
    );

    // --- Send now: three mailed reports; the collector answers 500 to the POST.
    let send_now = |cfg: &Path| -> Vec<String> {
        json(cfg, &["tlsrpt", "send-now", "--date", &today])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                format!(
                    "{} {} {}",
                    l["domain"].as_str().unwrap(),
                    l["rua"].as_str().unwrap(),
                    l["outcome"].as_str().unwrap()
                )
            })
            .collect()
    };
    let outcomes = send_now(&cfg);
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    let https_line = |o: &[String]| {
        o.iter()
            .find(|l| l.starts_with("mismatch.rpt.test https://"))
            .cloned()
            .unwrap()
    };
    assert!(https_line(&outcomes).contains("failed: "), "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.contains("queued as MID"))
            .count(),
        3,
        "{outcomes:?}"
    );
    let mail_logs = std::fs::read_to_string(data.join("logs/mail_logs")).unwrap();
    assert!(
        mail_logs
            .lines()
            .any(|l| l.contains("TLS-RPT report for mismatch.rpt.test")
                && l.contains("https://collector.rpt.test")
                && l.contains("failed")),
        "{mail_logs}"
    );
    // A failed destination is tried again; the others are not sent twice.
    https.set_route("/tlsrpt", Route::status(204));
    let outcomes = send_now(&cfg);
    assert!(
        https_line(&outcomes).ends_with("posted (HTTP 204)"),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.ends_with("already sent"))
            .count(),
        3,
        "{outcomes:?}"
    );

    // The POST.
    let posts = https.wait_for_requests(2, DELIVERY_TIMEOUT);
    assert_eq!(posts[1].method, "POST");
    assert_eq!(posts[1].path, "/tlsrpt");
    assert_eq!(
        posts[1].header("content-type"),
        Some("application/tlsrpt+gzip")
    );
    assert_eq!(posts[0].body, posts[1].body);
    let posted = gunzip(&posts[1].body);
    assert_eq!(posted.organization_name, "Gateway Test Org");
    assert_eq!(posted.contact_info, "mailto:tls@gw.test");
    assert_eq!(
        policy_of(&posted),
        (PolicyType::Tlsa, 0, 1, Some(ResultType::TlsaInvalid))
    );

    // The mails, at the collector domain's MX.
    let mails = col_sink.wait_for_messages(3, DELIVERY_TIMEOUT);
    let mut seen = Vec::new();
    for m in &mails {
        assert_eq!(m.mail_from, "tlsrpt@gw.test");
        assert_eq!(m.rcpt_to, vec!["reports@collect.rpt.test".to_string()]);
        let msg = MessageParser::default().parse(&m.data).unwrap();
        let domain = msg
            .header_raw("TLS-Report-Domain")
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(
            msg.header_raw("TLS-Report-Submitter").unwrap().trim(),
            "gw.test"
        );
        let ct = msg.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        assert_eq!(ct.attribute("report-type"), Some("tlsrpt"));
        let subject = msg.subject().unwrap();
        assert!(
            subject.starts_with(&format!(
                "Report Domain: {domain} Submitter: gw.test Report-ID: <"
            )),
            "{subject}"
        );
        let att = msg.attachment(0).unwrap();
        let act = att.content_type().unwrap();
        assert_eq!(
            (act.ctype(), act.subtype()),
            ("application", Some("tlsrpt+gzip"))
        );
        let name = att.attachment_name().unwrap();
        assert!(
            name.starts_with(&format!("gw.test!{domain}!")) && name.ends_with(".json.gz"),
            "{name}"
        );
        let report = gunzip(att.contents());
        assert_eq!(report.policies[0].policy.policy_domain, domain);
        assert_eq!(
            report.date_range.start_datetime,
            format!("{today}T00:00:00Z")
        );
        seen.push((domain, policy_of(&report), report));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let kinds: Vec<_> = seen.iter().map(|(d, p, _)| (d.as_str(), *p)).collect();
    assert_eq!(
        kinds,
        vec![
            ("good.rpt.test", (PolicyType::Tlsa, 1, 0, None)),
            (
                "mismatch.rpt.test",
                (PolicyType::Tlsa, 0, 1, Some(ResultType::TlsaInvalid))
            ),
            (
                "nostarttls.rpt.test",
                (
                    PolicyType::Tlsa,
                    0,
                    1,
                    Some(ResultType::StarttlsNotSupported)
                )
            ),
        ]
    );
    let mis_report = &seen[1].2;
    assert_eq!(mis_report, &posted);
    let p = &mis_report.policies[0];
    assert_eq!(p.policy.mx_host, vec!["mx-mis.rpt.test"]);
    assert_eq!(
        p.policy.policy_string,
        vec![format!("3 1 1 {}", spki(&other))]
    );
    let f = &p.failure_details[0];
    assert_eq!(f.receiving_mx_hostname.as_deref(), Some("mx-mis.rpt.test"));
    assert_eq!(f.receiving_ip.as_deref(), Some("127.0.0.162"));
    assert_eq!(f.sending_mta_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(f.failed_session_count, 1);

    // --- No report about a report: the reports went to collect.rpt.test over DANE,
    // and that delivery was not recorded (it is recorded before the message is sent).
    let s = show(&cfg);
    assert!(shown(&s, "collect.rpt.test").is_none(), "{s}");
    assert_eq!(s.as_array().unwrap().len(), 3, "{s}");

    // --- Restart: recorded data survives, nothing is sent twice. While the gateway is
    // down, `show` reads the data directory itself.
    gw.kill9();
    let offline = show(&cfg);
    let r: Report =
        serde_json::from_value(shown(&offline, "mismatch.rpt.test").unwrap()["report"].clone())
            .unwrap();
    assert_eq!(&r, mis_report);
    assert_eq!(offline.as_array().unwrap().len(), 3, "{offline}");
    let _gw = serve(&cfg, dir.path(), smtp_port, &ca);
    let s = show(&cfg);
    let mis_again = shown(&s, "mismatch.rpt.test").unwrap();
    let r: Report = serde_json::from_value(mis_again["report"].clone()).unwrap();
    assert_eq!(&r, mis_report);
    assert!(
        mis_again["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d[1] == "sent"),
        "{mis_again}"
    );
    let again = json(&cfg, &["tlsrpt", "send-now", "--date", &today]);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["outcome"] == "already sent"),
        "{again}"
    );
    let queued = json(&cfg, &["queue", "list", "collect.rpt.test"]);
    assert!(queued.as_array().unwrap().is_empty(), "{queued}");
    assert_eq!(col_sink.messages().len(), 3);
    assert_eq!(https.requests().len(), 2);
}
