//! Delivery Status Notifications: RFC 3464 reports inside an RFC 3462
//! `multipart/report`, with RFC 3463 enhanced status codes.
//!
//! The MIME structure is built with `mail-builder`; this module writes only the
//! *content* of the `message/delivery-status` part (its fields are defined by
//! RFC 3464 §2) and of the human-readable notice.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;

/// Default for [`DsnInput::max_returned_bytes`]: Postfix's `bounce_size_limit`.
pub const DEFAULT_MAX_RETURNED_BYTES: usize = 50_000;

/// RFC 5322 §2.1.1: no line longer than 998 octets, excluding the CRLF.
const MAX_LINE: usize = 998;
/// Folding target for the fields of the delivery-status part.
const FOLD_AT: usize = 78;
/// Width of the human-readable notice.
const TEXT_WIDTH: usize = 72;

/// What of the original message goes back with the DSN (RFC 3461 §4.3, the
/// `RET` parameter of `MAIL FROM`). Without `RET`, headers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnContent {
    /// `RET=HDRS`: the header section, as `text/rfc822-headers` (RFC 3462 §3).
    #[default]
    Headers,
    /// `RET=FULL`: the whole message, as `message/rfc822`, if it fits in
    /// [`DsnInput::max_returned_bytes`]; otherwise its headers only.
    Full,
}

/// Which notice this is: a failure (bounce) or a delay warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnKind {
    /// Some recipients failed permanently or their retries ran out.
    Failed,
    /// Some recipients are still queued; this is a warning only.
    Delayed,
}

/// The RFC 3464 §2.3.3 `Action` of one recipient. A relay only ever reports
/// these two: `delivered`, `relayed` and `expanded` are not failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// `Action: failed`.
    Failed,
    /// `Action: delayed`.
    Delayed,
}

impl DsnAction {
    /// The field value, as written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
        }
    }
}

/// One recipient of the report (RFC 3464 §2.3, "per-recipient fields").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The envelope recipient the relay tried (`Final-Recipient: rfc822; ...`).
    /// A bare address (angle brackets are removed) or `type; address`.
    pub final_recipient: String,
    /// The `ORCPT` parameter (RFC 3461 §4.2) with its xtext decoded, e.g.
    /// `rfc822;bob@example.com`; a bare address is taken as `rfc822`.
    pub original_recipient: Option<String>,
    /// `failed` or `delayed`.
    pub action: DsnAction,
    /// RFC 3463 status code: `4.x.x` or `5.x.x` (e.g. `5.7.5`, `4.7.5`, `5.1.1`).
    pub status: String,
    /// The remote MTA's host name (`Remote-MTA: dns; ...`), if one answered.
    pub remote_mta: Option<String>,
    /// `type; text`, e.g. `smtp; 550 5.1.1 no such user` or
    /// `DANE; DANE FAILED for example.com: no TLSA record matched`. Types other
    /// than `smtp` are written with an `X-` prefix (RFC 3464 §2.3.6); text that
    /// starts with an SMTP reply code and has no type is taken as `smtp`.
    pub diagnostic: Option<String>,
    /// `Last-Attempt-Date` (RFC 3464 §2.3.7).
    pub last_attempt: Option<SystemTime>,
    /// `Will-Retry-Until` (RFC 3464 §2.3.8); written only for `delayed`.
    pub will_retry_until: Option<SystemTime>,
}

/// Everything a DSN says about one message.
#[derive(Debug, Clone)]
pub struct DsnInput<'a> {
    /// Host name of this relay: `Reporting-MTA: dns; <name>`, and the domain of
    /// the `MAILER-DAEMON` From address.
    pub reporting_mta: String,
    /// When this relay received the message (`Arrival-Date`).
    pub arrival_date: SystemTime,
    /// The envelope sender (`MAIL FROM`) of the original message: the DSN goes to
    /// it. Must not be empty: the null sender never gets a DSN (RFC 5321 §6.1,
    /// RFC 3464 §2), see [`DsnError::NullSender`].
    pub original_sender: String,
    /// The `ENVID` parameter (RFC 3461 §4.4), xtext decoded.
    pub original_envelope_id: Option<String>,
    /// The original message as received (header section and body).
    pub original_message: &'a [u8],
    /// `RET=HDRS` or `RET=FULL`.
    pub return_content: ReturnContent,
    /// The most of the original returned with [`ReturnContent::Full`]; a larger
    /// message is returned as headers only. The header section returned is
    /// itself cut to this size at a header field boundary.
    pub max_returned_bytes: usize,
    /// Failure or delay notice: chooses the Subject and the wording.
    pub kind: DsnKind,
    /// The recipients reported on (at least one).
    pub recipients: Vec<DsnRecipient>,
}

