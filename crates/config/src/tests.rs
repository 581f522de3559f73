//! Tests of parsing, validation, matching, lints and writing.

use std::net::IpAddr;
use std::time::Duration;

use crate::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str(text, "test.toml")
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}\n--- text:\n{text}"),
    }
}

fn errs(text: &str) -> ConfigErrors {
    match parse(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const EXAMPLE: &str = include_str!("../examples/danegate.toml");

// ---------------------------------------------------------------- ranges

/// (TOML template with `{}` for the value, key path, min, max)
const RANGES: &[(&str, &str, i64, i64)] = &[
    (
        "[[listener]]\nmax_message_size = {}",
        "listener[0].max_message_size",
        1024,
        1 << 30,
    ),
    (
        "[[listener]]\nmax_recipients = {}",
        "listener[0].max_recipients",
        1,
        100_000,
    ),
    (
        "[[listener]]\nmax_connections = {}",
        "listener[0].max_connections",
        1,
        100_000,
    ),
    (
        "[[listener]]\nmax_connections_per_client = {}",
        "listener[0].max_connections_per_client",
        1,
        500,
    ),
    (
        "[[listener]]\nmax_connections = 20\nmax_connections_per_client = {}",
        "listener[0].max_connections_per_client",
        1,
        20,
    ),
    (
        "[[listener]]\nidle_timeout_secs = {}",
        "listener[0].idle_timeout_secs",
        10,
        3600,
    ),
    (
        "[[listener]]\nmax_errors = {}",
        "listener[0].max_errors",
        1,
        1000,
    ),
    ("[dns]\ntimeout_secs = {}", "dns.timeout_secs", 1, 60),
    (
        "[dns]\nsig_skew_max_secs = {}",
        "dns.sig_skew_max_secs",
        0,
        604_800,
    ),
    (
        "[dns]\nresolvers = [ { address = \"127.0.0.1\", priority = {} } ]",
        "dns.resolvers[0].priority",
        0,
        65_535,
    ),
    (
        "[[destination]]\ndomain = \"example.com\"\nmax_concurrent_connections = {}",
        "destination[0].max_concurrent_connections",
        1,
        1000,
    ),
    (
        "[[destination]]\ndomain = \"default\"\nmax_messages_per_connection = {}",
        "destination[0].max_messages_per_connection",
        1,
        1000,
    ),
    (
        "[[destination]]\ndomain = \"example.com\"\nrecipient_limit = { recipients = {} }",
        "destination[0].recipient_limit.recipients",
        0,
        1_000_000_000,
    ),
    (
        "[[destination]]\ndomain = \"example.com\"\nrecipient_limit = { recipients = 5, per_minutes = {} }",
        "destination[0].recipient_limit.per_minutes",
        1,
        60,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\ninitial_retry_secs = {}",
        "bounce_profile[0].initial_retry_secs",
        1,
        86_400,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\nmax_retry_interval_secs = {}",
        "bounce_profile[0].max_retry_interval_secs",
        60,
        86_400,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\ninitial_retry_secs = 600\nmax_retry_interval_secs = {}",
        "bounce_profile[0].max_retry_interval_secs",
        600,
        86_400,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\nmax_retries = {}",
        "bounce_profile[0].max_retries",
        0,
        10_000,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\nmax_queue_time_secs = {}",
        "bounce_profile[0].max_queue_time_secs",
        60,
        3_000_000,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\ndelay_warning_after_secs = {}",
        "bounce_profile[0].delay_warning_after_secs",
        0,
        259_199,
    ),
    (
        "[[bounce_profile]]\nname = \"b\"\nmax_queue_time_secs = 3600\ndelay_warning_after_secs = {}",
        "bounce_profile[0].delay_warning_after_secs",
        0,
        3599,
    ),
];

#[test]
fn every_range_edge() {
    for (template, key, min, max) in RANGES {
        for v in [*min, *max] {
            let text = template.replace("{}", &v.to_string());
            ok(&text);
        }
        for v in [min - 1, max + 1] {
            let text = template.replace("{}", &v.to_string());
            let e = errs(&text);
            assert_eq!(e.len(), 1, "{text}\n{e}");
            let err = &e.errors[0];
            assert_eq!(&err.key, key, "{text}");
            assert_eq!(err.value, v.to_string());
            assert_eq!(
                err.message,
                format!("must be between {min} and {max}"),
                "{text}"
            );
        }
    }
}

#[test]
fn range_values_land_in_the_model() {
    let c = ok(
        "[[listener]]\nmax_message_size = 1_024\nidle_timeout_secs = 0x0a\n\
                [[destination]]\ndomain = \"x.example\"\nrecipient_limit = { recipients = 7, per_minutes = 5 }",
    );
    assert_eq!(c.listeners[0].max_message_size, 1024);
    assert_eq!(c.listeners[0].idle_timeout, Duration::from_secs(10));
    let limit = c.destination_for("x.example").recipient_limit.unwrap();
    assert_eq!(limit.recipients, 7);
    assert_eq!(limit.interval, Duration::from_secs(300));
    let e = errs("[dns]\ntimeout_secs = 99999999999999999999999");
    assert_eq!(e.errors[0].message, "must be between 1 and 60");
    let e = errs("[dns]\ntimeout_secs = 2.5");
    assert!(e.errors[0].message.contains("whole number"));
    let e = errs("[dns]\ntimeout_secs = \"3\"");
    assert_eq!(e.errors[0].message, "must be an integer");
}

// ---------------------------------------------------------------- enums

#[test]
fn bad_enum_values_name_the_allowed_values() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[[destination]]\ndomain = \"a.example\"\nip_preference = \"ipv5\"",
            "destination[0].ip_preference",
            &["ipv6-preferred", "ipv4-preferred", "ipv4-only", "ipv6-only"],
        ),
        (
            "[[destination]]\ndomain = \"a.example\"\napply_limits = \"global\"",
            "destination[0].apply_limits",
            &["system-wide", "per-interface"],
        ),
        (
            "[[destination]]\ndomain = \"a.example\"\ntls = \"yes\"",
            "destination[0].tls",
            &[
                "none",
                "preferred",
                "required",
                "preferred-verify",
                "required-verify",
                "required-verify-hosted-domains",
            ],
        ),
        (
            "[[destination]]\ndomain = \"a.example\"\ndane = \"always\"",
            "destination[0].dane",
            &["none", "opportunistic", "mandatory"],
        ),
        (
            "[[sender_group]]\nname = \"G\"\nsenders = [\"10.0.0.1\"]\npolicy = \"ALLOW\"",
            "sender_group[0].policy",
            &["RELAY", "ACCEPT", "REJECT", "TCPREFUSE"],
        ),
        (
            "[[destination]]\ndomain = \"a.example\"\ntls = 1",
            "destination[0].tls",
            &["preferred"],
        ),
    ];
    for (text, key, allowed) in cases {
        let e = errs(text);
        assert_eq!(e.len(), 1, "{e}");
        assert_eq!(&e.errors[0].key, key);
        for a in *allowed {
            assert!(
                e.errors[0].message.contains(&format!("\"{a}\"")),
                "{} lacks {a}",
                e.errors[0].message
            );
        }
    }
    // Case-insensitive, written back canonically.
    let c = ok(
        "[[destination]]\ndomain = \"a.example\"\ntls = \"Required-Verify\"\ndane = \"MANDATORY\"",
    );
    assert_eq!(
        c.destination_for("a.example").tls,
        TlsSupport::RequiredVerify
    );
    assert!(c.to_toml().contains("tls = \"required-verify\""));
}

