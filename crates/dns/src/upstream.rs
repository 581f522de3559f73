//! Talking to upstream resolvers: UDP with EDNS(0) and DO=1, CD=1 (RFC 4035 §3.2.1-3.2.2,
//! RFC 6840 §5.9), TCP when the answer is truncated (RFC 7766), priorities and failover,
//! and the DNSSEC capability probe.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    sync::Mutex,
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Edns, Message, MessageType, Query, ResponseCode},
    rr::{Name, RecordType},
};
use rand::Rng;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

use crate::{
    status::LookupError,
    trace::{self, display_name},
};

/// The EDNS(0) UDP payload size we advertise (DNS Flag Day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// How long a failed upstream is moved behind the healthy ones.
const PENALTY: Duration = Duration::from_secs(30);

/// One configured upstream resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Address and port.
    pub addr: SocketAddr,
    /// Lower is tried first; equal priorities share the load.
    pub priority: u32,
}

/// An upstream address that could not be parsed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad resolver address {input:?}: {why} (expected ADDR or ADDR:PORT, IPv6 as [ADDR]:PORT)")]
pub struct BadUpstream {
    input: String,
    why: &'static str,
}

impl UpstreamConfig {
    /// Parses `ADDR`, `ADDR:PORT`, `[V6]:PORT` or a bare IPv6 address; port 53 by default.
    pub fn parse(input: &str, priority: u32) -> Result<Self, BadUpstream> {
        let bad = |why| BadUpstream {
            input: input.to_string(),
            why,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let addr = if let Ok(sa) = SocketAddr::from_str(s) {
            sa
        } else if let Ok(ip) = IpAddr::from_str(s.trim_start_matches('[').trim_end_matches(']')) {
            SocketAddr::new(ip, 53)
        } else if let Some((host, port)) = s.rsplit_once(':') {
            let ip = IpAddr::from_str(host).map_err(|_| bad("not an IP address"))?;
            let port = u16::from_str(port).map_err(|_| bad("port is not a number 1-65535"))?;
            SocketAddr::new(ip, port)
        } else {
            return Err(bad("not an IP address"));
        };
        if addr.port() == 0 {
            return Err(bad("port 0"));
        }
        Ok(UpstreamConfig { addr, priority })
    }
}

/// What the DNSSEC probe found out about an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Not probed yet.
    Unknown,
    /// Returns RRSIGs when asked with DO=1: usable.
    Dnssec,
    /// Answers, but without RRSIGs: not used (every signed answer would look bogus).
    StripsDnssec,
    /// Did not answer the probe; used, but after the others.
    Unreachable,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Unknown => "not probed",
            Capability::Dnssec => "DNSSEC ok",
            Capability::StripsDnssec => "strips DNSSEC records (not used)",
            Capability::Unreachable => "unreachable",
        })
    }
}

struct UpstreamState {
    config: UpstreamConfig,
    capability: Mutex<Capability>,
    failed_at: Mutex<Option<Instant>>,
    /// At most this many queries outstanding at this upstream at once, when set
    /// ([`Upstreams::limit_in_flight`]): a bulk audit must not flood a resolver.
    in_flight: Option<tokio::sync::Semaphore>,
}

/// A reply and who gave it.
pub struct Reply {
    /// The parsed message.
    pub message: Message,
    /// The upstream that answered.
    pub from: SocketAddr,
}

/// The upstream set with its health state.
pub struct Upstreams {
    list: Vec<UpstreamState>,
    timeout: Duration,
    /// The probe's DNSKEY answer of the anchored zone, kept for the first chain walk,
    /// which asks the same question (one sequential round trip less on a cold start).
    primed: Mutex<Option<(Name, Reply)>>,
}

impl Upstreams {
    /// A set from configuration. `timeout` applies to each attempt.
    pub fn new(configs: Vec<UpstreamConfig>, timeout: Duration) -> Self {
        Upstreams {
            list: configs
                .into_iter()
                .map(|config| UpstreamState {
                    config,
                    capability: Mutex::new(Capability::Unknown),
                    failed_at: Mutex::new(None),
                    in_flight: None,
                })
                .collect(),
            timeout,
            primed: Mutex::new(None),
        }
    }

    /// Allows at most `n` outstanding queries per upstream (0: no limit). Queries over
    /// the limit wait for a slot; the per-attempt timeout starts once they have one.
    pub fn limit_in_flight(mut self, n: usize) -> Self {
        for u in &mut self.list {
            u.in_flight = (n > 0).then(|| tokio::sync::Semaphore::new(n));
        }
        self
    }

    /// Each upstream with its probed capability.
    pub fn status(&self) -> Vec<(UpstreamConfig, Capability)> {
        self.list
            .iter()
            .map(|u| (u.config.clone(), *lock(&u.capability)))
            .collect()
    }

