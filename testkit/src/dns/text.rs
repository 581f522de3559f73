//! Zone-file presentation of a built zone (for debugging and external checkers such as
//! `ldns-verify-zone`).

use std::fmt::Write as _;

use hickory_proto::dnssec::PublicKey;
use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::{RData, Record, RecordType};

use super::build::{RRset, Zone};

fn timestamp(t: u32) -> String {
    danegate_timefmt::utc(i64::from(t), danegate_timefmt::Layout::Compact)
        .unwrap_or_else(|| t.to_string())
}

fn quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
    out
}

fn rdata_text(r: &Record) -> String {
    match &r.data {
        RData::TXT(t) => t
            .txt_data
            .iter()
            .map(|s| quote(s))
            .collect::<Vec<_>>()
            .join(" "),
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
            let i = sig.input();
            format!(
                "{} {} {} {} {} {} {} {} {}",
                i.type_covered,
                u8::from(i.algorithm),
                i.num_labels,
                i.original_ttl,
                timestamp(i.sig_expiration.get()),
                timestamp(i.sig_inception.get()),
                i.key_tag,
                i.signer_name,
                data_encoding::BASE64.encode(sig.sig())
            )
        }
        RData::DNSSEC(DNSSECRData::DNSKEY(k)) => format!(
            "{} 3 {} {}",
            k.flags(),
            u8::from(k.public_key().algorithm()),
            data_encoding::BASE64.encode(k.public_key().public_bytes())
        ),
        RData::DNSSEC(DNSSECRData::DS(ds)) => format!(
            "{} {} {} {}",
            ds.key_tag(),
            u8::from(ds.algorithm()),
            u8::from(ds.digest_type()),
            data_encoding::HEXUPPER.encode(ds.digest())
        ),
        other => other.to_string(),
    }
}

/// One record in zone-file syntax (no trailing newline).
pub(crate) fn record_text(r: &Record) -> String {
    format!(
        "{} {} IN {} {}",
        r.name,
        r.ttl,
        r.record_type(),
        rdata_text(r)
    )
}

fn push_set(out: &mut String, set: &RRset) {
    for r in set.records.iter().chain(set.sigs.iter()) {
        out.push_str(&record_text(r));
        out.push('\n');
    }
}

/// The whole zone: SOA first, then every RRset in canonical order, then the NSEC3 chain.
pub(crate) fn zone_text(z: &Zone) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "$ORIGIN {}", z.apex);
    if let Some(soa) = z.rrset(&z.apex, RecordType::SOA) {
        push_set(&mut out, soa);
    }
    for (name, types) in &z.data {
        for (t, set) in types {
            if *name == z.apex && *t == u16::from(RecordType::SOA) {
                continue;
            }
            push_set(&mut out, set);
        }
    }
    if let Some(c) = &z.nsec3 {
        for set in c.chain.values() {
            push_set(&mut out, set);
        }
    }
    out
}
