//! The gateway's side of the listener hardening: `RCPT TO:<postmaster>` (RFC 5321
//! §4.5.1) is accepted and queued for the local postmaster, and the data directory and
//! queue are private. A real SMTP conversation on 127.0.0.1; no delivery is needed
//! (the resolver points at a closed port, recipients stay queued).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use danegate_config::Config;
use danegate_gateway::{GatewayOptions, Running, start};
use danegate_testkit::gateway::GatewayToml;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn gateway(dir: &Path, rat: &str) -> Running {
    let text = GatewayToml {
        hostname: "gw.example.test",
        extra: rat.to_string(),
        ..GatewayToml::without_dns_world(&dir.join("data"))
    }
    .render();
    let config = Config::from_toml_str(&text, "hardening.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = GatewayOptions {
        tick: Duration::from_millis(200),
        ..GatewayOptions::default()
    };
    start(config, opts).await.unwrap()
}

/// Sends one command (None: only reads) and returns the reply's last line.
async fn say(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    line: Option<&str>,
) -> String {
    if let Some(l) = line {
        w.write_all(format!("{l}\r\n").as_bytes()).await.unwrap();
    }
    loop {
        let mut buf = String::new();
        let n = tokio::time::timeout(Duration::from_secs(20), r.read_line(&mut buf))
            .await
            .expect("reply timed out")
            .unwrap();
        assert!(n > 0, "connection closed");
        if buf.as_bytes().get(3) != Some(&b'-') {
            return buf.trim_end().to_string();
        }
    }
}

async fn send_to_postmaster(running: &Running) {
    let addr = running.listeners()[0].1;
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    assert!(say(&mut r, &mut w, None).await.starts_with("220"));
    assert!(
        say(&mut r, &mut w, Some("EHLO mta.example.test"))
            .await
            .starts_with("250")
    );
    assert!(
        say(&mut r, &mut w, Some("MAIL FROM:<a@example.net>"))
            .await
            .starts_with("250")
    );
    let rcpt = say(&mut r, &mut w, Some("RCPT TO:<PostMaster>")).await;
    assert!(rcpt.starts_with("250"), "{rcpt}");
    assert!(say(&mut r, &mut w, Some("DATA")).await.starts_with("354"));
    let done = say(
        &mut r,
        &mut w,
        Some("Subject: to the postmaster\r\n\r\nHello.\r\n."),
    )
    .await;
    assert!(done.starts_with("250"), "{done}");
    let _ = say(&mut r, &mut w, Some("QUIT")).await;
}

async fn queued_addresses(running: &Running) -> Vec<String> {
    running
        .store()
        .list(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.address)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn postmaster_without_domain_goes_to_the_first_recipient_access_domain() {
    let tmp = tempfile::tempdir().unwrap();
    let running = gateway(
        tmp.path(),
        "[recipient_access]\ndomains = [\".sub.example.org\", \"example.org\"]",
    )
    .await;
    send_to_postmaster(&running).await;
    assert_eq!(
        queued_addresses(&running).await,
        vec!["postmaster@example.org"]
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postmaster_without_a_recipient_access_table_goes_to_the_hostname() {
    let tmp = tempfile::tempdir().unwrap();
    let running = gateway(tmp.path(), "").await;
    send_to_postmaster(&running).await;
    assert_eq!(
        queued_addresses(&running).await,
        vec!["postmaster@gw.example.test"]
    );
    running.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn data_directory_and_queue_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let running = gateway(tmp.path(), "").await;
    send_to_postmaster(&running).await;
    let data = tmp.path().join("data");
    assert_eq!(mode(&data), 0o700);
    for f in ["queue.sqlite", "queue.sqlite-wal", "queue.sqlite-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    running.shutdown().await;
}
