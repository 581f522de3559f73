//! The in-process DNS server: UDP and TCP on one ephemeral port of 127.0.0.1.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::build::WorldData;
use super::{Rewrite, ServerOptions, answer, parse_abs};

/// A running server; dropping it stops the server and joins its thread.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// `127.0.0.1:<port>`; UDP and TCP are both served on it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Number of queries answered so far (UDP and TCP; garbage and silent drops excluded).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Ctx {
    world: Arc<WorldData>,
    strip_dnssec: bool,
    silent: bool,
    servfail: Vec<(Name, RecordType)>,
    rewrite: Option<Rewrite>,
    queries: Arc<AtomicU64>,
}

impl Ctx {
    fn handle(&self, request: &[u8], udp: bool) -> Option<Vec<u8>> {
        if self.silent {
            return None;
        }
        let resp = catch_unwind(AssertUnwindSafe(|| {
            answer::respond(
                &self.world,
                request,
                udp,
                self.strip_dnssec,
                &self.servfail,
                self.rewrite.as_ref(),
            )
        }))
        .ok()
        .flatten()?;
        self.queries.fetch_add(1, Ordering::SeqCst);
        Some(resp)
    }
}

fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1");
        let port = udp.local_addr().expect("local addr").port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

pub(crate) fn start(world: Arc<WorldData>, options: ServerOptions) -> DnsServer {
    let (udp, tcp) = bind_pair();
    let addr = udp.local_addr().expect("local addr");
    udp.set_nonblocking(true).expect("nonblocking");
    tcp.set_nonblocking(true).expect("nonblocking");
    let queries = Arc::new(AtomicU64::new(0));
    let ctx = Arc::new(Ctx {
        world,
        strip_dnssec: options.strip_dnssec,
        silent: options.silent,
        servfail: options
            .servfail
            .iter()
            .map(|(n, t)| (parse_abs(n), *t))
            .collect(),
        rewrite: options.rewrite,
        queries: queries.clone(),
    });
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("dns-world-{}", addr.port()))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(serve(ctx, udp, tcp, rx));
        })
        .expect("spawn dns server thread");
    DnsServer {
        addr,
        queries,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

async fn serve(
    ctx: Arc<Ctx>,
    udp: UdpSocket,
    tcp: TcpListener,
    mut shutdown: oneshot::Receiver<()>,
) {
    let udp = tokio::net::UdpSocket::from_std(udp).expect("tokio udp");
    let tcp = tokio::net::TcpListener::from_std(tcp).expect("tokio tcp");
    let mut buf = vec![0u8; 65_535];
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, peer)) = r
                    && let Some(resp) = ctx.handle(&buf[..n], true)
                {
                    let _ = udp.send_to(&resp, peer).await;
                }
            }
            r = tcp.accept() => {
                if let Ok((stream, _)) = r {
                    tokio::spawn(tcp_conn(ctx.clone(), stream));
                }
            }
        }
    }
}

async fn tcp_conn(ctx: Arc<Ctx>, mut stream: tokio::net::TcpStream) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let len = usize::from(len);
        if stream.read_exact(&mut buf[..len]).await.is_err() {
            return;
        }
        let Some(resp) = ctx.handle(&buf[..len], false) else {
            continue;
        };
        let Ok(rlen) = u16::try_from(resp.len()) else {
            continue;
        };
        let mut out = Vec::with_capacity(resp.len() + 2);
        out.extend_from_slice(&rlen.to_be_bytes());
        out.extend_from_slice(&resp);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
