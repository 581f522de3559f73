//! The control socket: `<data_dir>/control.sock` (mode 0600), served by `danegate serve`,
//! used by the admin CLI.
//!
//! Protocol: newline-delimited JSON. Each request is one line, a [`Request`] (an object
//! with an `"op"` and its arguments, e.g. `{"op":"queue_show","mid":12}`); each answer is
//! one line, a [`Response`]: `{"ok":true,"result":...}` with the operation's result
//! serialised as in the [`Admin`] API, or `{"ok":false,"error":"...","errors":[...]}`
//! where `errors` are the [`FieldError`]s of a refused change. Several requests may be
//! sent on one connection.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Admin, DestinationForm, FieldError, FormErrors};

/// The file name of the control socket in the data directory.
pub const SOCKET_NAME: &str = "control.sock";

/// Longest request line accepted (bytes).
const MAX_LINE: usize = 1 << 20;

/// The control socket of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// One request: an [`Admin`] operation and its arguments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the gateway there? Result: [`PingResult`].
    Ping,
    /// [`Admin::destinations`].
    Destinations,
    /// [`Admin::destination`]; result `null` when there is no such profile.
    Destination {
        /// The profile's domain.
        domain: String,
    },
    /// [`Admin::add_destination`]; result `null`.
    AddDestination {
        /// The form.
        form: DestinationForm,
    },
    /// [`Admin::edit_destination`]; result `null`.
    EditDestination {
        /// The profile to edit.
        domain: String,
        /// The changes.
        form: DestinationForm,
    },
    /// [`Admin::delete_destination`]; result `null`.
    DeleteDestination {
        /// The profile to delete.
        domain: String,
    },
    /// [`Admin::routes`].
    Routes,
    /// [`Admin::set_route`]; result `null`.
    SetRoute {
        /// The route's domain.
        domain: String,
        /// Its hosts.
        hosts: Vec<String>,
    },
    /// [`Admin::delete_route`]; result `null`.
    DeleteRoute {
        /// The route's domain.
        domain: String,
    },
    /// [`Admin::set_dns`]; result `null`.
    SetDns {
        /// The DNS form.
        form: crate::DnsForm,
    },
    /// [`Admin::commit`]; result: a message.
    Commit,
    /// [`Admin::dns_probed`].
    Dns,
    /// [`Admin::delivery_status`].
    DeliveryStatus,
    /// [`Admin::host_status`].
    HostStatus {
        /// The domain.
        domain: String,
    },
    /// [`Admin::top_hosts`].
    TopHosts {
        /// How many.
        n: usize,
    },
    /// [`Admin::queue_list`].
    QueueList {
        /// One domain, or all.
        #[serde(default)]
        domain: Option<String>,
        /// At most this many recipients.
        limit: usize,
    },
    /// [`Admin::queue_show`]; result `null` when the message is unknown.
    QueueShow {
        /// The message.
        mid: u64,
    },
    /// [`Admin::deliver_now`]; result: the number of recipients.
    DeliverNow {
        /// One domain, or all.
        #[serde(default)]
        domain: Option<String>,
    },
    /// [`Admin::bounce`]; result: the number of recipients bounced.
    Bounce {
        /// The message.
        mid: u64,
        /// One recipient, or every queued one.
        #[serde(default)]
        rid: Option<u64>,
    },
    /// [`Admin::delete`]; result: whether the message existed.
    Delete {
        /// The message.
        mid: u64,
    },
    /// [`Admin::readiness`]; result: a [`crate::readiness::Readiness`].
    Readiness {
        /// The window in seconds.
        since_secs: u64,
    },
    /// [`Admin::set_dane_mandatory`]; result `null`.
    SetDaneMandatory {
        /// The destination domain.
        domain: String,
    },
    /// [`Admin::daneverify`]: the check runs inside the gateway. Its output comes first,
    /// one [`OutLine`] per line as it is known, then the response; its result is a
    /// [`crate::daneverify::CheckEnd`].
    Daneverify {
        /// The check.
        check: crate::daneverify::Check,
    },
    /// [`Admin::tlsrpt_show`]: a day's TLS-RPT reports and destinations.
    TlsrptShow {
        /// `YYYY-MM-DD` (default: today, UTC).
        #[serde(default)]
        date: Option<String>,
        /// One policy domain, or all.
        #[serde(default)]
        domain: Option<String>,
    },
    /// [`Admin::tlsrpt_send`]: sends a day's TLS-RPT reports now.
    TlsrptSend {
        /// `YYYY-MM-DD` (default: yesterday, UTC).
        #[serde(default)]
        date: Option<String>,
    },
}