    /// Probes every upstream for DNSSEC support by asking for `zone` DNSKEY with DO=1
    /// (RFC 4035 §4.9.1): an answer without an RRSIG means the upstream strips DNSSEC.
    pub async fn probe(&self, zone: &Name) {
        let probes = self.list.iter().map(|u| async move {
            let cap = match exchange(u.config.addr, zone, RecordType::DNSKEY, self.timeout).await {
                Ok(msg) => {
                    let has_sig = msg.answers.iter().any(|r| r.record_type() == RecordType::RRSIG);
                    let has_key = msg.answers.iter().any(|r| r.record_type() == RecordType::DNSKEY);
                    if has_key && has_sig {
                        // The answer is validated like any other when the chain walk
                        // takes it (`query`); the first capable upstream's is kept.
                        let mut primed = lock(&self.primed);
                        if primed.is_none() {
                            *primed = Some((
                                zone.clone(),
                                Reply {
                                    message: msg,
                                    from: u.config.addr,
                                },
                            ));
                        }
                        Capability::Dnssec
                    } else if msg.metadata.response_code == ResponseCode::NoError {
                        Capability::StripsDnssec
                    } else {
                        Capability::Unreachable
                    }
                }
                Err(_) => Capability::Unreachable,
            };
            if cap == Capability::StripsDnssec {
                tracing::warn!(
                    target: "danegate::dns",
                    "DNS resolver {} does not return DNSSEC records (RRSIG); it is not used for DNSSEC lookups",
                    u.config.addr
                );
            }
            *lock(&u.capability) = cap;
        });
        futures_util::future::join_all(probes).await;
    }

    /// Sends one query, trying upstreams in priority order (equal priorities in random
    /// order, recently failed ones last), failing over on timeout, network error,
    /// SERVFAIL or REFUSED. Upstreams that strip DNSSEC are never used.
    pub async fn query(&self, name: &Name, rtype: RecordType) -> Result<Reply, LookupError> {
        if rtype == RecordType::DNSKEY
            && let Some(reply) = self.take_primed(name)
        {
            return Ok(reply);
        }
        let order = self.order();
        if order.is_empty() {
            let all: Vec<String> = self
                .list
                .iter()
                .map(|u| format!("{} ({})", u.config.addr, lock(&u.capability)))
                .collect();
            return Err(LookupError::NoUpstream(if all.is_empty() {
                "no resolver configured".into()
            } else {
                all.join(", ")
            }));
        }
        trace::query_group(name, rtype);
        let mut last_err = None;
        for u in order.into_iter().filter_map(|idx| self.list.get(idx)) {
            // Closed never (the semaphore lives as long as the upstream): no slot, no limit.
            let _slot = match &u.in_flight {
                Some(sem) => sem.acquire().await.ok(),
                None => None,
            };
            trace::query_ip(name, rtype, u.config.addr, self.timeout);
            match exchange(u.config.addr, name, rtype, self.timeout).await {
                Ok(message) => match message.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => {
                        *lock(&u.failed_at) = None;
                        return Ok(Reply {
                            message,
                            from: u.config.addr,
                        });
                    }
                    code => {
                        crate::observe::upstream_rcode(u.config.addr, code);
                        tracing::warn!(
                            target: "danegate::dns",
                            "Received an invalid DNS Response: {} to IP {} looking up {}",
                            if code == ResponseCode::ServFail { "SERVER FAILED".to_string() } else { code.to_str().to_string() },
                            u.config.addr.ip(),
                            display_name(name)
                        );
                        last_err = Some(LookupError::ServFail {
                            upstream: format!("{} ({})", u.config.addr, code.to_str()),
                            name: display_name(name),
                            rtype: rtype.to_string(),
                        });
                    }
                },
                Err(e) => {
                    *lock(&u.failed_at) = Some(Instant::now());
                    crate::observe::upstream_error(u.config.addr, &e);
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| LookupError::NoUpstream("no resolver answered".into())))
    }

    /// The probe's answer for `name` DNSKEY, once.
    fn take_primed(&self, name: &Name) -> Option<Reply> {
        let mut primed = lock(&self.primed);
        match primed.as_ref() {
            Some((zone, _)) if zone == name => primed.take().map(|(_, reply)| reply),
            _ => None,
        }
    }

    fn order(&self) -> Vec<usize> {
        let mut rng = rand::rng();
        let now = Instant::now();
        let mut keyed: Vec<(bool, u32, u32, usize)> = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, u)| *lock(&u.capability) != Capability::StripsDnssec)
            .map(|(i, u)| {
                let penalised = lock(&u.failed_at).is_some_and(|t| now.duration_since(t) < PENALTY);
                (penalised, u.config.priority, rng.random::<u32>(), i)
            })
            .collect();
        keyed.sort();
        keyed.into_iter().map(|k| k.3).collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn build_query(name: &Name, rtype: RecordType) -> Result<(u16, Vec<u8>), LookupError> {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = true;
    msg.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    let bytes = msg
        .to_vec()
        .map_err(|e| LookupError::Network(format!("cannot encode query for {name}: {e}")))?;
    Ok((msg.metadata.id, bytes))
}

