//! danegate's test kit (dev-only): the signed DNS test world with its in-process
//! server, and the SMTP/TLS peers and certificate factory used by the DANE tests.
//!
//! Set-up shared by many tests lives here, once: [`gateway`] (a gateway's configuration
//! file and the `danegate serve` process), [`host`] (external tools and ports: skip
//! outside CI, fail in CI), [`certs`] (certificates), [`https`] (an HTTPS server: MTA-STS
//! policy host, TLS-RPT collector), [`mailworld`] (the DANE mail
//! world), [`stsworld`] (the MTA-STS world), [`dns`] (the signed DNS world).

pub mod certs;
pub mod cli;
pub mod dns;
pub mod gateway;
pub mod host;
pub mod https;
pub mod mailworld;
pub mod postgres;
pub mod smtp;
pub mod stsworld;