// ---------------------------------------------------------------- all errors at once

#[test]
fn five_mistakes_are_all_reported_in_file_order() {
    let text = r#"
[server]
hostname = "bad host name"

[[listener]]
address = "localhost:25"

[[destination]]
domain = "example.com"
max_concurrent_connections = 1001

[[destination]]
domain = "other.example"
tls = "none"
dane = "mandatory"

[[smtp_route]]
domain = "internal.example"
hosts = ["10.0.0.5:99999"]
"#;
    let e = errs(text);
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.hostname",
            "listener[0].address",
            "destination[0].max_concurrent_connections",
            "destination[1].dane",
            "smtp_route[0].hosts[0]",
        ]
    );
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[2],
        "test.toml: destination[0].max_concurrent_connections = 1001: must be between 1 and 1000 (line 10)"
    );
    assert!(lines[3].contains("DANE requires TLS"), "{}", lines[3]);
    assert!(
        lines[4].contains("port must be between 1 and 65535"),
        "{}",
        lines[4]
    );
    assert_eq!(e.errors[1].value, "\"localhost:25\"");
    assert_eq!(e.errors[2].line, Some(10));
}

#[test]
fn unknown_keys_are_errors() {
    let e = errs(
        "colour = \"blue\"\n[server]\nhostnme = \"x.example\"\n[[destination]]\ndomain = \"a.example\"\ntls_mode = \"required\"\n",
    );
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["colour", "server.hostnme", "destination[0].tls_mode"]
    );
    assert!(e.errors[1].message.contains("unknown key"));
    assert!(
        e.errors[1].message.contains("hostname"),
        "lists allowed keys"
    );
    assert!(e.errors[2].message.contains("dane"));
    // Nested table too.
    let e = errs("[dns]\nresolvers = [ { address = \"127.0.0.1\", weight = 1 } ]");
    assert_eq!(e.errors[0].key, "dns.resolvers[0].weight");
    // A single table where an array of tables is expected.
    let e = errs("[destination]\ndomain = \"a.example\"");
    assert!(e.errors[0].message.contains("[[destination]]"));
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = errs("[server]\nhostname = \"a.example\"\ndata_dir = \n");
    assert_eq!(e.errors[0].line, Some(3), "{e}");
    assert!(e.errors[0].column.is_some());
    assert!(
        e.to_string().starts_with("test.toml: line 3, column "),
        "{e}"
    );
    assert!(e.to_string().contains("TOML syntax error"));
    let e = errs("[server\n");
    assert_eq!(e.errors[0].line, Some(1));
    // Duplicate keys are syntax errors of TOML itself.
    let e = errs("[dns]\ntimeout_secs = 1\ntimeout_secs = 2\n");
    assert_eq!(e.errors[0].line, Some(3), "{e}");
}

