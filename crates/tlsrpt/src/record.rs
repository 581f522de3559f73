//! The `_smtp._tls.<domain>` TXT record (RFC 8460 §3), parsed strictly:
//!
//! ```text
//! tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//! field-delim   = *WSP ";" *WSP
//! tlsrpt-version = %s"v=TLSRPTv1"
//! tlsrpt-rua    = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//! tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value   ; ignored
//! ```

use std::fmt;

/// Where reports go (RFC 8460 §3 `rua`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rua {
    /// `mailto:` (§5.3): the address, e.g. `tlsrpt@example.com`.
    Mailto(String),
    /// `https:` (§5.4): the whole URI.
    Https(String),
}

impl fmt::Display for Rua {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rua::Mailto(a) => write!(f, "mailto:{a}"),
            Rua::Https(u) => f.write_str(u),
        }
    }
}

/// A valid TLS-RPT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// The report destinations, in record order (at least one).
    pub rua: Vec<Rua>,
}

/// Why a TXT record is not a usable TLS-RPT record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Does not start with `v=TLSRPTv1` (not a TLS-RPT record at all).
    #[error("not a TLS-RPT record: it must begin with \"v=TLSRPTv1;\"")]
    NotTlsRpt,
    /// None of the TXT records is a TLS-RPT record.
    #[error("no TXT record begins with \"v=TLSRPTv1;\"")]
    None,
    /// More than one TXT record is a TLS-RPT record (§3: then there is none).
    #[error("{0} TXT records begin with \"v=TLSRPTv1;\" (exactly one is allowed)")]
    Several(usize),
    /// A syntax error.
    #[error("{0}")]
    Syntax(String),
}

impl TlsRptRecord {
    /// Picks the TLS-RPT record among the TXT records of `_smtp._tls.<domain>` (each
    /// given with its strings already concatenated) and parses it. RFC 8460 §3: records
    /// not beginning with `v=TLSRPTv1;` are discarded; unless exactly one remains, the
    /// domain does not implement TLS-RPT.
    pub fn select(txts: &[String]) -> Result<TlsRptRecord, RecordError> {
        let candidates: Vec<&String> = txts.iter().filter(|t| is_tlsrpt(t)).collect();
        match candidates.as_slice() {
            [] => Err(RecordError::None),
            [one] => TlsRptRecord::parse(one),
            many => Err(RecordError::Several(many.len())),
        }
    }

    /// Parses one record.
    pub fn parse(txt: &str) -> Result<TlsRptRecord, RecordError> {
        if !is_tlsrpt(txt) {
            return Err(RecordError::NotTlsRpt);
        }
        let rest = txt.get("v=TLSRPTv1".len()..).unwrap_or("");
        let mut rua: Option<Vec<Rua>> = None;
        // `rest` starts with the first field delimiter.
        let mut fields = rest.split(';');
        // Before the first ';': only whitespace (is_tlsrpt checked the ';').
        fields.next();
        let parts: Vec<&str> = fields.collect();
        let n = parts.len();
        for (i, raw) in parts.into_iter().enumerate() {
            let field = raw.trim_matches(is_wsp);
            if field.is_empty() {
                // Only a trailing delimiter may be followed by nothing.
                if i + 1 == n {
                    continue;
                }
                return Err(RecordError::Syntax("empty field between two ';'".into()));
            }
            let Some((name, value)) = field.split_once('=') else {
                return Err(RecordError::Syntax(format!(
                    "field {field:?} is not name=value"
                )));
            };
            if name == "rua" {
                if rua.is_some() {
                    return Err(RecordError::Syntax("more than one rua= field".into()));
                }
                rua = Some(parse_rua(value)?);
            } else if name == "v" {
                return Err(RecordError::Syntax("more than one v= field".into()));
            } else {
                check_extension(name, value)?;
            }
        }
        match rua {
            Some(rua) => Ok(TlsRptRecord { rua }),
            None => Err(RecordError::Syntax("no rua= field".into())),
        }
    }
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Begins with `v=TLSRPTv1` then a field delimiter (`*WSP ";"`).
fn is_tlsrpt(txt: &str) -> bool {
    txt.strip_prefix("v=TLSRPTv1")
        .is_some_and(|r| r.trim_start_matches(is_wsp).starts_with(';'))
}

/// `tlsrpt-ext-name "=" tlsrpt-ext-value` (unknown fields are ignored, §3).
fn check_extension(name: &str, value: &str) -> Result<(), RecordError> {
    let mut chars = name.chars();
    let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        return Err(RecordError::Syntax(format!("{name:?} is not a field name")));
    }
    let value_ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'=' && b != b';');
    if !value_ok {
        return Err(RecordError::Syntax(format!(
            "field {name}= has an invalid value {value:?}"
        )));
    }
    Ok(())
}

fn parse_rua(value: &str) -> Result<Vec<Rua>, RecordError> {
    let mut out = Vec::new();
    for uri in value.split(',') {
        let uri = uri.trim_matches(is_wsp);
        if uri.is_empty() {
            return Err(RecordError::Syntax("empty URI in rua=".into()));
        }
        out.push(parse_uri(uri)?);
    }
    Ok(out)
}

