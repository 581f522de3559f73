//! In-process SMTP servers for tests.
//!
//! [`SmtpSink::start`] binds 127.0.0.1 on an ephemeral port and serves SMTP from its own
//! thread with its own tokio runtime, so it works the same from sync tests and from
//! `#[tokio::test]`s. Dropping the handle stops it. It greets 220, answers EHLO with
//! PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES and (when configured) STARTTLS, and
//! records every message it accepts: envelope, content (dot-stuffing removed, CRLF kept)
//! and the TLS session it arrived over. Commands are parsed with smtp-proto.
//!
//! Like a real server (RFC 2920 §3.2) it flushes its replies only when it has consumed
//! all buffered input, and it drops any plain-text input pipelined after STARTTLS
//! (RFC 3207 §5).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the sink treats STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartTlsMode {
    /// Advertise STARTTLS and do the handshake (needs [`SinkOptions::tls`]; without a
    /// config it behaves like `NotOffered`). Default.
    #[default]
    Offer,
    /// Do not advertise STARTTLS; the command gets 502.
    NotOffered,
    /// Advertise STARTTLS, answer the command with `454 4.7.0`.
    Refuse,
    /// Advertise STARTTLS, close the connection when the command arrives.
    DropConnection,
}

/// Options of [`SmtpSink::start`].
#[derive(Clone)]
pub struct SinkOptions {
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// The TLS server config used after STARTTLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// STARTTLS behaviour.
    pub starttls: StartTlsMode,
    /// Advertise PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// Advertise SIZE with this limit (RFC 1870); `Some(0)` advertises no limit.
    pub size: Option<usize>,
    /// Advertise 8BITMIME.
    pub eight_bit_mime: bool,
    /// Advertise ENHANCEDSTATUSCODES and put enhanced codes in replies.
    pub enhanced_status_codes: bool,
    /// Recipients refused with `550 5.1.1` (case-insensitive).
    pub reject: Vec<String>,
    /// Recipients refused with `450 4.2.0` (case-insensitive).
    pub tempfail: Vec<String>,
    /// Where to listen; `None` is 127.0.0.1 on an ephemeral port. DANE tests put several
    /// MX hosts on 127.0.0.x with one common port.
    pub bind: Option<SocketAddr>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            hostname: "sink.test".into(),
            tls: None,
            starttls: StartTlsMode::Offer,
            pipelining: true,
            size: Some(10 * 1024 * 1024),
            eight_bit_mime: true,
            enhanced_status_codes: true,
            reject: Vec::new(),
            tempfail: Vec::new(),
            bind: None,
        }
    }
}

impl SinkOptions {
    /// Defaults plus STARTTLS with `config`.
    pub fn with_tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            tls: Some(config),
            ..Self::default()
        }
    }

    fn offers_starttls(&self) -> bool {
        self.tls.is_some() && self.starttls != StartTlsMode::NotOffered
            || matches!(
                self.starttls,
                StartTlsMode::Refuse | StartTlsMode::DropConnection
            )
    }
}

/// The TLS session a message arrived over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// Negotiated protocol.
    pub protocol: rustls::ProtocolVersion,
    /// Negotiated cipher suite.
    pub cipher_suite: rustls::CipherSuite,
    /// The SNI the client sent.
    pub sni: Option<String>,
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The EHLO/HELO name of the session.
    pub helo: String,
    /// The reverse-path (empty for `<>`).
    pub mail_from: String,
    /// MAIL FROM carried `BODY=8BITMIME`.
    pub body_8bitmime: bool,
    /// MAIL FROM's `SIZE=` value, if any.
    pub size_param: Option<usize>,
    /// Accepted recipients, in order.
    pub rcpt_to: Vec<String>,
    /// The content with dot-stuffing removed, lines ending in CRLF, without the final
    /// `.` line.
    pub data: Vec<u8>,
    /// The TLS session, `None` if the message came in clear.
    pub tls: Option<TlsSession>,
    /// More commands were already buffered behind MAIL FROM when it was read (the
    /// client pipelined, RFC 2920).
    pub pipelined: bool,
}

#[derive(Default)]
struct Shared {
    messages: Vec<ReceivedMessage>,
    connections: usize,
    open: usize,
    peak_open: usize,
    commands: Vec<String>,
}