#[test]
fn load_reports_unreadable_files() {
    let e = Config::load("/nonexistent/danegate.toml").unwrap_err();
    assert_eq!(e.source_name, "/nonexistent/danegate.toml");
    assert!(e.errors[0].message.contains("cannot read"));
}

#[test]
fn duplicates_are_errors() {
    let e = errs(
        "[[destination]]\ndomain = \"a.example\"\n[[destination]]\ndomain = \"A.Example.\"\n\
         [[bounce_profile]]\nname = \"x\"\n[[bounce_profile]]\nname = \"x\"\n\
         [[listener]]\naddress = \"127.0.0.1:25\"\n[[listener]]\naddress = \"127.0.0.1:25\"\n",
    );
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "destination[1].domain",
            "bounce_profile[1].name",
            "listener[1].address"
        ]
    );
    assert!(e.errors[0].message.contains("destination[0]"));
    let e = errs("[[destination]]\ndomain = \"default\"\n[[destination]]\ndomain = \"DEFAULT\"\n");
    assert_eq!(e.errors[0].key, "destination[1].domain");
    let e = errs("[[destination]]\ndomain = \"a.example\"\nbounce_profile = \"missing\"\n");
    assert_eq!(e.errors[0].key, "destination[0].bounce_profile");
    assert!(e.errors[0].message.contains("\"default\""));
    let e = errs(
        "[[smtp_route]]\ndomain = \"a.example\"\nhosts = [\"USEDNS\"]\n[[smtp_route]]\ndomain = \"a.example\"\nhosts = [\"USEDNS\"]\n",
    );
    assert_eq!(e.errors[0].key, "smtp_route[1].domain");
    let e = errs("[dns]\nresolvers = [\"127.0.0.1\", \"127.0.0.1:53\"]");
    assert_eq!(e.errors[0].key, "dns.resolvers[1]");
    // Port 0 (ephemeral) listeners may repeat.
    ok(
        "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:0\"\n[[listener]]\nname = \"b\"\naddress = \"127.0.0.1:0\"\n",
    );
}

