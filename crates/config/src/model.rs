//! The typed configuration model. Every value here has passed validation.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::domain::DomainPattern;

/// `[server]`: identity and state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The name used in EHLO, in `Received:` headers and as `Reporting-MTA` of DSNs.
    pub hostname: String,
    /// True when `hostname` was written in the file; false when it was taken from the
    /// system (`/proc/sys/kernel/hostname`, `/etc/hostname`) or is the `localhost` fallback.
    /// [`Config::to_toml`](crate::Config::to_toml) writes only a configured hostname.
    pub hostname_configured: bool,
    /// Directory of the queue and of other state (RFC 5011 anchor state, ...).
    pub data_dir: PathBuf,
    /// `ca_file`: extra trusted root certificates (PEM) for every PKIX check (the
    /// *-verify TLS modes, MTA-STS policy hosts and MX hosts), besides the built-in
    /// Mozilla roots; `serve --ca-file` adds to it.
    pub ca_file: Option<PathBuf>,
    /// `connection_cache_idle_ms`: how long a delivery connection is kept open after
    /// its batch for the next message to the same destination; zero: never kept.
    pub connection_cache_idle: Duration,
    /// `node`: this gateway's name in a cluster sharing a queue (`None`: the host
    /// name's first label, see [`Server::node_name`]).
    pub node: Option<String>,
}

impl Server {
    /// The node name in force: `node`, or the host name's first label.
    pub fn node_name(&self) -> String {
        match &self.node {
            Some(n) => n.clone(),
            None => crate::queue::default_node(&self.hostname),
        }
    }
}

/// The certificate and key a listener offers with STARTTLS (Listeners).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// PEM certificate chain file.
    pub cert: PathBuf,
    /// PEM private key file.
    pub key: PathBuf,
}

/// `[[listener]]`: one SMTP listening socket and its limits (Listeners).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Name used in logs and the admin CLI; unique.
    pub name: String,
    /// Address and port to bind; unique among listeners (port 0 = ephemeral, for tests).
    pub address: SocketAddr,
    /// STARTTLS is offered when set.
    pub tls: Option<ListenerTls>,
    /// Largest accepted message in bytes (ESMTP SIZE, RFC 1870).
    pub max_message_size: u64,
    /// Most recipients per message.
    pub max_recipients: u32,
    /// Most simultaneous connections on this listener.
    pub max_connections: u32,
    /// Most simultaneous connections from one client IP address.
    pub max_connections_per_client: u32,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// Protocol errors on one connection before it is closed.
    pub max_errors: u32,
    /// `command_timeout_secs`: a whole command line must arrive within this (RFC 5321
    /// §4.5.3.2.7), however slowly it trickles in.
    pub command_timeout: Duration,
    /// `data_timeout_secs`: the whole content of one message must arrive within this.
    pub data_timeout: Duration,
    /// `session_timeout_secs`: a session is closed at its next command after this;
    /// zero: no limit.
    pub session_timeout: Duration,
    /// Connection slots of `max_connections` kept for sessions of RELAY sender groups.
    pub reserved_relay_connections: u32,
}

/// The mail flow policy of a sender group (the appliance's Host Access Table;
/// the direction of the mail decides whether DANE verifies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Any recipient; the mail is outbound and the destination profile's DANE applies.
    Relay,
    /// Only recipients of Recipient Access Table domains; delivered by SMTP routes; no DANE.
    Accept,
    /// Refused with a 5xx reply after the greeting.
    Reject,
    /// The TCP connection is closed before any SMTP greeting.
    TcpRefuse,
}

impl Policy {
    /// The spelling used in the file: `RELAY`, `ACCEPT`, `REJECT`, `TCPREFUSE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Relay => "RELAY",
            Policy::Accept => "ACCEPT",
            Policy::Reject => "REJECT",
            Policy::TcpRefuse => "TCPREFUSE",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a sender group's `senders` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderPattern {
    /// An IP address (stored as a full-length prefix) or a CIDR network.
    Net(IpNet),
    /// An exact host name, matched against the client's verified reverse DNS name.
    Host(String),
    /// `.example.com`: any name below `example.com`, matched against verified reverse DNS.
    DomainSuffix(String),
    /// `ALL`: every client.
    All,
}

