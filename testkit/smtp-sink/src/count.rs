//! `--count-only`: a minimal SMTP server for benchmarks that keeps no message, only a
//! count. Same greeting, EHLO keywords and STARTTLS as the test kit's sink; replies are
//! flushed only when all buffered input was consumed (RFC 2920 §3.2); TCP_NODELAY is
//! set (so a TLS 1.3 server's session tickets cannot hold the first reply back for a
//! delayed ACK, see bench/README.md). A message is counted when its end-of-data line
//! is read and answered 250.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Running counters, shared with the count-file writer.
#[derive(Default)]
pub struct Counters {
    /// Messages accepted.
    pub messages: AtomicU64,
    /// Unix time (ms) of the last accepted message.
    pub last_ms: AtomicU64,
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// Messages accepted over TLS (after STARTTLS).
    pub tls_messages: AtomicU64,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

const IDLE: Duration = Duration::from_secs(300);
const MAX_LINE: usize = 1 << 20;

pub async fn serve(
    listener: TcpListener,
    hostname: String,
    tls: Option<Arc<rustls::ServerConfig>>,
    counters: Arc<Counters>,
) {
    let hostname = Arc::new(hostname);
    loop {
        let Ok((tcp, _peer)) = listener.accept().await else {
            continue;
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let _ = tcp.set_nodelay(true);
        let (h, t, c) = (hostname.clone(), tls.clone(), counters.clone());
        tokio::spawn(async move {
            let _ = connection(tcp, &h, t, &c).await;
        });
    }
}

async fn connection(
    mut tcp: TcpStream,
    hostname: &str,
    tls: Option<Arc<rustls::ServerConfig>>,
    counters: &Counters,
) -> io::Result<()> {
    tcp.write_all(format!("220 {hostname} ESMTP danegate test sink\r\n").as_bytes())
        .await?;
    let mut rd = BufReader::new(tcp);
    if session(&mut rd, hostname, tls.is_some(), false, counters).await? {
        let Some(cfg) = tls else { return Ok(()) };
        // Input pipelined behind STARTTLS is dropped (RFC 3207 §5).
        let tcp = rd.into_inner();
        let stream = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
        let mut rd = BufReader::new(stream);
        session(&mut rd, hostname, false, true, counters).await?;
        let _ = rd.into_inner().shutdown().await;
    }
    Ok(())
}

/// Runs one SMTP session; returns true when STARTTLS was accepted (220 sent).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    rd: &mut BufReader<S>,
    hostname: &str,
    offer_tls: bool,
    in_tls: bool,
    counters: &Counters,
) -> io::Result<bool> {
    let mut out = Vec::<u8>::new();
    let mut line = Vec::<u8>::new();
    let mut helo = false;
    let mut mail = false;
    let mut rcpts = 0usize;
    let mut in_data = false;
    loop {
        line.clear();
        let n = match tokio::time::timeout(IDLE, rd.read_until(b'\n', &mut line)).await {
            Err(_) => return Ok(false),
            Ok(r) => r?,
        };
        if n == 0 {
            return Ok(false);
        }
        if line.len() > MAX_LINE {
            return Ok(false);
        }
        if in_data {
            if line == b".\r\n" {
                in_data = false;
                mail = false;
                rcpts = 0;
                let id = counters.messages.fetch_add(1, Ordering::Relaxed) + 1;
                if in_tls {
                    counters.tls_messages.fetch_add(1, Ordering::Relaxed);
                }
                counters.last_ms.store(now_ms(), Ordering::Relaxed);
                out.extend_from_slice(format!("250 2.0.0 Ok: queued as {id}\r\n").as_bytes());
            }
        } else {
            let text = String::from_utf8_lossy(&line);
            let cmd = text.trim_end_matches(['\r', '\n']);
            let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let arg_upper = cmd.to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => {
                    helo = true;
                    mail = false;
                    rcpts = 0;
                    out.extend_from_slice(
                        format!(
                            "250-{hostname}\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n\
                             250-8BITMIME\r\n{}250 ENHANCEDSTATUSCODES\r\n",
                            if offer_tls && !in_tls {
                                "250-STARTTLS\r\n"
                            } else {
                                ""
                            }
                        )
                        .as_bytes(),
                    );
                }
                "HELO" => {
                    helo = true;
                    mail = false;
                    rcpts = 0;
                    out.extend_from_slice(format!("250 {hostname}\r\n").as_bytes());
                }
                "STARTTLS" if offer_tls && !in_tls => {
                    out.extend_from_slice(b"220 2.0.0 Ready to start TLS\r\n");
                    rd.get_mut().write_all(&out).await?;
                    rd.get_mut().flush().await?;
                    return Ok(true);
                }
                "MAIL" if arg_upper.starts_with("MAIL FROM:") => {
                    if !helo {
                        out.extend_from_slice(b"503 5.5.1 EHLO first\r\n");
                    } else if mail {
                        out.extend_from_slice(b"503 5.5.1 Nested MAIL command\r\n");
                    } else {
                        mail = true;
                        out.extend_from_slice(b"250 2.1.0 Ok\r\n");
                    }
                }
                "RCPT" if arg_upper.starts_with("RCPT TO:") => {
                    if !mail {
                        out.extend_from_slice(b"503 5.5.1 Need MAIL command\r\n");
                    } else {
                        rcpts += 1;
                        out.extend_from_slice(b"250 2.1.5 Ok\r\n");
                    }
                }
                "DATA" => {
                    if !mail {
                        out.extend_from_slice(b"503 5.5.1 Need MAIL command\r\n");
                    } else if rcpts == 0 {
                        out.extend_from_slice(b"554 5.5.1 No valid recipients\r\n");
                    } else {
                        in_data = true;
                        out.extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                    }
                }
                "RSET" => {
                    mail = false;
                    rcpts = 0;
                    out.extend_from_slice(b"250 2.0.0 Ok\r\n");
                }
                "NOOP" => out.extend_from_slice(b"250 2.0.0 Ok\r\n"),
                "QUIT" => {
                    out.extend_from_slice(b"221 2.0.0 Bye\r\n");
                    rd.get_mut().write_all(&out).await?;
                    rd.get_mut().flush().await?;
                    return Ok(false);
                }
                _ => out.extend_from_slice(b"502 5.5.1 Command not implemented\r\n"),
            }
        }
        if !out.is_empty() && rd.buffer().is_empty() {
            rd.get_mut().write_all(&out).await?;
            rd.get_mut().flush().await?;
            out.clear();
        }
    }
}

