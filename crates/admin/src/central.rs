//! Central, versioned configuration of a PostgreSQL cluster (`[queue] backend =
//! "postgres"`): the *shared sections* of the configuration are stored in the database
//! (`config_versions`, see [`danegate_queue::postgres::central`]) and every node applies
//! the current version to its own file.
//!
//! - Shared: [`SHARED_KEYS`] — `[dns]`, `[[destination]]` (Destination Controls, the
//!   default profile included), `[[smtp_route]]` and `[[bounce_profile]]` (destination
//!   profiles name them, so they must exist on every node). Everything else (`[server]`
//!   with `node` and `data_dir`, listeners, sender groups, `[queue]`, logs, web and
//!   metrics addresses, TLS-RPT) stays per node.
//! - An accepted edit (web, admin CLI, API, `danegate commit` / SIGHUP of a file whose
//!   shared sections changed) is stored as a new version *before* it is written and
//!   applied locally, based on the newest version the node has applied or refused
//!   ([`Central::based_on`]): when another node
//!   stored a version meanwhile, the edit is refused with a message naming it (the
//!   node applies that version within seconds; the edit can then be made again). The
//!   database being unreachable refuses the edit too: nothing is changed anywhere.
//! - Each node listens on `danegate_config` and polls every [`POLL`]; a newer version
//!   is merged into its file (only the shared sections are replaced, with `toml_edit`:
//!   the node's own keys and comments survive), validated, written atomically and
//!   applied like `danegate commit`. A version that does not validate on a node is not
//!   applied there, is logged as an error, and `danegate config check` reports the
//!   difference.
//! - At start, the central version wins over the file (logged); an empty table is
//!   seeded from the first node's file.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use danegate_config::{Config, PasswordSource, QueueBackend};
use danegate_queue::postgres::{
    central::{self, CentralDb, Client, ConfigVersion, Published},
    client_tls, connection_config,
};
use toml::{Table, Value};

/// The top-level keys of the configuration that are shared by the cluster.
pub const SHARED_KEYS: &[&str] = &["dns", "destination", "smtp_route", "bounce_profile"];

/// How often a node looks for a new version besides notifications.
pub const POLL: Duration = Duration::from_secs(2);

/// The source name of a central version in validation errors.
const SOURCE: &str = "central configuration";

/// The shared sections of `c` (its canonical form, [`Config::to_toml`]).
pub fn shared_table(c: &Config) -> Table {
    let all: Table = c.to_toml().parse().unwrap_or_default();
    all.into_iter()
        .filter(|(k, _)| SHARED_KEYS.contains(&k.as_str()))
        .collect()
}

/// The stored text of the shared sections of `c`.
pub fn shared_text(c: &Config) -> String {
    shared_table(c).to_string()
}

/// The shared sections of a stored text (only [`SHARED_KEYS`]).
pub fn parse_shared(text: &str) -> Result<Table, String> {
    let t: Table = text
        .parse()
        .map_err(|e| format!("{SOURCE}: not TOML: {e}"))?;
    Ok(t.into_iter()
        .filter(|(k, _)| SHARED_KEYS.contains(&k.as_str()))
        .collect())
}

/// `local` with its shared sections replaced by those of `shared`, validated like a
/// configuration file (and its trust-anchor file read).
pub fn merged(local: &Config, shared: &str) -> Result<Config, String> {
    let shared = parse_shared(shared)?;
    let mut t: Table = local
        .to_toml()
        .parse()
        .map_err(|e| format!("cannot re-read the configuration: {e}"))?;
    t.retain(|k, _| !SHARED_KEYS.contains(&k));
    t.extend(shared);
    let new = Config::from_toml_str(&t.to_string(), SOURCE).map_err(|e| e.to_string())?;
    // The file is read when the configuration is applied: it must be readable here.
    if let Some(f) = &new.dns.trust_anchor_file {
        danegate_dns::TrustAnchors::from_file(f)
            .map_err(|e| format!("dns.trust_anchor_file {}: {e}", f.display()))?;
    }
    Ok(new)
}

/// The file text of `merged` written into `file_text` (whose configuration is
/// `file_config`) with only the changed keys rewritten, comments kept; the canonical
/// text when the file cannot be edited in place.
pub fn merged_text(file_text: Option<&str>, file_config: &Config, merged: &Config) -> String {
    file_text
        .and_then(|t| crate::preserve::edited_text(t, file_config, merged))
        .unwrap_or_else(|| merged.to_toml())
}

