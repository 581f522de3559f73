//! danegate's metrics: every metric's name, type, help text and labels in one
//! [`catalog`] (so `docs/metrics.md` is checked against it), the one-line recording
//! calls the other crates make ([`record`]), the pure classification of deferral and
//! bounce reasons ([`ReasonClass`]), and the readiness [`health::Probe`] a running
//! gateway answers.
//!
//! Recording goes through the `metrics` facade: without an installed recorder (the
//! one-shot CLI commands, most tests) every call is a no-op. With the feature
//! `exporter`, [`exporter::install`] installs the Prometheus recorder with the `node`
//! label on every series, and [`http::router`] serves `/metrics`, `/healthz` and
//! `/readyz` (on the web listener and on `danegate serve --metrics ADDR`).
//!
//! Label values always come from fixed vocabularies (the enums below); no label ever
//! carries a domain, an address of a mail server or a message property, so the
//! number of series stays bounded whatever mail flows through.

pub mod catalog;
mod classify;
pub mod health;
pub mod record;
mod vocab;

#[cfg(feature = "exporter")]
pub mod exporter;
#[cfg(feature = "exporter")]
pub mod http;

pub use catalog::{CATALOG, Kind, Metric, names};
pub use classify::{EXPIRED_SUFFIX, SUSPENDED_PREFIX, classify, mta_sts_result, tls_version};
pub use record::*;
pub use vocab::{
    DaneAction, DaneTable, DaneVerdict, Direction, DnsStatus, DsnKind, MtaStsResult, ReasonClass,
    RecipientState, UpstreamFailure,
};
