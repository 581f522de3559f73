//! The MX walk, written once: a recipient domain → its MX hosts in preference order
//! (RFC 5321 §5.1) → each host's addresses per the IP preference, every answer with its
//! DNSSEC status. The DANE path ([`crate::verify_destination`]) and the TLS Support path
//! ([`crate::candidates_from_dns`]) both walk it; a policy layer that filters MX hosts
//! (MTA-STS, RFC 8461 §4.1) or a bulk audit can take the same [`MxSet`] and call
//! [`addresses`] for the hosts it keeps.
//!
//! What the walk decides itself (and nobody else re-implements):
//! - no MX RRset (NODATA): the domain is its own implicit MX, preference 0;
//! - NXDOMAIN: no such domain; a null MX alone (RFC 7505): the domain accepts no mail;
//!   a root exchange among others is dropped;
//! - a host listed twice is kept once, at its best preference;
//! - hosts of equal preference are shuffled (RFC 5321 §5.1), unless the caller asks for a
//!   reproducible order.
//!
//! What it leaves to the caller: what a BOGUS or INSECURE answer means (the DANE
//! tables, or "BOGUS is unusable" on the TLS Support path).

use std::{net::IpAddr, str::FromStr};

use danegate_dns::{Answer, AnswerKind, LookupError, Name, RecordType, Resolver, Security};
use hickory_proto::rr::RData;
use rand::seq::SliceRandom;

/// Which address families to use and in which order (the destination profile's IP Address Preference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IpPreference {
    /// AAAA first, then A (the appliance's default).
    #[default]
    Ipv6Preferred,
    /// A first, then AAAA.
    Ipv4Preferred,
    /// A only.
    Ipv4Only,
    /// AAAA only.
    Ipv6Only,
}

impl From<danegate_config::IpPreference> for IpPreference {
    /// The destination profile's setting (exhaustive: no string round trip).
    fn from(p: danegate_config::IpPreference) -> Self {
        use danegate_config::IpPreference as C;
        match p {
            C::Ipv6Preferred => IpPreference::Ipv6Preferred,
            C::Ipv4Preferred => IpPreference::Ipv4Preferred,
            C::Ipv4Only => IpPreference::Ipv4Only,
            C::Ipv6Only => IpPreference::Ipv6Only,
        }
    }
}

impl FromStr for IpPreference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "ipv6-preferred" => IpPreference::Ipv6Preferred,
            "ipv4-preferred" => IpPreference::Ipv4Preferred,
            "ipv4-only" => IpPreference::Ipv4Only,
            "ipv6-only" => IpPreference::Ipv6Only,
            _ => {
                return Err(format!(
                    "unknown IP preference {s:?} (ipv6-preferred, ipv4-preferred, ipv4-only, ipv6-only)"
                ));
            }
        })
    }
}

/// One MX host (or the implicit MX) and its preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MxHost {
    /// The exchange name (absolute).
    pub name: Name,
    /// The MX preference; 0 for the implicit MX.
    pub preference: u16,
}

impl MxHost {
    /// The host name without the trailing dot, as logs and SNI want it.
    pub fn text(&self) -> String {
        text(&self.name)
    }
}

/// The hosts of a mail domain, in the order to try them.
#[derive(Clone, Debug)]
pub struct MxSet {
    /// The recipient domain, lower case, without a trailing dot.
    pub domain: String,
    /// The DNSSEC status of the MX answer (or of its denial, for the implicit MX).
    pub security: Security,
    /// True when the domain has no MX RRset and is its own implicit MX.
    pub implicit: bool,
    /// The hosts: preference order, equal preferences shuffled, duplicates removed.
    pub hosts: Vec<MxHost>,
}

/// Why a domain has no MX hosts to walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MxFailure {
    /// The text is not a domain name.
    InvalidName,
    /// The MX lookup failed temporarily (SERVFAIL, timeout): the MX set is unknown.
    TempFail(String),
    /// The MX answer failed DNSSEC validation (the reason).
    Bogus(String),
    /// The domain does not exist (with the status of the denial).
    NxDomain(Security),
    /// A null MX (RFC 7505): the domain accepts no mail.
    NullMx(Security),
}

/// The name without its trailing dot (`.` stays `.`).
pub fn text(name: &Name) -> String {
    let s = name.to_ascii();
    if s == "." {
        s
    } else {
        s.trim_end_matches('.').to_string()
    }
}

/// The domain as the walk uses it: lower case, no trailing dot.
pub fn normalise(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

/// The address record types to look up, in the order to try them.
pub fn families(pref: IpPreference) -> &'static [RecordType] {
    match pref {
        IpPreference::Ipv6Preferred => &[RecordType::AAAA, RecordType::A],
        IpPreference::Ipv4Preferred => &[RecordType::A, RecordType::AAAA],
        IpPreference::Ipv4Only => &[RecordType::A],
        IpPreference::Ipv6Only => &[RecordType::AAAA],
    }
}

