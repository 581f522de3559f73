//! Property: DATA framing never ends a message anywhere but at `<CRLF>.<CRLF>`
//! (RFC 5321 §4.1.1.4), whatever mix of CR, LF, dots and smuggling sequences
//! (`<LF>.<LF>`, `<CR>.<CRLF>`, `<LF>.<CRLF>`, `<CRLF>.<LF>`) the content holds.
//!
//! Each case is a real session over loopback TCP: DATA, then the generated content,
//! the end marker and QUIT in one write. The server must answer exactly once for the
//! message, then 221 for QUIT — had the message ended early, the rest of the content
//! would have been read as commands and drawn more replies; had it ended late, QUIT
//! would never be answered. An accepted message must be the content, dot-unstuffed
//! (RFC 5321 §4.5.2); content with a bare CR or LF must be refused, never normalised.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use tokio::runtime::Runtime;

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn server() -> &'static Running {
    static SRV: OnceLock<Running> = OnceLock::new();
    SRV.get_or_init(|| rt().block_on(start(params())))
}

/// Pieces the content is made of: ordinary text, every line-end variant, dots at
/// line starts, and the known smuggling sequences.
fn piece() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(vec![
        &b"x"[..],
        b"Subject: hi",
        b" ",
        b".",
        b"..",
        b"\r\n",
        b"\r",
        b"\n",
        b"\r\n.",
        b".\r\n",
        b"\n.\n",
        b"\r.\r\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r\n.\r",
        b"\r\r\n",
        b"\r\n\r\n",
    ])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The message the content stands for: its lines, each dot-unstuffed (RFC 5321 §4.5.2).
fn unstuffed(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(i) = find(rest, b"\r\n") {
        let line = &rest[..i];
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
        rest = &rest[i + 2..];
    }
    assert!(rest.is_empty());
    out
}

/// A bare CR or LF: one not part of a CRLF pair.
fn has_bare_newline(content: &[u8]) -> bool {
    content.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => content.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || content[i - 1] != b'\r',
        _ => false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn data_ends_only_at_crlf_dot_crlf(pieces in prop::collection::vec(piece(), 0..24)) {
        let body: Vec<u8> = pieces.concat();
        // The stream after the DATA command's own CRLF: the body, then the end marker.
        let mut stream = b"\r\n".to_vec();
        stream.extend_from_slice(&body);
        stream.extend_from_slice(b"\r\n.\r\n");
        // Only bodies whose first <CRLF>.<CRLF> is the one appended (else the message
        // legitimately ends earlier, which is a different case).
        prop_assume!(find(&stream, b"\r\n.\r\n") == Some(stream.len() - 5));
        let mut content = body.clone();
        content.extend_from_slice(b"\r\n");

        let srv = server();
        let (result, after, stored_before) = rt().block_on(async {
            let stored_before = srv.policy.messages().len();
            let mut c = Raw::ready(srv.addr).await;
            c.cmd("MAIL FROM:<a@client.example.test>", "250").await;
            c.cmd("RCPT TO:<b@example.test>", "250").await;
            c.cmd("DATA", "354").await;
            let mut rest = body.clone();
            rest.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
            c.send(&rest).await;
            let result = c.reply().await.unwrap_or_default();
            let after = c.reply().await.unwrap_or_default();
            let eof = c.reply().await;
            assert!(eof.is_none(), "a reply after QUIT's 221: {eof:?}");
            (result, after, stored_before)
        });
        prop_assert!(after.starts_with("221"), "after the message {result:?} came {after:?}, not QUIT's 221");
        if has_bare_newline(&body) {
            prop_assert!(result.starts_with("554 5.5.2"), "bare CR/LF accepted: {result:?}");
        } else {
            prop_assert!(result.starts_with("250"), "refused: {result:?}");
            let msgs = srv.policy.messages();
            let stored = msgs
                .iter()
                .skip(stored_before)
                .map(|m| without_received(&m.2))
                .collect::<Vec<_>>();
            prop_assert!(stored.contains(&unstuffed(&content)), "stored content differs");
        }
    }
}
