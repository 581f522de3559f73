//! Property: configuration → TOML → configuration is the identity, and writing is
//! stable (writing the re-read configuration gives the same text).
//!
//! Configurations are generated as files — random combinations of every section and
//! of the values each key allows, with odd but valid strings (quotes, backslashes,
//! non-ASCII in free text) — and kept when they load; the loader's validation is what
//! makes a `Config`, so generating text reaches every valid shape without duplicating
//! its rules here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use danegate_config::Config;
use proptest::prelude::*;

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn hostname() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z][a-z0-9]{0,5}){1,2}"
}

fn line(key: &str, value: Option<String>) -> String {
    value.map(|v| format!("{key} = {v}\n")).unwrap_or_default()
}

fn quoted(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    s.prop_map(|v| format!("{v:?}"))
}

fn num(lo: u64, hi: u64) -> impl Strategy<Value = String> {
    (lo..=hi).prop_map(|n| n.to_string())
}

fn choice(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(values).prop_map(|v| format!("{v:?}"))
}

fn listener(i: usize) -> impl Strategy<Value = String> {
    (
        opt(num(1024, 100_000_000)),
        opt(num(1, 10_000)),
        opt(num(1, 10_000)),
        opt(num(1, 500)),
        opt(num(10, 3600)),
        opt(num(1, 100)),
    )
        .prop_map(move |(size, rcpts, conns, per, idle, errs)| {
            format!(
                "[[listener]]\nname = \"l{i}\"\naddress = \"127.0.0.{}:25{i:02}\"\n{}{}{}{}{}{}",
                i + 1,
                line("max_message_size", size),
                line("max_recipients", rcpts),
                line("max_connections", conns),
                line("max_connections_per_client", per),
                line("idle_timeout_secs", idle),
                line("max_errors", errs),
            )
        })
}

fn sender_group(i: usize) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop_oneof![
                Just("\"127.0.0.1\"".to_string()),
                Just("\"::1\"".to_string()),
                Just("\"10.0.0.0/8\"".to_string()),
                Just("\"ALL\"".to_string()),
                hostname().prop_map(|h| format!("{h:?}")),
                hostname().prop_map(|h| format!("\".{h}\"")),
            ],
            1..4,
        ),
        choice(&["RELAY", "ACCEPT", "REJECT", "TCPREFUSE"]),
    )
        .prop_map(move |(senders, policy)| {
            format!(
                "[[sender_group]]\nname = \"G{i}\"\nsenders = [{}]\npolicy = {policy}\n",
                senders.join(", ")
            )
        })
}

fn destination(domain: String, bounce: bool) -> impl Strategy<Value = String> {
    (
        (
            opt(choice(&[
                "ipv4-only",
                "ipv6-only",
                "ipv4-preferred",
                "ipv6-preferred",
            ])),
            opt(num(1, 1000)),
            opt(num(1, 1000)),
            opt(choice(&["system-wide", "per-interface"])),
        ),
        (
            opt(choice(&[
                "none",
                "preferred",
                "required",
                "preferred-verify",
                "required-verify",
            ])),
            opt(choice(&["none", "opportunistic", "mandatory"])),
            opt((0u32..10_000, 1u32..=60)),
            opt(prop::bool::ANY),
            opt(Just("\"192.0.2.10\"".to_string())),
        ),
    )
        .prop_map(
            move |((ip, conns, msgs, apply), (tls, dane, limit, batv, iface))| {
                format!(
                    "[[destination]]\ndomain = {domain:?}\n{}{}{}{}{}{}{}{}{}{}",
                    line("ip_preference", ip),
                    line("max_concurrent_connections", conns),
                    line("max_messages_per_connection", msgs),
                    line("apply_limits", apply),
                    line("tls", tls),
                    line("dane", dane),
                    line(
                        "recipient_limit",
                        limit.map(|(r, m)| format!("{{ recipients = {r}, per_minutes = {m} }}"))
                    ),
                    line("bounce_verification", batv.map(|b| b.to_string())),
                    line("outbound_interface", iface),
                    if bounce {
                        "bounce_profile = \"patient\"\n"
                    } else {
                        ""
                    },
                )
            },
        )
}

fn route(domain: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[\"USEDNS\"]".to_string()),
        prop::collection::vec(
            prop_oneof![
                Just("\"10.0.0.5:25\"".to_string()),
                Just("\"[2001:db8::5]:2525\"".to_string()),
                hostname().prop_map(|h| format!("{h:?}")),
                hostname().prop_map(|h| format!("\"{h}:587\"")),
            ],
            1..4
        )
        .prop_map(|v| format!("[{}]", v.join(", "))),
    ]
    .prop_map(move |hosts| format!("[[smtp_route]]\ndomain = {domain:?}\nhosts = {hosts}\n"))
}

