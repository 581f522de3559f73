//! danegate's inbound ESMTP listener: the side internal mail servers relay through.
//!
//! [`Server`] accepts TCP connections on one address and runs one session per
//! connection: ESMTP (RFC 5321) with PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME
//! (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034, codes of RFC 3463), DSN parameters
//! (RFC 3461, parsed and passed through) and STARTTLS (RFC 3207). What a connection may
//! do is decided by a [`Policy`] (the Host Access Table, the Recipient Access Table and
//! the queue); the session only speaks the protocol.
//!
//! # Choices
//!
//! * **DATA framing is strict** (see RFC 5321 §2.3.8, §4.1.1.4): only `<CRLF>.<CRLF>`
//!   ends a message. A bare LF or bare CR anywhere in the content never ends it and
//!   makes the whole message refused (`554 5.5.2`) after it has been read to its end —
//!   never normalised (Postfix' `smtpd_forbid_bare_newline`). This closes SMTP
//!   smuggling (`<LF>.<LF>`, `<LF>.<CRLF>`, `<CR>.<CRLF>`, `<CRLF>.<LF>`).
//! * **Command lines must end with CRLF**; a bare LF as a command terminator, a NUL,
//!   another control character or an 8-bit octet (SMTPUTF8 is not offered) gets
//!   `500 5.5.2`.
//! * **Line length**: one limit, [`ListenerParams::max_line_length`] (CRLF included),
//!   for message lines (RFC 5321 §4.5.3.1.6: 1000) and for command lines. RFC 5321
//!   §4.5.3.1.4's 512 octets for commands is a minimum that the SIZE and DSN parameters
//!   raise (RFC 1870 §3, RFC 3461 §4.1), so commands get the same limit, never less
//!   than 512. A longer command gets `500 5.5.2` (read and discarded up to its LF); a
//!   message with a longer line is read to the end and refused with `554 5.5.2`
//!   (not folded or accepted: the gateway forwards mail and must not relay content
//!   the next hop may legitimately refuse).
//! * **Size**: `SIZE=` above the limit is refused at MAIL (`552 5.3.4`, RFC 1870 §6.2);
//!   content above the limit is read to the end, never buffered past the limit, and
//!   refused (`552 5.3.4`, RFC 1870 §6.3). `SIZE=0` is taken as "size not given".
//! * **Errors**: unknown commands (`500 5.5.1`), bad syntax (`501 5.5.4`), bad
//!   sequence (`503 5.5.1`), too-long or malformed lines (`500 5.5.2`) and
//!   unimplemented commands (`502 5.5.1`) count; after `max_errors` of them the
//!   session gets `421 4.7.0` and is closed. Recipients refused by the policy do not
//!   count.
//! * **Limits of 0**: `max_connections`, `max_connections_per_client`,
//!   `max_recipients` and `max_errors` of 0 mean "no limit".
//! * **Slow clients** (RFC 5321 §4.5.3.2): besides the idle timeout per read, a command
//!   line must be complete within `command_timeout`, a message's content within
//!   `data_timeout`, and a session ends at its next command after `session_timeout`;
//!   `reserved_relay_connections` slots are kept for `RELAY` sessions, and the
//!   per-client limit counts an IPv6 /64 as one client.
//! * **Received:** is prepended before [`Policy::store`] with the message's MID (the
//!   session-level id assigned at MAIL, [`Policy::next_mid`]), since the queue id is
//!   only known after the store.
//! * A graceful shutdown ([`Server::run`]'s future) stops accepting at once; sessions
//!   waiting for a command get `421 4.3.2` and are closed; a message being received is
//!   completed first (bounded by the idle timeout per read).

mod data;
mod server;
mod session;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use server::{ParamsHandle, Server};

