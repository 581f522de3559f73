//! Every DSN built here is parsed back with mail-parser and checked field by field
//! against RFC 3462 / RFC 3464 / RFC 3463.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use danegate_bounce::{
    DsnAction, DsnError, DsnInput, DsnKind, DsnRecipient, ReturnContent, build_dsn, build_dsn_at,
    dsn_envelope, is_auto_generated, is_valid_status,
};
use mail_parser::{DateTime, Message, MessageParser, MessagePart, MimeHeaders, PartType};

const T0: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 +0000

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const ORIGINAL: &str = "Received: from internal.example.org\r\n\
From: Alice <alice@example.org>\r\n\
To: bob@example.com, carol@example.net\r\n\
Subject: quarterly report\r\n\
Message-ID: <orig-1@example.org>\r\n\
X-Long: a header\r\n\
\x20folded over two lines\r\n\
\r\n\
BODY-MARKER: the secret figures are 42.\r\n\
second line\r\n";

fn dane_rcpt() -> DsnRecipient {
    DsnRecipient {
        final_recipient: "bob@example.com".into(),
        original_recipient: Some("rfc822;Bob@Example.com".into()),
        action: DsnAction::Failed,
        status: "5.7.5".into(),
        remote_mta: Some("mx1.example.com".into()),
        diagnostic: Some("DANE; DANE FAILED for example.com: no TLSA record matched".into()),
        last_attempt: Some(at(T0 + 72 * 3600 - 60)),
        will_retry_until: None,
    }
}

fn smtp_rcpt() -> DsnRecipient {
    DsnRecipient {
        final_recipient: "<carol@example.net>".into(),
        original_recipient: None,
        action: DsnAction::Failed,
        status: "5.1.1".into(),
        remote_mta: Some("mx.example.net".into()),
        diagnostic: Some("smtp; 550 5.1.1 <carol@example.net>: no such user".into()),
        last_attempt: Some(at(T0 + 5)),
        will_retry_until: None,
    }
}

fn input(message: &[u8]) -> DsnInput<'_> {
    DsnInput {
        reporting_mta: "gw.example.org".into(),
        arrival_date: at(T0),
        original_sender: "alice@example.org".into(),
        original_envelope_id: Some("QQ-314159".into()),
        original_message: message,
        return_content: ReturnContent::default(),
        max_returned_bytes: 50_000,
        kind: DsnKind::Failed,
        recipients: vec![dane_rcpt(), smtp_rcpt()],
    }
}

/// The parsed report: top-level message and its three (or two) parts.
struct Report<'a> {
    msg: Message<'a>,
}

impl<'a> Report<'a> {
    fn parse(raw: &'a [u8]) -> Self {
        let msg = MessageParser::new().parse(raw).expect("DSN parses");
        let root = msg.root_part();
        let ct = root.content_type().expect("content type");
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        Report { msg }
    }
    fn parts(&self) -> Vec<&MessagePart<'a>> {
        let ids = self.msg.root_part().sub_parts().expect("multipart");
        ids.iter().map(|&id| &self.msg.parts[id as usize]).collect()
    }
    fn part_type(&self, i: usize) -> String {
        let p = self.parts()[i];
        let ct = p.content_type().expect("part content type");
        format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
    }
    fn text(&self) -> String {
        self.parts()[0].text_contents().expect("text").to_string()
    }
    /// The delivery-status fields: group 0 per-message, then one per recipient.
    fn status_groups(&self) -> Vec<BTreeMap<String, String>> {
        let raw = std::str::from_utf8(self.parts()[1].contents()).expect("7-bit report");
        assert!(raw.is_ascii());
        let mut groups = Vec::new();
        for block in raw.split("\r\n\r\n").filter(|b| !b.trim().is_empty()) {
            let mut fields = BTreeMap::new();
            let unfolded = block.replace("\r\n ", " ").replace("\r\n\t", " ");
            for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
                let (name, value) = line.split_once(':').expect("field");
                let prev = fields.insert(name.to_string(), value.trim().to_string());
                assert!(prev.is_none(), "duplicate {name}");
            }
            groups.push(fields);
        }
        groups
    }
}

