//! danegate's test kit (dev-only): the signed DNS test world with its in-process
//! server, and the SMTP/TLS peers and certificate factory used by the DANE tests.

pub mod certs;
pub mod dns;
pub mod mailworld;
pub mod smtp;
