//! danegate's configuration: one TOML file, a typed and fully validated [`Config`],
//! lints for valid but dangerous combinations, and a writer for the admin CLI.
//!
//! - [`Config::from_toml_str`] / [`Config::load`] return every error of a file at once,
//!   each naming its key path, the value as written and the allowed range. Unknown keys are errors.
//! - [`Config::embedded_default`] is the configuration used without a file.
//! - [`Config::destination_for`], [`Config::route_for`], [`Config::sender_policy`] and
//!   [`Config::rat_accepts`] answer the questions of the delivery and listener code with
//!   the appliance's matching rules (exact, then the longest `.suffix`, then default).
//! - [`Config::lints`] warns of the appliance's documented trap: an SMTP route to fixed hosts
//!   under a profile with DANE (its guide: DANE fails on SMTP routes unless the destination
//!   host is configured as USEDNS).
//! - [`check_report`] is the text of `danegate config check`.
//!
//! The file format is documented in `docs/configuration.md`.

#![warn(missing_docs)]

mod coverage;
mod domain;
mod error;
mod lint;
mod model;
mod parse;
mod queue;
mod report;
mod tls_rpt;
mod write;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

pub use domain::{DomainPattern, check_domain, is_below, normalize};
pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use queue::{PasswordSource, QueueBackend, QueueSettings, check_node, check_url, default_node};
pub use report::{check_report, check_report_str};
pub use tls_rpt::TlsRpt;

