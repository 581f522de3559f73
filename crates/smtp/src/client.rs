//! The SMTP client session (RFC 5321 §3, §4; STARTTLS per RFC 3207; PIPELINING per
//! RFC 2920; SIZE per RFC 1870; 8BITMIME per RFC 6152).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tracing::debug;

use crate::data::encode_data;
use crate::error::{Phase, Result, SmtpError};
use crate::reply::{MAX_REPLY_LINE, MAX_REPLY_LINES, Reply};

/// DSN parameters of one transaction (RFC 3461), as received from the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnParams {
    /// `RET=FULL|HDRS`.
    pub ret: Option<String>,
    /// `ENVID`, decoded.
    pub envid: Option<String>,
    /// Per recipient, in the order of the `rcpts` slice: (`NOTIFY`, `ORCPT` as
    /// "addr-type;address" decoded).
    pub recipients: Vec<(Option<String>, Option<String>)>,
}

/// RFC 3461 §4: xtext — `+HH` for `+`, `=`, and anything outside `!`..`~`.
fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// RFC 3461 §4.1: `NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY`.
fn valid_notify(n: &str) -> bool {
    let parts: Vec<String> = n
        .split(',')
        .map(|p| p.trim().to_ascii_uppercase())
        .collect();
    parts == ["NEVER"]
        || (!parts.is_empty()
            && parts
                .iter()
                .all(|p| matches!(p.as_str(), "SUCCESS" | "FAILURE" | "DELAY")))
}

/// Per-phase timeouts. The defaults are the minimums of RFC 5321 §4.5.3.2 (a reply must
/// arrive completely within its timeout; a slow drip does not reset it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connection set-up (not in RFC 5321; Postfix's `smtp_connect_timeout` is 30 s).
    pub connect: Duration,
    /// The 220 greeting (RFC 5321 §4.5.3.2.1: 5 minutes).
    pub greeting: Duration,
    /// EHLO, HELO, STARTTLS, RSET, NOOP and QUIT replies (5 minutes like MAIL).
    pub command: Duration,
    /// The TLS handshake after STARTTLS's 220 (Postfix's `smtp_starttls_timeout`: 300 s).
    pub tls_handshake: Duration,
    /// The MAIL reply (RFC 5321 §4.5.3.2.2: 5 minutes).
    pub mail: Duration,
    /// Each RCPT reply (RFC 5321 §4.5.3.2.3: 5 minutes).
    pub rcpt: Duration,
    /// The reply to DATA (RFC 5321 §4.5.3.2.4: 2 minutes).
    pub data_init: Duration,
    /// Each write of message content (RFC 5321 §4.5.3.2.5: 3 minutes).
    pub data_block: Duration,
    /// The reply to the final `.` (RFC 5321 §4.5.3.2.6: 10 minutes).
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        Self {
            connect: Duration::from_secs(30),
            greeting: min(5),
            command: min(5),
            tls_handshake: min(5),
            mail: min(5),
            rcpt: min(5),
            data_init: min(2),
            data_block: min(3),
            data_end: min(10),
        }
    }
}

impl Timeouts {
    /// The same timeout for every phase (tests, `daneverify`).
    pub fn uniform(d: Duration) -> Self {
        Self {
            connect: d,
            greeting: d,
            command: d,
            tls_handshake: d,
            mail: d,
            rcpt: d,
            data_init: d,
            data_block: d,
            data_end: d,
        }
    }
}

/// What the server's EHLO reply advertises (RFC 5321 §4.1.1.1, §2.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// False when EHLO was refused and the session fell back to HELO (no extensions).
    pub esmtp: bool,
    /// Text of the first reply line (the server's domain and greeting).
    pub greeting: String,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870): `Some(0)` when advertised without a limit.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// Every ehlo-line after the first, as sent (keyword and parameters).
    pub keywords: Vec<String>,
}

impl Capabilities {
    /// True if an ehlo-line starts with `keyword` (case-insensitive, RFC 5321 §2.4).
    pub fn has(&self, keyword: &str) -> bool {
        self.keywords.iter().any(|l| {
            l.split_ascii_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
        })
    }

    fn helo(reply: &Reply) -> Self {
        Self {
            greeting: reply.lines.first().cloned().unwrap_or_default(),
            ..Self::default()
        }
    }

