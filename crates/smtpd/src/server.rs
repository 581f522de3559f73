//! The listener: accept loop, connection limits, reloadable parameters, shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::session::Session;
use crate::{ConnectDecision, ListenerParams, Policy, RefuseReason, ServerEvent};

/// A handle that changes a listener's parameters for new connections (a config
/// reload); existing sessions keep theirs.
#[derive(Debug, Clone)]
pub struct ParamsHandle(Arc<watch::Sender<Arc<ListenerParams>>>);

impl ParamsHandle {
    /// Replaces the parameters for connections accepted from now on. `addr` is
    /// ignored (the socket is already bound).
    pub fn set(&self, params: ListenerParams) {
        self.0.send_replace(Arc::new(params));
    }

    /// The current parameters.
    pub fn current(&self) -> Arc<ListenerParams> {
        self.0.borrow().clone()
    }
}

/// Open connections, in total, of non-`RELAY` sessions, and per client.
#[derive(Debug, Default)]
struct ConnCounter {
    total: usize,
    non_relay: usize,
    per_client: HashMap<IpAddr, usize>,
}

fn lock(counter: &Mutex<ConnCounter>) -> std::sync::MutexGuard<'_, ConnCounter> {
    match counter.lock() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    }
}

/// Releases a connection slot on drop.
pub(crate) struct ConnSlot {
    counter: Arc<Mutex<ConnCounter>>,
    client: IpAddr,
    non_relay: bool,
}

impl ConnSlot {
    /// Counts this connection as a non-`RELAY` session; refused when only the slots
    /// reserved for `RELAY` sessions are left.
    fn take_non_relay(&mut self, params: &ListenerParams) -> Result<(), RefuseReason> {
        let mut c = lock(&self.counter);
        let cap = params
            .max_connections
            .saturating_sub(params.reserved_relay_connections);
        if params.max_connections != 0 && c.non_relay >= cap {
            return Err(RefuseReason::ReservedForRelay);
        }
        c.non_relay += 1;
        self.non_relay = true;
        Ok(())
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = lock(&self.counter);
        c.total = c.total.saturating_sub(1);
        if self.non_relay {
            c.non_relay = c.non_relay.saturating_sub(1);
        }
        if let Some(n) = c.per_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_client.remove(&self.client);
            }
        }
    }
}

/// The client a connection limit counts: an IPv4 address, or the /64 of an IPv6
/// address (RFC 4291 §2.5.4: the interface identifier is the low 64 bits).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

fn acquire(
    counter: &Arc<Mutex<ConnCounter>>,
    ip: IpAddr,
    params: &ListenerParams,
) -> Result<ConnSlot, RefuseReason> {
    let client = client_key(ip);
    let mut c = lock(counter);
    if params.max_connections != 0 && c.total >= params.max_connections {
        return Err(RefuseReason::TooManyConnections);
    }
    let n = c.per_client.get(&client).copied().unwrap_or(0);
    if params.max_connections_per_client != 0 && n >= params.max_connections_per_client {
        return Err(RefuseReason::TooManyFromClient);
    }
    c.total += 1;
    c.per_client.insert(client, n + 1);
    Ok(ConnSlot {
        counter: counter.clone(),
        client,
        non_relay: false,
    })
}

/// One SMTP listener.
pub struct Server<P: Policy> {
    listener: TcpListener,
    local_addr: SocketAddr,
    params: ParamsHandle,
    policy: Arc<P>,
}