/// Why no DSN could be built.
#[derive(Debug, thiserror::Error)]
pub enum DsnError {
    /// The original sender is the null reverse-path `<>`: never a bounce of a
    /// bounce (RFC 5321 §6.1, RFC 3464 §2).
    #[error("null sender <>: a DSN is never sent to the null reverse-path (RFC 5321 §6.1)")]
    NullSender,
    /// The original sender contains control characters or spaces.
    #[error("original sender {0:?} is not a usable address")]
    InvalidSender(String),
    /// The reporting MTA name is empty or not a host name.
    #[error("reporting MTA {0:?} is not a host name")]
    InvalidReportingMta(String),
    /// There is nothing to report.
    #[error("a DSN needs at least one recipient")]
    NoRecipients,
    /// A status code is not an RFC 3463 code of a failure or delay.
    #[error(
        "recipient {recipient:?}: status {status:?} is not an RFC 3463 status code \
         of class 4 or 5 (like 5.1.1 or 4.7.5)"
    )]
    InvalidStatus {
        /// The recipient whose status is wrong.
        recipient: String,
        /// The offending status.
        status: String,
    },
    /// Serialising the message failed.
    #[error("writing the DSN: {0}")]
    Build(#[from] std::io::Error),
}

/// The SMTP envelope for sending a DSN about a message from `original_sender`:
/// `MAIL FROM:<>` (always the null reverse-path, RFC 3464 §2 / RFC 5321 §4.5.5,
/// so the DSN itself can never bounce back) and `RCPT TO:<original_sender>`.
///
/// `None` when the original sender is null (`""` or `<>`): never a bounce of a
/// bounce (RFC 5321 §6.1).
pub fn dsn_envelope(original_sender: &str) -> Option<(String, String)> {
    let sender = bare_address(original_sender);
    if sender.is_empty() {
        None
    } else {
        Some((String::new(), sender.to_string()))
    }
}

