//! The admin CLI's arguments: which gateway (`--data-dir`, `--config`, `--json`), the
//! Destination Controls form as flags, and each command's subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use danegate_admin::DestinationForm;
use danegate_config::Config;

/// Which gateway to talk to, and how to print.
#[derive(Args, Debug, Clone, Default)]
pub struct Target {
    /// The running gateway's data directory (its control socket is `DIR/control.sock`).
    #[arg(long, value_name = "DIR", global = true, conflicts_with = "config")]
    pub data_dir: Option<PathBuf>,
    /// The running gateway's configuration file (its `server.data_dir` is used).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Target {
    /// This target, with the top-level `--data-dir` / `--config` as fallback.
    pub fn or(mut self, top: &Target) -> Target {
        if self.data_dir.is_none() && self.config.is_none() {
            self.data_dir = top.data_dir.clone();
            self.config = top.config.clone();
        }
        self.json |= top.json;
        self
    }

    /// The data directory: `--data-dir`, the `server.data_dir` of `--config`, or the
    /// default `./danegate-data`.
    pub(crate) fn data_dir(&self) -> Result<PathBuf, String> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        match &self.config {
            Some(f) => Config::load(f)
                .map(|c| c.server.data_dir)
                .map_err(|e| e.to_string()),
            None => Ok(PathBuf::from(danegate_config::limits::DEFAULT_DATA_DIR)),
        }
    }
}

/// The fields of the Destination Controls form as flags.
#[derive(Args, Debug, Clone, Default)]
pub struct FormArgs {
    /// IP address preference: ipv6-preferred, ipv4-preferred, ipv4-only, ipv6-only
    /// (`default`: follow the default profile).
    #[arg(long, value_name = "PREF")]
    pub(crate) ip_preference: Option<String>,
    /// Concurrent connections, 1–1000.
    #[arg(long, value_name = "N")]
    pub(crate) max_concurrent_connections: Option<String>,
    /// Messages per connection, 1–1000.
    #[arg(long, value_name = "N")]
    pub(crate) max_messages_per_connection: Option<String>,
    /// Recipient limit: `none`, or 0–1,000,000,000 recipients per --per-minutes.
    #[arg(long, value_name = "N|none")]
    pub(crate) recipient_limit: Option<String>,
    /// Minutes of the recipient limit, 1–60 (default 60).
    #[arg(long, value_name = "M", alias = "recipient-limit-per-minutes")]
    pub(crate) per_minutes: Option<String>,
    /// Apply limits: system-wide or per-interface.
    #[arg(long, value_name = "SCOPE")]
    pub(crate) apply_limits: Option<String>,
    /// TLS Support: none, preferred, required, preferred-verify, required-verify,
    /// required-verify-hosted-domains.
    #[arg(long, value_name = "MODE")]
    pub(crate) tls: Option<String>,
    /// DANE Support: none, opportunistic, mandatory.
    #[arg(long, value_name = "MODE")]
    pub(crate) dane: Option<String>,
    /// Bounce profile name.
    #[arg(long, value_name = "NAME")]
    pub(crate) bounce_profile: Option<String>,
    /// Outbound interface (an IP address of this host, or `none`).
    #[arg(long, value_name = "IP|none")]
    pub(crate) outbound_interface: Option<String>,
    /// Bounce Verification: perform address tagging (BATV) of the envelope sender,
    /// yes or no (`default`: follow the default profile).
    #[arg(long, value_name = "yes|no")]
    pub(crate) bounce_verification: Option<String>,
    /// MTA-STS (RFC 8461): on or off (`default`: follow the default profile).
    #[arg(long, value_name = "on|off")]
    pub(crate) mta_sts: Option<String>,
}

impl FormArgs {
    pub(crate) fn form(&self, domain: String) -> DestinationForm {
        DestinationForm {
            domain,
            ip_preference: self.ip_preference.clone(),
            max_concurrent_connections: self.max_concurrent_connections.clone(),
            max_messages_per_connection: self.max_messages_per_connection.clone(),
            recipient_limit: self.recipient_limit.clone(),
            recipient_limit_per_minutes: self.per_minutes.clone(),
            apply_limits: self.apply_limits.clone(),
            tls: self.tls.clone(),
            dane: self.dane.clone(),
            bounce_profile: self.bounce_profile.clone(),
            outbound_interface: self.outbound_interface.clone(),
            bounce_verification: self.bounce_verification.clone(),
            mta_sts: self.mta_sts.clone(),
        }
    }
}