#[test]
fn other_validation_rules() {
    let e = errs("[[listener]]\ntls_cert = \"/c.pem\"\n");
    assert_eq!(e.errors[0].key, "listener[0].tls_key");
    assert_eq!(e.errors[0].value, "");
    assert!(
        e.to_string()
            .starts_with("test.toml: listener[0].tls_key: is required")
    );
    let e = errs("[[sender_group]]\nname = \"OPEN\"\nsenders = [\"ALL\"]\npolicy = \"RELAY\"\n");
    assert!(e.errors[0].message.contains("open relay"));
    let e = errs("[[sender_group]]\nname = \"OPEN\"\nsenders = [\"::/0\"]\npolicy = \"relay\"\n");
    assert!(e.errors[0].message.contains("open relay"));
    let e = errs("[[sender_group]]\nsenders = [\"10.0.0.1/8\"]\npolicy = \"RELAY\"\n");
    assert!(e.errors[0].message.contains("10.0.0.0/8"), "{e}");
    let e = errs("[[sender_group]]\nname = \"G\"\n");
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["sender_group[0].senders", "sender_group[0].policy"]);
    let e = errs("[[smtp_route]]\ndomain = \"a.example\"\nhosts = [\"USEDNS\", \"10.0.0.1\"]\n");
    assert!(e.errors[0].message.contains("USEDNS"));
    let e = errs("[[smtp_route]]\ndomain = \"a.example\"\nhosts = []\n");
    assert_eq!(e.errors[0].key, "smtp_route[0].hosts");
    let e = errs("listener = []\n");
    assert_eq!(e.errors[0].key, "listener");
    let e = errs("[recipient_access]\ndomains = [\"a.example\", \"bad..example\"]\n");
    assert_eq!(e.errors[0].key, "recipient_access.domains[1]");
}

#[test]
fn dane_needs_tls_and_inheritance_follows_the_form() {
    // Explicit DANE with TLS None: error (the form's DANE select is inactive then).
    let e =
        errs("[[destination]]\ndomain = \"default\"\ntls = \"none\"\ndane = \"opportunistic\"\n");
    assert_eq!(e.errors[0].key, "destination[0].dane");
    // TLS None without dane: DANE is off.
    let c = ok("[[destination]]\ndomain = \"default\"\ntls = \"none\"\n");
    assert_eq!(c.default_destination.dane, DaneSupport::None);
    // Unset fields follow the default profile ("Use Default").
    let c = ok(
        "[[destination]]\ndomain = \"a.example\"\nmax_concurrent_connections = 7\n\
                [[destination]]\ndomain = \"default\"\ntls = \"required\"\ndane = \"mandatory\"\n",
    );
    let a = c.destination_for("a.example");
    assert_eq!(a.tls, TlsSupport::Required);
    assert_eq!(a.dane, DaneSupport::Mandatory);
    assert_eq!(a.max_concurrent_connections, 7);
    assert!(a.explicit.max_concurrent_connections && !a.explicit.tls);
    let c = ok("[[destination]]\ndomain = \"a.example\"\ntls = \"none\"\n");
    assert_eq!(c.destination_for("a.example").dane, DaneSupport::None);
}

// ---------------------------------------------------------------- matching