/// A running sink; dropping it stops the server thread.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts a sink on `opts.bind` (default 127.0.0.1, ephemeral port).
    ///
    /// # Panics
    /// If the address cannot be bound.
    pub fn start(opts: SinkOptions) -> Self {
        let bind = opts
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let std_listener =
            std::net::TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        std_listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = std_listener.local_addr().expect("listener address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let opts = Arc::new(opts);
        let thread = std::thread::Builder::new()
            .name(format!("smtp-sink-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("sink runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            acc = listener.accept() => {
                                let Ok((tcp, _)) = acc else { continue };
                                {
                                    let mut g = lock(&sh);
                                    g.connections += 1;
                                    g.open += 1;
                                    g.peak_open = g.peak_open.max(g.open);
                                }
                                let (opts, sh) = (opts.clone(), sh.clone());
                                tokio::spawn(async move {
                                    let _ = connection(tcp, opts, sh.clone()).await;
                                    lock(&sh).open -= 1;
                                });
                            }
                        }
                    }
                });
            })
            .expect("spawn sink thread");
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The listening address (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared).messages.clone()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passed; returns them.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let end = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() >= end {
                return m;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Number of TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.shared).connections
    }

    /// The most connections that were open at the same time.
    pub fn peak_connections(&self) -> usize {
        lock(&self.shared).peak_open
    }

    /// Every command line received so far, in arrival order (all sessions).
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared).commands.clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

const IDLE: Duration = Duration::from_secs(60);

enum Next {
    Close,
    StartTls,
}

#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    body_8bitmime: bool,
    size_param: Option<usize>,
    rcpt_to: Vec<String>,
    pipelined: bool,
}

async fn connection(
    mut tcp: TcpStream,
    opts: Arc<SinkOptions>,
    shared: Arc<Mutex<Shared>>,
) -> io::Result<()> {
    tcp.write_all(format!("220 {} ESMTP danegate test sink\r\n", opts.hostname).as_bytes())
        .await?;
    match session(&mut tcp, &opts, &shared, None).await? {
        Next::Close => Ok(()),
        Next::StartTls => {
            let Some(cfg) = opts.tls.clone() else {
                return Ok(());
            };
            let tls = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
            let (_, conn) = tls.get_ref();
            let (Some(protocol), Some(suite)) =
                (conn.protocol_version(), conn.negotiated_cipher_suite())
            else {
                return Ok(());
            };
            let info = TlsSession {
                protocol,
                cipher_suite: suite.suite(),
                sni: conn.server_name().map(str::to_string),
            };
            let mut tls = tls;
            session(&mut tls, &opts, &shared, Some(&info)).await?;
            let _ = tls.shutdown().await;
            Ok(())
        }
    }
}

