//! A TLSA RRset sorted into usable and unusable records (RFC 7672 §2.2, §3;
//! RFC 7671 §9).

use std::fmt;

use crate::tlsa::{CertUsage, MatchingType, Selector, Tlsa, TlsaParseError};

/// Why a record of the RRset is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// The RDATA could not be parsed at all.
    Malformed(TlsaParseError),
    /// PKIX-TA(0) or PKIX-EE(1): not usable for SMTP (RFC 7672 §3.1.3).
    PkixUsage(CertUsage),
    /// An unassigned certificate usage (RFC 7672 §3).
    UnknownUsage(u8),
    /// An unassigned selector (RFC 7672 §3).
    UnknownSelector(u8),
    /// An unassigned matching type (RFC 7672 §3).
    UnknownMatchingType(u8),
    /// A digest whose length does not fit its matching type: malformed, dropped
    /// before digest agility applies (RFC 7671 §9).
    BadDigestLength {
        /// The record's matching type.
        matching_type: MatchingType,
        /// The length the matching type requires.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// A weaker digest than another usable record of the same usage and selector
    /// (digest agility, RFC 7671 §9).
    WeakerDigest {
        /// The stronger matching type present for that usage and selector.
        superseded_by: MatchingType,
    },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Malformed(e) => write!(f, "malformed: {e}"),
            Unusable::PkixUsage(u) => write!(
                f,
                "usage {u} ({}) is not usable for SMTP (RFC 7672 section 3.1.3)",
                u.mnemonic().unwrap_or("?")
            ),
            Unusable::UnknownUsage(u) => write!(f, "unknown certificate usage {u}"),
            Unusable::UnknownSelector(s) => write!(f, "unknown selector {s}"),
            Unusable::UnknownMatchingType(m) => write!(f, "unknown matching type {m}"),
            Unusable::BadDigestLength {
                matching_type,
                expected,
                actual,
            } => write!(
                f,
                "matching type {matching_type} needs a {expected}-byte digest, got {actual} bytes"
            ),
            Unusable::WeakerDigest { superseded_by } => write!(
                f,
                "weaker digest than matching type {superseded_by} present for the same usage and selector (RFC 7671 section 9)"
            ),
        }
    }
}

/// One record that [`TlsaSet`] set aside, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The record, or `None` when its RDATA could not be parsed.
    pub record: Option<Tlsa>,
    /// Why it is not used.
    pub reason: Unusable,
}

/// What a TLSA RRset means for the connection (RFC 7672 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsaSetStatus {
    /// At least one usable record: authenticate the server with DANE.
    Usable,
    /// Records were present but none is usable: TLS is mandatory, but the server is
    /// not authenticated (RFC 7672 §2.2, §3).
    AllUnusable,
    /// No record at all.
    Empty,
}

/// A TLSA RRset split into the records to use and those set aside.
///
/// Built by [`TlsaSet::from_records`] or [`TlsaSet::from_rdata`], which apply, in
/// this order:
/// 1. records that cannot be parsed or whose digest length is wrong are dropped
///    (malformed, RFC 7671 §9);
/// 2. PKIX-TA(0), PKIX-EE(1) and unknown usages, selectors and matching types are
///    unusable (RFC 7672 §3, §3.1.3);
/// 3. digest agility (RFC 7671 §9): for each usage and selector only the records
///    with the strongest digest present (SHA2-512 over SHA2-256) are kept; Full(0)
///    records are always kept.
///
/// The usable records keep the order of the RRset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsaSet {
    usable: Vec<Tlsa>,
    ignored: Vec<Ignored>,
}

impl TlsaSet {
    /// An empty set (no TLSA records).
    pub fn empty() -> Self {
        TlsaSet::default()
    }

    /// Sort parsed records into usable and ignored ones (see the type's doc).
    pub fn from_records<I: IntoIterator<Item = Tlsa>>(records: I) -> Self {
        Self::build(records.into_iter().map(Ok))
    }

    /// Parse and sort raw RDATA; unparseable RDATA is kept as
    /// [`Unusable::Malformed`].
    pub fn from_rdata<I, B>(rdatas: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        Self::build(
            rdatas
                .into_iter()
                .map(|rdata| Tlsa::from_rdata(rdata.as_ref())),
        )
    }

