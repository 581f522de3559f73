//! danegate-tls: the rustls side of DANE for SMTP.
//!
//! - [`DaneVerifier`]: a rustls `ServerCertVerifier` for DANE (RFC 7672 §3,
//!   RFC 7671 §5), opportunistic (unauthenticated) TLS — only through
//!   [`danger::accept_any_certificate`] — or PKIX with given roots;
//!   it records what it decided in an [`OutcomeSlot`] for the logs.
//! - [`client_config`]: a rustls `ClientConfig` for one verifier (ring provider,
//!   TLS 1.2 and 1.3, no resumption) and [`server_name`] for SNI.
//! - [`protocol_name`], [`openssl_cipher_name`]: names as OpenSSL prints them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cert;
mod config;
mod names;
mod verifier;

pub use config::{client_config, server_name};
pub use names::{openssl_cipher_name, protocol_name};
pub use verifier::{
    DaneMatch, DaneVerifier, Failure, FailureKind, OutcomeSlot, TaSource, VerifyOutcome,
    VerifyPolicy, VerifyReport, usage_name,
};

/// Verifiers that do not authenticate the server, behind a name that says so (rustls'
/// `danger` convention).
pub mod danger {
    use crate::{DaneVerifier, VerifyPolicy};

    /// A verifier that accepts **any** certificate: encryption without authentication.
    /// The handshake signatures are still verified, and the outcome is
    /// [`crate::VerifyOutcome::Unchecked`]. For opportunistic TLS (TLS Support
    /// Preferred/Required) and for a secure TLSA RRset without a usable record (TLS
    /// mandatory, unauthenticated: RFC 7672 §2.2). Never for a DANE or PKIX check.
    pub fn accept_any_certificate() -> DaneVerifier {
        DaneVerifier::new(VerifyPolicy::AcceptAnyCertificate)
    }
}

#[cfg(test)]
mod tests;
