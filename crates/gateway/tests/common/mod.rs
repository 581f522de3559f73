//! Shared by the gateway tests that run in the test kit's mail world: the gateway
//! in-process, one submitted message, and what the world's MX servers received.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use danegate_config::Config;
use danegate_gateway::{GatewayOptions, Running, start};
use danegate_smtp::{SmtpClient, Timeouts};
use danegate_testkit::{
    mailworld::{MailWorld, WorldSink},
    smtp::ReceivedMessage,
};

/// The gateway on configuration `text` (`name` in error messages), delivering to the
/// mail world's SMTP port, its queue looked at every 200 ms.
pub async fn start_in_world(text: &str, name: &str) -> Running {
    let config = Config::from_toml_str(text, name).unwrap_or_else(|e| panic!("{e}"));
    let opts = GatewayOptions {
        smtp_port: MailWorld::get().port(),
        tick: Duration::from_millis(200),
        ..GatewayOptions::default()
    };
    start(config, opts).await.unwrap()
}

/// Submits one message from `from` to `rcpt` whose header is `From`, `To` and
/// `headers` (each line ending in CRLF); asserts it was accepted.
pub async fn submit(to: SocketAddr, from: &str, rcpt: &str, headers: &str) {
    let mut c = SmtpClient::connect(to, None, Timeouts::uniform(Duration::from_secs(30)))
        .await
        .unwrap();
    c.ehlo("internal-mta.test").await.unwrap();
    let body = format!("From: <{from}>\r\nTo: <{rcpt}>\r\n{headers}\r\nHello.\r\n");
    let d = c.send(from, &[rcpt], body.as_bytes()).await.unwrap();
    assert!(d.all_delivered(), "{rcpt}: not accepted: {d:?}");
    let _ = c.quit().await;
}

/// Every message with this subject the world's MX servers received, with the server.
pub fn received(subject: &str) -> Vec<(&'static WorldSink, ReceivedMessage)> {
    let needle = format!("Subject: {subject}\r\n");
    MailWorld::get()
        .sinks()
        .iter()
        .flat_map(|s| {
            s.sink
                .messages()
                .into_iter()
                .filter(|m| String::from_utf8_lossy(&m.data).contains(&needle))
                .map(move |m| (s, m))
        })
        .collect()
}
