//! Serialisable views of the configuration, the queue and the delivery status.

use danegate_config::{Config, DestinationProfile, RouteHosts, SmtpRoute};
use danegate_dns::{AnchorStateView, Capability, TrustAnchors, UpstreamConfig, anchor::Anchor};
use danegate_gateway::LastOutcome;
use danegate_queue::{DomainCounts, Envelope, RcptState, Recipient};
use serde::{Deserialize, Serialize};

use crate::unix;

/// What the RFC 5011 column says when anchors are not tracked (a trust-anchor file
/// overrides the built-in anchors and is used as is).
pub const RFC5011_STATIC: &str = "static (trust-anchor file: no RFC 5011 tracking)";

/// A recipient rate limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecipientLimitView {
    /// Recipients allowed per interval.
    pub recipients: u32,
    /// The interval in minutes.
    pub per_minutes: u64,
}

/// A destination profile with its effective values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DestinationView {
    /// `default`, `example.com` or `.example.com`.
    pub domain: String,
    /// True for the default profile.
    pub is_default: bool,
    /// `ipv6-preferred`, ...
    pub ip_preference: String,
    /// Simultaneous delivery connections.
    pub max_concurrent_connections: u32,
    /// Messages per connection.
    pub max_messages_per_connection: u32,
    /// `None`: no limit.
    pub recipient_limit: Option<RecipientLimitView>,
    /// `system-wide` or `per-interface`.
    pub apply_limits: String,
    /// Source address, `None`: chosen by the system.
    pub outbound_interface: Option<String>,
    /// TLS Support.
    pub tls: String,
    /// DANE Support.
    pub dane: String,
    /// Bounce profile name.
    pub bounce_profile: String,
    /// Bounce Verification: address tagging (BATV) of the envelope sender.
    #[serde(default)]
    pub bounce_verification: bool,
    /// MTA-STS: `on` or `off`.
    #[serde(default = "default_mta_sts")]
    pub mta_sts: String,
    /// The fields written in the file (the others follow the default profile).
    pub explicit: Vec<String>,
}

fn default_mta_sts() -> String {
    "on".into()
}

impl DestinationView {
    /// The view of a profile.
    pub fn from_profile(p: &DestinationProfile) -> Self {
        let e = &p.explicit;
        let explicit = [
            ("ip_preference", e.ip_preference),
            ("max_concurrent_connections", e.max_concurrent_connections),
            ("max_messages_per_connection", e.max_messages_per_connection),
            ("recipient_limit", e.recipient_limit),
            ("apply_limits", e.apply_limits),
            ("outbound_interface", e.outbound_interface),
            ("tls", e.tls),
            ("dane", e.dane),
            ("bounce_profile", e.bounce_profile),
            ("bounce_verification", e.bounce_verification),
            ("mta_sts", e.mta_sts),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| n.to_string())
        .collect();
        DestinationView {
            domain: p.domain.to_string(),
            is_default: p.is_default(),
            ip_preference: p.ip_preference.as_str().into(),
            max_concurrent_connections: p.max_concurrent_connections,
            max_messages_per_connection: p.max_messages_per_connection,
            recipient_limit: p.recipient_limit.map(|l| RecipientLimitView {
                recipients: l.recipients,
                per_minutes: l.interval.as_secs() / 60,
            }),
            apply_limits: p.apply_limits.as_str().into(),
            outbound_interface: p.outbound_interface.map(|i| i.to_string()),
            tls: p.tls.as_str().into(),
            dane: p.dane.as_str().into(),
            bounce_profile: p.bounce_profile.clone(),
            bounce_verification: p.bounce_verification,
            mta_sts: p.mta_sts.as_str().into(),
            explicit,
        }
    }
}

/// An SMTP route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteView {
    /// `internal.example` or `.internal.example`.
    pub domain: String,
    /// `["USEDNS"]` or the hosts in order (`host`, `host:port`, `[IPv6]:port`).
    pub hosts: Vec<String>,
    /// When the destination profile of the route's domain has DANE, which cannot be
    /// verified on fixed route hosts: the warning and its fix.
    pub dane_warning: Option<String>,
}

