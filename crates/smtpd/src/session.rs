//! One SMTP session: line framing, the command state machine, DATA, STARTTLS.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use smtp_proto::{
    MAIL_BODY_7BIT, MAIL_BODY_8BITMIME, MAIL_RET_FULL, MAIL_RET_HDRS, MailFrom, RCPT_NOTIFY_DELAY,
    RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS, RcptTo, Request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tracing::debug;

use crate::data::{DataError, DataReader};
use crate::{
    CloseReason, Envelope, ListenerParams, Policy, Rcpt, RcptDecision, ServerEvent, SessionInfo,
    StoreError,
};

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Gone,
}

/// Why reading stopped.
enum ReadEnd {
    Eof,
    Timeout,
    /// `command_timeout` or `data_timeout` passed.
    CommandTimeout,
    /// `session_timeout` passed.
    SessionTimeout,
    Shutdown,
    Io(String),
}

impl From<ReadEnd> for CloseReason {
    fn from(e: ReadEnd) -> Self {
        match e {
            ReadEnd::Eof => CloseReason::ClientClosed,
            ReadEnd::Timeout => CloseReason::IdleTimeout,
            ReadEnd::CommandTimeout => CloseReason::CommandTimeout,
            ReadEnd::SessionTimeout => CloseReason::SessionTimeout,
            ReadEnd::Shutdown => CloseReason::Shutdown,
            ReadEnd::Io(s) => CloseReason::Io(s),
        }
    }
}

/// A command line as framed.
enum Line {
    /// Complete, with its line end.
    Ok(Vec<u8>),
    /// Longer than the limit (discarded up to its LF).
    TooLong,
}

/// What the command handler wants next.
enum Next {
    Continue,
    Close(CloseReason),
}

/// An open mail transaction (RFC 5321 §3.3).
struct Txn {
    mid: u64,
    from: String,
    body_8bitmime: bool,
    size: Option<usize>,
    ret: Option<String>,
    envid: Option<String>,
    rcpts: Vec<Rcpt>,
}

pub(crate) struct Session<P: Policy> {
    stream: Stream,
    params: Arc<ListenerParams>,
    policy: Arc<P>,
    info: SessionInfo,
    rejected: bool,
    stop: watch::Receiver<bool>,
    rbuf: Vec<u8>,
    out: Vec<u8>,
    esmtp: bool,
    errors: u32,
    txn: Option<Txn>,
    /// When the session began (for `session_timeout`).
    started: Instant,
}

/// Octets read per read call at most.
const READ_CHUNK: usize = 16 * 1024;

