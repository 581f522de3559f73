//! Errors of the SMTP client.

use std::io;
use std::net::SocketAddr;

use crate::reply::Reply;

/// Where in the SMTP dialogue something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// TCP connection set-up.
    Connect,
    /// Waiting for the 220 greeting (RFC 5321 §3.1, §4.3.1).
    Greeting,
    /// EHLO (RFC 5321 §4.1.1.1).
    Ehlo,
    /// HELO, after EHLO was refused.
    Helo,
    /// The STARTTLS command up to and including its 220 reply (RFC 3207 §4).
    /// A failure here happened *before* the server agreed to start TLS.
    StartTls,
    /// The TLS handshake after the 220 reply to STARTTLS (RFC 3207 §4.2).
    TlsHandshake,
    /// The EHLO that must follow a successful TLS handshake (RFC 3207 §4.2).
    TlsEhlo,
    /// MAIL FROM (RFC 5321 §4.1.1.2).
    MailFrom,
    /// RCPT TO (RFC 5321 §4.1.1.3).
    RcptTo,
    /// The DATA command and its 354 reply (RFC 5321 §4.1.1.4).
    Data,
    /// Sending the message content.
    DataBody,
    /// The reply to the end-of-data `.` line.
    DataEnd,
    /// RSET (RFC 5321 §4.1.1.5).
    Rset,
    /// NOOP (RFC 5321 §4.1.1.9).
    Noop,
    /// QUIT (RFC 5321 §4.1.1.10).
    Quit,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Phase::Connect => "connect",
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::Helo => "HELO",
            Phase::StartTls => "STARTTLS",
            Phase::TlsHandshake => "TLS handshake",
            Phase::TlsEhlo => "EHLO after STARTTLS",
            Phase::MailFrom => "MAIL FROM",
            Phase::RcptTo => "RCPT TO",
            Phase::Data => "DATA",
            Phase::DataBody => "message content",
            Phase::DataEnd => "end of data",
            Phase::Rset => "RSET",
            Phase::Noop => "NOOP",
            Phase::Quit => "QUIT",
        };
        f.write_str(s)
    }
}

/// Everything that can go wrong in a client session.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The TCP connection could not be made (refused, unreachable, bind failed).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// No (complete) answer within the phase's timeout (RFC 5321 §4.5.3.2).
    #[error("timeout during {phase}")]
    Timeout {
        /// Where it happened.
        phase: Phase,
    },
    /// The server closed the connection, or the socket failed.
    #[error("connection lost during {phase}{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    ConnectionLost {
        /// Where it happened.
        phase: Phase,
        /// The OS error, `None` for an orderly close (EOF).
        #[source]
        source: Option<io::Error>,
    },
    /// The server spoke something that is not SMTP: a malformed or over-long reply line,
    /// data after the STARTTLS 220 (RFC 3207 §5 response injection), an unexpected code.
    #[error("SMTP protocol error during {phase}: {detail}")]
    Protocol {
        /// Where it happened.
        phase: Phase,
        /// What was wrong.
        detail: String,
    },
    /// A negative (4yz or 5yz) or unexpected reply to a command that has no per-recipient
    /// outcome (greeting, EHLO and HELO, RSET, QUIT...).
    #[error("{phase} rejected: {reply}")]
    Rejected {
        /// Where it happened.
        phase: Phase,
        /// The server's reply.
        reply: Reply,
    },
    /// The server's EHLO reply does not advertise STARTTLS (RFC 3207 §4); also returned
    /// when STARTTLS is asked for on a session that is already TLS.
    #[error("STARTTLS not offered by the server")]
    StartTlsNotOffered,
    /// The server answered STARTTLS with something other than 220 (e.g. 454, RFC 3207 §4).
    #[error("STARTTLS refused: {reply}")]
    StartTlsRefused {
        /// The server's reply.
        reply: Reply,
    },
    /// The TLS handshake failed after the server's 220 (RFC 3207 §4.1). Certificate
    /// verification failures (a DANE or PKIX verifier saying no) arrive here too.
    #[error("TLS handshake failed: {source}")]
    TlsHandshake {
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// The message is larger than the server's SIZE limit (RFC 1870 §6); nothing was sent.
    #[error("message of {size} bytes exceeds the server's SIZE limit of {limit}")]
    MessageTooLarge {
        /// The message size, after CRLF normalisation and before dot-stuffing.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// A caller-supplied value cannot be sent (CR/LF in an address or EHLO name, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The session cannot be used any more after an earlier failure.
    #[error("SMTP session unusable after an earlier error")]
    Broken,
}

impl SmtpError {
    /// The phase of the dialogue the error belongs to, where it has one.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            SmtpError::Connect { .. } => Some(Phase::Connect),
            SmtpError::Timeout { phase }
            | SmtpError::ConnectionLost { phase, .. }
            | SmtpError::Protocol { phase, .. }
            | SmtpError::Rejected { phase, .. } => Some(*phase),
            SmtpError::StartTlsNotOffered | SmtpError::StartTlsRefused { .. } => {
                Some(Phase::StartTls)
            }
            SmtpError::TlsHandshake { .. } => Some(Phase::TlsHandshake),
            SmtpError::MessageTooLarge { .. } => Some(Phase::MailFrom),
            SmtpError::InvalidInput(_) | SmtpError::Broken => None,
        }
    }

    /// For an error returned by [`crate::SmtpClient::starttls`]: true when the failure
    /// happened after the server's 220 reply to STARTTLS (during the TLS handshake or the
    /// EHLO inside the new TLS session), false when it happened before (STARTTLS not
    /// offered, refused, timeout or connection lost while waiting for the 220). The TLS
    /// Preferred rule may continue in clear only when this is false.
    pub fn after_starttls_220(&self) -> bool {
        matches!(self.phase(), Some(Phase::TlsHandshake | Phase::TlsEhlo))
    }

    /// True for a temporary condition (timeout, lost connection, 4yz reply, protocol
    /// trouble) as opposed to a permanent refusal (5yz reply, message too large).
    pub fn is_transient(&self) -> bool {
        match self {
            SmtpError::Rejected { reply, .. } | SmtpError::StartTlsRefused { reply } => {
                !reply.is_permanent()
            }
            SmtpError::MessageTooLarge { .. } | SmtpError::InvalidInput(_) => false,
            _ => true,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = SmtpError> = std::result::Result<T, E>;