/// The settings of one listener. A reload ([`Server::set_params`], [`ParamsHandle`])
/// applies to new connections only; `addr` cannot change once bound.
#[derive(Debug, Clone)]
pub struct ListenerParams {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Our host name: greeting, EHLO reply, `Received:` header.
    pub hostname: String,
    /// STARTTLS (RFC 3207) is offered only when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Maximum message size in octets (RFC 1870; advertised as `SIZE n`).
    pub max_message_size: usize,
    /// Maximum recipients per message (RFC 5321 §4.5.3.1.10: `452 4.5.3` beyond). 0: none.
    pub max_recipients: usize,
    /// Maximum simultaneous connections on this listener (`421 4.7.0` beyond). 0: none.
    pub max_connections: usize,
    /// Maximum simultaneous connections from one client: one IPv4 address, or one
    /// IPv6 /64 (RFC 4291 §2.5.4: one interface identifier space, usually one site or
    /// host, so a client cannot use a new address of its /64 per connection). 0: none.
    pub max_connections_per_client: usize,
    /// Time a read may wait for the client (RFC 5321 §4.5.3.2.7 recommends 5 minutes);
    /// also bounds each write and the TLS handshake. `421 4.4.2` and close when exceeded.
    pub idle_timeout: Duration,
    /// Time a whole command line may take to arrive, from when the server starts
    /// waiting for it (RFC 5321 §4.5.3.2.7: the server waits 5 minutes for a command).
    /// Bounds a client that trickles one octet per read. `421 4.4.2` and close.
    pub command_timeout: Duration,
    /// Time the whole message content of one DATA may take (RFC 5321 §4.5.3.2.5–6
    /// give a client 3 minutes per block and 10 minutes for the end). `421 4.4.2`.
    pub data_timeout: Duration,
    /// Time a whole session may last. Once it has passed, the next command that is
    /// waited for gets `421 4.4.2` and the session is closed (a message being received
    /// is finished first, bounded by `data_timeout`). Duration::ZERO: no limit.
    pub session_timeout: Duration,
    /// Connection slots (of `max_connections`) that only sessions with the `RELAY`
    /// policy ([`ConnectDecision::Accept`]) may take: other clients, and every rejected
    /// connection, get `421 4.7.0` once `max_connections - reserved_relay_connections`
    /// of them are open, so they cannot starve the relaying mail servers.
    pub reserved_relay_connections: usize,
    /// Protocol errors before the session is closed with `421 4.7.0`. 0: no limit.
    pub max_errors: u32,
    /// Maximum line length with the CRLF, for message lines (RFC 5321 §4.5.3.1.6: 1000)
    /// and command lines (at least 512, RFC 5321 §4.5.3.1.4).
    pub max_line_length: usize,
}

impl ListenerParams {
    /// Postfix-like defaults on `addr` with `hostname`: 10 MiB messages, 1000
    /// recipients, 100 connections (20 per client, 10 reserved for RELAY), 5 minutes
    /// idle and per command, 10 minutes per DATA, 1 hour per session, 20 errors,
    /// 1000-octet lines, no TLS.
    pub fn new(addr: SocketAddr, hostname: impl Into<String>) -> Self {
        Self {
            addr,
            hostname: hostname.into(),
            tls: None,
            max_message_size: 10 * 1024 * 1024,
            max_recipients: 1000,
            max_connections: 100,
            max_connections_per_client: 20,
            idle_timeout: Duration::from_secs(300),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(3600),
            reserved_relay_connections: 10,
            max_errors: 20,
            max_line_length: 1000,
        }
    }
}

/// The Host Access Table's verdict on a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectDecision {
    /// Talk SMTP under this mail flow policy.
    Accept {
        /// Policy name shown in logs (`"RELAY"`, `"ACCEPT"`).
        policy: String,
        /// The matching sender group, if any.
        sender_group: Option<String>,
    },
    /// `554 5.7.1` greeting, then `503 5.7.1` to every command until QUIT
    /// (RFC 5321 §3.1).
    Reject,
    /// Close the connection at once, without a greeting.
    TcpRefuse,
}

/// The policy's verdict on one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptDecision {
    /// `250 2.1.5 Ok`.
    Accept,
    /// Refuse with this reply (`code` 400–599, else 550 is used; `enhanced` like
    /// `5.7.1`, else derived from the code; `text` on one line).
    Reject {
        /// Basic reply code.
        code: u16,
        /// Enhanced status code (RFC 3463).
        enhanced: String,
        /// Reply text.
        text: String,
    },
}

/// A client's reverse DNS name (for `Received:` and the `New SMTP ICID` log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseDns {
    /// The PTR name.
    pub name: String,
    /// The name resolves back to the client's address (forward-confirmed).
    pub verified: bool,
}