/// True if `status` is a well-formed RFC 3463 §2 status code of a failure or
/// delay: `class "." subject "." detail`, class `4` or `5`, subject and detail
/// 1–3 digits without leading zeros (`0` itself allowed).
pub fn is_valid_status(status: &str) -> bool {
    let mut parts = status.split('.');
    let (Some(class), Some(subject), Some(detail), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let number = |s: &str| {
        !s.is_empty()
            && s.len() <= 3
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'))
    };
    matches!(class, "4" | "5") && number(subject) && number(detail)
}

/// Builds the DSN (an RFC 5322 message with CRLF line endings), dated now.
/// See [`build_dsn_at`].
pub fn build_dsn(input: &DsnInput<'_>) -> Result<Vec<u8>, DsnError> {
    build_dsn_at(input, SystemTime::now())
}

/// Builds the DSN as of `now` (its `Date` header; the age quoted in a delay
/// warning).
///
/// The message is `From: Mail Delivery System <MAILER-DAEMON@reporting_mta>`,
/// `To:` the original sender, `Auto-Submitted: auto-replied` (RFC 3834 §5), with a
/// `multipart/report; report-type=delivery-status` body (RFC 3462) of three parts:
/// 1. `text/plain`: a notice for people, one paragraph per recipient, which for a
///    DANE failure says that the server could not be authenticated with DANE and
///    that the message was not sent in clear text;
/// 2. `message/delivery-status` (RFC 3464 §2), 7-bit;
/// 3. the original: `message/rfc822` (`RET=FULL` and it fits in
///    `max_returned_bytes`, transfer encoding `7bit` or `8bit` per its content;
///    a message with NUL bytes or lines over 998 octets is returned as headers
///    only) or `text/rfc822-headers` (RFC 3462 §3). The third part is left out
///    when not even one header field fits in `max_returned_bytes`.
///
/// If the returned original contains 8-bit data, the DSN does too, and must be
/// sent with `BODY=8BITMIME`.
pub fn build_dsn_at(input: &DsnInput<'_>, now: SystemTime) -> Result<Vec<u8>, DsnError> {
    let sender = bare_address(&input.original_sender);
    if sender.is_empty() {
        return Err(DsnError::NullSender);
    }
    if sender.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(DsnError::InvalidSender(input.original_sender.clone()));
    }
    let mta = input.reporting_mta.trim();
    if mta.is_empty() || !mta.bytes().all(|b| b.is_ascii_graphic() && b != b'@') {
        return Err(DsnError::InvalidReportingMta(input.reporting_mta.clone()));
    }
    if input.recipients.is_empty() {
        return Err(DsnError::NoRecipients);
    }
    for r in &input.recipients {
        if !is_valid_status(r.status.trim()) {
            return Err(DsnError::InvalidStatus {
                recipient: r.final_recipient.clone(),
                status: r.status.clone(),
            });
        }
    }

    let returned = returned_original(input);
    let notice = human_notice(input, mta, &returned, now);
    let report = delivery_status(input, mta);

    let mut parts = vec![
        MimePart::new("text/plain", notice).header("Content-Description", Raw::new("Notification")),
        MimePart::new(ContentType::new("message/delivery-status"), report)
            .header("Content-Description", Raw::new("Delivery report"))
            .transfer_encoding("7bit"),
    ];
    let what = match input.kind {
        DsnKind::Failed => "Undelivered Message",
        DsnKind::Delayed => "Delayed Message",
    };
    match returned {
        Returned::Full { message, encoding } => parts.push(
            MimePart::new(ContentType::new("message/rfc822"), message)
                .header("Content-Description", Raw::new(what))
                .transfer_encoding(encoding),
        ),
        Returned::Headers { headers, .. } if !headers.is_empty() => parts.push(
            MimePart::new(ContentType::new("text/rfc822-headers"), headers)
                .header("Content-Description", Raw::new(format!("{what} Headers"))),
        ),
        Returned::Headers { .. } => {}
    }

    let subject = match input.kind {
        DsnKind::Failed => "Undelivered Mail Returned to Sender",
        DsnKind::Delayed => "Delayed Mail (still being retried)",
    };
    let message = MessageBuilder::new()
        .from(Address::new_address(
            Some("Mail Delivery System"),
            format!("MAILER-DAEMON@{mta}"),
        ))
        .to(Address::new_address(None::<&str>, sender.to_string()))
        .subject(subject)
        .date(Date::new(unix_seconds(now)))
        .message_id(MessageId::new(format!(
            "dsn.{:x}.{:016x}@{mta}",
            unix_seconds(now),
            rand::random::<u64>()
        )))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            parts,
        ));
    Ok(message.write_to_vec()?)
}

// ---------------------------------------------------------------------------
// The returned original (RFC 3462 §2 third part).

/// What of the original goes into the third part, and why.
enum Returned {
    Full {
        message: Vec<u8>,
        encoding: &'static str,
    },
    Headers {
        headers: Vec<u8>,
        why: HeadersWhy,
    },
}

enum HeadersWhy {
    /// `RET=HDRS` (or no RET).
    Requested,
    /// `RET=FULL` but the message exceeds the limit.
    TooLarge { size: usize, limit: usize },
    /// `RET=FULL` but it is binary (NUL, lines over 998 octets).
    NotSevenOrEightBit,
}

fn returned_original(input: &DsnInput<'_>) -> Returned {
    let message = normalize_crlf(input.original_message);
    let why = match input.return_content {
        ReturnContent::Headers => HeadersWhy::Requested,
        ReturnContent::Full if message.len() > input.max_returned_bytes => HeadersWhy::TooLarge {
            size: message.len(),
            limit: input.max_returned_bytes,
        },
        ReturnContent::Full if message.contains(&0) || longest_line(&message) > MAX_LINE => {
            HeadersWhy::NotSevenOrEightBit
        }
        ReturnContent::Full => {
            let encoding = if message.is_ascii() { "7bit" } else { "8bit" };
            return Returned::Full { message, encoding };
        }
    };
    let headers = header_section(&message);
    let headers = cut_at_field(headers, input.max_returned_bytes).to_vec();
    Returned::Headers { headers, why }
}

/// Converts bare LF and bare CR to CRLF and makes the data end with CRLF.
fn normalize_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 50 + 2);
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn longest_line(data: &[u8]) -> usize {
    data.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).len())
        .max()
        .unwrap_or(0)
}

