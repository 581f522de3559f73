//! Shared set-up of the fuzz targets: one tokio runtime, one SMTP listener and one
//! gateway (admin + web router) per fuzzing process, all on loopback, built on first
//! use. Every target feeds its input to the same public entry point the product uses
//! for bytes from the network or from files.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use danegate_admin::Admin;
use danegate_config::Config;
use danegate_gateway::{GatewayOptions, Running};
use danegate_smtpd::{
    ConnectDecision, Envelope, ListenerParams, Policy, RcptDecision, ReverseDns, Server,
    SessionInfo, StoreError,
};
use danegate_testkit::certs::{Presented, TestChain, TlsVersions};
use tokio::runtime::Runtime;

/// The process's runtime.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A policy that relays for everyone and stores nothing.
pub struct Accept;

impl Policy for Accept {
    async fn connect(&self, _peer: SocketAddr, _local: SocketAddr) -> ConnectDecision {
        ConnectDecision::Accept {
            policy: "RELAY".into(),
            sender_group: Some("RELAYLIST".into()),
        }
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
        _s: &SessionInfo,
        _envelope: Envelope,
        data: Vec<u8>,
    ) -> Result<String, StoreError> {
        if data.len() % 7 == 3 {
            Err(StoreError::Temporary("fuzz: store refused".into()))
        } else {
            Ok("Q1".into())
        }
    }
    async fn reverse_dns(&self, _peer: std::net::IpAddr) -> Option<ReverseDns> {
        None
    }
}

/// A running SMTP listener (with STARTTLS) on an ephemeral loopback port.
pub fn smtpd() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        runtime().block_on(async {
            let mut p =
                ListenerParams::new("127.0.0.1:0".parse().expect("address"), "mx.fuzz.test");
            p.idle_timeout = Duration::from_secs(5);
            p.max_message_size = 64 * 1024;
            p.max_recipients = 5;
            p.max_errors = 20;
            p.max_connections = 0;
            p.max_connections_per_client = 0;
            p.tls = Some(server_tls());
            let server = Server::bind(p, Arc::new(Accept)).await.expect("bind");
            let addr = server.local_addr();
            tokio::spawn(server.run(std::future::pending::<()>()));
            addr
        })
    })
}

/// The listener's certificate: a generated chain from the test world's factory.
fn server_tls() -> Arc<rustls::ServerConfig> {
    TestChain::for_names(&["mx.fuzz.test"])
        .server_config(TlsVersions::Both, Presented::LeafAndIntermediate)
}

/// A gateway on a configuration file in a temporary directory, its admin layer and
/// the web router with one API token.
pub struct Gateway {
    pub running: Arc<Running>,
    pub admin: Arc<Admin>,
    pub router: axum::Router,
    pub token: String,
    _dir: tempfile::TempDir,
}

pub fn gateway() -> &'static Gateway {
    static GW: OnceLock<Gateway> = OnceLock::new();
    GW.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config_path = dir.path().join("danegate.toml");
        let text = format!(
            r#"
[server]
hostname = "gw.fuzz.test"
data_dir = "{data}"

[[listener]]
name = "outbound"
address = "127.0.0.1:0"

[[sender_group]]
name = "RELAYLIST"
senders = ["127.0.0.1"]
policy = "RELAY"

[dns]
resolvers = [ {{ address = "127.0.0.1:9", priority = 0 }} ]
timeout_secs = 1
"#,
            data = dir.path().display(),
        );
        std::fs::write(&config_path, &text).expect("write config");
        let config = Config::load(&config_path).expect("config");
        let opts = GatewayOptions {
            config_path: Some(config_path),
            ..GatewayOptions::default()
        };
        let running = Arc::new(
            runtime()
                .block_on(danegate_gateway::start(config, opts))
                .expect("gateway"),
        );
        let admin = Arc::new(Admin::new(running.clone()));
        let settings = danegate_web::WebSettings::for_data_dir(dir.path());
        let token =
            danegate_web::auth::create_token(&settings.api_tokens_file, "fuzz").expect("token");
        let router = danegate_web::router(admin.clone(), settings);
        Gateway {
            running,
            admin,
            router,
            token,
            _dir: dir,
        }
    })
}
