//! MTA-STS (RFC 8461): a recipient domain publishes, over DNS and HTTPS, which MX hosts
//! may receive its mail and whether senders must use authenticated TLS to reach them.
//!
//! Pure parts, exhaustively tested: [`txt`] (the `_mta-sts` TXT record, §3.1),
//! [`policy`] (the policy file, §3.2, and MX pattern matching, §4.1), [`outcome`] (what
//! one delivery attempt came to, with the RFC 8460 §4.3 result types a TLS-RPT
//! recorder needs). I/O: [`fetch`] (discovery through the validating resolver, then
//! the HTTPS fetch, §3.3) and [`cache`] (policies persisted in the data directory,
//! refreshed when the TXT id changes and before `max_age` ends, kept in force when a
//! lookup or fetch fails, §5.1 and §10.2).

pub mod cache;
pub mod fetch;
pub mod outcome;
pub mod policy;
pub mod txt;

pub use cache::{CachedPolicy, PolicyCache, Resolution, now_unix, unix_text};
pub use fetch::{FetchError, FetchErrorKind, Fetcher};
pub use outcome::{PolicySummary, ResultType, StsOutcome, StsResult};
pub use policy::{Mode, MxPattern, Policy, PolicyError};
pub use txt::{StsRecord, TxtError};
