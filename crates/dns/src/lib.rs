//! DNSSEC-validating resolution for danegate.
//!
//! Every lookup returns records plus a security status — SECURE, INSECURE or BOGUS
//! with a reason — or a temporary failure that is never confused with INSECURE
//! (RFC 4033 §5, RFC 4035 §4.3, RFC 7672 §2.1). Validation happens in this process
//! from trust anchors; upstream resolvers are asked with DO=1 and CD=1 so that even a
//! validating upstream hands over bogus data for us to judge.

pub mod anchor;
pub mod budget;
mod chain;
pub mod denial;
#[doc(hidden)]
pub mod fuzzing;
mod observe;
pub mod resolver;
pub mod rfc5011;
mod rrset;
pub mod status;
pub mod trace;
pub mod upstream;

pub use anchor::{AnchorError, TrustAnchors};
pub use hickory_proto::rr::{Name, Record, RecordType};
pub use resolver::{DEFAULT_SIG_SKEW_MAX, DEFAULT_SIG_SKEW_MIN, Resolver, ResolverConfig};
pub use rfc5011::{AnchorStateView, KeyState, Rfc5011State};
pub use status::{Answer, AnswerKind, BogusReason, CnameLink, LookupError, Security};
pub use upstream::{BadUpstream, Capability, UpstreamConfig};
