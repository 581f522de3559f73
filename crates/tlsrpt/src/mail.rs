//! The report as a mail message (RFC 8460 §5.3): `multipart/report;
//! report-type="tlsrpt"`, a human-readable part and the gzip-compressed JSON report as an
//! `application/tlsrpt+gzip` attachment named per §5.1, with the `TLS-Report-Domain` and
//! `TLS-Report-Submitter` header fields and the subject of §5.3.

use std::time::SystemTime;

use mail_builder::{
    MessageBuilder,
    headers::{address::Address, content_type::ContentType, date::Date, raw::Raw},
    mime::MimePart,
};

use crate::{Day, Report, report::file_name};

/// The media type of a gzip-compressed report (RFC 8460 §6.5).
pub const MEDIA_TYPE_GZIP: &str = "application/tlsrpt+gzip";

/// What the message needs besides the report.
#[derive(Debug, Clone)]
pub struct MailParams<'a> {
    /// The policy domain the report is about.
    pub policy_domain: &'a str,
    /// The day it covers.
    pub day: Day,
    /// The submitter's domain.
    pub submitter: &'a str,
    /// `From:` (the configured report sender).
    pub from: &'a str,
    /// `To:` (the `rua` address).
    pub to: &'a str,
    /// The `Date:` of the message.
    pub now: SystemTime,
}

/// Builds the message (CRLF line ends); `gzip` is [`Report::to_gzip`]'s output.
pub fn report_message(
    report: &Report,
    gzip: &[u8],
    p: &MailParams<'_>,
) -> std::io::Result<Vec<u8>> {
    let (ok, failed) = report.totals();
    let text = format!(
        "This is an aggregate TLS report (RFC 8460) from {submitter}.\r\n\r\n\
         Report Domain: {domain}\r\n\
         Submitter: {submitter}\r\n\
         Report-ID: {id}\r\n\
         Date range: {start} to {end}\r\n\
         Successful sessions: {ok}\r\n\
         Failed sessions: {failed}\r\n",
        submitter = p.submitter,
        domain = p.policy_domain,
        id = report.report_id,
        start = report.date_range.start_datetime,
        end = report.date_range.end_datetime,
    );
    let secs = p
        .now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    let attachment = MimePart::new(ContentType::new(MEDIA_TYPE_GZIP), gzip.to_vec())
        .attachment(file_name(p.submitter, p.policy_domain, p.day, true));
    MessageBuilder::new()
        .from(Address::new_address(None::<&str>, p.from.to_string()))
        .to(Address::new_address(None::<&str>, p.to.to_string()))
        .subject(format!(
            "Report Domain: {} Submitter: {} Report-ID: <{}>",
            p.policy_domain, p.submitter, report.report_id
        ))
        .date(Date::new(secs))
        .message_id(format!("{}.{}", report.report_id, secs))
        .header("TLS-Report-Domain", Raw::new(p.policy_domain.to_string()))
        .header("TLS-Report-Submitter", Raw::new(p.submitter.to_string()))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .body(MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "tlsrpt"),
            vec![
                MimePart::new(ContentType::new("text/plain"), text),
                attachment,
            ],
        ))
        .write_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, Recorder, Reporter, ResultType, SessionResult, report};
    use mail_parser::{MessageParser, MimeHeaders as _};

    #[test]
    fn message_parses_with_the_rfc_headers_and_attachment() {
        let dir = tempfile::tempdir().unwrap();
        let day: Day = "2026-04-01".parse().unwrap();
        let r = Recorder::open(dir.path()).unwrap();
        r.record_on(day, "example.com", &Policy::none(), &SessionResult::Success)
            .unwrap();
        r.record_on(
            day,
            "example.com",
            &Policy::none(),
            &SessionResult::Failure(crate::Failure {
                result_type: ResultType::StarttlsNotSupported,
                sending_ip: None,
                mx_host: Some("mx.example.com".into()),
                receiving_ip: None,
                reason_code: None,
            }),
        )
        .unwrap();
        let rep = r
            .report(
                day,
                "example.com",
                &Reporter {
                    organization_name: "Org".into(),
                    contact_info: "mailto:a@gw.example".into(),
                    submitter: "gw.example".into(),
                },
            )
            .unwrap()
            .unwrap();
        let gz = rep.to_gzip().unwrap();
        let msg = report_message(
            &rep,
            &gz,
            &MailParams {
                policy_domain: "example.com",
                day,
                submitter: "gw.example",
                from: "tlsrpt@gw.example",
                to: "reports@example.com",
                now: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_775_000_000),
            },
        )
        .unwrap();
        let m = MessageParser::default().parse(&msg).unwrap();
        assert_eq!(
            m.subject(),
            Some(
                "Report Domain: example.com Submitter: gw.example Report-ID: <20260401.example.com@gw.example>"
            )
        );
        assert_eq!(
            m.header_raw("TLS-Report-Domain").map(str::trim),
            Some("example.com")
        );
        assert_eq!(
            m.header_raw("TLS-Report-Submitter").map(str::trim),
            Some("gw.example")
        );
        let ct = m.content_type().unwrap();
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("tlsrpt"));
        let att = m.attachment(0).unwrap();
        assert_eq!(
            att.attachment_name(),
            Some(report::file_name("gw.example", "example.com", day, true).as_str())
        );
        let act = att.content_type().unwrap();
        assert_eq!(
            (act.ctype(), act.subtype()),
            ("application", Some("tlsrpt+gzip"))
        );
        let mut json = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(att.contents()), &mut json)
            .unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rep);
        assert_eq!(back.totals(), (1, 1));
    }
}
