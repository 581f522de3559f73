//! Shared by the web tests: a gateway on a configuration file, the web UI over it, and a
//! small HTTP/1.1 client that talks to the real listener.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use danegate_admin::Admin;
use danegate_config::Config;
use danegate_gateway::{GatewayOptions, Running, start};
use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::gateway::GatewayToml;
use danegate_web::{WebSettings, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub running: Arc<Running>,
    pub web: SocketAddr,
    pub settings: WebSettings,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Env {
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn smtp(&self) -> SocketAddr {
        self.running.listeners()[0].1
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A gateway on a configuration file in a temporary directory (`extra` appended),
/// relaying for 127.0.0.1, with the web UI on an ephemeral localhost port.
pub async fn env(extra: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("danegate.toml");
    // No DNS world; the built-in default bounce profile.
    let text = GatewayToml {
        with_default_bounce: false,
        extra: format!(
            r#"
[[bounce_profile]]
name = "quick"
initial_retry_secs = 60
max_retry_interval_secs = 60
max_retries = 5
{extra}
"#
        ),
        ..GatewayToml::without_dns_world(dir.path())
    }
    .render();
    std::fs::write(&config_path, &text).unwrap();
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("{e}"));
    let opts = GatewayOptions {
        config_path: Some(config_path.clone()),
        tick: Duration::from_millis(200),
        ..GatewayOptions::default()
    };
    let running = Arc::new(start(config, opts).await.unwrap());
    let admin = Arc::new(Admin::new(running.clone()));
    let mut settings = WebSettings::for_data_dir(dir.path());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let web = serve(admin, settings.clone(), async move {
        let _ = rx.await;
    })
    .await
    .unwrap();
    Env {
        dir,
        config_path,
        running,
        web,
        settings,
        stop: Some(tx),
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The session cookie this response sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .find(|kv| kv.starts_with("danegate_session=") && kv.len() > "danegate_session=".len())
            .map(str::to_string)
    }
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let i = self.body.find(marker).expect("a csrf field") + marker.len();
        self.body[i..].split('"').next().unwrap().to_string()
    }
}

/// One request on its own connection (`Connection: close`).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
pub const PASSWORD: &str = "correct horse battery";

/// Sets the password and logs in: the session cookie and its CSRF token.
pub async fn login(e: &Env) -> (String, String) {
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    let page = request(e.web, "GET", "/login", &[], b"").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page.session_cookie().unwrap();
    let csrf = page.csrf();
    let r = request(
        e.web,
        "POST",
        "/login",
        &[FORM, ("Cookie", &cookie)],
        &form(&[("csrf", &csrf), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(r.status, 303, "{r:?}");
    let cookie = r.session_cookie().expect("a new session at login");
    let page = request(e.web, "GET", "/destinations", &[("Cookie", &cookie)], b"").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    (cookie, csrf)
}

/// A form POST to `path` with the session `cookie` (its CSRF token among `pairs`).
pub async fn post_form(e: &Env, cookie: &str, path: &str, pairs: &[(&str, &str)]) -> Resp {
    request(
        e.web,
        "POST",
        path,
        &[FORM, ("Cookie", cookie)],
        &form(pairs),
    )
    .await
}

/// A new API token named `name`, as the `Authorization` header value.
pub fn bearer(e: &Env, name: &str) -> String {
    let token = danegate_web::auth::create_token(&e.settings.api_tokens_file, name).unwrap();
    format!("Bearer {token}")
}

/// Submits a message for `rcpt` from alice@sender.test over SMTP to `to`; every
/// recipient must be accepted.
pub async fn submit_message(to: SocketAddr, rcpt: &str, subject: &str) {
    let mut c = SmtpClient::connect(to, None, Timeouts::uniform(Duration::from_secs(10)))
        .await
        .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let body = format!(
        "From: <alice@sender.test>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n\r\nHello.\r\n"
    );
    let d = c
        .send("alice@sender.test", &[rcpt], body.as_bytes())
        .await
        .unwrap();
    assert!(d.all_delivered(), "{d:?}");
    let _ = c.quit().await;
}

/// Waits (up to 20 s) until the first queued recipient for `domain` has had an attempt
/// and is not in flight: its delivery was deferred.
pub async fn wait_deferred(e: &Env, domain: &str) {
    let store = e.running.store();
    let start = Instant::now();
    loop {
        let list = store.list(Some(domain), 10).await.unwrap();
        if list
            .first()
            .is_some_and(|r| r.attempts >= 1 && !r.in_flight)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not deferred: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
