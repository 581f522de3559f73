//! The client: connect (caller's addresses or the system resolver), TLS with PKIX,
//! one HTTP/1.1 request, a bounded response.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::{CertProblem, Error, HttpsUrl};

/// Limits and trust of an [`HttpsClient`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// TCP connect plus TLS handshake, per address tried.
    pub connect_timeout: Duration,
    /// From the request sent to the last byte of the body.
    pub read_timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Trusted roots besides `webpki-roots` (the operator's CA file).
    pub extra_roots: Vec<TrustAnchor<'static>>,
    /// Leave the `webpki-roots` out: only `extra_roots` are trusted (tests).
    pub without_webpki_roots: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientOptions {
    /// 10 s connect, 30 s read, 64 KiB body (RFC 8461 §3.3), `webpki-roots` only.
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_body: 64 * 1024,
            extra_roots: Vec::new(),
            without_webpki_roots: false,
            user_agent: concat!("danegate/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// A successful (2xx) response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code (200..=299).
    pub status: u16,
    /// The headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`ClientOptions::max_body`] bytes).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type` without parameters, lower-case.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// Succeeds when the media type is `expected` (case-insensitive, parameters such
    /// as `charset` ignored; RFC 9110 §8.3.1).
    pub fn require_content_type(&self, expected: &str) -> Result<(), Error> {
        match self.media_type() {
            Some(m) if m.eq_ignore_ascii_case(expected) => Ok(()),
            _ => Err(Error::ContentType {
                expected: expected.to_string(),
                got: self.header("content-type").map(str::to_string),
            }),
        }
    }
}

/// An HTTPS client; cheap to clone, one connection per request.
#[derive(Clone, Debug)]
pub struct HttpsClient {
    tls: Arc<rustls::ClientConfig>,
    opts: Arc<ClientOptions>,
}

/// Certificates from PEM text (one or more `CERTIFICATE` blocks) as trust anchors.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<TrustAnchor<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA PEM: {e}"))?;
    if certs.is_empty() {
        return Err("CA PEM: no CERTIFICATE block".into());
    }
    let mut store = RootCertStore::empty();
    for (i, c) in certs.into_iter().enumerate() {
        store
            .add(c)
            .map_err(|e| format!("CA certificate #{}: {e}", i + 1))?;
    }
    Ok(store.roots)
}

/// [`parse_ca_pem`] of a file; the error names the file.
pub fn load_ca_file(path: &Path) -> Result<Vec<TrustAnchor<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_ca_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

impl HttpsClient {
    /// A client with these options (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`).
    pub fn new(opts: ClientOptions) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        if !opts.without_webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots.extend(opts.extra_roots.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls {
                host: String::new(),
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(HttpsClient {
            tls: Arc::new(tls),
            opts: Arc::new(opts),
        })
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// `GET url`. `addrs`: where `url.host` is (tried in order); empty: the system
    /// resolver's answer.
    pub async fn get(&self, url: &HttpsUrl, addrs: &[IpAddr]) -> Result<Response, Error> {
        self.exchange(http::Method::GET, url, addrs, None).await
    }

    /// `POST url` with this body and `Content-Type`.
    pub async fn post(
        &self,
        url: &HttpsUrl,
        addrs: &[IpAddr],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        self.exchange(
            http::Method::POST,
            url,
            addrs,
            Some((content_type.to_string(), body)),
        )
        .await
    }

    async fn exchange(
        &self,
        method: http::Method,
        url: &HttpsUrl,
        addrs: &[IpAddr],
        body: Option<(String, Vec<u8>)>,
    ) -> Result<Response, Error> {
        let stream = self.connect(url, addrs).await?;
        let host = url.host.clone();
        let http_err = |e: hyper::Error| Error::Http {
            host: host.clone(),
            reason: e.to_string(),
        };
        let read_secs = self.opts.read_timeout.as_secs();
        let limit = self.opts.max_body;
        let mut builder = http::Request::builder()
            .method(method)
            .uri(url.path.as_str())
            .header(header::HOST, url.host_header())
            .header(header::USER_AGENT, self.opts.user_agent.as_str())
            .header(header::CONNECTION, "close");
        let payload = match body {
            Some((ct, b)) => {
                builder = builder
                    .header(header::CONTENT_TYPE, ct)
                    .header(header::CONTENT_LENGTH, b.len());
                b
            }
            None => Vec::new(),
        };
        let request =
            builder
                .body(Full::new(Bytes::from(payload)))
                .map_err(|e| Error::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        let work = async {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(http_err)?;
            let driver = tokio::spawn(async move {
                let _ = conn.await;
            });
            let result = async {
                let resp = sender.send_request(request).await.map_err(http_err)?;
                let status = resp.status().as_u16();
                if (300..400).contains(&status) {
                    return Err(Error::Redirect {
                        status,
                        location: resp
                            .headers()
                            .get(header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                    });
                }
                if !(200..300).contains(&status) {
                    return Err(Error::Status { status });
                }
                let headers: Vec<(String, String)> = resp
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                let declared = resp
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if declared.is_some_and(|n| n > limit as u64) {
                    return Err(Error::TooLarge { limit });
                }
                let body = Limited::new(resp.into_body(), limit)
                    .collect()
                    .await
                    .map_err(|e| {
                        if e.is::<http_body_util::LengthLimitError>() {
                            Error::TooLarge { limit }
                        } else {
                            Error::Http {
                                host: host.clone(),
                                reason: e.to_string(),
                            }
                        }
                    })?
                    .to_bytes()
                    .to_vec();
                Ok(Response {
                    status,
                    headers,
                    body,
                })
            }
            .await;
            driver.abort();
            result
        };
        match tokio::time::timeout(self.opts.read_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::ReadTimeout {
                host: url.host.clone(),
                secs: read_secs,
            }),
        }
    }

    async fn connect(
        &self,
        url: &HttpsUrl,
        addrs: &[IpAddr],
    ) -> Result<TlsStream<TcpStream>, Error> {
        let targets: Vec<SocketAddr> = if addrs.is_empty() {
            match url.host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, url.port)],
                Err(_) => tokio::net::lookup_host((url.host.as_str(), url.port))
                    .await
                    .map_err(|e| Error::Resolve {
                        host: url.host.clone(),
                        reason: e.to_string(),
                    })?
                    .collect(),
            }
        } else {
            addrs
                .iter()
                .map(|ip| SocketAddr::new(*ip, url.port))
                .collect()
        };
        if targets.is_empty() {
            return Err(Error::Resolve {
                host: url.host.clone(),
                reason: "no address".into(),
            });
        }
        let name = ServerName::try_from(url.host.clone()).map_err(|e| Error::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let mut last = Error::Connect {
            host: url.host.clone(),
            reason: "no address".into(),
        };
        for addr in targets {
            let attempt = async {
                let tcp = TcpStream::connect(addr).await.map_err(|e| Error::Connect {
                    host: url.host.clone(),
                    reason: format!("{addr}: {e}"),
                })?;
                TlsConnector::from(self.tls.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| tls_error(&url.host, e))
            };
            match tokio::time::timeout(self.opts.connect_timeout, attempt).await {
                Ok(Ok(s)) => return Ok(s),
                // A certificate or handshake failure is the server's answer: another
                // address of the same host is not asked to change it.
                Ok(Err(e @ (Error::Certificate { .. } | Error::Tls { .. }))) => return Err(e),
                Ok(Err(e)) => last = e,
                Err(_) => {
                    last = Error::ConnectTimeout {
                        host: url.host.clone(),
                        secs: self.opts.connect_timeout.as_secs(),
                    }
                }
            }
        }
        Err(last)
    }
}

/// Classifies a failed handshake (tokio-rustls wraps the rustls error in an I/O error).
fn tls_error(host: &str, e: std::io::Error) -> Error {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => Error::Certificate {
            host: host.to_string(),
            problem: CertProblem::from_rustls(c),
        },
        Some(other) => Error::Tls {
            host: host.to_string(),
            reason: other.to_string(),
        },
        None => Error::Tls {
            host: host.to_string(),
            reason: e.to_string(),
        },
    }
}
