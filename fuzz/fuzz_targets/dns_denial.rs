//! NSEC / NSEC3 denial proofs (RFC 4035 §5.4, RFC 5155 §8) over the NSEC and NSEC3
//! records of one DNS message's authority section, for the message's question. The
//! proofs take records as validated, so no signature is needed here: this reaches
//! every branch of the proof code with arbitrary owner names, bitmaps, hashes, salts
//! and iteration counts.
#![no_main]

use danegate_dns::{budget::Budget, denial::DenialRecords};
use hickory_proto::{
    dnssec::rdata::DNSSECRData,
    op::Message,
    rr::{RData, RecordType},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::from_vec(data) else {
        return;
    };
    let Some(q) = msg.queries.first() else {
        return;
    };
    let apex = msg
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.clone())
        .unwrap_or_else(|| q.name().base_name());
    let mut d = DenialRecords {
        apex: Some(apex),
        ..Default::default()
    };
    for r in &msg.authorities {
        match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) => d.nsec.push((r.name.clone(), n.clone())),
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => d.nsec3.push((r.name.clone(), n.clone())),
            _ => {}
        }
    }
    let mut budget = Budget::default();
    let _ = d.nxdomain(q.name(), &mut budget);
    let _ = d.nodata(q.name(), q.query_type(), &mut budget);
    let labels = data.last().copied().unwrap_or(0);
    let _ = d.wildcard_answer(q.name(), labels, &mut budget);
    let _ = d.insecure_delegation(q.name(), &mut budget);
});