impl fmt::Display for SenderPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SenderPattern::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            SenderPattern::Net(net) => write!(f, "{net}"),
            SenderPattern::Host(h) => f.write_str(h),
            SenderPattern::DomainSuffix(d) => write!(f, ".{d}"),
            SenderPattern::All => f.write_str("ALL"),
        }
    }
}

/// `[[sender_group]]`: a named list of senders and the policy applied to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderGroup {
    /// Group name (unique), e.g. `RELAYLIST`.
    pub name: String,
    /// Who belongs to the group.
    pub senders: Vec<SenderPattern>,
    /// What happens to their connections.
    pub policy: Policy,
}

/// `[recipient_access]`: the Recipient Access Table (RAT) — domains that `ACCEPT` senders
/// may send to (Host Access Table).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientAccess {
    /// Accepted recipient domains: `example.com` exact, `.example.com` subdomains.
    pub domains: Vec<DomainPattern>,
}

/// One upstream resolver (priorities, lower first, equal share the load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolver {
    /// Address and port (53 when written without a port).
    pub address: SocketAddr,
    /// Lower numbers are tried first.
    pub priority: u16,
}

/// `[dns]`: upstream resolvers, trust anchors, timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// Configured resolvers. Empty means: the nameservers of `/etc/resolv.conf`, all
    /// priority 0 (see [`Dns::effective_resolvers`]).
    pub resolvers: Vec<Resolver>,
    /// DS or DNSKEY lines in zone-file syntax replacing the built-in root anchors.
    pub trust_anchor_file: Option<PathBuf>,
    /// Time allowed for one upstream query before failing over.
    pub timeout: Duration,
    /// Clock skew allowed on RRSIG inception/expiration: 10% of each signature's
    /// validity period, at least this many seconds (RFC 4035 §5.3.1 checks the times;
    /// the skew rule is Unbound's `val-sig-skew-min`).
    pub sig_skew_min_secs: u32,
    /// ... and at most this many seconds (Unbound's `val-sig-skew-max`).
    pub sig_skew_max_secs: u32,
}

impl Dns {
    /// The resolvers to use: the configured ones, or those of `/etc/resolv.conf` (read now)
    /// when none are configured. Empty if neither gives any.
    pub fn effective_resolvers(&self) -> Vec<Resolver> {
        if !self.resolvers.is_empty() {
            return self.resolvers.clone();
        }
        match std::fs::read_to_string("/etc/resolv.conf") {
            Ok(text) => parse_resolv_conf(&text),
            Err(_) => Vec::new(),
        }
    }
}

/// The `nameserver` lines of a resolv.conf text as priority-0 resolvers on port 53.
/// Lines that are not IP addresses (and IPv6 zone ids) are skipped.
pub fn parse_resolv_conf(text: &str) -> Vec<Resolver> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(Resolver {
                address: SocketAddr::new(ip, 53),
                priority: 0,
            })
        })
        .collect()
}

/// Which address family the delivery tries first (appliance form: "IP Address Preference").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpPreference {
    /// AAAA first, then A (the appliance's default).
    Ipv6Preferred,
    /// A first, then AAAA.
    Ipv4Preferred,
    /// A only.
    Ipv4Only,
    /// AAAA only.
    Ipv6Only,
}

/// Whether a destination profile's limits count for the whole gateway or per outbound
/// interface (appliance form: "Apply limits: System Wide | Each Virtual Gateway").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplyLimits {
    /// One budget for the whole system.
    SystemWide,
    /// One budget per outbound interface.
    PerInterface,
}

/// TLS Support of a destination profile ("TLS Support values").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsSupport {
    /// Never STARTTLS.
    None,
    /// TLS if offered; no certificate check; a failure before the STARTTLS 220 continues
    /// in clear, after it does not.
    Preferred,
    /// TLS or no delivery; no certificate check.
    Required,
    /// TLS if offered; verification attempted and logged; delivered even if it fails.
    PreferredVerify,
    /// TLS with a certificate chaining to a trusted CA naming the MX host or the domain.
    RequiredVerify,
    /// As `RequiredVerify`, but the name must be the recipient domain (or the route host).
    RequiredVerifyHostedDomains,
}

