//! Belt-and-braces loop prevention: recognise messages that are themselves
//! automatic replies or delivery reports.
//!
//! The primary rule is the envelope one (RFC 5321 §6.1, RFC 3464 §2: a DSN is
//! sent with the null reverse-path, and a message with a null reverse-path never
//! gets a DSN; see [`crate::dsn_envelope`]). This check looks at the content as
//! well, for reports that arrive with a non-null sender (broken forwarders).

use mail_parser::{MessageParser, MimeHeaders};

/// True if `message` (a complete RFC 5322 message, or just its header section)
/// declares itself automatically generated:
///
/// - an `Auto-Submitted` field (RFC 3834 §5) with any value other than `no`
///   (`auto-replied`, `auto-generated`, `auto-notified`, extensions), or
/// - a top-level `Content-Type: multipart/report` with
///   `report-type=delivery-status` (RFC 3462, RFC 3464), i.e. a DSN.
///
/// Unparseable input is not auto-generated (false).
pub fn is_auto_generated(message: &[u8]) -> bool {
    let Some(parsed) = MessageParser::new().parse_headers(message) else {
        return false;
    };
    let auto_submitted = parsed
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Auto-Submitted"))
        .any(|(_, value)| {
            // auto-submitted-field = "Auto-Submitted:" [CFWS] auto-submitted [CFWS]
            //                        *( ";" [CFWS] optional-parameter [CFWS] )
            let keyword = strip_comments(value.split(';').next().unwrap_or_default());
            let keyword = keyword.trim();
            !keyword.is_empty() && !keyword.eq_ignore_ascii_case("no")
        });
    if auto_submitted {
        return true;
    }
    parsed.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("delivery-status"))
    })
}

/// Removes RFC 5322 comments `( ... )` (nesting allowed) from a field value.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut escaped = false;
    for c in value.chars() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
        } else if c == '(' {
            depth = 1;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_submitted_values() {
        let yes = [
            "Auto-Submitted: auto-replied\r\nSubject: x\r\n\r\nbody",
            "Auto-Submitted: auto-generated\r\n\r\n",
            "auto-submitted: Auto-Notified; owner-email=\"a@b\"\r\n\r\n",
            "Auto-Submitted: (comment) auto-replied\r\n\r\n",
            "Subject: x\r\nAuto-Submitted: x-some-extension\r\n\r\n",
        ];
        for m in yes {
            assert!(is_auto_generated(m.as_bytes()), "{m:?}");
        }
        let no = [
            "Auto-Submitted: no\r\nSubject: x\r\n\r\nbody",
            "Auto-Submitted: No (a person wrote this)\r\n\r\n",
            "Subject: hello\r\n\r\nAuto-Submitted: auto-replied\r\n",
            "Subject: hello\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
            "Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n\r\n",
            "",
        ];
        for m in no {
            assert!(!is_auto_generated(m.as_bytes()), "{m:?}");
        }
    }

    #[test]
    fn delivery_status_reports() {
        let m = "From: MAILER-DAEMON@x\r\nContent-Type: multipart/report;\r\n report-type=\"Delivery-Status\"; boundary=\"b\"\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        assert!(is_auto_generated(m.as_bytes()));
    }
}