/// The name of an entry of a shared list (`destination "example.com"`).
fn entry_name(section: &str, t: &Table) -> String {
    let id = t
        .get("domain")
        .or_else(|| t.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    format!("{section} \"{id}\"")
}

/// `v` as written in TOML (`"mandatory"`, `10`, `[...]`).
fn show(v: Option<&Value>) -> String {
    match v {
        None => "(not set)".into(),
        Some(Value::Table(t)) => format!("{{ {} }}", t.to_string().trim().replace('\n', ", ")),
        Some(v) => v.to_string(),
    }
}

/// The keys of two tables that differ: `key = FILE here, CENTRAL centrally`.
fn table_differences(name: &str, file: &Table, central: &Table, out: &mut Vec<String>) {
    let mut keys: Vec<&String> = file.keys().chain(central.keys()).collect();
    keys.sort();
    keys.dedup();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| file.get(*k) != central.get(*k))
        .map(|k| {
            format!(
                "{k} = {} in this file, {} centrally",
                show(file.get(k)),
                show(central.get(k))
            )
        })
        .collect();
    if !diffs.is_empty() {
        out.push(format!("{name}: {}", diffs.join("; ")));
    }
}

/// What differs between the shared sections of a file and of the central version, one
/// line per section or entry (empty: identical).
pub fn differences(file: &Table, central: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for &section in SHARED_KEYS {
        let (f, c) = (file.get(section), central.get(section));
        if f == c {
            continue;
        }
        let as_list = |v: Option<&Value>| -> Option<Vec<Table>> {
            match v {
                None => Some(Vec::new()),
                Some(Value::Array(a)) => a.iter().map(|x| x.as_table().cloned()).collect(),
                Some(_) => None,
            }
        };
        match (f, c) {
            (Some(Value::Table(ft)), Some(Value::Table(ct))) => {
                table_differences(&format!("[{section}]"), ft, ct, &mut out);
            }
            _ => match (as_list(f), as_list(c)) {
                (Some(fl), Some(cl)) => {
                    let names = |l: &[Table]| -> Vec<String> {
                        l.iter().map(|t| entry_name(section, t)).collect()
                    };
                    let (fnames, cnames) = (names(&fl[..]), names(&cl[..]));
                    for (t, n) in fl.iter().zip(&fnames) {
                        match cnames.iter().position(|x| x == n) {
                            None => out.push(format!("{n}: only in this file")),
                            Some(i) => {
                                let ct = cl.get(i).unwrap_or(&Table::new()).clone();
                                table_differences(n, t, &ct, &mut out);
                            }
                        }
                    }
                    for n in &cnames {
                        if !fnames.contains(n) {
                            out.push(format!("{n}: only in the central configuration"));
                        }
                    }
                    let common = |a: &[String], b: &[String]| -> Vec<String> {
                        a.iter().filter(|x| b.contains(x)).cloned().collect()
                    };
                    if common(&fnames[..], &cnames[..]) != common(&cnames[..], &fnames[..]) {
                        out.push(format!("[[{section}]]: the order differs"));
                    }
                }
                _ => out.push(format!(
                    "{section}: {} in this file, {} centrally",
                    show(f),
                    show(c)
                )),
            },
        }
    }
    out
}

