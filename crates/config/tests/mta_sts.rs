//! MTA-STS keys: `mta_sts` per destination profile (default on, inherited, written back
//! only when it differs), `[server] ca_file`, and the `tls = "none"` + `mta_sts = "on"`
//! warning of `config check`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use danegate_config::Config;
use danegate_config::MtaSts;

fn ok(text: &str) -> Config {
    Config::from_toml_str(text, "t.toml").unwrap_or_else(|e| panic!("{e}\n--- {text}"))
}

#[test]
fn default_on_inherited_and_round_trip() {
    let d = ok("");
    assert_eq!(d.default_destination.mta_sts, MtaSts::On, "default is on");
    assert!(
        !d.to_toml().contains("mta_sts"),
        "the default is not written"
    );
    assert_eq!(
        Config::embedded_default().default_destination.mta_sts,
        MtaSts::On
    );

    let c = ok("[[destination]]\ndomain = \"default\"\nmta_sts = \"off\"\n\
         [[destination]]\ndomain = \"a.example\"\n\
         [[destination]]\ndomain = \"b.example\"\nmta_sts = \"on\"\n");
    assert_eq!(c.default_destination.mta_sts, MtaSts::Off);
    let a = c.destination_for("a.example");
    assert_eq!(a.mta_sts, MtaSts::Off, "inherited");
    assert!(!a.explicit.mta_sts);
    let b = c.destination_for("b.example");
    assert_eq!(b.mta_sts, MtaSts::On);
    assert!(b.explicit.mta_sts);
    let text = c.to_toml();
    assert!(text.contains("mta_sts = \"off\""), "{text}");
    assert!(text.contains("mta_sts = \"on\""), "{text}");
    let back = ok(&text);
    assert_eq!(back, c, "{text}");
    assert_eq!(back.to_toml(), text);
}

#[test]
fn bad_value_names_the_key_and_the_values() {
    let e = Config::from_toml_str(
        "[[destination]]\ndomain = \"a.example\"\nmta_sts = \"enforce\"\n",
        "t.toml",
    )
    .unwrap_err();
    assert_eq!(e.errors.len(), 1, "{e:?}");
    assert_eq!(e.errors[0].key, "destination[0].mta_sts");
    let text = e.to_string();
    assert!(text.contains("on") && text.contains("off"), "{text}");
}

#[test]
fn ca_file_is_read_and_written() {
    let c = ok("[server]\nca_file = \"/etc/danegate/private-ca.pem\"\n");
    assert_eq!(
        c.server.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/danegate/private-ca.pem"))
    );
    let text = c.to_toml();
    assert!(
        text.contains("ca_file = \"/etc/danegate/private-ca.pem\""),
        "{text}"
    );
    assert_eq!(ok(&text), c);
    assert_eq!(ok("").server.ca_file, None);
    assert!(Config::from_toml_str("[server]\nca_file = 3\n", "t.toml").is_err());
}

#[test]
fn tls_none_with_mta_sts_on_warns() {
    let c = ok("[[destination]]\ndomain = \"clear.example\"\ntls = \"none\"\n");
    let lints = c.lints();
    let l = lints
        .iter()
        .find(|l| l.key == "destination(\"clear.example\").mta_sts")
        .unwrap_or_else(|| panic!("{lints:?}"));
    assert!(l.message.contains("tls = \"none\""), "{l:?}");
    assert!(l.fix.contains("mta_sts = \"off\""), "{l:?}");
    let off =
        ok("[[destination]]\ndomain = \"clear.example\"\ntls = \"none\"\nmta_sts = \"off\"\n");
    assert!(!off.lints().iter().any(|l| l.key.ends_with(".mta_sts")));
    assert!(!ok("").lints().iter().any(|l| l.key.ends_with(".mta_sts")));
}
