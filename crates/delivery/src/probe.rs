//! The TLS probe of one MX address on the DANE path: TCP connect, EHLO, STARTTLS and
//! the certificate checked against the host's secure TLSA RRset (RFC 7672 §2.2, §3).
//!
//! The DANE path ([`crate::verify_destination`]) runs it through the [`TlsProbe`]
//! trait: the gateway and `daneverify` use [`LiveProbe`] (one connection per attempt,
//! the session is kept for delivery); a bulk audit plugs in a probe that shares one
//! handshake between every domain whose MX host, address and TLSA RRset are the same
//! ([`crate::verify_destination_with`]). The tables decide from the [`Probed`] result,
//! so both decide alike.

use std::{future::Future, net::IpAddr, net::SocketAddr, pin::Pin, sync::Arc};

use danegate_dane::{TlsaSet, names::ReferenceIds, policy::CertStatus};
use danegate_smtp::{SmtpClient, SmtpError, Timeouts};
use danegate_tls::{
    DaneVerifier, VerifyOutcome, client_config, openssl_cipher_name, protocol_name, server_name,
};

use crate::events::Event;

/// What to probe.
pub struct ProbeRequest<'a> {
    /// The MX host name (as in the MX RRset).
    pub host: &'a str,
    /// The address to connect to.
    pub ip: IpAddr,
    /// The SMTP port.
    pub port: u16,
    /// Local address to connect from, if any.
    pub local: Option<IpAddr>,
    /// Per-step SMTP timeouts.
    pub timeouts: Timeouts,
    /// Our EHLO name.
    pub helo: &'a str,
    /// The TLSA base domain: the SNI name (RFC 7672 §8.1).
    pub base: &'a str,
    /// The secure TLSA RRset.
    pub tlsa: &'a TlsaSet,
    /// Its records in presentation form (what a cache keys on).
    pub records: &'a [String],
    /// Names a DANE-TA certificate may carry (RFC 7672 §3.2.2).
    pub reference_ids: &'a ReferenceIds,
    /// The RRset has no usable record (RFC 7672 §2.2): TLS is mandatory but the
    /// certificate is not checked.
    pub all_unusable: bool,
}

/// An established TLS session's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` etc.
    pub protocol: String,
    /// OpenSSL-style cipher name.
    pub cipher: String,
    /// What the certificate check decided.
    pub verification: VerifyOutcome,
    /// The chain the server presented (the shadow evaluation checks it again).
    pub chain: Vec<rustls_pki_types::CertificateDer<'static>>,
}

/// What a probe found.
pub struct Probed {
    /// The certificate column of the tables.
    pub cert: CertStatus,
    /// TLS was established (with whatever certificate outcome).
    pub tls: Option<TlsInfo>,
    /// The open session after STARTTLS, for a probe that keeps it (the live one).
    pub client: Option<SmtpClient>,
}

/// A boxed probe future.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Probed> + Send + 'a>>;

/// Where the probe's steps go, in order (`Connecting`, `Connected` or
/// `ConnectFailed`, then the STARTTLS and certificate lines).
pub type Steps<'a> = dyn FnMut(Event) + Send + 'a;

/// Connect, STARTTLS and check the certificate of one address.
pub trait TlsProbe: Send + Sync {
    /// Probes `req`, reporting each step to `steps`.
    fn probe<'a>(&'a self, req: ProbeRequest<'a>, steps: &'a mut Steps<'_>) -> ProbeFuture<'a>;
}

/// A new connection for every probe; the session is returned for delivery.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveProbe;

impl TlsProbe for LiveProbe {
    fn probe<'a>(&'a self, req: ProbeRequest<'a>, steps: &'a mut Steps<'_>) -> ProbeFuture<'a> {
        Box::pin(live(req, steps))
    }
}

