//! Regression (issue 10, point 2): the login rate limit holds against parallel attempts.
//! Attempts are counted before the password is verified, so of many parallel logins
//! from one address at most `max` (5) are verified at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::net::{IpAddr, SocketAddr};

use common::{FORM, PASSWORD, env, form};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One login attempt from `src` (a loopback address) with its own pre-login session:
/// the HTTP status.
async fn login_from(web: SocketAddr, src: IpAddr, password: String) -> u16 {
    async fn req(web: SocketAddr, src: IpAddr, head: String, body: &[u8]) -> String {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(src, 0)).unwrap();
        let mut s = sock.connect(web).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(300), s.read_to_end(&mut raw))
            .await
            .expect("an answer")
            .unwrap();
        String::from_utf8_lossy(&raw).to_string()
    }
    let page = req(
        web,
        src,
        format!("GET /login HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n"),
        b"",
    )
    .await;
    let cookie = page
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let marker = r#"name="csrf" value=""#;
    let i = page.find(marker).unwrap() + marker.len();
    let csrf = page[i..].split('"').next().unwrap().to_string();
    let body = form(&[("csrf", &csrf), ("password", &password)]);
    let answer = req(
        web,
        src,
        format!(
            "POST /login HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n{}: {}\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n",
            FORM.0,
            FORM.1,
            body.len()
        ),
        &body,
    )
    .await;
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn parallel(web: SocketAddr, src: IpAddr, passwords: Vec<String>) -> Vec<u16> {
    let tasks: Vec<_> = passwords
        .into_iter()
        .map(|p| tokio::spawn(login_from(web, src, p)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_limited() {
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    let src: IpAddr = "127.0.0.1".parse().unwrap();
    let codes = parallel(e.web, src, vec!["wrong password".to_string(); 40]).await;
    let verified = codes.iter().filter(|c| **c == 401).count();
    assert!(
        verified <= 5,
        "{verified} of 40 parallel attempts verified: {codes:?}"
    );
    assert!(
        codes.iter().all(|c| [401, 429, 503].contains(c)),
        "{codes:?}"
    );
    assert!(codes.contains(&429), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_right_password_among_many_parallel_wrong_ones_is_limited_too() {
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    let src: IpAddr = "127.0.0.2".parse().unwrap();
    let mut passwords = vec!["wrong password".to_string(); 39];
    passwords.push(PASSWORD.to_string());
    let codes = parallel(e.web, src, passwords).await;
    let verified = codes.iter().filter(|c| **c == 401 || **c == 303).count();
    assert!(
        verified <= 5,
        "{verified} of 40 parallel attempts verified: {codes:?}"
    );
    // The limit is per address: another one still logs in.
    let other: IpAddr = "127.0.0.3".parse().unwrap();
    assert_eq!(login_from(e.web, other, PASSWORD.to_string()).await, 303);
}
