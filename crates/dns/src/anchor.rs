//! Trust anchors: the root KSKs built in, or a file of DS / DNSKEY lines
//! (zone-file syntax, as unbound's `root.key` and IANA's `root-anchors` publish them).
//!
//! RFC 4033 §3.1 (trust anchors), RFC 4035 §5 (authentication chain).

use std::{fmt, io::Read as _, path::Path, str::FromStr as _};

use data_encoding::BASE64;
use hickory_proto::{
    dnssec::{
        Algorithm, PublicKey, PublicKeyBuf,
        rdata::{DNSKEY, DNSSECRData, DS},
    },
    rr::{Name, RData, RecordType},
};

/// The root zone's KSKs in DS form: KSK-2017 (tag 20326) and KSK-2024 (tag 38696),
/// as IANA publishes them.
pub const ROOT_ANCHORS: &str = "\
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
";

/// The largest trust-anchor file read (64 KiB). IANA's root anchors and unbound's
/// `root.key` are a few hundred bytes; the bound keeps a wrong path (a log, a device)
/// from being read whole into memory and into an error message.
pub const MAX_ANCHOR_FILE: u64 = 64 * 1024;

/// The longest piece of a line quoted in an error message, in characters.
const MAX_QUOTE: usize = 48;

/// One trust anchor: a DS or a DNSKEY for a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// A DS record: the zone's DNSKEY RRset must contain a key matching it.
    Ds(DS),
    /// A DNSKEY record: the zone's DNSKEY RRset must contain this key.
    Dnskey(DNSKEY),
}

/// A set of trust anchors, each for a zone (usually the root alone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchors {
    anchors: Vec<(Name, Anchor)>,
    source: String,
}

/// A trust-anchor file that could not be read, with the line and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The file could not be read.
    #[error("cannot read trust-anchor file {path}: {err}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// A line is not a DS or DNSKEY record in zone-file syntax.
    #[error("{source_name}:{line}: {msg}")]
    Syntax {
        /// The file name (or "built-in").
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        msg: String,
    },
    /// The path is not a regular UTF-8 text file of at most [`MAX_ANCHOR_FILE`] bytes.
    #[error("trust-anchor file {path}: {why}")]
    Unusable {
        /// The file.
        path: String,
        /// Why (never the file's content).
        why: String,
    },
    /// The file holds no DS or DNSKEY record at all.
    #[error("{0}: no DS or DNSKEY record found")]
    Empty(String),
}

impl TrustAnchors {
    /// The built-in root anchors.
    pub fn builtin() -> Self {
        match Self::parse(ROOT_ANCHORS, "built-in root anchors") {
            Ok(a) => a,
            // The constant above is checked by a unit test; an empty set would make
            // every answer insecure, so fail closed to "no anchors" only in theory.
            Err(_) => TrustAnchors {
                anchors: Vec::new(),
                source: "built-in (unparsable)".into(),
            },
        }
    }