/// The central store of a configuration: `None` unless `[queue] backend = "postgres"`.
pub fn central_db(config: &Config) -> Result<Option<CentralDb>, String> {
    let q = &config.queue;
    if q.backend != QueueBackend::Postgres {
        return Ok(None);
    }
    let url = q
        .url
        .as_deref()
        .ok_or("queue.url is required with backend = \"postgres\"")?;
    let secret = match &q.password {
        None => None,
        Some(PasswordSource::File(p)) => Some(
            std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("queue.password_file {}: {e}", p.display()))?,
        ),
        Some(PasswordSource::Env(name)) => Some(std::env::var(name).map_err(|_| {
            format!("queue.password_env: the environment variable {name} is not set")
        })?),
    };
    let pg = connection_config(url, secret.as_deref()).map_err(|e| e.to_string())?;
    let tls = if q.tls {
        Some(client_tls(q.tls_ca_file.as_deref()).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok(Some(CentralDb::new(pg, tls)))
}

/// `version 7, made on gw1 at 2026-12-03 01:02:03 UTC`.
pub fn describe(v: &ConfigVersion) -> String {
    format!(
        "version {}, made on {} at {}",
        v.version,
        v.node,
        danegate_timefmt::utc(
            i64::try_from(crate::unix(v.made_at)).unwrap_or(0),
            danegate_timefmt::Layout::Readable
        )
        .unwrap_or_default()
    )
}

/// The state of this node with respect to the central configuration, shared by every
/// [`crate::Admin`] of the process.
pub struct Central {
    db: CentralDb,
    node: String,
    state: Mutex<State>,
    /// Serialises every change of the configuration (edits, commits, central versions).
    pub(crate) edits: Arc<Mutex<()>>,
    /// Woken to look for a new version at once (after a refused edit).
    kick: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    /// The version this node's configuration holds.
    applied: Option<i64>,
    /// A version this node refused, and why.
    refused: Option<(i64, String)>,
}

impl std::fmt::Debug for Central {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Central")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// How long a configuration edit waits for the central database.
const BLOCKING_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs `f` (which uses the database) to completion on a thread of its own with a
/// runtime of its own, whatever the caller's context (an admin edit runs on a
/// blocking thread of the gateway's runtime), for at most [`BLOCKING_LIMIT`].
fn run_blocking<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?
            .block_on(async move {
                // A database that accepts the connection and then says nothing must not
                // hold the edit lock (and the admin command) forever.
                tokio::time::timeout(BLOCKING_LIMIT, f)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no answer from the database within {} s",
                            BLOCKING_LIMIT.as_secs()
                        ))
                    })
            })
    })
    .join()
    .unwrap_or_else(|_| Err("the central configuration thread panicked".into()))
}

