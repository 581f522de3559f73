//! The policy file at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! (RFC 8461 §3.2), parsed strictly, and MX host pattern matching (§4.1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest `max_age` allowed (§3.2: 31557600 seconds, about one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// The policy mode (§5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to matching MX hosts over authenticated TLS.
    Enforce,
    /// Deliver as without a policy; report failures (TLS-RPT).
    Testing,
    /// No policy in force (how a domain withdraws one, §10.2).
    None,
}

impl Mode {
    /// The word in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `mx` pattern: a host name, or `*.` and a domain (one label wildcard, §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MxPattern {
    /// Lower-case, without trailing dot, `*.` kept for a wildcard.
    text: String,
}

impl MxPattern {
    /// Parses a pattern: an LDH host name of at least two labels, optionally
    /// prefixed by `*.`. Case is folded; a trailing dot is removed.
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        let (wild, rest) = match lower.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, lower.as_str()),
        };
        let labels: Vec<&str> = rest.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if rest.len() > 253 || !labels.iter().all(label_ok) {
            return Err(format!("mx pattern {s:?} is not a host name or *.domain"));
        }
        if labels.len() < 2 && !wild {
            return Err(format!("mx pattern {s:?} must have at least two labels"));
        }
        Ok(MxPattern { text: lower })
    }

    /// The pattern as written (lower-case).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `host` (an MX host name; case and a trailing dot ignored) matches:
    /// equal to a plain pattern; for `*.d`, exactly one label followed by `.d`
    /// (`*.example.com` matches `mx.example.com`, not `example.com` nor
    /// `a.b.example.com`, §4.1).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.text.strip_prefix("*.") {
            Some(suffix) => match host.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest == suffix,
                None => false,
            },
            None => host == self.text,
        }
    }
}

impl TryFrom<String> for MxPattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        MxPattern::parse(&s)
    }
}

impl From<MxPattern> for String {
    fn from(p: MxPattern) -> String {
        p.text
    }
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A valid policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// Seconds the policy may be cached (0 ..= [`MAX_AGE_LIMIT`]).
    pub max_age: u64,
    /// Allowed MX hosts (at least one unless the mode is `none`).
    pub mx: Vec<MxPattern>,
}

impl Policy {
    /// True when `host` matches one of the `mx` patterns.
    pub fn mx_matches(&self, host: &str) -> bool {
        self.mx.iter().any(|p| p.matches(host))
    }

    /// The patterns, comma-separated (logs, status pages).
    pub fn mx_text(&self) -> String {
        self.mx
            .iter()
            .map(MxPattern::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a policy file is invalid (an invalid policy is no policy, §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid MTA-STS policy: {}", self.0)
    }
}

/// Parses a policy file (§3.2 ABNF): lines `name: value` ending in LF or CRLF;
/// `version: STSv1`, `mode` and `max_age` exactly once, `mx` once or more (may be
/// absent only in mode `none`); other well-formed fields are extensions and ignored;
/// a field name is case-sensitive; any malformed line makes the whole policy invalid.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let bad = |why: String| Err(PolicyError(why));
    let body = text.strip_suffix('\n').unwrap_or(text);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for (n, raw) in body.split('\n').enumerate() {
        let line_no = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_end_matches([' ', '\t']);
        let Some((name, value)) = line.split_once(':') else {
            return bad(format!("line {line_no} {line:?} is not \"name: value\""));
        };
        if !field_name_ok(name) {
            return bad(format!("line {line_no}: bad field name {name:?}"));
        }
        let value = value.trim_start_matches([' ', '\t']);
        match name {
            "version" => {
                if version.replace(value).is_some() {
                    return bad("version given twice".into());
                }
            }
            "mode" => {
                let m = match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => {
                        return bad(format!("mode {other:?} (must be enforce, testing or none)"));
                    }
                };
                if mode.replace(m).is_some() {
                    return bad("mode given twice".into());
                }
            }
            "max_age" => {
                if value.is_empty()
                    || value.len() > 10
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    return bad(format!("max_age {value:?} is not 1-10 digits"));
                }
                let secs: u64 = value
                    .parse()
                    .map_err(|_| PolicyError(format!("max_age {value:?}")))?;
                if secs > MAX_AGE_LIMIT {
                    return bad(format!("max_age {secs} is above {MAX_AGE_LIMIT}"));
                }
                if max_age.replace(secs).is_some() {
                    return bad("max_age given twice".into());
                }
            }
            "mx" => mx.push(MxPattern::parse(value).map_err(PolicyError)?),
            _ => {
                // Extension field: value of visible characters and spaces.
                if value.is_empty()
                    || !value
                        .bytes()
                        .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
                {
                    return bad(format!(
                        "line {line_no}: malformed extension field {name:?}"
                    ));
                }
            }
        }
    }
    match version {
        Some("STSv1") => {}
        Some(v) => return bad(format!("version {v:?} (must be STSv1)")),
        None => return bad("no version field".into()),
    }
    let Some(mode) = mode else {
        return bad("no mode field".into());
    };
    let Some(max_age) = max_age else {
        return bad("no max_age field".into());
    };
    if mx.is_empty() && mode != Mode::None {
        return bad(format!("mode {mode} without any mx field"));
    }
    Ok(Policy { mode, max_age, mx })
}

