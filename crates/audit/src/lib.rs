//! The bulk audit: checks many recipient domains concurrently and gives each exactly
//! the verdict `danegate daneverify` gives it — the same DANE path
//! ([`danegate_delivery::verify_destination_with`]), options
//! ([`danegate_admin::daneverify::Check::options`]) and decision tables — while sharing
//! the work many domains have in common: one validating resolver and its cache for the
//! whole run, and one STARTTLS handshake per (MX host, address, TLSA RRset)
//! ([`share::SharedProbe`]). Politeness: at most a few connections per MX address and a
//! bounded number of queries in flight per resolver; hosts that do not answer time out
//! and are reported.
//!
//! Modules, in the order a reader follows them: [`input`] (the domain list), [`run`]
//! (the concurrent audit), [`share`] (the shared TLS probe), [`record`] (one domain's
//! result, from the path's events), [`summary`] (counts and hosts that did not answer),
//! [`html`] (the self-contained report).

pub mod html;
pub mod input;
pub mod record;
pub mod run;
pub mod share;
pub mod summary;

pub use record::{Checked, DomainResult, NotChecked, StsView, TlsRptView};
pub use run::{Audit, AuditOptions, StsOptions, audit};
pub use summary::Summary;
