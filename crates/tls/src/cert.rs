//! The certificate fields the verifier needs, read with x509-parser into owned
//! values. Never panics on bad input: whatever cannot be read is `None` or empty.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// One presented (or DNS-supplied) certificate, pre-digested.
#[derive(Clone, Debug)]
pub(crate) struct CertInfo {
    /// DER SubjectPublicKeyInfo (with its SEQUENCE header), for selector 1.
    pub spki: Option<Vec<u8>>,
    /// Subject, RFC 4514 style, for logs.
    pub subject: String,
    /// The issuer Name as DER contents (no outer SEQUENCE header), as webpki's
    /// `TrustAnchor::subject` wants it.
    pub issuer_contents: Option<Vec<u8>>,
    /// SAN dNSName entries.
    pub san_dns: Vec<String>,
    /// Subject CommonNames.
    pub common_names: Vec<String>,
    /// notBefore / notAfter, seconds since the Unix epoch.
    pub validity: Option<(i64, i64)>,
    /// Why the certificate could not be parsed, when it could not.
    pub parse_error: Option<String>,
}

impl CertInfo {
    pub(crate) fn parse(der: &[u8]) -> CertInfo {
        let cert = match X509Certificate::from_der(der) {
            Ok((_, cert)) => cert,
            Err(e) => {
                return CertInfo {
                    spki: None,
                    subject: String::from("(unparseable certificate)"),
                    issuer_contents: None,
                    san_dns: Vec::new(),
                    common_names: Vec::new(),
                    validity: None,
                    parse_error: Some(e.to_string()),
                };
            }
        };
        let (san_dns, san_error) = match cert.subject_alternative_name() {
            Ok(Some(san)) => (
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::DNSName(s) => Some(s.to_string()),
                        _ => None,
                    })
                    .collect(),
                None,
            ),
            Ok(None) => (Vec::new(), None),
            Err(e) => (Vec::new(), Some(format!("subjectAltName: {e}"))),
        };
        let common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
        let validity = cert.validity();
        CertInfo {
            spki: Some(cert.public_key().raw.to_vec()),
            subject: cert.subject().to_string(),
            issuer_contents: sequence_contents(cert.issuer().as_raw()).map(<[u8]>::to_vec),
            san_dns,
            common_names,
            validity: Some((
                validity.not_before.timestamp(),
                validity.not_after.timestamp(),
            )),
            parse_error: san_error,
        }
    }

    /// `Ok` when `now` (Unix seconds) lies within the validity period.
    pub(crate) fn check_dates(&self, now: i64) -> Result<(), String> {
        match self.validity {
            None => Err(format!("{}: no readable validity period", self.subject)),
            Some((nb, _)) if now < nb => Err(format!("{}: not yet valid", self.subject)),
            Some((_, na)) if now > na => Err(format!("{}: expired", self.subject)),
            Some(_) => Ok(()),
        }
    }
}

/// The contents of a DER SEQUENCE that spans all of `der`, or `None`.
pub(crate) fn sequence_contents(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    (rest.len() == len).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_contents_checks_lengths() {
        assert_eq!(sequence_contents(&[0x30, 2, 1, 2]), Some(&[1u8, 2][..]));
        assert_eq!(sequence_contents(&[0x30, 3, 1, 2]), None);
        assert_eq!(sequence_contents(&[0x31, 2, 1, 2]), None);
        assert_eq!(
            sequence_contents(&[0x30, 0x81, 2, 1, 2]),
            Some(&[1u8, 2][..])
        );
        assert_eq!(sequence_contents(&[0x30, 0x80]), None);
        assert_eq!(sequence_contents(&[]), None);
    }

    #[test]
    fn garbage_certificate_is_reported_not_panicked() {
        let info = CertInfo::parse(b"\x30\x03garbage");
        assert!(info.parse_error.is_some());
        assert!(info.spki.is_none());
        assert!(info.check_dates(0).is_err());
    }
}
