//! Regression (issue 10, point 3): concurrent login attempts cannot exhaust memory. Each
//! argon2id verification holds 19 MiB; without a bound, 100 concurrent attempts (from
//! 100 addresses, so the per-address rate limit does not stop them) took over 1 GB.
//! Alone in its test binary, so the process's peak memory is this test's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{FORM, PASSWORD, env, form};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The peak resident set of this process (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn attempt(web: SocketAddr, src: IpAddr, cookie: String, csrf: String) -> u16 {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(src, 0)).unwrap();
    let mut s = sock.connect(web).await.unwrap();
    let body = form(&[("csrf", &csrf), ("password", "wrong password")]);
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n{}: {}\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n",
        FORM.0,
        FORM.1,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(600), s.read_to_end(&mut raw))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_password_verifications_are_bounded() {
    let Some(before) = peak_rss_kib() else {
        eprintln!("note: no /proc/self/status here; test skipped");
        return;
    };
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    // One pre-login session serves every attempt (a failed login keeps it).
    let page = common::request(e.web, "GET", "/login", &[], b"").await;
    let cookie = page.session_cookie().unwrap();
    let csrf = page.csrf();
    let tasks: Vec<_> = (0..100u8)
        .map(|i| {
            let src = IpAddr::V4(Ipv4Addr::new(127, 0, 1, i + 1));
            tokio::spawn(attempt(e.web, src, cookie.clone(), csrf.clone()))
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert!(codes.iter().all(|c| [401, 503].contains(c)), "{codes:?}");
    let after = peak_rss_kib().unwrap();
    let grown_mib = after.saturating_sub(before) / 1024;
    let verified = codes.iter().filter(|c| **c == 401).count();
    eprintln!("peak RSS grew by {grown_mib} MiB; {verified} of 100 attempts verified");
    // 4 concurrent verifications of 19 MiB, plus the gateway and test: far below 100 × 19.
    assert!(
        grown_mib < 400,
        "peak RSS grew by {grown_mib} MiB: {codes:?}"
    );
    assert!(codes.contains(&503), "{codes:?}");
}
