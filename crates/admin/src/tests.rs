//! Unit tests of the TOML-level edits.

use danegate_config::{Config, DaneSupport, DomainPattern, TlsSupport};

use crate::{DestinationForm, edit};

const BASE: &str = r#"
[server]
data_dir = "/tmp/x"

[[destination]]
domain = "default"
tls = "preferred"
dane = "opportunistic"

[[destination]]
domain = "partner.example"
tls = "required"
dane = "mandatory"
max_concurrent_connections = 20

[[smtp_route]]
domain = "internal.example"
hosts = ["10.0.0.1:2525"]
"#;

fn base() -> Config {
    Config::from_toml_str(BASE, "base").expect("base config")
}

fn form(domain: &str) -> DestinationForm {
    DestinationForm {
        domain: domain.into(),
        ..Default::default()
    }
}

#[test]
fn add_profile_inherits_and_sets() {
    let mut f = form("Example.COM.");
    f.tls = Some("Required".into());
    f.dane = Some("mandatory".into());
    f.max_concurrent_connections = Some("10".into());
    f.recipient_limit = Some("100".into());
    f.recipient_limit_per_minutes = Some("5".into());
    let c = edit::edit_config(&base(), |t| edit::add_destination(t, &f)).expect("valid");
    let p = c.destination_for("example.com");
    assert_eq!(p.tls, TlsSupport::Required);
    assert_eq!(p.dane, DaneSupport::Mandatory);
    assert_eq!(p.max_concurrent_connections, 10);
    assert_eq!(p.max_messages_per_connection, 50, "inherited");
    let l = p.recipient_limit.expect("limit");
    assert_eq!((l.recipients, l.interval.as_secs()), (100, 300));
    // Persisted form round-trips.
    let again = Config::from_toml_str(&c.to_toml(), "again").expect("round trip");
    assert_eq!(again, c);
}

#[test]
fn add_out_of_range_names_field_key_and_range() {
    let mut f = form("example.com");
    f.max_concurrent_connections = Some("1001".into());
    f.tls = Some("bogus".into());
    let e = edit::edit_config(&base(), |t| edit::add_destination(t, &f)).expect_err("invalid");
    let m = e.for_field("max_concurrent_connections").expect("field");
    assert_eq!(m.key, "destination[2].max_concurrent_connections");
    assert_eq!(m.value, "1001");
    assert!(m.message.contains("1000"), "{}", m.message);
    assert!(e.for_field("tls").is_some(), "{e}");
    let f = DestinationForm {
        domain: "example.com".into(),
        max_messages_per_connection: Some("many".into()),
        ..Default::default()
    };
    let e = edit::edit_config(&base(), |t| edit::add_destination(t, &f)).expect_err("invalid");
    assert!(e.for_field("max_messages_per_connection").is_some(), "{e}");
}

#[test]
fn add_duplicate_and_empty_domain_refused() {
    let e = edit::edit_config(&base(), |t| {
        edit::add_destination(t, &form("PARTNER.example"))
    })
    .expect_err("dup");
    assert_eq!(e.errors[0].field, "domain");
    let e =
        edit::edit_config(&base(), |t| edit::add_destination(t, &form(" "))).expect_err("empty");
    assert_eq!(e.errors[0].field, "domain");
    let e = edit::edit_config(&base(), |t| edit::add_destination(t, &form("bad domain")))
        .expect_err("syntax");
    assert_eq!(e.errors[0].field, "domain", "{e}");
}

#[test]
fn dane_without_tls_is_refused() {
    let mut f = form("example.com");
    f.tls = Some("none".into());
    f.dane = Some("mandatory".into());
    let e = edit::edit_config(&base(), |t| edit::add_destination(t, &f)).expect_err("invalid");
    assert!(e.for_field("dane").is_some(), "{e}");
}

#[test]
fn edit_changes_only_given_fields_and_default_resets() {
    let f = DestinationForm {
        dane: Some("none".into()),
        max_concurrent_connections: Some("default".into()),
        ..Default::default()
    };
    let c = edit::edit_config(&base(), |t| {
        edit::edit_destination(t, "partner.example", &f)
    })
    .expect("valid");
    let p = c.destination_for("partner.example");
    assert_eq!(p.dane, DaneSupport::None);
    assert_eq!(p.tls, TlsSupport::Required, "unchanged");
    assert_eq!(
        p.max_concurrent_connections, 500,
        "back to the default profile's"
    );
    // The default profile.
    let f = DestinationForm {
        tls: Some("required".into()),
        ..Default::default()
    };
    let c = edit::edit_config(&c, |t| edit::edit_destination(t, "default", &f)).expect("valid");
    assert_eq!(c.default_destination.tls, TlsSupport::Required);
    // Unknown profile.
    let e = edit::edit_config(&c, |t| edit::edit_destination(t, "nope.example", &f))
        .expect_err("unknown");
    assert_eq!(e.errors[0].field, "domain");
}