/// MTA-STS (RFC 8461) for a destination profile: `on` honours a domain's published
/// policy, `off` never applies one (delivery makes no MTA-STS lookup; the shadow
/// evaluation still looks the policy up in the background to report what enforcing
/// it would do, unless shadow evaluation is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MtaSts {
    /// Discover, cache and apply the domain's policy (the default).
    On,
    /// No MTA-STS lookups.
    Off,
}

/// DANE Support of a destination profile (the appliance's "DANE Opportunistic" or
/// "DANE Mandatory").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaneSupport {
    /// No DANE lookups.
    None,
    /// The appliance's Opportunistic table: DANE where it is secure, else the TLS Support flow.
    Opportunistic,
    /// The appliance's Mandatory table: only a fully secure chain and a matching certificate.
    Mandatory,
}

macro_rules! keyword_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value with its spelling in the file, in documentation order.
            pub const ALL: &'static [($ty, &'static str)] = &[$(($ty::$variant, $text)),+];

            /// The spelling used in the file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(IpPreference {
    Ipv6Preferred => "ipv6-preferred",
    Ipv4Preferred => "ipv4-preferred",
    Ipv4Only => "ipv4-only",
    Ipv6Only => "ipv6-only",
});
keyword_enum!(ApplyLimits {
    SystemWide => "system-wide",
    PerInterface => "per-interface",
});
keyword_enum!(TlsSupport {
    None => "none",
    Preferred => "preferred",
    Required => "required",
    PreferredVerify => "preferred-verify",
    RequiredVerify => "required-verify",
    RequiredVerifyHostedDomains => "required-verify-hosted-domains",
});
keyword_enum!(MtaSts {
    On => "on",
    Off => "off",
});
keyword_enum!(DaneSupport {
    None => "none",
    Opportunistic => "opportunistic",
    Mandatory => "mandatory",
});

impl From<DaneSupport> for danegate_dane::DaneMode {
    /// The table that decides for each DANE Support value (exhaustive: a new value must
    /// say which table it uses).
    fn from(d: DaneSupport) -> Self {
        match d {
            DaneSupport::None => danegate_dane::DaneMode::None,
            DaneSupport::Opportunistic => danegate_dane::DaneMode::Opportunistic,
            DaneSupport::Mandatory => danegate_dane::DaneMode::Mandatory,
        }
    }
}

impl Policy {
    /// Every policy with its spelling in the file.
    pub const ALL: &'static [(Policy, &'static str)] = &[
        (Policy::Relay, "RELAY"),
        (Policy::Accept, "ACCEPT"),
        (Policy::Reject, "REJECT"),
        (Policy::TcpRefuse, "TCPREFUSE"),
    ];
}

/// A recipient rate limit: at most `recipients` per `interval` (appliance form: "Recipients:
/// Maximum of N per M minutes"). `recipients = 0` suspends delivery to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientLimit {
    /// Recipients allowed per interval, 0 – 1,000,000,000.
    pub recipients: u32,
    /// The interval, 1 – 60 minutes (whole minutes).
    pub interval: Duration,
}

/// What a destination profile applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationDomain {
    /// The default profile (`domain = "default"`).
    Default,
    /// `example.com` or `.example.com`.
    Pattern(DomainPattern),
}

impl fmt::Display for DestinationDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestinationDomain::Default => f.write_str("default"),
            DestinationDomain::Pattern(p) => write!(f, "{p}"),
        }
    }
}

/// Which fields of a (non-default) destination profile were written in the file. The
/// others follow the default profile, like the appliance form's "Use Default" choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExplicitFields {
    /// `ip_preference` was written.
    pub ip_preference: bool,
    /// `max_concurrent_connections` was written.
    pub max_concurrent_connections: bool,
    /// `max_messages_per_connection` was written.
    pub max_messages_per_connection: bool,
    /// `recipient_limit` was written.
    pub recipient_limit: bool,
    /// `apply_limits` was written.
    pub apply_limits: bool,
    /// `outbound_interface` was written.
    pub outbound_interface: bool,
    /// `tls` was written.
    pub tls: bool,
    /// `dane` was written.
    pub dane: bool,
    /// `bounce_profile` was written.
    pub bounce_profile: bool,
    /// `bounce_verification` was written.
    pub bounce_verification: bool,
    /// `mta_sts` was written.
    pub mta_sts: bool,
}

