//! The bulk audit: checks many recipient domains concurrently and gives each exactly
//! the verdict `danegate daneverify` gives it — the same DANE path
//! ([`danegate_delivery::verify_destination_with`]), options
//! ([`danegate_admin::daneverify::Check::options`]) and decision tables — while sharing
//! the work many domains have in common: one validating resolver and its cache for the
//! whole run, and one STARTTLS handshake per (MX host, address, TLSA RRset)
//! ([`share::SharedProbe`]). Politeness: at most a few connections per MX address and a
//! bounded number of queries in flight per resolver; hosts that do not answer time out
//! and are reported. Beside it, each domain gets exactly `danegate stsverify`'s MTA-STS
//! verdict (RFC 8461; [`danegate_admin::stsverify`], one PKIX session per MX address
//! shared through [`share::SharedStsProbe`]) and its TLS-RPT record (RFC 8460 §3).
//!
//! Modules, in the order a reader follows them: [`input`] (the domain list), [`run`]
//! (the concurrent audit), [`share`] (the shared TLS probes), [`record`] (one domain's
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
