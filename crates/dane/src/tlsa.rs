//! The TLSA record (RFC 6698 §2) as danegate sees it.
//!
//! A [`Tlsa`] is built from the raw RDATA bytes of one TLSA record
//! ([`Tlsa::from_rdata`]), from its presentation form (`"3 1 1 <hex>"`, via
//! [`str::parse`]) or from its four fields ([`Tlsa::new`]). Parsing never panics: a
//! malformed input yields a [`TlsaParseError`] that says what was wrong.
//!
//! Whether a record is *usable* for SMTP (RFC 7672 §3) is decided by
//! [`crate::TlsaSet`], not here: a `Tlsa` may carry any field values, so that unusable
//! records can still be displayed and logged.

use std::fmt;
use std::str::FromStr;

use ring::digest;

/// The certificate usage field (RFC 6698 §2.1.1, names from RFC 7218).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertUsage {
    /// 0, PKIX-TA: unusable for SMTP (RFC 7672 §3.1.3).
    PkixTa,
    /// 1, PKIX-EE: unusable for SMTP (RFC 7672 §3.1.3).
    PkixEe,
    /// 2, DANE-TA: a trust anchor for the server's chain (RFC 7672 §3.1.2).
    DaneTa,
    /// 3, DANE-EE: the server's own certificate or key (RFC 7672 §3.1.1).
    DaneEe,
    /// Any other (unassigned or private) value: unusable.
    Other(u8),
}

/// The selector field (RFC 6698 §2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// 0, Cert: the full DER certificate.
    FullCert,
    /// 1, SPKI: the DER SubjectPublicKeyInfo.
    Spki,
    /// Any other value: unusable.
    Other(u8),
}

/// The matching type field (RFC 6698 §2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchingType {
    /// 0, Full: the selected content itself.
    Full,
    /// 1, SHA2-256 of the selected content.
    Sha256,
    /// 2, SHA2-512 of the selected content.
    Sha512,
    /// Any other value: unusable.
    Other(u8),
}

macro_rules! u8_enum {
    ($ty:ident { $($n:literal => $v:ident),* $(,)? }) => {
        impl From<u8> for $ty {
            fn from(n: u8) -> Self {
                match n {
                    $($n => $ty::$v,)*
                    other => $ty::Other(other),
                }
            }
        }
        impl From<$ty> for u8 {
            fn from(v: $ty) -> u8 {
                match v {
                    $($ty::$v => $n,)*
                    $ty::Other(n) => n,
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", u8::from(*self))
            }
        }
    };
}

u8_enum!(CertUsage { 0 => PkixTa, 1 => PkixEe, 2 => DaneTa, 3 => DaneEe });
u8_enum!(Selector { 0 => FullCert, 1 => Spki });
u8_enum!(MatchingType { 0 => Full, 1 => Sha256, 2 => Sha512 });

impl CertUsage {
    /// The RFC 7218 mnemonic (`DANE-EE`, ...), or `None` for unassigned values.
    pub fn mnemonic(self) -> Option<&'static str> {
        match self {
            CertUsage::PkixTa => Some("PKIX-TA"),
            CertUsage::PkixEe => Some("PKIX-EE"),
            CertUsage::DaneTa => Some("DANE-TA"),
            CertUsage::DaneEe => Some("DANE-EE"),
            CertUsage::Other(_) => None,
        }
    }
}

impl MatchingType {
    /// The digest length in bytes this matching type requires, `None` for Full or
    /// unknown types (RFC 6698 §2.1.3).
    pub fn digest_len(self) -> Option<usize> {
        match self {
            MatchingType::Sha256 => Some(32),
            MatchingType::Sha512 => Some(64),
            MatchingType::Full | MatchingType::Other(_) => None,
        }
    }

    /// Relative strength for digest agility (RFC 7671 §9): higher is stronger;
    /// `None` for Full (never superseded) and unknown types.
    pub(crate) fn digest_strength(self) -> Option<u8> {
        match self {
            MatchingType::Sha256 => Some(1),
            MatchingType::Sha512 => Some(2),
            MatchingType::Full | MatchingType::Other(_) => None,
        }
    }
}

/// One TLSA record: certificate usage, selector, matching type and the certificate
/// association data (RFC 6698 §2.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlsa {
    /// Certificate usage (RFC 6698 §2.1.1).
    pub usage: CertUsage,
    /// Selector (RFC 6698 §2.1.2).
    pub selector: Selector,
    /// Matching type (RFC 6698 §2.1.3).
    pub matching_type: MatchingType,
    /// Certificate association data (RFC 6698 §2.1.4).
    pub data: Vec<u8>,
}

