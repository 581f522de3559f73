//! `danegate daneverify` through a running gateway: the gateway answers the check as
//! soon as the verdict is known and ends the SMTP session (QUIT, RFC 5321 §4.1.1.10)
//! afterwards, so the client does not wait for one more round trip to the server.
//!
//! The MX host here is a real STARTTLS server (rustls, DANE-EE 3 1 1 TLSA in a signed
//! test world) that reads QUIT and never answers it: the gateway's QUIT then ends only
//! by its command timeout (5 s), when it closes the connection. The client must have
//! its whole output and exit status while that connection is still open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener},
    process::{Command, Stdio},
    sync::{
        Arc,
        mpsc::{self, Receiver, RecvTimeoutError},
    },
    time::Duration,
};

use danegate_testkit::{
    certs::{Presented, TestChain, TlsVersions},
    dns::{ServerOptions, World},
    gateway::{GatewayToml, ServeProcess},
    host::free_port,
};

const START_TIMEOUT: Duration = Duration::from_secs(90);
const MX_ADDR: [u8; 4] = [127, 0, 0, 185];

fn read_line(s: &mut impl Read) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(1) => {
                line.push(b[0]);
                if b[0] == b'\n' {
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
            }
            _ => return None,
        }
    }
}

/// What the MX server saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// QUIT arrived (and is left unanswered).
    Quit,
    /// The client closed the connection (or it failed) after QUIT.
    Closed,
}

/// One SMTP session: banner, EHLO, STARTTLS, TLS, EHLO, then QUIT read and not answered.
fn hold_quit_server(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    seen: mpsc::Sender<Seen>,
) -> std::io::Result<()> {
    let (mut tcp, _) = listener.accept()?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    tcp.write_all(b"220 mx.hold.test ESMTP\r\n")?;
    read_line(&mut tcp).filter(|l| l.to_ascii_uppercase().starts_with("EHLO"));
    tcp.write_all(b"250-mx.hold.test\r\n250 STARTTLS\r\n")?;
    read_line(&mut tcp);
    tcp.write_all(b"220 2.0.0 Ready to start TLS\r\n")?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    read_line(&mut s); // EHLO, after the handshake
    s.write_all(b"250 mx.hold.test\r\n")?;
    s.flush()?;
    loop {
        match read_line(&mut s) {
            Some(l) if l.trim().eq_ignore_ascii_case("QUIT") => {
                let _ = seen.send(Seen::Quit);
            }
            Some(_) => {}
            None => {
                let _ = seen.send(Seen::Closed);
                return Ok(());
            }
        }
    }
}

fn next(rx: &Receiver<Seen>) -> Result<Seen, RecvTimeoutError> {
    rx.recv_timeout(Duration::from_secs(60))
}

#[test]
fn the_gateway_answers_before_the_quit_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chain = TestChain::for_names(&["mx.hold.test"]);
    let mut w = World::new();
    w.zone("test.");
    w.zone("hold.test.").records(&format!(
        "@ MX 10 mx\nmx A {}\n_{port}._tcp.mx TLSA 3 1 1 {}\n",
        IpAddr::from(MX_ADDR),
        chain.leaf.tlsa_hex(1, 1)
    ));
    let world = w.build();
    let dns = world.serve(ServerOptions::default());
    let anchor = dir.path().join("anchor.ds");
    std::fs::write(&anchor, world.trust_anchor_ds()).unwrap();

    let listener = TcpListener::bind(SocketAddr::new(IpAddr::from(MX_ADDR), port)).unwrap();
    let (tx, rx) = mpsc::channel();
    let tls = chain.server_config(TlsVersions::Both, Presented::LeafAndIntermediate);
    let server = std::thread::spawn(move || hold_quit_server(listener, tls, tx));

    let data = dir.path().join("data");
    let cfg = dir.path().join("danegate.toml");
    // No default destination or bounce profile: the built-in ones.
    let text = GatewayToml {
        listen_port: free_port(),
        dns_timeout_secs: 5,
        with_default_destination: false,
        with_default_bounce: false,
        ..GatewayToml::new(&data, dns.addr(), &anchor)
    }
    .render();
    std::fs::write(&cfg, text).unwrap();
    let mut serve = ServeProcess::spawn(
        env!("CARGO_BIN_EXE_danegate"),
        &["--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    serve.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });

    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(["daneverify", "--config", cfg.to_str().unwrap()])
        .args(["--port", &port.to_string(), "--timeout", "5", "hold.test"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // The client is done: the gateway must not have closed the connection yet (it
    // would only after its QUIT timed out).
    let mut seen: Vec<Seen> = rx.try_iter().collect();
    let closed_before_answer = seen.contains(&Seen::Closed);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}\nserve:\n{}",
        String::from_utf8_lossy(&out.stderr),
        serve.lines().join("\n")
    );
    assert!(
        stdout.ends_with("DANE SUCCESS for hold.test\nDANE verification completed.\n"),
        "stdout:\n{stdout}"
    );
    assert!(
        !closed_before_answer,
        "the gateway answered only after its QUIT exchange had ended"
    );
    // QUIT is still sent, after the answer; the gateway closes when it times out.
    while seen.last() != Some(&Seen::Closed) {
        match next(&rx) {
            Ok(s) => seen.push(s),
            Err(e) => panic!("MX server: {e:?}, seen {seen:?}"),
        }
    }
    assert_eq!(seen, [Seen::Quit, Seen::Closed]);
    server.join().unwrap().unwrap();
}
