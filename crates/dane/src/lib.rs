//! danegate-dane: DANE for SMTP (RFC 7672, RFC 7671, RFC 6698) as pure logic.
//!
//! No I/O here. The pieces:
//! - [`Tlsa`]: one TLSA record, parsed from RDATA or presentation text, displayed
//!   as `3 1 1 <hex>`, matched against a certificate or SPKI (RFC 6698 §2).
//! - [`TlsaSet`]: an RRset sorted into usable and unusable records (RFC 7672 §3),
//!   with digest agility (RFC 7671 §9); [`TlsaSetStatus`] says whether DANE can
//!   authenticate, TLS is mandatory but unauthenticated, or there is nothing.
//! - [`names`]: reference identifiers and RFC 6125 name matching for DANE-TA
//!   (RFC 7672 §3.2.2-3.2.3).
//! - [`policy`]: the appliance's decision tables (DANE Mandatory, Opportunistic) and
//!   None, as data, with [`policy::decide`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod names;
pub mod policy;
mod set;
mod tlsa;

pub use names::{NameCheck, ReferenceIds, check_names, name_matches};
pub use policy::{
    Action, AddrStatus, CertStatus, DaneMode, Decision, Inputs, InsecureMx, MxStatus, TlsaStatus,
    decide, decide_with, depends_on_cert, depends_on_tlsa,
};
pub use set::{Ignored, TlsaSet, TlsaSetStatus, Unusable};
pub use tlsa::{CertUsage, MatchingType, Selector, Tlsa, TlsaParseError, hex};
