//! `[queue]`: where the queue lives — the embedded SQLite database (default) or a
//! PostgreSQL database shared by several gateway nodes (`docs/cluster.md`).

use std::path::PathBuf;
use std::time::Duration;

/// Which store holds the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueBackend {
    /// `"sqlite"`: `<data_dir>/queue.sqlite`, one node.
    #[default]
    Sqlite,
    /// `"postgres"`: a PostgreSQL database shared by every node.
    Postgres,
}

impl QueueBackend {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueBackend::Sqlite => "sqlite",
            QueueBackend::Postgres => "postgres",
        }
    }
}

/// Where the database password comes from (never the TOML file itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `password_file`: the file's content, without the trailing newline.
    File(PathBuf),
    /// `password_env`: the value of this environment variable.
    Env(String),
}

/// `[queue]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// `backend`.
    pub backend: QueueBackend,
    /// `url`: a `postgresql://` URL or a `key=value` connection string, without a
    /// password (required with `backend = "postgres"`).
    pub url: Option<String>,
    /// `password_file` or `password_env`; `None`: no password (peer, trust or
    /// certificate authentication).
    pub password: Option<PasswordSource>,
    /// `tls`: TLS to the database (rustls, the server's certificate verified).
    pub tls: bool,
    /// `tls_ca_file`: PEM roots for the database's certificate; `None`: the webpki roots.
    pub tls_ca_file: Option<PathBuf>,
    /// `pool_size`: connections per node.
    pub pool_size: u32,
    /// `lease_secs`: how long recipients leased by a node that stopped answering wait
    /// before another node delivers them.
    pub lease: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            backend: QueueBackend::Sqlite,
            url: None,
            password: None,
            tls: false,
            tls_ca_file: None,
            pool_size: DEFAULT_POOL_SIZE,
            lease: Duration::from_secs(DEFAULT_LEASE_SECS),
        }
    }
}

/// Default `queue.pool_size`.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// `queue.pool_size` range.
pub const POOL_SIZE: (i64, i64) = (2, 1000);
/// Default `queue.lease_secs`.
pub const DEFAULT_LEASE_SECS: u64 = 60;
/// `queue.lease_secs` range.
pub const LEASE_SECS: (i64, i64) = (2, 3600);

/// Checks a database URL or connection string; the message names what is wrong. A
/// password written in it is refused: it would sit in a file that `config check`,
/// backups and the admin's edits copy around.
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("must be a postgresql:// URL or a key=value connection string".into());
    }
    const REFUSED: &str = "contains a password: put it in queue.password_file or \
                           queue.password_env, never in the configuration file";
    if let Some(rest) = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
    {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.contains(':')
        {
            return Err(REFUSED.into());
        }
        if let Some((_, query)) = rest.split_once('?')
            && query
                .split('&')
                .any(|kv| kv.split('=').next() == Some("password"))
        {
            return Err(REFUSED.into());
        }
        return Ok(());
    }
    if url.contains("://") {
        return Err("must start with postgresql:// or postgres://".into());
    }
    if !url.contains('=') {
        return Err("must be a postgresql:// URL or a key=value connection string".into());
    }
    if url
        .split_whitespace()
        .any(|kv| kv.split('=').next().map(str::trim) == Some("password"))
    {
        return Err(REFUSED.into());
    }
    Ok(())
}

/// Checks a node name: 1 to 63 letters, digits, `-`, `_` or `.`.
pub fn check_node(node: &str) -> Result<(), String> {
    let ok = !node.is_empty()
        && node.len() <= 63
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 63 letters, digits, '-', '_' or '.'".into())
    }
}

/// The default node name: the host name's first label.
pub fn default_node(hostname: &str) -> String {
    let first = hostname.split('.').next().unwrap_or("");
    if check_node(first).is_ok() {
        first.to_string()
    } else {
        "gw".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for good in [
            "postgresql://danegate@db1.example.net:5432/danegate",
            "postgres://db1/q?sslmode=disable",
            "postgresql:///danegate?host=/run/postgresql",
            "host=/run/postgresql dbname=danegate user=danegate",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "postgresql://danegate:secret@db1/danegate",
            "postgresql://db1/danegate?password=secret",
            "host=db1 password=secret",
        ] {
            assert!(check_url(bad).unwrap_err().contains("password"), "{bad}");
        }
        assert!(check_url("mysql://db1").is_err());
        assert!(check_url("db1").is_err());
        assert!(check_url("").is_err());
    }

    #[test]
    fn nodes() {
        assert!(check_node("gw1").is_ok());
        assert!(check_node("gw-1.dc_2").is_ok());
        assert!(check_node("").is_err());
        assert!(check_node("gw 1").is_err());
        assert!(check_node(&"a".repeat(64)).is_err());
        assert_eq!(default_node("mx1.example.net"), "mx1");
    }
}
