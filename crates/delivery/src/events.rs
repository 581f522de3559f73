//! What the DANE path did, step by step, as data: printed in the appliance's words by
//! `daneverify`, collected as JSON, logged by the gateway.

use std::{fmt, net::IpAddr};

use serde::Serialize;

/// A DNS status word as the appliance prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Sec {
    /// Validated.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// Validation failed.
    Bogus,
}

impl Sec {
    /// `SECURE`, `INSECURE`, `BOGUS`.
    pub fn word(self) -> &'static str {
        match self {
            Sec::Secure => "SECURE",
            Sec::Insecure => "INSECURE",
            Sec::Bogus => "BOGUS",
        }
    }
}

impl From<&danegate_dns::Security> for Sec {
    fn from(s: &danegate_dns::Security) -> Self {
        match s {
            danegate_dns::Security::Secure => Sec::Secure,
            danegate_dns::Security::Insecure => Sec::Insecure,
            danegate_dns::Security::Bogus(_) => Sec::Bogus,
        }
    }
}

/// The final verdict for a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A server was authenticated with DANE.
    DaneSuccess,
    /// Not deliverable under DANE now: the message stays queued.
    DaneFailed,
    /// The table says: deliver according to the profile's TLS Support.
    Fallback,
    /// A temporary failure (DNS SERVFAIL/timeout, unreachable servers): retry later.
    TempFail,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// `SECURE MX record(mail.ietf.org) found for ietf.org`
    MxFound {
        sec: Sec,
        host: String,
        preference: u16,
        domain: String,
        implicit: bool,
    },
    /// `INSECURE MX record(h) found. The command will still proceed.`
    MxInsecureProceed { host: String },
    /// `BOGUS MX record found for ietf.org`
    MxBogus { domain: String, reason: String },
    /// The domain does not exist, or publishes a null MX (RFC 7505).
    NoMailDomain {
        domain: String,
        sec: Sec,
        why: String,
    },
    /// A lookup failed temporarily.
    DnsTempFail { what: String, error: String },
    /// `SECURE A record (4.31.198.44) found for MX(mail.ietf.org) in ietf.org`
    AddrFound {
        sec: Sec,
        rtype: String,
        ip: IpAddr,
        host: String,
        domain: String,
    },
    /// `BOGUS A record found for MX(h) in d`
    AddrBogus {
        rtype: String,
        host: String,
        domain: String,
        reason: String,
    },
    /// No address of any wanted family.
    NoAddress { host: String, domain: String },
    /// `Connecting to 4.31.198.44 on port 25.`
    Connecting { ip: IpAddr, port: u16 },
    /// `Connected to 4.31.198.44 from interface 216.71.133.161.`
    Connected { ip: IpAddr, local: IpAddr },
    /// The TCP connection or the greeting failed.
    ConnectFailed {
        ip: IpAddr,
        port: u16,
        error: String,
    },
    /// `SECURE TLSA record found for MX(mail.ietf.org) in ietf.org`
    TlsaFound {
        sec: Sec,
        host: String,
        domain: String,
        base: String,
        records: Vec<String>,
        usable: usize,
    },
    /// No TLSA record (NXDOMAIN or NODATA).
    TlsaNone {
        sec: Sec,
        host: String,
        domain: String,
        base: String,
    },
    /// `BOGUS TLSA record found for MX(h) in d`
    TlsaBogus {
        host: String,
        domain: String,
        base: String,
        reason: String,
    },
    /// `Checking TLS connection.`
    CheckingTls,
    /// The server did not offer STARTTLS, refused it, or the connection failed before TLS.
    StartTlsFailed { ip: IpAddr, error: String },
    /// `TLS connection established: protocol TLSv1.2, cipher ECDHE-RSA-AES256-GCM-SHA384.`
    TlsEstablished { protocol: String, cipher: String },
    /// The TLS handshake failed.
    TlsFailed { error: String },
    /// `Certificate verification successful`
    CertOk { detail: String },
    /// `Certificate verification failed: ...`
    CertFailed { reason: String },
    /// TLS without authentication, as a secure but wholly unusable TLSA RRset demands.
    CertUnchecked { why: String },
    /// `TLS connection succeeded ietf.org.`
    TlsSucceeded { domain: String },
    /// A secure TLSA RRset without a usable record (RFC 7672 §2.2): delivery goes on
    /// over this TLS session, unauthenticated. Printed before `DANE FALLBACK for d`.
    UnauthenticatedTls { host: String, domain: String },
    /// The decision table's row for this attempt.
    Decision { action: String, row: String },
    /// `Trying next A record (104.47.10.36) for MX(h) in d`
    NextAddr {
        rtype: String,
        ip: IpAddr,
        host: String,
        domain: String,
    },
    /// `Trying next MX record in d`
    NextMx { domain: String },
    /// `DANE SUCCESS for d` / `DANE FAILED for d` / `DANE FALLBACK for d`
    Verdict { verdict: Verdict, domain: String },
    /// `DANE verification completed.`
    Completed,
    /// TLS Support None: STARTTLS is not used, even when offered.
    TlsNotAttempted { ip: IpAddr, mode: String },
    /// A TLS Support "Preferred" mode goes on in clear text on the same connection
    /// (STARTTLS not offered or refused: a failure before the server's 220).
    ClearTextFallback {
        ip: IpAddr,
        mode: String,
        reason: String,
    },
    /// The profile's TLS Support setting is not met: no delivery over this connection.
    TlsPolicyFailed {
        ip: IpAddr,
        mode: String,
        reason: String,
    },
    /// TLS Support Preferred-Verify: the certificate failed PKIX verification; the
    /// message is delivered over the TLS session anyway.
    CertFailureIgnored { mode: String },
}

