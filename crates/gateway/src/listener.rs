//! The listener's policy: Host Access Table on connect, relay rules on RCPT, the queue
//! on DATA (RELAY, ACCEPT, REJECT, TCPREFUSE; never an open relay).

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

use danegate_config::{Config, Listener, Policy as HatPolicy};
use danegate_dns::{AnswerKind, Name, RecordType};
use danegate_queue::{NewMessage, NewRecipient};
use danegate_smtpd::{
    ConnectDecision, Envelope, ListenerParams, Policy, RcptDecision, ReverseDns, ServerEvent,
    SessionInfo, StoreError,
};
use hickory_proto::rr::RData;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use crate::Shared;

/// Reads a listener's certificate chain and key (PEM) into a rustls server config.
pub fn load_listener_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("tls_cert {}: no certificate found", cert.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_cert/tls_key: {e}"))?;
    Ok(Arc::new(config))
}

pub(crate) fn params(config: &Config, l: &Listener) -> Result<ListenerParams, String> {
    let mut p = ListenerParams::new(l.address, config.server.hostname.clone());
    p.tls = match &l.tls {
        Some(t) => Some(load_listener_tls(&t.cert, &t.key)?),
        None => None,
    };
    p.max_message_size = usize::try_from(l.max_message_size).unwrap_or(usize::MAX);
    p.max_recipients = l.max_recipients as usize;
    p.max_connections = l.max_connections as usize;
    p.max_connections_per_client = l.max_connections_per_client as usize;
    p.idle_timeout = l.idle_timeout;
    p.max_errors = l.max_errors;
    p.command_timeout = l.command_timeout;
    p.data_timeout = l.data_timeout;
    p.session_timeout = l.session_timeout;
    p.reserved_relay_connections = l.reserved_relay_connections as usize;
    Ok(p)
}

/// The gateway's answers to the listener.
pub(crate) struct GatewayPolicy {
    shared: Arc<Shared>,
}

impl GatewayPolicy {
    pub fn new(shared: Arc<Shared>) -> Self {
        GatewayPolicy { shared }
    }

    /// Forward-confirmed reverse DNS, only when some sender group names hosts.
    async fn verified_rdns(&self, ip: IpAddr) -> Option<String> {
        let config = self.shared.config();
        let needs = config.sender_groups.iter().any(|g| {
            g.senders.iter().any(|s| {
                matches!(
                    s,
                    danegate_config::SenderPattern::Host(_)
                        | danegate_config::SenderPattern::DomainSuffix(_)
                )
            })
        });
        if !needs {
            return None;
        }
        let rdns = self.reverse_dns(ip).await?;
        rdns.verified.then_some(rdns.name)
    }
}

impl GatewayPolicy {
    /// Bounce Verification: a bounce (null sender) to a `prvs=` address is accepted only
    /// with a valid tag of at most 7 days; other recipients pass.
    fn verify_bounce(&self, session: &SessionInfo, mail_from: &str, rcpt: &str) -> RcptDecision {
        if !mail_from.is_empty() || !crate::batv::is_prvs(rcpt) {
            return RcptDecision::Accept;
        }
        let config = self.shared.config();
        let key = match self.shared.batv.get(&config.server.data_dir) {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(target: "danegate::mail", "ICID {} bounce verification key unavailable: {e}", session.icid);
                return RcptDecision::Reject {
                    code: 451,
                    enhanced: "4.3.0".into(),
                    text: "Bounce verification temporarily unavailable".into(),
                };
            }
        };
        match key.verify(rcpt) {
            crate::batv::Verdict::Invalid => {
                tracing::info!(target: "danegate::mail", "ICID {} bounce to {rcpt} refused: bounce verification failed", session.icid);
                RcptDecision::Reject {
                    code: 550,
                    enhanced: "5.7.1".into(),
                    text: "Bounce verification failed".into(),
                }
            }
            crate::batv::Verdict::Valid(_) | crate::batv::Verdict::Untagged => RcptDecision::Accept,
        }
    }

    /// A bounce's recipients in valid `prvs=` form are queued for the untagged address;
    /// nothing else of the envelope changes.
    fn untag_bounce_recipients(&self, mut envelope: Envelope) -> Envelope {
        if !envelope.mail_from.is_empty()
            || !envelope
                .rcpt_to
                .iter()
                .any(|r| crate::batv::is_prvs(&r.address))
        {
            return envelope;
        }
        let config = self.shared.config();
        let Ok(key) = self.shared.batv.get(&config.server.data_dir) else {
            return envelope;
        };
        for r in &mut envelope.rcpt_to {
            if let crate::batv::Verdict::Valid(original) = key.verify(&r.address) {
                r.address = original;
            }
        }
        envelope
    }
}

/// The `Message-ID:` of a message (without angle brackets), from its header.
fn message_id(data: &[u8]) -> Option<String> {
    let msg = mail_parser::MessageParser::new().parse_headers(data)?;
    msg.message_id().map(str::to_string)
}

/// `postmaster` without a domain (RFC 5321 §4.1.1.3, case-insensitive).
fn is_bare_postmaster(address: &str) -> bool {
    address.eq_ignore_ascii_case("postmaster")
}

