//! Test policy (in-memory store) and a raw TCP SMTP client.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danegate_smtpd::{
    CloseReason, ConnectDecision, Envelope, ListenerParams, Policy, RcptDecision, ReverseDns,
    Server, ServerEvent, SessionInfo, StoreError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

#[derive(Default)]
pub struct TestPolicy {
    pub decision: Mutex<Option<ConnectDecision>>,
    pub fail_store: Mutex<bool>,
    pub stored: Mutex<Vec<(SessionInfo, Envelope, Vec<u8>)>>,
    pub events: Mutex<Vec<ServerEvent>>,
}

impl TestPolicy {
    pub fn messages(&self) -> Vec<(SessionInfo, Envelope, Vec<u8>)> {
        self.stored.lock().unwrap().clone()
    }
    pub fn events(&self) -> Vec<ServerEvent> {
        self.events.lock().unwrap().clone()
    }
}

impl Policy for TestPolicy {
    async fn connect(&self, _peer: SocketAddr, _local: SocketAddr) -> ConnectDecision {
        self.decision
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(ConnectDecision::Accept {
                policy: "RELAY".into(),
                sender_group: Some("RELAYLIST".into()),
            })
    }

    async fn rcpt(&self, _s: &SessionInfo, _from: &str, rcpt: &str) -> RcptDecision {
        if rcpt.starts_with("reject") {
            RcptDecision::Reject {
                code: 550,
                enhanced: "5.7.1".into(),
                text: "Relaying denied".into(),
            }
        } else {
            RcptDecision::Accept
        }
    }

    async fn store(
        &self,
        s: &SessionInfo,
        envelope: Envelope,
        data: Vec<u8>,
    ) -> Result<String, StoreError> {
        if *self.fail_store.lock().unwrap() {
            return Err(StoreError::Temporary("disk on fire".into()));
        }
        let mut st = self.stored.lock().unwrap();
        st.push((s.clone(), envelope, data));
        Ok(format!("Q{}", st.len()))
    }

    async fn reverse_dns(&self, _peer: IpAddr) -> Option<ReverseDns> {
        Some(ReverseDns {
            name: "client.example.test".into(),
            verified: true,
        })
    }

    fn event(&self, e: ServerEvent) {
        self.events.lock().unwrap().push(e);
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub policy: Arc<TestPolicy>,
    pub handle: danegate_smtpd::ParamsHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

pub fn params() -> ListenerParams {
    let mut p = ListenerParams::new("127.0.0.1:0".parse().unwrap(), "mx.danegate.test");
    p.idle_timeout = Duration::from_secs(10);
    p.max_message_size = 100_000;
    p.max_recipients = 5;
    p.max_errors = 10;
    p
}

pub async fn start(p: ListenerParams) -> Running {
    start_with(p, TestPolicy::default()).await
}

pub async fn start_with(p: ListenerParams, policy: TestPolicy) -> Running {
    let policy = Arc::new(policy);
    let server = Server::bind(p, policy.clone()).await.unwrap();
    let addr = server.local_addr();
    let handle = server.params_handle();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        policy,
        handle,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A raw client: writes bytes, reads complete (multi-line) replies.
pub struct Raw {
    pub s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            s: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub async fn connect_from(addr: SocketAddr, from: IpAddr) -> Raw {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(from, 0)).unwrap();
        Raw {
            s: sock.connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).await.unwrap();
    }

    /// One reply (all its lines joined by '\n'), or None at EOF.
    pub async fn reply(&mut self) -> Option<String> {
        let mut lines = Vec::new();
        loop {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                let last = line.as_bytes().get(3) != Some(&b'-');
                lines.push(line);
                if last {
                    return Some(lines.join("\n"));
                }
            }
            let mut tmp = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(15), self.s.read(&mut tmp))
                .await
                .expect("reply timed out")
                .unwrap_or(0);
            if n == 0 {
                return if lines.is_empty() {
                    None
                } else {
                    Some(lines.join("\n"))
                };
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Reads a reply and checks its code prefix ("250", "250 2.1.0", ...).
    pub async fn expect(&mut self, prefix: &str) -> String {
        let r = self.reply().await.unwrap_or_default();
        assert!(r.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    pub async fn cmd(&mut self, line: &str, prefix: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(prefix).await
    }

    /// Connect and read a 220 greeting.
    pub async fn greeted(addr: SocketAddr) -> Raw {
        let mut c = Raw::connect(addr).await;
        c.expect("220").await;
        c
    }

    /// Connect, greeting, EHLO.
    pub async fn ready(addr: SocketAddr) -> Raw {
        let mut c = Raw::connect(addr).await;
        c.expect("220 ").await;
        c.cmd("EHLO client.example.test", "250").await;
        c
    }

    /// Connect, greeting, EHLO, `MAIL FROM:<a@example.org>`, `RCPT TO:<b@example.net>`
    /// and `DATA` answered 354: the server now reads message content.
    pub async fn in_data(addr: SocketAddr) -> Raw {
        let mut c = Raw::ready(addr).await;
        c.cmd("MAIL FROM:<a@example.org>", "250").await;
        c.cmd("RCPT TO:<b@example.net>", "250").await;
        c.cmd("DATA", "354").await;
        c
    }

    /// True if the server closed the connection (EOF within the timeout).
    pub async fn closed(&mut self) -> bool {
        let mut tmp = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(15), self.s.read(&mut tmp)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// The body after the Received: header (its continuation lines start with a tab).
pub fn without_received(data: &[u8]) -> Vec<u8> {
    let s = data;
    assert!(s.starts_with(b"Received: "), "no Received header");
    let mut i = 0;
    loop {
        let nl = s[i..].iter().position(|&b| b == b'\n').unwrap() + i + 1;
        i = nl;
        if s.get(i) != Some(&b'\t') {
            return s[i..].to_vec();
        }
    }
}

/// Waits (up to 5 s) until an event matching `f` was reported.
/// Waits (bounded) for the event that the session closed for `reason`.
pub async fn wait_closed(policy: &TestPolicy, reason: CloseReason) -> bool {
    wait_event(
        policy,
        |e| matches!(e, ServerEvent::Closed { reason: r, .. } if *r == reason),
    )
    .await
}

pub async fn wait_event(policy: &TestPolicy, f: impl Fn(&ServerEvent) -> bool) -> bool {
    for _ in 0..100 {
        if policy.events().iter().any(&f) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
