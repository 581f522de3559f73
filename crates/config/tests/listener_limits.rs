//! The listener's slow-client keys: parsed, range-checked with their key path, written
//! back by the writer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::time::Duration;

use danegate_config::Config;

fn parse(text: &str) -> Result<Config, String> {
    Config::from_toml_str(text, "t.toml").map_err(|e| e.to_string())
}

#[test]
fn slow_client_keys_are_parsed_and_written_back() {
    let c = parse(
        "[[listener]]\ncommand_timeout_secs = 60\ndata_timeout_secs = 900\n\
         session_timeout_secs = 0\nreserved_relay_connections = 100\n",
    )
    .unwrap();
    let l = &c.listeners[0];
    assert_eq!(l.command_timeout, Duration::from_secs(60));
    assert_eq!(l.data_timeout, Duration::from_secs(900));
    assert_eq!(l.session_timeout, Duration::ZERO);
    assert_eq!(l.reserved_relay_connections, 100);
    let again = parse(&c.to_toml()).unwrap();
    assert_eq!(again.listeners, c.listeners);
}

#[test]
fn defaults_and_a_small_listener() {
    let c = parse("[[listener]]\n").unwrap();
    let l = &c.listeners[0];
    assert_eq!(l.command_timeout, Duration::from_secs(300));
    assert_eq!(l.data_timeout, Duration::from_secs(600));
    assert_eq!(l.session_timeout, Duration::from_secs(3600));
    assert_eq!(l.reserved_relay_connections, 50);
    // A small listener does not reserve every slot by default.
    let c = parse("[[listener]]\nmax_connections = 10\n").unwrap();
    assert_eq!(c.listeners[0].reserved_relay_connections, 1);
}

#[test]
fn out_of_range_values_name_their_key() {
    for (text, key) in [
        (
            "command_timeout_secs = 5",
            "listener[0].command_timeout_secs",
        ),
        (
            "command_timeout_secs = 3601",
            "listener[0].command_timeout_secs",
        ),
        ("data_timeout_secs = 9", "listener[0].data_timeout_secs"),
        (
            "session_timeout_secs = -1",
            "listener[0].session_timeout_secs",
        ),
        (
            "session_timeout_secs = 604801",
            "listener[0].session_timeout_secs",
        ),
        (
            "max_connections = 20\nreserved_relay_connections = 21",
            "listener[0].reserved_relay_connections",
        ),
    ] {
        let e = parse(&format!("[[listener]]\n{text}\n")).unwrap_err();
        assert!(e.contains(key), "{text}: {e}");
    }
}