fn field_name_ok(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn the_rfc_example() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(
            p.mx_text(),
            "mail.example.com, *.example.net, backupmx.example.com"
        );
    }

    #[test]
    fn accepted_variations() {
        // LF only, no final newline, no space after ':', trailing space, any order,
        // extension fields, mode none without mx, max_age bounds.
        let p = parse(
            "mode:testing\nmx: MX.Example.COM.\nversion: STSv1\nmax_age: 0\nfoo-bar: some thing",
        )
        .unwrap();
        assert_eq!((p.mode, p.max_age), (Mode::Testing, 0));
        assert_eq!(p.mx[0].as_str(), "mx.example.com");
        let p = parse("version: STSv1\nmode: none\nmax_age: 31557600 \n").unwrap();
        assert_eq!(
            (p.mode, p.max_age, p.mx.len()),
            (Mode::None, MAX_AGE_LIMIT, 0)
        );
        assert!(
            parse("version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 0000000001\n")
                .is_ok()
        );
    }

    #[test]
    fn invalid_policies() {
        let cases = [
            ("", "no fields"),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\n",
                "no max_age",
            ),
            ("version: STSv1\nmx: a.example\nmax_age: 1\n", "no mode"),
            ("mode: enforce\nmx: a.example\nmax_age: 1\n", "no version"),
            (
                "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
                "version",
            ),
            (
                "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
                "mode case",
            ),
            (
                "version: STSv1\nmode: reject\nmx: a.example\nmax_age: 1\n",
                "mode word",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\n",
                "enforce without mx",
            ),
            (
                "version: STSv1\nmode: testing\nmax_age: 1\n",
                "testing without mx",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
                "max_age limit",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n",
                "11 digits",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
                "negative",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: \n",
                "empty max_age",
            ),
            (
                "version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n",
                "mode twice",
            ),
            (
                "version: STSv1\nversion: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
                "version twice",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nmax_age: 2\n",
                "max_age twice",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
                "bad mx",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n",
                "inner wildcard",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 1\n",
                "one-label mx",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 1\n",
                "underscore in mx",
            ),
            (
                "version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 1\n",
                "empty line",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\ngarbage\n",
                "not a field",
            ),
            ("<html>\n<body>oops</body>\n", "html"),
            (
                "Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
                "field name case",
            ),
        ];
        for (text, what) in cases {
            assert!(parse(text).is_err(), "{what}: {text:?}");
        }
    }

    #[test]
    fn mx_pattern_matching() {
        let p = |s: &str| MxPattern::parse(s).unwrap();
        assert!(p("mail.example.com").matches("mail.example.com"));
        assert!(p("mail.example.com").matches("MAIL.Example.com."));
        assert!(!p("mail.example.com").matches("mail.example.com.evil"));
        assert!(!p("mail.example.com").matches("x.mail.example.com"));
        let w = p("*.Example.NET");
        assert_eq!(w.as_str(), "*.example.net");
        assert!(w.matches("mx1.example.net"));
        assert!(w.matches("MX1.example.net."));
        assert!(!w.matches("example.net"));
        assert!(!w.matches("a.b.example.net"));
        assert!(!w.matches(".example.net"));
        assert!(!w.matches("mx1.example.com"));
        assert!(!w.matches("mx1example.net"));
        for bad in [
            "",
            "*",
            "*.",
            "**.example.com",
            "a.*.example",
            "-a.example",
            "a-.example",
            "a b.example",
            "*example.com",
        ] {
            assert!(MxPattern::parse(bad).is_err(), "{bad:?}");
        }
        let pol = parse(GOOD).unwrap();
        assert!(pol.mx_matches("backupmx.example.com"));
        assert!(pol.mx_matches("x.example.net"));
        assert!(!pol.mx_matches("other.example.com"));
    }

    #[test]
    fn serde_round_trip() {
        let pol = parse(GOOD).unwrap();
        let json = serde_json::to_string(&pol).unwrap();
        assert!(
            json.contains("\"enforce\"") && json.contains("*.example.net"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), pol);
        assert!(serde_json::from_str::<MxPattern>("\"a..b\"").is_err());
    }
}
