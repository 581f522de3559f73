//! The DANE delivery path (RFC 7672 §2): MX lookup, MX hosts in preference order,
//! addresses per the IP preference, TLSA at the TLSA base domain, TCP, EHLO,
//! STARTTLS, the certificate against the TLSA RRset, and the appliance's decision tables
//! (`danegate_dane::policy`) deciding each attempt.
//!
//! Used by `danegate daneverify` (which prints the [`Event`]s) and by the gateway's
//! delivery agent (which logs them and delivers over the session it gets back).
//!
//! [`mx_walk`] is the walk both paths share: MX hosts in preference order and their
//! addresses per the IP preference, with DNSSEC statuses.
//!
//! [`shadow`] evaluates, for any delivery, what DANE Mandatory and Opportunistic would
//! have decided (the readiness report).
//!
//! [`tls_support`] is the path without DANE, per the profile's TLS Support setting
//! (DANE Support None, a DANE "fallback", SMTP routes to explicit hosts).

pub mod events;
pub mod mx_walk;
mod path;
pub mod shadow;
pub mod probe;
pub mod tls_support;

pub use danegate_dane::policy::{Action, DaneMode, InsecureMx};
pub use events::{Event, Sec, Verdict};
pub use mx_walk::IpPreference;
pub use path::{Options, Outcome, Session, verify_destination, verify_destination_with};
pub use tls_support::{
    AttemptError, Candidate, TlsContext, TlsSupport, candidates_from_dns, candidates_from_route,
    open_first_session, open_session,
};
