//! danegate-bounce: bounce profiles as pure logic ("Bounce
//! profiles"), in the spirit of Postfix's `bounce` program.
//!
//! No I/O here; the caller owns the clock, the randomness of the schedule and
//! the queue. The pieces:
//! - [`BounceProfile`] and its schedule: [`next_retry`] (exponential backoff with
//!   jitter), [`expired`] (maximum time in queue, maximum retries),
//!   [`delay_warning_due`] (one delay warning per message).
//! - [`build_dsn`]: a Delivery Status Notification (RFC 3464) in a
//!   `multipart/report` (RFC 3462) with RFC 3463 status codes, for failures and
//!   delays; [`dsn_envelope`]: its SMTP envelope, `MAIL FROM:<>`.
//! - Loop prevention: a DSN is never sent to the null sender (RFC 5321 §6.1;
//!   [`DsnError::NullSender`], [`dsn_envelope`] returns `None`), and
//!   [`is_auto_generated`] recognises reports and auto-replies by content
//!   (RFC 3834).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dsn;
mod loops;
mod schedule;

pub use dsn::{
    DEFAULT_MAX_RETURNED_BYTES, DsnAction, DsnError, DsnInput, DsnKind, DsnRecipient,
    ReturnContent, build_dsn, build_dsn_at, dsn_envelope, is_valid_status,
};
pub use loops::is_auto_generated;
pub use schedule::{
    BounceProfile, MIN_RETRY_INTERVAL, base_retry_interval, delay_warning_due, expired, next_retry,
};
