//! The DANE delivery path (RFC 7672 §2): MX lookup, MX hosts in preference order,
//! addresses per the IP preference, TLSA at the TLSA base domain, TCP, EHLO,
//! STARTTLS, the certificate against the TLSA RRset, and the seed's decision tables
//! (`danegate_dane::policy`) deciding each attempt.
//!
//! Used by `danegate daneverify` (which prints the [`Event`]s) and by the gateway's
//! delivery agent (which logs them and delivers over the session it gets back).

pub mod events;
mod path;

pub use danegate_dane::policy::{Action, DaneMode, InsecureMx};
pub use events::{Event, Sec, Verdict};
pub use path::{IpPreference, Options, Outcome, Session, verify_destination};