impl RouteView {
    /// The view of a route of `config`.
    pub fn from_route(config: &Config, r: &SmtpRoute) -> Self {
        let hosts = match &r.hosts {
            RouteHosts::UseDns => vec!["USEDNS".to_string()],
            RouteHosts::Hosts(h) => h.iter().map(ToString::to_string).collect(),
        };
        let idx = config.smtp_routes.iter().position(|x| x == r);
        let dane_warning = idx.and_then(|i| {
            let key = format!("smtp_route[{i}]");
            config
                .lints()
                .into_iter()
                .find(|l| l.key == key || l.key.starts_with(&format!("{key}.")))
                .map(|l| {
                    if l.fix.is_empty() {
                        l.message
                    } else {
                        format!("{} (fix: {})", l.message, l.fix)
                    }
                })
        });
        RouteView {
            domain: r.domain.to_string(),
            hosts,
            dane_warning,
        }
    }
}

/// An upstream resolver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpstreamView {
    /// Address and port.
    pub address: String,
    /// Lower first; equal priorities share the load.
    pub priority: u32,
    /// What the DNSSEC probe found: `dnssec`, `no-dnssec` (strips RRSIGs, not used),
    /// `unreachable`, or `unknown` (not probed yet).
    pub capability: String,
}

/// A trust anchor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnchorView {
    /// The zone (`.` for the root).
    pub owner: String,
    /// `DS` or `DNSKEY`.
    pub kind: String,
    /// The record's data in presentation format.
    pub text: String,
    /// RFC 5011 state (`Valid since ...`, `AddPend since ... (hold-down until ...)`,
    /// `Revoked since ...`), or [`RFC5011_STATIC`] when the anchors are not tracked.
    pub rfc5011: String,
}

/// DNS settings and status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DnsView {
    /// The upstream resolvers in use, by priority.
    pub upstreams: Vec<UpstreamView>,
    /// The trust anchors in use.
    pub anchors: Vec<AnchorView>,
    /// Where the anchors come from (a file, or the built-in root anchors).
    pub anchor_source: String,
    /// The configured trust-anchor file, if any.
    pub trust_anchor_file: Option<String>,
    /// Per-query timeout.
    pub timeout_secs: u64,
}

/// A capability as a keyword.
pub fn capability_keyword(c: &Capability) -> &'static str {
    match c {
        Capability::Unknown => "unknown",
        Capability::Dnssec => "dnssec",
        Capability::StripsDnssec => "no-dnssec",
        Capability::Unreachable => "unreachable",
    }
}

impl DnsView {
    /// The view of the resolver status. `rfc5011`: the tracked keys when RFC 5011
    /// tracking is on (`None`: static anchors); keys learned by it are listed after the
    /// configured anchors, as DNSKEY rows.
    pub fn new(
        config: &Config,
        upstreams: &[(UpstreamConfig, Capability)],
        anchors: &TrustAnchors,
        rfc5011: Option<&[AnchorStateView]>,
    ) -> Self {
        let mut ups: Vec<UpstreamView> = upstreams
            .iter()
            .map(|(u, c)| UpstreamView {
                address: u.addr.to_string(),
                priority: u.priority,
                capability: capability_keyword(c).into(),
            })
            .collect();
        ups.sort_by_key(|u| u.priority);
        let mut list: Vec<AnchorView> = anchors
            .iter()
            .map(|(name, a)| {
                let (kind, text) = match a {
                    Anchor::Ds(ds) => ("DS", ds.to_string()),
                    Anchor::Dnskey(k) => ("DNSKEY", k.to_string()),
                };
                let key = a.key_tag_and_algorithm();
                let rfc5011 = match rfc5011 {
                    None => RFC5011_STATIC.to_string(),
                    Some(states) => states
                        .iter()
                        .find(|s| {
                            s.zone == name.to_string() && Some((s.key_tag, s.algorithm)) == key
                        })
                        .map(|s| s.describe())
                        .unwrap_or_else(|| "Valid (configured; key not seen yet)".into()),
                };
                AnchorView {
                    owner: name.to_string(),
                    kind: kind.into(),
                    text,
                    rfc5011,
                }
            })
            .collect();
        for s in rfc5011.unwrap_or_default().iter().filter(|s| !s.configured) {
            list.push(AnchorView {
                owner: s.zone.clone(),
                kind: "DNSKEY".into(),
                text: format!("key tag {} algorithm {} (RFC 5011)", s.key_tag, s.algorithm),
                rfc5011: s.describe(),
            });
        }
        DnsView {
            upstreams: ups,
            anchors: list,
            anchor_source: anchors.source().to_string(),
            trust_anchor_file: config
                .dns
                .trust_anchor_file
                .as_ref()
                .map(|p| p.display().to_string()),
            timeout_secs: config.dns.timeout.as_secs(),
        }
    }
}