impl Central {
    /// The central configuration of `db`, for node `node`, whose configuration holds
    /// version `applied` (`None`: not known to match any version).
    pub fn new(db: CentralDb, node: &str, applied: Option<i64>) -> Arc<Central> {
        Arc::new(Central {
            db,
            node: node.to_string(),
            state: Mutex::new(State {
                applied,
                refused: None,
            }),
            edits: Arc::new(Mutex::new(())),
            kick: tokio::sync::Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The version this node's configuration holds.
    pub fn applied(&self) -> Option<i64> {
        self.state().applied
    }

    pub(crate) fn set_applied(&self, v: i64) {
        let mut s = self.state();
        s.applied = Some(v);
        s.refused = None;
    }

    pub(crate) fn set_refused(&self, v: i64, why: String) {
        self.state().refused = Some((v, why));
    }

    /// The version a change made on this node is based on: the newest one it has
    /// applied or refused. A version every node refused is thus superseded by the next
    /// edit, instead of blocking every edit as a conflict.
    pub fn based_on(&self) -> Option<i64> {
        let s = self.state();
        match (s.applied, s.refused.as_ref().map(|r| r.0)) {
            (Some(a), Some(r)) => Some(a.max(r)),
            (a, r) => a.or(r),
        }
    }

    /// Records the outcome of applying version `v` stored by this node: applied, or
    /// refused (e.g. the file could not be written), so that the follower does not
    /// take this node for up to date.
    pub(crate) fn settle(&self, v: i64, res: &Result<(), String>) {
        match res {
            Ok(()) => self.set_applied(v),
            Err(e) => {
                tracing::error!(target: "danegate::mail", "central configuration version {v} (stored from this node) is NOT applied on this node: {e}");
                self.set_refused(v, e.clone());
            }
        }
    }

    /// The version this node refused (did not validate here), and why.
    pub fn refused(&self) -> Option<(i64, String)> {
        self.state().refused.clone()
    }

    /// Stores the shared sections of `new` as a new version, based on the version this
    /// node applied; called with the edit lock held, before the change is written and
    /// applied locally. Blocks (a thread of its own). Returns the version `new` holds
    /// (the caller records it as applied or refused, [`Central::settle`]); an `Err`
    /// names why nothing was changed.
    pub(crate) fn publish_blocking(&self, new: &Config) -> Result<i64, String> {
        let db = self.db.clone();
        let node = self.node.clone();
        let text = shared_text(new);
        let based_on = self.based_on();
        let res = run_blocking(async move {
            let (mut client, _) = db.session(false).await.map_err(|e| e.to_string())?;
            central::publish(&mut client, based_on, &text, &node)
                .await
                .map_err(|e| e.to_string())
        });
        match res {
            Ok(Published::Made(v)) => {
                tracing::info!(target: "danegate::mail", "central configuration: version {v} stored (based on {})", based_on.map_or("none".into(), |b| b.to_string()));
                Ok(v)
            }
            Ok(Published::Unchanged(v)) => Ok(v.version),
            Ok(Published::Conflict(v)) => {
                self.kick.notify_one();
                Err(format!(
                    "the central configuration was changed meanwhile ({}; this node has {}): \
                     nothing was changed; this node applies that version within seconds, \
                     then make the change again",
                    describe(&v),
                    based_on.map_or("no version".into(), |a| format!("version {a}"))
                ))
            }
            Err(e) => Err(format!(
                "the central configuration database is unreachable, nothing was changed: {e}"
            )),
        }
    }
}

/// What happened at start ([`startup`]).
#[derive(Debug)]
pub struct Startup {
    /// The configuration to start with (the file's, or the central version merged in).
    pub config: Config,
    /// The version it holds, if known.
    pub applied: Option<i64>,
}

/// At `danegate serve` start, before listening: with a central store, the node's file
/// takes the current central version (which wins; logged), or seeds it when there is
/// none. The database unreachable is logged and the file is used as it is (the queue
/// then refuses to start anyway).
pub async fn startup(db: &CentralDb, path: &Path, config: Config) -> Startup {
    let node = config.server.node_name();
    let keep = |config: Config| Startup {
        config,
        applied: None,
    };
    let mut client = match db.session(false).await {
        Ok((c, _)) => c,
        Err(e) => {
            tracing::warn!(target: "danegate::mail", "central configuration: database unreachable at start, using {} as it is: {e}", path.display());
            return keep(config);
        }
    };
    if let Err(e) = central::migrate(&mut client).await {
        tracing::warn!(target: "danegate::mail", "central configuration: {e}");
        return keep(config);
    }
    for _ in 0..2 {
        let cur = match central::current(&client).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "danegate::mail", "central configuration: {e}");
                return keep(config);
            }
        };
        let Some(v) = cur else {
            match central::publish(&mut client, None, &shared_text(&config), &node).await {
                Ok(Published::Made(n)) => {
                    tracing::info!(target: "danegate::mail", "central configuration: no version stored yet; version {n} seeded from {}", path.display());
                    return Startup {
                        config,
                        applied: Some(n),
                    };
                }
                // Another node seeded it at the same moment: take its version.
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(target: "danegate::mail", "central configuration: {e}");
                    return keep(config);
                }
            }
        };
        return match apply_at_start(path, &config, &v) {
            Ok(new) => Startup {
                config: new.unwrap_or(config),
                applied: Some(v.version),
            },
            Err(e) => {
                tracing::error!(target: "danegate::mail", "central configuration {} is NOT applied on this node (it does not validate here): {e}", describe(&v));
                keep(config)
            }
        };
    }
    keep(config)
}

/// The configuration to start with when the central version `v` differs from the
/// file's (written into the file); `None` when they are equal.
fn apply_at_start(
    path: &Path,
    config: &Config,
    v: &ConfigVersion,
) -> Result<Option<Config>, String> {
    let central = parse_shared(&v.shared)?;
    let here = shared_table(config);
    if here == central {
        return Ok(None);
    }
    let diffs = differences(&here, &central);
    let new = merged(config, &v.shared)?;
    let text = std::fs::read_to_string(path).ok();
    let out = merged_text(text.as_deref(), config, &new);
    crate::write_atomically(path, &out)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::warn!(target: "danegate::mail", "central configuration {} differs from {}: applied it (the central configuration wins): {}", describe(v), path.display(), diffs.join("; "));
    Ok(Some(new))
}

