//! The destination profile's settings reach delivery by exhaustive conversions, never by
//! a string round trip: every configuration value maps to the delivery value spelled the
//! same way (a new variant on either side fails to compile, not to deliver).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use danegate_delivery::{DaneMode, IpPreference, TlsSupport};

#[test]
fn tls_support_converts_word_for_word() {
    for &(c, word) in danegate_config::TlsSupport::ALL {
        let d = TlsSupport::from(c);
        assert_eq!(d.as_str(), word);
    }
    assert_eq!(
        danegate_config::TlsSupport::ALL.len(),
        TlsSupport::ALL.len(),
        "every delivery mode is configurable"
    );
}

#[test]
fn ip_preference_converts_word_for_word() {
    for &(c, word) in danegate_config::IpPreference::ALL {
        assert_eq!(IpPreference::from(c), word.parse::<IpPreference>().unwrap());
    }
}

#[test]
fn dane_support_selects_its_table() {
    let want = [
        ("none", DaneMode::None),
        ("opportunistic", DaneMode::Opportunistic),
        ("mandatory", DaneMode::Mandatory),
    ];
    for &(c, word) in danegate_config::DaneSupport::ALL {
        let mode = DaneMode::from(c);
        assert_eq!(
            Some(mode),
            want.iter().find(|(w, _)| *w == word).map(|(_, m)| *m),
            "{word}"
        );
    }
}