    /// Reads a trust-anchor file: a regular file of UTF-8 text, at most
    /// [`MAX_ANCHOR_FILE`] bytes. Errors never quote the file beyond a short, sanitised
    /// piece of a line that has the shape of a DNS record (see [`TrustAnchors::parse`]),
    /// so pointing this at a file that is not a trust-anchor file reveals nothing of it.
    pub fn from_file(path: &Path) -> Result<Self, AnchorError> {
        let name = path.display().to_string();
        let io = |err| AnchorError::Io {
            path: name.clone(),
            err,
        };
        let unusable = |why: &str| AnchorError::Unusable {
            path: name.clone(),
            why: why.to_string(),
        };
        // A FIFO or a device would block or never end: only regular files.
        if !std::fs::metadata(path).map_err(io)?.is_file() {
            return Err(unusable("is not a regular file"));
        }
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_ANCHOR_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_ANCHOR_FILE {
            return Err(unusable(&format!(
                "is larger than {} KiB (a trust-anchor file holds a few DS or DNSKEY lines)",
                MAX_ANCHOR_FILE / 1024
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| unusable("is not UTF-8 text"))?;
        Self::parse(&text, &name)
    }

    /// Parses DS and DNSKEY lines in zone-file syntax: `owner [ttl] [class] type rdata`,
    /// `;` comments, parentheses spanning lines (RFC 1035 §5.1). Other record types are
    /// an error.
    ///
    /// An error names the line and what was wrong. It quotes (at most 48 characters,
    /// control and non-ASCII characters replaced by `?`) only from a line whose type field
    /// is a record type: any other line is reported without its content, so that a file
    /// given by mistake (or on purpose) leaks nothing.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, AnchorError> {
        let mut anchors = Vec::new();
        for (line_no, entry) in logical_lines(text) {
            let err = |msg: String| AnchorError::Syntax {
                source_name: source_name.to_string(),
                line: line_no,
                msg,
            };
            let mut tokens = entry.split_whitespace();
            let Some(owner_text) = tokens.next() else {
                continue;
            };
            let mut rtype_text = None;
            for tok in tokens.by_ref() {
                if tok.eq_ignore_ascii_case("IN") || tok.chars().all(|c| c.is_ascii_digit()) {
                    continue; // class or TTL
                }
                rtype_text = Some(tok);
                break;
            }
            let rest: Vec<&str> = tokens.collect();
            // The type field decides whether the line has the shape of a record at all.
            let rtype = rtype_text.and_then(|t| {
                RecordType::from_str(&t.to_ascii_uppercase())
                    .ok()
                    .filter(|t| !matches!(t, RecordType::Unknown(_)))
            });
            let Some(rtype) = rtype else {
                return Err(err(
                    if rtype_text.is_none() && Name::from_ascii(owner_text).is_ok() {
                        "missing record type".into()
                    } else {
                        "not a DS or DNSKEY record in zone-file syntax (content not shown)".into()
                    },
                ));
            };
            let mut owner = Name::from_ascii(owner_text)
                .map_err(|e| err(format!("bad owner name {}: {e}", quote(owner_text))))?;
            owner.set_fqdn(true);
            let rdata_text = rest.join(" ");
            let anchor = match rtype {
                RecordType::DS => match RData::try_from_str(RecordType::DS, &rdata_text) {
                    Ok(RData::DNSSEC(DNSSECRData::DS(ds))) => Anchor::Ds(ds),
                    Ok(_) => return Err(err("DS rdata did not parse as DS".into())),
                    Err(e) => {
                        return Err(err(format!(
                            "bad DS rdata {}: {}",
                            quote(&rdata_text),
                            sanitize(&e.to_string(), 2 * MAX_QUOTE)
                        )));
                    }
                },
                RecordType::DNSKEY => Anchor::Dnskey(parse_dnskey(&rest).map_err(err)?),
                other => {
                    return Err(err(format!(
                        "record type {other} is not a trust anchor (expected DS or DNSKEY)"
                    )));
                }
            };
            anchors.push((owner, anchor));
        }
        if anchors.is_empty() {
            return Err(AnchorError::Empty(source_name.to_string()));
        }
        Ok(TrustAnchors {
            anchors,
            source: source_name.to_string(),
        })
    }

    /// Where these anchors came from (a file name or "built-in root anchors").
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The anchors for `zone`.
    pub fn for_zone<'a>(&'a self, zone: &'a Name) -> impl Iterator<Item = &'a Anchor> + 'a {
        self.anchors
            .iter()
            .filter(move |(n, _)| n == zone)
            .map(|(_, a)| a)
    }

    /// The deepest anchored zone at or above `name`, if any.
    pub fn closest(&self, name: &Name) -> Option<&Name> {
        self.anchors
            .iter()
            .map(|(n, _)| n)
            .filter(|n| n.zone_of(name))
            .max_by_key(|n| n.num_labels())
    }

    /// Every anchor, for display.
    pub fn iter(&self) -> impl Iterator<Item = &(Name, Anchor)> {
        self.anchors.iter()
    }
}

impl Anchor {
    /// The key tag and algorithm number of the key this anchor names (`None` when the
    /// tag of a DNSKEY anchor cannot be computed).
    pub fn key_tag_and_algorithm(&self) -> Option<(u16, u8)> {
        match self {
            Anchor::Ds(ds) => Some((ds.key_tag(), u8::from(ds.algorithm()))),
            Anchor::Dnskey(k) => k
                .calculate_key_tag()
                .ok()
                .map(|t| (t, u8::from(k.public_key().algorithm()))),
        }
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::Ds(ds) => write!(f, "DS {ds}"),
            Anchor::Dnskey(k) => write!(f, "DNSKEY {k}"),
        }
    }
}