fn code(opts: &SinkOptions, code: u16, esc: &str, text: &str) -> String {
    if opts.enhanced_status_codes && !esc.is_empty() {
        format!("{code} {esc} {text}\r\n")
    } else {
        format!("{code} {text}\r\n")
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    opts: &SinkOptions,
    shared: &Mutex<Shared>,
    tls: Option<&TlsSession>,
) -> io::Result<Next> {
    let mut receiver = RequestReceiver::default();
    let mut data: Option<(DataReceiver, Vec<u8>)> = None;
    let mut helo: Option<String> = None;
    let mut tx = Transaction::default();
    let mut out = String::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match tokio::time::timeout(IDLE, s.read(&mut chunk)).await {
            Err(_) | Ok(Ok(0)) => return Ok(Next::Close),
            Ok(r) => r?,
        };
        let mut iter = chunk[..n].iter();
        loop {
            if let Some((rx, buf)) = &mut data {
                if !rx.ingest(&mut iter, buf) {
                    break;
                }
                let mut content = std::mem::take(buf);
                // Strip the CRLF primed before the content (see DATA below).
                content.drain(..content.len().min(2));
                data = None;
                let t = std::mem::take(&mut tx);
                lock(shared).messages.push(ReceivedMessage {
                    helo: helo.clone().unwrap_or_default(),
                    mail_from: t.mail_from.unwrap_or_default(),
                    body_8bitmime: t.body_8bitmime,
                    size_param: t.size_param,
                    rcpt_to: t.rcpt_to,
                    data: content,
                    tls: tls.cloned(),
                    pipelined: t.pipelined,
                });
                let id = lock(shared).messages.len();
                out.push_str(&code(opts, 250, "2.0.0", &format!("Ok: queued as {id}")));
                continue;
            }
            let req = match receiver.ingest(&mut iter) {
                Ok(r) => r.into_owned(),
                Err(ProtoError::NeedsMoreData { .. }) => break,
                Err(e) => {
                    out.push_str(&code(opts, 500, "5.5.2", &format!("Syntax error: {e}")));
                    continue;
                }
            };
            let more_buffered = iter.len() > 0;
            lock(shared).commands.push(command_text(&req));
            match req {
                Request::Ehlo { host } => {
                    helo = Some(host);
                    tx = Transaction::default();
                    let mut lines = vec![opts.hostname.clone()];
                    if opts.pipelining {
                        lines.push("PIPELINING".into());
                    }
                    if let Some(size) = opts.size {
                        lines.push(format!("SIZE {size}"));
                    }
                    if opts.eight_bit_mime {
                        lines.push("8BITMIME".into());
                    }
                    if opts.enhanced_status_codes {
                        lines.push("ENHANCEDSTATUSCODES".into());
                    }
                    if tls.is_none() && opts.offers_starttls() {
                        lines.push("STARTTLS".into());
                    }
                    for (i, l) in lines.iter().enumerate() {
                        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                        out.push_str(&format!("250{sep}{l}\r\n"));
                    }
                }
                Request::Helo { host } => {
                    helo = Some(host);
                    tx = Transaction::default();
                    out.push_str(&format!("250 {}\r\n", opts.hostname));
                }
                Request::StartTls => {
                    if tls.is_some() || !opts.offers_starttls() {
                        out.push_str(&code(opts, 502, "5.5.1", "STARTTLS not available"));
                        continue;
                    }
                    match opts.starttls {
                        StartTlsMode::Refuse => out.push_str(&code(
                            opts,
                            454,
                            "4.7.0",
                            "TLS not available due to temporary reason",
                        )),
                        StartTlsMode::DropConnection => {
                            s.write_all(out.as_bytes()).await?;
                            return Ok(Next::Close);
                        }
                        _ => {
                            out.push_str(&code(opts, 220, "2.0.0", "Ready to start TLS"));
                            s.write_all(out.as_bytes()).await?;
                            s.flush().await?;
                            // Anything pipelined behind STARTTLS is dropped (RFC 3207 §5).
                            return Ok(Next::StartTls);
                        }
                    }
                }
                Request::Mail { from } => {
                    if helo.is_none() {
                        out.push_str(&code(opts, 503, "5.5.1", "EHLO first"));
                    } else if tx.mail_from.is_some() {
                        out.push_str(&code(opts, 503, "5.5.1", "Nested MAIL command"));
                    } else if let Some(limit) = opts.size
                        && limit > 0
                        && from.size > limit
                        && from.size != usize::MAX
                    {
                        out.push_str(&code(opts, 552, "5.3.4", "Message size exceeds limit"));
                    } else {
                        tx.mail_from = Some(from.address);
                        tx.body_8bitmime = from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0;
                        tx.size_param =
                            (from.size > 0 && from.size != usize::MAX).then_some(from.size);
                        tx.pipelined = more_buffered;
                        out.push_str(&code(opts, 250, "2.1.0", "Ok"));
                    }
                }
                Request::Rcpt { to } => {
                    let lc = to.address.to_ascii_lowercase();
                    if tx.mail_from.is_none() {
                        out.push_str(&code(opts, 503, "5.5.1", "Need MAIL command"));
                    } else if opts.reject.iter().any(|r| r.eq_ignore_ascii_case(&lc)) {
                        out.push_str(&code(
                            opts,
                            550,
                            "5.1.1",
                            &format!("<{}>: Recipient address rejected: User unknown", to.address),
                        ));
                    } else if opts.tempfail.iter().any(|r| r.eq_ignore_ascii_case(&lc)) {
                        out.push_str(&code(
                            opts,
                            450,
                            "4.2.0",
                            &format!(
                                "<{}>: Recipient address rejected: try again later",
                                to.address
                            ),
                        ));
                    } else {
                        tx.rcpt_to.push(to.address);
                        out.push_str(&code(opts, 250, "2.1.5", "Ok"));
                    }
                }
                Request::Data => {
                    if tx.mail_from.is_none() {
                        out.push_str(&code(opts, 503, "5.5.1", "Need MAIL command"));
                    } else if tx.rcpt_to.is_empty() {
                        out.push_str(&code(opts, 554, "5.5.1", "No valid recipients"));
                    } else {
                        out.push_str(&code(opts, 354, "", "End data with <CR><LF>.<CR><LF>"));
                        // smtp-proto only unstuffs a dot that follows a CRLF it has seen:
                        // prime the receiver with one so the first line is unstuffed too.
                        let mut rx = DataReceiver::new();
                        let mut buf = Vec::new();
                        rx.ingest(&mut b"\r\n".iter(), &mut buf);
                        data = Some((rx, buf));
                    }
                }
                Request::Rset => {
                    tx = Transaction::default();
                    out.push_str(&code(opts, 250, "2.0.0", "Ok"));
                }
                Request::Noop { .. } => out.push_str(&code(opts, 250, "2.0.0", "Ok")),
                Request::Quit => {
                    out.push_str(&code(opts, 221, "2.0.0", "Bye"));
                    s.write_all(out.as_bytes()).await?;
                    s.flush().await?;
                    return Ok(Next::Close);
                }
                _ => out.push_str(&code(opts, 502, "5.5.1", "Command not implemented")),
            }
        }
        if !out.is_empty() {
            s.write_all(out.as_bytes()).await?;
            s.flush().await?;
            out.clear();
        }
    }
}

fn command_text(req: &Request<String>) -> String {
    match req {
        Request::Ehlo { host } => format!("EHLO {host}"),
        Request::Helo { host } => format!("HELO {host}"),
        Request::Mail { from } => format!("MAIL FROM:<{}>", from.address),
        Request::Rcpt { to } => format!("RCPT TO:<{}>", to.address),
        other => other.name().to_string(),
    }
}
