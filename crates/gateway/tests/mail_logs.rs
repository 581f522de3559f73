//! The mail_logs lines of whole deliveries through the in-process gateway against the
//! signed mail world (danegate_testkit::mailworld): a DANE-authenticated delivery, a
//! plain-TLS delivery (DANE Opportunistic fallback), a DANE failure and a bounce, written
//! by the log subscriptions layer (crates/logs) to an Info and a Debug file.
//!
//! One #[test]: the layer is the process-wide default subscriber (the gateway's tasks
//! run on runtime threads), and the scenarios run one after the other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

mod common;

use danegate_gateway::Running;
use danegate_logs::{LogsLayer, Subscription};
use danegate_testkit::{
    gateway::GatewayToml,
    mailworld::{MailWorld, mx_hosts},
};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

const DEADLINE: Duration = Duration::from_secs(90);

async fn gateway(dir: &Path) -> Running {
    let w = MailWorld::get();
    let text = GatewayToml::new(&dir.join("data"), w.dns_addr(), w.anchor_file()).render();
    common::start_in_world(&text, "mail_logs.toml").await
}

async fn submit(to: SocketAddr, rcpt: &str, msgid: &str) {
    let headers = format!("Subject: logs\r\nMessage-ID: <{msgid}>\r\n");
    common::submit(to, "alice@good.dom.test", rcpt, &headers).await;
}

/// `Tue Feb  5 13:20:03 2019 ` (ctime, UTC).
fn is_ctime(s: &str) -> bool {
    let b = s.as_bytes();
    let pat = "Aaa Aaa _9 99:99:99 9999";
    b.len() == pat.len()
        && pat.bytes().zip(b).all(|(p, &c)| match p {
            b'A' | b'a' => c.is_ascii_alphabetic(),
            b'9' => c.is_ascii_digit(),
            b'_' => c == b' ' || c.is_ascii_digit(),
            p => p == c,
        })
}

/// The Info file's lines from `from` on, each checked for the prefix
/// `<ctime> <level>: ` and returned without it.
fn lines(path: &Path, from: usize, level: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.get(from..)
        .unwrap_or("")
        .lines()
        .map(|l| {
            let (ts, rest) = l.split_at_checked(24).unwrap_or(("", l));
            assert!(is_ctime(ts), "bad time stamp in {l:?}");
            let rest = rest
                .strip_prefix(&format!(" {level}: "))
                .unwrap_or_else(|| panic!("not an {level} line: {l:?}"));
            rest.to_string()
        })
        .collect()
}

/// Does `line` contain the words `key n`?
fn mentions(line: &str, key: &str, n: &str) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    w.windows(2).any(|p| p[0] == key && p[1] == n)
}

