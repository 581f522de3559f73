//! From the steps of one delivery attempt ([`Event`]s of the DANE path and of the TLS
//! Support path) to TLS-RPT sessions: which policy applied and what came of it
//! (RFC 8460 §4.3). Pure: no I/O.
//!
//! - A secure, usable TLSA RRset for the MX host: a `tlsa` policy (its records, the
//!   MX host). A DANE-authenticated session is a success; a certificate that matches
//!   no record is `tlsa-invalid` ("none of the records in the RRset were found to be
//!   valid"), a name mismatch under DANE-TA `certificate-host-mismatch`, an expired
//!   DANE-TA chain `certificate-expired`, an untrusted one `certificate-not-trusted`;
//!   no STARTTLS `starttls-not-supported`; a failed handshake `validation-failure`.
//! - A secure TLSA RRset without a usable record: `tlsa-invalid` (TLS goes on,
//!   unauthenticated, RFC 7672 §2.2). A BOGUS TLSA RRset: `dnssec-invalid`.
//! - DANE Mandatory where no secure TLSA RRset exists: `dane-required` under
//!   `no-policy-found`.
//! - Otherwise (`no-policy-found`): a TLS session is a success; no STARTTLS
//!   `starttls-not-supported`; a certificate failure by its kind. TLS Support None (no
//!   TLS attempted) and connections that failed before any TLS step are not counted.

use std::net::IpAddr;

use danegate_delivery::{Event, Sec, Verdict};
use danegate_tlsrpt::{Failure, Policy, ResultType, SessionResult};

/// One counted session.
pub(crate) type Counted = (Policy, SessionResult);

/// The RFC 8460 result type of a certificate verification failure, from the
/// verifier's reason text.
pub(crate) fn cert_result(reason: &str) -> ResultType {
    let r = reason.to_ascii_lowercase();
    if r.starts_with("no usable tlsa record") || r.starts_with("no tlsa record matched") {
        ResultType::TlsaInvalid
    } else if r.contains("expired") {
        ResultType::CertificateExpired
    } else if r.starts_with("certificate name does not match") || r.contains("match none of") {
        ResultType::CertificateHostMismatch
    } else if r.contains("does not lead to the trust anchor")
        || r.starts_with("certificate chain")
        || r.contains("not verified")
    {
        ResultType::CertificateNotTrusted
    } else {
        ResultType::ValidationFailure
    }
}

#[derive(Default)]
struct Attempt {
    host: Option<String>,
    ip: Option<IpAddr>,
    local: Option<IpAddr>,
    /// Secure TLSA records of this address's host (`Some(empty)`: none usable).
    tlsa: Option<Vec<String>>,
    tlsa_unusable: bool,
    tls_up: bool,
    /// Counted already (or not to be counted).
    done: bool,
}

struct Walk {
    out: Vec<Counted>,
    cur: Attempt,
    /// The MX host of the last MxFound (the TLS Support path names none).
    mx: Option<String>,
    mandatory: bool,
    /// A handshake failure whose certificate reason may follow.
    pending_tls_failure: Option<String>,
}

impl Walk {
    fn policy(&self) -> Policy {
        match (&self.cur.tlsa, &self.cur.host) {
            (Some(records), Some(h)) => Policy::tlsa(records.clone(), h.clone()),
            (Some(records), None) => Policy {
                kind: danegate_tlsrpt::PolicyType::Tlsa,
                strings: records.clone(),
                mx_hosts: Vec::new(),
            },
            (None, _) => Policy::none(),
        }
    }

    fn fail(&mut self, result_type: ResultType, reason: Option<String>) {
        if self.cur.done {
            return;
        }
        let f = Failure {
            result_type,
            sending_ip: self.cur.local,
            mx_host: self.cur.host.clone().or_else(|| self.mx.clone()),
            receiving_ip: self.cur.ip,
            reason_code: reason,
        };
        let p = self.policy();
        self.out.push((p, SessionResult::Failure(f)));
        self.cur.done = true;
    }

    fn success(&mut self) {
        if self.cur.done {
            return;
        }
        let p = self.policy();
        self.out.push((p, SessionResult::Success));
        self.cur.done = true;
    }

    /// Closes the current attempt: a TLS session nobody judged is a success.
    fn close(&mut self) {
        if self.cur.tls_up && !self.cur.done {
            if self.cur.tlsa_unusable {
                self.fail(
                    ResultType::TlsaInvalid,
                    Some("the secure TLSA RRset has no usable record".into()),
                );
            } else {
                self.success();
            }
        }
    }

    fn new_attempt(&mut self, host: Option<String>, ip: Option<IpAddr>, keep_tlsa: bool) {
        self.close();
        let tlsa = if keep_tlsa {
            self.cur.tlsa.take()
        } else {
            None
        };
        let unusable = keep_tlsa && self.cur.tlsa_unusable;
        self.cur = Attempt {
            host,
            ip,
            tlsa,
            tlsa_unusable: unusable,
            ..Attempt::default()
        };
    }