/// The last delivery outcome of a domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutcomeView {
    /// When the attempt ended (Unix seconds).
    pub when: u64,
    /// The host tried last.
    pub host: Option<String>,
    /// `DANE SUCCESS`, `DANE FAILED`, `DANE FALLBACK`, `DANE TEMPORARY FAILURE`, `no DANE`.
    pub dane: String,
    /// TLS protocol, when a session was established.
    pub tls_protocol: Option<String>,
    /// TLS cipher, when a session was established.
    pub tls_cipher: Option<String>,
    /// What happened.
    pub detail: String,
    /// The host (and address) the attempt connected to last, also when it failed.
    #[serde(default)]
    pub tried: Option<String>,
    /// TLS reached the server's certificate and its check failed: why (the attempt
    /// then has no TLS session).
    #[serde(default)]
    pub cert_failed: Option<String>,
    /// What DANE Mandatory and Opportunistic would have decided for this attempt
    /// (the shadow evaluation; `None` when off or not evaluated).
    #[serde(default)]
    pub shadow: Option<danegate_delivery::shadow::ShadowRecord>,
}

impl OutcomeView {
    /// The TLS line: `TLSv1.3 TLS_AES_128_GCM_SHA256`, `TLS negotiated, certificate
    /// check failed: ...`, or `no TLS`.
    pub fn tls_text(&self) -> String {
        match (&self.tls_protocol, &self.tls_cipher, &self.cert_failed) {
            (Some(p), Some(c), _) => format!("{p} {c}"),
            (_, _, Some(why)) => format!("TLS negotiated, certificate check failed: {why}"),
            _ => "no TLS".into(),
        }
    }
}

impl From<&LastOutcome> for OutcomeView {
    fn from(o: &LastOutcome) -> Self {
        OutcomeView {
            when: unix(o.when),
            host: o.host.clone(),
            dane: o.dane.clone(),
            tls_protocol: o.tls.as_ref().map(|t| t.0.clone()),
            tls_cipher: o.tls.as_ref().map(|t| t.1.clone()),
            detail: o.detail.clone(),
            tried: o.tried.clone(),
            cert_failed: o.cert_failed.clone(),
            shadow: None,
        }
    }
}

/// Delivery status of one destination domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DomainStatus {
    /// The domain (lower case).
    pub domain: String,
    /// Queued recipients not in flight (deferred included).
    pub active: u64,
    /// Recipients being delivered.
    pub in_flight: u64,
    /// Delivery connections open now (the appliance's "Connections Out").
    #[serde(default)]
    pub connections_out: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Soft bounce events (deferred attempts).
    pub soft_bounced: u64,
    /// Recipients hard bounced.
    pub hard_bounced: u64,
    /// The last delivery outcome, if any attempt was made since the gateway started.
    pub last: Option<OutcomeView>,
}

