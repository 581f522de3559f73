//! DNS message → validator, with the trust anchor and the validation time fixed by
//! the input: 4 octets of time (big-endian seconds), 2 octets of anchor length, the
//! anchor in zone-file syntax, then one DNS message (wire format) holding the answer
//! and the DNSKEY / DS RRsets of its chain of trust.
#![no_main]

use danegate_dns::{TrustAnchors, fuzzing::validate_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<6>() else {
        return;
    };
    let now = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
    if rest.len() < len {
        return;
    }
    let (anchor, wire) = rest.split_at(len);
    let Ok(anchor) = std::str::from_utf8(anchor) else {
        return;
    };
    let Ok(anchors) = TrustAnchors::parse(anchor, "fuzz") else {
        return;
    };
    let _ = validate_message(wire, &anchors, now);
});