#[test]
fn destination_matching() {
    let c = ok(r#"
[[destination]]
domain = "example.com"
max_concurrent_connections = 1
[[destination]]
domain = ".example.com"
max_concurrent_connections = 2
[[destination]]
domain = ".deep.example.com"
max_concurrent_connections = 3
[[destination]]
domain = "default"
max_concurrent_connections = 4
"#);
    let n = |d: &str| c.destination_for(d).max_concurrent_connections;
    assert_eq!(n("example.com"), 1, "exact beats suffix");
    assert_eq!(n("EXAMPLE.COM."), 1, "case-insensitive, trailing dot");
    assert_eq!(n("a.example.com"), 2);
    assert_eq!(n("x.deep.example.com"), 3, "longest suffix");
    assert_eq!(n("deep.example.com"), 2, ".deep matches subdomains only");
    assert_eq!(n("badexample.com"), 4);
    assert_eq!(n("other.org"), 4);
    assert!(c.destination_for("other.org").is_default());

    let c = ok(
        "[[smtp_route]]\ndomain = \"internal.example\"\nhosts = [\"10.0.0.5:2525\", \"mx.internal.example\", \"[2001:db8::1]:26\", \"2001:db8::2\"]\n\
                [[smtp_route]]\ndomain = \".internal.example\"\nhosts = [\"USEDNS\"]\n",
    );
    let r = c.route_for("Internal.Example.").unwrap();
    let RouteHosts::Hosts(h) = &r.hosts else {
        panic!()
    };
    assert_eq!(h[0].port, 2525);
    assert_eq!(h[1].host, RouteHostName::Name("mx.internal.example".into()));
    assert_eq!(h[1].port, 25);
    assert_eq!(h[2].host, RouteHostName::Ip(ip("2001:db8::1")));
    assert_eq!(h[2].port, 26);
    assert_eq!(h[3].port, 25);
    assert_eq!(
        c.route_for("a.internal.example").unwrap().hosts,
        RouteHosts::UseDns
    );
    assert!(c.route_for("example.org").is_none());
}

#[test]
fn sender_policy_matching_order() {
    let c = ok(r#"
[[sender_group]]
name = "HOSTS"
senders = ["relay.example.com", ".trusted.example"]
policy = "RELAY"
[[sender_group]]
name = "NETS"
senders = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
policy = "ACCEPT"
[[sender_group]]
name = "BAD"
senders = ["10.9.0.0/16"]
policy = "REJECT"
[[sender_group]]
name = "REST"
senders = ["ALL"]
policy = "TCPREFUSE"
[recipient_access]
domains = ["example.com", ".example.net"]
"#);
    let name = |ipa: &str, rdns: Option<&str>| {
        let (g, p) = c.sender_policy(ip(ipa), rdns);
        (g.map(|g| g.name.clone()), p)
    };
    assert_eq!(
        name("10.1.2.3", None),
        (Some("NETS".into()), Policy::Accept)
    );
    assert_eq!(
        name("10.9.0.1", None),
        (Some("NETS".into()), Policy::Accept),
        "first match wins"
    );
    assert_eq!(
        name("2001:db8:5::1", None),
        (Some("NETS".into()), Policy::Accept)
    );
    assert_eq!(
        name("::ffff:10.0.0.1", None),
        (Some("NETS".into()), Policy::Accept),
        "mapped v4"
    );
    assert_eq!(
        name("192.0.2.7", None),
        (Some("NETS".into()), Policy::Accept)
    );
    assert_eq!(
        name("192.0.2.8", None),
        (Some("REST".into()), Policy::TcpRefuse),
        "ALL"
    );
    // Host names only with verified rDNS.
    assert_eq!(
        name("198.51.100.1", Some("Relay.Example.com.")),
        (Some("HOSTS".into()), Policy::Relay)
    );
    assert_eq!(
        name("198.51.100.1", Some("a.trusted.example")),
        (Some("HOSTS".into()), Policy::Relay)
    );
    assert_eq!(
        name("198.51.100.1", Some("trusted.example")),
        (Some("REST".into()), Policy::TcpRefuse)
    );
    assert_eq!(
        name("198.51.100.1", None),
        (Some("REST".into()), Policy::TcpRefuse)
    );

    let c2 = ok("[[sender_group]]\nname = \"N\"\nsenders = [\"10.0.0.0/8\"]\npolicy = \"RELAY\"\n");
    assert_eq!(
        c2.sender_policy(ip("192.0.2.1"), None),
        (None, Policy::Reject),
        "default REJECT"
    );
    let d = Config::embedded_default();
    assert_eq!(d.sender_policy(ip("127.0.0.1"), None).1, Policy::Relay);
    assert_eq!(d.sender_policy(ip("::1"), None).1, Policy::Relay);
    assert_eq!(d.sender_policy(ip("127.0.0.2"), None).1, Policy::Reject);

    assert!(c.rat_accepts("EXAMPLE.com."));
    assert!(!c.rat_accepts("a.example.com"));
    assert!(c.rat_accepts("a.example.net"));
    assert!(!c.rat_accepts("example.net"));
}

// ---------------------------------------------------------------- lints

const ROUTED: &str = r#"
[[smtp_route]]
domain = "internal.example"
hosts = ["10.0.0.5:25"]
"#;

#[test]
fn route_with_dane_on_the_default_profile_is_linted() {
    let c = ok(ROUTED);
    let lints = c.lints();
    assert_eq!(lints.len(), 1, "{lints:?}");
    let l = &lints[0];
    assert_eq!(l.key, "smtp_route[0]");
    assert!(
        l.message.contains("DANE cannot be verified"),
        "{}",
        l.message
    );
    assert!(
        l.message
            .contains("the default destination profile has dane = \"opportunistic\"")
    );
    assert!(l.message.contains("72 h"));
    assert!(!l.message.contains("Recipient Access Table"));
    assert!(
        l.fix
            .contains("domain = \"internal.example\" dane = \"none\""),
        "{}",
        l.fix
    );

    // A mandatory suffix profile covering the route.
    let c = ok(&format!(
        "{ROUTED}[[destination]]\ndomain = \".example\"\ntls = \"required\"\ndane = \"mandatory\"\n"
    ));
    assert!(
        c.lints()[0]
            .message
            .contains("destination profile \".example\" has dane = \"mandatory\"")
    );
}

#[test]
fn no_lint_when_the_route_domain_has_dane_none() {
    let c = ok(&format!(
        "{ROUTED}[[destination]]\ndomain = \"internal.example\"\ndane = \"none\"\n"
    ));
    assert!(c.lints().is_empty(), "{:?}", c.lints());
    let c = ok(&format!(
        "{ROUTED}[[destination]]\ndomain = \"default\"\ndane = \"none\"\n"
    ));
    assert!(c.lints().is_empty());
    let c = ok("[[smtp_route]]\ndomain = \"internal.example\"\nhosts = [\"USEDNS\"]\n");
    assert!(c.lints().is_empty(), "USEDNS routes can do DANE");
    // A profile for the domain that keeps DANE: the fix names that profile.
    let c = ok(&format!(
        "{ROUTED}[[destination]]\ndomain = \"internal.example\"\ndane = \"mandatory\"\n"
    ));
    assert!(
        c.lints()[0]
            .fix
            .starts_with("set dane = \"none\" in the [[destination]]")
    );
    // A subdomain route is governed by the subdomain profile.
    let c = ok(
        "[[smtp_route]]\ndomain = \".corp.example\"\nhosts = [\"10.0.0.1\"]\n\
                [[destination]]\ndomain = \".example\"\ndane = \"none\"\n",
    );
    assert!(c.lints().is_empty());
}

#[test]
fn rat_domain_route_names_the_documented_trap() {
    let c = ok(&format!(
        "{ROUTED}[recipient_access]\ndomains = [\"internal.example\"]\n"
    ));
    let l = &c.lints()[0];
    assert!(
        l.message
            .contains("internal.example is a Recipient Access Table domain"),
        "{}",
        l.message
    );
    assert!(l.message.contains("documented trap"));
    let c = ok(
        "[[smtp_route]]\ndomain = \".internal.example\"\nhosts = [\"10.0.0.5\"]\n\
                [recipient_access]\ndomains = [\"a.internal.example\"]\n",
    );
    assert!(c.lints()[0].message.contains("Recipient Access Table"));
}

#[test]
fn other_lints() {
    let c = ok("[[destination]]\ndomain = \"a.example\"\nrecipient_limit = { recipients = 0 }\n");
    assert_eq!(
        c.lints()[0].key,
        "destination(\"a.example\").recipient_limit"
    );
    let c = ok(
        "[[sender_group]]\nname = \"IN\"\nsenders = [\"ALL\"]\npolicy = \"ACCEPT\"\n\
                [[sender_group]]\nname = \"LATE\"\nsenders = [\"10.0.0.1\"]\npolicy = \"RELAY\"\n",
    );
    let keys: Vec<String> = c.lints().into_iter().map(|l| l.key).collect();
    assert_eq!(keys, ["recipient_access.domains", "sender_group[1]"]);
}

#[test]
fn embedded_default_is_valid_and_lint_free() {
    let d = Config::embedded_default();
    assert_eq!(d, ok(""), "the embedded default equals an empty file");
    assert!(d.lints().is_empty());
    assert_eq!(d.listeners[0].address.to_string(), "127.0.0.1:2525");
    assert_eq!(d.default_destination.tls, TlsSupport::Preferred);
    assert_eq!(d.default_destination.dane, DaneSupport::Opportunistic);
    assert!(d.dns.resolvers.is_empty());
    assert!(d.dns.trust_anchor_file.is_none());
    assert_eq!(
        d.bounce_profile_for(&d.default_destination).max_queue_time,
        Duration::from_secs(72 * 3600)
    );
    assert_eq!(ok(&d.to_toml()), d);
}

// ---------------------------------------------------------------- writing

#[test]
fn example_file_parses_and_round_trips() {
    let c = ok(EXAMPLE);
    assert!(c.lints().is_empty(), "{:?}", c.lints());
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.destination_for("ietf.org").dane, DaneSupport::Mandatory);
    assert_eq!(
        c.destination_for("mx.partner.example").bounce_profile,
        "patient"
    );
    let text = c.to_toml();
    let back = ok(&text);
    assert_eq!(back, c, "{text}");
    assert_eq!(back.to_toml(), text, "writing is stable");
}

#[test]
fn round_trip_keeps_inheritance_and_odd_strings() {
    let src = r#"
[server]
hostname = "gw.example"
data_dir = "/var/lib/dane \"gate\"\\x"
sender_group = []
"#;
    // sender_group = [] inside [server] is an unknown key; at top level it means "nobody".
    assert!(parse(src).is_err());
    let c = ok(
        "sender_group = []\n[server]\ndata_dir = \"/var/lib/dane \\\"gate\\\"\\\\x\\tz\"\n\
                [[destination]]\ndomain = \"default\"\nrecipient_limit = { recipients = 10 }\noutbound_interface = \"192.0.2.1\"\n\
                [[destination]]\ndomain = \"a.example\"\nrecipient_limit = \"none\"\noutbound_interface = \"none\"\n\
                [[destination]]\ndomain = \"b.example\"\ntls = \"none\"\n",
    );
    assert!(c.sender_groups.is_empty());
    assert_eq!(c.destination_for("a.example").recipient_limit, None);
    assert_eq!(
        c.destination_for("c.example")
            .recipient_limit
            .map(|l| l.recipients),
        Some(10)
    );
    let text = c.to_toml();
    assert_eq!(ok(&text), c, "{text}");

    // A programmatic edit is persisted even without the explicit flag.
    let mut edited = c.clone();
    edited.destinations[1].max_concurrent_connections = 9;
    let back = ok(&edited.to_toml());
    assert_eq!(
        back.destination_for("b.example").max_concurrent_connections,
        9
    );
}

// ---------------------------------------------------------------- report

#[test]
fn check_report_output() {
    let (out, good) = check_report_str(
        "[dns]\ntimeout_secs = 0\n[[listener]]\nmax_errors = 0\n",
        "f.toml",
        None,
    );
    assert!(!good);
    assert_eq!(
        out,
        "f.toml: dns.timeout_secs = 0: must be between 1 and 60 (line 2)\n\
         f.toml: listener[0].max_errors = 0: must be between 1 and 1000 (line 4)\n2 errors\n"
    );
    let (out, good) = check_report_str(ROUTED, "f.toml", Some("nameserver 192.0.2.53\n"));
    assert!(good);
    assert!(out.contains("warning: smtp_route[0]:"), "{out}");
    assert!(out.contains("  fix: add a destination profile"));
    assert!(out.contains(
        "warning: dns.resolvers: not set: the nameservers of /etc/resolv.conf (192.0.2.53)"
    ));
    assert!(out.ends_with("config OK (2 warnings)\n"), "{out}");
    let (out, good) = check_report_str(
        "[dns]\nresolvers = [\"127.0.0.1\"]\n[server]\nhostname = \"a.example\"\n",
        "f.toml",
        None,
    );
    assert!(good);
    assert!(
        out.contains("note: dns.resolvers[0]: 127.0.0.1:53 (priority 0) will be probed for DNSSEC")
    );
    assert!(out.ends_with("config OK\n"), "{out}");
    let (out, _) = check_report_str("", "f.toml", Some("# nothing\n"));
    assert!(out.contains("no usable nameserver"), "{out}");
    let (path_out, good) = check_report("/nonexistent.toml");
    assert!(!good);
    assert!(path_out.ends_with("1 error\n"));
}

#[test]
fn resolv_conf_parsing() {
    let r = parse_resolv_conf(
        "# c\nnameserver 192.0.2.1\nnameserver ::1 # x\nsearch example\nnameserver bogus\n",
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].address.to_string(), "[::1]:53");
}