/// Why a TLSA RDATA or presentation string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsaParseError {
    /// RDATA shorter than the three one-byte fields plus at least one data byte.
    #[error(
        "TLSA RDATA is {len} bytes long: it needs usage, selector and matching type (3 bytes) and at least 1 byte of certificate association data"
    )]
    TooShort {
        /// The length that was seen.
        len: usize,
    },
    /// The presentation form did not have four whitespace-separated fields.
    #[error(
        "TLSA text {text:?} must be \"<usage> <selector> <matching type> <hex data>\" (4 fields, got {fields})"
    )]
    FieldCount {
        /// The text that was given.
        text: String,
        /// How many fields were found.
        fields: usize,
    },
    /// One of the three numeric fields was not a number from 0 to 255.
    #[error("TLSA {field} {value:?} is not a number from 0 to 255")]
    BadNumber {
        /// `usage`, `selector` or `matching type`.
        field: &'static str,
        /// The text that was given.
        value: String,
    },
    /// The certificate association data was not an even number of hex digits.
    #[error("TLSA certificate association data is not hexadecimal: {reason}")]
    BadHex {
        /// What was wrong with it.
        reason: String,
    },
}

impl Tlsa {
    /// A record from its four fields, without any usability check.
    pub fn new(usage: u8, selector: u8, matching_type: u8, data: Vec<u8>) -> Self {
        Tlsa {
            usage: usage.into(),
            selector: selector.into(),
            matching_type: matching_type.into(),
            data,
        }
    }

    /// Parse the wire-format RDATA of one TLSA record (RFC 6698 §2.1): one byte each
    /// of usage, selector and matching type, then the association data, which
    /// must not be empty (RFC 6698 §2.2 requires a data field).
    pub fn from_rdata(rdata: &[u8]) -> Result<Self, TlsaParseError> {
        match rdata {
            [usage, selector, matching_type, data @ ..] if !data.is_empty() => {
                Ok(Tlsa::new(*usage, *selector, *matching_type, data.to_vec()))
            }
            _ => Err(TlsaParseError::TooShort { len: rdata.len() }),
        }
    }

    /// The record of the given parameters for a certificate, given its DER and
    /// its DER SubjectPublicKeyInfo: what a zone would publish for it (used by
    /// tests and tooling). `None` for unknown selectors or matching types.
    pub fn for_cert(
        usage: u8,
        selector: u8,
        matching_type: u8,
        cert_der: &[u8],
        spki_der: &[u8],
    ) -> Option<Tlsa> {
        let selected = match Selector::from(selector) {
            Selector::FullCert => cert_der,
            Selector::Spki => spki_der,
            Selector::Other(_) => return None,
        };
        let data = match MatchingType::from(matching_type) {
            MatchingType::Full => selected.to_vec(),
            MatchingType::Sha256 => digest::digest(&digest::SHA256, selected).as_ref().to_vec(),
            MatchingType::Sha512 => digest::digest(&digest::SHA512, selected).as_ref().to_vec(),
            MatchingType::Other(_) => return None,
        };
        Some(Tlsa::new(usage, selector, matching_type, data))
    }

    /// The wire-format RDATA of this record.
    pub fn to_rdata(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.data.len());
        out.push(self.usage.into());
        out.push(self.selector.into());
        out.push(self.matching_type.into());
        out.extend_from_slice(&self.data);
        out
    }

    /// The association data as lowercase hex.
    pub fn data_hex(&self) -> String {
        hex(&self.data)
    }

    /// Whether this record's association data matches a certificate, given the
    /// certificate's DER (`cert_der`) and its DER SubjectPublicKeyInfo (`spki_der`)
    /// (RFC 6698 §2.1.2-2.1.3). Usage is not considered here. Unknown selectors or
    /// matching types never match.
    pub fn matches(&self, cert_der: &[u8], spki_der: &[u8]) -> bool {
        let selected = match self.selector {
            Selector::FullCert => cert_der,
            Selector::Spki => spki_der,
            Selector::Other(_) => return false,
        };
        self.matches_selected(selected)
    }

    /// Whether the association data matches already selected content (a full
    /// certificate for selector 0, an SPKI for selector 1).
    pub fn matches_selected(&self, selected: &[u8]) -> bool {
        match self.matching_type {
            MatchingType::Full => self.data == selected,
            MatchingType::Sha256 => {
                digest::digest(&digest::SHA256, selected).as_ref() == self.data.as_slice()
            }
            MatchingType::Sha512 => {
                digest::digest(&digest::SHA512, selected).as_ref() == self.data.as_slice()
            }
            MatchingType::Other(_) => false,
        }
    }
}

/// `"3 1 1 0c72ac70..."`: the presentation form, with lowercase hex.
impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.matching_type,
            self.data_hex()
        )
    }
}

