//! A gateway under test: its configuration file and, for the `danegate` binary, its
//! process.
//!
//! [`GatewayToml`] writes the configuration every gateway test starts from: listener
//! `outbound` on 127.0.0.1, sender group `RELAYLIST` relaying for 127.0.0.1, the test
//! world's resolver and trust anchor (DNS timeout 2 s), a default destination profile
//! and a default bounce profile. Fields change what a test is about (the `with_*` fields
//! leave a part out, so the gateway's built-in default applies); `bounce_extra` and
//! `extra` append TOML.
//!
//! ```no_run
//! use danegate_testkit::{gateway::GatewayToml, mailworld::MailWorld};
//! let w = MailWorld::get();
//! let dir = std::path::Path::new("/tmp/gw");
//! let text = GatewayToml {
//!     dane: "mandatory",
//!     tls: "required",
//!     ..GatewayToml::new(&dir.join("data"), w.dns_addr(), w.anchor_file())
//! }
//! .render();
//! // in-process: danegate_config::Config::from_toml_str(&text, "t.toml") and
//! // danegate_gateway::start(config, GatewayOptions { smtp_port: w.port(), .. });
//! // as a process: std::fs::write(&cfg, text) and ServeProcess::start(...).
//! ```
//!
//! [`ServeProcess`] is a running `danegate serve` (the binary path comes from the test:
//! `env!("CARGO_BIN_EXE_danegate")`), its standard error collected line by line, and
//! killed (SIGKILL) and reaped when dropped, also when the test panics.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The configuration file of a gateway in the test world; [`GatewayToml::render`]
/// gives the TOML text.
#[derive(Debug, Clone)]
pub struct GatewayToml {
    /// `[server] hostname` (default `gw.test`).
    pub hostname: &'static str,
    /// `[server] data_dir`.
    pub data_dir: PathBuf,
    /// Lines added to `[server]` (e.g. `ca_file = "..."`).
    pub server_extra: String,
    /// Port of the `outbound` listener on 127.0.0.1; 0: any free port.
    pub listen_port: u16,
    /// The resolver (`[dns] resolvers`).
    pub dns: SocketAddr,
    /// The trust anchor file (`[dns] trust_anchor_file`).
    pub trust_anchor: PathBuf,
    /// Write `trust_anchor_file` (default); false: the built-in root anchor applies.
    pub with_trust_anchor: bool,
    /// `[dns] timeout_secs` (default 2).
    pub dns_timeout_secs: u64,
    /// Write the default destination profile (default); false: the built-in defaults
    /// apply.
    pub with_default_destination: bool,
    /// `tls` of the default destination profile.
    pub tls: &'static str,
    /// `dane` of the default destination profile.
    pub dane: &'static str,
    /// `initial_retry_secs` and `max_retry_interval_secs` of the default bounce profile.
    pub retry_secs: (u64, u64),
    /// Lines added to the default bounce profile (e.g. `max_retries = 10000`).
    pub bounce_extra: String,
    /// Write the default bounce profile (default); false: the built-in defaults apply
    /// (`retry_secs` and `bounce_extra` are then unused).
    pub with_default_bounce: bool,
    /// TOML appended at the end (more tables).
    pub extra: String,
}

impl GatewayToml {
    /// Listener on any free port, TLS Preferred, DANE Opportunistic, retries once an
    /// hour (a failure stays queued while the test runs).
    pub fn new(data_dir: &Path, dns: SocketAddr, trust_anchor: &Path) -> Self {
        GatewayToml {
            hostname: "gw.test",
            data_dir: data_dir.to_path_buf(),
            server_extra: String::new(),
            listen_port: 0,
            dns,
            trust_anchor: trust_anchor.to_path_buf(),
            with_trust_anchor: true,
            dns_timeout_secs: 2,
            with_default_destination: true,
            tls: "preferred",
            dane: "opportunistic",
            retry_secs: (3600, 3600),
            bounce_extra: String::new(),
            with_default_bounce: true,
            extra: String::new(),
        }
    }

