//! How much of the IPv4 and IPv6 address spaces a list of sender networks covers, by
//! the union of its CIDRs (so `0.0.0.0/1` + `128.0.0.0/1` is the whole IPv4 space just
//! as `0.0.0.0/0` is), and which listener addresses overlap.

use std::net::SocketAddr;

use ipnet::IpNet;

use crate::model::SenderPattern;

/// The union of the networks of `senders`, per family, aggregated (no overlaps, adjacent
/// halves merged).
fn union(senders: &[SenderPattern]) -> Vec<IpNet> {
    let nets: Vec<IpNet> = senders
        .iter()
        .filter_map(|s| match s {
            SenderPattern::Net(n) => Some(*n),
            _ => None,
        })
        .collect();
    IpNet::aggregate(&nets)
}

/// The address family whose whole space `senders` covers (`ALL`, a `/0`, or CIDRs that
/// together make one), if any: such a group lets every client of that family in.
pub(crate) fn covers_a_whole_family(senders: &[SenderPattern]) -> Option<String> {
    if senders.contains(&SenderPattern::All) {
        return Some("ALL".into());
    }
    let agg = union(senders);
    let whole = agg.iter().find(|n| n.prefix_len() == 0)?;
    let parts: Vec<String> = senders
        .iter()
        .filter_map(|s| match s {
            SenderPattern::Net(n) if whole.contains(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let family = if whole.addr().is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    };
    Some(if let [only] = parts.as_slice() {
        format!("{only} (every {family} address)")
    } else {
        format!("{} (together: every {family} address)", parts.join(" + "))
    })
}

/// The share of the IPv4 and of the IPv6 space covered by `senders`' networks, as the
/// prefix length of a single network of the same size (`None`: nothing of that family).
/// E.g. `10.0.0.0/8` + `11.0.0.0/8` → IPv4 `7`.
pub(crate) fn equivalent_prefix(senders: &[SenderPattern]) -> (Option<u32>, Option<u32>) {
    let (mut v4, mut v6) = (0u128, 0u128);
    let (mut any4, mut any6) = (false, false);
    for n in union(senders) {
        let host_bits = u32::from(n.max_prefix_len() - n.prefix_len());
        let size = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
        if n.addr().is_ipv4() {
            any4 = true;
            v4 = v4.saturating_add(size);
        } else {
            any6 = true;
            v6 = v6.saturating_add(size);
        }
    }
    // The longest prefix p with 2^(bits - p) <= size.
    let prefix = |size: u128, bits: u32| bits.saturating_sub(127 - size.leading_zeros());
    (any4.then(|| prefix(v4, 32)), any6.then(|| prefix(v6, 128)))
}

/// How two listener addresses on the same port overlap, if they do (different ports, or
/// port 0, never do; identical addresses are reported elsewhere).
pub(crate) enum Overlap {
    /// Same family and one is the unspecified address: the second `bind` fails
    /// (`EADDRINUSE`), the gateway cannot start.
    Certain,
    /// `[::]:p` and an IPv4 address on port p: they conflict where IPv6 sockets also
    /// accept IPv4 (`IPV6_V6ONLY` off, the Linux default), not elsewhere.
    DualStack,
}

/// Whether listener addresses `a` and `b` overlap.
pub(crate) fn listener_overlap(a: SocketAddr, b: SocketAddr) -> Option<Overlap> {
    if a.port() != b.port() || a.port() == 0 || a == b {
        return None;
    }
    let (x, y) = (a.ip(), b.ip());
    if x.is_ipv4() == y.is_ipv4() {
        (x.is_unspecified() || y.is_unspecified()).then_some(Overlap::Certain)
    } else {
        let v6 = if x.is_ipv6() { x } else { y };
        v6.is_unspecified().then_some(Overlap::DualStack)
    }
}