/// Where `RCPT TO:<postmaster>` is delivered: `postmaster@` the first exact domain of
/// the Recipient Access Table (the local mail domains this gateway accepts mail for),
/// or `postmaster@` the gateway's `server.hostname` when the table has none.
pub fn postmaster_address(config: &Config) -> String {
    let domain = config
        .recipient_access
        .domains
        .iter()
        .find_map(|d| match d {
            danegate_config::DomainPattern::Exact(d) => Some(d.as_str()),
            danegate_config::DomainPattern::Subdomains(_) => None,
        })
        .unwrap_or(config.server.hostname.as_str());
    format!("postmaster@{}", domain.trim_end_matches('.'))
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Policy for GatewayPolicy {
    async fn connect(&self, peer: SocketAddr, _local: SocketAddr) -> ConnectDecision {
        let rdns = self.verified_rdns(peer.ip()).await;
        let config = self.shared.config();
        let (group, policy) = config.sender_policy(peer.ip(), rdns.as_deref());
        let sender_group = group.map(|g| g.name.clone());
        match policy {
            HatPolicy::Relay | HatPolicy::Accept => ConnectDecision::Accept {
                policy: policy.as_str().to_string(),
                sender_group,
            },
            HatPolicy::Reject => ConnectDecision::Reject,
            HatPolicy::TcpRefuse => ConnectDecision::TcpRefuse,
        }
    }

    async fn rcpt(&self, session: &SessionInfo, mail_from: &str, rcpt: &str) -> RcptDecision {
        if is_bare_postmaster(rcpt) {
            // RFC 5321 §4.5.1: `<postmaster>` without a domain must be accepted; it is
            // queued for `postmaster_address` (see there).
            return RcptDecision::Accept;
        }
        let domain = domain_of(rcpt);
        if domain.is_empty() || Name::from_str(&domain).is_err() {
            return RcptDecision::Reject {
                code: 501,
                enhanced: "5.1.3".into(),
                text: "Bad recipient address syntax".into(),
            };
        }
        let accepted = match session.policy.as_str() {
            "RELAY" => true,
            // ACCEPT: only domains of the Recipient Access Table.
            "ACCEPT" => self.shared.config().rat_accepts(&domain),
            _ => false,
        };
        match accepted {
            true => self.verify_bounce(session, mail_from, rcpt),
            false => RcptDecision::Reject {
                code: 550,
                enhanced: "5.7.1".into(),
                text: format!(
                    "Relaying denied: {domain} is not a domain this gateway accepts mail for"
                ),
            },
        }
    }

    async fn store(
        &self,
        session: &SessionInfo,
        envelope: Envelope,
        data: Vec<u8>,
    ) -> Result<String, StoreError> {
        let mut envelope = self.untag_bounce_recipients(envelope);
        if envelope
            .rcpt_to
            .iter()
            .any(|r| is_bare_postmaster(&r.address))
        {
            let postmaster = postmaster_address(&self.shared.config());
            for r in &mut envelope.rcpt_to {
                if is_bare_postmaster(&r.address) {
                    r.address = postmaster.clone();
                }
            }
        }
        let msg = NewMessage {
            sender: envelope.mail_from.clone(),
            recipients: envelope
                .rcpt_to
                .iter()
                .map(|r| NewRecipient {
                    address: r.address.clone(),
                    domain: domain_of(&r.address),
                    dsn_notify: r.notify.clone(),
                    dsn_orcpt: r.orcpt.clone(),
                })
                .collect(),
            data,
            received_from: session.peer.ip().to_string(),
            icid: session.icid,
            policy: session.policy.clone(),
            dsn_ret: envelope.ret.clone(),
            dsn_envid: envelope.envid.clone(),
        };
        let message_id = message_id(&msg.data);
        match self.shared.store.enqueue(msg).await {
            Ok(mid) => {
                if let Some(id) = message_id {
                    tracing::info!(target: "danegate::mail", "MID {} Message-ID '<{id}>'", envelope.mid);
                }
                self.shared.wake.notify_one();
                Ok(mid.to_string())
            }
            Err(e) => {
                tracing::error!(target: "danegate::mail", "ICID {} queue write failed: {e}", session.icid);
                Err(StoreError::Temporary(e.to_string()))
            }
        }
    }

    async fn reverse_dns(&self, peer: IpAddr) -> Option<ReverseDns> {
        // Loopback clients are this host: no query (and a private trust anchor would
        // make the real 127.in-addr.arpa look bogus).
        if peer.is_loopback() {
            return Some(ReverseDns {
                name: "localhost".into(),
                verified: true,
            });
        }
        let resolver = self.shared.resolver();
        let ptr_name = Name::from(peer);
        let ans = resolver.lookup(&ptr_name, RecordType::PTR).await.ok()?;
        // A BOGUS answer is no answer (RFC 4035 §4.3).
        if ans.kind != AnswerKind::Data || matches!(ans.security, danegate_dns::Security::Bogus(_))
        {
            return None;
        }
        let name = ans.records.iter().find_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.clone()),
            _ => None,
        })?;
        let rtype = if peer.is_ipv4() {
            RecordType::A
        } else {
            RecordType::AAAA
        };
        let fwd = resolver.lookup(&name, rtype).await.ok()?;
        let verified = !matches!(fwd.security, danegate_dns::Security::Bogus(_))
            && fwd.records.iter().any(|r| match &r.data {
                RData::A(a) => IpAddr::V4(a.0) == peer,
                RData::AAAA(a) => IpAddr::V6(a.0) == peer,
                _ => false,
            });
        Some(ReverseDns {
            name: name.to_ascii().trim_end_matches('.').to_string(),
            verified,
        })
    }

    fn event(&self, e: ServerEvent) {
        crate::deliver::log_server_event(&e);
        crate::observe::server_event(&e);
    }
}