    /// Parses a positive EHLO reply. smtp-proto's parser gives the known extensions; our
    /// keyword scan is the fallback for replies it refuses (e.g. `SIZE abc`), so an odd
    /// parameter never makes a server unreachable.
    fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Self {
            esmtp: true,
            greeting: reply.lines.first().cloned().unwrap_or_default(),
            keywords: reply
                .lines
                .iter()
                .skip(1)
                .map(|l| l.trim().to_string())
                .collect(),
            ..Self::default()
        };
        let mut raw = Vec::new();
        for (i, line) in reply.lines.iter().enumerate() {
            let sep = if i + 1 == reply.lines.len() { ' ' } else { '-' };
            raw.extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
        }
        match smtp_proto::EhloResponse::parse(&mut raw.iter()) {
            Ok(r) => {
                use smtp_proto::*;
                caps.starttls = r.has_capability(EXT_START_TLS);
                caps.pipelining = r.has_capability(EXT_PIPELINING);
                caps.eight_bit_mime = r.has_capability(EXT_8BIT_MIME);
                caps.enhanced_status_codes = r.has_capability(EXT_ENHANCED_STATUS_CODES);
                caps.dsn = r.has_capability(EXT_DSN);
                caps.smtputf8 = r.has_capability(EXT_SMTP_UTF8);
                caps.chunking = r.has_capability(EXT_CHUNKING);
                caps.size = r.has_capability(EXT_SIZE).then_some(r.size as u64);
            }
            Err(e) => {
                debug!(target: "danegate_smtp", "smtp-proto refused the EHLO reply ({e}); scanning keywords");
                caps.starttls = caps.has("STARTTLS");
                caps.pipelining = caps.has("PIPELINING");
                caps.eight_bit_mime = caps.has("8BITMIME");
                caps.enhanced_status_codes = caps.has("ENHANCEDSTATUSCODES");
                caps.dsn = caps.has("DSN");
                caps.smtputf8 = caps.has("SMTPUTF8");
                caps.chunking = caps.has("CHUNKING");
                caps.size = caps
                    .keywords
                    .iter()
                    .find(|l| {
                        l.split_ascii_whitespace()
                            .next()
                            .is_some_and(|k| k.eq_ignore_ascii_case("SIZE"))
                    })
                    .map(|l| {
                        l.split_ascii_whitespace()
                            .nth(1)
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0)
                    });
            }
        }
        caps
    }
}

/// The outcome of a TLS handshake after STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// Negotiated protocol version (naming, e.g. `TLSv1.2`, is done by the caller).
    pub protocol: rustls::ProtocolVersion,
    /// Negotiated cipher suite (OpenSSL-style naming is done by the caller).
    pub cipher_suite: rustls::CipherSuite,
    /// The certificate chain the server presented, leaf first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

/// Per-recipient outcome class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientStatus {
    /// The server took responsibility for delivery (2yz after the final `.`).
    Delivered,
    /// Temporary failure (4yz, or an unexpected reply): retry later.
    Transient,
    /// Permanent failure (5yz): bounce.
    Permanent,
}

impl RecipientStatus {
    fn of(reply: &Reply) -> Self {
        if reply.is_positive() {
            RecipientStatus::Delivered
        } else if reply.is_permanent() {
            RecipientStatus::Permanent
        } else {
            RecipientStatus::Transient
        }
    }
}

/// What happened to one recipient of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The address, as given to [`SmtpClient::send`].
    pub address: String,
    /// The reply to its RCPT TO; `None` when RCPT was not sent (MAIL refused, unpipelined).
    pub rcpt_reply: Option<Reply>,
    /// The outcome.
    pub status: RecipientStatus,
    /// The reply that decided the outcome: the final reply after `.` for accepted
    /// recipients, else the failing MAIL, RCPT or DATA reply.
    pub reply: Reply,
}

/// The result of one mail transaction ([`SmtpClient::send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Reply to MAIL FROM.
    pub mail_reply: Reply,
    /// One entry per recipient, in the order given.
    pub recipients: Vec<RecipientResult>,
    /// Reply to the DATA command, if it was sent.
    pub data_reply: Option<Reply>,
    /// Reply to the end of data, if the content was sent.
    pub final_reply: Option<Reply>,
    /// Whether the commands were pipelined (RFC 2920).
    pub pipelined: bool,
}

impl Delivery {
    /// True if every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Delivered)
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Closed,
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Stream::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await?;
                // A TLS 1.3 server's session tickets can arrive just after we wrote
                // (our first EHLO leaves right behind our Finished). Sending data puts
                // Linux in delayed-ACK ("pingpong") mode, so the tickets would sit
                // unacknowledged for 40 ms while a server with Nagle's algorithm holds
                // its reply for that ACK. Quick-ACK mode after each write makes the
                // kernel acknowledge them as soon as we read them.
                #[cfg(target_os = "linux")]
                {
                    let _ = socket2::SockRef::from(s.get_ref().0).set_tcp_quickack(true);
                }
                Ok(())
            }
            Stream::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
            Stream::Closed => Ok(()),
        };
    }
}

