//! The web UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
//! driven over WebDriver): log in, add a destination control with TLS Required and DANE
//! Mandatory, see the DANE select disabled while TLS Support is None, see the inline
//! error for 1001 concurrent connections, see a queued domain on Delivery Status and
//! click "Deliver now" — after which the message really is delivered, long before its
//! retry time; on Readiness, see the chart, filter, and set DANE Mandatory for a domain.
//!
//! Skipped, with a note, when /usr/bin/chromedriver is absent (.ci/run installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::{
    net::SocketAddr,
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{PASSWORD, env, submit_message, wait_deferred};
use danegate_testkit::{
    host::{self, free_port},
    smtp::{SinkOptions, SmtpSink},
};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromedriver in its own process group; the group (chromedriver and the Chromium it
/// started) is killed when dropped, also when the test panics.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_browser() -> Option<(Driver, Client)> {
    // apt-get install chromium chromium-driver (.ci/run does)
    if !host::require_file(Path::new(CHROMEDRIVER)) || !host::require_file(Path::new(CHROMIUM)) {
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    Some((driver, client))
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
}

async fn wait_css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("waiting for {selector}: {e}"))
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_headless_chromium() {
    // later.test goes by an SMTP route to a local server that answers 450 at first: its
    // mail stays queued (retry in 60 s) until the test clicks "Deliver now".
    let later_port = free_port();
    let e = env(&format!(
        r#"
[[smtp_route]]
domain = "later.test"
hosts = ["127.0.0.1:{later_port}"]

[[destination]]
domain = "later.test"
tls = "none"
dane = "none"
bounce_profile = "quick"
"#
    ))
    .await;
    let Some((_driver, c)) = start_browser().await else {
        return;
    };
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();

    // Log in.
    c.goto(&e.url("/destinations")).await.unwrap();
    assert_eq!(path_of(&c).await, "/login", "redirected to the login page");
    css(&c, "#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    css(&c, "#login-submit").await.click().await.unwrap();
    wait_css(&c, "#delivery-status").await;
    assert_eq!(path_of(&c).await, "/delivery-status");

    // Add a destination: TLS Required + DANE Mandatory. DANE is inactive while TLS is None.
    c.goto(&e.url("/destinations/new")).await.unwrap();
    css(&c, "#domain")
        .await
        .send_keys("dane.example")
        .await
        .unwrap();
    let tls = css(&c, "#tls").await;
    let dane = css(&c, "#dane").await;
    tls.select_by_value("none").await.unwrap();
    assert_eq!(
        dane.prop("disabled").await.unwrap().as_deref(),
        Some("true"),
        "DANE select disabled while TLS Support is None"
    );
    assert!(!dane.is_enabled().await.unwrap());
    tls.select_by_value("required").await.unwrap();
    assert!(dane.is_enabled().await.unwrap(), "enabled once TLS is on");
    dane.select_by_value("mandatory").await.unwrap();
    // 1001 concurrent connections: refused, the error next to the field.
    css(&c, "#max_concurrent_connections")
        .await
        .clear()
        .await
        .unwrap();
    css(&c, "#max_concurrent_connections")
        .await
        .send_keys("1001")
        .await
        .unwrap();
    assert!(
        css(&c, "#conn_max").await.is_selected().await.unwrap(),
        "typing a maximum selects its radio"
    );
    css(&c, "#submit").await.click().await.unwrap();
    let err = wait_css(&c, "span.error[data-field=max_concurrent_connections]").await;
    let text = err.text().await.unwrap();
    assert!(text.contains("1000"), "{text}");
    // The form kept what was typed, DANE still Mandatory and enabled.
    let dane = css(&c, "#dane").await;
    assert!(dane.is_enabled().await.unwrap());
    assert_eq!(
        dane.prop("value").await.unwrap().as_deref(),
        Some("mandatory")
    );
    assert_eq!(
        css(&c, "#max_concurrent_connections")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("1001")
    );
    // Correct it and submit: committed.
    let conn = css(&c, "#max_concurrent_connections").await;
    conn.clear().await.unwrap();
    conn.send_keys("100").await.unwrap();
    css(&c, "#submit").await.click().await.unwrap();
    wait_css(&c, "#done").await;
    assert_eq!(path_of(&c).await, "/destinations");
    css(&c, "tr[data-domain='dane.example']").await;
    let config = e.running.config();
    let p = config.destination_for("dane.example");
    assert_eq!(p.dane.as_str(), "mandatory");
    assert_eq!(p.tls.as_str(), "required");
    assert_eq!(p.max_concurrent_connections, 100);

    // A queued domain on Delivery Status: later.test's server says 450 for now.
    let busy = SmtpSink::start(SinkOptions {
        bind: Some(SocketAddr::from(([127, 0, 0, 1], later_port))),
        tempfail: vec!["bob@later.test".into()],
        ..SinkOptions::default()
    });
    submit_message(e.smtp(), "bob@later.test", "held for the browser").await;
    wait_deferred(&e, "later.test").await;
    let store = e.running.store();
    drop(busy);
    c.goto(&e.url("/delivery-status")).await.unwrap();
    let row = css(&c, "tr[data-domain='later.test']").await;
    let cells = row.find_all(Locator::Css("td")).await.unwrap();
    assert_eq!(cells[1].text().await.unwrap(), "1", "one active recipient");
    // Sortable: by delivered, ascending.
    css(&c, "th a[data-sort=delivered]")
        .await
        .click()
        .await
        .unwrap();
    wait_css(&c, "#delivery-status").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("sort=delivered")
    );
    css(&c, "tr[data-domain='later.test'] a")
        .await
        .click()
        .await
        .unwrap();
    wait_css(&c, "#queued").await;
    assert_eq!(path_of(&c).await, "/delivery-status/later.test");
    let queued = css(&c, "#queued").await.text().await.unwrap();
    assert!(queued.contains("bob@later.test"), "{queued}");

    // The server now accepts; "Deliver now" sends the message without waiting for the
    // retry timer (the bounce profile retries after 60 s).
    let sink = SmtpSink::start(SinkOptions {
        bind: Some(SocketAddr::from(([127, 0, 0, 1], later_port))),
        ..SinkOptions::default()
    });
    css(&c, "#deliver-now").await.click().await.unwrap();
    let done = wait_css(&c, "#done").await.text().await.unwrap();
    assert!(done.contains("later.test"), "{done}");
    let start = Instant::now();
    while sink.messages().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Deliver now did not deliver ({done}): {:?} {:?}",
            store.list(Some("later.test"), 10).await,
            e.running.last_outcomes().get("later.test")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sink.messages()[0].rcpt_to,
        vec!["bob@later.test".to_string()]
    );

    // Readiness: a delivery attempt to a domain whose DNS does not answer was
    // shadow-evaluated; the page shows it with the chart, the filters select it, and
    // "Set DANE Mandatory" (confirmed) commits it through Destination Controls.
    submit_message(e.smtp(), "carol@nodns.test", "shadow in the browser").await;
    wait_deferred(&e, "nodns.test").await;
    c.goto(&e.url("/readiness?since=24h")).await.unwrap();
    wait_css(&c, "#readiness").await;
    css(&c, "#readiness-chart rect[data-part=undecided]").await;
    let row = css(&c, "tr[data-domain='nodns.test']").await;
    let rec = row
        .find(Locator::Css("td.recommendation"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rec.contains("temporary DNS failures"), "{rec}");
    css(&c, "#filters a[data-filter=ready]")
        .await
        .click()
        .await
        .unwrap();
    wait_css(&c, "#filters strong[data-filter=ready]").await;
    assert!(
        c.find(Locator::Css("tr[data-domain='nodns.test']"))
            .await
            .is_err(),
        "the Ready filter hides a domain that is not ready"
    );
    c.goto(&e.url("/readiness?since=24h")).await.unwrap();
    css(&c, "tr[data-domain='nodns.test'] button.set-mandatory")
        .await
        .click()
        .await
        .unwrap();
    c.accept_alert().await.unwrap();
    let done = wait_css(&c, "#done").await.text().await.unwrap();
    assert!(done.contains("nodns.test"), "{done}");
    assert_eq!(
        e.running
            .config()
            .destination_for("nodns.test")
            .dane
            .as_str(),
        "mandatory"
    );

    // Log out: the pages are closed again.
    css(&c, "#logout").await.click().await.unwrap();
    wait_css(&c, "#password").await;
    c.goto(&e.url("/delivery-status")).await.unwrap();
    assert_eq!(path_of(&c).await, "/login");
    c.close().await.unwrap();
}