/// Whether an address literal's family is allowed by `pref`.
pub fn family_allowed(pref: IpPreference, ip: IpAddr) -> bool {
    match pref {
        IpPreference::Ipv4Only => ip.is_ipv4(),
        IpPreference::Ipv6Only => ip.is_ipv6(),
        IpPreference::Ipv6Preferred | IpPreference::Ipv4Preferred => true,
    }
}

/// Looks up the MX hosts of `domain` (RFC 5321 §5.1; RFC 7505 null MX). `shuffle`
/// shuffles hosts of equal preference (off only for reproducible tests).
pub async fn mx_hosts(
    resolver: &Resolver,
    domain: &str,
    shuffle: bool,
) -> Result<MxSet, MxFailure> {
    let domain = normalise(domain);
    let Ok(mut qname) = Name::from_str(&domain) else {
        return Err(MxFailure::InvalidName);
    };
    qname.set_fqdn(true);
    let mx = resolver
        .lookup(&qname, RecordType::MX)
        .await
        .map_err(|e| MxFailure::TempFail(e.to_string()))?;
    if let Security::Bogus(reason) = &mx.security {
        return Err(MxFailure::Bogus(reason.to_string()));
    }
    let mut hosts: Vec<MxHost> = Vec::new();
    let mut implicit = false;
    match mx.kind {
        AnswerKind::NxDomain => return Err(MxFailure::NxDomain(mx.security.clone())),
        AnswerKind::NoData => {
            implicit = true;
            hosts.push(MxHost {
                name: mx.final_name().clone(),
                preference: 0,
            });
        }
        AnswerKind::Data => {
            for r in &mx.records {
                if let RData::MX(m) = &r.data {
                    hosts.push(MxHost {
                        name: m.exchange.clone(),
                        preference: m.preference,
                    });
                }
            }
        }
    }
    if let [only] = hosts.as_slice()
        && only.name.is_root()
    {
        return Err(MxFailure::NullMx(mx.security.clone()));
    }
    Ok(MxSet {
        domain,
        security: mx.security.clone(),
        implicit,
        hosts: order(hosts, shuffle),
    })
}

/// Preference order, equal preferences shuffled when asked, root exchanges dropped,
/// each host once (at its best preference).
fn order(mut hosts: Vec<MxHost>, shuffle: bool) -> Vec<MxHost> {
    hosts.retain(|h| !h.name.is_root());
    if shuffle {
        hosts.shuffle(&mut rand::rng());
    }
    hosts.sort_by_key(|h| h.preference);
    let mut seen: Vec<Name> = Vec::new();
    hosts.retain(|h| {
        if seen.contains(&h.name) {
            false
        } else {
            seen.push(h.name.clone());
            true
        }
    });
    hosts
}

/// One address lookup of a host: the record type and the answer (with its DNSSEC
/// status) or the temporary failure.
pub type FamilyAnswer = (RecordType, Result<Answer, LookupError>);

/// The address lookups of `name` for every family `pref` allows, in its order (run in
/// parallel).
pub async fn addresses(resolver: &Resolver, name: &Name, pref: IpPreference) -> Vec<FamilyAnswer> {
    futures_util::future::join_all(
        families(pref)
            .iter()
            .map(|&t| async move { (t, resolver.lookup(name, t).await) }),
    )
    .await
}

/// The addresses in an A or AAAA answer, in answer order.
pub fn ips(answer: &Answer) -> Vec<IpAddr> {
    answer
        .records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(v4) => Some(IpAddr::V4(v4.0)),
            RData::AAAA(v6) => Some(IpAddr::V6(v6.0)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, preference: u16) -> MxHost {
        MxHost {
            name: Name::from_ascii(name).unwrap(),
            preference,
        }
    }

    #[test]
    fn preference_order_without_duplicates_or_root() {
        let got = order(
            vec![
                h("b.example.", 20),
                h("a.example.", 10),
                h(".", 5),
                h("b.example.", 5),
                h("c.example.", 30),
            ],
            false,
        );
        assert_eq!(
            got,
            vec![h("b.example.", 5), h("a.example.", 10), h("c.example.", 30)]
        );
    }

    #[test]
    fn shuffle_keeps_preference_groups() {
        for _ in 0..20 {
            let got = order(
                vec![
                    h("a.", 10),
                    h("b.", 10),
                    h("c.", 10),
                    h("d.", 5),
                    h("e.", 20),
                ],
                true,
            );
            assert_eq!(got[0], h("d.", 5));
            assert_eq!(got[4], h("e.", 20));
            let mut mid: Vec<String> = got[1..4].iter().map(MxHost::text).collect();
            mid.sort();
            assert_eq!(mid, ["a", "b", "c"]);
        }
    }

    #[test]
    fn families_follow_the_preference() {
        assert_eq!(
            families(IpPreference::Ipv6Preferred),
            &[RecordType::AAAA, RecordType::A]
        );
        assert_eq!(families(IpPreference::Ipv4Only), &[RecordType::A]);
        assert!(!family_allowed(
            IpPreference::Ipv6Only,
            "192.0.2.1".parse().unwrap()
        ));
        assert_eq!(text(&Name::root()), ".");
        assert_eq!(normalise("Example.COM."), "example.com");
    }
}
