//! `[queue]` and `[server] node`: the shared PostgreSQL queue's settings, validated with
//! their key paths; a password is never taken from the file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::time::Duration;

use danegate_config::{Config, PasswordSource, QueueBackend};

fn errors(text: &str) -> Vec<String> {
    Config::from_toml_str(text, "t.toml")
        .unwrap_err()
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn default_is_sqlite_and_node_is_the_host_name() {
    let c = Config::from_toml_str("[server]\nhostname = \"mx1.example.net\"\n", "t").unwrap();
    assert_eq!(c.queue.backend, QueueBackend::Sqlite);
    assert_eq!(c.server.node_name(), "mx1");
    assert_eq!(
        Config::embedded_default().queue.backend,
        QueueBackend::Sqlite
    );
    // The canonical form writes neither.
    let t = c.to_toml();
    assert!(!t.contains("[queue]") && !t.contains("node ="), "{t}");
}

#[test]
fn postgres_settings_round_trip() {
    let text = "[server]\nnode = \"gw1\"\n\n[queue]\nbackend = \"postgres\"\n\
                url = \"postgresql://danegate@db1.example.net/danegate\"\n\
                password_file = \"/etc/danegate/db.password\"\ntls = true\n\
                tls_ca_file = \"/etc/danegate/db-ca.pem\"\npool_size = 32\nlease_secs = 30\n";
    let c = Config::from_toml_str(text, "t").unwrap();
    assert_eq!(c.server.node_name(), "gw1");
    let q = &c.queue;
    assert_eq!(q.backend, QueueBackend::Postgres);
    assert_eq!(
        q.url.as_deref(),
        Some("postgresql://danegate@db1.example.net/danegate")
    );
    assert_eq!(
        q.password,
        Some(PasswordSource::File("/etc/danegate/db.password".into()))
    );
    assert!(q.tls);
    assert_eq!(q.pool_size, 32);
    assert_eq!(q.lease, Duration::from_secs(30));
    let again = Config::from_toml_str(&c.to_toml(), "again").unwrap();
    assert_eq!(again.queue, c.queue);
    assert_eq!(again.server.node, c.server.node);

    let c = Config::from_toml_str(
        "[queue]\nbackend = \"postgres\"\nurl = \"host=/run/postgresql dbname=q\"\n\
         password_env = \"DANEGATE_DB_PASSWORD\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.queue.password,
        Some(PasswordSource::Env("DANEGATE_DB_PASSWORD".into()))
    );
}

#[test]
fn errors_name_the_key_and_never_echo_a_password() {
    let e = errors("[queue]\nbackend = \"postgres\"\nurl = \"postgresql://u:s3cret@db/q\"\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("queue.url: contains a password"), "{e:?}");
    assert!(!e[0].contains("s3cret"), "{e:?}");

    let e = errors("[queue]\nbackend = \"postgres\"\n");
    assert!(e[0].starts_with("queue.url: is required"), "{e:?}");

    let e = errors(
        "[queue]\nbackend = \"mysql\"\npool_size = 1\nlease_secs = 0\ntls_ca_file = \"/x\"\n\
         password_file = \"/p\"\npassword_env = \"P\"\nsurprise = 1\n",
    );
    let joined = e.join("\n");
    for want in [
        "queue.backend = \"mysql\": must be one of \"sqlite\", \"postgres\"",
        "queue.pool_size = 1: must be between 2 and 1000",
        "queue.lease_secs = 0: must be between 2 and 3600",
        "queue.tls_ca_file = \"/x\": needs queue.tls = true",
        "queue.password_env = \"P\": give either",
        "queue.surprise = 1: unknown key",
    ] {
        assert!(joined.contains(want), "missing {want:?} in\n{joined}");
    }

    let e = errors("[server]\nnode = \"gw 1\"\n");
    assert!(
        e[0].starts_with("server.node = \"gw 1\": must be 1 to 63"),
        "{e:?}"
    );
}
