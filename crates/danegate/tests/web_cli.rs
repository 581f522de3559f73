//! The real binary: `danegate web-passwd`, `danegate web-token create` and
//! `danegate serve --web ADDR` (the UI answers, asks for a password until one is set,
//! and the API takes the token). Every child process is killed when its guard drops.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

fn danegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danegate"))
}

fn run_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = danegate();
    cmd.args(args);
    danegate_testkit::cli::output_with_stdin(cmd, stdin)
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("danegate.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nhostname = \"gw.test\"\ndata_dir = \"{}\"\n\n[[listener]]\nname = \"outbound\"\naddress = \"127.0.0.1:0\"\n\n[dns]\nresolvers = [ {{ address = \"127.0.0.1:9\", priority = 0 }} ]\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn web_passwd_and_token_write_private_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run_with_stdin(&["web-passwd", "--data-dir", d], "short\n");
    assert_eq!(out.status.code(), Some(2), "too short");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    assert!(!dir.path().join("web.passwd").exists());

    let out = run_with_stdin(&["web-passwd", "--data-dir", d], "a long enough secret\n");
    assert!(out.status.success(), "{out:?}");
    let hash = std::fs::read_to_string(dir.path().join("web.passwd")).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("secret"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("web.passwd"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let out = danegate()
        .args(["web-token", "create", "--label", "ci", "--data-dir", d])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("dgw_") && token.len() == 68, "{token}");
    let stored = std::fs::read_to_string(dir.path().join("web.tokens")).unwrap();
    assert!(!stored.contains(&token[4..]), "only the digest is stored");
}

#[test]
fn serve_with_web_flag_serves_the_ui_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut child = danegate()
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--web", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let guard = Serve(child);
    // Read standard error to the end (a closed pipe would fail the gateway's writes).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("danegate: web UI on http://") {
                let _ = tx.send(rest.trim_end_matches('/').parse::<SocketAddr>().ok());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .ok()
        .flatten()
        .expect("serve prints the web UI address");
    assert!(addr.ip().is_loopback());
    // No password yet: the UI says how to set one.
    let (status, body) = get(addr, "/login", None);
    assert_eq!(status, 503);
    assert!(body.contains("danegate web-passwd"));
    let out = run_with_stdin(
        &["web-passwd", "--config", config.to_str().unwrap()],
        "a long enough secret\n",
    );
    assert!(out.status.success(), "{out:?}");
    let (status, body) = get(addr, "/login", None);
    assert_eq!(status, 200, "no restart needed");
    assert!(body.contains("name=\"password\""));
    // The API: 401 without a token, 200 with one made by the CLI.
    assert_eq!(get(addr, "/api/v1/destinations", None).0, 401);
    let out = danegate()
        .args(["web-token", "create", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (status, body) = get(addr, "/api/v1/destinations", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"is_default\":true"));
    drop(guard);
}
