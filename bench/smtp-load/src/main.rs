//! `danegate-smtp-load`: an SMTP load generator for `bench/gateway.sh`.
//!
//! ```text
//! danegate-smtp-load --target 127.0.0.1:2525 --messages 2000 --concurrency 20 \
//!     --size 2048 --rcpt user@bench.test
//! ```
//!
//! M clients (tokio tasks) share N messages. Each client opens one SMTP connection,
//! says EHLO once and sends message after message over it (MAIL, RCPT and DATA
//! pipelined when the server offers PIPELINING, RFC 2920), reconnecting only after an
//! error or after `--per-connection` messages. The accept latency of a message is the
//! time from the write of its end-of-data `.` line to the server's final reply.
//!
//! Prints one JSON object on stdout:
//! `{"accepted", "rejected", "errors", "seconds", "msgs_per_sec", "p50_ms", "p99_ms",
//! "max_ms", "start_unix_ms", "end_unix_ms", "connections"}`; `seconds` runs from the
//! first connection attempt to the last reply. Exit status 0 when every message was
//! accepted, 1 otherwise, 2 for bad arguments.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// SMTP load generator (bench only).
#[derive(Parser, Debug, Clone)]
#[command(name = "danegate-smtp-load", version)]
struct Args {
    /// Server to submit to.
    #[arg(long, value_name = "ADDR:PORT")]
    target: SocketAddr,
    /// Messages to submit in all.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Concurrent clients (one connection each).
    #[arg(long, default_value_t = 20)]
    concurrency: usize,
    /// Approximate message size in bytes (headers + body).
    #[arg(long, default_value_t = 2048)]
    size: usize,
    /// Envelope recipient.
    #[arg(long)]
    rcpt: String,
    /// Recipients per message: 1 sends to `--rcpt`; N > 1 sends to `LOCAL+0@DOMAIN` ..
    /// `LOCAL+(N-1)@DOMAIN` (one domain, one transaction).
    #[arg(long, default_value_t = 1)]
    rcpts: usize,
    /// Envelope sender.
    #[arg(long, default_value = "load@client.bench.test")]
    from: String,
    /// EHLO name.
    #[arg(long, default_value = "load.bench.test")]
    ehlo: String,
    /// Messages per connection before QUIT and a new connection (0: no limit).
    #[arg(long, default_value_t = 0)]
    per_connection: usize,
    /// Timeout for each server reply, seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Print a progress line on stderr every this many accepted messages (0: never).
    #[arg(long, default_value_t = 0)]
    progress: usize,
}

#[derive(Default)]
struct ClientResult {
    accepted: usize,
    rejected: usize,
    errors: usize,
    connections: usize,
    latencies_us: Vec<u64>,
    last_error: Option<String>,
}

struct Conn {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    pipelining: bool,
    sent: usize,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Reads one (possibly multi-line) reply; returns its code and the text of all lines.
async fn reply(
    rd: &mut BufReader<OwnedReadHalf>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(timeout, rd.read_line(&mut line))
            .await
            .map_err(|_| "timeout waiting for a reply".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        let l = line.trim_end();
        if l.len() < 3 {
            return Err(format!("bad reply line {l:?}"));
        }
        let code: u16 = l[..3]
            .parse()
            .map_err(|_| format!("bad reply line {l:?}"))?;
        text.push_str(l);
        text.push('\n');
        if l.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text));
        }
    }
}

async fn connect(args: &Args, timeout: Duration) -> Result<Conn, String> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(args.target))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| format!("connect {}: {e}", args.target))?;
    let _ = tcp.set_nodelay(true);
    let (r, w) = tcp.into_split();
    let mut c = Conn {
        rd: BufReader::with_capacity(16 * 1024, r),
        wr: w,
        pipelining: false,
        sent: 0,
    };
    let (code, text) = reply(&mut c.rd, timeout).await?;
    if code != 220 {
        return Err(format!("greeting: {}", text.trim_end()));
    }
    c.wr.write_all(format!("EHLO {}\r\n", args.ehlo).as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let (code, text) = reply(&mut c.rd, timeout).await?;
    if code != 250 {
        return Err(format!("EHLO: {}", text.trim_end()));
    }
    c.pipelining = text.lines().any(|l| {
        l.get(4..)
            .is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
    });
    Ok(c)
}

