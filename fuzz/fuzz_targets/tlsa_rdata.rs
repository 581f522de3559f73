//! TLSA RDATA (RFC 6698 §2.1) from DNS, and the presentation form (§2.2) from files and
//! the admin interfaces: parse, re-encode (must give the same octets), match against
//! the input taken as a certificate, and classify as a TLSA RRset (RFC 7672 §3.1).
#![no_main]

use std::str::FromStr;

use danegate_dane::{Tlsa, TlsaSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Tlsa::from_rdata(data) {
        assert_eq!(t.to_rdata(), data, "TLSA RDATA does not round-trip");
        let _ = t.matches(data, data);
        let _ = t.data_hex();
        let text = t.to_string();
        let back = Tlsa::from_str(&text).expect("printed TLSA record does not parse");
        assert_eq!(back, t, "TLSA presentation form does not round-trip");
    }
    let _ = TlsaSet::from_rdata(data.chunks(37));
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Tlsa::from_str(s);
    }
});