/// The header section of a CRLF-normalised message, up to (excluding) the empty
/// line; the whole message if it has no empty line.
fn header_section(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &[];
    }
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => message.get(..at + 2).unwrap_or(message),
        None => message,
    }
}

/// The longest prefix of `headers` (CRLF lines) no longer than `limit` that ends
/// at a header field boundary (a line not starting with SP or HTAB follows).
fn cut_at_field(headers: &[u8], limit: usize) -> &[u8] {
    if headers.len() <= limit {
        return headers;
    }
    let mut best = 0;
    let mut at = 0;
    while let Some(nl) = headers
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let end = at + nl + 1;
        if end > limit {
            break;
        }
        let next = headers.get(end).copied();
        if !matches!(next, Some(b' ' | b'\t')) {
            best = end;
        }
        at = end;
    }
    headers.get(..best).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// message/delivery-status (RFC 3464 §2).

fn delivery_status(input: &DsnInput<'_>, mta: &str) -> Vec<u8> {
    let mut out = String::new();
    field(
        &mut out,
        "Reporting-MTA",
        &format!("dns; {}", ascii_text(mta)),
    );
    if let Some(envid) = &input.original_envelope_id {
        let envid = ascii_text(envid);
        if !envid.is_empty() {
            field(&mut out, "Original-Envelope-Id", &envid);
        }
    }
    field(&mut out, "Arrival-Date", &rfc5322_date(input.arrival_date));
    for r in &input.recipients {
        out.push_str("\r\n");
        field(
            &mut out,
            "Final-Recipient",
            &typed_address(&r.final_recipient, "rfc822"),
        );
        if let Some(orcpt) = &r.original_recipient
            && !bare_address(orcpt).is_empty()
        {
            field(
                &mut out,
                "Original-Recipient",
                &typed_address(orcpt, "rfc822"),
            );
        }
        field(&mut out, "Action", r.action.as_str());
        field(&mut out, "Status", r.status.trim());
        if let Some(host) = &r.remote_mta
            && !host.trim().is_empty()
        {
            field(&mut out, "Remote-MTA", &typed_address(host, "dns"));
        }
        if let Some(diag) = &r.diagnostic
            && !diag.trim().is_empty()
        {
            field(&mut out, "Diagnostic-Code", &diagnostic_code(diag).0);
        }
        if let Some(t) = r.last_attempt {
            field(&mut out, "Last-Attempt-Date", &rfc5322_date(t));
        }
        if r.action == DsnAction::Delayed
            && let Some(t) = r.will_retry_until
        {
            field(&mut out, "Will-Retry-Until", &rfc5322_date(t));
        }
    }
    out.into_bytes()
}

/// Appends `Name: value` CRLF, folding at spaces near [`FOLD_AT`] columns and
/// breaking words that would not fit in [`MAX_LINE`].
fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    let mut column = name.len() + 1;
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        let mut word = word;
        if column + 1 + word.len() > FOLD_AT && column > name.len() + 1 {
            out.push_str("\r\n");
            column = 0;
        }
        // A single token too long for any line: split it (rare; diagnostics only).
        while column + 1 + word.len() > MAX_LINE {
            let room = MAX_LINE.saturating_sub(column + 1).max(1);
            let cut = floor_char_boundary(word, room);
            let (head, tail) = word.split_at(cut);
            out.push(' ');
            out.push_str(head);
            out.push_str("\r\n");
            column = 0;
            word = tail;
        }
        out.push(' ');
        out.push_str(word);
        column += 1 + word.len();
    }
    out.push_str("\r\n");
}

/// The largest char boundary of `s` at or below `at`, but at least one character.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    if at == 0 {
        // Never an empty head: take the whole first character.
        at = s.char_indices().nth(1).map_or(s.len(), |(i, _)| i);
    }
    at
}

/// `type; address` for Final-Recipient / Original-Recipient / Remote-MTA.
/// Input may already carry a type (`rfc822;a@b`). Non-ASCII addresses use the
/// `utf-8` address type of RFC 6533 §3 with `\x{HEX}` escapes.
fn typed_address(raw: &str, default_type: &str) -> String {
    let (kind, addr) = split_type(raw).unwrap_or((default_type, raw));
    let addr = bare_address(addr);
    if addr.is_ascii() {
        return format!("{kind}; {}", ascii_text(addr));
    }
    let kind = if kind.eq_ignore_ascii_case("rfc822") {
        "utf-8"
    } else {
        kind
    };
    let mut encoded = String::with_capacity(addr.len() + 16);
    for c in addr.chars() {
        if c.is_ascii_graphic() && !matches!(c, '\\' | '+' | '=') {
            encoded.push(c);
        } else {
            let _ = write!(encoded, "\\x{{{:X}}}", u32::from(c));
        }
    }
    format!("{kind}; {encoded}")
}

