//! The trust-anchor file parser (DS / DNSKEY lines in zone-file syntax).
#![no_main]

use danegate_dns::TrustAnchors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(a) = TrustAnchors::parse(text, "fuzz.anchor")
    {
        for (name, anchor) in a.iter() {
            let _ = (a.closest(name), anchor.key_tag_and_algorithm());
        }
    }
});