/// The live probe: one TCP connection, EHLO, STARTTLS, the handshake with the DANE
/// verifier (RFC 7672 §2.2: a secure TLSA RRset means TLS or nothing).
pub async fn live(req: ProbeRequest<'_>, steps: &mut Steps<'_>) -> Probed {
    let (ip, port) = (req.ip, req.port);
    steps(Event::Connecting { ip, port });
    let mut client =
        match SmtpClient::connect(SocketAddr::new(ip, port), req.local, req.timeouts).await {
            Ok(c) => c,
            Err(e) => {
                steps(Event::ConnectFailed {
                    ip,
                    port,
                    error: e.to_string(),
                });
                return Probed {
                    cert: CertStatus::NotReached,
                    tls: None,
                    client: None,
                };
            }
        };
    steps(Event::Connected {
        ip,
        local: client.local_addr().ip(),
    });
    let verifier = Arc::new(if req.all_unusable {
        danegate_tls::danger::accept_any_certificate()
    } else {
        DaneVerifier::dane(req.tlsa.clone(), req.reference_ids.clone())
    });
    let slot = verifier.outcome();
    let result = starttls(&mut client, &req, verifier, steps).await;
    match result {
        Err(cert) => Probed {
            cert,
            tls: None,
            client: None,
        },
        Ok((protocol, cipher, chain)) => {
            steps(Event::TlsEstablished {
                protocol: protocol.clone(),
                cipher: cipher.clone(),
            });
            let report = slot
                .take()
                .map(|r| r.outcome)
                .unwrap_or(VerifyOutcome::Unchecked);
            let cert = if req.all_unusable {
                steps(Event::CertUnchecked {
                    why: "the secure TLSA RRset has no usable record (RFC 7672 §2.2)".into(),
                });
                CertStatus::Failed
            } else {
                match &report {
                    VerifyOutcome::Dane(_) => {
                        steps(Event::CertOk {
                            detail: report.to_string(),
                        });
                        CertStatus::Success
                    }
                    other => {
                        steps(Event::CertFailed {
                            reason: other.to_string(),
                        });
                        CertStatus::Failed
                    }
                }
            };
            Probed {
                cert,
                tls: Some(TlsInfo {
                    protocol,
                    cipher,
                    verification: report,
                    chain,
                }),
                client: Some(client),
            }
        }
    }
}

/// EHLO + STARTTLS + handshake. Any failure is reported; the caller never goes on in
/// clear text after a secure TLSA RRset.
async fn starttls(
    client: &mut SmtpClient,
    req: &ProbeRequest<'_>,
    verifier: Arc<DaneVerifier>,
    steps: &mut Steps<'_>,
) -> Result<(String, String, Vec<rustls_pki_types::CertificateDer<'static>>), CertStatus> {
    let (ip, base) = (req.ip, req.base);
    let slot = verifier.outcome();
    let caps = match client.ehlo(req.helo).await {
        Ok(c) => c,
        Err(e) => {
            steps(Event::StartTlsFailed {
                ip,
                error: format!("EHLO failed: {e}"),
            });
            return Err(CertStatus::NotReached);
        }
    };
    if !caps.starttls {
        steps(Event::StartTlsFailed {
            ip,
            error: "STARTTLS not offered; a secure TLSA RRset forbids plain text (RFC 7672 §2.2)"
                .into(),
        });
        return Err(CertStatus::NotReached);
    }
    let config = match client_config(verifier) {
        Ok(c) => c,
        Err(e) => {
            steps(Event::TlsFailed {
                error: format!("TLS configuration: {e}"),
            });
            return Err(CertStatus::NotReached);
        }
    };
    let sni = match server_name(base) {
        Ok(s) => s,
        Err(e) => {
            steps(Event::TlsFailed {
                error: format!("bad SNI name {base}: {e}"),
            });
            return Err(CertStatus::NotReached);
        }
    };
    match client.starttls(config, sni).await {
        Ok(info) => Ok((
            protocol_name(info.protocol).to_string(),
            openssl_cipher_name(info.cipher_suite).to_string(),
            info.peer_certificates,
        )),
        Err(e) => {
            // The verifier said why: that is the line, not rustls's wrapping of it.
            if let Some(report) = slot.get()
                && let VerifyOutcome::Failed(f) = &report.outcome
            {
                steps(Event::CertFailed {
                    reason: f.to_string(),
                });
                return Err(CertStatus::Failed);
            }
            match e {
                SmtpError::StartTlsNotOffered | SmtpError::StartTlsRefused { .. } => {
                    steps(Event::StartTlsFailed {
                        ip,
                        error: e.to_string(),
                    })
                }
                other => steps(Event::TlsFailed {
                    error: other.to_string(),
                }),
            }
            Err(CertStatus::NotReached)
        }
    }
}