// ---------------------------------------------------------------- logs

#[test]
fn log_subscriptions_default_and_parse() {
    let d = ok("[server]\ndata_dir = \"/d\"\n");
    assert!(d.logs.is_empty());
    let subs = d.log_subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].name, "mail_logs");
    assert_eq!(subs[0].level, LogLevel::Info);
    assert_eq!(subs[0].format, LogFormat::Text);
    assert_eq!(
        subs[0].path(&d.server.data_dir),
        std::path::PathBuf::from("/d/logs/mail_logs")
    );

    let c = ok(EXAMPLE);
    assert_eq!(c.logs.len(), 3);
    let dbg = &c.logs[1];
    assert_eq!(dbg.name, "mail_logs_d");
    assert_eq!(dbg.level, LogLevel::Debug);
    assert_eq!(dbg.max_files, 3);
    assert_eq!(dbg.rotate_size_bytes, Some(52_428_800));
    assert_eq!(dbg.rotate_interval, None);
    assert_eq!(c.logs[0].rotate_interval, Some(RotateInterval::Daily));
    assert_eq!(c.logs[2].format, LogFormat::Json);
    assert_eq!(c.log_subscriptions(), c.logs);

    let c = ok("[[log]]\nname = \"x\"\nrotate_size_bytes = 0\nlevel = \"WARNING\"\n");
    assert_eq!(c.logs[0].rotate_size_bytes, None);
    assert_eq!(c.logs[0].level, LogLevel::Warning);
    assert_eq!(c.logs[0].file, None);
    let text = c.to_toml();
    assert_eq!(ok(&text), c, "{text}");
}