/// Parses the presentation form `"<usage> <selector> <matching type> <hex>"`
/// (RFC 6698 §2.2). The hex data may be split by whitespace, as zone files allow.
impl FromStr for Tlsa {
    type Err = TlsaParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [usage, selector, matching_type, data @ ..] = fields.as_slice() else {
            return Err(TlsaParseError::FieldCount {
                text: text.to_string(),
                fields: fields.len(),
            });
        };
        if data.is_empty() {
            return Err(TlsaParseError::FieldCount {
                text: text.to_string(),
                fields: fields.len(),
            });
        }
        let number = |field: &'static str, value: &str| {
            value.parse::<u8>().map_err(|_| TlsaParseError::BadNumber {
                field,
                value: value.to_string(),
            })
        };
        let usage = number("usage", usage)?;
        let selector = number("selector", selector)?;
        let matching_type = number("matching type", matching_type)?;
        let data = unhex(&data.concat())?;
        if data.is_empty() {
            return Err(TlsaParseError::BadHex {
                reason: "empty".to_string(),
            });
        }
        Ok(Tlsa::new(usage, selector, matching_type, data))
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex(text: &str) -> Result<Vec<u8>, TlsaParseError> {
    if !text.len().is_multiple_of(2) {
        return Err(TlsaParseError::BadHex {
            reason: format!("odd number of digits ({})", text.len()),
        });
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(TlsaParseError::BadHex {
            reason: format!("{:?} is not a hex digit", char::from(c)),
        }),
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Ok((nibble(*hi)? << 4) | nibble(*lo)?),
            _ => Err(TlsaParseError::BadHex {
                reason: "odd number of digits".to_string(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdata_round_trip_and_display() {
        // The appliance's ietf.org record: 0301010c72ac70b7...
        let rdata = unhex("0301010c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6")
            .unwrap();
        let t = Tlsa::from_rdata(&rdata).unwrap();
        assert_eq!(t.usage, CertUsage::DaneEe);
        assert_eq!(t.selector, Selector::Spki);
        assert_eq!(t.matching_type, MatchingType::Sha256);
        assert_eq!(
            t.to_string(),
            "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"
        );
        assert_eq!(t.to_rdata(), rdata);
        assert_eq!(t.to_string().parse::<Tlsa>().unwrap(), t);
    }

    #[test]
    fn short_rdata_is_an_error_not_a_panic() {
        for len in 0..4 {
            let rdata = vec![3u8; len];
            let err = Tlsa::from_rdata(&rdata).unwrap_err();
            assert_eq!(err, TlsaParseError::TooShort { len });
            assert!(err.to_string().contains(&format!("{len} bytes")));
        }
        assert!(Tlsa::from_rdata(&[3, 1, 1, 0]).is_ok());
    }

    #[test]
    fn unknown_values_are_kept() {
        let t = Tlsa::from_rdata(&[9, 7, 200, 1, 2]).unwrap();
        assert_eq!(t.usage, CertUsage::Other(9));
        assert_eq!(t.selector, Selector::Other(7));
        assert_eq!(t.matching_type, MatchingType::Other(200));
        assert_eq!(t.to_string(), "9 7 200 0102");
        assert!(!t.matches(b"x", b"y"));
    }

    #[test]
    fn presentation_errors_name_the_problem() {
        assert!(matches!(
            "3 1 1".parse::<Tlsa>(),
            Err(TlsaParseError::FieldCount { fields: 3, .. })
        ));
        assert!(matches!(
            "3 256 1 00".parse::<Tlsa>(),
            Err(TlsaParseError::BadNumber {
                field: "selector",
                ..
            })
        ));
        assert!(matches!(
            "3 1 1 0g".parse::<Tlsa>(),
            Err(TlsaParseError::BadHex { .. })
        ));
        assert!(matches!(
            "3 1 1 abc".parse::<Tlsa>(),
            Err(TlsaParseError::BadHex { .. })
        ));
        // Whitespace inside the hex is allowed, as in zone files.
        let t: Tlsa = "3 1 1 AB cd".parse().unwrap();
        assert_eq!(t.data, vec![0xab, 0xcd]);
    }

    #[test]
    fn matching_by_selector_and_type() {
        let cert = b"certificate bytes";
        let spki = b"spki bytes";
        let sha256 = |b: &[u8]| digest::digest(&digest::SHA256, b).as_ref().to_vec();
        let sha512 = |b: &[u8]| digest::digest(&digest::SHA512, b).as_ref().to_vec();
        assert!(Tlsa::new(3, 0, 0, cert.to_vec()).matches(cert, spki));
        assert!(Tlsa::new(3, 1, 0, spki.to_vec()).matches(cert, spki));
        assert!(Tlsa::new(3, 0, 1, sha256(cert)).matches(cert, spki));
        assert!(Tlsa::new(3, 1, 1, sha256(spki)).matches(cert, spki));
        assert!(Tlsa::new(3, 1, 2, sha512(spki)).matches(cert, spki));
        assert!(!Tlsa::new(3, 1, 1, sha256(cert)).matches(cert, spki));
        assert!(!Tlsa::new(3, 0, 2, sha256(cert)).matches(cert, spki));
        for (sel, mt) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
            let rec = Tlsa::for_cert(2, sel, mt, cert, spki).unwrap();
            assert!(rec.matches(cert, spki), "{rec}");
        }
        assert!(Tlsa::for_cert(3, 2, 1, cert, spki).is_none());
        assert!(Tlsa::for_cert(3, 1, 3, cert, spki).is_none());
    }
}