/// `s` with every character but printable ASCII replaced by `?`, cut to `max`
/// characters (`...` marks a cut).
fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// A piece of a record-shaped line for an error message: sanitised, bounded, quoted.
fn quote(s: &str) -> String {
    format!("\"{}\"", sanitize(s, MAX_QUOTE))
}

/// DNSKEY presentation format (RFC 4034 §2.2): flags, protocol (3), algorithm, base64 key.
fn parse_dnskey(fields: &[&str]) -> Result<DNSKEY, String> {
    let [flags, protocol, algorithm, key @ ..] = fields else {
        return Err("DNSKEY needs flags, protocol, algorithm and a base64 key".into());
    };
    let flags: u16 = flags
        .parse()
        .map_err(|_| format!("bad DNSKEY flags {}", quote(flags)))?;
    if *protocol != "3" {
        return Err(format!(
            "bad DNSKEY protocol {} (must be 3)",
            quote(protocol)
        ));
    }
    let algorithm: u8 = algorithm
        .parse()
        .map_err(|_| format!("bad DNSKEY algorithm {}", quote(algorithm)))?;
    if key.is_empty() {
        return Err("DNSKEY has no key".into());
    }
    let bytes = BASE64.decode(key.concat().as_bytes()).map_err(|e| {
        format!(
            "bad DNSKEY key (base64): {}",
            sanitize(&e.to_string(), MAX_QUOTE)
        )
    })?;
    Ok(DNSKEY::with_flags(
        flags,
        PublicKeyBuf::new(bytes, Algorithm::from_u8(algorithm)),
    ))
}