/// One line of a command's standard output, sent before the response of a
/// [`Request::Daneverify`]: `{"out":"..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutLine {
    /// The line, without its newline.
    pub out: String,
}

/// The result of [`Request::Ping`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PingResult {
    /// The gateway's process id.
    pub pid: u32,
    /// The configuration file it runs on (`None`: the embedded default).
    pub config_path: Option<String>,
    /// The data directory.
    pub data_dir: String,
}

/// One response line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// True when the operation succeeded.
    pub ok: bool,
    /// The operation's result (when `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// What went wrong (when not `ok`), one line per error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The field errors of a refused change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Response {
    fn ok(v: impl Serialize) -> Response {
        match serde_json::to_value(v) {
            Ok(v) => Response {
                ok: true,
                result: Some(v),
                error: None,
                errors: Vec::new(),
            },
            Err(e) => Response::err(format!("cannot serialise the result: {e}")),
        }
    }

    fn err(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            result: None,
            error: Some(message.into()),
            errors: Vec::new(),
        }
    }

    fn form(e: FormErrors) -> Response {
        Response {
            ok: false,
            result: None,
            error: Some(e.to_string()),
            errors: e.errors,
        }
    }

    fn unit(r: Result<(), FormErrors>) -> Response {
        match r {
            Ok(()) => Response::ok(()),
            Err(e) => Response::form(e),
        }
    }
}

/// Runs a configuration change off the async runtime (it writes the file).
async fn blocking(
    admin: &Admin,
    f: impl FnOnce(&Admin) -> Result<(), FormErrors> + Send + 'static,
) -> Response {
    let a = admin.clone();
    match tokio::task::spawn_blocking(move || f(&a)).await {
        Ok(r) => Response::unit(r),
        Err(e) => Response::err(format!("internal error: {e}")),
    }
}

/// Performs one request.
pub async fn handle(admin: &Admin, req: Request) -> Response {
    match req {
        Request::Ping => {
            let c = admin.config();
            Response::ok(PingResult {
                pid: std::process::id(),
                config_path: admin.config_path().map(|p| p.display().to_string()),
                data_dir: c.server.data_dir.display().to_string(),
            })
        }
        Request::Destinations => Response::ok(admin.destinations()),
        Request::Destination { domain } => Response::ok(admin.destination(&domain)),
        Request::AddDestination { form } => {
            blocking(admin, move |a| a.add_destination(&form)).await
        }
        Request::EditDestination { domain, form } => {
            blocking(admin, move |a| a.edit_destination(&domain, &form)).await
        }
        Request::DeleteDestination { domain } => {
            blocking(admin, move |a| a.delete_destination(&domain)).await
        }
        Request::Routes => Response::ok(admin.routes()),
        Request::SetRoute { domain, hosts } => {
            blocking(admin, move |a| a.set_route(&domain, &hosts)).await
        }
        Request::DeleteRoute { domain } => blocking(admin, move |a| a.delete_route(&domain)).await,
        Request::SetDns { form } => blocking(admin, move |a| a.set_dns(&form)).await,
        Request::Commit => {
            let a = admin.clone();
            match tokio::task::spawn_blocking(move || a.commit()).await {
                Ok(Ok(msg)) => Response::ok(msg),
                Ok(Err(e)) => Response::form(e),
                Err(e) => Response::err(format!("internal error: {e}")),
            }
        }
        Request::Dns => {
            let view = match tokio::time::timeout(Duration::from_secs(20), admin.dns_probed()).await
            {
                Ok(v) => v,
                Err(_) => admin.dns(),
            };
            Response::ok(view)
        }
        Request::DeliveryStatus => Response::ok(admin.delivery_status().await),
        Request::HostStatus { domain } => Response::ok(admin.host_status(&domain).await),
        Request::TopHosts { n } => Response::ok(admin.top_hosts(n).await),
        Request::QueueList { domain, limit } => {
            Response::ok(admin.queue_list(domain.as_deref(), limit).await)
        }
        Request::QueueShow { mid } => Response::ok(admin.queue_show(mid).await),
        Request::DeliverNow { domain } => Response::ok(admin.deliver_now(domain.as_deref()).await),
        Request::Bounce { mid, rid } => match admin.bounce(mid, rid).await {
            Ok(n) => Response::ok(n),
            Err(e) => Response::err(e),
        },
        Request::Delete { mid } => Response::ok(admin.delete(mid).await),
        Request::Readiness { since_secs } => match admin.readiness(since_secs).await {
            Ok(r) => Response::ok(r),
            Err(e) => Response::err(e),
        },
        Request::SetDaneMandatory { domain } => {
            blocking(admin, move |a| a.set_dane_mandatory(&domain)).await
        }
        Request::TlsrptShow { date, domain } => {
            match admin.tlsrpt_show(date.as_deref(), domain.as_deref()).await {
                Ok(v) => Response::ok(v),
                Err(e) => Response::err(e),
            }
        }
        Request::TlsrptSend { date } => match admin.tlsrpt_send(date.as_deref()).await {
            Ok(v) => Response::ok(v),
            Err(e) => Response::err(e),
        },
        Request::Daneverify { check } => {
            // Not streamed here: the lines are collected (the connection streams them).
            let mut lines = Vec::new();
            let mut out = |l: String| lines.push(l);
            match admin.daneverify(&check, &mut out).await {
                Ok(end) => Response::ok(serde_json::json!({
                    "verdict": end.verdict,
                    "exit": end.exit,
                    "lines": lines,
                })),
                Err(e) => Response::err(e),
            }
        }
    }
}

