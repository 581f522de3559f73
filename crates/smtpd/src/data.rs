//! Strict DATA framing (RFC 5321 §4.1.1.4, §4.5.2) as an incremental decoder.
//!
//! * Only `<CRLF>.<CRLF>` ends the message (RFC 5321 §4.1.1.4). The DATA command's own
//!   CRLF counts as the first `<CRLF>`, so `.<CRLF>` right after the 354 is an empty
//!   message. A bare LF or a bare CR never ends a line, so none of the SMTP smuggling
//!   sequences (`<LF>.<LF>`, `<LF>.<CRLF>`, `<CR>.<CRLF>`, `<CRLF>.<LF>`) ends or splits
//!   the message.
//! * A bare CR or LF anywhere in the content makes the message invalid (RFC 5321
//!   §2.3.8: CR and LF only as the CRLF pair); it is read to its end and refused,
//!   never normalised (the same choice as Postfix' `smtpd_forbid_bare_newline`).
//! * A leading `.` of a line is removed (dot-unstuffing, RFC 5321 §4.5.2).
//! * A line longer than the limit (RFC 5321 §4.5.3.1.6: 1000 octets with the CRLF),
//!   a NUL octet (RFC 6152 §3: not even 8BITMIME allows NUL) or content larger than
//!   the size limit (RFC 1870 §6.3) makes the message invalid; it is read to the end,
//!   not buffered beyond the limit, and refused.

/// Why a message was refused after its end was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataError {
    /// More content than the size limit (RFC 1870 §6.3).
    TooBig,
    /// A NUL octet.
    Nul,
    /// A bare CR or bare LF (RFC 5321 §2.3.8).
    BareNewline,
    /// A line longer than the limit (RFC 5321 §4.5.3.1.6).
    LineTooLong,
}

/// Incremental DATA decoder; see the module documentation.
#[derive(Debug)]
pub(crate) struct DataReader {
    max_size: usize,
    max_line: usize,
    msg: Vec<u8>,
    /// Content octets seen (after unstuffing), also past the limit.
    size: usize,
    /// Octets of the current line after unstuffing (a stuffed dot does not count,
    /// RFC 5321 §4.5.2: it is transparency, not content; bare CRs and LFs count).
    line_len: usize,
    /// The current line began with a `.`.
    first_dot: bool,
    /// The previous octet was a CR not yet known to be part of a CRLF.
    pending_cr: bool,
    too_big: bool,
    nul: bool,
    bare: bool,
    too_long: bool,
}

impl DataReader {
    /// `max_line` counts the CRLF.
    pub(crate) fn new(max_size: usize, max_line: usize) -> Self {
        Self {
            max_size,
            max_line,
            msg: Vec::new(),
            size: 0,
            line_len: 0,
            first_dot: false,
            pending_cr: false,
            too_big: false,
            nul: false,
            bare: false,
            too_long: false,
        }
    }

    fn push(&mut self, b: u8) {
        self.line_len += 1;
        if self.line_len + 2 > self.max_line {
            self.too_long = true;
        }
        self.size = self.size.saturating_add(1);
        if self.too_big {
            return;
        }
        if self.size > self.max_size {
            self.too_big = true;
            self.msg = Vec::new();
            return;
        }
        self.msg.push(b);
    }

    fn content_byte(&mut self, b: u8) {
        if self.line_len == 0 && !self.first_dot && b == b'.' {
            // Possibly the end marker, else a stuffed dot (RFC 5321 §4.5.2).
            self.first_dot = true;
            return;
        }
        match b {
            0 => self.nul = true,
            b'\n' | b'\r' => self.bare = true,
            _ => {}
        }
        self.push(b);
    }