impl DomainStatus {
    /// From queue counts and an outcome.
    pub fn new(domain: &str, c: &DomainCounts, last: Option<&LastOutcome>) -> Self {
        DomainStatus {
            domain: domain.to_string(),
            active: c.active,
            in_flight: c.in_flight,
            connections_out: 0,
            delivered: c.delivered,
            soft_bounced: c.soft_bounced,
            hard_bounced: c.hard_bounced,
            last: last.map(OutcomeView::from),
        }
    }
}

/// A queued recipient.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueuedView {
    /// Message id.
    pub mid: u64,
    /// Recipient id.
    pub rid: u64,
    /// Recipient address.
    pub address: String,
    /// Destination domain.
    pub domain: String,
    /// Envelope sender (`""`: null sender).
    pub sender: String,
    /// Being delivered now.
    pub in_flight: bool,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the message was received (Unix seconds).
    pub received_at: u64,
    /// Not attempted before (Unix seconds).
    pub next_attempt: u64,
    /// The last deferral reason.
    pub last_reason: Option<String>,
    /// The node that holds it: the node delivering it while in flight, else the node
    /// that accepted the message (`[server] node`; the same on every line with the
    /// embedded SQLite queue, one node).
    #[serde(default)]
    pub node: String,
}

impl QueuedView {
    /// From a queue recipient and its message's sender and receive time.
    pub fn new(r: &Recipient, sender: String, received_at: u64) -> Self {
        QueuedView {
            mid: r.mid,
            rid: r.rid,
            address: r.address.clone(),
            domain: r.domain.clone(),
            sender,
            in_flight: r.in_flight,
            attempts: r.attempts,
            received_at,
            next_attempt: unix(r.next_attempt),
            last_reason: r.last_reason.clone(),
            node: r.node.clone(),
        }
    }
}

/// One recipient of a stored message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecipientView {
    /// Recipient id.
    pub rid: u64,
    /// Address.
    pub address: String,
    /// Destination domain.
    pub domain: String,
    /// `queued`, `delivered` or `bounced`.
    pub state: String,
    /// Being delivered now.
    pub in_flight: bool,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not attempted before (Unix seconds).
    pub next_attempt: u64,
    /// The last reason (deferral, bounce, or the delivery reply).
    pub last_reason: Option<String>,
    /// The node that holds it: the node delivering it while in flight, else the node
    /// that accepted the message.
    #[serde(default)]
    pub node: String,
}

/// A stored message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageView {
    /// Message id.
    pub mid: u64,
    /// Envelope sender.
    pub sender: String,
    /// When it was received (Unix seconds).
    pub received_at: u64,
    /// Body size in bytes.
    pub size: u64,
    /// The client's IP address.
    pub received_from: String,
    /// The inbound connection.
    pub icid: u64,
    /// The mail flow policy that accepted it (`RELAY`, `ACCEPT`, `DSN`).
    pub policy: String,
    /// The Subject header, if any.
    pub subject: Option<String>,
    /// Every recipient.
    pub recipients: Vec<RecipientView>,
    /// The node that accepted it (`[server] node`).
    #[serde(default)]
    pub node: String,
}

impl MessageView {
    /// From an envelope and the message's subject.
    pub fn new(env: &Envelope, subject: Option<String>) -> Self {
        MessageView {
            mid: env.mid,
            sender: env.sender.clone(),
            received_at: unix(env.received_at),
            size: env.size,
            received_from: env.received_from.clone(),
            icid: env.icid,
            policy: env.policy.clone(),
            subject,
            recipients: env
                .recipients
                .iter()
                .map(|r| RecipientView {
                    rid: r.rid,
                    address: r.address.clone(),
                    domain: r.domain.clone(),
                    state: match r.state {
                        RcptState::Queued => "queued",
                        RcptState::Delivered => "delivered",
                        RcptState::Bounced => "bounced",
                    }
                    .into(),
                    in_flight: r.in_flight,
                    attempts: r.attempts,
                    next_attempt: unix(r.next_attempt),
                    last_reason: r.last_reason.clone(),
                    node: r.node.clone(),
                })
                .collect(),
            node: env.node.clone(),
        }
    }
}