/// Runs a [`Request::Daneverify`], writing each line of output as an [`OutLine`] as
/// soon as it is known, then the response. `Err` when the client went away (the check
/// is then abandoned).
async fn stream_daneverify(
    admin: &Admin,
    check: crate::daneverify::Check,
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let a = admin.clone();
    let mut task = tokio::spawn(async move {
        let mut out = move |l: String| {
            let _ = tx.send(l);
        };
        a.daneverify(&check, &mut out).await
    });
    let mut abort = AbortOnDrop(Some(task.abort_handle()));
    while let Some(line) = rx.recv().await {
        let mut text = serde_json::to_string(&OutLine { out: line })
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        text.push('\n');
        wr.write_all(text.as_bytes()).await?;
    }
    let resp = match (&mut task).await {
        Ok(Ok(end)) => Response::ok(end),
        Ok(Err(e)) => Response::err(e),
        Err(e) => Response::err(format!("internal error: {e}")),
    };
    abort.0 = None;
    write_response(wr, &resp).await
}

/// Aborts a task when dropped (the client of a streamed request went away).
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

async fn write_response(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    resp: &Response,
) -> std::io::Result<()> {
    let mut out = serde_json::to_string(resp).unwrap_or_else(|e| {
        format!("{{\"ok\":false,\"error\":\"cannot serialise the response: {e}\"}}")
    });
    out.push('\n');
    wr.write_all(out.as_bytes()).await
}

/// A running control socket server. Dropping it stops it (and removes the socket).
pub struct ControlServer {
    path: PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ControlServer {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, ends open connections (dropping their [`Admin`] clones), removes
    /// the socket file.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds `path` (replacing a stale socket; refusing when another gateway answers on it),
/// mode 0600, and serves `admin` on it.
pub async fn serve(admin: Admin, path: &Path) -> std::io::Result<ControlServer> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by a running gateway", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    // Bind under a temporary name, restrict it, then move it in place: never reachable
    // with wider permissions.
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let listener = tokio::net::UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let admin = admin.clone();
                        conns.spawn(async move { connection(admin, stream).await });
                    }
                    Err(e) => {
                        tracing::warn!(target: "danegate::mail", "control socket: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Ok(ControlServer {
        path: path.to_path_buf(),
        task: Some(task),
    })
}

async fn connection(admin: Admin, stream: tokio::net::UnixStream) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = tokio::io::BufReader::new(rd);
    loop {
        let resp = match read_request_line(&mut rd).await {
            Line::Eof => return,
            Line::Empty => continue,
            Line::TooLong => Response::err(format!(
                "bad request: line longer than {MAX_LINE} bytes, discarded"
            )),
            Line::Text(line) => match serde_json::from_str::<Request>(line.trim()) {
                Ok(Request::Daneverify { check }) => {
                    if stream_daneverify(&admin, check, &mut wr).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(req) => handle(&admin, req).await,
                Err(e) => Response::err(format!("bad request: {e}")),
            },
        };
        if write_response(&mut wr, &resp).await.is_err() {
            return;
        }
    }
}