fn header(raw: &[u8], name: &str) -> String {
    let msg = MessageParser::new().parse_headers(raw).expect("headers");
    msg.header_raw(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .trim()
        .to_string()
}

fn assert_date(value: &str, expected: u64) {
    // RFC 5322 §3.3: day-name "," day month year time zone
    let parts: Vec<&str> = value.split(' ').collect();
    assert_eq!(parts.len(), 6, "{value}");
    assert!(parts[0].ends_with(',') && parts[0].len() == 4, "{value}");
    assert!(parts[5] == "+0000", "{value}");
    let dt = DateTime::parse_rfc822(value).unwrap_or_else(|| panic!("bad date {value}"));
    assert_eq!(dt.to_timestamp(), expected as i64, "{value}");
}

fn assert_wire_clean(raw: &[u8]) {
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' {
            assert_eq!(raw.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in raw.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "line of {} octets", line.len());
    }
}

#[test]
fn failed_dsn_headers_only() {
    let input = input(ORIGINAL.as_bytes());
    let raw = build_dsn_at(&input, at(T0 + 72 * 3600)).unwrap();
    assert_wire_clean(&raw);
    let r = Report::parse(&raw);

    // Top-level headers.
    let from = r.msg.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some("MAILER-DAEMON@gw.example.org"));
    assert_eq!(from.name(), Some("Mail Delivery System"));
    assert_eq!(
        r.msg.to().unwrap().first().unwrap().address(),
        Some("alice@example.org")
    );
    assert_eq!(r.msg.subject(), Some("Undelivered Mail Returned to Sender"));
    assert_eq!(header(&raw, "Auto-Submitted"), "auto-replied");
    assert_date(&header(&raw, "Date"), T0 + 72 * 3600);
    assert!(r.msg.message_id().unwrap().ends_with("@gw.example.org"));
    assert!(is_auto_generated(&raw));

    // Three parts, in order.
    assert_eq!(r.parts().len(), 3);
    assert_eq!(r.part_type(0), "text/plain");
    assert_eq!(r.part_type(1), "message/delivery-status");
    assert_eq!(r.part_type(2), "text/rfc822-headers");

    // Per-message fields.
    let groups = r.status_groups();
    assert_eq!(groups.len(), 3);
    let m = &groups[0];
    assert_eq!(m["Reporting-MTA"], "dns; gw.example.org");
    assert_eq!(m["Original-Envelope-Id"], "QQ-314159");
    assert_date(&m["Arrival-Date"], T0);
    assert_eq!(m.len(), 3);

    // Per-recipient fields.
    let d = &groups[1];
    assert_eq!(d["Final-Recipient"], "rfc822; bob@example.com");
    assert_eq!(d["Original-Recipient"], "rfc822; Bob@Example.com");
    assert_eq!(d["Action"], "failed");
    assert_eq!(d["Status"], "5.7.5");
    assert_eq!(d["Remote-MTA"], "dns; mx1.example.com");
    assert_eq!(
        d["Diagnostic-Code"],
        "X-DANE; DANE FAILED for example.com: no TLSA record matched"
    );
    assert_date(&d["Last-Attempt-Date"], T0 + 72 * 3600 - 60);
    assert!(!d.contains_key("Will-Retry-Until"));
    assert_eq!(d.len(), 7);

    let s = &groups[2];
    assert_eq!(s["Final-Recipient"], "rfc822; carol@example.net");
    assert!(!s.contains_key("Original-Recipient"));
    assert_eq!(s["Action"], "failed");
    assert_eq!(s["Status"], "5.1.1");
    assert_eq!(s["Remote-MTA"], "dns; mx.example.net");
    assert_eq!(
        s["Diagnostic-Code"],
        "smtp; 550 5.1.1 <carol@example.net>: no such user"
    );
    assert_date(&s["Last-Attempt-Date"], T0 + 5);
    for g in &groups[1..] {
        assert!(is_valid_status(&g["Status"]));
    }

    // The human-readable part explains each recipient, DANE in plain words.
    let text = r.text().replace("\r\n    ", " ").replace("\r\n", "\n");
    assert!(text.contains("<bob@example.com>:"), "{text}");
    assert!(
        text.contains("could not be authenticated with DANE"),
        "{text}"
    );
    assert!(text.contains("never sent in clear text"), "{text}");
    assert!(text.contains("mx1.example.com"), "{text}");
    assert!(text.contains("no TLSA record matched"), "{text}");
    assert!(text.contains("<carol@example.net>: host mx.example.net said: 550 5.1.1"));
    assert!(text.contains("headers of your original message are attached"));

    // RET=HDRS: the headers come back, the body does not.
    let returned = std::str::from_utf8(r.parts()[2].contents()).unwrap();
    assert!(returned.contains("Subject: quarterly report"));
    assert!(returned.contains("Message-ID: <orig-1@example.org>"));
    assert!(returned.contains("X-Long: a header\r\n folded over two lines"));
    assert!(!returned.contains("BODY-MARKER"));
    assert!(!String::from_utf8_lossy(&raw).contains("BODY-MARKER"));
}

