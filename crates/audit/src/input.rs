//! The list of domains to audit: one per line, as a file or standard input.
//!
//! A line holds a domain (`example.org`), or a recipient address whose domain is taken
//! (`postmaster@example.org`, RFC 5321 §4.1.2); `#` starts a comment; blank lines are
//! skipped; only the first field of a line counts (whitespace or comma separated, so a
//! CSV export whose first column is the domain works). Names are compared without case
//! and without a trailing dot; duplicates are audited once, in the order first seen.

use std::collections::HashSet;

/// The domains of `text`, in order, without duplicates; an error names the line and
/// the bad value.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some(field) = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .find(|f| !f.is_empty())
        else {
            continue;
        };
        let domain = normalize(field).map_err(|e| format!("line {}: {e}", n + 1))?;
        if seen.insert(domain.clone()) {
            out.push(domain);
        }
    }
    Ok(out)
}

/// One domain (or address) as the audit names it: lower case, no trailing dot.
pub fn normalize(field: &str) -> Result<String, String> {
    let field = field.trim().trim_matches(|c| c == '<' || c == '>');
    let domain = field.rsplit('@').next().unwrap_or_default();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && domain.parse::<danegate_dns::Name>().is_ok();
    if valid {
        Ok(domain)
    } else {
        Err(format!("bad domain {field:?}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn domains_addresses_comments_duplicates_and_csv() {
        let text = "# recipients\nExample.ORG.\n\npostmaster@mail.example.net\nexample.org # again\nb.example, 12, x\n";
        assert_eq!(
            parse(text).unwrap(),
            ["example.org", "mail.example.net", "b.example"]
        );
    }

    #[test]
    fn a_bad_name_is_reported_with_its_line() {
        let e = parse("ok.example\nbad..example\n").unwrap_err();
        assert_eq!(e, "line 2: bad domain \"bad..example\"");
        assert!(parse("a b\nx@\n").unwrap_err().starts_with("line 2:"));
    }
}