/// The number after `key` in the first line that has `key` and satisfies `filter`.
fn number_after(lines: &[String], key: &str, filter: impl Fn(&str) -> bool) -> String {
    lines
        .iter()
        .filter(|l| filter(l))
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.windows(2)
                .find(|p| p[0] == key && p[1].parse::<u64>().is_ok())
                .map(|p| p[1].to_string())
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

fn is_inbound(l: &str) -> bool {
    let w: Vec<&str> = l.split_whitespace().collect();
    l.contains("ICID ")
        || l.contains(" Message-ID '")
        || (w.len() >= 3 && w[0] == "MID" && (w[2] == "ready" || w[2] == "queued"))
}

/// What one scenario logged.
struct Logged {
    inbound: Vec<String>,
    outbound: Vec<String>,
    icid: String,
    smid: String,
    qmid: String,
    dcid: String,
    bytes: String,
}

/// Submits one message, waits for `done` in the Info file, returns its lines.
async fn scenario(
    info: &Path,
    to: SocketAddr,
    rcpt: &str,
    msgid: &str,
    done: impl Fn(&[String], &str) -> bool,
) -> Logged {
    let from = std::fs::metadata(info)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    submit(to, rcpt, msgid).await;
    let start = Instant::now();
    loop {
        let all = lines(info, from, "Info");
        let qmid = all
            .iter()
            .find(|l| l.contains(" queued as "))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string);
        if let Some(q) = qmid
            && done(&all, &q)
            && all
                .iter()
                .any(|l| l.starts_with("ICID ") && l.ends_with(" close"))
        {
            let icid = number_after(&all, "ICID", |l| l.starts_with("New SMTP ICID"));
            let smid = number_after(&all, "MID", |l| l.starts_with("Start MID"));
            let dcid = number_after(&all, "DCID", |l| mentions(l, "MID", &q));
            let bytes = number_after(&all, "ready", |l| mentions(l, "MID", &smid));
            let inbound = all
                .iter()
                .filter(|l| {
                    is_inbound(l) && (mentions(l, "ICID", &icid) || mentions(l, "MID", &smid))
                })
                .cloned()
                .collect();
            let outbound = all
                .iter()
                .filter(|l| {
                    !is_inbound(l) && (mentions(l, "DCID", &dcid) || mentions(l, "MID", &q))
                })
                .map(|l| {
                    // The variable parts: the retry delay's jitter, the sink's queue id.
                    if let Some(i) = l.find("; next attempt in ") {
                        format!("{}; next attempt in Ns", &l[..i])
                    } else if let Some(i) = l.find("Ok: queued as ") {
                        format!("{}Ok: queued as ID'", &l[..i])
                    } else {
                        l.clone()
                    }
                })
                .collect();
            return Logged {
                inbound,
                outbound,
                icid,
                smid,
                qmid: q,
                dcid,
                bytes,
            };
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{rcpt}: not done in time:\n{all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expected_inbound(l: &Logged, rcpt: &str, msgid: &str) -> Vec<String> {
    let (i, m) = (&l.icid, &l.smid);
    vec![
        format!(
            "New SMTP ICID {i} interface 127.0.0.1 address 127.0.0.1 reverse dns host localhost verified yes"
        ),
        format!("ICID {i} RELAY SG RELAYLIST match 127.0.0.1"),
        format!("Start MID {m} ICID {i}"),
        format!("MID {m} ICID {i} From: <alice@good.dom.test>"),
        format!("MID {m} ICID {i} RID 0 To: <{rcpt}>"),
        format!("MID {m} Message-ID '<{msgid}>'"),
        format!("MID {m} ready {} bytes from <alice@good.dom.test>", l.bytes),
        format!("MID {m} queued as {}", l.qmid),
        format!("ICID {i} close"),
    ]
}

fn host_addr(host: &str) -> SocketAddr {
    let name = host.split('.').next().unwrap_or(host);
    MailWorld::get().host(name).addr
}

#[test]
fn mail_logs_lines_of_four_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("logs").join("mail_logs");
    let debug = dir.path().join("logs").join("mail_logs_d");
    let mut d = Subscription::new("mail_logs_d", &debug, Level::DEBUG);
    d.max_files = 3;
    d.rotate_size = Some(64 * 1024 * 1024);
    let (layer, _handle) =
        LogsLayer::new(&[Subscription::new("mail_logs", &info, Level::INFO), d]).unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = gateway(dir.path()).await;
        let to = running.listeners()[0].1;
        let port = MailWorld::get().port();

        // 1. DANE SUCCESS: the TLS line ends with "for <domain>".
        let rcpt = "rcpt@good.dom.test";
        let l = scenario(&info, to, rcpt, "dane@internal.test", |all, q| {
            all.iter().any(|l| l == &format!("Message finished MID {q} done"))
                && all.iter().any(|l| l.ends_with(" close") && l.starts_with("DCID"))
        })
        .await;
        assert_eq!(l.inbound, expected_inbound(&l, rcpt, "dane@internal.test"));
        let (dc, q) = (&l.dcid, &l.qmid);
        let host = mx_hosts("good.dom.test")[0];
        let addr = host_addr(host);
        assert_eq!(
            l.outbound,
            vec![
                format!("New SMTP DCID {dc} interface 127.0.0.1 address {} port {port}", addr.ip()),
                format!("DCID {dc} TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384 for good.dom.test"),
                format!("Delivery start DCID {dc} MID {q} to RID [0]"),
                format!("Message done DCID {dc} MID {q} to RID [0]"),
                format!("MID {q} RID [0] Response '{host} [{}]: 250 2.0.0 Ok: queued as ID'", addr.ip()),
                format!("Message finished MID {q} done"),
                format!("DCID {dc} close"),
            ]
        );

        // 2. Plain TLS: DANE Opportunistic falls back (secure MX, no TLSA) and TLS
        //    Preferred delivers over unauthenticated TLS: no "for <domain>".
        let rcpt = "rcpt@notlsa.dom.test";
        let l = scenario(&info, to, rcpt, "plain@internal.test", |all, q| {
            all.iter().any(|l| l == &format!("Message finished MID {q} done"))
                && all.iter().any(|l| l.ends_with(" close") && l.starts_with("DCID"))
        })
        .await;
        assert_eq!(l.inbound, expected_inbound(&l, rcpt, "plain@internal.test"));
        let (dc, q) = (&l.dcid, &l.qmid);
        let host = mx_hosts("notlsa.dom.test")[0];
        let addr = host_addr(host);
        assert_eq!(
            l.outbound,
            vec![
                format!("New SMTP DCID {dc} interface 127.0.0.1 address {} port {port}", addr.ip()),
                format!("DCID {dc} TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384"),
                format!("Delivery start DCID {dc} MID {q} to RID [0]"),
                format!("Message done DCID {dc} MID {q} to RID [0]"),
                format!("MID {q} RID [0] Response '{host} [{}]: 250 2.0.0 Ok: queued as ID'", addr.ip()),
                format!("Message finished MID {q} done"),
                format!("DCID {dc} close"),
            ]
        );

        // 3. DANE failure: the certificate matches no TLSA record; nothing is sent, the
        //    message stays queued.
        let rcpt = "rcpt@wrongtlsa.dom.test";
        let l = scenario(&info, to, rcpt, "fail@internal.test", |all, q| {
            all.iter().any(|l| l.starts_with("Delayed: ") && mentions(l, "MID", q))
        })
        .await;
        assert_eq!(l.inbound, expected_inbound(&l, rcpt, "fail@internal.test"));
        let (dc, q) = (&l.dcid, &l.qmid);
        let host = mx_hosts("wrongtlsa.dom.test")[0];
        let addr = host_addr(host);
        // The world's (deliberately wrong) TLSA record, abbreviated in the reason.
        let tlsa = l
            .outbound
            .iter()
            .find_map(|x| x.split("certificate chain: 3 1 1 ").nth(1))
            .and_then(|x| x.split(':').next())
            .unwrap_or_default()
            .to_string();
        assert!(
            tlsa.len() == 20
                && tlsa.ends_with("..")
                && tlsa[..18].bytes().all(|b| b.is_ascii_hexdigit()),
            "{tlsa:?}"
        );
        let why = format!(
            "DANE FAILED for wrongtlsa.dom.test: Certificate verification failed: no TLSA record matched the certificate chain: 3 1 1 {tlsa}: does not match the leaf"
        );
        assert_eq!(
            l.outbound,
            vec![
                format!("New SMTP DCID {dc} interface 127.0.0.1 address {} port {port}", addr.ip()),
                format!("DCID {dc} {why}"),
                format!("Delayed: DCID {dc} MID {q} to RID [0] - 4.7.5 {why}; next attempt in Ns"),
            ]
        );

        // 4. A bounce: the domain does not exist (5.1.2); a DSN goes to the sender.
        let rcpt = "rcpt@nothere.dom.test";
        let l = scenario(&info, to, rcpt, "bounce@internal.test", |all, q| {
            all.iter().any(|l| l == &format!("Message finished MID {q} done"))
        })
        .await;
        assert_eq!(l.inbound, expected_inbound(&l, rcpt, "bounce@internal.test"));
        let (dc, q) = (&l.dcid, &l.qmid);
        let dsn = number_after(&l.outbound, "MID", |l| l.contains(" generated DSN for "));
        let why = "DANE FAILED for nothere.dom.test: No mail for nothere.dom.test: the domain does not exist (NXDOMAIN)";
        assert_eq!(
            l.outbound,
            vec![
                format!("DCID {dc} {why}"),
                format!("Bounced: DCID {dc} MID {q} to RID 0 - 5.1.2 {why}"),
                format!("MID {dsn} generated DSN for MID {q}"),
                format!("Message finished MID {q} done"),
            ]
        );

        // The Debug subscription has the Info lines and the DNS trace and DANE steps.
        let dbg = std::fs::read_to_string(&debug).unwrap();
        for want in [
            " Debug: DNS query: Q('good.dom.test', 'MX')".to_string(),
            " Debug: DNS query: QN('good.dom.test', 'MX', 'recursive_nameserver0.parent')".into(),
            format!(" Debug: DNS query: Q('_{port}._tcp.good.hosts.test', 'TLSA')"),
            " Debug: DNS query: Q('nothere.dom.test', 'MX')".into(),
            " Debug: DCID 1 SECURE TLSA record found for MX(good.hosts.test) in good.dom.test".into(),
            " Debug: DCID 1 DANE SUCCESS for good.dom.test".into(),
            " Info: DCID 1 TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384 for good.dom.test".into(),
        ] {
            assert!(dbg.contains(&want), "{want:?} not in the debug file:\n{dbg}");
        }
        let info_text = std::fs::read_to_string(&info).unwrap();
        assert!(!info_text.contains(" Debug: "), "{info_text}");
        assert!(dbg.lines().count() > info_text.lines().count());
        running.shutdown().await;
    });
}