/// The follower: applies every newer central version to this node (notifications on
/// `danegate_config`, and a look every [`POLL`]), until the returned handle is aborted.
pub fn spawn_follower(admin: crate::Admin, central: Arc<Central>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut session: Option<(Client, tokio::sync::mpsc::UnboundedReceiver<()>)> = None;
        let mut warned = false;
        loop {
            if session.is_none() {
                match central.db.session(true).await {
                    Ok(s) => {
                        if warned {
                            tracing::info!(target: "danegate::mail", "central configuration: database reachable again");
                        }
                        warned = false;
                        session = Some(s);
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!(target: "danegate::mail", "central configuration: database unreachable, new versions are applied once it is back: {e}");
                            warned = true;
                        }
                    }
                }
            }
            if let Some((client, _)) = &session {
                match central::current(client).await {
                    Ok(Some(v)) => {
                        let newer = central.applied().is_none_or(|a| v.version > a);
                        let refused = central.refused().is_some_and(|(r, _)| r == v.version);
                        if newer && !refused {
                            let a = admin.clone();
                            let _ = tokio::task::spawn_blocking(move || a.apply_central(&v)).await;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(target: "danegate::mail", "central configuration: {e}");
                        session = None;
                    }
                }
            }
            let lost = tokio::select! {
                got = async {
                    match session.as_mut() {
                        Some((_, rx)) => rx.recv().await.is_none(),
                        None => std::future::pending().await,
                    }
                } => got,
                _ = tokio::time::sleep(POLL) => false,
                _ = central.kick.notified() => false,
            };
            if lost {
                session = None;
            }
        }
    })
}

/// `danegate config check` with a central store: whether the shared sections of
/// `config` equal the current central version; lines to print (warnings), empty when
/// they are equal.
pub async fn check(db: &CentralDb, config: &Config) -> Vec<String> {
    let client = match db.session(false).await {
        Ok((c, _)) => c,
        Err(e) => {
            return vec![format!(
                "warning: cannot compare with the central configuration: the queue database is unreachable: {e}"
            )];
        }
    };
    let v = match central::current(&client).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return vec![
                "note: the database holds no central configuration yet (the first node started seeds it from its file)".into(),
            ];
        }
        Err(e) => {
            return vec![format!(
                "warning: cannot read the central configuration: {e}"
            )];
        }
    };
    let central = match parse_shared(&v.shared) {
        Ok(t) => t,
        Err(e) => return vec![format!("warning: {e}")],
    };
    let diffs = differences(&shared_table(config), &central);
    if diffs.is_empty() {
        return vec![format!(
            "central configuration: this file matches {}",
            describe(&v)
        )];
    }
    let mut out = vec![format!(
        "warning: this file differs from the central configuration ({}); a node started on it applies the central version:",
        describe(&v)
    )];
    out.extend(diffs.into_iter().map(|d| format!("  {d}")));
    if let Err(e) = merged(config, &v.shared) {
        out.push(format!(
            "warning: the central version does not validate with this file's other settings: {e}"
        ));
    }
    out
}

