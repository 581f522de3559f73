//! The recorder: every session's TLS outcome per policy domain, per policy, per UTC day,
//! and which reports were sent, in `<data_dir>/tlsrpt.sqlite` (SQLite, WAL,
//! `synchronous=FULL`: a recorded outcome survives a restart or a crash).

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::{
    Day, Failure, Policy, PolicyType, SessionResult,
    report::{DateRange, FailureDetail, PolicyDesc, PolicyReport, Report, Summary, report_id},
};

/// The database's file name in the data directory.
pub const FILE_NAME: &str = "tlsrpt.sqlite";

/// Longest `failure-reason-code` kept (characters).
const MAX_REASON: usize = 200;

/// A database error.
#[derive(Debug, thiserror::Error)]
#[error("TLS-RPT store {path}: {error}")]
pub struct StoreError {
    path: PathBuf,
    error: String,
}

/// The reporting organisation (RFC 8460 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// `organization-name`.
    pub organization_name: String,
    /// `contact-info`.
    pub contact_info: String,
    /// The submitter's domain (§5.1 file name, §5.3 `TLS-Report-Submitter`, report ids).
    pub submitter: String,
}

/// Where one report to one `rua` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    /// Being sent (or the process stopped while sending it: counted as sent, so that
    /// no report is ever sent twice).
    Claimed,
    /// Sent: queued for mail, or accepted by the HTTPS collector.
    Sent,
    /// The last attempt failed; it is retried.
    Failed {
        /// Attempts so far.
        attempts: u32,
        /// The last error.
        error: String,
    },
}