    /// For a gateway that needs no DNS world: a resolver nobody answers (127.0.0.1:9,
    /// the discard port), the built-in trust anchor, DNS timeout 1 s and the built-in
    /// default destination profile; the default bounce profile as in [`Self::new`].
    pub fn without_dns_world(data_dir: &Path) -> Self {
        GatewayToml {
            with_trust_anchor: false,
            dns_timeout_secs: 1,
            with_default_destination: false,
            ..Self::new(
                data_dir,
                SocketAddr::from(([127, 0, 0, 1], 9)),
                Path::new(""),
            )
        }
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let mut text = format!(
            r#"
[server]
hostname = "{hostname}"
data_dir = "{data}"
{server_extra}
[[listener]]
name = "outbound"
address = "127.0.0.1:{port}"

[[sender_group]]
name = "RELAYLIST"
senders = ["127.0.0.1"]
policy = "RELAY"

[dns]
resolvers = [ {{ address = "{dns}", priority = 0 }} ]
timeout_secs = {timeout}
"#,
            hostname = self.hostname,
            data = self.data_dir.display(),
            server_extra = self.server_extra,
            port = self.listen_port,
            dns = self.dns,
            timeout = self.dns_timeout_secs,
        );
        if self.with_trust_anchor {
            text += &format!("trust_anchor_file = \"{}\"\n", self.trust_anchor.display());
        }
        if self.with_default_destination {
            text += &format!(
                r#"
[[destination]]
domain = "default"
tls = "{tls}"
dane = "{dane}"
ip_preference = "ipv4-preferred"
"#,
                tls = self.tls,
                dane = self.dane,
            );
        }
        if self.with_default_bounce {
            text += &format!(
                r#"
[[bounce_profile]]
name = "default"
initial_retry_secs = {initial}
max_retry_interval_secs = {max}
{bounce_extra}
"#,
                initial = self.retry_secs.0,
                max = self.retry_secs.1,
                bounce_extra = self.bounce_extra,
            );
        }
        text + "\n" + &self.extra + "\n"
    }
}

/// A running `danegate serve`; killed (SIGKILL) and reaped on drop.
pub struct ServeProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ServeProcess {
    /// Starts `BIN serve ARGS` in `cwd` and collects its standard error.
    pub fn spawn(bin: &str, args: &[&str], cwd: &Path) -> Self {
        let mut child = Command::new(bin)
            .arg("serve")
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin} serve: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("lines lock").push(line);
            }
        });
        ServeProcess { child, lines }
    }

    /// `BIN serve --config CONFIG --smtp-port SMTP_PORT` in `cwd`, then waits (up to
    /// `timeout`) for its first listener line `danegate: listener ...`.
    pub fn start(bin: &str, config: &Path, smtp_port: u16, cwd: &Path, timeout: Duration) -> Self {
        let port = smtp_port.to_string();
        let config = config.to_str().expect("UTF-8 config path");
        let mut s = Self::spawn(bin, &["--config", config, "--smtp-port", &port], cwd);
        s.wait_line("the listener line", timeout, |l| {
            l.starts_with("danegate: listener ")
        });
        s
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every standard error line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }

    /// The last 60 standard error lines (for failure messages).
    pub fn log_tail(&self) -> String {
        let l = self.lines();
        let from = l.len().saturating_sub(60);
        l[from..].join("\n")
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for a standard error line matching `pred` and returns it; panics on
    /// timeout or when the process exits first.
    pub fn wait_line(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                // let the reader thread drain what is left
                std::thread::sleep(Duration::from_millis(200));
                if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                    return l;
                }
                panic!(
                    "danegate exited ({st}) while waiting for {what}; stderr:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; stderr:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (a `kill -SIG` name such as `HUP`) with the system's kill(1).
    pub fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                start.elapsed() < timeout,
                "danegate did not exit; stderr:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL now and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
