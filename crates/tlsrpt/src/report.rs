//! The JSON report of RFC 8460 §4.4, its gzip form and file name (§5.1).

use std::io::Write as _;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Day, PolicyType, ResultType};

/// One aggregate report: one reporting organisation, one policy domain, one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    /// `organization-name`.
    pub organization_name: String,
    /// `date-range`.
    pub date_range: DateRange,
    /// `contact-info`: an email address or URI of the reporter.
    pub contact_info: String,
    /// `report-id`: unique per report.
    pub report_id: String,
    /// `policies`: one entry per policy that applied.
    pub policies: Vec<PolicyReport>,
}

/// `date-range` (RFC 3339 date-times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DateRange {
    /// `start-datetime`.
    pub start_datetime: String,
    /// `end-datetime`.
    pub end_datetime: String,
}

impl DateRange {
    /// The whole UTC day.
    pub fn day(d: Day) -> DateRange {
        DateRange {
            start_datetime: d.start_rfc3339(),
            end_datetime: d.end_rfc3339(),
        }
    }
}

/// One element of `policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyReport {
    /// `policy`.
    pub policy: PolicyDesc,
    /// `summary`.
    pub summary: Summary,
    /// `failure-details` (absent when there were no failures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_details: Vec<FailureDetail>,
}

/// `policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyDesc {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-string`: the TLSA records or the MTA-STS policy lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_string: Vec<String>,
    /// `policy-domain`.
    pub policy_domain: String,
    /// `mx-host`: written as a list, as in the RFC's example; a single string is
    /// accepted when reading (the RFC's prose calls it a string).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_or_list"
    )]
    pub mx_host: Vec<String>,
}

/// `summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    /// `total-successful-session-count`.
    pub total_successful_session_count: u64,
    /// `total-failure-session-count`.
    pub total_failure_session_count: u64,
}

/// One element of `failure-details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureDetail {
    /// `result-type`.
    pub result_type: ResultType,
    /// `sending-mta-ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_session_count: u64,
    /// `additional-information`: a URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
    /// `failure-reason-code`: free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason_code: Option<String>,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl Report {
    /// The JSON text (RFC 8460 §4.4), pretty-printed.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and lists cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The JSON, gzip-compressed (RFC 8460 §5.1: `application/tlsrpt+gzip`).
    pub fn to_gzip(&self) -> std::io::Result<Vec<u8>> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(self.to_json().as_bytes())?;
        e.finish()
    }

    /// The total successful and failed session counts of all its policies.
    pub fn totals(&self) -> (u64, u64) {
        self.policies.iter().fold((0, 0), |(s, f), p| {
            (
                s + p.summary.total_successful_session_count,
                f + p.summary.total_failure_session_count,
            )
        })
    }
}

/// RFC 8460 §5.1: `sender "!" policy-domain "!" begin-timestamp "!" end-timestamp
/// "." extension`, e.g. `mail.sender.example!example.com!1470013207!1470186007.json.gz`.
pub fn file_name(submitter: &str, policy_domain: &str, day: Day, gzip: bool) -> String {
    format!(
        "{submitter}!{policy_domain}!{}!{}.{}",
        day.start_unix(),
        day.end_unix(),
        if gzip { "json.gz" } else { "json" }
    )
}

/// A report id that is also a valid RFC 5322 msg-id body (the subject of §5.3 carries
/// it as `Report-ID: <id>`): `<yyyymmdd>.<policy-domain>@<submitter>`.
pub fn report_id(day: Day, policy_domain: &str, submitter: &str) -> String {
    format!("{}.{policy_domain}@{submitter}", day.compact())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 8460 §4.5, as published (mx-host as a list).
    const RFC_EXAMPLE: &str = r#"{
     "organization-name": "Company-X",
     "date-range": {
       "start-datetime": "2016-04-01T00:00:00Z",
       "end-datetime": "2016-04-01T23:59:59Z"
     },
     "contact-info": "sts-reporting@company-x.example",
     "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
     "policies": [{
       "policy": {
         "policy-type": "sts",
         "policy-string": ["version: STSv1","mode: testing",
               "mx: *.mail.company-y.example","max_age: 86400"],
         "policy-domain": "company-y.example",
         "mx-host": ["*.mail.company-y.example"]
       },
       "summary": {
         "total-successful-session-count": 5326,
         "total-failure-session-count": 303
       },
       "failure-details": [{
         "result-type": "certificate-expired",
         "sending-mta-ip": "2001:db8:abcd:0012::1",
         "receiving-mx-hostname": "mx1.mail.company-y.example",
         "failed-session-count": 100
       }, {
         "result-type": "starttls-not-supported",
         "sending-mta-ip": "2001:db8:abcd:0013::1",
         "receiving-mx-hostname": "mx2.mail.company-y.example",
         "receiving-ip": "203.0.113.56",
         "failed-session-count": 200,
         "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
       }, {
         "result-type": "validation-failure",
         "sending-mta-ip": "198.51.100.62",
         "receiving-ip": "203.0.113.58",
         "receiving-mx-hostname": "mx-backup.mail.company-y.example",
         "failed-session-count": 3,
         "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
       }]
     }]
   }"#;

    #[test]
    fn reads_and_rewrites_the_rfc_example() {
        let r: Report = serde_json::from_str(RFC_EXAMPLE).unwrap();
        assert_eq!(r.organization_name, "Company-X");
        assert_eq!(r.date_range, DateRange::day("2016-04-01".parse().unwrap()));
        let p = &r.policies[0];
        assert_eq!(p.policy.policy_type, PolicyType::Sts);
        assert_eq!(p.policy.mx_host, vec!["*.mail.company-y.example"]);
        assert_eq!(p.summary.total_failure_session_count, 303);
        let kinds: Vec<_> = p.failure_details.iter().map(|f| f.result_type).collect();
        assert_eq!(
            kinds,
            vec![
                ResultType::CertificateExpired,
                ResultType::StarttlsNotSupported,
                ResultType::ValidationFailure
            ]
        );
        assert_eq!(r.totals(), (5326, 303));
        // Our output is the same JSON value as the RFC's.
        let ours: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(RFC_EXAMPLE).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn mx_host_as_a_string_is_read() {
        let text = RFC_EXAMPLE.replace(
            r#""mx-host": ["*.mail.company-y.example"]"#,
            r#""mx-host": "*.mail.company-y.example""#,
        );
        let r: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(
            r.policies[0].policy.mx_host,
            vec!["*.mail.company-y.example"]
        );
    }

    #[test]
    fn unknown_result_type_is_refused() {
        let text = RFC_EXAMPLE.replace("certificate-expired", "certificate-too-old");
        assert!(serde_json::from_str::<Report>(&text).is_err());
    }

    #[test]
    fn gzip_round_trip() {
        let r: Report = serde_json::from_str(RFC_EXAMPLE).unwrap();
        let gz = r.to_gzip().unwrap();
        let mut d = flate2::read::GzDecoder::new(&gz[..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut d, &mut s).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&s).unwrap(), r);
    }

    #[test]
    fn names() {
        let d: Day = "2016-08-01".parse().unwrap();
        assert_eq!(
            file_name("mail.sender.example", "example.com", d, true),
            "mail.sender.example!example.com!1470009600!1470095999.json.gz"
        );
        assert_eq!(
            report_id(d, "example.com", "mail.sender.example"),
            "20160801.example.com@mail.sender.example"
        );
    }
}