    /// Feeds received octets. Returns `Some(n)` once the end of data has been seen:
    /// `buf[..n]` was consumed (up to and including the final LF); the rest belongs to
    /// the next command. `None`: everything was consumed, more is needed.
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Option<usize> {
        for (i, &b) in buf.iter().enumerate() {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    // End of a line.
                    if self.first_dot && self.line_len == 0 {
                        return Some(i + 1);
                    }
                    self.push_crlf();
                    continue;
                }
                // A bare CR inside a line.
                self.content_byte(b'\r');
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                self.content_byte(b);
            }
        }
        None
    }

    fn push_crlf(&mut self) {
        if self.line_len + 2 > self.max_line {
            self.too_long = true;
        }
        // The CRLF is content too (RFC 1870 counts it).
        self.line_len = 0;
        self.first_dot = false;
        for b in [b'\r', b'\n'] {
            self.size = self.size.saturating_add(1);
            if !self.too_big {
                if self.size > self.max_size {
                    self.too_big = true;
                    self.msg = Vec::new();
                } else {
                    self.msg.push(b);
                }
            }
        }
    }

    /// Content octets received so far (after unstuffing).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The message after the end was seen, or why it is refused (the first of: too
    /// big, NUL, bare newline, long line).
    pub(crate) fn finish(self) -> Result<Vec<u8>, DataError> {
        if self.too_big {
            Err(DataError::TooBig)
        } else if self.nul {
            Err(DataError::Nul)
        } else if self.bare {
            Err(DataError::BareNewline)
        } else if self.too_long {
            Err(DataError::LineTooLong)
        } else {
            Ok(self.msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Option<usize>, Result<Vec<u8>, DataError>) {
        let mut r = DataReader::new(1_000_000, 1000);
        let end = r.feed(input);
        (end, r.finish())
    }

    /// Feeds one octet at a time (every split point).
    fn run_bytewise(input: &[u8]) -> (Option<usize>, Result<Vec<u8>, DataError>) {
        let mut r = DataReader::new(1_000_000, 1000);
        for (i, b) in input.iter().enumerate() {
            if r.feed(std::slice::from_ref(b)).is_some() {
                return (Some(i + 1), r.finish());
            }
        }
        (None, r.finish())
    }

    #[test]
    fn simple_and_unstuffing() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        for f in [run, run_bytewise] {
            let (end, msg) = f(input);
            assert_eq!(end, Some(input.len() - 6));
            assert_eq!(msg.unwrap(), b"Subject: x\r\n\r\n.leading dot\r\n");
        }
    }

    #[test]
    fn empty_message() {
        let (end, msg) = run(b".\r\n");
        assert_eq!(end, Some(3));
        assert_eq!(msg.unwrap(), b"");
    }

    #[test]
    fn smuggling_sequences_do_not_end_data() {
        for seq in [
            &b"a\n.\nb"[..],
            b"a\n.\r\nb",
            b"a\r.\r\nb",
            b"a\r\n.\nb",
            b"a\r\n.\rb",
        ] {
            let mut input = seq.to_vec();
            input.extend_from_slice(b"\r\n.\r\n");
            for f in [run, run_bytewise] {
                let (end, msg) = f(&input);
                assert_eq!(end, Some(input.len()), "{seq:?}");
                assert_eq!(msg, Err(DataError::BareNewline), "{seq:?}");
            }
        }
    }

    #[test]
    fn limits() {
        let mut r = DataReader::new(10, 1000);
        assert_eq!(r.feed(b"0123456789\r\n.\r\n"), Some(15));
        assert_eq!(r.finish(), Err(DataError::TooBig));
        let mut r = DataReader::new(10, 1000);
        assert_eq!(r.feed(b"01234567\r\n.\r\n"), Some(13));
        assert_eq!(r.finish().unwrap(), b"01234567\r\n");

        let mut r = DataReader::new(10_000, 10);
        assert_eq!(r.feed(b"12345678\r\n.\r\n"), Some(13));
        assert!(r.finish().is_ok());
        let mut r = DataReader::new(10_000, 10);
        assert_eq!(r.feed(b"123456789\r\n.\r\n"), Some(14));
        assert_eq!(r.finish(), Err(DataError::LineTooLong));

        let (_, msg) = run(b"a\0b\r\n.\r\n");
        assert_eq!(msg, Err(DataError::Nul));
    }

    /// A 998-octet content line whose first octet is a dot is sent as `..` + 997
    /// octets + CRLF (1001 octets on the wire); the stuffing dot is not content and
    /// must not count toward the 1000-octet limit (RFC 5321 §4.5.2, §4.5.3.1.6).
    #[test]
    fn stuffed_dot_does_not_count_toward_the_line_limit() {
        let mut content = vec![b'.'];
        content.extend(std::iter::repeat_n(b'x', 997));
        let mut wire = b".".to_vec();
        wire.extend_from_slice(&content);
        wire.extend_from_slice(b"\r\n.\r\n");
        for f in [run, run_bytewise] {
            let (end, msg) = f(&wire);
            assert_eq!(end, Some(wire.len()));
            let mut want = content.clone();
            want.extend_from_slice(b"\r\n");
            assert_eq!(msg, Ok(want));
        }
        // One more content octet is one too many.
        let mut wire = b"..".to_vec();
        wire.extend(std::iter::repeat_n(b'x', 998));
        wire.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(run(&wire).1, Err(DataError::LineTooLong));
    }
}
