//! Message content encoding for DATA (RFC 5321 §4.1.1.4, §4.5.2).

/// CRLF-normalises and dot-stuffs `body`, appending the `.` CRLF terminator.
///
/// - Every bare LF and bare CR becomes CRLF (RFC 5321 §2.3.8: lines end in CRLF only;
///   sending bare CR or LF invites SMTP smuggling misinterpretations downstream).
/// - A line starting with `.` gets one more `.` (RFC 5321 §4.5.2 transparency).
/// - A body not ending in CRLF gets one, so the terminator is always `CRLF . CRLF`.
///
/// Returns the encoded bytes and the message size as RFC 1870 counts it (normalised
/// content, without the stuffing dots and the terminator).
pub fn encode_data(body: &[u8]) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32 + 5);
    let mut size: u64 = 0;
    let mut at_line_start = true;
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        match b {
            b'\r' => {
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                out.extend_from_slice(b"\r\n");
                size += 2;
                at_line_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                size += 2;
                at_line_start = true;
            }
            b'.' if at_line_start => {
                out.extend_from_slice(b"..");
                size += 1;
                at_line_start = false;
            }
            _ => {
                out.push(b);
                size += 1;
                at_line_start = false;
            }
        }
        i += 1;
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
        size += 2;
    }
    out.extend_from_slice(b".\r\n");
    (out, size)
}

#[cfg(test)]
mod tests {
    use super::encode_data;

    fn enc(s: &str) -> String {
        String::from_utf8(encode_data(s.as_bytes()).0).unwrap()
    }

    #[test]
    fn stuffing_and_normalisation() {
        assert_eq!(enc(""), ".\r\n");
        assert_eq!(enc("a"), "a\r\n.\r\n");
        assert_eq!(enc("a\r\n"), "a\r\n.\r\n");
        assert_eq!(enc(".a\n.\n..b\r\n"), "..a\r\n..\r\n...b\r\n.\r\n");
        assert_eq!(enc("x\ry\n\rz"), "x\r\ny\r\n\r\nz\r\n.\r\n");
        assert_eq!(enc("a.b\r\n."), "a.b\r\n..\r\n.\r\n");
        assert_eq!(encode_data(b"ab\n.c").1, 8);
    }
}