    fn step(&mut self, e: &Event) {
        // A handshake failure not followed by the certificate's reason.
        if !matches!(e, Event::CertFailed { .. })
            && let Some(err) = self.pending_tls_failure.take()
        {
            self.fail(ResultType::ValidationFailure, Some(err));
        }
        match e {
            Event::MxFound { host, .. } => {
                self.mx = Some(host.clone());
            }
            Event::AddrFound { ip, host, .. } => {
                self.new_attempt(Some(host.clone()), Some(*ip), false);
            }
            Event::Connecting { ip, .. } => {
                // The DANE path announces the address first (AddrFound); the TLS
                // Support path only connects.
                if self.cur.ip == Some(*ip) && !self.cur.done && !self.cur.tls_up {
                    self.cur.local = None;
                } else {
                    let host = if self.cur.ip == Some(*ip) {
                        self.cur.host.clone()
                    } else {
                        None
                    };
                    self.new_attempt(host, Some(*ip), false);
                }
            }
            Event::Connected { local, .. } => self.cur.local = Some(*local),
            Event::TlsaFound {
                sec: Sec::Secure,
                records,
                usable,
                host,
                ..
            } => {
                self.cur.host = Some(host.clone());
                self.cur.tlsa = Some(records.clone());
                self.cur.tlsa_unusable = *usable == 0;
            }
            Event::TlsaFound { host, .. } | Event::TlsaNone { host, .. } if self.mandatory => {
                self.cur.host = Some(host.clone());
                self.fail(
                    ResultType::DaneRequired,
                    Some("DANE Mandatory: no secure TLSA record".into()),
                );
            }
            Event::TlsaBogus { host, reason, .. } => {
                self.cur.host = Some(host.clone());
                self.cur.tlsa = Some(Vec::new());
                self.fail(ResultType::DnssecInvalid, Some(reason.clone()));
            }
            Event::StartTlsFailed { error, .. } => {
                let rt = if error.starts_with("EHLO failed") {
                    ResultType::ValidationFailure
                } else {
                    ResultType::StarttlsNotSupported
                };
                self.fail(rt, Some(error.clone()));
            }
            Event::TlsFailed { error } => {
                // A certificate failure is reported right after with its reason.
                self.cur.tls_up = false;
                self.pending_tls_failure = Some(error.clone());
            }
            Event::TlsEstablished { .. } => self.cur.tls_up = true,
            Event::CertOk { .. } => self.success(),
            Event::CertFailed { reason } => {
                self.pending_tls_failure = None;
                self.fail(cert_result(reason), Some(reason.clone()));
            }
            Event::CertUnchecked { .. } => {
                if self.cur.tlsa_unusable {
                    self.fail(
                        ResultType::TlsaInvalid,
                        Some("the secure TLSA RRset has no usable record".into()),
                    );
                } else {
                    self.success();
                }
            }
            Event::TlsNotAttempted { .. } => self.cur.done = true,
            Event::ClearTextFallback { reason, .. } => {
                self.fail(ResultType::StarttlsNotSupported, Some(reason.clone()));
            }
            Event::TlsPolicyFailed { reason, .. } => {
                let rt = if reason.to_ascii_lowercase().contains("starttls") {
                    ResultType::StarttlsNotSupported
                } else {
                    ResultType::ValidationFailure
                };
                self.fail(rt, Some(reason.clone()));
            }
            _ => {}
        }
    }
}

/// The sessions of one attempt. `mandatory`: the profile's DANE Support is Mandatory
/// (a missing TLSA RRset is then `dane-required`).
pub(crate) fn classify(events: &[Event], mandatory: bool) -> Vec<Counted> {
    let mut w = Walk {
        out: Vec::new(),
        cur: Attempt::default(),
        mx: None,
        mandatory,
        pending_tls_failure: None,
    };
    for e in events {
        w.step(e);
        if matches!(
            e,
            Event::Verdict {
                verdict: Verdict::DaneFailed,
                ..
            }
        ) && mandatory
            && w.out.is_empty()
            && !w.cur.done
            && w.mx.is_some()
        {
            // DANE Mandatory refused an insecure MX or address before any TLSA lookup.
            w.cur.host = w.cur.host.clone().or_else(|| w.mx.clone());
            w.fail(
                ResultType::DaneRequired,
                Some("DANE Mandatory: no DNSSEC-validated TLSA record".into()),
            );
        }
    }
    if let Some(err) = w.pending_tls_failure.take() {
        w.fail(ResultType::ValidationFailure, Some(err));
    }
    w.close();
    w.out
}
