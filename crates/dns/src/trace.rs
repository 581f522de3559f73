//! Debug trace of every query, in the style of the appliance's debug log
//! (`DNS query: Q('ietf.org', 'MX')`, `DNSSEC Response data(...)`, `DNS encache (...)`).
//!
//! Events go to `tracing` at DEBUG level with target [`TARGET`]; the binary decides
//! where they are written.

use std::{net::SocketAddr, time::Duration};

use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::status::{Answer, AnswerKind};

/// The presentation of a name as the appliance's logs write it: no trailing dot.
pub(crate) fn display_name(name: &Name) -> String {
    if name.is_root() {
        ".".to_string()
    } else {
        name.to_ascii().trim_end_matches('.').to_string()
    }
}

/// The `tracing` target of the trace lines.
pub const TARGET: &str = "danegate::dns";

/// The name of the resolver group in the QN line (the appliance's wording).
const GROUP: &str = "recursive_nameserver0.parent";

pub(crate) fn query_start(name: &Name, rtype: RecordType) {
    tracing::debug!(target: TARGET, "DNS query: Q('{}', '{}')", display_name(name), rtype);
}

pub(crate) fn query_group(name: &Name, rtype: RecordType) {
    tracing::debug!(target: TARGET, "DNS query: QN('{}', '{}', '{}')", display_name(name), rtype, GROUP);
}

pub(crate) fn query_ip(name: &Name, rtype: RecordType, addr: SocketAddr, wait: Duration) {
    tracing::debug!(
        target: TARGET,
        "DNS query: QIP ('{}', '{}', '{}', {})",
        display_name(name),
        rtype,
        addr_text(addr),
        wait.as_secs().max(1)
    );
}

pub(crate) fn query_send(name: &Name, rtype: RecordType, addr: SocketAddr) {
    tracing::debug!(target: TARGET, "DNS query: Q ('{}', '{}', '{}')", display_name(name), rtype, addr_text(addr));
}

/// `DNSSEC Response data([...] , secure, 0, 1800)` and, for a negative answer,
/// `Received NODATA for domain D type T` / `Received NXDOMAIN for domain D type T`.
pub(crate) fn response(answer: &Answer) {
    let data: Vec<String> = answer.records.iter().map(rdata_text).collect();
    tracing::debug!(
        target: TARGET,
        "DNSSEC Response data([{}] , {}, 0, {})",
        data.join(", "),
        answer.security.lower(),
        answer.ttl
    );
    match answer.kind {
        AnswerKind::Data => {}
        AnswerKind::NoData => tracing::debug!(
            target: TARGET,
            "Received NODATA for domain {} type {}",
            display_name(answer.final_name()),
            answer.qtype
        ),
        AnswerKind::NxDomain => tracing::debug!(
            target: TARGET,
            "Received NXDOMAIN for domain {} type {}",
            display_name(answer.final_name()),
            answer.qtype
        ),
    }
}

/// `DNS encache (ietf.org, MX, [(expiry, 0, 'SECURE', (0, 'mail.ietf.org'))])`; the
/// first number is the expiry time in microseconds since the epoch.
pub(crate) fn encache(answer: &Answer, expires_unix_micros: u128) {
    let items: Vec<String> = answer
        .records
        .iter()
        .map(|r| {
            format!(
                "({}L, 0, '{}', {})",
                expires_unix_micros,
                answer.security.word(),
                rdata_text(r)
            )
        })
        .collect();
    tracing::debug!(
        target: TARGET,
        "DNS encache ({}, {}, [{}])",
        display_name(&answer.qname),
        answer.qtype,
        items.join(", ")
    );
}

pub(crate) fn insecure(name: &Name, rtype: RecordType, why: &str) {
    tracing::debug!(target: TARGET, "DNSSEC insecure ({}, {}): {}", display_name(name), rtype, why);
}

fn addr_text(addr: SocketAddr) -> String {
    if addr.port() == 53 {
        addr.ip().to_string()
    } else {
        addr.to_string()
    }
}

/// Record data the way the appliance prints it: MX as `(pref, 'host.')`, addresses and
/// names quoted, TLSA as the hex of its RDATA.
pub fn rdata_text(record: &Record) -> String {
    match &record.data {
        RData::MX(mx) => format!("({}, '{}')", mx.preference, mx.exchange.to_ascii()),
        RData::A(a) => format!("'{}'", a.0),
        RData::AAAA(a) => format!("'{}'", a.0),
        RData::CNAME(c) => format!("'{}'", c.0.to_ascii()),
        RData::TLSA(t) => {
            let head = [
                u8::from(t.cert_usage),
                u8::from(t.selector),
                u8::from(t.matching),
            ];
            let hex = data_encoding::HEXLOWER;
            format!("'{}{}'", hex.encode(&head), hex.encode(&t.cert_data))
        }
        other => format!("'{other}'"),
    }
}