/// The message content (CRLF lines, no line starting with a dot), about `size` bytes.
fn content(args: &Args, seq: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <{from}>\r\nTo: <{rcpt}>\r\nSubject: bench message {seq}\r\n\
         Message-ID: <{seq}.{t}@load.bench.test>\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         X-Bench-Seq: {seq}\r\n\r\n",
        from = args.from,
        rcpt = args.rcpt,
        t = now_ms(),
    )
    .into_bytes();
    const LINE: &[u8] =
        b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmnopq";
    while m.len() < args.size {
        m.extend_from_slice(LINE);
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// Sends one message; Ok(Some(latency)) if accepted, Ok(None) if refused (the session
/// is still usable), Err on a protocol or I/O error (the session is dropped).
async fn send_one(
    c: &mut Conn,
    args: &Args,
    seq: usize,
    timeout: Duration,
) -> Result<Option<Duration>, String> {
    let mail = format!("MAIL FROM:<{}>\r\n", args.from);
    let n_rcpts = args.rcpts.max(1);
    let rcpt: String = if n_rcpts == 1 {
        format!("RCPT TO:<{}>\r\n", args.rcpt)
    } else {
        let (local, domain) = args.rcpt.rsplit_once('@').unwrap_or((&args.rcpt, ""));
        (0..n_rcpts)
            .map(|i| format!("RCPT TO:<{local}+{i}@{domain}>\r\n"))
            .collect()
    };
    let w = |e: std::io::Error| format!("write: {e}");
    let data_code = if c.pipelining {
        c.wr.write_all(format!("{mail}{rcpt}DATA\r\n").as_bytes())
            .await
            .map_err(w)?;
        // Read all three replies (a refused MAIL or RCPT still gets replies to the rest).
        let _mail = reply(&mut c.rd, timeout).await?;
        for _ in 0..n_rcpts {
            let _rcpt = reply(&mut c.rd, timeout).await?;
        }
        reply(&mut c.rd, timeout).await?.0
    } else {
        c.wr.write_all(mail.as_bytes()).await.map_err(w)?;
        let (code, text) = reply(&mut c.rd, timeout).await?;
        if code != 250 {
            return Err(format!("MAIL: {}", text.trim_end()));
        }
        c.wr.write_all(rcpt.as_bytes()).await.map_err(w)?;
        let mut ok = true;
        for _ in 0..n_rcpts {
            ok &= reply(&mut c.rd, timeout).await?.0 == 250;
        }
        if !ok {
            c.wr.write_all(b"RSET\r\n").await.map_err(w)?;
            reply(&mut c.rd, timeout).await?;
            return Ok(None);
        }
        c.wr.write_all(b"DATA\r\n").await.map_err(w)?;
        reply(&mut c.rd, timeout).await?.0
    };
    if data_code != 354 {
        // MAIL, RCPT or DATA refused: the transaction is dead; reset it.
        c.wr.write_all(b"RSET\r\n").await.map_err(w)?;
        reply(&mut c.rd, timeout).await?;
        return Ok(None);
    }
    let mut body = content(args, seq);
    body.extend_from_slice(b".\r\n");
    c.wr.write_all(&body).await.map_err(w)?;
    let t0 = Instant::now();
    let (code, _) = reply(&mut c.rd, timeout).await?;
    let lat = t0.elapsed();
    c.sent += 1;
    Ok((code == 250).then_some(lat))
}

async fn client(args: Arc<Args>, next: Arc<AtomicUsize>, done: Arc<AtomicUsize>) -> ClientResult {
    let timeout = Duration::from_secs(args.timeout);
    let mut res = ClientResult::default();
    let mut conn: Option<Conn> = None;
    let mut consecutive_errors = 0;
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= args.messages {
            break;
        }
        loop {
            if conn.is_none() {
                match connect(&args, timeout).await {
                    Ok(c) => {
                        res.connections += 1;
                        conn = Some(c);
                    }
                    Err(e) => {
                        res.errors += 1;
                        res.last_error = Some(e);
                        consecutive_errors += 1;
                        if consecutive_errors >= 10 {
                            return res;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            match send_one(c, &args, seq, timeout).await {
                Ok(Some(lat)) => {
                    consecutive_errors = 0;
                    res.accepted += 1;
                    res.latencies_us.push(lat.as_micros() as u64);
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if args.progress > 0 && d.is_multiple_of(args.progress) {
                        eprintln!("danegate-smtp-load: {d} accepted");
                    }
                    if args.per_connection > 0 && c.sent >= args.per_connection {
                        let _ = c.wr.write_all(b"QUIT\r\n").await;
                        conn = None;
                    }
                    break;
                }
                Ok(None) => {
                    res.rejected += 1;
                    break;
                }
                Err(e) => {
                    res.errors += 1;
                    res.last_error = Some(e);
                    conn = None;
                    consecutive_errors += 1;
                    if consecutive_errors >= 10 {
                        return res;
                    }
                    // Retry this message on a new connection.
                }
            }
        }
    }
    if let Some(mut c) = conn {
        let _ = c.wr.write_all(b"QUIT\r\n").await;
        let _ = reply(&mut c.rd, Duration::from_secs(5)).await;
    }
    res
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.concurrency == 0 || args.messages == 0 {
        eprintln!("danegate-smtp-load: --messages and --concurrency must be at least 1");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("danegate-smtp-load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let args = Arc::new(args);
    let (results, seconds, start_ms, end_ms) = rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let start_ms = now_ms();
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..args.concurrency.min(args.messages))
            .map(|_| tokio::spawn(client(args.clone(), next.clone(), done.clone())))
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            match t.await {
                Ok(r) => results.push(r),
                Err(e) => results.push(ClientResult {
                    errors: 1,
                    last_error: Some(format!("client task: {e}")),
                    ..ClientResult::default()
                }),
            }
        }
        (results, t0.elapsed().as_secs_f64(), start_ms, now_ms())
    });
    let mut lat: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let accepted: usize = results.iter().map(|r| r.accepted).sum();
    let rejected: usize = results.iter().map(|r| r.rejected).sum();
    let errors: usize = results.iter().map(|r| r.errors).sum();
    let connections: usize = results.iter().map(|r| r.connections).sum();
    let last_error = results
        .iter()
        .filter_map(|r| r.last_error.clone())
        .next_back();
    let out = serde_json::json!({
        "target": args.target.to_string(),
        "messages": args.messages,
        "concurrency": args.concurrency,
        "size": args.size,
        "accepted": accepted,
        "rejected": rejected,
        "errors": errors,
        "connections": connections,
        "seconds": seconds,
        "msgs_per_sec": if seconds > 0.0 { accepted as f64 / seconds } else { 0.0 },
        "p50_ms": percentile(&lat, 50.0),
        "p99_ms": percentile(&lat, 99.0),
        "max_ms": lat.last().map_or(0.0, |m| *m as f64 / 1000.0),
        "start_unix_ms": start_ms as u64,
        "end_unix_ms": end_ms as u64,
        "last_error": last_error,
    });
    println!("{out}");
    if accepted == args.messages {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
