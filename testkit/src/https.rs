//! An in-process HTTPS server for tests: the MTA-STS policy host
//! (`https://mta-sts.<domain>/.well-known/mta-sts.txt`, RFC 8461 §3.3) and a TLS-RPT
//! collector (`https:` rua, RFC 8460 §5.2).
//!
//! [`HttpsServer::start`] binds 127.0.0.1 on an ephemeral port (or
//! [`HttpsServerOptions::bind`]) and serves from its own thread with its own tokio
//! runtime, like [`crate::smtp::SmtpSink`]; dropping the handle stops it. The TLS side
//! is a rustls `ServerConfig` the test builds from the certificate factory
//! ([`crate::certs`]), so a test chooses a valid, self-signed, expired or wrong-name
//! certificate. Each path answers per its [`Route`] (status, content type, body,
//! `Location`); unknown paths answer 404. Routes can be changed while it runs (a policy
//! that changes). Every request is recorded ([`RecordedRequest`]: method, path,
//! headers, body, SNI) for inspection — a POSTed report, a fetch that happened or not.
//!
//! The HTTP/1.1 side is deliberately small: one request per connection, bodies by
//! `Content-Length` (a chunked request gets 411), `Connection: close` on every answer.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the server answers one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header (`None`: none sent).
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// The `Location` header (for redirects).
    pub location: Option<String>,
}

impl Route {
    /// 200 with this content type and body.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Route {
            status: 200,
            content_type: Some(content_type.to_string()),
            body: body.into(),
            location: None,
        }
    }

    /// 200 `text/plain` with this body (an MTA-STS policy file).
    pub fn text(body: &str) -> Self {
        Self::ok("text/plain", body)
    }

    /// This status with an empty `text/plain` body.
    pub fn status(status: u16) -> Self {
        Route {
            status,
            content_type: Some("text/plain".into()),
            body: Vec::new(),
            location: None,
        }
    }

    /// A redirect (`status` 3xx) to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Route {
            location: Some(location.to_string()),
            ..Self::status(status)
        }
    }
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// The headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The SNI the client sent.
    pub sni: Option<String>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Options of [`HttpsServer::start`].
#[derive(Clone)]
pub struct HttpsServerOptions {
    /// The TLS configuration (certificate chain and key).
    pub tls: Arc<rustls::ServerConfig>,
    /// Where to listen; `None` is 127.0.0.1 on an ephemeral port.
    pub bind: Option<SocketAddr>,
    /// The routes at start.
    pub routes: Vec<(String, Route)>,
}

impl HttpsServerOptions {
    /// No routes, 127.0.0.1, ephemeral port.
    pub fn new(tls: Arc<rustls::ServerConfig>) -> Self {
        HttpsServerOptions {
            tls,
            bind: None,
            routes: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Shared {
    routes: HashMap<String, Route>,
    requests: Vec<RecordedRequest>,
    handshake_failures: usize,
}

/// A running HTTPS server; dropping it stops the server thread.
pub struct HttpsServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HttpsServer {
    /// Starts the server.
    ///
    /// # Panics
    /// If the address cannot be bound.
    pub fn start(opts: HttpsServerOptions) -> Self {
        let bind = opts
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let std_listener =
            std::net::TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        std_listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = std_listener.local_addr().expect("listener address");
        let shared = Arc::new(Mutex::new(Shared {
            routes: opts.routes.into_iter().collect(),
            ..Shared::default()
        }));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(opts.tls);
        let thread = std::thread::Builder::new()
            .name(format!("https-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("https runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            acc = listener.accept() => {
                                let Ok((tcp, _)) = acc else { continue };
                                let (acceptor, sh) = (acceptor.clone(), sh.clone());
                                tokio::spawn(async move {
                                    match acceptor.accept(tcp).await {
                                        Ok(tls) => {
                                            let _ = tokio::time::timeout(
                                                Duration::from_secs(30),
                                                serve_one(tls, sh),
                                            )
                                            .await;
                                        }
                                        Err(_) => lock(&sh).handshake_failures += 1,
                                    }
                                });
                            }
                        }
                    }
                });
            })
            .expect("spawn https thread");
        HttpsServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A server with this TLS configuration and one route.
    pub fn with_route(tls: Arc<rustls::ServerConfig>, path: &str, route: Route) -> Self {
        let mut o = HttpsServerOptions::new(tls);
        o.routes.push((path.to_string(), route));
        Self::start(o)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Sets (or replaces) the answer for `path`.
    pub fn set_route(&self, path: &str, route: Route) {
        lock(&self.shared).routes.insert(path.to_string(), route);
    }

    /// Removes the route for `path` (it answers 404 again).
    pub fn remove_route(&self, path: &str) {
        lock(&self.shared).routes.remove(path);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// Requests received so far for `path`.
    pub fn requests_for(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits until at least `n` requests arrived (or `timeout`), then returns them all.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let end = Instant::now() + timeout;
        loop {
            let r = self.requests();
            if r.len() >= n || Instant::now() >= end {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// TLS handshakes that failed (a client refusing the certificate).
    pub fn handshake_failures(&self) -> usize {
        lock(&self.shared).handshake_failures
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

async fn serve_one(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    sh: Arc<Mutex<Shared>>,
) -> io::Result<()> {
    let sni = tls.get_ref().1.server_name().map(str::to_string);
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return respond(&mut tls, &Route::status(431)).await;
        }
        let mut chunk = [0u8; 4096];
        let n = tls.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if find("transfer-encoding").is_some() {
        return respond(&mut tls, &Route::status(411)).await;
    }
    let len: usize = find("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if len > MAX_BODY {
        return respond(&mut tls, &Route::status(413)).await;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 8192];
        let n = tls.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    let route = {
        let mut g = lock(&sh);
        g.requests.push(RecordedRequest {
            method,
            path: path.clone(),
            headers,
            body,
            sni,
        });
        g.routes.get(&path).cloned()
    };
    respond(&mut tls, &route.unwrap_or_else(|| Route::status(404))).await
}

async fn respond<S: tokio::io::AsyncWrite + Unpin>(s: &mut S, route: &Route) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", route.status, reason(route.status));
    if let Some(ct) = &route.content_type {
        out += &format!("Content-Type: {ct}\r\n");
    }
    if let Some(l) = &route.location {
        out += &format!("Location: {l}\r\n");
    }
    out += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        route.body.len()
    );
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&route.body);
    s.write_all(&bytes).await?;
    s.flush().await?;
    s.shutdown().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