impl<P: Policy> Session<P> {
    pub(crate) fn new(
        tcp: TcpStream,
        params: Arc<ListenerParams>,
        policy: Arc<P>,
        info: SessionInfo,
        rejected: bool,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            stream: Stream::Plain(tcp),
            params,
            policy,
            info,
            rejected,
            stop,
            rbuf: Vec::new(),
            out: Vec::new(),
            esmtp: false,
            errors: 0,
            txn: None,
            started: Instant::now(),
        }
    }

    fn command_limit(&self) -> usize {
        self.params.max_line_length.max(512)
    }

    /// Runs the session to its end.
    pub(crate) async fn run(mut self) -> CloseReason {
        let host = self.params.hostname.clone();
        if self.rejected {
            // RFC 5321 §3.1: 554 greeting, then wait for QUIT.
            self.reply(554, "5.7.1", &format!("{host} Access denied"));
        } else {
            self.raw(&format!("220 {host} ESMTP danegate\r\n"));
        }
        let reason = loop {
            let line = match self.read_line().await {
                Ok(l) => l,
                Err(e @ (ReadEnd::Timeout | ReadEnd::CommandTimeout | ReadEnd::SessionTimeout)) => {
                    self.reply(421, "4.4.2", &format!("{host} Error: timeout exceeded"));
                    break e.into();
                }
                Err(ReadEnd::Shutdown) => {
                    self.reply(421, "4.3.2", &format!("{host} Service shutting down"));
                    break CloseReason::Shutdown;
                }
                Err(e) => break e.into(),
            };
            match self.command(line).await {
                Next::Continue => {}
                Next::Close(r) => break r,
            }
        };
        let _ = self.flush().await;
        self.shutdown_stream().await;
        reason
    }

    // ----- output -----

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// A one-line reply with an enhanced status code (RFC 2034 §3).
    fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        let line = format!("{code} {enhanced} {text}\r\n");
        self.out.extend_from_slice(line.as_bytes());
    }

    async fn flush(&mut self) -> Result<(), ReadEnd> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let t = self.params.idle_timeout;
        let r = match &mut self.stream {
            Stream::Plain(s) => {
                timeout(t, async {
                    s.write_all(&out).await?;
                    s.flush().await
                })
                .await
            }
            Stream::Tls(s) => {
                timeout(t, async {
                    s.write_all(&out).await?;
                    s.flush().await
                })
                .await
            }
            Stream::Gone => return Err(ReadEnd::Eof),
        };
        match r {
            Err(_) => Err(ReadEnd::Timeout),
            Ok(Err(e)) => Err(ReadEnd::Io(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn shutdown_stream(&mut self) {
        let _ = timeout(std::time::Duration::from_secs(2), async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    let _ = s.shutdown().await;
                }
                Stream::Tls(s) => {
                    let _ = s.shutdown().await;
                }
                Stream::Gone => {}
            }
        })
        .await;
    }

    // ----- input -----

    /// Flushes pending replies (RFC 2920 §3.1: before waiting for input), then reads
    /// more input into `rbuf`. `stoppable`: a server shutdown ends the wait. The read
    /// waits at most the idle timeout, and not past `deadline` (which then ends it
    /// with its own error).
    async fn fill(
        &mut self,
        stoppable: bool,
        deadline: (Instant, fn() -> ReadEnd),
    ) -> Result<(), ReadEnd> {
        self.flush().await?;
        self.rbuf.reserve(READ_CHUNK);
        let left = deadline.0.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline.1());
        }
        let (t, on_timeout) = if left < self.params.idle_timeout {
            (left, deadline.1)
        } else {
            (
                self.params.idle_timeout,
                (|| ReadEnd::Timeout) as fn() -> ReadEnd,
            )
        };
        let mut stop = self.stop.clone();
        let read = async {
            match &mut self.stream {
                Stream::Plain(s) => timeout(t, s.read_buf(&mut self.rbuf)).await,
                Stream::Tls(s) => timeout(t, s.read_buf(&mut self.rbuf)).await,
                Stream::Gone => Ok(Ok(0)),
            }
        };
        let r = if stoppable {
            tokio::select! {
                r = read => r,
                _ = stop.wait_for(|v| *v) => return Err(ReadEnd::Shutdown),
            }
        } else {
            read.await
        };
        match r {
            Err(_) => Err(on_timeout()),
            Ok(Err(e)) => Err(ReadEnd::Io(e.to_string())),
            Ok(Ok(0)) => Err(ReadEnd::Eof),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// The next command line (through its LF), bounded by the command limit, the
    /// command timeout and the session timeout.
    async fn read_line(&mut self) -> Result<Line, ReadEnd> {
        let limit = self.command_limit();
        let now = Instant::now();
        let mut deadline: (Instant, fn() -> ReadEnd) = (now + self.params.command_timeout, || {
            ReadEnd::CommandTimeout
        });
        if !self.params.session_timeout.is_zero() {
            let end = self.started + self.params.session_timeout;
            if end <= now {
                return Err(ReadEnd::SessionTimeout);
            }
            if end < deadline.0 {
                deadline = (end, || ReadEnd::SessionTimeout);
            }
        }
        let mut discarding = false;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self
                .rbuf
                .get(scanned..)
                .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            {
                let end = scanned + pos + 1;
                let line: Vec<u8> = self.rbuf.drain(..end).collect();
                if discarding || line.len() > limit {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Ok(line));
            }
            if self.rbuf.len() > limit {
                discarding = true;
                self.rbuf.clear();
            }
            scanned = self.rbuf.len();
            // A shutdown interrupts only a session between commands.
            let stoppable = !discarding && self.rbuf.is_empty();
            self.fill(stoppable, deadline).await?;
        }
    }

    // ----- errors -----

    /// Sends an error reply, counts it, and closes after `max_errors`.
    fn error(&mut self, code: u16, enhanced: &str, text: &str) -> Next {
        self.reply(code, enhanced, text);
        self.errors = self.errors.saturating_add(1);
        if self.params.max_errors != 0 && self.errors >= self.params.max_errors {
            let host = self.params.hostname.clone();
            self.reply(421, "4.7.0", &format!("{host} Error: too many errors"));
            return Next::Close(CloseReason::TooManyErrors);
        }
        Next::Continue
    }

    // ----- commands -----

    async fn command(&mut self, line: Line) -> Next {
        let line = match line {
            Line::TooLong => {
                let limit = self.command_limit();
                return self.error(
                    500,
                    "5.5.2",
                    &format!("Error: line too long (limit {limit} octets with CRLF)"),
                );
            }
            Line::Ok(l) => l,
        };
        // Framing checks (RFC 5321 §2.3.8, §4.1.1): CRLF only, no NUL, no other
        // control characters, no 8-bit octets (SMTPUTF8 is not offered).
        if !line.ends_with(b"\r\n") {
            return self.error(
                500,
                "5.5.2",
                "Error: bare <LF> received; commands end with <CR><LF>",
            );
        }
        let body = line.get(..line.len().saturating_sub(2)).unwrap_or_default();
        if body.contains(&0) {
            return self.error(500, "5.5.2", "Error: NUL character in command");
        }
        if body.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return self.error(500, "5.5.2", "Error: control character in command");
        }
        if body.iter().any(|&b| b >= 0x80) {
            return self.error(
                500,
                "5.5.2",
                "Error: 8-bit octets in command (SMTPUTF8 is not offered)",
            );
        }
        if self.rejected {
            if verb_is(body, "QUIT") {
                let host = self.params.hostname.clone();
                self.reply(221, "2.0.0", &format!("{host} Bye"));
                return Next::Close(CloseReason::Quit);
            }
            return self.error(503, "5.7.1", "Error: access denied");
        }
        if (verb_is(body, "MAIL") || verb_is(body, "RCPT")) && has_quoted_local_part(body) {
            return self.refuse_quoted(body);
        }
        let parsed = Request::parse(&mut line.iter());
        let req = match parsed {
            Ok(r) => r,
            Err(e) => return self.parse_error(e),
        };
        match req {
            Request::Ehlo { host } => self.helo(&host, true),
            Request::Helo { host } => self.helo(&host, false),
            Request::Mail { from } => self.mail(from, body),
            Request::Rcpt { to } => self.rcpt(to, body).await,
            Request::Data => {
                if has_argument(body) {
                    return self.error(501, "5.5.4", "Syntax: DATA (no parameters)");
                }
                self.data().await
            }
            Request::Rset => {
                if has_argument(body) {
                    return self.error(501, "5.5.4", "Syntax: RSET (no parameters)");
                }
                self.txn = None;
                self.reply(250, "2.0.0", "Ok");
                Next::Continue
            }
            Request::Noop { .. } => {
                self.reply(250, "2.0.0", "Ok");
                Next::Continue
            }
            Request::Quit => {
                let host = self.params.hostname.clone();
                self.reply(221, "2.0.0", &format!("{host} Bye"));
                Next::Close(CloseReason::Quit)
            }
            Request::Vrfy { .. } => {
                // RFC 5321 §3.5.3: 252 when we will not verify.
                self.reply(
                    252,
                    "2.0.0",
                    "Cannot VRFY user, but will accept message and attempt delivery",
                );
                Next::Continue
            }
            Request::Help { .. } => {
                self.reply(
                    214,
                    "2.0.0",
                    "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS",
                );
                Next::Continue
            }
            Request::StartTls => {
                if has_argument(body) {
                    return self.error(501, "5.5.4", "Syntax: STARTTLS (no parameters)");
                }
                self.starttls().await
            }
            Request::Expn { .. }
            | Request::Lhlo { .. }
            | Request::Bdat { .. }
            | Request::Auth { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error(502, "5.5.1", "Error: command not implemented"),
        }
    }

    /// A MAIL or RCPT path with a quoted local part (`"a@b"@c`, `"a b"@c`): the
    /// parser we use drops the quotes, which would make `"user@external"@allowed`
    /// relay as `user@external@allowed` (a different address). Refused with `553`
    /// (RFC 5321 §4.2.2: mailbox name not allowed) instead, after the sequence checks;
    /// it is not counted as a protocol error.
    fn refuse_quoted(&mut self, body: &[u8]) -> Next {
        let rcpt = verb_is(body, "RCPT");
        if self.info.helo.is_none() && !rcpt {
            return self.error(503, "5.5.1", "Error: send HELO/EHLO first");
        }
        match (&self.txn, rcpt) {
            (None, true) => return self.error(503, "5.5.1", "Error: need MAIL command"),
            (Some(_), false) => return self.error(503, "5.5.1", "Error: nested MAIL command"),
            _ => {}
        }
        let (enhanced, what) = if rcpt {
            ("5.1.3", "recipient")
        } else {
            ("5.1.7", "sender")
        };
        let text = format!(
            "553 {enhanced} Error: quoted local parts are not accepted in the {what} address"
        );
        self.raw(&format!("{text}\r\n"));
        if let (true, Some(txn)) = (rcpt, &self.txn) {
            let to = path_of(body).unwrap_or_default();
            self.policy.event(ServerEvent::Rcpt {
                icid: self.info.icid,
                mid: txn.mid,
                rid: None,
                to: to.trim_start_matches('<').trim_end_matches('>').to_string(),
                reply: text,
            });
        }
        Next::Continue
    }

    fn parse_error(&mut self, e: smtp_proto::Error) -> Next {
        use smtp_proto::Error as E;
        match e {
            E::UnknownCommand => self.error(500, "5.5.1", "Error: command not recognized"),
            E::InvalidSenderAddress => self.error(501, "5.1.7", "Error: bad sender address syntax"),
            E::InvalidRecipientAddress => {
                self.error(501, "5.1.3", "Error: bad recipient address syntax")
            }
            E::SyntaxError { syntax } => self.error(501, "5.5.4", &format!("Syntax: {syntax}")),
            E::InvalidParameter { param } => {
                self.error(501, "5.5.4", &format!("Error: invalid {param} parameter"))
            }
            E::UnsupportedParameter { param } => self.error(
                555,
                "5.5.4",
                &format!("Error: unsupported parameter {}", printable(&param, 64)),
            ),
            _ => self.error(500, "5.5.2", "Error: bad syntax"),
        }
    }

    /// EHLO / HELO (RFC 5321 §4.1.1.1): resets any transaction.
    fn helo(&mut self, host: &str, esmtp: bool) -> Next {
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return self.error(501, "5.5.4", "Syntax: EHLO hostname");
        }
        self.txn = None;
        self.esmtp = esmtp;
        self.info.helo = Some(host.to_string());
        self.policy.event(ServerEvent::Helo {
            icid: self.info.icid,
            helo: host.to_string(),
            esmtp,
        });
        let me = self.params.hostname.clone();
        if !esmtp {
            // RFC 2034 §3: no enhanced code on HELO/EHLO replies.
            self.raw(&format!("250 {me}\r\n"));
            return Next::Continue;
        }
        let mut lines = vec![
            format!("{me} Hello {host} [{}]", self.info.peer.ip().to_canonical()),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.params.max_message_size),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "DSN".to_string(),
        ];
        if self.params.tls.is_some() && self.info.tls.is_none() {
            lines.push("STARTTLS".to_string());
        }
        lines.push("HELP".to_string());
        let n = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            let sep = if i + 1 == n { ' ' } else { '-' };
            self.raw(&format!("250{sep}{l}\r\n"));
        }
        Next::Continue
    }

    /// MAIL (RFC 5321 §4.1.1.2) with SIZE, BODY, RET, ENVID.
    fn mail(&mut self, from: MailFrom<Cow<'_, str>>, body: &[u8]) -> Next {
        if self.info.helo.is_none() {
            return self.error(503, "5.5.1", "Error: send HELO/EHLO first");
        }
        if self.txn.is_some() {
            return self.error(503, "5.5.1", "Error: nested MAIL command");
        }
        let known = MAIL_BODY_7BIT | MAIL_BODY_8BITMIME | MAIL_RET_FULL | MAIL_RET_HDRS;
        let unsupported = from.flags & !known != 0
            || from.trans_id.is_some()
            || from.solicit.is_some()
            || from.mtrk.is_some()
            || from.auth.is_some()
            || from.by != 0
            || from.hold_for != 0
            || from.hold_until != 0
            || from.mt_priority != 0;
        if unsupported {
            return self.error(555, "5.5.4", "Error: unsupported MAIL parameter");
        }
        let has_params = from.flags != 0 || from.size != 0 || from.env_id.is_some();
        if has_params && !self.esmtp {
            // RFC 5321 §4.1.1.11: parameters only after EHLO.
            return self.error(555, "5.5.4", "Error: MAIL parameters require EHLO");
        }
        if from.address.is_empty() && !path_is_null(body) {
            // smtp-proto maps <postmaster> to ""; a reverse-path must be <> or qualified.
            return self.error(501, "5.1.7", "Error: bad sender address syntax");
        }
        if from.size > self.params.max_message_size {
            // RFC 1870 §6.2.
            self.reply(
                552,
                "5.3.4",
                "Error: message size exceeds fixed maximum message size",
            );
            return Next::Continue;
        }
        let ret = if from.flags & MAIL_RET_FULL != 0 {
            Some("FULL".to_string())
        } else if from.flags & MAIL_RET_HDRS != 0 {
            Some("HDRS".to_string())
        } else {
            None
        };
        let envid = from.env_id.map(|e| e.into_owned());
        if envid
            .as_deref()
            .is_some_and(|e| !e.bytes().all(|b| b.is_ascii_graphic()))
        {
            return self.error(501, "5.5.4", "Error: invalid ENVID parameter");
        }
        let mid = self.policy.next_mid();
        let txn = Txn {
            mid,
            from: from.address.into_owned(),
            body_8bitmime: from.flags & MAIL_BODY_8BITMIME != 0,
            size: (from.size > 0).then_some(from.size),
            ret,
            envid,
            rcpts: Vec::new(),
        };
        self.policy.event(ServerEvent::MailFrom {
            icid: self.info.icid,
            mid,
            from: txn.from.clone(),
            size: txn.size,
        });
        self.txn = Some(txn);
        self.reply(250, "2.1.0", "Ok");
        Next::Continue
    }

    /// RCPT (RFC 5321 §4.1.1.3) with NOTIFY and ORCPT (RFC 3461 §4).
    async fn rcpt(&mut self, to: RcptTo<Cow<'_, str>>, body: &[u8]) -> Next {
        let Some(txn) = &self.txn else {
            return self.error(503, "5.5.1", "Error: need MAIL command");
        };
        let (mid, from) = (txn.mid, txn.from.clone());
        let count = txn.rcpts.len();
        let known =
            RCPT_NOTIFY_NEVER | RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY;
        if to.flags & !known != 0 || to.rrvs != 0 {
            return self.error(555, "5.5.4", "Error: unsupported RCPT parameter");
        }
        if (to.flags != 0 || to.orcpt.is_some()) && !self.esmtp {
            return self.error(555, "5.5.4", "Error: RCPT parameters require EHLO");
        }
        let address = if to.address.is_empty() {
            if path_is_postmaster(body) {
                "postmaster".to_string()
            } else {
                return self.error(501, "5.1.3", "Error: bad recipient address syntax");
            }
        } else {
            to.address.into_owned()
        };
        let orcpt = match to.orcpt {
            Some(o) if !o.bytes().all(|b| b.is_ascii_graphic()) => {
                return self.error(501, "5.5.4", "Error: invalid ORCPT parameter");
            }
            Some(o) => Some(format!("rfc822;{o}")),
            None => None,
        };
        let notify = notify_string(to.flags);
        if self.params.max_recipients != 0 && count >= self.params.max_recipients {
            // RFC 5321 §4.5.3.1.10.
            let text = "452 4.5.3 Error: too many recipients";
            self.raw(&format!("{text}\r\n"));
            self.policy.event(ServerEvent::Rcpt {
                icid: self.info.icid,
                mid,
                rid: None,
                to: address,
                reply: text.to_string(),
            });
            return Next::Continue;
        }
        let decision = self.policy.rcpt(&self.info, &from, &address).await;
        let (reply, rid) = match decision {
            RcptDecision::Accept => {
                if let Some(txn) = &mut self.txn {
                    txn.rcpts.push(Rcpt {
                        address: address.clone(),
                        notify,
                        orcpt,
                    });
                }
                ("250 2.1.5 Ok".to_string(), Some(count))
            }
            RcptDecision::Reject {
                code,
                enhanced,
                text,
            } => (format_reply(code, &enhanced, &text), None),
        };
        self.raw(&format!("{reply}\r\n"));
        self.policy.event(ServerEvent::Rcpt {
            icid: self.info.icid,
            mid,
            rid,
            to: address,
            reply,
        });
        Next::Continue
    }

    /// DATA (RFC 5321 §4.1.1.4), strict framing (see `data.rs`).
    async fn data(&mut self) -> Next {
        let Some(txn) = &self.txn else {
            return self.error(503, "5.5.1", "Error: need MAIL command");
        };
        if txn.rcpts.is_empty() {
            // RFC 2920 §3.1.
            return self.error(554, "5.5.1", "Error: no valid recipients");
        }
        self.raw("354 End data with <CR><LF>.<CR><LF>\r\n");
        let mut reader = DataReader::new(self.params.max_message_size, self.params.max_line_length);
        let deadline: (Instant, fn() -> ReadEnd) =
            (Instant::now() + self.params.data_timeout, || {
                ReadEnd::CommandTimeout
            });
        loop {
            if let Some(n) = reader.feed(&self.rbuf) {
                self.rbuf.drain(..n);
                break;
            }
            self.rbuf.clear();
            if let Err(e) = self.fill(false, deadline).await {
                if matches!(
                    e,
                    ReadEnd::Timeout | ReadEnd::CommandTimeout | ReadEnd::SessionTimeout
                ) {
                    let host = self.params.hostname.clone();
                    self.reply(421, "4.4.2", &format!("{host} Error: timeout exceeded"));
                }
                return Next::Close(e.into());
            }
        }
        let Some(txn) = self.txn.take() else {
            return Next::Continue;
        };
        let bytes = reader.size();
        let content = match reader.finish() {
            Ok(c) => c,
            Err(e) => {
                let limit = self.params.max_line_length;
                let reply = match e {
                    DataError::TooBig => {
                        "552 5.3.4 Error: message size exceeds fixed maximum message size"
                            .to_string()
                    }
                    DataError::Nul => "554 5.6.0 Error: message contains NUL octets".to_string(),
                    DataError::BareNewline => "554 5.5.2 Error: bare <CR> or <LF> in message; \
                                               lines must end with <CR><LF>"
                        .to_string(),
                    DataError::LineTooLong => {
                        format!("554 5.5.2 Error: message line longer than {limit} octets")
                    }
                };
                self.raw(&format!("{reply}\r\n"));
                self.policy.event(ServerEvent::MessageRejected {
                    icid: self.info.icid,
                    mid: txn.mid,
                    bytes,
                    reply,
                });
                return Next::Continue;
            }
        };
        let received = self.received_header(&txn);
        let mut message = Vec::with_capacity(received.len() + content.len());
        message.extend_from_slice(received.as_bytes());
        message.extend_from_slice(&content);
        drop(content);
        let stored_len = message.len();
        let envelope = Envelope {
            mid: txn.mid,
            mail_from: txn.from.clone(),
            rcpt_to: txn.rcpts.clone(),
            body_8bitmime: txn.body_8bitmime,
            size_param: txn.size,
            ret: txn.ret.clone(),
            envid: txn.envid.clone(),
        };
        let result = self.policy.store(&self.info, envelope, message).await;
        match result {
            Ok(id) => {
                let id = printable(&id, 64);
                self.reply(250, "2.0.0", &format!("Ok: queued as {id}"));
                self.policy.event(ServerEvent::MessageAccepted {
                    icid: self.info.icid,
                    mid: txn.mid,
                    queue_id: id,
                    bytes: stored_len,
                    from: txn.from,
                    rcpts: txn.rcpts.into_iter().map(|r| r.address).collect(),
                });
            }
            Err(e) => {
                debug!(target: "danegate_smtpd", icid = self.info.icid, error = %e, "store failed");
                let reply = match e {
                    StoreError::Temporary(_) => {
                        "451 4.3.0 Error: temporary failure storing the message, try again later"
                    }
                    StoreError::Full(_) => "452 4.3.1 Error: insufficient system storage",
                };
                self.raw(&format!("{reply}\r\n"));
                self.policy.event(ServerEvent::MessageRejected {
                    icid: self.info.icid,
                    mid: txn.mid,
                    bytes,
                    reply: reply.to_string(),
                });
            }
        }
        Next::Continue
    }

    /// The trace header (RFC 5321 §4.4).
    fn received_header(&self, txn: &Txn) -> String {
        let helo = self.info.helo.as_deref().unwrap_or("unknown");
        let rdns = self
            .info
            .rdns
            .as_ref()
            .map(|r| printable(&r.name, 255))
            .unwrap_or_else(|| "unknown".to_string());
        let ip = match self.info.peer.ip().to_canonical() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("IPv6:{a}"),
        };
        let mut proto = if self.esmtp { "ESMTP" } else { "SMTP" }.to_string();
        if self.info.tls.is_some() {
            proto.push('S');
        }
        let mut h = format!("Received: from {helo} ({rdns} [{ip}])\r\n");
        if let Some((p, c)) = &self.info.tls {
            h.push_str(&format!("\t(using {p} with cipher {c})\r\n"));
        }
        h.push_str(&format!(
            "\tby {} (danegate) with {proto} id {}",
            self.params.hostname, txn.mid
        ));
        if let [one] = txn.rcpts.as_slice() {
            h.push_str(&format!("\r\n\tfor <{}>", one.address));
        }
        h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(SystemTime::now())));
        h
    }

    /// STARTTLS (RFC 3207).
    async fn starttls(&mut self) -> Next {
        let Some(cfg) = self.params.tls.clone() else {
            return self.error(502, "5.5.1", "Error: command not implemented");
        };
        if self.info.tls.is_some() {
            return self.error(554, "5.5.1", "Error: TLS already active");
        }
        if self.info.helo.is_none() {
            return self.error(503, "5.5.1", "Error: send EHLO first");
        }
        self.reply(220, "2.0.0", "Ready to start TLS");
        if let Err(e) = self.flush().await {
            return Next::Close(e.into());
        }
        // RFC 3207 §5 / STARTTLS command injection: anything the client sent after
        // STARTTLS in clear text is discarded, never executed.
        self.rbuf.clear();
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Next::Close(CloseReason::TlsFailed);
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let res = timeout(self.params.idle_timeout, acceptor.accept(tcp)).await;
        let tls = match res {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.tls_failed(e.to_string()),
            Err(_) => return self.tls_failed("handshake timed out".to_string()),
        };
        let (_, conn) = tls.get_ref();
        let protocol = conn
            .protocol_version()
            .map(danegate_tls::protocol_name)
            .unwrap_or("UNKNOWN")
            .to_string();
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| danegate_tls::openssl_cipher_name(s.suite()))
            .unwrap_or("UNKNOWN")
            .to_string();
        self.stream = Stream::Tls(Box::new(tls));
        // RFC 3207 §4.2: forget everything learned from the client.
        self.info.helo = None;
        self.esmtp = false;
        self.txn = None;
        self.info.tls = Some((protocol.clone(), cipher.clone()));
        self.policy.event(ServerEvent::TlsEstablished {
            icid: self.info.icid,
            protocol,
            cipher,
        });
        Next::Continue
    }

    fn tls_failed(&mut self, error: String) -> Next {
        self.policy.event(ServerEvent::TlsFailed {
            icid: self.info.icid,
            error,
        });
        Next::Close(CloseReason::TlsFailed)
    }
}