/// Splits zone-file text into logical lines: comments removed, parenthesised
/// continuations joined. Yields (first line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut depth = 0i32;
    for (i, raw) in text.lines().enumerate() {
        let mut line = String::new();
        let mut in_quote = false;
        for c in raw.chars() {
            match c {
                '"' => {
                    in_quote = !in_quote;
                    line.push(c);
                }
                ';' if !in_quote => break,
                '(' if !in_quote => {
                    depth += 1;
                    line.push(' ');
                }
                ')' if !in_quote => {
                    depth -= 1;
                    line.push(' ');
                }
                _ => line.push(c),
            }
        }
        if current.is_empty() {
            start = i + 1;
        }
        current.push(' ');
        current.push_str(&line);
        if depth <= 0 {
            depth = 0;
            if !current.trim().is_empty() {
                out.push((start, current.trim().to_string()));
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_root_anchors_parse() {
        let a = TrustAnchors::parse(ROOT_ANCHORS, "built-in").unwrap();
        let tags: Vec<u16> = a
            .iter()
            .map(|(_, a)| match a {
                Anchor::Ds(ds) => ds.key_tag(),
                Anchor::Dnskey(_) => 0,
            })
            .collect();
        assert_eq!(tags, vec![20326, 38696]);
        assert_eq!(
            a.closest(&Name::from_ascii("ietf.org.").unwrap()),
            Some(&Name::root())
        );
    }

    #[test]
    fn dnskey_with_parentheses_and_comments() {
        let text = "; a comment\n. 172800 IN DNSKEY 257 3 13 (\n  mdsswUyr3DPW132mOi8V9xESWE8jTo0d\n  xCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== ) ; KSK\n";
        let a = TrustAnchors::parse(text, "t").unwrap();
        assert_eq!(a.iter().count(), 1);
        assert!(matches!(a.iter().next().unwrap().1, Anchor::Dnskey(_)));
    }

    #[test]
    fn errors_name_the_line_and_problem() {
        let e = TrustAnchors::parse(". IN DS 20326 8 2 ZZZZ\n", "f.key").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("f.key:1: bad DS rdata"), "{s}");
        let e = TrustAnchors::parse("\n\nexample. IN A 192.0.2.1\n", "f.key").unwrap_err();
        assert!(
            e.to_string()
                .contains("f.key:3: record type A is not a trust anchor"),
            "{e}"
        );
        let e = TrustAnchors::parse("; nothing\n", "f.key").unwrap_err();
        assert_eq!(e.to_string(), "f.key: no DS or DNSKEY record found");
        let e = TrustAnchors::parse(". IN\n", "f.key").unwrap_err();
        assert!(e.to_string().contains("missing record type"), "{e}");
        let e = TrustAnchors::parse(". IN DNSKEY 257 2 13 AAAA\n", "f.key").unwrap_err();
        assert!(e.to_string().contains("protocol"), "{e}");
        let e = TrustAnchors::parse(". IN DNSKEY 257 3 13 !!!\n", "f.key").unwrap_err();
        assert!(e.to_string().contains("base64"), "{e}");
    }

    /// Regression (issue 10, point 1): the content of a file that is not a trust-anchor
    /// file never appears in the error (it used to: `bad owner name "root:*:..."`).
    #[test]
    fn errors_do_not_reveal_a_file_that_is_not_an_anchor_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "s3cr3tHash";
        let cases = [
            format!("root:$6$salt${secret}:19000:0:99999:7:::\nbin:*:19000::::::\n"),
            format!("HOME=/root\0PASSWORD={secret}\0PATH=/bin\0"),
            format!("admin {secret}\n"),
            format!("password = {secret}\n"),
            format!("$argon2id$v=19$m=19456,t=2,p=1${secret}\n"),
            format!("0123abcd 1700000000 {secret}\n"),
            format!("user A {secret}\n"),
            format!("\u{1b}[31m{secret}\n"),
        ];
        for (i, text) in cases.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, text).unwrap();
            let e = TrustAnchors::from_file(&p).unwrap_err().to_string();
            assert!(!e.contains(secret), "case {i} leaks: {e}");
            assert!(!e.contains("root:"), "case {i} leaks: {e}");
            assert!(e.len() < 200 + p.display().to_string().len(), "{e}");
        }
    }

    /// A record-shaped line is quoted, but only a bounded, sanitised piece of it.
    #[test]
    fn quotes_from_record_lines_are_bounded_and_sanitised() {
        let long = "A".repeat(10_000);
        let e = TrustAnchors::parse(&format!(". IN DS 20326 8 2 {long}\u{1b}\n"), "f")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f:1: bad DS rdata"), "{e}");
        assert!(e.len() < 300, "{} bytes: {e}", e.len());
        assert!(!e.contains('\u{1b}'), "{e}");
        let e = TrustAnchors::parse(". IN DNSKEY 257 \u{7}x 13 AAAA\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad DNSKEY protocol \"?x\""), "{e}");
    }

    /// Regression (issue 10, point 1): a large file is refused without being read whole
    /// (it used to produce a 63 MB error for a 10 MB file), and so are non-files.
    #[test]
    fn large_files_and_non_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let line =
            ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
        std::fs::write(&p, line.repeat(2 * MAX_ANCHOR_FILE as usize / line.len())).unwrap();
        let e = TrustAnchors::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("is larger than 64 KiB"), "{e}");
        let e = TrustAnchors::from_file(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is not a regular file"), "{e}");
        let p = dir.path().join("bin");
        std::fs::write(&p, [0xff, 0xfe, b's', b'e', b'c']).unwrap();
        let e = TrustAnchors::from_file(&p).unwrap_err().to_string();
        assert!(e.ends_with("is not UTF-8 text"), "{e}");
        // A good file still loads.
        let p = dir.path().join("root.key");
        std::fs::write(&p, ROOT_ANCHORS).unwrap();
        assert_eq!(TrustAnchors::from_file(&p).unwrap().iter().count(), 2);
    }
}