/// The status of one destination domain (`hoststatus`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostStatus {
    /// The domain (lower case).
    pub domain: String,
    /// The destination profile that applies to it.
    pub profile: DestinationView,
    /// The SMTP route that applies to it, if any.
    pub route: Option<RouteView>,
    /// Counts and last outcome.
    pub counts: DomainStatus,
    /// Its queued recipients (up to 100).
    pub queued: Vec<QueuedView>,
    /// Its MTA-STS policy and latest outcome (RFC 8461), if any.
    #[serde(default)]
    pub mta_sts: Option<StsStatusView>,
}

/// A domain's MTA-STS state on Delivery Status (`hoststatus`, web, API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StsStatusView {
    /// The cached policy in force, if any.
    pub policy: Option<StsPolicyView>,
    /// The latest delivery attempt's outcome, if any since start.
    pub last: Option<danegate_mta_sts::StsOutcome>,
}

/// A cached MTA-STS policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StsPolicyView {
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// The TXT id it was published under.
    pub id: String,
    /// `max_age` in seconds.
    pub max_age: u64,
    /// The `mx` patterns.
    pub mx: Vec<String>,
    /// When it was fetched (RFC 3339).
    pub fetched: String,
    /// When it expires (RFC 3339).
    pub expires: String,
}

impl StsStatusView {
    /// The view of a cached policy and a last outcome; `None` when there is neither.
    pub fn new(
        policy: Option<danegate_mta_sts::CachedPolicy>,
        last: Option<danegate_mta_sts::StsOutcome>,
    ) -> Option<Self> {
        if policy.is_none() && last.is_none() {
            return None;
        }
        Some(StsStatusView {
            policy: policy.map(|c| StsPolicyView {
                mode: c.policy.mode.as_str().into(),
                id: c.id.clone(),
                max_age: c.policy.max_age,
                mx: c.policy.mx.iter().map(|m| m.as_str().to_string()).collect(),
                fetched: danegate_mta_sts::unix_text(c.fetched),
                expires: danegate_mta_sts::unix_text(c.expires),
            }),
            last,
        })
    }

    /// One line per fact, for `hoststatus` and the web page.
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        match &self.policy {
            Some(p) => {
                v.push(("MTA-STS policy".into(), format!("{} (id {})", p.mode, p.id)));
                v.push(("MTA-STS MX patterns".into(), p.mx.join(", ")));
                v.push((
                    "MTA-STS expires".into(),
                    format!(
                        "{} (max_age {} s, fetched {})",
                        p.expires, p.max_age, p.fetched
                    ),
                ));
            }
            None => v.push(("MTA-STS policy".into(), "none".into())),
        }
        if let Some(o) = &self.last {
            let text = match &o.result {
                danegate_mta_sts::StsResult::Ok => "ok".to_string(),
                danegate_mta_sts::StsResult::Failure {
                    result_type,
                    detail,
                } => format!("{result_type}: {detail}"),
            };
            let host = o
                .mx_host
                .as_ref()
                .map(|h| format!(" (MX {h})"))
                .unwrap_or_default();
            v.push(("MTA-STS last outcome".into(), format!("{text}{host}")));
        }
        v
    }
}

/// The unfolded `Subject:` header of a message, if any (raw, not MIME-decoded).
pub fn subject(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let mut found: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            break;
        }
        if let Some(s) = found.as_mut() {
            if line.starts_with([' ', '\t']) {
                s.push(' ');
                s.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some(rest) = line
            .get(..8)
            .filter(|h| h.eq_ignore_ascii_case("subject:"))
            .and_then(|_| line.get(8..))
        {
            found = Some(rest.trim().to_string());
        }
    }
    found
}