fn bounce_profile(name: &'static str) -> impl Strategy<Value = String> {
    (
        opt(num(60, 3600)),
        opt(num(3600, 86_400)),
        opt(num(0, 1000)),
        opt(num(86_400, 864_000)),
        opt(num(600, 86_400)),
        opt(prop::bool::ANY),
    )
        .prop_map(move |(first, max_iv, retries, queue, warn, hard)| {
            format!(
                "[[bounce_profile]]\nname = {name:?}\n{}{}{}{}{}{}",
                line("initial_retry_secs", first),
                line("max_retry_interval_secs", max_iv),
                line("max_retries", retries),
                line("max_queue_time_secs", queue),
                line("delay_warning_after_secs", warn),
                line("hard_bounces", hard.map(|b| b.to_string())),
            )
        })
}

fn log(i: usize) -> impl Strategy<Value = String> {
    (
        choice(&["info", "debug", "trace", "warning"]),
        opt(choice(&["text", "json"])),
        opt(prop_oneof![Just("0".to_string()), num(1024, 100_000_000)]),
        opt(choice(&["hourly", "daily", "weekly", "never"])),
        opt(num(1, 100)),
    )
        .prop_map(move |(level, format, size, every, files)| {
            format!(
                "[[log]]\nname = \"log{i}\"\nfile = \"/var/log/danegate/log{i}\"\nlevel = {level}\n{}{}{}{}",
                line("format", format),
                line("rotate_size_bytes", size),
                line("rotate_interval", every),
                line("max_files", files),
            )
        })
}

fn config_text() -> impl Strategy<Value = String> {
    let domains = prop::collection::vec(
        prop_oneof![hostname(), hostname().prop_map(|h| format!(".{h}"))],
        0..4,
    );
    (
        (
            hostname(),
            quoted("[a-zA-Z0-9/_ \"\\\\é-]{1,20}".prop_map(|s| format!("/srv/{s}"))),
            (1usize..3).prop_flat_map(|n| {
                (0..n).map(listener).collect::<Vec<_>>()
            }),
            (0usize..3).prop_flat_map(|n| {
                (0..n).map(sender_group).collect::<Vec<_>>()
            }),
            prop::collection::vec(hostname(), 0..3),
            opt(num(1, 30)),
        ),
        (
            destination("default".into(), false),
            domains.clone().prop_flat_map(|ds| {
                ds.into_iter()
                    .enumerate()
                    .map(|(i, d)| destination(d, i % 2 == 1))
                    .collect::<Vec<_>>()
            }),
            domains.prop_flat_map(|ds| ds.into_iter().map(route).collect::<Vec<_>>()),
            bounce_profile("default"),
            bounce_profile("patient"),
            (0usize..3).prop_flat_map(|n| (0..n).map(log).collect::<Vec<_>>()),
        ),
    )
        .prop_map(
            |((host, dir, listeners, groups, rat, timeout), (def, dests, routes, b1, b2, logs))| {
                let mut s = format!("[server]\nhostname = {host:?}\ndata_dir = {dir}\n\n");
                for l in listeners {
                    s += &l;
                    s += "\n";
                }
                for g in groups {
                    s += &g;
                    s += "\n";
                }
                let rat: Vec<String> = rat.iter().map(|d| format!("{d:?}")).collect();
                s += &format!("[recipient_access]\ndomains = [{}]\n\n", rat.join(", "));
                s += &format!(
                    "[dns]\nresolvers = [ {{ address = \"127.0.0.1:53\", priority = 0 }}, {{ address = \"192.0.2.53\", priority = 10 }} ]\n{}\n",
                    line("timeout_secs", timeout)
                );
                for part in std::iter::once(def)
                    .chain(dests)
                    .chain(routes)
                    .chain([b1, b2])
                    .chain(logs)
                {
                    s += &part;
                    s += "\n";
                }
                s
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn config_toml_config_round_trips(text in config_text()) {
        let parsed = Config::from_toml_str(&text, "generated.toml");
        // Random combinations may break a cross-field rule (a duplicate domain, a
        // route DANE cannot verify is only a lint); those files are not the subject.
        prop_assume!(parsed.is_ok());
        let c = parsed.unwrap();
        let written = c.to_toml();
        let back = Config::from_toml_str(&written, "written.toml");
        prop_assert!(back.is_ok(), "written file does not load: {:?}\n{written}", back.err());
        let back = back.unwrap();
        prop_assert_eq!(&back, &c, "config changed through TOML:\n{}", written);
        prop_assert_eq!(back.to_toml(), written, "writing is not stable");
    }
}

#[test]
fn most_generated_configurations_are_valid() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = config_text();
    let mut ok = 0;
    let mut first_error = None;
    for _ in 0..100 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        match Config::from_toml_str(&text, "generated.toml") {
            Ok(_) => ok += 1,
            Err(e) => {
                eprintln!("{e}");
                first_error.get_or_insert_with(|| format!("{e}\n{text}"));
            }
        }
    }
    assert!(
        ok >= 50,
        "only {ok}/100 generated files load; first error: {}",
        first_error.unwrap_or_default()
    );
}