/// What a session knows about its connection; passed to the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Inbound connection id (the appliance's ICID).
    pub icid: u64,
    /// The client.
    pub peer: SocketAddr,
    /// Our address (the listener interface).
    pub local: SocketAddr,
    /// The last EHLO/HELO argument (cleared by STARTTLS, RFC 3207 §4.2).
    pub helo: Option<String>,
    /// `(protocol, cipher)` in OpenSSL naming (`"TLSv1.3"`, `"TLS_AES_256_GCM_SHA384"`)
    /// once STARTTLS succeeded.
    pub tls: Option<(String, String)>,
    /// Mail flow policy name from [`ConnectDecision::Accept`] (`"REJECT"` for a
    /// rejected connection).
    pub policy: String,
    /// Sender group from [`ConnectDecision::Accept`].
    pub sender_group: Option<String>,
    /// Reverse DNS from [`Policy::reverse_dns`].
    pub rdns: Option<ReverseDns>,
}

/// One accepted recipient with its DSN parameters (RFC 3461 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rcpt {
    /// The forward-path without angle brackets (`postmaster` for `<postmaster>`).
    pub address: String,
    /// `NOTIFY=`: `"NEVER"` or a comma-separated subset of `SUCCESS,FAILURE,DELAY`
    /// in that order (RFC 3461 §4.1).
    pub notify: Option<String>,
    /// `ORCPT=` as `rfc822;` + the xtext-decoded address (RFC 3461 §4.2).
    pub orcpt: Option<String>,
}

/// A mail transaction's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The message's MID (assigned at MAIL by [`Policy::next_mid`]; also the `id` of
    /// the `Received:` header).
    pub mid: u64,
    /// The reverse-path without angle brackets; `""` for `<>`.
    pub mail_from: String,
    /// Accepted recipients in order.
    pub rcpt_to: Vec<Rcpt>,
    /// `BODY=8BITMIME` was given (RFC 6152 §3).
    pub body_8bitmime: bool,
    /// `SIZE=` as declared (RFC 1870 §3); `None` if absent or 0.
    pub size_param: Option<usize>,
    /// `RET=FULL` / `RET=HDRS` (RFC 3461 §4.3).
    pub ret: Option<String>,
    /// `ENVID=`, xtext-decoded (RFC 3461 §4.4).
    pub envid: Option<String>,
}

/// Why [`Policy::store`] did not take a message. Nothing is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Temporary failure: `451 4.3.0`.
    #[error("temporary failure storing the message: {0}")]
    Temporary(String),
    /// Queue full / disk full: `452 4.3.1` (RFC 3463: mail system full).
    #[error("insufficient storage: {0}")]
    Full(String),
}

/// Why a connection was turned away before a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// `max_connections` reached (`421 4.7.0`).
    TooManyConnections,
    /// `max_connections_per_client` reached (`421 4.7.0`).
    TooManyFromClient,
    /// Only the slots reserved for `RELAY` sessions are left and the client is not
    /// one (`421 4.7.0`).
    ReservedForRelay,
    /// The policy said [`ConnectDecision::TcpRefuse`] (closed without a word).
    TcpRefuse,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// QUIT.
    Quit,
    /// The client closed the connection.
    ClientClosed,
    /// Idle timeout (`421 4.4.2`).
    IdleTimeout,
    /// A command line did not arrive in `command_timeout`, or a message's content in
    /// `data_timeout` (`421 4.4.2`).
    CommandTimeout,
    /// The session lasted longer than `session_timeout` (`421 4.4.2`).
    SessionTimeout,
    /// Too many errors (`421 4.7.0`).
    TooManyErrors,
    /// The TLS handshake after STARTTLS failed.
    TlsFailed,
    /// The server shuts down (`421 4.3.2`).
    Shutdown,
    /// A read or write failed.
    Io(String),
}