/// An SMTP client session over TCP, optionally upgraded with STARTTLS.
///
/// Every read and write runs under a timeout from [`Timeouts`]. After a timeout, a lost
/// connection or a protocol error the session is unusable and further calls return
/// [`SmtpError::Broken`]; a negative reply leaves it usable.
pub struct SmtpClient {
    stream: Stream,
    rbuf: Vec<u8>,
    timeouts: Timeouts,
    local: SocketAddr,
    peer: SocketAddr,
    greeting: Reply,
    ehlo_name: Option<String>,
    caps: Option<Capabilities>,
    tls: Option<TlsInfo>,
    broken: bool,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("tls", &self.tls.is_some())
            .field("broken", &self.broken)
            .finish()
    }
}

impl SmtpClient {
    /// Connects to `addr` (from `local` if given, port chosen by the OS) and reads the
    /// greeting (RFC 5321 §3.1, §4.3.1: 220, possibly multi-line). A 554 or other
    /// non-220 greeting is [`SmtpError::Rejected`] with [`Phase::Greeting`] (QUIT is sent
    /// without waiting, RFC 5321 §3.1).
    pub async fn connect(
        addr: SocketAddr,
        local: Option<IpAddr>,
        timeouts: Timeouts,
    ) -> Result<Self> {
        let conn_err = |source| SmtpError::Connect { addr, source };
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(conn_err)?;
        if let Some(ip) = local {
            socket.bind(SocketAddr::new(ip, 0)).map_err(conn_err)?;
        }
        let tcp = match tokio::time::timeout(timeouts.connect, socket.connect(addr)).await {
            Err(_) => {
                return Err(SmtpError::Timeout {
                    phase: Phase::Connect,
                });
            }
            Ok(r) => r.map_err(conn_err)?,
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().map_err(conn_err)?;
        let peer = tcp.peer_addr().map_err(conn_err)?;
        let mut client = Self {
            stream: Stream::Plain(tcp),
            rbuf: Vec::new(),
            timeouts,
            local,
            peer,
            greeting: Reply::new(0, None, ""),
            ehlo_name: None,
            caps: None,
            tls: None,
            broken: false,
        };
        let greeting = client
            .read_reply(Phase::Greeting, timeouts.greeting)
            .await?;
        debug!(target: "danegate_smtp", %peer, "S: {greeting}");
        if greeting.code != 220 {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), client.stream.write_all(b"QUIT\r\n"))
                    .await;
            client.stream.shutdown().await;
            return Err(SmtpError::Rejected {
                phase: Phase::Greeting,
                reply: greeting,
            });
        }
        client.greeting = greeting;
        Ok(client)
    }

    /// The local address of the connection: the "from interface" of
    /// `Connected to X from interface Y.`.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// The capabilities of the last successful EHLO/HELO (reset by STARTTLS, RFC 3207 §4.2).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// The TLS session, once STARTTLS succeeded.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// EHLO (RFC 5321 §4.1.1.1); on a 5yz reply falls back to HELO (RFC 5321 §3.2),
    /// which yields [`Capabilities`] with `esmtp == false`. A 4yz reply, or a refused
    /// HELO, is [`SmtpError::Rejected`].
    pub async fn ehlo(&mut self, name: &str) -> Result<Capabilities> {
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(SmtpError::InvalidInput(format!("bad EHLO name {name:?}")));
        }
        self.ehlo_name = Some(name.to_string());
        self.ehlo_inner(Phase::Ehlo, Phase::Helo).await
    }

    async fn ehlo_inner(&mut self, ehlo_phase: Phase, helo_phase: Phase) -> Result<Capabilities> {
        let name = self.ehlo_name.clone().unwrap_or_default();
        let t = self.timeouts.command;
        let reply = self
            .command(ehlo_phase, &format!("EHLO {name}\r\n"), t)
            .await?;
        let caps = if reply.code == 250 {
            Capabilities::from_ehlo(&reply)
        } else if reply.is_permanent() {
            let reply = self
                .command(helo_phase, &format!("HELO {name}\r\n"), t)
                .await?;
            if reply.code != 250 {
                return Err(SmtpError::Rejected {
                    phase: helo_phase,
                    reply,
                });
            }
            Capabilities::helo(&reply)
        } else {
            return Err(SmtpError::Rejected {
                phase: ehlo_phase,
                reply,
            });
        };
        self.caps = Some(caps.clone());
        Ok(caps)
    }

    /// STARTTLS (RFC 3207 §4): requires STARTTLS in the last EHLO reply, sends the
    /// command, expects 220, performs the TLS handshake with `config` (whose verifier
    /// decides about the certificate) and `sni`, then sends EHLO again with the same name
    /// as RFC 3207 §4.2 requires (the pre-TLS capabilities are discarded).
    ///
    /// Errors before the server's 220 ([`SmtpError::StartTlsNotOffered`],
    /// [`SmtpError::StartTlsRefused`], or timeout/loss/protocol error with
    /// [`Phase::StartTls`]) leave the clear-text session as it was (usable after a
    /// refusal); errors after it ([`SmtpError::TlsHandshake`], or with
    /// [`Phase::TlsHandshake`] / [`Phase::TlsEhlo`]) leave the session unusable. See
    /// [`SmtpError::after_starttls_220`]. Bytes that follow the 220 in the same read are
    /// refused as response injection (RFC 3207 §5).
    ///
    /// TLS session resumption is the caller's business: a config with resumption
    /// enabled may skip certificate verification on a resumed session.
    pub async fn starttls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        sni: ServerName<'static>,
    ) -> Result<TlsInfo> {
        self.check_usable()?;
        if self.tls.is_some() {
            return Err(SmtpError::InvalidInput("TLS is already active".into()));
        }
        let Some(caps) = &self.caps else {
            return Err(SmtpError::InvalidInput(
                "EHLO must succeed before STARTTLS".into(),
            ));
        };
        if !caps.starttls {
            return Err(SmtpError::StartTlsNotOffered);
        }
        let t = self.timeouts.command;
        let reply = self.command(Phase::StartTls, "STARTTLS\r\n", t).await?;
        if reply.code != 220 {
            return Err(SmtpError::StartTlsRefused { reply });
        }
        if !self.rbuf.is_empty() {
            self.broken = true;
            return Err(SmtpError::Protocol {
                phase: Phase::TlsHandshake,
                detail: format!(
                    "{} bytes after the STARTTLS 220 reply (response injection, RFC 3207 §5)",
                    self.rbuf.len()
                ),
            });
        }
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(SmtpError::InvalidInput("TLS is already active".into()));
            }
        };
        self.caps = None;
        // Until the handshake succeeds the session is unusable.
        self.broken = true;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls =
            match tokio::time::timeout(self.timeouts.tls_handshake, connector.connect(sni, tcp))
                .await
            {
                Err(_) => {
                    return Err(SmtpError::Timeout {
                        phase: Phase::TlsHandshake,
                    });
                }
                Ok(Err(e)) => return Err(handshake_error(e)),
                Ok(Ok(tls)) => tls,
            };
        let (_, conn) = tls.get_ref();
        let (Some(protocol), Some(suite)) =
            (conn.protocol_version(), conn.negotiated_cipher_suite())
        else {
            return Err(SmtpError::Protocol {
                phase: Phase::TlsHandshake,
                detail: "handshake finished without a protocol version or cipher suite".into(),
            });
        };
        let info = TlsInfo {
            protocol,
            cipher_suite: suite.suite(),
            peer_certificates: conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        };
        debug!(target: "danegate_smtp", "TLS established: {:?} {:?}", info.protocol, info.cipher_suite);
        self.stream = Stream::Tls(Box::new(tls));
        self.broken = false;
        self.tls = Some(info.clone());
        self.ehlo_inner(Phase::TlsEhlo, Phase::TlsEhlo).await?;
        Ok(info)
    }

    /// One mail transaction: MAIL FROM (with `SIZE=` when SIZE is offered, RFC 1870 §6,
    /// and `BODY=8BITMIME` when 8BITMIME is offered, RFC 6152 §3), RCPT TO for each
    /// recipient (RFC 5321 §4.1.1.3; a refused recipient does not stop the others), DATA
    /// with CRLF-normalised, dot-stuffed content (RFC 5321 §4.5.2). Pipelined as one
    /// command group ending with DATA when PIPELINING is offered (RFC 2920 §3.1).
    ///
    /// `from` may be empty (the null reverse-path of bounces). Negative replies are
    /// reported per recipient in the returned [`Delivery`]; after a failed transaction
    /// RSET is sent (RFC 5321 §4.1.1.5). `Err` means the transaction's outcome is unknown
    /// (connection trouble) or it was not attempted (invalid input, message too large).
    pub async fn send<S: AsRef<str>>(
        &mut self,
        from: &str,
        rcpts: &[S],
        body: &[u8],
    ) -> Result<Delivery> {
        self.send_with_dsn(from, rcpts, body, None).await
    }

    /// [`SmtpClient::send`], carrying the DSN parameters of RFC 3461 to a server that
    /// offers DSN: `RET` and `ENVID` on MAIL (§4.3, §4.4), `NOTIFY` and `ORCPT` on each
    /// RCPT (§4.1, §4.2), xtext-encoded (§4). Without DSN on the server they are dropped,
    /// as RFC 3461 §6.2 has a relay do (it then reports "relayed" itself if asked).
    pub async fn send_with_dsn<S: AsRef<str>>(
        &mut self,
        from: &str,
        rcpts: &[S],
        body: &[u8],
        dsn: Option<&DsnParams>,
    ) -> Result<Delivery> {
        self.check_usable()?;
        if self.caps.is_none() {
            return Err(SmtpError::InvalidInput(
                "EHLO must succeed before a mail transaction".into(),
            ));
        }
        if rcpts.is_empty() {
            return Err(SmtpError::InvalidInput("no recipients".into()));
        }
        check_address(from, true)?;
        let bad: Vec<Option<String>> = rcpts
            .iter()
            .map(|r| {
                check_address(r.as_ref(), false)
                    .err()
                    .map(|e| e.to_string())
            })
            .collect();
        // One address that cannot be sent must not hold the others: it fails on its
        // own (553 5.1.3, not sent), the rest go through one transaction.
        self.send_without(from, rcpts, &bad, body, dsn).await
    }

    /// One transaction for `rcpts` (already checked).
    async fn transact(
        &mut self,
        caps: Capabilities,
        from: &str,
        rcpts: &[&str],
        body: &[u8],
        dsn: Option<&DsnParams>,
    ) -> Result<Delivery> {
        let utf8 = !from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii());
        if utf8 && !caps.smtputf8 {
            return Err(SmtpError::InvalidInput(
                "non-ASCII address but the server does not offer SMTPUTF8 (RFC 6531 §3.4)".into(),
            ));
        }
        let (data, size) = encode_data(body);
        if let Some(limit) = caps.size
            && limit > 0
            && size > limit
        {
            return Err(SmtpError::MessageTooLarge { size, limit });
        }

        let mut mail = format!("MAIL FROM:<{from}>");
        if caps.size.is_some() {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if caps.eight_bit_mime {
            mail.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            mail.push_str(" SMTPUTF8");
        }
        let dsn = dsn.filter(|_| caps.dsn);
        if let Some(d) = dsn {
            if let Some(ret) = d
                .ret
                .as_deref()
                .filter(|r| r.eq_ignore_ascii_case("FULL") || r.eq_ignore_ascii_case("HDRS"))
            {
                mail.push_str(&format!(" RET={}", ret.to_ascii_uppercase()));
            }
            if let Some(envid) = &d.envid {
                mail.push_str(&format!(" ENVID={}", xtext(envid)));
            }
        }
        mail.push_str("\r\n");
        let rcpt_cmds: Vec<String> = rcpts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut cmd = format!("RCPT TO:<{}>", r);
                if let Some((notify, orcpt)) = dsn.and_then(|d| d.recipients.get(i)) {
                    if let Some(n) = notify.as_deref().filter(|n| valid_notify(n)) {
                        cmd.push_str(&format!(" NOTIFY={}", n.to_ascii_uppercase()));
                    }
                    if let Some(o) = orcpt {
                        // "addr-type;address": the type stays, the address is xtext.
                        let (kind, addr) = o.split_once(';').unwrap_or(("rfc822", o.as_str()));
                        cmd.push_str(&format!(" ORCPT={};{}", kind.trim(), xtext(addr.trim())));
                    }
                }
                cmd.push_str("\r\n");
                cmd
            })
            .collect();
        let t = self.timeouts;

        let pipelined = caps.pipelining;
        let mail_reply;
        let mut rcpt_replies: Vec<Option<Reply>> = vec![None; rcpts.len()];
        let mut data_reply = None;
        if pipelined {
            let mut batch = mail.clone();
            for c in &rcpt_cmds {
                batch.push_str(c);
            }
            batch.push_str("DATA\r\n");
            debug!(target: "danegate_smtp", "C: {}", batch.trim_end().replace("\r\n", " | "));
            self.write(Phase::MailFrom, batch.as_bytes(), t.mail)
                .await?;
            mail_reply = self.read_reply(Phase::MailFrom, t.mail).await?;
            for slot in rcpt_replies.iter_mut() {
                *slot = Some(self.read_reply(Phase::RcptTo, t.rcpt).await?);
            }
            data_reply = Some(self.read_reply(Phase::Data, t.data_init).await?);
        } else {
            mail_reply = self.command(Phase::MailFrom, &mail, t.mail).await?;
            if mail_reply.is_positive() {
                for (slot, cmd) in rcpt_replies.iter_mut().zip(&rcpt_cmds) {
                    *slot = Some(self.command(Phase::RcptTo, cmd, t.rcpt).await?);
                }
                if rcpt_replies.iter().flatten().any(Reply::is_positive) {
                    data_reply = Some(self.command(Phase::Data, "DATA\r\n", t.data_init).await?);
                }
            }
        }

        let accepted =
            mail_reply.is_positive() && rcpt_replies.iter().flatten().any(Reply::is_positive);
        let mut final_reply = None;
        let mut failed = !accepted;
        if let Some(dr) = &data_reply {
            if dr.code == 354 {
                if accepted {
                    for chunk in data.chunks(64 * 1024) {
                        self.write(Phase::DataBody, chunk, t.data_block).await?;
                    }
                    let fr = self.read_reply(Phase::DataEnd, t.data_end).await?;
                    debug!(target: "danegate_smtp", "S: {fr}");
                    failed = !fr.is_positive();
                    final_reply = Some(fr);
                } else {
                    // RFC 2920 §3.1: DATA was pipelined, no recipient was accepted, yet
                    // the server said 354: end the empty content at once.
                    self.write(Phase::DataBody, b".\r\n", t.data_block).await?;
                    let _ = self.read_reply(Phase::DataEnd, t.data_end).await?;
                }
            } else {
                failed = true;
            }
        }
        if failed {
            let _ = self.rset().await;
        }

        let recipients = rcpts
            .iter()
            .zip(rcpt_replies)
            .map(|(addr, rcpt_reply)| {
                let deciding = if !mail_reply.is_positive() {
                    mail_reply.clone()
                } else {
                    match &rcpt_reply {
                        Some(r) if !r.is_positive() => r.clone(),
                        Some(r) => match (&data_reply, &final_reply) {
                            (_, Some(f)) => f.clone(),
                            (Some(d), None) => d.clone(),
                            (None, None) => r.clone(),
                        },
                        None => mail_reply.clone(),
                    }
                };
                let mut status = RecipientStatus::of(&deciding);
                if status == RecipientStatus::Delivered && final_reply.is_none() {
                    // Accepted at RCPT but the content never went through.
                    status = RecipientStatus::Transient;
                }
                RecipientResult {
                    address: addr.to_string(),
                    rcpt_reply,
                    status,
                    reply: deciding,
                }
            })
            .collect();
        Ok(Delivery {
            mail_reply,
            recipients,
            data_reply,
            final_reply,
            pipelined,
        })
    }

    /// [`SmtpClient::send_with_dsn`] for the recipients whose `bad` entry is `None`;
    /// the others get a permanent local result `553 5.1.3` (RFC 3463: bad destination
    /// mailbox address syntax) without being sent.
    async fn send_without<S: AsRef<str>>(
        &mut self,
        from: &str,
        rcpts: &[S],
        bad: &[Option<String>],
        body: &[u8],
        dsn: Option<&DsnParams>,
    ) -> Result<Delivery> {
        let good: Vec<&str> = rcpts
            .iter()
            .zip(bad)
            .filter(|(_, b)| b.is_none())
            .map(|(r, _)| r.as_ref())
            .collect();
        let good_dsn = dsn.map(|d| DsnParams {
            ret: d.ret.clone(),
            envid: d.envid.clone(),
            recipients: d
                .recipients
                .iter()
                .zip(bad)
                .filter(|(_, b)| b.is_none())
                .map(|(r, _)| r.clone())
                .collect(),
        });
        let local = |why: &str| Reply {
            code: 553,
            enhanced: crate::EnhancedStatus::parse("5.1.3"),
            lines: vec![format!("not sent: {why}")],
        };
        let Some(caps) = self.caps.clone() else {
            return Err(SmtpError::InvalidInput(
                "EHLO must succeed before a mail transaction".into(),
            ));
        };
        if bad.iter().all(Option::is_none) {
            return self.transact(caps, from, &good, body, dsn).await;
        }
        let mut inner = if good.is_empty() {
            None
        } else {
            Some(
                self.transact(caps, from, &good, body, good_dsn.as_ref())
                    .await?,
            )
        };
        let mut sent = inner
            .as_mut()
            .map(|d| std::mem::take(&mut d.recipients))
            .unwrap_or_default()
            .into_iter();
        let recipients = rcpts
            .iter()
            .zip(bad)
            .map(|(r, b)| match b {
                Some(why) => RecipientResult {
                    address: r.as_ref().to_string(),
                    rcpt_reply: None,
                    status: RecipientStatus::Permanent,
                    reply: local(why),
                },
                None => sent.next().unwrap_or_else(|| RecipientResult {
                    address: r.as_ref().to_string(),
                    rcpt_reply: None,
                    status: RecipientStatus::Transient,
                    reply: local("no result"),
                }),
            })
            .collect();
        Ok(match inner {
            Some(d) => Delivery { recipients, ..d },
            None => Delivery {
                mail_reply: local("no recipient address can be sent"),
                recipients,
                data_reply: None,
                final_reply: None,
                pipelined: false,
            },
        })
    }

    /// RSET (RFC 5321 §4.1.1.5): aborts the current transaction.
    pub async fn rset(&mut self) -> Result<Reply> {
        let t = self.timeouts.command;
        let reply = self.command(Phase::Rset, "RSET\r\n", t).await?;
        if !reply.is_positive() {
            return Err(SmtpError::Rejected {
                phase: Phase::Rset,
                reply,
            });
        }
        Ok(reply)
    }

    /// NOOP (RFC 5321 §4.1.1.9): checks that the session is alive.
    pub async fn noop(&mut self) -> Result<Reply> {
        let t = self.timeouts.command;
        let reply = self.command(Phase::Noop, "NOOP\r\n", t).await?;
        if !reply.is_positive() {
            return Err(SmtpError::Rejected {
                phase: Phase::Noop,
                reply,
            });
        }
        Ok(reply)
    }

    /// QUIT (RFC 5321 §4.1.1.10), then closes the connection (with a TLS close_notify
    /// inside TLS). A server that closes without answering is fine.
    pub async fn quit(mut self) -> Result<()> {
        self.check_usable()?;
        let t = self.timeouts.command;
        let res = self.command(Phase::Quit, "QUIT\r\n", t).await;
        self.stream.shutdown().await;
        match res {
            Ok(r) if r.is_positive() => Ok(()),
            Ok(reply) => Err(SmtpError::Rejected {
                phase: Phase::Quit,
                reply,
            }),
            Err(SmtpError::ConnectionLost { source: None, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken {
            Err(SmtpError::Broken)
        } else {
            Ok(())
        }
    }

    async fn command(&mut self, phase: Phase, line: &str, timeout: Duration) -> Result<Reply> {
        self.check_usable()?;
        debug!(target: "danegate_smtp", "C: {}", line.trim_end());
        self.write(phase, line.as_bytes(), timeout).await?;
        let reply = self.read_reply(phase, timeout).await?;
        debug!(target: "danegate_smtp", "S: {reply}");
        Ok(reply)
    }

    async fn write(&mut self, phase: Phase, data: &[u8], timeout: Duration) -> Result<()> {
        self.check_usable()?;
        match tokio::time::timeout(timeout, self.stream.write_all(data)).await {
            Err(_) => {
                self.broken = true;
                Err(SmtpError::Timeout { phase })
            }
            Ok(Err(e)) => {
                self.broken = true;
                Err(SmtpError::ConnectionLost {
                    phase,
                    source: Some(e),
                })
            }
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads one complete reply; the whole reply must arrive within `timeout`.
    async fn read_reply(&mut self, phase: Phase, timeout: Duration) -> Result<Reply> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line(phase, deadline).await?;
            let last = line.get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(
                    self.protocol(phase, format!("reply longer than {MAX_REPLY_LINES} lines"))
                );
            }
        }
        Reply::from_lines(&lines).map_err(|detail| self.protocol(phase, detail))
    }

    fn protocol(&mut self, phase: Phase, detail: String) -> SmtpError {
        self.broken = true;
        SmtpError::Protocol { phase, detail }
    }

    /// Reads one line, without its CRLF (a bare LF is tolerated as line end).
    async fn read_line(&mut self, phase: Phase, deadline: Instant) -> Result<Vec<u8>> {
        loop {
            if let Some(pos) = self.rbuf.iter().position(|&b| b == b'\n') {
                if pos + 1 > MAX_REPLY_LINE {
                    return Err(self.protocol(
                        phase,
                        format!("reply line longer than {MAX_REPLY_LINE} bytes"),
                    ));
                }
                let mut line: Vec<u8> = self.rbuf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.rbuf.len() >= MAX_REPLY_LINE {
                return Err(self.protocol(
                    phase,
                    format!("reply line longer than {MAX_REPLY_LINE} bytes"),
                ));
            }
            let mut buf = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    self.broken = true;
                    return Err(SmtpError::Timeout { phase });
                }
                Ok(Ok(0)) => {
                    self.broken = true;
                    return Err(SmtpError::ConnectionLost {
                        phase,
                        source: None,
                    });
                }
                Ok(Ok(n)) => self
                    .rbuf
                    .extend_from_slice(buf.get(..n).unwrap_or_default()),
                Ok(Err(e)) => {
                    self.broken = true;
                    return Err(SmtpError::ConnectionLost {
                        phase,
                        source: Some(e),
                    });
                }
            }
        }
    }
}

