//! Every row of both of the appliance's DANE tables through the whole gateway: a real SMTP client →
//! danegate's listener → the durable queue → the DANE path against the signed mail world
//! (danegate_testkit::mailworld) → the row's STARTTLS server.
//!
//! DANE SUCCESS rows are delivered to the row's MX host over TLS; fallback rows
//! (Opportunistic) are delivered per TLS Support ("preferred": over TLS, as every host
//! offers STARTTLS); DANE FAIL rows are never sent anywhere and stay queued with a
//! "DANE FAILED" reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

mod common;

use danegate_gateway::Running;
use danegate_queue::RcptState;
use danegate_testkit::{
    gateway::GatewayToml,
    mailworld::{self, Expect, MailWorld, TABLE_ROWS},
};

/// How long a row may take to settle (DNS timeouts are 2 s; CI machines are slow).
const DEADLINE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Mandatory,
    Opportunistic,
}

impl Mode {
    fn profile(self) -> (&'static str, &'static str) {
        match self {
            Mode::Mandatory => ("mandatory", "required"),
            Mode::Opportunistic => ("opportunistic", "preferred"),
        }
    }
}

async fn gateway(mode: Mode) -> (Running, tempfile::TempDir) {
    let w = MailWorld::get();
    let dir = tempfile::tempdir().unwrap();
    let (dane, tls) = mode.profile();
    // A DANE FAIL stays queued: no retry (and so no bounce) while the test runs.
    let text = GatewayToml {
        tls,
        dane,
        ..GatewayToml::new(dir.path(), w.dns_addr(), w.anchor_file())
    }
    .render();
    (common::start_in_world(&text, "table_rows.toml").await, dir)
}

fn subject(mode: Mode, domain: &str) -> String {
    format!("row-{mode:?}-{domain}")
}

fn rcpt(domain: &str) -> String {
    format!("rcpt@{domain}")
}

async fn submit(to: SocketAddr, mode: Mode, domain: &str) {
    let (rcpt, subject) = (rcpt(domain), subject(mode, domain));
    let headers = format!("Subject: {subject}\r\nMessage-ID: <{subject}@internal.test>\r\n");
    common::submit(to, "alice@sender.test", &rcpt, &headers).await;
}

/// The world's sinks that received the message of `subject`: (host, arrived over TLS).
fn receivers(subject: &str) -> Vec<(String, bool, Vec<String>)> {
    common::received(subject)
        .into_iter()
        .map(|(s, m)| {
            (
                s.addr.to_string() + " " + &s.fqdn,
                m.tls.is_some(),
                m.rcpt_to,
            )
        })
        .collect()
}

fn expectation(mode: Mode, row: &(&str, &str, Expect, Expect)) -> Expect {
    match mode {
        Mode::Mandatory => row.2,
        Mode::Opportunistic => row.3,
    }
}

async fn run_table(mode: Mode) {
    let w = MailWorld::get();
    let (gw, _dir) = gateway(mode).await;
    let listener = gw.listeners()[0].1;
    for &(domain, ..) in TABLE_ROWS {
        submit(listener, mode, domain).await;
    }
    let store = gw.store();
    let start = Instant::now();
    let mut pending: Vec<_> = TABLE_ROWS.to_vec();
    let mut wrong = Vec::new();
    while !pending.is_empty() && start.elapsed() < DEADLINE {
        let mut still = Vec::new();
        for row in pending {
            let (domain, cells, ..) = row;
            let want = expectation(mode, &row);
            let subject = subject(mode, domain);
            match want {
                Expect::DaneSuccess | Expect::Fallback => {
                    let got = receivers(&subject);
                    let queued = store.list(Some(domain), 10).await.unwrap();
                    if got.is_empty() || !queued.is_empty() {
                        // Not yet delivered, or delivered but not yet settled. An attempt
                        // that ended with the recipient still queued is a failure.
                        if let Some(r) = queued.iter().find(|r| r.attempts >= 1 && !r.in_flight) {
                            wrong.push(format!(
                                "{domain} [{cells}] {mode:?}: want {want:?}, still queued after {} attempt(s): {:?}",
                                r.attempts, r.last_reason
                            ));
                            continue;
                        }
                        still.push(row);
                        continue;
                    }
                    let host = mailworld::mx_hosts(domain)[0];
                    let sink_addr = w.host(host).addr.to_string();
                    if got.len() != 1 || !got[0].0.starts_with(&format!("{sink_addr} ")) {
                        wrong.push(format!(
                            "{domain} [{cells}] {mode:?}: want one delivery to {host} ({sink_addr}), got {got:?}"
                        ));
                    } else if !got[0].1 {
                        wrong.push(format!(
                            "{domain} [{cells}] {mode:?}: delivered to {host} without TLS (it offers STARTTLS)"
                        ));
                    } else if got[0].2 != vec![rcpt(domain)] {
                        wrong.push(format!(
                            "{domain} [{cells}] {mode:?}: RCPT TO {:?}",
                            got[0].2
                        ));
                    }
                }
                Expect::DaneFail => {
                    let queued = store.list(Some(domain), 10).await.unwrap();
                    let got = receivers(&subject);
                    if !got.is_empty() {
                        wrong.push(format!(
                            "{domain} [{cells}] {mode:?}: DANE FAIL row was delivered: {got:?}"
                        ));
                        continue;
                    }
                    match queued.as_slice() {
                        [r] if r.attempts >= 1 && !r.in_flight => {
                            let reason = r.last_reason.clone().unwrap_or_default();
                            if r.state != RcptState::Queued
                                || !reason.contains(&format!("DANE FAILED for {domain}"))
                            {
                                wrong.push(format!(
                                    "{domain} [{cells}] {mode:?}: want queued with \"DANE FAILED for {domain}\", got {:?}: {reason:?}",
                                    r.state
                                ));
                            }
                        }
                        [_] => still.push(row),
                        other => wrong.push(format!(
                            "{domain} [{cells}] {mode:?}: want one queued recipient, got {other:?}"
                        )),
                    }
                }
                Expect::TempFail => unreachable!("no table row is a temporary failure"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (domain, cells, ..) in &pending {
        wrong.push(format!(
            "{domain} [{cells}] {mode:?}: not settled within {DEADLINE:?}: queue {:?}, received {:?}",
            store.list(Some(domain), 10).await.unwrap(),
            receivers(&subject(mode, domain))
        ));
    }
    // No DANE FAIL row reached any server, now that every row has settled.
    for row in TABLE_ROWS {
        let reported = wrong.iter().any(|w| w.starts_with(&format!("{} ", row.0)));
        if expectation(mode, row) == Expect::DaneFail && !reported {
            let got = receivers(&subject(mode, row.0));
            if !got.is_empty() {
                wrong.push(format!(
                    "{} {mode:?}: DANE FAIL row delivered: {got:?}",
                    row.0
                ));
            }
        }
    }
    gw.shutdown().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_mandatory_table_through_the_gateway() {
    run_table(Mode::Mandatory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_opportunistic_table_through_the_gateway() {
    run_table(Mode::Opportunistic).await;
}
