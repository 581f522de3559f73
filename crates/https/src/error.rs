//! What can go wrong in one HTTPS exchange, classified for the callers (MTA-STS maps
//! certificate problems to `sts-webpki-invalid`, RFC 8460 §4.3.2).

/// Why the server's certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertProblem {
    /// Outside its validity period (expired).
    Expired,
    /// Not valid yet.
    NotYetValid,
    /// Does not name the host.
    NameMismatch,
    /// Does not chain to a trusted root (self-signed, unknown issuer).
    Untrusted,
    /// Anything else (bad signature, bad encoding, revoked, wrong usage...).
    Other(String),
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertProblem::Expired => f.write_str("certificate expired"),
            CertProblem::NotYetValid => f.write_str("certificate not yet valid"),
            CertProblem::NameMismatch => f.write_str("certificate does not name the host"),
            CertProblem::Untrusted => f.write_str("certificate not issued by a trusted root"),
            CertProblem::Other(s) => write!(f, "certificate refused: {s}"),
        }
    }
}

impl CertProblem {
    /// Classifies a rustls certificate error.
    pub fn from_rustls(e: &rustls::CertificateError) -> Self {
        use rustls::CertificateError as C;
        match e {
            C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => CertProblem::NotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => CertProblem::NameMismatch,
            // A chain whose signatures do not verify up to a trusted root (an impostor CA
            // with a trusted CA's name) is as untrusted as an unknown issuer.
            C::UnknownIssuer | C::BadSignature => CertProblem::Untrusted,
            other => CertProblem::Other(format!("{other:?}")),
        }
    }
}

/// One failed HTTPS exchange.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not an acceptable `https:` URL.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host's addresses could not be found.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// No TCP connection to any address.
    #[error("cannot connect to {host}: {reason}")]
    Connect {
        /// The host.
        host: String,
        /// The last address's error.
        reason: String,
    },
    /// TCP connect plus TLS handshake took longer than the connect timeout.
    #[error("connecting to {host} timed out after {secs} s")]
    ConnectTimeout {
        /// The host.
        host: String,
        /// The timeout.
        secs: u64,
    },
    /// The server's certificate failed PKIX validation.
    #[error("TLS with {host}: {problem}")]
    Certificate {
        /// The host.
        host: String,
        /// The classified problem.
        problem: CertProblem,
    },
    /// The TLS handshake failed for another reason (protocol, alert, version).
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// The rustls or I/O error.
        reason: String,
    },
    /// The HTTP exchange failed (malformed response, connection closed early).
    #[error("HTTP exchange with {host} failed: {reason}")]
    Http {
        /// The host.
        host: String,
        /// The hyper error.
        reason: String,
    },
    /// No complete response within the read timeout.
    #[error("no complete response from {host} within {secs} s")]
    ReadTimeout {
        /// The host.
        host: String,
        /// The timeout.
        secs: u64,
    },
    /// A 3xx response: redirects are never followed (RFC 8461 §3.3).
    #[error("HTTP {status} redirect to {location:?} not followed")]
    Redirect {
        /// The status code.
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
    },
    /// A status other than 2xx or 3xx.
    #[error("HTTP status {status}")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The body is larger than the limit.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The response's media type is not the one required.
    #[error("content type {got:?}, expected {expected}")]
    ContentType {
        /// The required media type.
        expected: String,
        /// The `Content-Type` header, if any.
        got: Option<String>,
    },
}

impl Error {
    /// The certificate problem, if this is a PKIX failure.
    pub fn cert_problem(&self) -> Option<&CertProblem> {
        match self {
            Error::Certificate { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// A temporary failure worth retrying later (resolution, connection, timeouts,
    /// 5xx), as opposed to a definite answer (certificate, 4xx, redirect, size, type).
    pub fn is_temporary(&self) -> bool {
        match self {
            Error::Resolve { .. }
            | Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Http { .. }
            | Error::ReadTimeout { .. } => true,
            Error::Status { status } => *status >= 500,
            _ => false,
        }
    }
}