/// Every 100 ms, rewrites `path` (via a temp file and rename) with one line
/// `MESSAGES LAST_MESSAGE_UNIX_MS CONNECTIONS TLS_MESSAGES` when something changed.
pub fn spawn_count_file(path: std::path::PathBuf, counters: Arc<Counters>) {
    std::thread::spawn(move || {
        let tmp = path.with_extension("tmp");
        let mut last = None;
        loop {
            let cur = (
                counters.messages.load(Ordering::Relaxed),
                counters.last_ms.load(Ordering::Relaxed),
                counters.connections.load(Ordering::Relaxed),
                counters.tls_messages.load(Ordering::Relaxed),
            );
            if last != Some(cur) {
                let line = format!("{} {} {} {}\n", cur.0, cur.1, cur.2, cur.3);
                let ok = std::fs::write(&tmp, line).and_then(|()| std::fs::rename(&tmp, &path));
                if ok.is_ok() {
                    last = Some(cur);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

/// Runs the count-only server on its own runtime until the process is killed.
pub fn run(
    addr: SocketAddr,
    hostname: String,
    tls: Option<Arc<rustls::ServerConfig>>,
    counters: Arc<Counters>,
    ready: impl FnOnce(SocketAddr),
) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        serve(listener, hostname, tls, counters).await;
        Ok(())
    })
}