#[test]
fn delayed_dsn() {
    let mut input = input(ORIGINAL.as_bytes());
    input.kind = DsnKind::Delayed;
    input.original_envelope_id = None;
    input.recipients = vec![DsnRecipient {
        action: DsnAction::Delayed,
        status: "4.7.5".into(),
        will_retry_until: Some(at(T0 + 72 * 3600)),
        ..dane_rcpt()
    }];
    // A failed recipient in a delay notice never carries Will-Retry-Until.
    input.recipients.push(DsnRecipient {
        will_retry_until: Some(at(T0 + 72 * 3600)),
        ..smtp_rcpt()
    });
    let raw = build_dsn_at(&input, at(T0 + 4 * 3600)).unwrap();
    assert_wire_clean(&raw);
    let r = Report::parse(&raw);
    assert_eq!(r.msg.subject(), Some("Delayed Mail (still being retried)"));
    assert_eq!(r.parts().len(), 3);
    let groups = r.status_groups();
    assert!(!groups[0].contains_key("Original-Envelope-Id"));
    let d = &groups[1];
    assert_eq!(d["Action"], "delayed");
    assert_eq!(d["Status"], "4.7.5");
    assert_date(&d["Will-Retry-Until"], T0 + 72 * 3600);
    assert!(!groups[2].contains_key("Will-Retry-Until"));
    let text = r.text().replace("\r\n    ", " ");
    assert!(text.contains("WARNING ONLY"), "{text}");
    assert!(text.contains("after 4 hours"), "{text}");
    assert!(text.contains("not yet sent"), "{text}");
    assert!(
        text.contains("retried until Fri, 17 Nov 2023 22:13:20 +0000"),
        "{text}"
    );
    assert_eq!(r.part_type(2), "text/rfc822-headers");
}

#[test]
fn full_return_includes_the_body() {
    let mut input = input(ORIGINAL.as_bytes());
    input.return_content = ReturnContent::Full;
    let raw = build_dsn(&input).unwrap();
    assert_wire_clean(&raw);
    let r = Report::parse(&raw);
    assert_eq!(r.parts().len(), 3);
    assert_eq!(r.part_type(2), "message/rfc822");
    let PartType::Message(orig) = &r.parts()[2].body else {
        panic!("not a nested message");
    };
    assert_eq!(orig.subject(), Some("quarterly report"));
    assert_eq!(orig.message_id(), Some("orig-1@example.org"));
    assert!(orig.body_text(0).unwrap().contains("BODY-MARKER"));
    assert!(
        String::from_utf8_lossy(&raw).contains("Content-Transfer-Encoding: 7bit\r\n\r\nReceived:")
    );
    assert!(r.text().contains("original message is attached"));
}

#[test]
fn full_return_8bit_and_bare_newlines() {
    let original = "Subject: caf\u{e9}\nFrom: a@example.org\n\nJ\u{f6}rg's BODY-MARKER\rend";
    let mut input = input(original.as_bytes());
    input.return_content = ReturnContent::Full;
    let raw = build_dsn(&input).unwrap();
    assert_wire_clean(&raw);
    let r = Report::parse(&raw);
    assert_eq!(r.part_type(2), "message/rfc822");
    assert!(String::from_utf8_lossy(&raw).contains("Content-Transfer-Encoding: 8bit"));
    let PartType::Message(orig) = &r.parts()[2].body else {
        panic!("not a nested message");
    };
    assert!(
        orig.body_text(0)
            .unwrap()
            .contains("J\u{f6}rg's BODY-MARKER")
    );
}