    fn build<I: Iterator<Item = Result<Tlsa, TlsaParseError>>>(records: I) -> Self {
        let mut candidates = Vec::new();
        let mut ignored = Vec::new();
        for rec in records {
            let rec = match rec {
                Ok(rec) => rec,
                Err(e) => {
                    ignored.push(Ignored {
                        record: None,
                        reason: Unusable::Malformed(e),
                    });
                    continue;
                }
            };
            match check_usable(&rec) {
                Some(reason) => ignored.push(Ignored {
                    record: Some(rec),
                    reason,
                }),
                None => candidates.push(rec),
            }
        }
        // Digest agility (RFC 7671 §9), among the well-formed usable records only.
        let strongest = |usage: CertUsage, selector: Selector| {
            candidates
                .iter()
                .filter(|r| r.usage == usage && r.selector == selector)
                .filter_map(|r| {
                    r.matching_type
                        .digest_strength()
                        .map(|s| (s, r.matching_type))
                })
                .max()
                .map(|(_, mt)| mt)
        };
        let mut usable = Vec::new();
        for rec in &candidates {
            match (
                rec.matching_type.digest_strength(),
                strongest(rec.usage, rec.selector),
            ) {
                (Some(mine), Some(best)) if best.digest_strength() > Some(mine) => {
                    ignored.push(Ignored {
                        record: Some(rec.clone()),
                        reason: Unusable::WeakerDigest {
                            superseded_by: best,
                        },
                    });
                }
                _ => usable.push(rec.clone()),
            }
        }
        TlsaSet { usable, ignored }
    }

    /// Usable, AllUnusable or Empty (RFC 7672 §2.2).
    pub fn status(&self) -> TlsaSetStatus {
        if !self.usable.is_empty() {
            TlsaSetStatus::Usable
        } else if !self.ignored.is_empty() {
            TlsaSetStatus::AllUnusable
        } else {
            TlsaSetStatus::Empty
        }
    }

    /// The records to authenticate with, in RRset order.
    pub fn usable(&self) -> &[Tlsa] {
        &self.usable
    }

    /// The records set aside, with reasons (for logs).
    pub fn ignored(&self) -> &[Ignored] {
        &self.ignored
    }

    /// Usable DANE-EE(3) records.
    pub fn dane_ee(&self) -> impl Iterator<Item = &Tlsa> {
        self.usable.iter().filter(|r| r.usage == CertUsage::DaneEe)
    }

    /// Usable DANE-TA(2) records.
    pub fn dane_ta(&self) -> impl Iterator<Item = &Tlsa> {
        self.usable.iter().filter(|r| r.usage == CertUsage::DaneTa)
    }
}