#[test]
fn edit_renames() {
    let f = form("partner2.example");
    let c = edit::edit_config(&base(), |t| {
        edit::edit_destination(t, "partner.example", &f)
    })
    .expect("valid");
    assert_eq!(
        c.destination_for("partner2.example").dane,
        DaneSupport::Mandatory
    );
    assert_eq!(
        c.destination_for("partner.example").dane,
        DaneSupport::Opportunistic
    );
}

#[test]
fn per_minutes_alone_needs_a_limit() {
    let f = DestinationForm {
        recipient_limit_per_minutes: Some("5".into()),
        ..Default::default()
    };
    let e = edit::edit_config(&base(), |t| {
        edit::edit_destination(t, "partner.example", &f)
    })
    .expect_err("no limit");
    assert_eq!(e.errors[0].field, "recipient_limit_per_minutes");
    let f = DestinationForm {
        recipient_limit: Some("10".into()),
        recipient_limit_per_minutes: Some("61".into()),
        ..Default::default()
    };
    let e = edit::edit_config(&base(), |t| {
        edit::edit_destination(t, "partner.example", &f)
    })
    .expect_err("range");
    let m = e.for_field("recipient_limit_per_minutes").expect("field");
    assert!(m.message.contains("60"), "{m}");
}

#[test]
fn delete_profile() {
    let c = edit::edit_config(&base(), |t| edit::delete_destination(t, "partner.example"))
        .expect("valid");
    assert!(c.destinations.is_empty());
    assert!(edit::edit_config(&c, |t| edit::delete_destination(t, "partner.example")).is_err());
    assert!(edit::edit_config(&c, |t| edit::delete_destination(t, "default")).is_err());
}

#[test]
fn routes_set_replace_delete() {
    let c = edit::edit_config(&base(), |t| {
        edit::set_route(t, "other.example", &["mx.other.example:2525".into()])
    })
    .expect("valid");
    assert_eq!(c.smtp_routes.len(), 2);
    let c = edit::edit_config(&c, |t| {
        edit::set_route(t, "INTERNAL.example", &["USEDNS".into()])
    })
    .expect("valid");
    assert_eq!(c.smtp_routes.len(), 2);
    assert_eq!(
        c.route_for("internal.example").map(|r| r.hosts.clone()),
        Some(danegate_config::RouteHosts::UseDns)
    );
    let e = edit::edit_config(&c, |t| {
        edit::set_route(t, "x.example", &["bad host!".into()])
    })
    .expect_err("bad host");
    assert_eq!(e.errors[0].field, "hosts", "{e}");
    let c = edit::edit_config(&c, |t| edit::delete_route(t, "internal.example")).expect("valid");
    let c = edit::edit_config(&c, |t| edit::delete_route(t, "other.example")).expect("valid");
    assert!(c.smtp_routes.is_empty());
    assert!(edit::edit_config(&c, |t| edit::delete_route(t, "other.example")).is_err());
    assert_eq!(
        DomainPattern::parse("a.b").map(|d| d.to_string()).ok(),
        Some("a.b".into())
    );
}

#[test]
fn field_names_of_keys() {
    assert_eq!(edit::field_of_key("destination[3].tls"), "tls");
    assert_eq!(
        edit::field_of_key("destination[3].recipient_limit.per_minutes"),
        "recipient_limit_per_minutes"
    );
    assert_eq!(
        edit::field_of_key("destination[3].recipient_limit.recipients"),
        "recipient_limit"
    );
    assert_eq!(edit::field_of_key("smtp_route[0].hosts[1]"), "hosts");
    assert_eq!(edit::field_of_key("dns.timeout_secs"), "");
}

#[test]
fn subject_is_unfolded() {
    let m = b"From: a@b\r\nSubject: hello\r\n  world\r\nTo: c@d\r\n\r\nSubject: no\r\n";
    assert_eq!(crate::views::subject(m).as_deref(), Some("hello world"));
    assert_eq!(crate::views::subject(b"From: a\r\n\r\n"), None);
}

