//! Domain names and the `example.com` / `.example.com` patterns of the appliance.

use std::fmt;

/// A domain pattern as used by Destination Controls, SMTP routes and the RAT:
/// `example.com` matches that domain only, `.example.com` matches every name below it
/// (not `example.com` itself). Stored lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DomainPattern {
    /// Exactly this domain.
    Exact(String),
    /// Any subdomain of this domain (written with a leading dot).
    Subdomains(String),
}

impl DomainPattern {
    /// Parses `example.com` or `.example.com` (case-insensitive, a trailing dot ignored).
    pub fn parse(text: &str) -> Result<DomainPattern, String> {
        if let Some(rest) = text.strip_prefix('.') {
            Ok(DomainPattern::Subdomains(check_domain(rest)?))
        } else {
            Ok(DomainPattern::Exact(check_domain(text)?))
        }
    }

    /// The domain without the leading dot.
    pub fn domain(&self) -> &str {
        match self {
            DomainPattern::Exact(d) | DomainPattern::Subdomains(d) => d,
        }
    }

    /// Does this pattern match `name`? `name` must already be [`normalize`]d.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            DomainPattern::Exact(d) => d == name,
            DomainPattern::Subdomains(d) => is_below(name, d),
        }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainPattern::Exact(d) => f.write_str(d),
            DomainPattern::Subdomains(d) => write!(f, ".{d}"),
        }
    }
}

/// Lower-case ASCII, one trailing dot removed (RFC 4343: names compare case-insensitively).
pub fn normalize(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

/// True when `name` is strictly below `parent` (`a.example.com` below `example.com`).
pub fn is_below(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1
        && name.ends_with(parent)
        && name.as_bytes().get(name.len() - parent.len() - 1) == Some(&b'.')
}

/// Validates a host or domain name (RFC 1035 / RFC 1123 syntax; `_` tolerated inside labels)
/// and returns it normalized. Non-ASCII names must be written as A-labels (`xn--`).
pub fn check_domain(text: &str) -> Result<String, String> {
    let name = normalize(text);
    if name.is_empty() {
        return Err("must be a domain name, not empty".to_string());
    }
    if !name.is_ascii() {
        return Err(
            "must be ASCII: write an internationalized name as its A-label (xn--...)".to_string(),
        );
    }
    if name.len() > 253 {
        return Err("must be at most 253 characters long".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("must not contain an empty label (\"..\")".to_string());
        }
        if label.len() > 63 {
            return Err("must not have a label longer than 63 characters".to_string());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("must be a domain name (letters, digits, '-' and '.' only)".to_string());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("must not have a label starting or ending with '-'".to_string());
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let exact = DomainPattern::parse("Example.COM.").unwrap();
        assert_eq!(exact, DomainPattern::Exact("example.com".into()));
        assert!(exact.matches("example.com"));
        assert!(!exact.matches("a.example.com"));
        let sub = DomainPattern::parse(".example.com").unwrap();
        assert!(sub.matches("a.example.com"));
        assert!(sub.matches("b.a.example.com"));
        assert!(!sub.matches("example.com"));
        assert!(!sub.matches("badexample.com"));
        assert!(DomainPattern::parse("..example.com").is_err());
        assert!(DomainPattern::parse("exa mple.com").is_err());
        assert!(DomainPattern::parse("-a.com").is_err());
        assert!(DomainPattern::parse("bücher.de").is_err());
        assert!(DomainPattern::parse("").is_err());
        assert!(DomainPattern::parse(&"a".repeat(64)).is_err());
    }
}
