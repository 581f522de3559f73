//! danegate-admin: the operations of the admin CLI (over the control socket, see
//! [`control`]) and of the web UI, on a running gateway.
//!
//! Configuration changes (destination controls, SMTP routes) are made on the TOML form
//! of the configuration in force and go through the same validation as the configuration
//! file, so their errors name the key, the value and the allowed range. A valid change is
//! written atomically to the configuration file (`<file>.tmp`, fsync, rename; only the
//! changed keys are rewritten with `toml_edit`, so the operator's comments, key order and
//! formatting survive; the canonical form of `Config::to_toml` only when the file cannot
//! be edited in place) and then applied with
//! [`Running::apply`]. A gateway running on the embedded default (no `--config`) refuses
//! changes: there is no file to persist them to.
//!
//! The exact API is listed in `crates/admin/API.md`.

#![warn(missing_docs)]

pub mod central;
pub mod control;
pub mod daneverify;
pub mod edit;
mod preserve;
pub mod readiness;
pub mod stsverify;
mod tlsrpt;
mod views;

#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use danegate_bounce::{DsnAction, DsnKind, DsnRecipient};
use danegate_config::Config;
use danegate_gateway::Running;
use danegate_queue::RcptState;
use serde::{Deserialize, Serialize};

pub use views::*;

/// The status line recorded for recipients bounced by the administrator.
pub const ADMIN_BOUNCE_STATUS: &str = "5.3.0";
/// The reason recorded for recipients bounced by the administrator.
pub const ADMIN_BOUNCE_REASON: &str = "bounced by the administrator";

/// The Destination Controls form (the appliance's fields), as strings as typed.
///
/// For every field but `domain`: `None` means "Use Default" when adding and "leave
/// unchanged" when editing; `Some("default")` means "Use Default" (the profile follows
/// the default profile for that field).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DestinationForm {
    /// `example.com`, `.example.com` (its subdomains), or `default` (edit only). When
    /// editing, a different non-empty domain renames the profile.
    pub domain: String,
    /// `ipv6-preferred`, `ipv4-preferred`, `ipv4-only`, `ipv6-only`.
    pub ip_preference: Option<String>,
    /// 1 – 1000.
    pub max_concurrent_connections: Option<String>,
    /// 1 – 1000.
    pub max_messages_per_connection: Option<String>,
    /// `none`, or 0 – 1,000,000,000 recipients per `recipient_limit_per_minutes`.
    pub recipient_limit: Option<String>,
    /// 1 – 60 minutes (60 when not given).
    pub recipient_limit_per_minutes: Option<String>,
    /// `system-wide` or `per-interface`.
    pub apply_limits: Option<String>,
    /// `none`, `preferred`, `required`, `preferred-verify`, `required-verify`,
    /// `required-verify-hosted-domains`.
    pub tls: Option<String>,
    /// `none`, `opportunistic`, `mandatory` (not with TLS `none`).
    pub dane: Option<String>,
    /// The name of a bounce profile.
    pub bounce_profile: Option<String>,
    /// An IP address of this host, or `none`.
    pub outbound_interface: Option<String>,
    /// Bounce Verification "Perform address tagging": `yes` or `no` (also `true`,
    /// `false`, or a JSON boolean).
    #[serde(deserialize_with = "string_or_bool")]
    pub bounce_verification: Option<String>,
    /// MTA-STS (RFC 8461): `on` or `off`.
    pub mta_sts: Option<String>,
}

/// The DNS form (`[dns]`), as strings as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DnsForm {
    /// One `ADDR[:PORT] PRIORITY` per line (priority 0 when left out; blank lines and
    /// `#` comments skipped); empty: the nameservers of `/etc/resolv.conf`. A JSON
    /// array of such lines is also accepted.
    #[serde(deserialize_with = "string_or_lines")]
    pub resolvers: String,
    /// 1 – 60 seconds; `None`: unchanged; empty or `default`: the default (3).
    pub timeout_secs: Option<String>,
    /// A file of DS/DNSKEY lines; `None`: unchanged; empty or `builtin`: the built-in
    /// root anchors.
    pub trust_anchor_file: Option<String>,
}

