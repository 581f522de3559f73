//! Regression (issue 10, point 11): `config check` refuses an open relay split into
//! several networks and listeners that cannot both be bound, and warns about RELAY
//! groups covering a large part of the Internet and about `[::]` next to IPv4 on a port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use danegate_config::{Config, ConfigErrors};

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str(text, "test.toml")
}

fn relay(senders: &str) -> String {
    format!("[[sender_group]]\nname = \"RELAYLIST\"\nsenders = [{senders}]\npolicy = \"RELAY\"\n")
}

fn listeners(addrs: &[&str]) -> String {
    addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("[[listener]]\nname = \"l{i}\"\naddress = \"{a}\"\n"))
        .collect()
}

#[test]
fn an_open_relay_in_several_networks_is_an_error() {
    for senders in [
        r#""0.0.0.0/1", "128.0.0.0/1""#,
        r#""0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1", "10.0.0.1""#,
        r#""::/1", "8000::/1""#,
        r#""0.0.0.0/0""#,
        r#""10.0.0.0/8", "ALL""#,
    ] {
        let e = parse(&relay(senders)).expect_err(senders);
        assert_eq!(e.errors.len(), 1, "{e}");
        assert_eq!(e.errors[0].key, "sender_group[0].policy", "{e}");
        assert!(e.errors[0].message.contains("open relay"), "{senders}: {e}");
    }
    let e = parse(&relay(r#""0.0.0.0/1", "128.0.0.0/1""#)).unwrap_err();
    assert!(
        e.errors[0]
            .message
            .contains("0.0.0.0/1 + 128.0.0.0/1 (together: every IPv4 address)"),
        "{e}"
    );
    // ACCEPT for everyone is not a relay.
    let accept = "[[sender_group]]\nname = \"A\"\nsenders = [\"0.0.0.0/1\", \"128.0.0.0/1\"]\n\
                  policy = \"ACCEPT\"\n[recipient_access]\ndomains = [\"example.com\"]\n";
    parse(accept).unwrap();
}

#[test]
fn a_relay_group_covering_much_of_the_internet_is_a_warning() {
    let c = parse(&relay(r#""0.0.0.0/1""#)).unwrap();
    let lints = c.lints();
    let l = lints
        .iter()
        .find(|l| l.key == "sender_group[0].senders")
        .unwrap_or_else(|| panic!("{lints:?}"));
    assert!(l.message.contains("as a /1"), "{l:?}");
    let c = parse(&relay(
        r#""10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7""#,
    ))
    .unwrap();
    assert!(
        !c.lints().iter().any(|l| l.key.starts_with("sender_group")),
        "private networks are fine: {:?}",
        c.lints()
    );
}

#[test]
fn listeners_that_overlap_are_an_error() {
    let e = parse(&listeners(&["0.0.0.0:25", "127.0.0.1:25"])).unwrap_err();
    assert_eq!(e.errors[0].key, "listener[1].address", "{e}");
    assert!(
        e.errors[0]
            .message
            .contains("overlaps listener[0] (0.0.0.0:25)"),
        "{e}"
    );
    let e = parse(&listeners(&["[::1]:2525", "[::]:2525"])).unwrap_err();
    assert_eq!(e.errors[0].key, "listener[1].address", "{e}");
    // Different ports, or specific addresses: fine.
    parse(&listeners(&["0.0.0.0:25", "127.0.0.1:2525"])).unwrap();
    parse(&listeners(&["127.0.0.1:25", "127.0.0.2:25", "[::1]:25"])).unwrap();
}

#[test]
fn ipv6_any_next_to_ipv4_on_a_port_is_a_warning() {
    let c = parse(&listeners(&["0.0.0.0:25", "[::]:25"])).unwrap();
    let lints = c.lints();
    assert!(
        lints
            .iter()
            .any(|l| l.key == "listener[1].address" && l.message.contains("IPV6_V6ONLY")),
        "{lints:?}"
    );
}