impl ExplicitFields {
    /// Every field set (the default profile's own flags).
    pub const ALL: ExplicitFields = ExplicitFields {
        ip_preference: true,
        max_concurrent_connections: true,
        max_messages_per_connection: true,
        recipient_limit: true,
        apply_limits: true,
        outbound_interface: true,
        tls: true,
        dane: true,
        bounce_profile: true,
        bounce_verification: true,
        mta_sts: true,
    };
}

/// `[[destination]]`: a Destination Controls profile (the appliance's form). The
/// values are effective: fields not written were taken from the default profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationProfile {
    /// What the profile applies to.
    pub domain: DestinationDomain,
    /// Address family order.
    pub ip_preference: IpPreference,
    /// Simultaneous delivery connections, 1 – 1000.
    pub max_concurrent_connections: u32,
    /// Messages per delivery connection, 1 – 1000.
    pub max_messages_per_connection: u32,
    /// Recipient rate limit; `None` = no limit.
    pub recipient_limit: Option<RecipientLimit>,
    /// Scope of the limits above.
    pub apply_limits: ApplyLimits,
    /// Source address of delivery connections; `None` = chosen by the system.
    pub outbound_interface: Option<IpAddr>,
    /// TLS Support.
    pub tls: TlsSupport,
    /// DANE Support; never anything but `None` when `tls` is `None`.
    pub dane: DaneSupport,
    /// Name of the bounce profile (exists in [`Config::bounce_profiles`](crate::Config)).
    pub bounce_profile: String,
    /// Bounce Verification "Perform address tagging": tag the envelope sender (BATV
    /// `prvs=`) of messages delivered with this profile.
    pub bounce_verification: bool,
    /// MTA-STS (RFC 8461): honour the recipient domain's policy.
    pub mta_sts: MtaSts,
    /// Which fields were written (the rest follow the default profile).
    pub explicit: ExplicitFields,
}

impl DestinationProfile {
    /// The default profile of the embedded default: IPv6 preferred, 500 connections, 50
    /// messages per connection, no recipient limit, system-wide, TLS Preferred, DANE
    /// Opportunistic, bounce profile `default`.
    pub fn builtin_default() -> DestinationProfile {
        DestinationProfile {
            domain: DestinationDomain::Default,
            ip_preference: IpPreference::Ipv6Preferred,
            max_concurrent_connections: 500,
            max_messages_per_connection: 50,
            recipient_limit: None,
            apply_limits: ApplyLimits::SystemWide,
            outbound_interface: None,
            tls: TlsSupport::Preferred,
            dane: DaneSupport::Opportunistic,
            bounce_profile: "default".to_string(),
            bounce_verification: false,
            mta_sts: MtaSts::On,
            explicit: ExplicitFields::ALL,
        }
    }

    /// True for the default profile.
    pub fn is_default(&self) -> bool {
        self.domain == DestinationDomain::Default
    }
}

/// One host of an SMTP route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteHostName {
    /// An IP address.
    Ip(IpAddr),
    /// A host name, resolved with A/AAAA.
    Name(String),
}

/// One host of an SMTP route and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHost {
    /// Address or name.
    pub host: RouteHostName,
    /// Port, 25 unless written.
    pub port: u16,
}

impl fmt::Display for RouteHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (RouteHostName::Ip(IpAddr::V6(ip)), 25) => write!(f, "{ip}"),
            (RouteHostName::Ip(IpAddr::V6(ip)), port) => write!(f, "[{ip}]:{port}"),
            (RouteHostName::Ip(ip), 25) => write!(f, "{ip}"),
            (RouteHostName::Ip(ip), port) => write!(f, "{ip}:{port}"),
            (RouteHostName::Name(n), 25) => f.write_str(n),
            (RouteHostName::Name(n), port) => write!(f, "{n}:{port}"),
        }
    }
}

/// Where an SMTP route sends mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteHosts {
    /// `USEDNS`: normal MX resolution (DANE can apply).
    UseDns,
    /// These hosts, in order. DANE cannot be verified on them (as on the appliance).
    Hosts(Vec<RouteHost>),
}

/// `[[smtp_route]]`: a domain delivered to fixed hosts instead of its MX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpRoute {
    /// `internal.example` or `.internal.example`.
    pub domain: DomainPattern,
    /// Destination hosts.
    pub hosts: RouteHosts,
}