/// A string, or a list of strings joined with newlines.
fn string_or_lines<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        L(Vec<String>),
    }
    Ok(match Option::<V>::deserialize(d)? {
        None => String::new(),
        Some(V::S(s)) => s,
        Some(V::L(l)) => l.join("\n"),
    })
}

/// A form value given as a string or as a JSON boolean (`true` → `"yes"`).
fn string_or_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        B(bool),
        S(String),
    }
    Ok(Option::<V>::deserialize(d)?.map(|v| match v {
        V::B(true) => "yes".to_string(),
        V::B(false) => "no".to_string(),
        V::S(s) => s,
    }))
}

/// One problem of a form (or of the change as a whole).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldError {
    /// The form field (`domain`, `max_concurrent_connections`, `recipient_limit_per_minutes`,
    /// `hosts`, ...); empty when the error is not about a field (no configuration file,
    /// I/O error, the gateway refused the change).
    pub field: String,
    /// The configuration key path, e.g. `destination[1].max_concurrent_connections`;
    /// empty when there is none.
    pub key: String,
    /// The bad value as given.
    pub value: String,
    /// What is wrong, e.g. `must be between 1 and 1000`.
    pub message: String,
}

impl fmt::Display for FieldError {
    /// `key = value: message` (the field name when there is no key).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.key.is_empty() {
            &self.field
        } else {
            &self.key
        };
        if !name.is_empty() {
            f.write_str(name)?;
            if !self.value.is_empty() {
                write!(f, " = {}", self.value)?;
            }
            f.write_str(": ")?;
        } else if !self.value.is_empty() {
            write!(f, "{}: ", self.value)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem of a form; nothing was changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FormErrors {
    /// The problems, in order.
    pub errors: Vec<FieldError>,
}

impl FormErrors {
    /// One error about a form field.
    pub fn field(field: &str, key: &str, value: &str, message: &str) -> FormErrors {
        FormErrors {
            errors: vec![FieldError {
                field: field.into(),
                key: key.into(),
                value: value.into(),
                message: message.into(),
            }],
        }
    }

    /// One error that is not about a field.
    pub fn general(message: impl Into<String>) -> FormErrors {
        FormErrors {
            errors: vec![FieldError {
                field: String::new(),
                key: String::new(),
                value: String::new(),
                message: message.into(),
            }],
        }
    }

    /// The first error about `field`, if any.
    pub fn for_field(&self, field: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.field == field)
    }
}

impl fmt::Display for FormErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FormErrors {}

