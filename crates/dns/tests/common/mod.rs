//! Set-up shared by the dns crate's integration tests.

use std::{net::SocketAddr, time::Duration};

use danegate_dns::{ResolverConfig, TrustAnchors, UpstreamConfig};
use danegate_testkit::dns::SignedWorld;

/// A resolver configuration with one upstream, `server`, and `world`'s private root (its
/// DS) as the trust anchor; a short timeout, as everything is on loopback.
pub fn world_config(world: &SignedWorld, server: SocketAddr) -> ResolverConfig {
    let mut c = ResolverConfig::new(
        vec![UpstreamConfig {
            addr: server,
            priority: 0,
        }],
        TrustAnchors::parse(&world.trust_anchor_ds(), "test anchor").unwrap(),
    );
    c.timeout = Duration::from_millis(700);
    c
}