#[test]
fn dns_view_shows_rfc5011_states() {
    use danegate_dns::{AnchorStateView, KeyState, TrustAnchors};

    use crate::views::{DnsView, RFC5011_STATIC};

    let anchors = TrustAnchors::builtin();
    let v = DnsView::new(&base(), &[], &anchors, None);
    assert!(v.anchors.iter().all(|a| a.rfc5011 == RFC5011_STATIC));

    let day = 86_400;
    let states = vec![
        AnchorStateView {
            zone: ".".into(),
            key_tag: 20326,
            algorithm: 8,
            state: KeyState::Valid,
            since: 0,
            hold_down_until: None,
            configured: true,
            last_check: Some(day),
        },
        AnchorStateView {
            zone: ".".into(),
            key_tag: 12345,
            algorithm: 8,
            state: KeyState::AddPend,
            since: day,
            hold_down_until: Some(31 * day),
            configured: false,
            last_check: Some(day),
        },
    ];
    let v = DnsView::new(&base(), &[], &anchors, Some(&states));
    assert_eq!(v.anchors.len(), 3);
    assert_eq!(v.anchors[0].rfc5011, "Valid since 1970-01-01");
    assert!(v.anchors[1].rfc5011.contains("not seen yet"));
    assert_eq!(v.anchors[2].kind, "DNSKEY");
    assert!(v.anchors[2].text.contains("key tag 12345"));
    assert_eq!(
        v.anchors[2].rfc5011,
        "AddPend since 1970-01-02 (hold-down until 1970-02-01)"
    );
}

#[test]
fn bounce_verification_yes_no_default_and_bad_value() {
    let mut f = form("example.com");
    f.bounce_verification = Some("Yes".into());
    let c = edit::edit_config(&base(), |t| edit::add_destination(t, &f)).expect("valid");
    assert!(c.destination_for("example.com").bounce_verification);
    assert!(!c.destination_for("partner.example").bounce_verification);
    let v = crate::DestinationView::from_profile(c.destination_for("example.com"));
    assert!(v.bounce_verification);
    assert!(v.explicit.contains(&"bounce_verification".to_string()));
    // The default profile's Yes is inherited until a profile says No.
    let yes = DestinationForm {
        bounce_verification: Some("yes".into()),
        ..Default::default()
    };
    let c = edit::edit_config(&c, |t| edit::edit_destination(t, "default", &yes)).expect("valid");
    assert!(c.destination_for("partner.example").bounce_verification);
    let no = DestinationForm {
        bounce_verification: Some("no".into()),
        ..Default::default()
    };
    let c = edit::edit_config(&c, |t| edit::edit_destination(t, "partner.example", &no))
        .expect("valid");
    assert!(!c.destination_for("partner.example").bounce_verification);
    let back = DestinationForm {
        bounce_verification: Some("default".into()),
        ..Default::default()
    };
    let c = edit::edit_config(&c, |t| edit::edit_destination(t, "partner.example", &back))
        .expect("valid");
    assert!(c.destination_for("partner.example").bounce_verification);
    let bad = DestinationForm {
        bounce_verification: Some("maybe".into()),
        ..Default::default()
    };
    let e = edit::edit_config(&c, |t| edit::edit_destination(t, "partner.example", &bad))
        .expect_err("invalid");
    let m = e.for_field("bounce_verification").expect("field");
    assert_eq!(m.value, "maybe");
    assert!(m.message.contains("yes"), "{}", m.message);
}

fn dns_edit(
    resolvers: &str,
    timeout: Option<&str>,
    anchors: Option<&str>,
) -> Result<Config, crate::FormErrors> {
    let lines = edit::resolver_lines(resolvers)?;
    edit::edit_config(&base(), |t| edit::set_dns(t, &lines, timeout, anchors))
        .map_err(|e| edit::dns_errors(e, &lines))
}