/// Called after `commit` applied a configuration (e.g. to re-apply log subscriptions);
/// an `Err` is reported in the commit's message, the configuration stays applied.
pub type CommitHook = Arc<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// Admin operations on a running gateway. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    running: Arc<Running>,
    edits: Arc<Mutex<()>>,
    commit_hook: Option<CommitHook>,
    central: Option<Arc<central::Central>>,
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `text` to `path` atomically: `<path>.tmp`, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Admin {
    /// Admin operations on `running`.
    pub fn new(running: Arc<Running>) -> Self {
        Admin {
            running,
            edits: Arc::new(Mutex::new(())),
            commit_hook: None,
            central: None,
        }
    }

    /// Shares the configuration through the cluster's database ([`central`]): changes
    /// are stored as a new central version before they are applied here, and
    /// [`Admin::apply_central`] applies the versions of other nodes. Every `Admin` given
    /// the same [`central::Central`] shares one edit lock.
    pub fn with_central(mut self, central: Arc<central::Central>) -> Self {
        self.edits = Arc::clone(&central.edits);
        self.central = Some(central);
        self
    }

    /// The central configuration, when the cluster shares one.
    pub fn central(&self) -> Option<&Arc<central::Central>> {
        self.central.as_ref()
    }

    /// Stores the shared sections of `new` centrally when they differ from those of
    /// `old` (nothing without a central store), then runs `apply` (write, apply
    /// locally) and records the version as applied or refused by this node. Called
    /// with the edit lock held.
    fn publish_then<T>(
        &self,
        old: &Config,
        new: &Config,
        apply: impl FnOnce() -> Result<T, FormErrors>,
    ) -> Result<T, FormErrors> {
        let version = match &self.central {
            Some(c) if central::shared_table(old) != central::shared_table(new) => {
                Some((c, c.publish_blocking(new).map_err(FormErrors::general)?))
            }
            _ => None,
        };
        let res = apply();
        if let Some((c, v)) = version {
            c.settle(v, &res.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        res
    }

    /// Applies a central version made on another node: its shared sections merged into
    /// this node's file (only they are rewritten; the node's own keys and comments
    /// stay), validated, written atomically and applied like [`Admin::commit`]. A version
    /// that does not validate here is not applied, and is logged as an error.
    pub fn apply_central(&self, v: &danegate_queue::postgres::central::ConfigVersion) {
        let _guard = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(c), Some(path)) = (&self.central, self.config_path()) else {
            return;
        };
        if c.applied().is_some_and(|a| a >= v.version) {
            // This node holds it or a newer one already (its own edit, meanwhile).
            return;
        }
        let what = central::describe(v);
        let running = self.config();
        let Ok(wanted) = central::parse_shared(&v.shared) else {
            c.set_refused(v.version, "not TOML".into());
            tracing::error!(target: "danegate::mail", "central configuration {what} is NOT applied on this node: not TOML");
            return;
        };
        if central::shared_table(&running) == wanted {
            c.set_applied(v.version);
            return;
        }
        // The file as it is (it may hold edits of this node's own keys not committed
        // yet); the running configuration when it does not load.
        let text = std::fs::read_to_string(&path).ok();
        let base = text
            .as_deref()
            .and_then(|t| Config::from_toml_str(t, &path.display().to_string()).ok())
            .unwrap_or_else(|| (*running).clone());
        let refuse = |why: String| {
            tracing::error!(target: "danegate::mail", "central configuration {what} is NOT applied on this node, which keeps its configuration: {why}");
            c.set_refused(v.version, why);
        };
        let new = match central::merged(&base, &v.shared) {
            Ok(n) => n,
            Err(e) => return refuse(e),
        };
        let out = central::merged_text(text.as_deref(), &base, &new);
        if let Err(e) = write_atomically(&path, &out) {
            return refuse(format!("cannot write {}: {e}", path.display()));
        }
        if let Err(e) = self.running.apply(new.clone()) {
            if let Some(old) = &text {
                let _ = write_atomically(&path, old);
            }
            return refuse(format!("the gateway refused it: {e}"));
        }
        c.set_applied(v.version);
        for lint in new.lints() {
            tracing::warn!(target: "danegate::mail", "config: {lint}");
        }
        let mut note = String::new();
        if let Some(hook) = &self.commit_hook
            && let Err(e) = hook(&new)
        {
            note = format!(" (but: {e})");
        }
        tracing::info!(target: "danegate::mail", "central configuration {what} applied; written to {}{note}", path.display());
    }

    /// Runs `hook` after each successful [`Admin::commit`] (what `danegate serve` does
    /// on SIGHUP besides applying the configuration, e.g. log subscriptions).
    pub fn with_commit_hook(mut self, hook: CommitHook) -> Self {
        self.commit_hook = Some(hook);
        self
    }

    /// The gateway.
    pub fn running(&self) -> &Arc<Running> {
        &self.running
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.running.config()
    }

    /// Runs a `daneverify` check inside the gateway: its resolver (upstreams, trust
    /// anchors, DNS cache) and the outbound interface of the domain's destination
    /// profile. Lines of output go to `out` as they come; see [`daneverify::run`].
    pub async fn daneverify(
        &self,
        check: &daneverify::Check,
        out: &mut (dyn FnMut(String) + Send + Sync),
    ) -> Result<daneverify::CheckEnd, String> {
        let domain = check.normalized_domain()?;
        let local = self.config().destination_for(&domain).outbound_interface;
        daneverify::run_in_gateway(&self.running.resolver(), check, local, out).await
    }

    /// The configuration file changes are written to; `None` when the gateway runs on
    /// the embedded default (changes are then refused).
    pub fn config_path(&self) -> Option<PathBuf> {
        self.running.config_path().map(Path::to_path_buf)
    }

    /// Validates a change, writes the file, applies it. Serialised.
    fn change(
        &self,
        what: &str,
        change: impl FnOnce(&mut toml::Table) -> Result<(), FormErrors>,
    ) -> Result<(), FormErrors> {
        let _guard = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = self.config_path() else {
            return Err(FormErrors::general(
                "the gateway runs on the embedded default configuration: start `danegate serve --config FILE` to make changes",
            ));
        };
        let old = self.config();
        let new = edit::edit_config(&old, change)?;
        self.publish_then(&old, &new, || {
            let old_text = std::fs::read(&path).ok();
            // The operator's file with only the changed keys rewritten (comments, order
            // and formatting kept); the canonical form when that is not possible.
            let text = old_text
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|t| preserve::edited_text(t, &old, &new))
                .unwrap_or_else(|| new.to_toml());
            write_atomically(&path, &text).map_err(|e| {
                FormErrors::general(format!("cannot write {}: {e}", path.display()))
            })?;
            if let Err(e) = self.running.apply(new.clone()) {
                if let Some(old) = old_text {
                    let _ = write_atomically(&path, &String::from_utf8_lossy(&old));
                }
                return Err(FormErrors::general(format!(
                    "the gateway refused the change: {e}"
                )));
            }
            Ok(())
        })?;
        for lint in new.lints() {
            tracing::warn!(target: "danegate::mail", "config: {lint}");
        }
        tracing::info!(target: "danegate::mail", "admin: {what}; written to {}", path.display());
        Ok(())
    }

    /// Every destination profile, the default one first.
    pub fn destinations(&self) -> Vec<DestinationView> {
        let c = self.config();
        std::iter::once(&c.default_destination)
            .chain(c.destinations.iter())
            .map(DestinationView::from_profile)
            .collect()
    }

    /// The profile written for `domain` (`default` for the default profile), if any
    /// (not the one that would apply: see [`Admin::host_status`]).
    pub fn destination(&self, domain: &str) -> Option<DestinationView> {
        let want = edit::normalize_domain(domain);
        self.destinations().into_iter().find(|d| d.domain == want)
    }

    /// Adds a destination profile.
    pub fn add_destination(&self, form: &DestinationForm) -> Result<(), FormErrors> {
        self.change(
            &format!("destination profile {} added", form.domain.trim()),
            |t| edit::add_destination(t, form),
        )
    }

    /// Edits the destination profile of `domain` (`default`: the default profile).
    pub fn edit_destination(&self, domain: &str, form: &DestinationForm) -> Result<(), FormErrors> {
        self.change(&format!("destination profile {domain} edited"), |t| {
            edit::edit_destination(t, domain, form)
        })
    }

    /// Deletes the destination profile of `domain`.
    pub fn delete_destination(&self, domain: &str) -> Result<(), FormErrors> {
        self.change(&format!("destination profile {domain} deleted"), |t| {
            edit::delete_destination(t, domain)
        })
    }

    /// The SMTP routes, in file order.
    pub fn routes(&self) -> Vec<RouteView> {
        let c = self.config();
        c.smtp_routes
            .iter()
            .map(|r| RouteView::from_route(&c, r))
            .collect()
    }

    /// Adds the SMTP route of `domain` or replaces its hosts (`host`, `host:port`,
    /// `[IPv6]:port`, or `USEDNS`).
    pub fn set_route(&self, domain: &str, hosts: &[String]) -> Result<(), FormErrors> {
        self.change(&format!("SMTP route {domain} set"), |t| {
            edit::set_route(t, domain, hosts)
        })
    }

    /// Deletes the SMTP route of `domain`.
    pub fn delete_route(&self, domain: &str) -> Result<(), FormErrors> {
        self.change(&format!("SMTP route {domain} deleted"), |t| {
            edit::delete_route(t, domain)
        })
    }

    /// Sets `[dns]` (resolvers, query timeout, trust-anchor file) from the DNS form.
    /// Errors name the fields `resolvers` (with the line), `timeout_secs` and
    /// `trust_anchor_file`.
    pub fn set_dns(&self, form: &DnsForm) -> Result<(), FormErrors> {
        let lines = edit::resolver_lines(&form.resolvers)?;
        if let Some(f) = form.trust_anchor_file.as_deref().map(str::trim)
            && !f.is_empty()
            && !f.eq_ignore_ascii_case("builtin")
            && !f.eq_ignore_ascii_case("built-in")
        {
            self.check_anchor_file(f).map_err(|message| {
                FormErrors::field("trust_anchor_file", "dns.trust_anchor_file", f, &message)
            })?;
        }
        self.change("DNS settings set", |t| {
            edit::set_dns(
                t,
                &lines,
                form.timeout_secs.as_deref(),
                form.trust_anchor_file.as_deref(),
            )
        })
        .map_err(|e| edit::dns_errors(e, &lines))
    }

    /// Whether `file` may be set as the trust-anchor file by an edit (web, API, CLI): it
    /// must be the file already configured or lie in the configuration file's
    /// directory, and hold DS/DNSKEY lines ([`TrustAnchors::from_file`]: a regular file
    /// of at most 64 KiB, whose errors never quote a line that is not record-shaped).
    /// An edit thus cannot make the gateway open an arbitrary file (`/etc/shadow`,
    /// `/proc/self/environ`, its own `web.passwd`) and report on it. The error says why,
    /// never what the file holds beyond that.
    ///
    /// [`TrustAnchors::from_file`]: danegate_dns::TrustAnchors::from_file
    fn check_anchor_file(&self, file: &str) -> Result<(), String> {
        let path = Path::new(file);
        if !path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err("must be an absolute path without `..`".into());
        }
        let dir = self
            .config_path()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let outside = || match &dir {
            Some(d) => format!(
                "must be in the configuration file's directory {} (or be set in the \
                 configuration file itself, then `danegate commit`)",
                d.display()
            ),
            None => "cannot be changed: there is no configuration file".into(),
        };
        // Whether a file exists outside the directory is not told either.
        let Ok(real) = std::fs::canonicalize(path) else {
            return Err(if dir.as_deref().is_some_and(|d| path.starts_with(d)) {
                "is not a readable file (leave empty for the built-in root anchors)".into()
            } else {
                outside()
            });
        };
        let current = self
            .config()
            .dns
            .trust_anchor_file
            .as_deref()
            .and_then(|p| std::fs::canonicalize(p).ok());
        let allowed = current.as_deref() == Some(real.as_path())
            || dir.as_deref().is_some_and(|d| real.starts_with(d));
        if !allowed {
            return Err(outside());
        }
        danegate_dns::TrustAnchors::from_file(&real)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Re-reads the configuration file, validates it and applies it (`danegate commit`).
    pub fn commit(&self) -> Result<String, FormErrors> {
        let _guard = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = self.config_path() else {
            return Err(FormErrors::general(
                "the gateway runs on the embedded default configuration: there is no file to commit",
            ));
        };
        let new = Config::load(&path).map_err(|e| edit::config_errors(&e))?;
        for lint in new.lints() {
            tracing::warn!(target: "danegate::mail", "config: {lint}");
        }
        self.publish_then(&self.config(), &new, || {
            self.running
                .apply(new.clone())
                .map_err(|e| FormErrors::general(format!("the gateway refused the change: {e}")))
        })?;
        let mut msg = format!("committed: {} applied", path.display());
        if let Some(hook) = &self.commit_hook
            && let Err(e) = hook(&new)
        {
            msg.push_str(&format!(" (but: {e})"));
        }
        tracing::info!(target: "danegate::mail", "commit (control socket): configuration reloaded from {}{}", path.display(), msg.strip_prefix(&format!("committed: {} applied", path.display())).unwrap_or(""));
        Ok(msg)
    }

    /// Upstream resolvers (capability as last probed) and trust anchors.
    pub fn dns(&self) -> DnsView {
        let (upstreams, anchors) = self.running.dns_status();
        let rfc5011 = self.running.anchor_state();
        DnsView::new(&self.config(), &upstreams, &anchors, rfc5011.as_deref())
    }

    /// As [`Admin::dns`], after running the DNSSEC probe if it has not run yet.
    pub async fn dns_probed(&self) -> DnsView {
        self.running.probe_dns().await;
        self.dns()
    }

    /// The readiness report over the last `since_secs` seconds (the gateway's shadow
    /// evaluation per destination domain, with the profile in force and a
    /// recommendation), most messages first.
    pub async fn readiness(&self, since_secs: u64) -> Result<readiness::Readiness, String> {
        let since = std::time::Duration::from_secs(since_secs);
        let list = self.running.shadow_report(since).await?;
        let c = self.config();
        let window = readiness::window_words(since_secs);
        let rows: Vec<readiness::ReadinessRow> = list
            .iter()
            .map(|d| readiness::ReadinessRow::new(d, c.destination_for(&d.domain), &window))
            .collect();
        Ok(readiness::Readiness {
            since_secs,
            window,
            shadow_enabled: self.running.shadow_enabled(),
            summary: readiness::ReadinessSummary::of(&rows),
            rows,
        })
    }

    /// Sets DANE Support Mandatory for `domain` through the normal Destination Controls
    /// validation and commit: its own profile is edited, or one is added (the other
    /// fields following the default profile).
    pub fn set_dane_mandatory(&self, domain: &str) -> Result<(), FormErrors> {
        let d = edit::normalize_domain(domain);
        if d.is_empty() || d == "default" {
            return Err(FormErrors::field(
                "domain",
                "",
                domain,
                "a destination domain is required",
            ));
        }
        let form = DestinationForm {
            dane: Some("mandatory".into()),
            ..DestinationForm::default()
        };
        if self.destination(&d).is_some() {
            self.edit_destination(&d, &form)
        } else {
            self.add_destination(&DestinationForm { domain: d, ..form })
        }
    }

    /// Per destination domain (queue counts and the last delivery outcome), sorted by
    /// domain.
    pub async fn delivery_status(&self) -> Vec<DomainStatus> {
        let stats = match self.running.store().stats().await {
            Ok(s) => s.domains,
            Err(e) => {
                tracing::error!(target: "danegate::mail", "admin: queue stats: {e}");
                BTreeMap::new()
            }
        };
        let mut outcomes = self.running.last_outcomes();
        let mut out: Vec<DomainStatus> = stats
            .iter()
            .map(|(d, c)| DomainStatus::new(d, c, outcomes.remove(d).as_ref()))
            .collect();
        for (d, o) in outcomes {
            out.push(DomainStatus::new(&d, &Default::default(), Some(&o)));
        }
        let conns = self.running.connections_out();
        for s in &mut out {
            s.connections_out = conns.get(&s.domain).copied().unwrap_or(0) as u64;
            if let Some(l) = s.last.as_mut() {
                l.shadow = self.running.latest_shadow(&s.domain);
            }
        }
        out.sort_by(|a, b| a.domain.cmp(&b.domain));
        out
    }

    /// The status of one destination domain: the profile and route that apply, counts,
    /// last outcome, and its queued recipients (up to 100).
    pub async fn host_status(&self, domain: &str) -> HostStatus {
        let domain = danegate_config::normalize(domain.trim());
        let c = self.config();
        let counts = self
            .delivery_status()
            .await
            .into_iter()
            .find(|s| s.domain == domain)
            .unwrap_or_else(|| DomainStatus::new(&domain, &Default::default(), None));
        HostStatus {
            profile: DestinationView::from_profile(c.destination_for(&domain)),
            route: c.route_for(&domain).map(|r| RouteView::from_route(&c, r)),
            counts,
            queued: self.queue_list(Some(&domain), 100).await,
            mta_sts: views::StsStatusView::new(
                self.running.sts_policy(&domain),
                self.running.sts_outcomes().remove(&domain),
            ),
            domain,
        }
    }

    /// The `n` domains with the most active recipients (then in flight, then name).
    pub async fn top_hosts(&self, n: usize) -> Vec<DomainStatus> {
        let mut all = self.delivery_status().await;
        all.sort_by(|a, b| {
            b.active
                .cmp(&a.active)
                .then(b.in_flight.cmp(&a.in_flight))
                .then(a.domain.cmp(&b.domain))
        });
        all.truncate(n);
        all
    }

    /// Up to `limit` queued recipients (of one domain or all), in MID and RID order.
    pub async fn queue_list(&self, domain: Option<&str>, limit: usize) -> Vec<QueuedView> {
        let store = self.running.store();
        let domain = domain.map(|d| danegate_config::normalize(d.trim()));
        let list = match store.list(domain.as_deref(), limit).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(target: "danegate::mail", "admin: queue list: {e}");
                return Vec::new();
            }
        };
        let mut senders: HashMap<u64, (String, u64)> = HashMap::new();
        let mut out = Vec::with_capacity(list.len());
        for r in list {
            let (sender, received_at) = match senders.get(&r.mid) {
                Some(s) => s.clone(),
                None => {
                    let s = match store.envelope(r.mid).await {
                        Ok(Some(e)) => (e.sender, unix(e.received_at)),
                        _ => (String::new(), 0),
                    };
                    senders.insert(r.mid, s.clone());
                    s
                }
            };
            out.push(QueuedView::new(&r, sender, received_at));
        }
        out
    }

    /// A stored message: envelope, subject, every recipient with its state.
    pub async fn queue_show(&self, mid: u64) -> Option<MessageView> {
        let store = self.running.store();
        let env = store.envelope(mid).await.ok().flatten()?;
        let data = store.data(mid).await.ok().flatten().unwrap_or_default();
        Some(MessageView::new(&env, views::subject(&data)))
    }

    /// Makes the queued recipients (of one domain, or all) due now, lifts the
    /// suspension of those destinations and wakes the scheduler ([`Running::deliver_now`],
    /// the appliance's "deliver now"); returns how many recipients were concerned.
    pub async fn deliver_now(&self, domain: Option<&str>) -> usize {
        let domain = domain.map(|d| danegate_config::normalize(d.trim()));
        let n = match self.running.deliver_now(domain.as_deref()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(target: "danegate::mail", "admin: deliver now: {e}");
                0
            }
        };
        tracing::info!(target: "danegate::mail", "admin: delivery now requested for {} ({n} recipients)", domain.as_deref().unwrap_or("all domains"));
        n
    }

    /// Bounces the queued recipients of a message (one RID, or all still queued): they
    /// become Bounced (`5.3.0 bounced by the administrator`) and a failure DSN (RFC 3464)
    /// is queued to the sender like for a delivery bounce (not for a null sender, not
    /// when the recipient's NOTIFY excludes FAILURE or its bounce profile has
    /// `hard_bounces = false`). Returns how many recipients were bounced.
    pub async fn bounce(&self, mid: u64, rid: Option<u64>) -> Result<usize, String> {
        let store = self.running.store();
        let env = store
            .envelope(mid)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("MID {mid} is not in the queue"))?;
        let rcpts: Vec<_> = env
            .recipients
            .iter()
            .filter(|r| r.state == RcptState::Queued && rid.is_none_or(|x| x == r.rid))
            .cloned()
            .collect();
        if rcpts.is_empty() {
            return Err(match rid {
                Some(r) => format!("MID {mid} RID {r} is not queued"),
                None => format!("MID {mid} has no queued recipient"),
            });
        }
        let data = store
            .data(mid)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let rids: Vec<u64> = rcpts.iter().map(|r| r.rid).collect();
        let reason = format!("{ADMIN_BOUNCE_STATUS} {ADMIN_BOUNCE_REASON}");
        store
            .bounced(mid, &rids, &reason)
            .await
            .map_err(|e| e.to_string())?;
        for r in &rcpts {
            tracing::info!(target: "danegate::mail", "Bounced: MID {mid} to RID {} - {reason}", r.rid);
        }
        let config = self.config();
        let now = SystemTime::now();
        let list: Vec<DsnRecipient> = rcpts
            .iter()
            .filter(|r| {
                config
                    .bounce_profile_for(config.destination_for(&r.domain))
                    .hard_bounces
                    && danegate_gateway::notify_allows(r, "FAILURE")
            })
            .map(|r| DsnRecipient {
                final_recipient: r.address.clone(),
                original_recipient: r.dsn_orcpt.clone(),
                action: DsnAction::Failed,
                status: ADMIN_BOUNCE_STATUS.into(),
                remote_mta: None,
                diagnostic: Some(ADMIN_BOUNCE_REASON.into()),
                last_attempt: Some(now),
                will_retry_until: None,
            })
            .collect();
        self.running
            .queue_dsn(&env, &data, DsnKind::Failed, list)
            .await;
        Ok(rids.len())
    }

    /// Deletes a message whatever the state of its recipients (no DSN); returns whether
    /// it existed.
    pub async fn delete(&self, mid: u64) -> bool {
        match self.running.store().remove(mid).await {
            Ok(found) => {
                if found {
                    tracing::info!(target: "danegate::mail", "MID {mid} deleted by the administrator");
                }
                found
            }
            Err(e) => {
                tracing::error!(target: "danegate::mail", "admin: delete MID {mid}: {e}");
                false
            }
        }
    }
}