// ----- helpers -----

/// The first word of a command line equals `verb` (case-insensitive).
fn verb_is(body: &[u8], verb: &str) -> bool {
    let word = body.split(|&b| b == b' ').next().unwrap_or(&[]);
    word.eq_ignore_ascii_case(verb.as_bytes())
}

/// The command line has something after its verb.
fn has_argument(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii();
    trimmed.iter().any(|&b| b == b' ' || b == b'\t')
}

/// The path after `FROM:`/`TO:` (spaces allowed before it), lower-cased.
fn path_of(body: &[u8]) -> Option<String> {
    let colon = body.iter().position(|&b| b == b':')?;
    let rest = body.get(colon + 1..)?.trim_ascii_start();
    let end = rest.iter().position(|&b| b == b'>')?;
    Some(String::from_utf8_lossy(rest.get(..=end)?).to_ascii_lowercase())
}

/// The path after `FROM:`/`TO:` has a quoted local part (RFC 5321 §4.1.2
/// Quoted-string), possibly after a source route (`<@a,@b:"x"@c>`).
fn has_quoted_local_part(body: &[u8]) -> bool {
    let Some(rest) = body
        .iter()
        .position(|&b| b == b':')
        .and_then(|colon| body.get(colon + 1..))
    else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    let Some(mut path) = rest.strip_prefix(b"<") else {
        return rest.starts_with(b"\"");
    };
    if path.starts_with(b"@")
        && let Some(end) = path.iter().position(|&b| b == b':')
    {
        path = path.get(end + 1..).unwrap_or_default();
    }
    path.starts_with(b"\"")
}

