//! Reference identifiers and name matching for DANE-TA (RFC 7672 §3.2.2-3.2.3,
//! RFC 6125 §6.4).
//!
//! DANE-EE(3) never checks names (RFC 7672 §3.2.1); DANE-TA(2) does, against the
//! reference identifiers of [`ReferenceIds`].

use std::fmt;

/// The names a DANE-TA server certificate may carry to be accepted
/// (RFC 7672 §3.2.2): the TLSA base domain and the MX host name, original and
/// CNAME-expanded (and, where the caller allows it, the next-hop domain).
///
/// Names are kept normalised: ASCII lowercase, without a trailing dot, without
/// duplicates, in insertion order. Names that are not valid host names (empty,
/// empty labels, wildcards, non-ASCII) are skipped: they could never match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceIds {
    names: Vec<String>,
}

impl ReferenceIds {
    /// Reference identifiers from a list of names (see the type's doc).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ids = ReferenceIds::default();
        for n in names {
            ids.push(n.as_ref());
        }
        ids
    }

    /// Add one name; returns whether it was added (valid and new).
    pub fn push(&mut self, name: &str) -> bool {
        match normalise(name) {
            Some(n) if !n.starts_with('*') && !self.names.contains(&n) => {
                self.names.push(n);
                true
            }
            _ => false,
        }
    }

    /// The normalised names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether there is no usable reference identifier.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl fmt::Display for ReferenceIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.names.join(", "))
    }
}

/// Which presented identifiers count (RFC 6125 §6.4.4, RFC 7672 §3.2.3): the
/// subjectAltName dNSName entries when there is at least one, else the subject
/// CommonName(s).
pub fn presented_ids<'a>(san_dns_names: &'a [String], common_names: &'a [String]) -> &'a [String] {
    if san_dns_names.is_empty() {
        common_names
    } else {
        san_dns_names
    }
}

/// Whether one presented identifier matches one reference identifier
/// (RFC 6125 §6.4.1-6.4.3, RFC 7672 §3.2.3): ASCII case-insensitive, trailing
/// dots ignored; a wildcard only as the entire left-most label (`*.example.com`
/// matches `a.example.com`, not `example.com`, not `a.b.example.com`) and only
/// over at least two further labels (`*.com` matches nothing).
pub fn name_matches(reference: &str, presented: &str) -> bool {
    let (Some(reference), Some(presented)) = (normalise(reference), normalise(presented)) else {
        return false;
    };
    if reference.starts_with('*') {
        return false;
    }
    match presented.strip_prefix("*.") {
        Some(rest) => {
            if rest.contains('*') || !rest.contains('.') {
                return false;
            }
            match reference.split_once('.') {
                Some((first, ref_rest)) => !first.is_empty() && ref_rest == rest,
                None => false,
            }
        }
        None => !presented.contains('*') && reference == presented,
    }
}

/// The result of a name check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameCheck {
    /// `presented` matched `reference`.
    Matched {
        /// The reference identifier that matched.
        reference: String,
        /// The presented identifier that matched it.
        presented: String,
    },
    /// Nothing matched; `presented` lists the identifiers that were considered.
    NoMatch {
        /// The presented identifiers considered (SANs, or CNs when no SAN).
        presented: Vec<String>,
    },
}

/// Check a certificate's names against the reference identifiers: SAN dNSNames,
/// or the CommonNames when there is no SAN dNSName (RFC 7672 §3.2.3).
pub fn check_names(
    reference: &ReferenceIds,
    san_dns_names: &[String],
    common_names: &[String],
) -> NameCheck {
    let presented = presented_ids(san_dns_names, common_names);
    for r in reference.names() {
        for p in presented {
            if name_matches(r, p) {
                return NameCheck::Matched {
                    reference: r.clone(),
                    presented: p.clone(),
                };
            }
        }
    }
    NameCheck::NoMatch {
        presented: presented.to_vec(),
    }
}

/// Lowercase, strip one trailing dot, refuse anything that is not a
/// (possibly wildcard) ASCII host name.
fn normalise(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || !name.is_ascii() {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let ok = lower.split('.').enumerate().all(|(i, label)| {
        !label.is_empty()
            && label.len() <= 63
            && (label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || (i == 0 && label == "*"))
    });
    ok.then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_case_insensitive_trailing_dot() {
        assert!(name_matches("mx.example.com", "MX.Example.COM"));
        assert!(name_matches("mx.example.com.", "mx.example.com"));
        assert!(name_matches("mx.example.com", "mx.example.com."));
        assert!(!name_matches("mx.example.com", "mx.example.org"));
        assert!(!name_matches("mx.example.com", "example.com"));
    }

    #[test]
    fn wildcard_rules() {
        assert!(name_matches("a.example.com", "*.example.com"));
        assert!(name_matches("A.EXAMPLE.com.", "*.example.COM"));
        assert!(!name_matches("example.com", "*.example.com"));
        assert!(!name_matches("a.b.example.com", "*.example.com"));
        // Partial-label wildcards are not wildcards.
        assert!(!name_matches("ab.example.com", "a*.example.com"));
        assert!(!name_matches("ab.example.com", "*b.example.com"));
        // Wildcard not left-most.
        assert!(!name_matches("a.b.example.com", "a.*.example.com"));
        // Wildcards over a single label are refused.
        assert!(!name_matches("com.com", "*.com"));
        assert!(!name_matches("anything", "*"));
        // A wildcard reference never matches.
        assert!(!name_matches("*.example.com", "*.example.com"));
    }

    #[test]
    fn garbage_never_matches() {
        assert!(!name_matches("", ""));
        assert!(!name_matches("a..b", "a..b"));
        assert!(!name_matches("mx.exämple.com", "mx.exämple.com"));
        assert!(!name_matches("mx.example.com", "mx example.com"));
        assert!(!name_matches(".", "."));
    }

    #[test]
    fn reference_ids_normalised_and_deduplicated() {
        let r = ReferenceIds::new(["MX.Example.com.", "mx.example.com", "", "*.x.com", "b.net"]);
        assert_eq!(r.names(), ["mx.example.com", "b.net"]);
        assert_eq!(r.to_string(), "mx.example.com, b.net");
        assert!(ReferenceIds::new(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn san_before_cn() {
        let r = ReferenceIds::new(["mx.example.com"]);
        let san = vec!["other.example.com".to_string()];
        let cn = vec!["mx.example.com".to_string()];
        // CN ignored because a SAN dNSName exists.
        assert_eq!(
            check_names(&r, &san, &cn),
            NameCheck::NoMatch {
                presented: san.clone()
            }
        );
        // CN used when there is no SAN dNSName.
        assert_eq!(
            check_names(&r, &[], &cn),
            NameCheck::Matched {
                reference: "mx.example.com".into(),
                presented: "mx.example.com".into()
            }
        );
        // Any SAN entry may match.
        let san = vec!["other.example.com".to_string(), "*.example.com".to_string()];
        assert!(matches!(
            check_names(&r, &san, &[]),
            NameCheck::Matched { presented, .. } if presented == "*.example.com"
        ));
    }
}
