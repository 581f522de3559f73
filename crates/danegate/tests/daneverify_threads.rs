//! `danegate daneverify` is a one-shot process: it runs one check, whose DNS queries
//! and connection attempts are concurrent futures on one thread, so it starts no worker
//! or blocking-pool threads (each costs a clone, a stack and cross-thread wake-ups in a
//! process that lives a few milliseconds). These tests look at the running client's
//! thread count (`/proc/PID/status`) at the moment it talks to its peer: the control
//! socket of a gateway, or its DNS resolver. Linux only (they read /proc).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test
#![cfg(target_os = "linux")]

use std::{
    io::{BufRead, BufReader, Write},
    net::UdpSocket,
    os::unix::net::UnixListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Through a gateway: the client connects to `DIR/control.sock`, sends its request and
/// prints the streamed lines. The peer here answers like a gateway whose check said
/// DANE SUCCESS; what is checked is the client process, not the check.
#[test]
fn via_the_control_socket_the_client_runs_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join("control.sock")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("daneverify")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("example.test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rd = BufReader::new(&stream);
    let mut request = String::new();
    rd.read_line(&mut request).unwrap();
    assert!(request.contains("\"daneverify\""), "request: {request}");
    // The client now waits for the answer: everything it starts is running.
    let threads = threads_of(child.id());
    (&stream)
        .write_all(
            b"{\"out\":\"DANE SUCCESS for example.test\"}\n\
              {\"ok\":true,\"result\":{\"verdict\":\"dane-success\",\"exit\":0}}\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "DANE SUCCESS for example.test\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(threads, 1, "threads of the daneverify client");
}

/// Standalone: at its first DNS query the process has one thread. The resolver here
/// answers REFUSED, so the check ends at once with a temporary failure (exit 75).
#[test]
fn standalone_the_check_runs_on_one_thread() {
    let dns = UdpSocket::bind("127.0.0.1:0").unwrap();
    dns.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let port = dns.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("daneverify")
        .arg("--resolver")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--timeout")
        .arg("2")
        .arg("example.test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = dns.recv_from(&mut buf).unwrap();
    assert!(n >= 12, "a DNS query of {n} bytes");
    let threads = threads_of(child.id());
    // Answer every query with REFUSED (QR=1, RCODE=5), echoing id and question, until
    // the client is gone.
    dns.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let answer = |q: &[u8], to| {
        let mut r = q.to_vec();
        r[2] |= 0x80;
        r[3] = (r[3] & 0xf0) | 5;
        let _ = dns.send_to(&r, to);
    };
    answer(&buf[..n], from);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("danegate daneverify did not end within 60 s");
        }
        if let Ok((n, from)) = dns.recv_from(&mut buf)
            && n >= 12
        {
            answer(&buf[..n], from);
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "stdout: {} stderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(threads, 1, "threads of the standalone daneverify");
}