/// Session events, for the mail logs. Every event after
/// [`ServerEvent::Connected`] carries its ICID; a session always ends with
/// [`ServerEvent::Closed`] (`ICID n close`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A connection turned away (`New SMTP ICID ...` then a refusal line).
    Refused {
        /// Its ICID.
        icid: u64,
        /// The client.
        peer: SocketAddr,
        /// Our address.
        local: SocketAddr,
        /// Why.
        reason: RefuseReason,
    },
    /// A session started: `New SMTP ICID n interface I address A reverse dns host H
    /// verified yes/no`, then `ICID n RELAY SG G match ...` / `ICID n REJECT ...`.
    Connected {
        /// Its ICID.
        icid: u64,
        /// The client.
        peer: SocketAddr,
        /// Our address.
        local: SocketAddr,
        /// Reverse DNS, if any.
        rdns: Option<ReverseDns>,
        /// Mail flow policy (`"RELAY"`, `"ACCEPT"`, or `"REJECT"`).
        policy: String,
        /// Sender group.
        sender_group: Option<String>,
    },
    /// A successful EHLO/HELO.
    Helo {
        /// ICID.
        icid: u64,
        /// The argument.
        helo: String,
        /// EHLO (true) or HELO.
        esmtp: bool,
    },
    /// STARTTLS succeeded: `ICID n TLS success protocol P cipher C`.
    TlsEstablished {
        /// ICID.
        icid: u64,
        /// `"TLSv1.2"` / `"TLSv1.3"`.
        protocol: String,
        /// OpenSSL cipher name.
        cipher: String,
    },
    /// STARTTLS's handshake failed: `ICID n TLS failed: ...`; the session ends.
    TlsFailed {
        /// ICID.
        icid: u64,
        /// The error.
        error: String,
    },
    /// MAIL accepted: `Start MID m ICID n`, `MID m ICID n From: <a>`.
    MailFrom {
        /// ICID.
        icid: u64,
        /// MID of the transaction.
        mid: u64,
        /// Reverse-path (`""` for `<>`).
        from: String,
        /// `SIZE=`.
        size: Option<usize>,
    },
    /// A RCPT: `MID m ICID n RID r To: <b>` (accepted) or `... Rejected by RAT`.
    Rcpt {
        /// ICID.
        icid: u64,
        /// MID.
        mid: u64,
        /// Index among the accepted recipients (the RID) if accepted.
        rid: Option<usize>,
        /// Forward-path.
        to: String,
        /// The reply sent (`250 2.1.5 Ok`, `550 5.7.1 ...`).
        reply: String,
    },
    /// The message was stored and acknowledged: `MID m ready B bytes from <a>`.
    MessageAccepted {
        /// ICID.
        icid: u64,
        /// MID.
        mid: u64,
        /// The queue's id from [`Policy::store`].
        queue_id: String,
        /// Size stored (with the `Received:` header).
        bytes: usize,
        /// Reverse-path.
        from: String,
        /// Accepted recipients.
        rcpts: Vec<String>,
    },
    /// The message was read but not acknowledged (too big, bare newline, store error).
    MessageRejected {
        /// ICID.
        icid: u64,
        /// MID.
        mid: u64,
        /// Content octets received.
        bytes: usize,
        /// The reply sent.
        reply: String,
    },
    /// The session ended: `ICID n close`.
    Closed {
        /// ICID.
        icid: u64,
        /// Why.
        reason: CloseReason,
    },
}

static NEXT_ICID: AtomicU64 = AtomicU64::new(1);
static NEXT_MID: AtomicU64 = AtomicU64::new(1);

/// The gateway's decisions and storage behind a listener.
pub trait Policy: Send + Sync + 'static {
    /// The Host Access Table lookup for a new connection.
    fn connect(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> impl Future<Output = ConnectDecision> + Send;

    /// Whether `rcpt` is accepted (relaying rules, Recipient Access Table).
    fn rcpt(
        &self,
        session: &SessionInfo,
        mail_from: &str,
        rcpt: &str,
    ) -> impl Future<Output = RcptDecision> + Send;

    /// Stores the complete message (the `Received:` header already prepended; CRLF
    /// line ends; unstuffed). Must return only once the message is durably stored.
    /// `Ok(queue id)` → `250 2.0.0 Ok: queued as <id>`; an error → `451 4.3.0` /
    /// `452 4.3.1` and nothing is acknowledged.
    fn store(
        &self,
        session: &SessionInfo,
        envelope: Envelope,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Reverse DNS of a client that is not TCP-refused (called after
    /// [`Policy::connect`]; the default knows none: `unknown` in `Received:`).
    fn reverse_dns(&self, peer: IpAddr) -> impl Future<Output = Option<ReverseDns>> + Send {
        let _ = peer;
        async { None }
    }

    /// Session events for the mail logs.
    fn event(&self, e: ServerEvent) {
        let _ = e;
    }

    /// The next ICID (default: a process-wide counter from 1, shared by all listeners).
    fn next_icid(&self) -> u64 {
        NEXT_ICID.fetch_add(1, Ordering::Relaxed)
    }

    /// The next MID (default: a process-wide counter from 1).
    fn next_mid(&self) -> u64 {
        NEXT_MID.fetch_add(1, Ordering::Relaxed)
    }
}
