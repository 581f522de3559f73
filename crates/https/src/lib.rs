//! A small HTTPS client for the gateway's own fetches: the MTA-STS policy
//! (RFC 8461 §3.3) and TLS-RPT report uploads (RFC 8460 §5.2).
//!
//! What those RFCs ask of it, and why it is not a general HTTP client:
//! - PKIX validation of the server against the `webpki-roots` (Mozilla) roots plus the
//!   operator's extra CA certificates ([`ClientOptions::extra_roots`]); rustls with the
//!   ring provider, TLS 1.2 and 1.3 only.
//! - No redirects are followed (RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be
//!   followed"): a 3xx is [`Error::Redirect`]; any other non-2xx is [`Error::Status`].
//! - The body is limited ([`ClientOptions::max_body`]; RFC 8461 §3.3 suggests 64 KiB)
//!   and the exchange is bounded by a connect timeout (TCP and TLS handshake) and a
//!   read timeout (request sent to the last byte of the body).
//! - The caller chooses the addresses to connect to (the gateway resolves names with
//!   its own validating resolver); with none given, the system resolver is asked.
//! - The content type is the caller's to check ([`Response::require_content_type`]).
//!
//! HTTP/1.1 framing is hyper 1's, over our own tokio-rustls stream; one request per
//! connection (`Connection: close`).

mod client;
mod error;
mod url;

pub use client::{ClientOptions, HttpsClient, Response, load_ca_file, parse_ca_pem};
pub use error::{CertProblem, Error};
pub use url::HttpsUrl;