/// One `rua` URI: `mailto:local@domain` or `https://host[:port]/path`; nothing else.
fn parse_uri(uri: &str) -> Result<Rua, RecordError> {
    if uri.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(RecordError::Syntax(format!(
            "rua URI {uri:?} contains a space or a non-ASCII character"
        )));
    }
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or_else(|| RecordError::Syntax(format!("rua URI {uri:?} has no scheme")))?;
    if scheme.eq_ignore_ascii_case("mailto") {
        let addr = percent_decode(rest)?;
        let (local, domain) = addr
            .rsplit_once('@')
            .ok_or_else(|| RecordError::Syntax(format!("rua {uri:?}: the address has no '@'")))?;
        if local.is_empty() || !is_domain(domain) || addr.contains(['?', ',', '<', '>']) {
            return Err(RecordError::Syntax(format!(
                "rua {uri:?} is not a mailto: URI with one address"
            )));
        }
        Ok(Rua::Mailto(addr))
    } else if scheme.eq_ignore_ascii_case("https") {
        let after = rest.strip_prefix("//").ok_or_else(|| {
            RecordError::Syntax(format!("rua {uri:?}: an https URI needs \"//host\""))
        })?;
        let authority = after.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => {
                return Err(RecordError::Syntax(format!("rua {uri:?}: bad port")));
            }
            None => authority,
        };
        let host_ok = is_domain(host)
            || host.parse::<std::net::Ipv4Addr>().is_ok()
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        if authority.contains('@') || !host_ok {
            return Err(RecordError::Syntax(format!(
                "rua {uri:?}: {host:?} is not a host name"
            )));
        }
        Ok(Rua::Https(uri.to_string()))
    } else {
        Err(RecordError::Syntax(format!(
            "rua {uri:?}: only mailto: and https: are allowed"
        )))
    }
}

fn is_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `%XX` escapes of a mailto: address (RFC 6068 §2).
fn percent_decode(s: &str) -> Result<String, RecordError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| RecordError::Syntax(format!("bad %-escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| RecordError::Syntax(format!("bad %-escape in {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<Rua> {
        TlsRptRecord::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .rua
    }

    #[test]
    fn rfc_examples() {
        // RFC 8460 §3.1.
        assert_eq!(
            ok("v=TLSRPTv1;rua=mailto:reports@example.com"),
            vec![Rua::Mailto("reports@example.com".into())]
        );
        assert_eq!(
            ok("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"),
            vec![Rua::Https("https://reporting.example.com/v1/tlsrpt".into())]
        );
        assert_eq!(
            ok(
                "v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt"
            ),
            vec![
                Rua::Mailto("reports@example.com".into()),
                Rua::Https("https://reporting.example.com/v1/tlsrpt".into())
            ]
        );
    }

    #[test]
    fn delimiters_extensions_escapes() {
        assert_eq!(
            ok("v=TLSRPTv1 ;\trua=mailto:a@b.example ; "),
            vec![Rua::Mailto("a@b.example".into())]
        );
        assert_eq!(
            ok("v=TLSRPTv1; ext_1=foo; rua=mailto:a%2Bb@x.example , https://h.example:8443/r"),
            vec![
                Rua::Mailto("a+b@x.example".into()),
                Rua::Https("https://h.example:8443/r".into())
            ]
        );
    }

    #[test]
    fn strictness() {
        for bad in [
            "",
            "v=TLSRPTv1",
            "v=TLSRPTv1;",
            "v=tlsrptv1; rua=mailto:a@b.example",
            "v=TLSRPTv2; rua=mailto:a@b.example",
            " v=TLSRPTv1; rua=mailto:a@b.example",
            "rua=mailto:a@b.example; v=TLSRPTv1",
            "v=TLSRPTv1; rua=",
            "v=TLSRPTv1; rua=mailto:a@b.example,",
            "v=TLSRPTv1; rua=http://insecure.example/r",
            "v=TLSRPTv1; rua=ftp://x.example/r",
            "v=TLSRPTv1; rua=mailto:nobody",
            "v=TLSRPTv1; rua=mailto:@x.example",
            "v=TLSRPTv1; rua=mailto:a@b.example?subject=x",
            "v=TLSRPTv1; rua=https:/x.example",
            "v=TLSRPTv1; rua=https://user@x.example/",
            "v=TLSRPTv1; rua=https://x.example:port/",
            "v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example",
            "v=TLSRPTv1; rua=mailto:a@b.example;; x=y",
            "v=TLSRPTv1; rua=mailto:a@b.example; -x=1",
            "v=TLSRPTv1; rua=mailto:a@b.example; x=",
            "v=TLSRPTv1; rua=mailto:a@b.example; junk",
            "v=TLSRPTv1; rua=mailto:a@bad_domain.example",
            "v=TLSRPTv1; rua=mailto:a@b.example%",
            "v=TLSRPTv1; rua=mailto:ä@b.example",
        ] {
            assert!(TlsRptRecord::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn selection() {
        let one = vec![
            "v=spf1 -all".to_string(),
            "v=TLSRPTv1; rua=mailto:a@b.example".to_string(),
        ];
        assert!(TlsRptRecord::select(&one).is_ok());
        let two = vec![
            "v=TLSRPTv1; rua=mailto:a@b.example".to_string(),
            "v=TLSRPTv1; rua=mailto:c@b.example".to_string(),
        ];
        assert_eq!(TlsRptRecord::select(&two), Err(RecordError::Several(2)));
        assert_eq!(
            TlsRptRecord::select(&["v=spf1 -all".to_string()]),
            Err(RecordError::None)
        );
        // A record beginning right but broken is the one: no TLS-RPT.
        let broken = vec!["v=TLSRPTv1; rua=gopher://x".to_string()];
        assert!(matches!(
            TlsRptRecord::select(&broken),
            Err(RecordError::Syntax(_))
        ));
    }
}