/// Ranges and defaults of the numeric settings, `(min, max)` inclusive. The destination
/// ranges are the appliance form's ("between 1 and 1,000", "between 0 and 1,000,000,000 per
/// number of minutes between 1 and 60").
pub mod limits {
    /// `listener.max_message_size` bytes: 1 KiB – 1 GiB.
    pub const MAX_MESSAGE_SIZE: (i64, i64) = (1024, 1 << 30);
    /// `listener.max_recipients`.
    pub const MAX_RECIPIENTS: (i64, i64) = (1, 100_000);
    /// `listener.max_connections`.
    pub const MAX_CONNECTIONS: (i64, i64) = (1, 100_000);
    /// `listener.idle_timeout_secs`.
    pub const IDLE_TIMEOUT_SECS: (i64, i64) = (10, 3600);
    /// `listener.max_errors`.
    pub const MAX_ERRORS: (i64, i64) = (1, 1000);
    /// `listener.command_timeout_secs`.
    pub const COMMAND_TIMEOUT_SECS: (i64, i64) = (10, 3600);
    /// `listener.data_timeout_secs`.
    pub const DATA_TIMEOUT_SECS: (i64, i64) = (10, 86_400);
    /// `listener.session_timeout_secs` (0: no limit).
    pub const SESSION_TIMEOUT_SECS: (i64, i64) = (0, 604_800);
    /// `dns.resolvers[].priority`.
    pub const RESOLVER_PRIORITY: (i64, i64) = (0, 65_535);
    /// `dns.timeout_secs`.
    pub const DNS_TIMEOUT_SECS: (i64, i64) = (1, 60);
    /// Default `dns.timeout_secs`.
    pub const DEFAULT_DNS_TIMEOUT_SECS: u64 = 3;
    /// `dns.sig_skew_min_secs` and `dns.sig_skew_max_secs` (up to a week).
    pub const DNS_SIG_SKEW_SECS: (i64, i64) = (0, 604_800);
    /// Default `dns.sig_skew_min_secs` (Unbound's `val-sig-skew-min`).
    pub const DEFAULT_DNS_SIG_SKEW_MIN_SECS: u32 = 3600;
    /// Default `dns.sig_skew_max_secs` (Unbound's `val-sig-skew-max`).
    pub const DEFAULT_DNS_SIG_SKEW_MAX_SECS: u32 = 86_400;
    /// `destination.max_concurrent_connections`.
    pub const MAX_CONCURRENT_CONNECTIONS: (i64, i64) = (1, 1000);
    /// `destination.max_messages_per_connection`.
    pub const MAX_MESSAGES_PER_CONNECTION: (i64, i64) = (1, 1000);
    /// `destination.recipient_limit.recipients`.
    pub const RECIPIENT_LIMIT_RECIPIENTS: (i64, i64) = (0, 1_000_000_000);
    /// `destination.recipient_limit.per_minutes`.
    pub const RECIPIENT_LIMIT_PER_MINUTES: (i64, i64) = (1, 60);
    /// `bounce_profile.initial_retry_secs`.
    pub const INITIAL_RETRY_SECS: (i64, i64) = (1, 86_400);
    /// `bounce_profile.max_retry_interval_secs` (the minimum is `initial_retry_secs`).
    pub const MAX_RETRY_INTERVAL_SECS: (i64, i64) = (1, 86_400);
    /// `bounce_profile.max_retries`.
    pub const MAX_RETRIES: (i64, i64) = (0, 10_000);
    /// `bounce_profile.max_queue_time_secs`.
    pub const MAX_QUEUE_TIME_SECS: (i64, i64) = (60, 3_000_000);
    /// Default `server.data_dir`.
    pub const DEFAULT_DATA_DIR: &str = "./danegate-data";
    /// `server.connection_cache_idle_ms`: 0 (no caching) – 60 s.
    pub const CONNECTION_CACHE_IDLE_MS: (i64, i64) = (0, 60_000);
    /// Default `server.connection_cache_idle_ms` (Postfix's
    /// `smtp_connection_cache_time_limit` is 2 s).
    pub const DEFAULT_CONNECTION_CACHE_IDLE_MS: u64 = 2_000;
    /// Default listener address.
    pub const DEFAULT_LISTENER: &str = "127.0.0.1:2525";
    /// `log.rotate_size_bytes` when not 0 (0 = no size rotation): 1 KiB – 1 TiB.
    pub const LOG_ROTATE_SIZE: (i64, i64) = (1024, 1 << 40);
    /// Default `log.rotate_size_bytes`: 10 MiB.
    pub const DEFAULT_LOG_ROTATE_SIZE: u64 = 10 * 1024 * 1024;
    /// `log.max_files`.
    pub const LOG_MAX_FILES: (i64, i64) = (1, 1000);
    /// Default `log.max_files`.
    pub const DEFAULT_LOG_MAX_FILES: u32 = 10;
    /// The subscription used when no `[[log]]` is written.
    pub const DEFAULT_LOG_NAME: &str = "mail_logs";
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[server]`.
    pub server: Server,
    /// `[[listener]]`, at least one.
    pub listeners: Vec<Listener>,
    /// `[[sender_group]]`: the Host Access Table in evaluation order.
    pub sender_groups: Vec<SenderGroup>,
    /// `[recipient_access]`: the RAT.
    pub recipient_access: RecipientAccess,
    /// `[dns]`.
    pub dns: Dns,
    /// The default destination profile (always present).
    pub default_destination: DestinationProfile,
    /// The other destination profiles, in file order.
    pub destinations: Vec<DestinationProfile>,
    /// `[[smtp_route]]`, in file order.
    pub smtp_routes: Vec<SmtpRoute>,
    /// `[[bounce_profile]]`; one is named `default`.
    pub bounce_profiles: Vec<BounceProfile>,
    /// `[[log]]` as written, in file order; empty = the default subscription (see
    /// [`Config::log_subscriptions`]).
    pub logs: Vec<LogSubscription>,
    /// `[tls_rpt]`: SMTP TLS Reporting (off by default).
    pub tls_rpt: TlsRpt,
    /// `[queue]`: the embedded SQLite queue or a shared PostgreSQL one.
    pub queue: QueueSettings,
}

impl Listener {
    /// The default listener: `outbound` on 127.0.0.1:2525, no STARTTLS, default limits.
    pub fn default_listener() -> Listener {
        Listener {
            name: "outbound".to_string(),
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2525),
            tls: None,
            max_message_size: 10 * 1024 * 1024,
            max_recipients: 1000,
            max_connections: 500,
            max_connections_per_client: 50,
            idle_timeout: Duration::from_secs(300),
            max_errors: 10,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(3600),
            reserved_relay_connections: 50,
        }
    }
}

impl SenderGroup {
    /// The default Host Access Table entry: `RELAYLIST` = 127.0.0.1 and ::1, `RELAY`.
    pub fn default_relaylist() -> SenderGroup {
        SenderGroup {
            name: "RELAYLIST".to_string(),
            senders: vec![
                SenderPattern::Net(IpNet::from(IpAddr::V4(Ipv4Addr::LOCALHOST))),
                SenderPattern::Net(IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ],
            policy: Policy::Relay,
        }
    }

    /// Does this group contain the client? Host name patterns match only a verified
    /// (forward-confirmed) reverse DNS name.
    pub fn contains(&self, ip: IpAddr, verified_rdns: Option<&str>) -> bool {
        let ip = unmap(ip);
        let rdns = verified_rdns.map(normalize);
        self.senders.iter().any(|s| match s {
            SenderPattern::All => true,
            SenderPattern::Net(net) => net.contains(&ip),
            SenderPattern::Host(h) => rdns.as_deref() == Some(h.as_str()),
            SenderPattern::DomainSuffix(d) => rdns.as_deref().is_some_and(|r| is_below(r, d)),
        })
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are matched as IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The system's host name (`/proc/sys/kernel/hostname`, then `/etc/hostname`), or
/// `localhost` when neither gives a valid name.
pub fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| check_domain(t.trim()).ok())
        .next()
        .unwrap_or_else(|| "localhost".to_string())
}

impl Config {
    /// Parses and validates a TOML text. `source_name` (usually the file name) prefixes
    /// each error line. Returns every error found, in file order.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Config, ConfigErrors> {
        parse::parse(text, source_name)
    }

    /// Reads and validates a file. An unreadable file is one error with an empty key.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let path = path.as_ref();
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_toml_str(&text, &name),
            Err(e) => Err(ConfigErrors {
                source_name: name,
                errors: vec![ConfigError {
                    key: String::new(),
                    value: String::new(),
                    message: format!("cannot read the file: {e}"),
                    line: None,
                    column: None,
                }],
            }),
        }
    }

    /// The configuration without a file (equal to parsing an empty file): listener
    /// 127.0.0.1:2525, sender group `RELAYLIST` relaying for 127.0.0.1 and ::1 (no other
    /// client may send), no RAT, resolvers of `/etc/resolv.conf`, built-in root anchors,
    /// default destination profile TLS Preferred + DANE Opportunistic, the
    /// `default` bounce profile (72 h in queue).
    pub fn embedded_default() -> Config {
        Config {
            server: Server {
                hostname: system_hostname(),
                hostname_configured: false,
                data_dir: PathBuf::from(limits::DEFAULT_DATA_DIR),
                ca_file: None,
                connection_cache_idle: Duration::from_millis(
                    limits::DEFAULT_CONNECTION_CACHE_IDLE_MS,
                ),
                node: None,
            },
            queue: QueueSettings::default(),
            listeners: vec![Listener::default_listener()],
            sender_groups: vec![SenderGroup::default_relaylist()],
            recipient_access: RecipientAccess::default(),
            dns: Dns {
                resolvers: Vec::new(),
                trust_anchor_file: None,
                timeout: Duration::from_secs(limits::DEFAULT_DNS_TIMEOUT_SECS),
                sig_skew_min_secs: limits::DEFAULT_DNS_SIG_SKEW_MIN_SECS,
                sig_skew_max_secs: limits::DEFAULT_DNS_SIG_SKEW_MAX_SECS,
            },
            default_destination: DestinationProfile::builtin_default(),
            destinations: Vec::new(),
            smtp_routes: Vec::new(),
            bounce_profiles: vec![BounceProfile::with_defaults("default")],
            logs: Vec::new(),
            tls_rpt: TlsRpt::default(),
        }
    }

    /// The log subscriptions in force: the `[[log]]` tables, or without any, one
    /// `mail_logs` at Info in `<data_dir>/logs/mail_logs` (10 MiB, 10 files).
    pub fn log_subscriptions(&self) -> Vec<LogSubscription> {
        if self.logs.is_empty() {
            vec![LogSubscription::with_defaults(limits::DEFAULT_LOG_NAME)]
        } else {
            self.logs.clone()
        }
    }

    /// The destination profile for a recipient domain: the exact profile, else the
    /// longest matching `.suffix` profile, else the default profile. Case-insensitive; a
    /// trailing dot is ignored.
    pub fn destination_for(&self, domain: &str) -> &DestinationProfile {
        let name = normalize(domain);
        best_match(
            self.destinations.iter().filter_map(|p| match &p.domain {
                DestinationDomain::Pattern(pat) => Some((pat, p)),
                DestinationDomain::Default => None,
            }),
            &name,
        )
        .unwrap_or(&self.default_destination)
    }

    /// The SMTP route for a recipient domain, matched like [`Config::destination_for`];
    /// `None` when no route applies (normal MX delivery).
    pub fn route_for(&self, domain: &str) -> Option<&SmtpRoute> {
        let name = normalize(domain);
        best_match(self.smtp_routes.iter().map(|r| (&r.domain, r)), &name)
    }

    /// The Host Access Table decision for a client: the first sender group (in file
    /// order) containing it, and its policy; `(None, Policy::Reject)` when no group
    /// matches — never an open relay. `verified_rdns` is the client's reverse
    /// DNS name only when it was forward-confirmed; host name patterns need it.
    pub fn sender_policy(
        &self,
        ip: IpAddr,
        verified_rdns: Option<&str>,
    ) -> (Option<&SenderGroup>, Policy) {
        match self
            .sender_groups
            .iter()
            .find(|g| g.contains(ip, verified_rdns))
        {
            Some(g) => (Some(g), g.policy),
            None => (None, Policy::Reject),
        }
    }

    /// Is `domain` in the Recipient Access Table (exact, or below a `.domain` entry)?
    pub fn rat_accepts(&self, domain: &str) -> bool {
        let name = normalize(domain);
        self.recipient_access
            .domains
            .iter()
            .any(|p| p.matches(&name))
    }

    /// The bounce profile with this name.
    pub fn bounce_profile(&self, name: &str) -> Option<&BounceProfile> {
        self.bounce_profiles.iter().find(|b| b.name == name)
    }

    /// The bounce profile a destination profile uses (validation guarantees it exists;
    /// falls back to the built-in defaults if the model was edited inconsistently).
    pub fn bounce_profile_for(&self, profile: &DestinationProfile) -> BounceProfile {
        self.bounce_profile(&profile.bounce_profile)
            .or_else(|| self.bounce_profile("default"))
            .cloned()
            .unwrap_or_else(|| BounceProfile::with_defaults("default"))
    }

    /// Warnings about a valid configuration (see `docs/configuration.md`, "Lints").
    /// Pure: does not look at the system. The embedded default has none.
    pub fn lints(&self) -> Vec<Lint> {
        lint::lints(self)
    }

    /// Information for `config check` (resolver probing, where defaults come from).
    pub fn notes(&self) -> Vec<Note> {
        lint::notes(self)
    }

    /// The configuration as a TOML file that parses back to an equal `Config`.
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }
}

/// Exact match first, then the longest `.suffix` pattern.
fn best_match<'a, T>(
    items: impl Iterator<Item = (&'a DomainPattern, &'a T)>,
    name: &str,
) -> Option<&'a T> {
    let mut best: Option<(usize, &T)> = None;
    for (pat, item) in items {
        if !pat.matches(name) {
            continue;
        }
        let score = match pat {
            DomainPattern::Exact(_) => usize::MAX,
            DomainPattern::Subdomains(d) => d.len(),
        };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, item));
        }
    }
    best.map(|(_, item)| item)
}