/// One request line as read by [`read_request_line`].
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The peer closed the connection (or it failed, or sent invalid UTF-8).
    Eof,
    /// A blank line.
    Empty,
    /// A line longer than [`MAX_LINE`]: it was read to its end and thrown away whole,
    /// so no part of it is taken for a request.
    TooLong,
    /// A request line.
    Text(String),
}

/// Reads one line of at most [`MAX_LINE`] bytes. A longer line is consumed up to and
/// including its newline and reported as [`Line::TooLong`] without keeping any of it.
async fn read_request_line<R: tokio::io::AsyncBufRead + Unpin>(rd: &mut R) -> Line {
    let mut buf = Vec::new();
    match (&mut *rd)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await
    {
        Ok(0) | Err(_) => return Line::Eof,
        Ok(_) => {}
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
        // Over-long: skip the rest of the line without storing it.
        loop {
            let (done, used) = match rd.fill_buf().await {
                Ok([]) | Err(_) => return Line::TooLong,
                Ok(avail) => match avail.iter().position(|&b| b == b'\n') {
                    Some(i) => (true, i + 1),
                    None => (false, avail.len()),
                },
            };
            rd.consume(used);
            if done {
                return Line::TooLong;
            }
        }
    }
    let Ok(line) = String::from_utf8(buf) else {
        return Line::Eof;
    };
    if line.trim().is_empty() {
        Line::Empty
    } else {
        Line::Text(line)
    }
}

/// Why a request could not be made.
#[derive(Debug)]
pub enum ClientError {
    /// No gateway answers on the socket (not running, or another data directory).
    NotRunning(String),
    /// The conversation failed.
    Io(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NotRunning(m) | ClientError::Io(m) => f.write_str(m),
        }
    }
}

/// Sends one request to the gateway on `path` and waits for its answer (blocking).
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let stream = connect(path)?;
    let io = |e: std::io::Error| ClientError::Io(format!("control socket {}: {e}", path.display()));
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).map_err(|e| ClientError::Io(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    if answer.is_empty() {
        return Err(ClientError::Io(format!(
            "control socket {}: the gateway closed the connection",
            path.display()
        )));
    }
    serde_json::from_str(answer.trim())
        .map_err(|e| ClientError::Io(format!("bad answer from the gateway: {e}")))
}

/// Runs a [`Request::Daneverify`] in the gateway on `path` (blocking): each line of its
/// output is passed to `out` as it arrives; `idle` is the longest wait for one line.
/// The inner `Err` is the gateway's refusal (a bad field of `check`).
pub fn daneverify(
    path: &Path,
    check: &crate::daneverify::Check,
    idle: Duration,
    out: &mut dyn FnMut(&str),
) -> Result<Result<crate::daneverify::CheckEnd, String>, ClientError> {
    let stream = connect(path)?;
    let io = |e: std::io::Error| ClientError::Io(format!("control socket {}: {e}", path.display()));
    stream.set_read_timeout(Some(idle)).map_err(io)?;
    stream.set_write_timeout(Some(idle)).map_err(io)?;
    let req = Request::Daneverify {
        check: check.clone(),
    };
    let mut line = serde_json::to_string(&req).map_err(|e| ClientError::Io(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut rd = BufReader::new(&stream);
    loop {
        let mut answer = String::new();
        rd.read_line(&mut answer).map_err(io)?;
        if answer.is_empty() {
            return Err(ClientError::Io(format!(
                "control socket {}: the gateway closed the connection",
                path.display()
            )));
        }
        if let Ok(l) = serde_json::from_str::<OutLine>(answer.trim()) {
            out(&l.out);
            continue;
        }
        let r: Response = serde_json::from_str(answer.trim())
            .map_err(|e| ClientError::Io(format!("bad answer from the gateway: {e}")))?;
        if !r.ok {
            return Ok(Err(r.error.unwrap_or_else(|| "refused".into())));
        }
        let end = r
            .result
            .ok_or_else(|| ClientError::Io("bad answer from the gateway: no result".into()))
            .and_then(|v| {
                serde_json::from_value(v)
                    .map_err(|e| ClientError::Io(format!("bad answer from the gateway: {e}")))
            })?;
        return Ok(Ok(end));
    }
}

fn connect(path: &Path) -> Result<std::os::unix::net::UnixStream, ClientError> {
    std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        ClientError::NotRunning(format!(
            "no running gateway answers on {} ({e}); start it with `danegate serve`, or give --data-dir/--config of the running one",
            path.display()
        ))
    })
}
