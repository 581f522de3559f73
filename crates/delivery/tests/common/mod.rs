//! Shared by the delivery tests: a validating resolver for a test world, and one DANE
//! verification against the test kit's mail world.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use danegate_delivery::{DaneMode, IpPreference, Options, Outcome, verify_destination};
use danegate_dns::{Resolver, ResolverConfig, TrustAnchors, UpstreamConfig};
use danegate_smtp::Timeouts;
use danegate_testkit::mailworld::MailWorld;

/// A resolver on `addr` that validates from the DS records `anchor_ds` (timeout 2 s).
pub fn resolver_for(addr: SocketAddr, anchor_ds: &str) -> Resolver {
    let mut c = ResolverConfig::new(
        vec![UpstreamConfig { addr, priority: 0 }],
        TrustAnchors::parse(anchor_ds, "test").unwrap(),
    );
    c.timeout = Duration::from_secs(2);
    Resolver::new(c)
}

/// The mail world's resolver.
pub fn world_resolver() -> Resolver {
    let w = MailWorld::get();
    resolver_for(w.dns_addr(), w.anchor_ds())
}

/// `domain` checked in `mode` against the mail world, IPv4 first, MX order kept.
pub async fn run(domain: &str, mode: DaneMode) -> Outcome {
    let opts = Options {
        mode,
        port: MailWorld::get().port(),
        ip_preference: IpPreference::Ipv4Preferred,
        timeouts: Timeouts::uniform(Duration::from_secs(5)),
        helo_name: "client.test".into(),
        shuffle: false,
        ..Options::default()
    };
    verify_destination(&world_resolver(), domain, &opts, &mut |_| {}).await
}

/// What `daneverify` prints: the summary lines.
pub fn lines(o: &Outcome) -> Vec<String> {
    o.events
        .iter()
        .filter(|e| e.is_summary())
        .map(|e| e.to_string())
        .collect()
}