/// `[[bounce_profile]]`: retry schedule and DSN settings (bounce profiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceProfile {
    /// Name (unique); `default` always exists.
    pub name: String,
    /// First retry delay, 1 s – 24 h.
    pub initial_retry: Duration,
    /// Cap of the growing retry delay, `initial_retry` – 24 h.
    pub max_retry_interval: Duration,
    /// Retries before a soft failure becomes a bounce, 0 – 10000.
    pub max_retries: u32,
    /// Time in queue before a bounce, 60 s – 3,000,000 s (default 72 h).
    pub max_queue_time: Duration,
    /// Send a delay warning DSN after this long in queue; `None` = never.
    pub delay_warning_after: Option<Duration>,
    /// Send DSNs for hard bounces (RFC 3464, never for a bounce).
    pub hard_bounces: bool,
}

impl BounceProfile {
    /// A profile with the documented defaults.
    pub fn with_defaults(name: &str) -> BounceProfile {
        BounceProfile {
            name: name.to_string(),
            initial_retry: Duration::from_secs(60),
            max_retry_interval: Duration::from_secs(3600),
            max_retries: 100,
            max_queue_time: Duration::from_secs(259_200),
            delay_warning_after: None,
            hard_bounces: true,
        }
    }
}

/// A warning that is not an error: the configuration is valid but probably not what the
/// administrator wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Key path the warning is about, e.g. `smtp_route[0]`.
    pub key: String,
    /// What will happen.
    pub message: String,
    /// What to change.
    pub fix: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}: {}", self.key, self.message)?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Information printed by `config check` that needs no change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Key path.
    pub key: String,
    /// The information.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "note: {}: {}", self.key, self.message)
    }
}

/// `[[log]]` `level`: the appliance's log levels, least verbose first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Critical,
    /// Errors and warnings.
    Warning,
    /// The mail_logs lines (ICID, MID, RID, DCID).
    Info,
    /// Plus every DNS query and DANE step (the appliance's debug mail logs).
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The spelling used in the file: `critical`, `warning`, `info`, `debug`, `trace`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Critical => "critical",
            LogLevel::Warning => "warning",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `[[log]]` `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// `Tue Feb  5 13:20:03 2019 Info: ...`.
    #[default]
    Text,
    /// One JSON object per line (log shippers).
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// `[[log]]` `rotate_interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotateInterval {
    /// At the first line of a new hour (UTC).
    Hourly,
    /// At the first line of a new day (UTC).
    Daily,
}

impl RotateInterval {
    /// `hourly` or `daily`.
    pub fn as_str(self) -> &'static str {
        match self {
            RotateInterval::Hourly => "hourly",
            RotateInterval::Daily => "daily",
        }
    }
}

/// `[[log]]`: one log subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSubscription {
    /// Unique name, e.g. `mail_logs`, `mail_logs_d`.
    pub name: String,
    /// The current file; `None` = `<data_dir>/logs/<name>` (see [`LogSubscription::path`]).
    pub file: Option<PathBuf>,
    /// The most verbose level written.
    pub level: LogLevel,
    /// Text or JSON lines.
    pub format: LogFormat,
    /// Rotate before the file would exceed this many bytes; `None` = no size rotation.
    pub rotate_size_bytes: Option<u64>,
    /// Rotate hourly or daily; `None` = no time rotation.
    pub rotate_interval: Option<RotateInterval>,
    /// Files kept, the current one included (1–1000).
    pub max_files: u32,
}

impl LogSubscription {
    /// A subscription with the defaults of `docs/configuration.md`: file
    /// `<data_dir>/logs/<name>`, level info, text, 10 MiB rotation, 10 files.
    pub fn with_defaults(name: &str) -> LogSubscription {
        LogSubscription {
            name: name.to_string(),
            file: None,
            level: LogLevel::Info,
            format: LogFormat::Text,
            rotate_size_bytes: Some(crate::limits::DEFAULT_LOG_ROTATE_SIZE),
            rotate_interval: None,
            max_files: crate::limits::DEFAULT_LOG_MAX_FILES,
        }
    }

    /// The file written: `file`, or `<data_dir>/logs/<name>`.
    pub fn path(&self, data_dir: &std::path::Path) -> PathBuf {
        match &self.file {
            Some(f) => f.clone(),
            None => data_dir.join("logs").join(&self.name),
        }
    }
}