#[test]
fn dns_set_resolvers_timeout_and_anchors() {
    let c = dns_edit(
        "127.0.0.1 0\n\n# backup\n[::1]:5353 10\n192.0.2.1\n",
        Some("7"),
        Some("/etc/danegate/anchors"),
    )
    .expect("valid");
    let r: Vec<(String, u16)> = c
        .dns
        .resolvers
        .iter()
        .map(|r| (r.address.to_string(), r.priority))
        .collect();
    assert_eq!(
        r,
        vec![
            ("127.0.0.1:53".to_string(), 0),
            ("[::1]:5353".to_string(), 10),
            ("192.0.2.1:53".to_string(), 0)
        ]
    );
    assert_eq!(c.dns.timeout.as_secs(), 7);
    assert_eq!(
        c.dns.trust_anchor_file.as_deref(),
        Some(std::path::Path::new("/etc/danegate/anchors"))
    );
    let again = Config::from_toml_str(&c.to_toml(), "again").expect("round trip");
    assert_eq!(again, c);

    // Empty: /etc/resolv.conf, default timeout, built-in anchors.
    let c = dns_edit("", Some(""), Some("builtin")).expect("valid");
    assert!(c.dns.resolvers.is_empty());
    assert_eq!(c.dns.timeout.as_secs(), 3);
    assert!(c.dns.trust_anchor_file.is_none());
    // None leaves timeout and anchors unchanged.
    let c = dns_edit("10.0.0.53 1", None, None).expect("valid");
    assert_eq!(c.dns.timeout.as_secs(), 3);
}

#[test]
fn dns_errors_name_field_line_and_value() {
    let e = dns_edit("127.0.0.1 0\n\nnot-an-ip 5", None, None).expect_err("bad address");
    let f = e.for_field("resolvers").expect("resolvers error");
    assert!(f.value.contains("not-an-ip"), "{}", f.value);
    assert!(f.message.starts_with("line 3: "), "{}", f.message);

    let e = dns_edit("127.0.0.1 70000", None, None).expect_err("bad priority");
    let f = e.for_field("resolvers").expect("resolvers error");
    assert_eq!(f.value, "70000");
    assert!(
        f.message.contains("line 1") && f.message.contains("65535"),
        "{}",
        f.message
    );

    let e = dns_edit("127.0.0.1 0 extra", None, None).expect_err("three words");
    let f = e.for_field("resolvers").expect("resolvers error");
    assert!(f.message.starts_with("line 1: "), "{}", f.message);

    let e = dns_edit("127.0.0.1\n127.0.0.1:53 1", None, None).expect_err("duplicate");
    let f = e.for_field("resolvers").expect("resolvers error");
    assert!(
        f.message.contains("line 2") && f.message.contains("duplicate"),
        "{}",
        f.message
    );

    let e = dns_edit("", Some("0"), None).expect_err("timeout out of range");
    let f = e.for_field("timeout_secs").expect("timeout error");
    assert_eq!(f.value, "0");
    assert!(f.message.contains("60"), "{}", f.message);

    let e = dns_edit("", Some("soon"), None).expect_err("timeout not a number");
    assert!(e.for_field("timeout_secs").is_some(), "{e}");
}

#[test]
fn dns_form_accepts_lines_as_json_array() {
    let f: crate::DnsForm =
        serde_json::from_str(r#"{"resolvers":["127.0.0.1 0","[::1]:53 5"],"timeout_secs":"4"}"#)
            .expect("json");
    assert_eq!(f.resolvers, "127.0.0.1 0\n[::1]:53 5");
    assert_eq!(f.timeout_secs.as_deref(), Some("4"));
    assert!(f.trust_anchor_file.is_none());
}

#[test]
fn mta_sts_on_off_default_and_bad_value() {
    use danegate_config::MtaSts;
    let mut f = form("example.com");
    f.mta_sts = Some("Off".into());
    let c = edit::edit_config(&base(), |t| edit::add_destination(t, &f)).expect("valid");
    assert_eq!(c.destination_for("example.com").mta_sts, MtaSts::Off);
    assert_eq!(c.destination_for("partner.example").mta_sts, MtaSts::On);
    let v = crate::DestinationView::from_profile(c.destination_for("example.com"));
    assert_eq!(v.mta_sts, "off");
    assert!(v.explicit.contains(&"mta_sts".to_string()));
    let back = DestinationForm {
        mta_sts: Some("default".into()),
        ..Default::default()
    };
    let c =
        edit::edit_config(&c, |t| edit::edit_destination(t, "example.com", &back)).expect("valid");
    assert_eq!(c.destination_for("example.com").mta_sts, MtaSts::On);
    let bad = DestinationForm {
        mta_sts: Some("enforce".into()),
        ..Default::default()
    };
    let e = edit::edit_config(&c, |t| edit::edit_destination(t, "example.com", &bad))
        .expect_err("invalid");
    let m = e.for_field("mta_sts").expect("field");
    assert!(m.value.contains("enforce"), "{}", m.value);
}