/// Classifies an I/O error from the TLS handshake.
fn handshake_error(e: io::Error) -> SmtpError {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return SmtpError::TlsHandshake {
            source: tls.clone(),
        };
    }
    let source = (e.kind() != io::ErrorKind::UnexpectedEof).then_some(e);
    SmtpError::ConnectionLost {
        phase: Phase::TlsHandshake,
        source,
    }
}

/// Refuses addresses that would break the command syntax or are not an RFC 5321
/// §4.1.2 Mailbox path body: no control characters anywhere; outside a quoted local
/// part no space, `<`, `>` or `"`; a quoted local part (`"john smith"@example.com`,
/// kept as it is, never unquoted) holds qtextSMTP and quoted-pairSMTP only and is
/// followed by `@domain`.
fn check_address(addr: &str, allow_empty: bool) -> Result<()> {
    if addr.is_empty() && !allow_empty {
        return Err(SmtpError::InvalidInput("empty recipient address".into()));
    }
    if addr.len() > 256 {
        return Err(SmtpError::InvalidInput(format!(
            "address longer than 256 octets (RFC 5321 §4.5.3.1.3): {}...",
            &addr[..addr.floor_char_boundary(40)]
        )));
    }
    let bad = || SmtpError::InvalidInput(format!("bad address {addr:?}"));
    if addr.chars().any(char::is_control) {
        return Err(bad());
    }
    let rest = match addr.strip_prefix('"') {
        None => addr,
        Some(quoted) => {
            // RFC 5321 §4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126 (and UTF-8
            // with SMTPUTF8), quoted-pairSMTP = "\" %d32-126.
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, q)) if (' '..='~').contains(&q) => {}
                        _ => return Err(bad()),
                    },
                    _ => {}
                }
            }
            let Some(end) = end else {
                return Err(bad());
            };
            let after = &quoted[end..];
            if !after.starts_with('@') {
                return Err(bad());
            }
            after
        }
    };
    if rest.chars().any(|c| matches!(c, ' ' | '<' | '>' | '"')) {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ehlo(lines: &[&str]) -> Capabilities {
        Capabilities::from_ehlo(&Reply {
            code: 250,
            enhanced: None,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        })
    }

    #[test]
    fn ehlo_capabilities() {
        let c = ehlo(&[
            "mx.example.net Hello",
            "PIPELINING",
            "SIZE 35882577",
            "AUTH LOGIN PLAIN",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "DSN",
            "STARTTLS",
            "X-UNKNOWN foo",
            "SMTPUTF8",
            "CHUNKING",
        ]);
        assert!(c.esmtp && c.pipelining && c.eight_bit_mime && c.enhanced_status_codes);
        assert!(c.dsn && c.starttls && c.smtputf8 && c.chunking);
        assert_eq!(c.size, Some(35882577));
        assert_eq!(c.greeting, "mx.example.net Hello");
        assert!(c.has("x-unknown") && c.has("AUTH") && !c.has("ETRN"));

        // Odd parameters fall back to the keyword scan instead of failing.
        let c = ehlo(&["mx", "SIZE abc", "starttls", "PIPELINING"]);
        assert!(c.starttls && c.pipelining);
        assert_eq!(c.size, Some(0));

        let c = ehlo(&["mx only"]);
        assert!(c.esmtp && !c.starttls && c.size.is_none() && c.keywords.is_empty());
    }
}

#[cfg(test)]
mod dsn_tests {
    use super::*;

    #[test]
    fn xtext_encodes_plus_equals_and_controls() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("user@example.org"), "user@example.org");
    }

    #[test]
    fn notify_values() {
        assert!(valid_notify("NEVER"));
        assert!(valid_notify("success,failure"));
        assert!(!valid_notify("NEVER,FAILURE"));
        assert!(!valid_notify("SOMETIMES"));
    }
}