/// One exchange with one upstream: UDP, then TCP if truncated (RFC 7766 §5).
pub async fn exchange(
    addr: SocketAddr,
    name: &Name,
    rtype: RecordType,
    wait: Duration,
) -> Result<Message, LookupError> {
    trace::query_send(name, rtype, addr);
    let (id, bytes) = build_query(name, rtype)?;
    let deadline = tokio::time::Instant::now() + wait;
    let udp = udp_exchange(addr, id, &bytes, name, rtype, deadline).await?;
    if !udp.metadata.truncation {
        return Ok(udp);
    }
    let (id, bytes) = build_query(name, rtype)?;
    timeout(wait, tcp_exchange(addr, id, &bytes, name, rtype))
        .await
        .map_err(|_| LookupError::Timeout(format!("{addr} (TCP)")))?
}

fn check_reply(msg: &Message, id: u16, name: &Name, rtype: RecordType) -> bool {
    msg.metadata.id == id
        && msg.metadata.message_type == MessageType::Response
        && matches!(msg.queries.as_slice(), [q] if q.name() == name && q.query_type() == rtype)
}

async fn udp_exchange(
    addr: SocketAddr,
    id: u16,
    bytes: &[u8],
    name: &Name,
    rtype: RecordType,
    deadline: tokio::time::Instant,
) -> Result<Message, LookupError> {
    let bind: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let net = |e: std::io::Error| LookupError::Network(format!("{addr}: {e}"));
    let sock = UdpSocket::bind(bind).await.map_err(net)?;
    sock.connect(addr).await.map_err(net)?;
    sock.send(bytes).await.map_err(net)?;
    let mut buf = vec![0u8; 65535];
    let mut ignored: Option<String> = None;
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(r) => r.map_err(net)?,
            Err(_) => {
                return Err(LookupError::Timeout(match ignored {
                    Some(why) => format!("{addr} (its only replies were unusable: {why})"),
                    None => addr.to_string(),
                }));
            }
        };
        // Anything that does not parse or does not answer our question is ignored
        // (RFC 5452 §9.1): a spoofed or stray datagram must not end the wait.
        match Message::from_vec(buf.get(..n).unwrap_or_default()) {
            Ok(msg) if check_reply(&msg, id, name, rtype) => return Ok(msg),
            Ok(_) => ignored = Some("a reply that does not match the question".into()),
            Err(e) => {
                tracing::debug!(target: "danegate::dns", "ignoring malformed DNS reply from {addr}: {e}");
                ignored = Some(format!("malformed DNS message: {e}"));
            }
        }
    }
}

async fn tcp_exchange(
    addr: SocketAddr,
    id: u16,
    bytes: &[u8],
    name: &Name,
    rtype: RecordType,
) -> Result<Message, LookupError> {
    let net = |e: std::io::Error| LookupError::Network(format!("{addr} (TCP): {e}"));
    let mut stream = TcpStream::connect(addr).await.map_err(net)?;
    let len =
        u16::try_from(bytes.len()).map_err(|_| LookupError::Network("query too long".into()))?;
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    stream.write_all(&out).await.map_err(net)?;
    let mut lenbuf = [0u8; 2];
    stream.read_exact(&mut lenbuf).await.map_err(net)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lenbuf))];
    stream.read_exact(&mut buf).await.map_err(net)?;
    let msg = Message::from_vec(&buf)
        .map_err(|e| LookupError::Network(format!("malformed DNS reply from {addr} (TCP): {e}")))?;
    if !check_reply(&msg, id, name, rtype) {
        return Err(LookupError::Network(format!(
            "reply from {addr} (TCP) does not match the question"
        )));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            UpstreamConfig::parse("127.0.0.1", 0)
                .unwrap()
                .addr
                .to_string(),
            "127.0.0.1:53"
        );
        assert_eq!(
            UpstreamConfig::parse("127.0.0.1:5353", 0)
                .unwrap()
                .addr
                .port(),
            5353
        );
        assert_eq!(
            UpstreamConfig::parse("::1", 0).unwrap().addr.to_string(),
            "[::1]:53"
        );
        assert_eq!(
            UpstreamConfig::parse("[::1]:54", 0)
                .unwrap()
                .addr
                .to_string(),
            "[::1]:54"
        );
        let e = UpstreamConfig::parse("dns.example", 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"dns.example\"") && e.contains("not an IP address"),
            "{e}"
        );
        let e = UpstreamConfig::parse("127.0.0.1:99999", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("port"), "{e}");
        assert!(UpstreamConfig::parse("", 0).is_err());
        assert!(UpstreamConfig::parse("127.0.0.1:0", 0).is_err());
    }
}
