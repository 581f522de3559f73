//! Regression (issue 10, point 8): "Deliver now" lifts the suspension of a destination
//! whose last attempt failed before any transaction. It used to make the recipients due
//! only, so they were deferred again with "delivery temporarily suspended" (and one
//! more attempt counted) until the suspension ended.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::{bearer, env, submit_message, wait_deferred};
use danegate_testkit::{
    host::free_port,
    smtp::{SinkOptions, SmtpSink},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_now_lifts_the_suspension_of_a_destination() {
    // down.test goes to a local port where nothing listens yet: the connection is
    // refused, the destination suspended for the bounce profile's first retry (60 s).
    let port = free_port();
    let e = env(&format!(
        r#"
[[smtp_route]]
domain = "down.test"
hosts = ["127.0.0.1:{port}"]

[[destination]]
domain = "down.test"
tls = "none"
dane = "none"
bounce_profile = "quick"
"#
    ))
    .await;
    let bearer = bearer(&e, "t");

    submit_message(e.smtp(), "bob@down.test", "x").await;

    wait_deferred(&e, "down.test").await;
    let store = e.running.store();

    // The queued recipient names the node holding it (one node: `[server] node`, by
    // default the host name's first label) in the API and on its Delivery Status page.
    let r = common::request(
        e.web,
        "GET",
        "/api/v1/queue?domain=down.test",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(q[0]["node"], "gw", "{q}");
    let mid = q[0]["mid"].as_u64().unwrap();
    let r = common::request(
        e.web,
        "GET",
        &format!("/api/v1/queue/{mid}"),
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    let m: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (&m["node"], &m["recipients"][0]["node"]),
        (&"gw".into(), &"gw".into()),
        "{m}"
    );
    let (cookie, _) = common::login(&e).await;
    let page = common::request(
        e.web,
        "GET",
        "/delivery-status/down.test",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert!(page.body.contains("<th>Node</th>"), "{}", page.body);
    assert!(
        page.body.contains(r#"<td class="node">gw</td>"#),
        "{}",
        page.body
    );

    // The server is up now; "Deliver now" (the API, which is Admin::deliver_now as the
    // web UI and the CLI are) delivers at once.
    let sink = SmtpSink::start(SinkOptions {
        bind: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        ..SinkOptions::default()
    });
    let r = common::request(
        e.web,
        "POST",
        "/api/v1/delivery-status/down.test/deliver-now",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let start = Instant::now();
    while sink.messages().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Deliver now did not deliver: {:?} {:?}",
            store.list(Some("down.test"), 10).await,
            e.running.last_outcomes().get("down.test")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sink.messages()[0].rcpt_to,
        vec!["bob@down.test".to_string()]
    );
}
