//! The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1):
//! `v=STSv1; id=20160831085700Z;` — parsed strictly.

use std::fmt;

/// A valid `v=STSv1` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy id (1–32 letters and digits): a change means a new policy.
    pub id: String,
}

/// Why the TXT record(s) give no policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtError {
    /// No record starts with `v=STSv1` (the domain publishes no policy).
    NoRecord,
    /// More than one record starts with `v=STSv1` (§3.1: then there is no policy).
    Multiple(usize),
    /// The one record is malformed.
    Invalid(String),
}

impl fmt::Display for TxtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxtError::NoRecord => f.write_str("no v=STSv1 TXT record"),
            TxtError::Multiple(n) => write!(f, "{n} v=STSv1 TXT records (exactly one allowed)"),
            TxtError::Invalid(why) => write!(f, "invalid v=STSv1 TXT record: {why}"),
        }
    }
}

/// The record among the TXT strings of `_mta-sts.<domain>` (each already
/// concatenated from its character-strings). Records not starting with `v=STSv1;`
/// are discarded; exactly one must remain and be valid (§3.1).
pub fn select(records: &[String]) -> Result<StsRecord, TxtError> {
    let sts: Vec<&String> = records
        .iter()
        .filter(|r| r.starts_with("v=STSv1;") || r.as_str() == "v=STSv1")
        .collect();
    match sts.as_slice() {
        [] => Err(TxtError::NoRecord),
        [one] => parse(one),
        many => Err(TxtError::Multiple(many.len())),
    }
}

/// Parses one record (§3.1 ABNF): `v=STSv1` first, then `;`-separated fields with
/// optional whitespace around them, `id` exactly once (1*32 ALPHA/DIGIT), extension
/// fields (`name=value`, name 1*32 of ALPHA/DIGIT/`_`/`-`/`.` starting with
/// ALPHA/DIGIT, value 1*256 visible characters except `;` and `=`) ignored.
pub fn parse(record: &str) -> Result<StsRecord, TxtError> {
    let bad = |why: String| Err(TxtError::Invalid(why));
    let mut fields = record.split(';');
    match fields.next() {
        Some("v=STSv1") => {}
        _ => return bad("must start with \"v=STSv1;\"".into()),
    }
    let mut id = None;
    let rest: Vec<&str> = fields.collect();
    let last = rest.len().saturating_sub(1);
    for (i, raw) in rest.iter().enumerate() {
        let field = raw.trim_matches(|c| c == ' ' || c == '\t');
        if field.is_empty() {
            // Only a trailing ";" (possibly with whitespace) may leave an empty field.
            if i == last {
                continue;
            }
            return bad("empty field".into());
        }
        let Some((name, value)) = field.split_once('=') else {
            return bad(format!("field {field:?} is not name=value"));
        };
        if name == "id" {
            if id.is_some() {
                return bad("id given twice".into());
            }
            if value.is_empty()
                || value.len() > 32
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return bad(format!("id {value:?} must be 1-32 letters and digits"));
            }
            id = Some(value.to_string());
        } else if !ext_name_ok(name) || !ext_value_ok(value) {
            return bad(format!("malformed extension field {field:?}"));
        }
    }
    match id {
        Some(id) => Ok(StsRecord { id }),
        None => bad("no id field".into()),
    }
}

fn ext_name_ok(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

fn ext_value_ok(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b';' && c != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Result<String, TxtError> {
        parse(s).map(|r| r.id)
    }

    #[test]
    fn valid_records() {
        assert_eq!(
            id("v=STSv1; id=20160831085700Z;").unwrap(),
            "20160831085700Z"
        );
        assert_eq!(id("v=STSv1;id=abc").unwrap(), "abc");
        assert_eq!(id("v=STSv1; id=abc ;  ").unwrap(), "abc");
        assert_eq!(id("v=STSv1;\tid=A1").unwrap(), "A1");
        assert_eq!(id("v=STSv1; ext_1=x.y; id=1; other-x=!#").unwrap(), "1");
        assert_eq!(
            id(&format!("v=STSv1; id={}", "9".repeat(32)))
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn invalid_records() {
        for r in [
            "v=STSv1",
            "v=STSv1;",
            "v=STSv1; id=",
            "v=STSv1; id=a-b",
            "v=STSv1; id=a b",
            &format!("v=STSv1; id={}", "9".repeat(33)),
            "v=STSv1; id=1; id=2",
            "v=STSv1; id=1;; x=y",
            "v=STSv1; id=1; novalue",
            "v=STSv1; id=1; _bad=x",
            "v=STSv1; id=1; x=a=b",
            "v=STSv2; id=1",
            " v=STSv1; id=1",
            "v=stsv1; id=1",
            "id=1; v=STSv1",
        ] {
            assert!(parse(r).is_err(), "{r:?}");
        }
    }

    #[test]
    fn selection_discards_other_records() {
        let s = |v: &[&str]| select(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), Err(TxtError::NoRecord));
        assert_eq!(s(&["v=spf1 -all"]), Err(TxtError::NoRecord));
        assert_eq!(s(&["v=spf1 -all", "v=STSv1; id=7"]).unwrap().id, "7");
        assert_eq!(
            s(&["v=STSv1; id=7", "v=STSv1; id=8"]),
            Err(TxtError::Multiple(2))
        );
        assert!(matches!(s(&["v=STSv1; id="]), Err(TxtError::Invalid(_))));
        // "v=STSv10" is not "v=STSv1;".
        assert_eq!(s(&["v=STSv10; id=1"]), Err(TxtError::NoRecord));
    }
}