fn path_is_null(body: &[u8]) -> bool {
    path_of(body).as_deref() == Some("<>")
}

fn path_is_postmaster(body: &[u8]) -> bool {
    path_of(body).as_deref() == Some("<postmaster>")
}

fn notify_string(flags: u64) -> Option<String> {
    if flags & RCPT_NOTIFY_NEVER != 0 {
        return Some("NEVER".to_string());
    }
    let parts: Vec<&str> = [
        (RCPT_NOTIFY_SUCCESS, "SUCCESS"),
        (RCPT_NOTIFY_FAILURE, "FAILURE"),
        (RCPT_NOTIFY_DELAY, "DELAY"),
    ]
    .iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, n)| *n)
    .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Printable ASCII only (spaces kept), at most `max` characters.
fn printable(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}

/// A policy reply made safe: a 4yz/5yz code, a matching enhanced code, one line.
fn format_reply(code: u16, enhanced: &str, text: &str) -> String {
    let code = if (400..=599).contains(&code) {
        code
    } else {
        550
    };
    let class = if code >= 500 { '5' } else { '4' };
    let valid = {
        let parts: Vec<&str> = enhanced.split('.').collect();
        match parts.as_slice() {
            [first, rest @ ..] => {
                parts.len() == 3
                    && first.len() == 1
                    && first.starts_with(class)
                    && rest.iter().all(|p| {
                        (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
                    })
            }
            [] => false,
        }
    };
    let enhanced = if valid {
        enhanced.to_string()
    } else {
        format!("{class}.0.0")
    };
    let mut text = printable(text, 400);
    if text.is_empty() {
        text = "Error: recipient refused".to_string();
    }
    format!("{code} {enhanced} {text}")
}

/// An RFC 5322 §3.3 date in UTC: `Tue, 5 Feb 2019 13:20:03 +0000`.
pub(crate) fn rfc5322_date(t: SystemTime) -> String {
    danegate_timefmt::format(
        time::OffsetDateTime::from(t),
        danegate_timefmt::Layout::Rfc5322,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn date_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_549_372_803);
        assert_eq!(rfc5322_date(t), "Tue, 5 Feb 2019 13:20:03 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn policy_replies_are_sanitised() {
        assert_eq!(format_reply(550, "5.7.1", "no"), "550 5.7.1 no");
        assert_eq!(format_reply(250, "2.0.0", "x\r\ny"), "550 5.0.0 xy");
        assert_eq!(format_reply(451, "5.1.1", "t"), "451 4.0.0 t");
    }

    #[test]
    fn notify() {
        assert_eq!(notify_string(0), None);
        assert_eq!(notify_string(RCPT_NOTIFY_NEVER).as_deref(), Some("NEVER"));
        assert_eq!(
            notify_string(RCPT_NOTIFY_DELAY | RCPT_NOTIFY_SUCCESS).as_deref(),
            Some("SUCCESS,DELAY")
        );
    }

    #[test]
    fn paths() {
        assert!(path_is_null(b"MAIL FROM:<>"));
        assert!(path_is_null(b"MAIL FROM: <> SIZE=10"));
        assert!(!path_is_null(b"MAIL FROM:<postmaster>"));
        assert!(path_is_postmaster(b"RCPT TO:<PostMaster>"));
    }
}