#[test]
fn full_return_too_large_falls_back_to_headers() {
    let mut input = input(ORIGINAL.as_bytes());
    input.return_content = ReturnContent::Full;
    input.max_returned_bytes = ORIGINAL.len() - 1;
    let raw = build_dsn(&input).unwrap();
    let r = Report::parse(&raw);
    assert_eq!(r.parts().len(), 3);
    assert_eq!(r.part_type(2), "text/rfc822-headers");
    let returned = std::str::from_utf8(r.parts()[2].contents()).unwrap();
    assert!(returned.contains("Subject: quarterly report"));
    assert!(!String::from_utf8_lossy(&raw).contains("BODY-MARKER"));
    let text = r.text().replace("\r\n", " ");
    assert!(text.contains("larger than the"), "{text}");

    // Exactly at the limit it still fits.
    input.max_returned_bytes = ORIGINAL.len();
    let raw = build_dsn(&input).unwrap();
    assert_eq!(Report::parse(&raw).part_type(2), "message/rfc822");

    // Lines over 998 octets cannot travel as message/rfc822.
    let long = format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(1200));
    let mut input = self::input(long.as_bytes());
    input.return_content = ReturnContent::Full;
    let raw = build_dsn(&input).unwrap();
    assert_wire_clean(&raw);
    assert_eq!(Report::parse(&raw).part_type(2), "text/rfc822-headers");
}

#[test]
fn returned_headers_are_truncated_at_a_field_boundary() {
    let mut input = input(ORIGINAL.as_bytes());
    // Room for Received + From, and part of To.
    input.max_returned_bytes =
        "Received: from internal.example.org\r\nFrom: Alice <alice@example.org>\r\nTo:".len();
    let raw = build_dsn(&input).unwrap();
    let r = Report::parse(&raw);
    let returned = std::str::from_utf8(r.parts()[2].contents()).unwrap();
    assert!(returned.starts_with("Received: from internal.example.org\r\nFrom: Alice"));
    assert!(!returned.contains("To:"), "{returned}");
    // Inside a folded field: the whole field goes.
    let cut = ORIGINAL.find(" folded over").unwrap();
    input.max_returned_bytes = cut + 3;
    let raw = build_dsn(&input).unwrap();
    let r = Report::parse(&raw);
    let returned = std::str::from_utf8(r.parts()[2].contents()).unwrap();
    assert!(returned.contains("Message-ID:") && !returned.contains("X-Long"));
    // Not even one field fits: the third part is left out (RFC 3462 allows it).
    input.max_returned_bytes = 0;
    let raw = build_dsn(&input).unwrap();
    let r = Report::parse(&raw);
    assert_eq!(r.parts().len(), 2);
    assert_eq!(r.part_type(1), "message/delivery-status");
    assert!(r.text().contains("not attached"));
}

#[test]
fn null_sender_never_gets_a_dsn() {
    for null in ["", "<>", "  <> ", " "] {
        let mut input = input(ORIGINAL.as_bytes());
        input.original_sender = null.into();
        assert!(
            matches!(build_dsn(&input), Err(DsnError::NullSender)),
            "{null:?}"
        );
        assert_eq!(dsn_envelope(null), None, "{null:?}");
    }
    assert_eq!(
        dsn_envelope("alice@example.org"),
        Some((String::new(), "alice@example.org".to_string()))
    );
    assert_eq!(
        dsn_envelope("<alice@example.org>"),
        Some((String::new(), "alice@example.org".to_string()))
    );
}