impl fmt::Display for Event {
    /// The appliance's `daneverify` line (or ours, in its style, where it has none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::MxFound {
                sec,
                host,
                domain,
                implicit: false,
                ..
            } => {
                write!(f, "{} MX record({host}) found for {domain}", sec.word())
            }
            Event::MxFound {
                sec,
                host,
                domain,
                implicit: true,
                ..
            } => write!(
                f,
                "{} no MX record for {domain}: implicit MX({host}) is the domain itself",
                sec.word()
            ),
            Event::MxInsecureProceed { host } => {
                write!(
                    f,
                    "INSECURE MX record({host}) found. The command will still proceed."
                )
            }
            Event::MxBogus { domain, .. } => write!(f, "BOGUS MX record found for {domain}"),
            Event::NoMailDomain { domain, why, .. } => write!(f, "No mail for {domain}: {why}"),
            Event::DnsTempFail { what, error } => {
                write!(f, "Temporary DNS failure looking up {what}: {error}")
            }
            Event::AddrFound {
                sec,
                rtype,
                ip,
                host,
                domain,
            } => {
                write!(
                    f,
                    "{} {rtype} record ({ip}) found for MX({host}) in {domain}",
                    sec.word()
                )
            }
            Event::AddrBogus {
                rtype,
                host,
                domain,
                ..
            } => {
                write!(f, "BOGUS {rtype} record found for MX({host}) in {domain}")
            }
            Event::NoAddress { host, domain } => {
                write!(f, "No A or AAAA record found for MX({host}) in {domain}")
            }
            Event::Connecting { ip, port } => write!(f, "Connecting to {ip} on port {port}."),
            Event::Connected { ip, local } => {
                write!(f, "Connected to {ip} from interface {local}.")
            }
            Event::ConnectFailed { ip, port, error } => {
                write!(f, "Connection to {ip} on port {port} failed: {error}")
            }
            Event::TlsaFound {
                sec,
                host,
                domain,
                usable,
                ..
            } => {
                write!(
                    f,
                    "{} TLSA record found for MX({host}) in {domain}",
                    sec.word()
                )?;
                if *usable == 0 && *sec == Sec::Secure {
                    write!(f, ", but none is usable: TLS is mandatory, unauthenticated")?;
                }
                Ok(())
            }
            Event::TlsaNone {
                sec, host, domain, ..
            } => {
                write!(
                    f,
                    "{} no TLSA record found for MX({host}) in {domain}",
                    sec.word()
                )
            }
            Event::TlsaBogus { host, domain, .. } => {
                write!(f, "BOGUS TLSA record found for MX({host}) in {domain}")
            }
            Event::CheckingTls => write!(f, "Checking TLS connection."),
            Event::StartTlsFailed { ip, error } => {
                write!(f, "STARTTLS with {ip} failed: {error}")
            }
            Event::TlsEstablished { protocol, cipher } => write!(
                f,
                "TLS connection established: protocol {protocol}, cipher {cipher}."
            ),
            Event::TlsFailed { error } => write!(f, "TLS connection failed: {error}"),
            Event::CertOk { .. } => write!(f, "Certificate verification successful"),
            Event::CertFailed { reason } => write!(f, "Certificate verification failed: {reason}"),
            Event::CertUnchecked { why } => write!(f, "Certificate not verified: {why}"),
            Event::TlsSucceeded { domain } => write!(f, "TLS connection succeeded {domain}."),
            Event::UnauthenticatedTls { host, domain } => write!(
                f,
                "DANE UNUSABLE TLSA: TLS mandatory, unauthenticated: MX({host}) in {domain} \
                 publishes a secure TLSA RRset without a usable record (RFC 7672 §2.2)"
            ),
            Event::Decision { action, row } => write!(f, "Decision: {action} ({row})"),
            Event::NextAddr {
                rtype,
                ip,
                host,
                domain,
            } => {
                write!(
                    f,
                    "Trying next {rtype} record ({ip}) for MX({host}) in {domain}"
                )
            }
            Event::NextMx { domain } => write!(f, "Trying next MX record in {domain}"),
            Event::Verdict { verdict, domain } => match verdict {
                Verdict::DaneSuccess => write!(f, "DANE SUCCESS for {domain}"),
                Verdict::DaneFailed => write!(f, "DANE FAILED for {domain}"),
                Verdict::Fallback => write!(f, "DANE FALLBACK for {domain}"),
                Verdict::TempFail => write!(f, "DANE TEMPORARY FAILURE for {domain}"),
            },
            Event::Completed => write!(f, "DANE verification completed."),
            Event::TlsNotAttempted { ip, mode } => {
                write!(f, "TLS Support {mode}: not using STARTTLS with {ip}.")
            }
            Event::ClearTextFallback { ip, mode, reason } => write!(
                f,
                "TLS Support {mode}: continuing in clear text with {ip} ({reason})."
            ),
            Event::TlsPolicyFailed { ip, mode, reason } => write!(
                f,
                "TLS Support {mode} not met by {ip}: {reason}. Not delivering over this connection."
            ),
            Event::CertFailureIgnored { mode } => write!(
                f,
                "Certificate verification failure ignored: TLS Support {mode} delivers anyway."
            ),
        }
    }
}

impl Event {
    /// True for the lines the appliance's `daneverify` prints; the others (decision
    /// rows, details) go to `--json` and the debug log only.
    pub fn is_summary(&self) -> bool {
        !matches!(self, Event::Decision { .. })
    }
}
