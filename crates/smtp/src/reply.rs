//! SMTP replies: framing, the reply code, RFC 3463 enhanced status codes.
//!
//! RFC 5321 §4.2: a reply is one or more lines `CODE-text` ending with a line `CODE text`
//! (or `CODE` alone); every line of a multi-line reply carries the same code. RFC 2034 §4
//! puts an enhanced status code (`class.subject.detail`, RFC 3463 §2) at the start of each
//! line's text when the server advertises ENHANCEDSTATUSCODES.

use std::fmt;

/// Longest accepted reply line, CRLF included.
///
/// RFC 5321 §4.5.3.1.5 sets 512 octets for a reply line but §4.5.3.1 asks receivers to
/// be liberal; real servers occasionally exceed 512 octets with long explanatory text, so
/// (like Postfix's `line_length_limit`) we accept up to 2048 octets and call anything
/// longer a protocol error.
pub const MAX_REPLY_LINE: usize = 2048;

/// Most lines accepted in one multi-line reply (an EHLO reply has one per extension).
pub const MAX_REPLY_LINES: usize = 128;

/// An RFC 3463 enhanced mail system status code, e.g. `5.1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// Subject, 0–999.
    pub subject: u16,
    /// Detail, 0–999.
    pub detail: u16,
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl EnhancedStatus {
    /// Parses `class.subject.detail` (RFC 3463 §2: class 2, 4 or 5; subject and detail of
    /// 1–3 digits without leading zeros beyond the value itself).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let class = parts.next()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let class: u8 = match class {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        let num = |p: &str| -> Option<u16> {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        Some(Self {
            class,
            subject: num(subject)?,
            detail: num(detail)?,
        })
    }
}

/// One complete SMTP reply (RFC 5321 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (RFC 5321 §4.2.1), 200–599.
    pub code: u16,
    /// The enhanced status code of the first line, when present (RFC 2034 §4).
    pub enhanced: Option<EnhancedStatus>,
    /// The text of each line, without code, separator, enhanced status code or CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2yz: positive completion (RFC 5321 §4.2.1).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3yz: positive intermediate (e.g. 354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4yz: transient negative completion: the same command may succeed later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5yz: permanent negative completion.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// All text lines joined with a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// A synthetic reply, for callers that need to record an outcome without a server
    /// reply (tests, local failures).
    pub fn new(code: u16, enhanced: Option<EnhancedStatus>, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced,
            lines: vec![text.into()],
        }
    }

    /// Parses the lines of one reply, each without its line ending.
    ///
    /// Each line must be `DDD`, `DDD text` or `DDD-text` with the same code on every line,
    /// the first digit 2–5 (RFC 5321 §4.2); only the last line may use the space separator.
    pub(crate) fn from_lines(raw: &[Vec<u8>]) -> Result<Self, String> {
        let mut code = None;
        let mut enhanced = None;
        let mut lines = Vec::with_capacity(raw.len());
        for (i, line) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            let (c, sep, text) = split_line(line)?;
            match code {
                None => code = Some(c),
                Some(prev) if prev != c => {
                    return Err(format!("multi-line reply changes code from {prev} to {c}"));
                }
                Some(_) => {}
            }
            match sep {
                Some(b'-') if last => {
                    return Err("reply ends with a continuation line".into());
                }
                Some(b' ') | None if !last => {
                    return Err("reply continues after its last line".into());
                }
                _ => {}
            }
            let text = String::from_utf8_lossy(text).into_owned();
            // RFC 2034 §4: the enhanced code prefixes the text of every line.
            let (esc, rest) = match text.split_once(' ') {
                Some((first, rest)) => (EnhancedStatus::parse(first), rest),
                None => (EnhancedStatus::parse(&text), ""),
            };
            match esc {
                // Only accepted when its class agrees with the reply code (RFC 3463 §2).
                Some(e) if u16::from(e.class) == c / 100 => {
                    if i == 0 {
                        enhanced = Some(e);
                    }
                    lines.push(rest.to_string());
                }
                _ => lines.push(text),
            }
        }
        let code = code.ok_or_else(|| "empty reply".to_string())?;
        Ok(Self {
            code,
            enhanced,
            lines,
        })
    }
}

/// Splits `DDD[ -]text` into (code, separator, text).
fn split_line(line: &[u8]) -> Result<(u16, Option<u8>, &[u8]), String> {
    let shown = || {
        let n = line.len().min(40);
        format!(
            "{:?}",
            String::from_utf8_lossy(line.get(..n).unwrap_or_default())
        )
    };
    let (digits, rest) = match line {
        [a, b, c, rest @ ..] => ([*a, *b, *c], rest),
        _ => return Err(format!("reply line too short: {}", shown())),
    };
    if !(b'2'..=b'5').contains(&digits[0])
        || !digits[1].is_ascii_digit()
        || !digits[2].is_ascii_digit()
    {
        return Err(format!(
            "reply line does not start with a reply code: {}",
            shown()
        ));
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let (sep, text) = match rest {
        [] => (None, rest),
        [sep @ (b' ' | b'-'), text @ ..] => (Some(*sep), text),
        _ => return Err(format!("bad separator after reply code: {}", shown())),
    };
    if text.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(format!("control characters in reply text: {}", shown()));
    }
    Ok((code, sep, text))
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<Reply, String> {
        let raw: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
        Reply::from_lines(&raw)
    }

    #[test]
    fn single_line() {
        let r = parse(&["250 OK"]).unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.enhanced, None);
        assert_eq!(r.lines, vec!["OK"]);
        assert!(r.is_positive());
    }

    #[test]
    fn enhanced_multiline() {
        let r = parse(&["550-5.1.1 No such user", "550 5.1.1 here"]).unwrap();
        assert_eq!(r.code, 550);
        assert_eq!(
            r.enhanced,
            Some(EnhancedStatus {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(r.lines, vec!["No such user", "here"]);
        assert_eq!(r.to_string(), "550 5.1.1 No such user here");
        assert!(r.is_permanent());
    }

    #[test]
    fn code_only_and_mismatched_class() {
        let r = parse(&["354"]).unwrap();
        assert_eq!(r.code, 354);
        assert!(r.lines[0].is_empty());
        // A class that disagrees with the code is kept as text.
        let r = parse(&["250 5.0.0 odd"]).unwrap();
        assert_eq!(r.enhanced, None);
        assert_eq!(r.text(), "5.0.0 odd");
    }

    #[test]
    fn garbage() {
        for bad in [
            &["hello"][..],
            &["25"],
            &["250x"],
            &["650 nope"],
            &["250-a", "251 b"],
            &["250-a"],
            &["250 a", "250 b"],
            &["250 a\0b"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn enhanced_status_parse() {
        assert!(EnhancedStatus::parse("4.7.0").is_some());
        assert!(EnhancedStatus::parse("3.1.1").is_none());
        assert!(EnhancedStatus::parse("5.1").is_none());
        assert!(EnhancedStatus::parse("5.1.1234").is_none());
        assert!(EnhancedStatus::parse("5.a.1").is_none());
    }
}