#[test]
fn bad_inputs_are_errors() {
    let mut i = input(ORIGINAL.as_bytes());
    i.recipients.clear();
    assert!(matches!(build_dsn(&i), Err(DsnError::NoRecipients)));

    for bad in ["550", "5.1", "2.0.0", "5.01.1", "x.y.z", ""] {
        let mut i = input(ORIGINAL.as_bytes());
        i.recipients[1].status = bad.into();
        match build_dsn(&i) {
            Err(DsnError::InvalidStatus { recipient, status }) => {
                assert_eq!(recipient, "<carol@example.net>");
                assert_eq!(status, bad);
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }

    for bad in ["", "gw example", "a@b", "gw\r\nX: y"] {
        let mut i = input(ORIGINAL.as_bytes());
        i.reporting_mta = bad.into();
        assert!(
            matches!(build_dsn(&i), Err(DsnError::InvalidReportingMta(_))),
            "{bad:?}"
        );
    }

    let mut i = input(ORIGINAL.as_bytes());
    i.original_sender = "alice@example.org\r\nBcc: victim@example.com".into();
    assert!(matches!(build_dsn(&i), Err(DsnError::InvalidSender(_))));
}

#[test]
fn hostile_recipient_fields_cannot_inject() {
    let mut input = input(ORIGINAL.as_bytes());
    input.recipients = vec![DsnRecipient {
        final_recipient: "bob@example.com\r\nAction: delivered".into(),
        remote_mta: Some("mx.example.com\r\n\r\nFinal-Recipient: rfc822; x@y".into()),
        diagnostic: Some(format!(
            "smtp; 550 {} caf\u{e9}\r\n550 second line {}",
            "very-long-word ".repeat(40),
            "z".repeat(1500)
        )),
        ..smtp_rcpt()
    }];
    let raw = build_dsn(&input).unwrap();
    assert_wire_clean(&raw);
    let r = Report::parse(&raw);
    let groups = r.status_groups();
    assert_eq!(groups.len(), 2);
    let g = &groups[1];
    assert_eq!(g["Action"], "failed");
    assert_eq!(
        g["Final-Recipient"],
        "rfc822; bob@example.com Action: delivered"
    );
    assert!(g["Diagnostic-Code"].starts_with("smtp; 550 very-long-word"));
    assert!(g["Diagnostic-Code"].contains("caf? 550 second line"));
}

#[test]
fn non_ascii_recipient_uses_utf8_address_type() {
    let mut input = input(ORIGINAL.as_bytes());
    input.recipients = vec![DsnRecipient {
        final_recipient: "j\u{f6}rg@b\u{fc}cher.example".into(),
        ..smtp_rcpt()
    }];
    let raw = build_dsn(&input).unwrap();
    let r = Report::parse(&raw);
    assert_eq!(
        r.status_groups()[1]["Final-Recipient"],
        "utf-8; j\\x{F6}rg@b\\x{FC}cher.example"
    );
    assert!(r.text().contains("<j\u{f6}rg@b\u{fc}cher.example>"));
}

#[test]
fn minimal_recipient() {
    let mut input = input(b"Subject: only headers, no body");
    input.original_envelope_id = None;
    input.recipients = vec![DsnRecipient {
        final_recipient: "x@example.com".into(),
        original_recipient: None,
        action: DsnAction::Failed,
        status: "4.4.7".into(),
        remote_mta: None,
        diagnostic: None,
        last_attempt: None,
        will_retry_until: None,
    }];
    let raw = build_dsn(&input).unwrap();
    let r = Report::parse(&raw);
    let g = &r.status_groups()[1];
    assert_eq!(g.len(), 3, "{g:?}");
    assert_eq!(g["Status"], "4.4.7");
    assert!(r.text().contains("delivery time expired"));
    let returned = std::str::from_utf8(r.parts()[2].contents()).unwrap();
    assert_eq!(returned.trim_end(), "Subject: only headers, no body");
}

#[test]
fn auto_generated_detection_on_ordinary_mail() {
    assert!(!is_auto_generated(ORIGINAL.as_bytes()));
}

#[test]
#[ignore = "prints a sample DSN: cargo test -p danegate-bounce -- --ignored --nocapture"]
fn print_sample() {
    let mut input = input(ORIGINAL.as_bytes());
    input.return_content = ReturnContent::Full;
    println!("{}", String::from_utf8_lossy(&build_dsn(&input).unwrap()));
}