/// `None` when the record is usable for SMTP, else the first reason it is not.
fn check_usable(rec: &Tlsa) -> Option<Unusable> {
    // Malformed first: a wrong digest length (RFC 7671 §9).
    if let Some(expected) = rec.matching_type.digest_len()
        && rec.data.len() != expected
    {
        return Some(Unusable::BadDigestLength {
            matching_type: rec.matching_type,
            expected,
            actual: rec.data.len(),
        });
    }
    match rec.usage {
        CertUsage::DaneTa | CertUsage::DaneEe => {}
        CertUsage::PkixTa | CertUsage::PkixEe => return Some(Unusable::PkixUsage(rec.usage)),
        CertUsage::Other(u) => return Some(Unusable::UnknownUsage(u)),
    }
    if let Selector::Other(s) = rec.selector {
        return Some(Unusable::UnknownSelector(s));
    }
    if let MatchingType::Other(m) = rec.matching_type {
        return Some(Unusable::UnknownMatchingType(m));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Tlsa {
        s.parse().unwrap()
    }
    fn d256(b: u8) -> String {
        crate::tlsa::hex(&[b; 32])
    }
    fn d512(b: u8) -> String {
        crate::tlsa::hex(&[b; 64])
    }

    #[test]
    fn empty_set() {
        let s = TlsaSet::from_records(Vec::new());
        assert_eq!(s.status(), TlsaSetStatus::Empty);
        assert_eq!(TlsaSet::empty(), s);
    }

    #[test]
    fn pkix_and_unknown_are_unusable() {
        let s = TlsaSet::from_records(vec![
            t(&format!("0 0 1 {}", d256(1))),
            t(&format!("1 1 1 {}", d256(1))),
            t(&format!("4 1 1 {}", d256(1))),
            t(&format!("3 2 1 {}", d256(1))),
            t("3 1 3 00"),
        ]);
        assert_eq!(s.status(), TlsaSetStatus::AllUnusable);
        let reasons: Vec<_> = s.ignored().iter().map(|i| i.reason.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                Unusable::PkixUsage(CertUsage::PkixTa),
                Unusable::PkixUsage(CertUsage::PkixEe),
                Unusable::UnknownUsage(4),
                Unusable::UnknownSelector(2),
                Unusable::UnknownMatchingType(3),
            ]
        );
    }

    #[test]
    fn malformed_rdata_counts_as_unusable() {
        let s = TlsaSet::from_rdata([vec![3u8, 1, 1]]);
        assert_eq!(s.status(), TlsaSetStatus::AllUnusable);
        assert!(matches!(s.ignored()[0].reason, Unusable::Malformed(_)));
        assert!(s.ignored()[0].record.is_none());
    }

    #[test]
    fn dane_ee_and_ta_usable() {
        let s = TlsaSet::from_rdata([
            t(&format!("3 1 1 {}", d256(1))).to_rdata(),
            t(&format!("2 0 1 {}", d256(2))).to_rdata(),
        ]);
        assert_eq!(s.status(), TlsaSetStatus::Usable);
        assert_eq!(s.dane_ee().count(), 1);
        assert_eq!(s.dane_ta().count(), 1);
    }

    #[test]
    fn digest_agility_keeps_strongest_per_usage_and_selector() {
        let s = TlsaSet::from_records(vec![
            t(&format!("3 1 1 {}", d256(1))),
            t(&format!("3 1 2 {}", d512(1))),
            t("3 1 0 0102"),
            t(&format!("3 0 1 {}", d256(3))),
            t(&format!("2 1 1 {}", d256(4))),
        ]);
        let usable: Vec<String> = s.usable().iter().map(|r| r.to_string()).collect();
        assert_eq!(
            usable,
            vec![
                format!("3 1 2 {}", d512(1)),
                "3 1 0 0102".to_string(),
                format!("3 0 1 {}", d256(3)),
                format!("2 1 1 {}", d256(4)),
            ]
        );
        assert_eq!(
            s.ignored()[0].reason,
            Unusable::WeakerDigest {
                superseded_by: MatchingType::Sha512
            }
        );
    }

    #[test]
    fn malformed_digest_dropped_before_agility() {
        // A SHA2-512 record of the wrong length must not knock out a good SHA2-256.
        let s = TlsaSet::from_records(vec![
            t(&format!("3 1 1 {}", d256(1))),
            t(&format!("3 1 2 {}", d256(1))),
        ]);
        assert_eq!(s.usable().len(), 1);
        assert_eq!(s.usable()[0].matching_type, MatchingType::Sha256);
        assert_eq!(
            s.ignored()[0].reason,
            Unusable::BadDigestLength {
                matching_type: MatchingType::Sha512,
                expected: 64,
                actual: 32
            }
        );
        // Also a bad SHA2-256 alone: all unusable.
        let s = TlsaSet::from_records(vec![t("3 1 1 00")]);
        assert_eq!(s.status(), TlsaSetStatus::AllUnusable);
    }

    #[test]
    fn unusable_records_do_not_drive_agility() {
        // A PKIX-EE SHA2-512 does not supersede a DANE-EE SHA2-256.
        let s = TlsaSet::from_records(vec![
            t(&format!("1 1 2 {}", d512(1))),
            t(&format!("3 1 1 {}", d256(1))),
        ]);
        assert_eq!(s.usable().len(), 1);
    }

    #[test]
    fn reasons_display() {
        let r = Unusable::PkixUsage(CertUsage::PkixTa).to_string();
        assert!(r.contains("PKIX-TA"), "{r}");
    }
}