/// The last `limit` versions, newest first (`danegate config history`).
pub async fn history(db: &CentralDb, limit: i64) -> Result<Vec<ConfigVersion>, String> {
    let (client, _) = db.session(false).await.map_err(|e| e.to_string())?;
    central::history(&client, limit)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# node gw1
[server]
hostname = "gw1.example"   # per node
data_dir = "/var/lib/danegate"
node = "gw1"

[dns]
timeout_secs = 3 # keep

[[destination]]
domain = "default"
dane = "opportunistic"

[[destination]]
domain = "a.example" # partner A
dane = "mandatory"

[[smtp_route]]
domain = "internal.example"
hosts = ["10.0.0.1"]
"#;

    fn cfg(text: &str) -> Config {
        Config::from_toml_str(text, "t").unwrap()
    }

    #[test]
    fn shared_sections_only() {
        let t = shared_table(&cfg(FILE));
        let mut keys: Vec<&str> = t.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["bounce_profile", "destination", "dns", "smtp_route"]);
        // The stored text reads back to the same table.
        assert_eq!(parse_shared(&shared_text(&cfg(FILE))).unwrap(), t);
        // Per-node keys in a stored text are ignored.
        let t2 = parse_shared("[server]\nnode = \"x\"\n[dns]\ntimeout_secs = 5\n").unwrap();
        assert_eq!(t2.keys().collect::<Vec<_>>(), ["dns"]);
    }

    #[test]
    fn merge_keeps_node_keys_and_comments() {
        let local = cfg(FILE);
        let other = FILE
            .replace("node = \"gw1\"", "node = \"gw2\"")
            .replace("hostname = \"gw1.example\"", "hostname = \"gw2.example\"")
            .replace(
                "dane = \"mandatory\"",
                "dane = \"opportunistic\"\ntls = \"required\"",
            )
            + "\n[[smtp_route]]\ndomain = \"b.example\"\nhosts = [\"10.0.0.7\"]\n";
        let central = shared_text(&cfg(&other));
        let new = merged(&local, &central).unwrap();
        assert_eq!(new.server.node.as_deref(), Some("gw1"));
        assert_eq!(new.server.hostname, "gw1.example");
        assert_eq!(shared_table(&new), parse_shared(&central).unwrap());
        let text = merged_text(Some(FILE), &local, &new);
        assert!(text.starts_with("# node gw1\n"), "{text}");
        assert!(
            text.contains("hostname = \"gw1.example\"   # per node"),
            "{text}"
        );
        assert!(
            text.contains("domain = \"a.example\" # partner A"),
            "{text}"
        );
        assert!(text.contains("timeout_secs = 3 # keep"), "{text}");
        assert!(text.contains("b.example"), "{text}");
        assert_eq!(cfg(&text), new);
        // Merging the same version again changes nothing.
        assert_eq!(merged(&new, &central).unwrap(), new);
    }

    #[test]
    fn merge_that_does_not_validate_is_refused() {
        // A profile naming a bounce profile this node does not have... bounce profiles
        // are shared, so the central text must be self-contained; a bad value is
        // refused with its key.
        let bad = "[[destination]]\ndomain = \"default\"\nmax_concurrent_connections = 5000\n";
        let e = merged(&cfg(FILE), bad).unwrap_err();
        assert!(e.contains("max_concurrent_connections"), "{e}");
    }

    #[test]
    fn differences_name_sections_and_entries() {
        let file = shared_table(&cfg(FILE));
        assert!(differences(&file, &file).is_empty());
        let other = FILE
            .replace("dane = \"mandatory\"", "dane = \"none\"")
            .replace("timeout_secs = 3", "timeout_secs = 9")
            .replace("hosts = [\"10.0.0.1\"]", "hosts = [\"10.0.0.2\"]")
            + "\n[[destination]]\ndomain = \"b.example\"\ntls = \"required\"\n";
        let central = shared_table(&cfg(&other));
        let d = differences(&file, &central);
        let all = d.join("\n");
        assert!(
            all.contains("[dns]: timeout_secs = 3 in this file, 9 centrally"),
            "{all}"
        );
        assert!(
            all.contains(
                "destination \"a.example\": dane = \"mandatory\" in this file, \"none\" centrally"
            ),
            "{all}"
        );
        assert!(
            all.contains("destination \"b.example\": only in the central configuration"),
            "{all}"
        );
        assert!(
            all.contains("smtp_route \"internal.example\": hosts"),
            "{all}"
        );
        let back = differences(&central, &file).join("\n");
        assert!(
            back.contains("destination \"b.example\": only in this file"),
            "{back}"
        );
    }

    #[test]
    fn merge_with_an_unreadable_anchor_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("root.key");
        let shared = format!("[dns]\ntrust_anchor_file = \"{}\"\n", missing.display());
        let e = merged(&cfg(FILE), &shared).unwrap_err();
        assert!(e.contains("dns.trust_anchor_file"), "{e}");
    }

    #[test]
    fn differences_report_order() {
        let two = "[[smtp_route]]\ndomain = \"a.example\"\nhosts = [\"10.0.0.1\"]\n\
                   [[smtp_route]]\ndomain = \"b.example\"\nhosts = [\"10.0.0.2\"]\n";
        let swapped = "[[smtp_route]]\ndomain = \"b.example\"\nhosts = [\"10.0.0.2\"]\n\
                       [[smtp_route]]\ndomain = \"a.example\"\nhosts = [\"10.0.0.1\"]\n";
        let d = differences(&parse_shared(two).unwrap(), &parse_shared(swapped).unwrap());
        assert_eq!(d, ["[[smtp_route]]: the order differs"]);
    }
}