impl<P: Policy> std::fmt::Debug for Server<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl<P: Policy> Server<P> {
    /// Binds `params.addr` (port 0: any free port, see [`Server::local_addr`]).
    /// Fails on bind errors or an empty `hostname` / one with spaces or control
    /// characters.
    pub async fn bind(params: ListenerParams, policy: Arc<P>) -> io::Result<Self> {
        if params.hostname.is_empty() || !params.hostname.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid listener hostname {:?}", params.hostname),
            ));
        }
        let listener = TcpListener::bind(params.addr).await?;
        let local_addr = listener.local_addr()?;
        let (tx, _) = watch::channel(Arc::new(params));
        Ok(Self {
            listener,
            local_addr,
            params: ParamsHandle(Arc::new(tx)),
            policy,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Changes the parameters for new connections (see [`ParamsHandle::set`]).
    pub fn set_params(&self, params: ListenerParams) {
        self.params.set(params);
    }

    /// A handle for later reloads, usable while [`Server::run`] runs.
    pub fn params_handle(&self) -> ParamsHandle {
        self.params.clone()
    }

    /// Accepts connections until `shutdown` completes, then stops accepting, asks the
    /// sessions to end (`421 4.3.2` at their next command; a message being received
    /// is finished first) and waits for them (at most the idle timeout plus 10 s,
    /// then the remaining sessions are aborted; nothing unacknowledged is lost by
    /// that, RFC 5321 §6.1).
    pub async fn run(self, shutdown: impl Future) {
        let Server {
            listener,
            params,
            policy,
            ..
        } = self;
        let counter = Arc::new(Mutex::new(ConnCounter::default()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut sessions = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let p = params.current();
                        let slot = acquire(&counter, peer.ip().to_canonical(), &p);
                        sessions.spawn(handle_connection(
                            tcp,
                            peer,
                            p,
                            policy.clone(),
                            slot,
                            stop_rx.clone(),
                        ));
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(target: "danegate_smtpd", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        stop_tx.send_replace(true);
        let grace = params.current().idle_timeout + Duration::from_secs(10);
        let drain = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            sessions.abort_all();
            while sessions.join_next().await.is_some() {}
        }
    }
}

async fn handle_connection<P: Policy>(
    tcp: TcpStream,
    peer: SocketAddr,
    params: Arc<ListenerParams>,
    policy: Arc<P>,
    slot: Result<ConnSlot, RefuseReason>,
    stop: watch::Receiver<bool>,
) {
    let local = match tcp.local_addr() {
        Ok(a) => a,
        Err(e) => {
            debug!(target: "danegate_smtpd", %peer, error = %e, "connection lost at once");
            return;
        }
    };
    let icid = policy.next_icid();
    let mut slot = match slot {
        Ok(s) => s,
        Err(reason) => {
            refuse(tcp, icid, peer, local, &params, &*policy, reason).await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let decision = policy.connect(peer, local).await;
    let (policy_name, sender_group, rejected) = match decision {
        ConnectDecision::TcpRefuse => {
            policy.event(ServerEvent::Refused {
                icid,
                peer,
                local,
                reason: RefuseReason::TcpRefuse,
            });
            drop(tcp);
            return;
        }
        ConnectDecision::Reject => ("REJECT".to_string(), None, true),
        ConnectDecision::Accept {
            policy,
            sender_group,
        } => (policy, sender_group, false),
    };
    if (rejected || policy_name != "RELAY")
        && let Err(reason) = slot.take_non_relay(&params)
    {
        drop(slot);
        refuse(tcp, icid, peer, local, &params, &*policy, reason).await;
        return;
    }
    let rdns = policy.reverse_dns(peer.ip().to_canonical()).await;
    policy.event(ServerEvent::Connected {
        icid,
        peer,
        local,
        rdns: rdns.clone(),
        policy: policy_name.clone(),
        sender_group: sender_group.clone(),
    });
    let info = crate::SessionInfo {
        icid,
        peer,
        local,
        helo: None,
        tls: None,
        policy: policy_name,
        sender_group,
        rdns,
    };
    let reason = Session::new(tcp, params, policy.clone(), info, rejected, stop)
        .run()
        .await;
    drop(slot);
    policy.event(ServerEvent::Closed { icid, reason });
}

/// Turns a connection away with `421 4.7.0` (RFC 5321 §3.8: a server may close with
/// 421 instead of a greeting) and logs it; the write is bounded by 5 seconds.
async fn refuse<P: Policy>(
    mut tcp: TcpStream,
    icid: u64,
    peer: SocketAddr,
    local: SocketAddr,
    params: &ListenerParams,
    policy: &P,
    reason: RefuseReason,
) {
    policy.event(ServerEvent::Refused {
        icid,
        peer,
        local,
        reason,
    });
    let text = match reason {
        RefuseReason::TooManyFromClient => "Too many connections from your address",
        _ => "Too many connections",
    };
    let line = format!("421 4.7.0 {} {text}, try again later\r\n", params.hostname);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = tcp.write_all(line.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_64_is_one_client() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
    }
}