/// `danegate destconfig ...`
#[derive(Args, Debug)]
pub struct DestconfigArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(crate) cmd: DestconfigCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum DestconfigCmd {
    /// List the destination profiles (the default first).
    List,
    /// Show one profile (`default` for the default profile).
    Show {
        /// `example.com`, `.example.com` or `default`.
        domain: String,
    },
    /// Add a profile; fields not given follow the default profile.
    Add {
        /// `example.com`, or `.example.com` for its subdomains.
        domain: String,
        #[command(flatten)]
        fields: FormArgs,
    },
    /// Change fields of a profile (`default` for the default profile); others stay.
    Edit {
        /// The profile.
        domain: String,
        /// Rename the profile to this domain.
        #[arg(long, value_name = "DOMAIN")]
        rename: Option<String>,
        #[command(flatten)]
        fields: FormArgs,
    },
    /// Delete a profile.
    Delete {
        /// The profile.
        domain: String,
    },
}

/// `danegate smtproutes ...`
#[derive(Args, Debug)]
pub struct SmtproutesArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(crate) cmd: SmtproutesCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum SmtproutesCmd {
    /// List the SMTP routes.
    List,
    /// Add the route of DOMAIN or replace its hosts.
    Set {
        /// `internal.example` or `.internal.example`.
        domain: String,
        /// `host`, `host:port`, `[IPv6]:port`, in order; or `USEDNS`.
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// Delete the route of DOMAIN.
    Delete {
        /// The route's domain.
        domain: String,
    },
}

/// `danegate dnsconfig ...`
#[derive(Args, Debug)]
pub struct DnsconfigArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(crate) cmd: DnsconfigCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum DnsconfigCmd {
    /// Upstream resolvers (priority, DNSSEC probe result) and trust anchors.
    Show,
    /// Set the resolvers (none: those of /etc/resolv.conf), the query timeout and the
    /// trust-anchor file, then commit.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["resolvers", "resolv_conf"])))]
    Set {
        /// `ADDR[:PORT] PRIORITY` (priority 0 when left out); repeat for each resolver.
        #[arg(long = "resolver", value_name = "ADDR PRIO")]
        resolvers: Vec<String>,
        /// No configured resolvers: use the nameservers of /etc/resolv.conf.
        #[arg(long, conflicts_with = "resolvers")]
        resolv_conf: bool,
        /// Query timeout, 1 – 60 seconds (`default`: 3); unchanged when not given.
        #[arg(long = "timeout", value_name = "N")]
        timeout: Option<String>,
        /// A file of DS/DNSKEY lines, or `builtin` for the built-in root anchors;
        /// unchanged when not given.
        #[arg(long = "trust-anchor", value_name = "FILE|builtin")]
        trust_anchor: Option<String>,
    },
}

/// `danegate hoststatus DOMAIN`
#[derive(Args, Debug)]
pub struct HoststatusArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// The destination domain.
    pub(crate) domain: String,
}

/// `danegate tophosts [N]`
#[derive(Args, Debug)]
pub struct TophostsArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// How many domains (by active recipients).
    #[arg(default_value_t = 20)]
    pub(crate) n: usize,
}

/// `danegate queue ...`
#[derive(Args, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(crate) cmd: QueueCmd,
}

#[derive(Subcommand, Debug)]
pub(crate) enum QueueCmd {
    /// Queued recipients (of one domain, or all).
    List {
        /// Only this destination domain.
        domain: Option<String>,
        /// At most this many recipients.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// A message: envelope, subject and every recipient.
    Show {
        /// Message id.
        mid: u64,
    },
    /// Make queued recipients (of one domain, or all) due now.
    Delivernow {
        /// Only this destination domain.
        domain: Option<String>,
    },
    /// Bounce a message's queued recipients (or one of them) with a DSN to the sender.
    Bounce {
        /// Message id.
        mid: u64,
        /// Only this recipient.
        rid: Option<u64>,
    },
    /// Delete a message (no DSN).
    Delete {
        /// Message id.
        mid: u64,
    },
}

/// `danegate tail LOG`
#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// The log subscription (`mail_logs`): the file `<data_dir>/logs/<LOG>`.
    pub(crate) log: String,
    /// Read this file instead.
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,
    /// Lines to show.
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    pub(crate) lines: usize,
    /// Keep printing lines as they are written (follows rotations).
    #[arg(short = 'f', long)]
    pub(crate) follow: bool,
}
