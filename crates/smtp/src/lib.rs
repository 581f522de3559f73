//! danegate's SMTP client: the delivery side of the gateway and of `daneverify`.
//!
//! [`SmtpClient`] speaks RFC 5321 SMTP over tokio with STARTTLS (RFC 3207) through
//! tokio-rustls; certificate checking is whatever verifier the caller puts into the
//! `rustls::ClientConfig` (the DANE verifier lives in `danegate-tls`). Reply framing is
//! strict (bounded line length and count, RFC 5321 §4.2 syntax), every read and write
//! runs under a timeout ([`Timeouts`], RFC 5321 §4.5.3.2), and nothing a server sends
//! can make the client panic.
//!
//! ```no_run
//! # async fn demo(config: std::sync::Arc<rustls::ClientConfig>) -> Result<(), danegate_smtp::SmtpError> {
//! use danegate_smtp::{SmtpClient, Timeouts};
//! let mut c = SmtpClient::connect("192.0.2.1:25".parse().unwrap(), None, Timeouts::default()).await?;
//! c.ehlo("gateway.example").await?;
//! let sni = rustls::pki_types::ServerName::try_from("mx.example.net").unwrap();
//! let tls = c.starttls(config, sni).await?;
//! let d = c.send("a@example.org", &["b@example.net"], b"Subject: hi\r\n\r\nhello\r\n").await?;
//! c.quit().await?;
//! # let _ = (tls, d); Ok(()) }
//! ```

mod client;
mod data;
mod error;
mod reply;

pub use client::{
    Capabilities, Delivery, DsnParams, RecipientResult, RecipientStatus, SmtpClient, Timeouts,
    TlsInfo,
};
pub use data::encode_data;
pub use error::{Phase, Result, SmtpError};
pub use reply::{EnhancedStatus, MAX_REPLY_LINE, MAX_REPLY_LINES, Reply};