/// Splits `type; rest` where type is an RFC 3464 atom-like token (letters,
/// digits, `-`).
fn split_type(raw: &str) -> Option<(&str, &str)> {
    let (kind, rest) = raw.split_once(';')?;
    let kind = kind.trim();
    let is_token = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    is_token.then_some((kind, rest.trim()))
}

/// Whether a diagnostic is about DANE, and its `Diagnostic-Code` value.
/// Returns (field value, is DANE, the text after the type).
fn diagnostic_code(raw: &str) -> (String, bool, String) {
    let raw = raw.trim();
    let (kind, text) = match split_type(raw) {
        Some((kind, text)) => (kind.to_string(), text),
        None => {
            let smtp = raw.len() >= 3
                && raw.bytes().take(3).all(|b| b.is_ascii_digit())
                && matches!(raw.as_bytes().first(), Some(b'2'..=b'5'));
            (if smtp { "smtp" } else { "X-danegate" }.to_string(), raw)
        }
    };
    let kind = if kind.eq_ignore_ascii_case("smtp") {
        "smtp".to_string()
    } else if kind.len() > 2 && kind.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-")) {
        kind
    } else {
        format!("X-{kind}")
    };
    let is_dane = kind.eq_ignore_ascii_case("x-dane")
        || text
            .to_ascii_lowercase()
            .replace("danegate", "")
            .contains("dane");
    (
        format!("{kind}; {}", ascii_text(text)),
        is_dane,
        clean_text(text),
    )
}

