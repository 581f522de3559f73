//! Incoming messages as the bounce code sees them: the loop check on a received
//! message's header (RFC 3834 §5 Auto-Submitted, Precedence, List-*) and a DSN
//! (RFC 3464) built around the message as the returned content, both parts of which
//! read the original's header section and cut it at field boundaries.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use danegate_bounce::{
    DsnAction, DsnInput, DsnKind, DsnRecipient, ReturnContent, build_dsn_at, is_auto_generated,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_auto_generated(data);
    let flags = data.first().copied().unwrap_or(0);
    let text = String::from_utf8_lossy(data.get(1..40).unwrap_or(&[])).into_owned();
    let input = DsnInput {
        reporting_mta: "gw.fuzz.test".into(),
        arrival_date: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        original_sender: if flags & 1 == 0 {
            "sender@fuzz.test".into()
        } else {
            text.clone()
        },
        original_envelope_id: (flags & 2 != 0).then(|| text.clone()),
        original_message: data,
        return_content: if flags & 4 == 0 {
            ReturnContent::Full
        } else {
            ReturnContent::Headers
        },
        max_returned_bytes: usize::from(flags) * 64,
        kind: if flags & 8 == 0 {
            DsnKind::Failed
        } else {
            DsnKind::Delayed
        },
        recipients: vec![DsnRecipient {
            final_recipient: if flags & 16 == 0 {
                "rcpt@fuzz.test".into()
            } else {
                text.clone()
            },
            original_recipient: (flags & 32 != 0).then(|| text.clone()),
            action: if flags & 8 == 0 {
                DsnAction::Failed
            } else {
                DsnAction::Delayed
            },
            status: if flags & 64 == 0 {
                "5.7.5".into()
            } else {
                text.clone()
            },
            remote_mta: Some("mx.fuzz.test".into()),
            diagnostic: Some(text.clone()),
            last_attempt: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_100)),
            will_retry_until: Some(UNIX_EPOCH + Duration::from_secs(1_700_100_000)),
        }],
    };
    let _ = build_dsn_at(&input, UNIX_EPOCH + Duration::from_secs(1_700_000_200));
});