#[test]
fn log_subscription_errors_name_the_key() {
    let e = errs(
        "[[log]]\nname = \"a\"\nlevel = \"verbose\"\nmax_files = 0\n\
         [[log]]\nname = \"a\"\nformat = \"xml\"\nrotate_size_bytes = 10\nrotate_interval = \"weekly\"\n\
         [[log]]\nfile = \"x\"\n\
         [[log]]\nname = \"b/c\"\n\
         [[log]]\nname = \"d\"\nfile = \"same\"\n[[log]]\nname = \"e\"\nfile = \"same\"\nbogus = 1\n",
    );
    let text = e.to_string();
    for want in [
        "log[0].level = \"verbose\": must be one of \"critical\", \"warning\", \"info\", \"debug\", \"trace\"",
        "log[0].max_files = 0: must be between 1 and 1000",
        "log[1].name = \"a\": duplicate log subscription name (also log[0])",
        "log[1].format = \"xml\": must be one of \"text\", \"json\"",
        "log[1].rotate_size_bytes = 10: must be 0 (no size rotation) or between 1024 and 1099511627776",
        "log[1].rotate_interval = \"weekly\": must be one of \"none\", \"hourly\", \"daily\"",
        "log[2].name: is required",
        "log[3].name = \"b/c\": must be letters",
        "log[5].file = \"same\": same is already the file of log[4]",
        "log[5].bogus = 1: unknown key",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // [log] (a table) instead of [[log]] is a TOML error (log defined twice) or a shape error.
    let e = errs("[log]\nname = \"a\"\n").to_string();
    assert!(e.contains("log"), "{e}");
}

// ---------------------------------------------------------------- bounce verification

#[test]
fn bounce_verification_value_default_inheritance_and_round_trip() {
    let d = ok("");
    assert!(!d.default_destination.bounce_verification, "default is No");
    let c = ok("[[destination]]\n\
         domain = \"default\"\n\
         bounce_verification = true\n\
         [[destination]]\n\
         domain = \"a.example\"\n\
         [[destination]]\n\
         domain = \"b.example\"\n\
         bounce_verification = false\n");
    assert!(c.default_destination.bounce_verification);
    let a = c.destination_for("a.example");
    assert!(a.bounce_verification, "inherited from the default profile");
    assert!(!a.explicit.bounce_verification);
    let b = c.destination_for("b.example");
    assert!(!b.bounce_verification);
    assert!(b.explicit.bounce_verification);
    let text = c.to_toml();
    assert!(text.contains("bounce_verification = true"), "{text}");
    assert!(text.contains("bounce_verification = false"), "{text}");
    let back = ok(&text);
    assert_eq!(back, c, "{text}");
    assert_eq!(back.to_toml(), text);

    let one = ok("[[destination]]\ndomain = \"c.example\"\nbounce_verification = true\n");
    assert!(one.destination_for("c.example").bounce_verification);
    assert!(!one.default_destination.bounce_verification);
    assert_eq!(ok(&one.to_toml()), one);
}

#[test]
fn bad_bounce_verification_names_the_key_and_the_values() {
    let e = errs("[[destination]]\ndomain = \"a.example\"\nbounce_verification = \"yes\"\n");
    assert_eq!(e.errors.len(), 1, "{e:?}");
    assert_eq!(e.errors[0].key, "destination[0].bounce_verification");
    assert!(e.errors[0].message.contains("true or false"), "{e:?}");
}