/// Printable US-ASCII only: control characters become spaces, other non-ASCII
/// characters `?` (message/delivery-status is 7-bit, RFC 3464 §2.1.2), runs of
/// whitespace one space.
fn ascii_text(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c {
            c if c.is_ascii_graphic() => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Like [`ascii_text`] but keeps non-ASCII letters (for the human notice).
fn clean_text(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An address without surrounding spaces and angle brackets.
fn bare_address(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
        .trim()
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// RFC 5322 §3.3 date-time, in UTC: `Tue, 5 Feb 2019 13:20:03 +0000`.
fn rfc5322_date(t: SystemTime) -> String {
    Date::new(unix_seconds(t)).to_rfc822()
}

// ---------------------------------------------------------------------------
// The human-readable notice (RFC 3462 §2, first part).

fn human_notice(input: &DsnInput<'_>, mta: &str, returned: &Returned, now: SystemTime) -> String {
    fn para(out: &mut String, text: &str) {
        out.push_str(&wrap(text, TEXT_WIDTH, ""));
        out.push_str("\r\n");
    }
    let mut out = String::new();
    para(
        &mut out,
        &format!("This is the mail delivery system at {mta}."),
    );
    match input.kind {
        DsnKind::Failed => {
            para(
                &mut out,
                "Your message could not be delivered to the recipients listed below. \
                 Delivery has been abandoned: the message will not be tried again.",
            );
        }
        DsnKind::Delayed => {
            para(
                &mut out,
                "THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE.",
            );
            let waited = now
                .duration_since(input.arrival_date)
                .unwrap_or(Duration::ZERO);
            para(
                &mut out,
                &format!(
                    "Your message, received {}, has not yet been delivered to the \
                     recipients listed below after {}. It is still in the queue and \
                     delivery will be retried; you will be notified if it finally fails.",
                    rfc5322_date(input.arrival_date),
                    human_duration(waited)
                ),
            );
        }
    }
    let attached = match returned {
        Returned::Full { .. } => "Your original message is attached.".to_string(),
        Returned::Headers { headers, .. } if headers.is_empty() => {
            "Your original message is not attached: its header section is larger than \
             this system returns."
                .to_string()
        }
        Returned::Headers { why, .. } => match why {
            HeadersWhy::Requested => "The headers of your original message are attached.".into(),
            HeadersWhy::TooLarge { size, limit } => format!(
                "Your original message ({size} bytes) is larger than the {limit} bytes \
                 this system returns, so only its headers are attached."
            ),
            HeadersWhy::NotSevenOrEightBit => "Your original message contains binary data \
                 that cannot be returned by mail, so only its headers are attached."
                .into(),
        },
    };
    para(&mut out, &attached);

    for r in &input.recipients {
        out.push_str(&recipient_notice(r));
        out.push_str("\r\n");
    }
    para(
        &mut out,
        "If you need help, please contact your mail administrator and include this \
         report.",
    );
    out
}

fn recipient_notice(r: &DsnRecipient) -> String {
    let rcpt = clean_text(bare_address(
        split_type(&r.final_recipient).map_or(r.final_recipient.as_str(), |(_, a)| a),
    ));
    let host = r
        .remote_mta
        .as_deref()
        .map(|h| clean_text(split_type(h).map_or(h, |(_, a)| a)))
        .filter(|h| !h.is_empty());
    let status = r.status.trim();
    let diag = r
        .diagnostic
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(diagnostic_code);
    let failed = r.action == DsnAction::Failed;

    let mut text = format!("<{rcpt}>: ");
    match &diag {
        Some((_, true, reason)) => {
            let server = match &host {
                Some(h) => format!("The receiving mail server {h}"),
                None => "The receiving mail server".to_string(),
            };
            let _ = write!(
                text,
                "{server} could not be authenticated with DANE (RFC 7672), so the \
                 message was {} sent to it; it is never sent in clear text instead. \
                 Reason: {reason}.",
                if failed { "not" } else { "not yet" }
            );
        }
        Some((code, false, reason)) if code.starts_with("smtp;") => {
            let _ = match &host {
                Some(h) => write!(text, "host {h} said: {reason}"),
                None => write!(text, "the remote server said: {reason}"),
            };
        }
        Some((_, false, reason)) => {
            let _ = write!(text, "{reason}");
            if let Some(h) = &host {
                let _ = write!(text, " (while talking to {h})");
            }
        }
        None => {
            let _ = write!(text, "{}", status_description(status));
            if let Some(h) = &host {
                let _ = write!(text, " (remote server {h})");
            }
        }
    }
    let _ = write!(text, " [status {status}: {}]", status_description(status));
    if !failed && let Some(until) = r.will_retry_until {
        let _ = write!(
            text,
            " Delivery will be retried until {}.",
            rfc5322_date(until)
        );
    }
    wrap(&text, TEXT_WIDTH, "    ")
}

/// A short English description of an RFC 3463 status code.
fn status_description(status: &str) -> &'static str {
    let detail = status.split_once('.').map_or("", |(_, rest)| rest);
    match detail {
        "1.1" => "bad destination mailbox address",
        "1.2" => "bad destination system address",
        "1.3" => "bad destination mailbox address syntax",
        "1.10" => "recipient address has null MX",
        "2.1" => "mailbox disabled",
        "2.2" => "mailbox full",
        "2.3" => "message length exceeds administrative limit",
        "3.4" => "message too big for system",
        "4.1" => "no answer from host",
        "4.2" => "bad connection",
        "4.3" => "directory server failure",
        "4.4" => "unable to route",
        "4.7" => "delivery time expired",
        "5.0" => "protocol error",
        "7.0" => "security or policy status",
        "7.1" => "delivery not authorized, message refused",
        "7.5" => "cryptographic failure",
        "7.10" => "encryption needed",
        _ => match status.as_bytes().first() {
            Some(b'4') => "temporary failure",
            _ => "permanent failure",
        },
    }
}

fn human_duration(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    let (days, hours, mins) = (mins / 1440, mins / 60 % 24, mins % 60);
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    match (days, hours, mins) {
        (0, 0, m) => unit(m, "minute"),
        (0, h, 0) => unit(h, "hour"),
        (0, h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
        (d, 0, _) => unit(d, "day"),
        (d, h, _) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
    }
}

/// Word-wraps `text` to `width` columns; lines after the first are indented.
/// Ends with CRLF.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line: Cow<'_, str> = Cow::Borrowed("");
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push_str("\r\n");
            line = Cow::Owned(indent.to_string());
        }
        if !line.is_empty() && !line.ends_with(' ') {
            line.to_mut().push(' ');
        }
        line.to_mut().push_str(word);
    }
    out.push_str(&line);
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        for ok in [
            "5.7.5",
            "4.7.5",
            "5.1.1",
            "4.4.7",
            "5.0.0",
            "5.1.10",
            "4.999.999",
        ] {
            assert!(is_valid_status(ok), "{ok}");
        }
        for bad in [
            "", "5", "5.1", "5.1.1.1", "2.0.0", "3.1.1", "6.1.1", "5.01.1", "5.1.01", "5.1000.1",
            "5.1.x", " 5.1.1", "5..1", "550",
        ] {
            assert!(!is_valid_status(bad), "{bad}");
        }
    }

    #[test]
    fn crlf_normalisation() {
        assert_eq!(normalize_crlf(b"a\nb\rc\r\nd"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(normalize_crlf(b""), b"");
    }

    #[test]
    fn header_cut_respects_folding() {
        let h = b"A: 1\r\nB: 2\r\n  folded\r\nC: 3\r\n";
        assert_eq!(cut_at_field(h, 1000), h);
        assert_eq!(cut_at_field(h, 6), b"A: 1\r\n");
        // Inside B's continuation: back to the end of A.
        assert_eq!(cut_at_field(h, 14), b"A: 1\r\n");
        assert_eq!(cut_at_field(h, 24), b"A: 1\r\nB: 2\r\n  folded\r\n");
        assert_eq!(cut_at_field(h, 3), b"");
        assert_eq!(header_section(b"A: 1\r\n\r\nbody\r\n"), b"A: 1\r\n");
        assert_eq!(header_section(b"A: 1\r\n"), b"A: 1\r\n");
        assert_eq!(header_section(b"\r\nbody"), b"");
    }

    #[test]
    fn char_boundaries() {
        assert_eq!(floor_char_boundary("\u{e9}\u{e9}", 1), 2);
        assert_eq!(floor_char_boundary("\u{e9}\u{e9}", 3), 2);
        assert_eq!(floor_char_boundary("abc", 0), 1);
        assert_eq!(floor_char_boundary("abc", 9), 3);
    }

    #[test]
    fn field_folding() {
        let mut out = String::new();
        let long = "word ".repeat(60);
        field(&mut out, "Diagnostic-Code", &format!("smtp; {long}"));
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= FOLD_AT, "{line:?}");
        }
        let unfolded = out.replace("\r\n", "");
        assert_eq!(
            unfolded,
            format!("Diagnostic-Code: smtp; {}", long.trim_end())
        );
        let mut out = String::new();
        field(&mut out, "Diagnostic-Code", &"x".repeat(3000));
        for line in out.split("\r\n") {
            assert!(line.len() <= MAX_LINE, "{}", line.len());
        }
    }

    #[test]
    fn addresses_and_diagnostics() {
        assert_eq!(
            typed_address("<a@b.example>", "rfc822"),
            "rfc822; a@b.example"
        );
        assert_eq!(
            typed_address("rfc822;a@b.example", "rfc822"),
            "rfc822; a@b.example"
        );
        assert_eq!(typed_address("mx.example", "dns"), "dns; mx.example");
        assert_eq!(
            typed_address("jörg@b.example", "rfc822"),
            "utf-8; j\\x{F6}rg@b.example"
        );
        assert_eq!(typed_address("a@b\r\nX: y", "rfc822"), "rfc822; a@b X: y");
        let (code, dane, _) = diagnostic_code("smtp; 550 5.1.1 no such user");
        assert_eq!(
            (code.as_str(), dane),
            ("smtp; 550 5.1.1 no such user", false)
        );
        let (code, dane, text) = diagnostic_code("DANE; DANE FAILED for example.com: no TLSA");
        assert_eq!(code, "X-DANE; DANE FAILED for example.com: no TLSA");
        assert!(dane);
        assert_eq!(text, "DANE FAILED for example.com: no TLSA");
        assert_eq!(diagnostic_code("451 try later").0, "smtp; 451 try later");
        assert_eq!(
            diagnostic_code("connection refused").0,
            "X-danegate; connection refused"
        );
        assert_eq!(diagnostic_code("X-Postfix; x").0, "X-Postfix; x");
        assert!(!diagnostic_code("X-danegate; timeout").1);
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_secs(59)), "0 minutes");
        assert_eq!(human_duration(Duration::from_secs(4 * 3600)), "4 hours");
        assert_eq!(human_duration(Duration::from_secs(3660)), "1 hour 1 minute");
        assert_eq!(
            human_duration(Duration::from_secs(26 * 3600)),
            "1 day 2 hours"
        );
    }
}