/// The persisted recorder. Blocking: call it from `spawn_blocking` in async code.
pub struct Recorder {
    conn: Mutex<Connection>,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions(
  day TEXT NOT NULL, domain TEXT NOT NULL, policy_type TEXT NOT NULL,
  policy_strings TEXT NOT NULL, mx_hosts TEXT NOT NULL,
  successes INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(day, domain, policy_type, policy_strings, mx_hosts));
CREATE TABLE IF NOT EXISTS failures(
  day TEXT NOT NULL, domain TEXT NOT NULL, policy_type TEXT NOT NULL,
  policy_strings TEXT NOT NULL, mx_hosts TEXT NOT NULL,
  result_type TEXT NOT NULL, sending_ip TEXT NOT NULL, mx_host TEXT NOT NULL,
  receiving_ip TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(day, domain, policy_type, policy_strings, mx_hosts,
              result_type, sending_ip, mx_host, receiving_ip, reason));
CREATE TABLE IF NOT EXISTS sends(
  day TEXT NOT NULL, domain TEXT NOT NULL, rua TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL, last_error TEXT NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY(day, domain, rua));
";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl Recorder {
    /// Opens (creating if needed) `<data_dir>/tlsrpt.sqlite`.
    pub fn open(data_dir: &Path) -> Result<Recorder, StoreError> {
        let path = data_dir.join(FILE_NAME);
        let err = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            error: e.to_string(),
        };
        // Created owner-only before SQLite opens it (its -wal and -shm files take the
        // database file's permissions): recipient domains and addresses are inside.
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| StoreError {
                    path: path.clone(),
                    error: e.to_string(),
                })?;
        }
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Recorder {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Opens an existing store read-only (`tlsrpt show` beside a running gateway);
    /// `Ok(None)` when nothing was ever recorded in `data_dir`.
    pub fn open_existing(data_dir: &Path) -> Result<Option<Recorder>, StoreError> {
        if !data_dir.join(FILE_NAME).exists() {
            return Ok(None);
        }
        Recorder::open(data_dir).map(Some)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError {
            path: self.path.clone(),
            error: e.to_string(),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c).map_err(|e| self.err(e))
    }

    /// Records one session for `domain` (the policy domain) today (UTC).
    pub fn record(
        &self,
        domain: &str,
        policy: &Policy,
        result: &SessionResult,
    ) -> Result<(), StoreError> {
        self.record_on(Day::today(), domain, policy, result)
    }

    /// Records one session on `day`.
    pub fn record_on(
        &self,
        day: Day,
        domain: &str,
        policy: &Policy,
        result: &SessionResult,
    ) -> Result<(), StoreError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let day = day.to_string();
        let kind = policy.kind.as_str();
        let strings = json_list(&policy.strings);
        let mx = json_list(&policy.mx_hosts);
        self.with(|c| {
            let tx = c.transaction()?;
            let (s, f) = match result {
                SessionResult::Success => (1, 0),
                SessionResult::Failure(_) => (0, 1),
            };
            tx.execute(
                "INSERT INTO sessions(day, domain, policy_type, policy_strings, mx_hosts, successes, failures)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO UPDATE SET successes = successes + ?6, failures = failures + ?7",
                params![day, domain, kind, strings, mx, s, f],
            )?;
            if let SessionResult::Failure(Failure {
                result_type,
                sending_ip,
                mx_host,
                receiving_ip,
                reason_code,
            }) = result
            {
                let reason: String = reason_code
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_REASON)
                    .collect();
                tx.execute(
                    "INSERT INTO failures(day, domain, policy_type, policy_strings, mx_hosts,
                        result_type, sending_ip, mx_host, receiving_ip, reason, count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1)
                     ON CONFLICT DO UPDATE SET count = count + 1",
                    params![
                        day,
                        domain,
                        kind,
                        strings,
                        mx,
                        result_type.as_str(),
                        sending_ip.map(|i| i.to_string()).unwrap_or_default(),
                        mx_host.as_deref().unwrap_or("").to_ascii_lowercase(),
                        receiving_ip.map(|i| i.to_string()).unwrap_or_default(),
                        reason,
                    ],
                )?;
            }
            tx.commit()
        })
    }

    /// The policy domains with sessions recorded on `day`, sorted.
    pub fn domains(&self, day: Day) -> Result<Vec<String>, StoreError> {
        let day = day.to_string();
        self.with(|c| {
            let mut st =
                c.prepare("SELECT DISTINCT domain FROM sessions WHERE day = ?1 ORDER BY domain")?;
            st.query_map([day], |r| r.get(0))?.collect()
        })
    }

    /// The days with sessions recorded, oldest first.
    pub fn days(&self) -> Result<Vec<Day>, StoreError> {
        let days: Vec<String> = self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT day FROM sessions ORDER BY day")?;
            st.query_map([], |r| r.get(0))?.collect()
        })?;
        Ok(days.iter().filter_map(|d| d.parse().ok()).collect())
    }

    /// The report for `domain` on `day`, or `None` when nothing was recorded.
    pub fn report(
        &self,
        day: Day,
        domain: &str,
        reporter: &Reporter,
    ) -> Result<Option<Report>, StoreError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let d = day.to_string();
        type Row = (String, String, String, u64, u64);
        let rows: Vec<Row> = self.with(|c| {
            let mut st = c.prepare(
                "SELECT policy_type, policy_strings, mx_hosts, successes, failures
                 FROM sessions WHERE day = ?1 AND domain = ?2
                 ORDER BY policy_type, mx_hosts, policy_strings",
            )?;
            st.query_map(params![d, domain], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut policies = Vec::new();
        for (kind, strings, mx, successes, failures) in rows {
            let Ok(policy_type) = kind.parse::<PolicyType>() else {
                continue;
            };
            let details = self.failure_details(&d, &domain, &kind, &strings, &mx)?;
            policies.push(PolicyReport {
                policy: PolicyDesc {
                    policy_type,
                    policy_string: from_json_list(&strings),
                    policy_domain: domain.clone(),
                    mx_host: from_json_list(&mx),
                },
                summary: Summary {
                    total_successful_session_count: successes,
                    total_failure_session_count: failures,
                },
                failure_details: details,
            });
        }
        Ok(Some(Report {
            organization_name: reporter.organization_name.clone(),
            date_range: DateRange::day(day),
            contact_info: reporter.contact_info.clone(),
            report_id: report_id(day, &domain, &reporter.submitter),
            policies,
        }))
    }

    fn failure_details(
        &self,
        day: &str,
        domain: &str,
        kind: &str,
        strings: &str,
        mx: &str,
    ) -> Result<Vec<FailureDetail>, StoreError> {
        type Row = (String, String, String, String, String, u64);
        let rows: Vec<Row> = self.with(|c| {
            let mut st = c.prepare(
                "SELECT result_type, sending_ip, mx_host, receiving_ip, reason, count
                 FROM failures WHERE day = ?1 AND domain = ?2 AND policy_type = ?3
                   AND policy_strings = ?4 AND mx_hosts = ?5
                 ORDER BY result_type, mx_host, receiving_ip, sending_ip, reason",
            )?;
            st.query_map(params![day, domain, kind, strings, mx], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(rt, sip, mxh, rip, reason, n)| {
                Some(FailureDetail {
                    result_type: rt.parse().ok()?,
                    sending_mta_ip: opt(sip),
                    receiving_mx_hostname: opt(mxh),
                    receiving_mx_helo: None,
                    receiving_ip: opt(rip),
                    failed_session_count: n,
                    additional_information: None,
                    failure_reason_code: opt(reason),
                })
            })
            .collect())
    }

    /// Where the report of `domain` on `day` to `rua` stands (`None`: never tried).
    pub fn send_state(
        &self,
        day: Day,
        domain: &str,
        rua: &str,
    ) -> Result<Option<SendState>, StoreError> {
        let row: Option<(String, u32, String)> = self.with(|c| {
            c.query_row(
                "SELECT state, attempts, last_error FROM sends WHERE day = ?1 AND domain = ?2 AND rua = ?3",
                params![day.to_string(), domain, rua],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })?;
        Ok(row.map(|(state, attempts, error)| match state.as_str() {
            "sent" => SendState::Sent,
            "failed" => SendState::Failed { attempts, error },
            _ => SendState::Claimed,
        }))
    }

    /// Claims the report of `domain` on `day` to `rua` for sending: true when it was
    /// never tried or its last attempt failed (then it is `Claimed`, durably, before
    /// anything is sent); false when it is sent or claimed already. At most once: a
    /// claim left by a crash is never sent again.
    pub fn claim(&self, day: Day, domain: &str, rua: &str) -> Result<bool, StoreError> {
        let day = day.to_string();
        self.with(|c| {
            let tx = c.transaction()?;
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM sends WHERE day = ?1 AND domain = ?2 AND rua = ?3",
                    params![day, domain, rua],
                    |r| r.get(0),
                )
                .optional()?;
            let claimed = match state.as_deref() {
                None => {
                    tx.execute(
                        "INSERT INTO sends(day, domain, rua, state, attempts, last_error, updated)
                         VALUES (?1, ?2, ?3, 'claimed', 1, '', ?4)",
                        params![day, domain, rua, unix_now()],
                    )?;
                    true
                }
                Some("failed") => {
                    tx.execute(
                        "UPDATE sends SET state = 'claimed', attempts = attempts + 1, updated = ?4
                         WHERE day = ?1 AND domain = ?2 AND rua = ?3",
                        params![day, domain, rua, unix_now()],
                    )?;
                    true
                }
                Some(_) => false,
            };
            tx.commit()?;
            Ok(claimed)
        })
    }

    /// Is a report of `day` waiting to be retried (its last attempt failed)?
    pub fn has_failed(&self, day: Day) -> Result<bool, StoreError> {
        let day = day.to_string();
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM sends WHERE day = ?1 AND state = 'failed')",
                [day],
                |r| r.get(0),
            )
        })
    }

    /// The claimed report was sent.
    pub fn mark_sent(&self, day: Day, domain: &str, rua: &str) -> Result<(), StoreError> {
        self.set_state(day, domain, rua, "sent", "")
    }

    /// The claimed report could not be sent: it will be retried.
    pub fn mark_failed(
        &self,
        day: Day,
        domain: &str,
        rua: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.set_state(day, domain, rua, "failed", error)
    }

    fn set_state(
        &self,
        day: Day,
        domain: &str,
        rua: &str,
        state: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let day = day.to_string();
        self.with(|c| {
            c.execute(
                "UPDATE sends SET state = ?4, last_error = ?5, updated = ?6
                 WHERE day = ?1 AND domain = ?2 AND rua = ?3",
                params![day, domain, rua, state, error, unix_now()],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Failure, ResultType};

    fn reporter() -> Reporter {
        Reporter {
            organization_name: "Example Org".into(),
            contact_info: "mailto:tls@example.org".into(),
            submitter: "gw.example.org".into(),
        }
    }

    fn fail(rt: ResultType, ip: &str) -> SessionResult {
        SessionResult::Failure(Failure {
            result_type: rt,
            sending_ip: Some("192.0.2.1".parse().unwrap()),
            mx_host: Some("MX1.example.com".into()),
            receiving_ip: Some(ip.parse().unwrap()),
            reason_code: Some("no TLSA record matched".into()),
        })
    }

    #[test]
    fn counts_survive_reopening_and_aggregate() {
        let dir = tempfile::tempdir().unwrap();
        let day: Day = "2026-04-01".parse().unwrap();
        let tlsa = Policy::tlsa(vec!["3 1 1 abcd".into()], "mx1.example.com");
        {
            let r = Recorder::open(dir.path()).unwrap();
            r.record_on(day, "Example.COM.", &tlsa, &SessionResult::Success)
                .unwrap();
            r.record_on(day, "example.com", &tlsa, &SessionResult::Success)
                .unwrap();
            r.record_on(
                day,
                "example.com",
                &tlsa,
                &fail(ResultType::CertificateNotTrusted, "198.51.100.7"),
            )
            .unwrap();
        }
        let r = Recorder::open(dir.path()).unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        r.record_on(
            day,
            "example.com",
            &tlsa,
            &fail(ResultType::CertificateNotTrusted, "198.51.100.7"),
        )
        .unwrap();
        r.record_on(
            day,
            "example.com",
            &Policy::none(),
            &fail(ResultType::StarttlsNotSupported, "198.51.100.8"),
        )
        .unwrap();
        assert_eq!(r.domains(day).unwrap(), vec!["example.com"]);
        assert_eq!(r.days().unwrap(), vec![day]);
        let rep = r.report(day, "example.com", &reporter()).unwrap().unwrap();
        assert_eq!(rep.report_id, "20260401.example.com@gw.example.org");
        assert_eq!(rep.totals(), (2, 3));
        assert_eq!(rep.policies.len(), 2);
        let none = rep
            .policies
            .iter()
            .find(|p| p.policy.policy_type == PolicyType::NoPolicyFound)
            .unwrap();
        assert!(none.policy.policy_string.is_empty());
        let t = rep
            .policies
            .iter()
            .find(|p| p.policy.policy_type == PolicyType::Tlsa)
            .unwrap();
        assert_eq!(t.policy.mx_host, vec!["mx1.example.com"]);
        assert_eq!(t.summary.total_successful_session_count, 2);
        assert_eq!(t.failure_details.len(), 1);
        let f = &t.failure_details[0];
        assert_eq!(f.failed_session_count, 2);
        assert_eq!(f.result_type, ResultType::CertificateNotTrusted);
        assert_eq!(f.receiving_mx_hostname.as_deref(), Some("mx1.example.com"));
        assert_eq!(f.sending_mta_ip.as_deref(), Some("192.0.2.1"));
        assert!(
            r.report(day.next(), "example.com", &reporter())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn claims_are_at_most_once_and_failures_retry() {
        let dir = tempfile::tempdir().unwrap();
        let day: Day = "2026-04-01".parse().unwrap();
        let r = Recorder::open(dir.path()).unwrap();
        let rua = "mailto:tlsrpt@example.com";
        assert_eq!(r.send_state(day, "example.com", rua).unwrap(), None);
        assert!(r.claim(day, "example.com", rua).unwrap());
        assert!(!r.claim(day, "example.com", rua).unwrap());
        assert!(!r.has_failed(day).unwrap());
        r.mark_failed(day, "example.com", rua, "boom").unwrap();
        assert!(r.has_failed(day).unwrap());
        assert_eq!(
            r.send_state(day, "example.com", rua).unwrap(),
            Some(SendState::Failed {
                attempts: 1,
                error: "boom".into()
            })
        );
        assert!(r.claim(day, "example.com", rua).unwrap());
        r.mark_sent(day, "example.com", rua).unwrap();
        drop(r);
        let r = Recorder::open(dir.path()).unwrap();
        assert!(!r.claim(day, "example.com", rua).unwrap());
        assert_eq!(
            r.send_state(day, "example.com", rua).unwrap(),
            Some(SendState::Sent)
        );
    }
}
