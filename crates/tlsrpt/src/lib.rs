//! SMTP TLS Reporting (RFC 8460) for danegate.
//!
//! - [`model`]: what one session tells TLS-RPT — the [`Policy`] that applied (`tlsa`,
//!   `sts`, `no-policy-found`) and a [`SessionResult`] with the §4.3 [`ResultType`];
//! - [`store`]: the [`Recorder`], persisted per policy domain per UTC [`Day`], and the
//!   at-most-once state of each report sent;
//! - [`report`]: the JSON report of §4.4 (serde), its gzip form and file name (§5.1);
//! - [`record`]: the `_smtp._tls.<domain>` TXT record (§3), parsed strictly;
//! - [`mail`]: the report as an RFC 8460 §5.3 `multipart/report` message.
//!
//! Pure logic and a small SQLite file; no network: the gateway looks the TXT record up,
//! queues the message and POSTs to `https:` destinations.

pub mod day;
pub mod mail;
pub mod model;
pub mod record;
pub mod report;
pub mod store;

pub use day::Day;
pub use model::{Failure, Policy, PolicyType, ResultType, SessionResult};
pub use record::{RecordError, Rua, TlsRptRecord};
pub use report::Report;
pub use store::{Recorder, Reporter, SendState, StoreError};
