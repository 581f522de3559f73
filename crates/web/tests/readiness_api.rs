//! The Readiness page and its JSON API over a real gateway: a delivery attempt to a
//! domain whose DNS does not answer is shadow-evaluated (temporary failure for both
//! modes); the API and the page show it, the filters select it, and "Set DANE
//! Mandatory" goes through Destination Controls (validated, written, applied).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{bearer, env, login, post_form, request, submit_message, wait_deferred};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_api_page_filters_and_set_mandatory() {
    let e = env("").await;
    submit_message(e.smtp(), "bob@nodns.test", "shadow").await;
    wait_deferred(&e, "nodns.test").await;
    let auth = bearer(&e, "readiness");

    // The API: one row, a temporary failure for both modes.
    let start = Instant::now();
    let report: Value = loop {
        let r = request(
            e.web,
            "GET",
            "/api/v1/readiness?since=24h",
            &[("Authorization", &auth)],
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        if !v["rows"].as_array().unwrap().is_empty() {
            break v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no readiness row: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report["window"], "24 hours");
    assert_eq!(report["shadow_enabled"], Value::Bool(true));
    let row = &report["rows"][0];
    assert_eq!(row["domain"], "nodns.test");
    assert_eq!(row["messages"], 1);
    assert_eq!(row["mandatory"]["counts"]["temp"], 1);
    assert_eq!(row["opportunistic"]["counts"]["temp"], 1);
    assert_eq!(row["recommendation"]["code"], "temporary");
    assert_eq!(row["latest"]["mandatory"]["verdict"], "temp-fail");
    // MTA-STS: the TXT lookup fails as every lookup of nodns.test does, and with
    // nothing cached that is no policy (as on the delivery path).
    assert_eq!(row["latest"]["mta_sts"]["verdict"], "no-policy", "{row:#}");
    assert_eq!(row["mta_sts"]["recommendation"]["code"], "no-policy");
    // A bad window: 400 naming it; no token: 401.
    let r = request(
        e.web,
        "GET",
        "/api/v1/readiness?since=90d",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("31 days"), "{}", r.body);
    let r = request(e.web, "GET", "/api/v1/readiness", &[], b"").await;
    assert_eq!(r.status, 401);

    // Delivery Status (API) carries the shadow result of the latest attempt.
    let r = request(
        e.web,
        "GET",
        "/api/v1/delivery-status/nodns.test",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    let h: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        h["counts"]["last"]["shadow"]["mandatory"]["verdict"], "temp-fail",
        "{h:#}"
    );

    // The page, with its chart and filters.
    let (cookie, csrf) = login(&e).await;
    let page = request(
        e.web,
        "GET",
        "/readiness?since=24h",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<tr data-domain="nodns.test" data-filter="other">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="readiness-chart""#));
    // The MTA-STS enforce column with its recommendation.
    assert!(page.body.contains("MTA-STS enforce would"), "{}", page.body);
    assert!(
        page.body
            .contains(r#"data-sts-code="no-policy">publishes no MTA-STS policy<"#),
        "{}",
        page.body
    );
    let ready = request(
        e.web,
        "GET",
        "/readiness?since=24h&filter=ready",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert!(!ready.body.contains(r#"data-domain="nodns.test""#));
    assert!(ready.body.contains("No destination domain in this view."));

    // Set DANE Mandatory: a destination profile is added and applied.
    let r = post_form(
        &e,
        &cookie,
        "/readiness/nodns.test/set-mandatory?since=24h",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/readiness?since=24h&done=mandatory&d=nodns.test")
    );
    assert_eq!(
        e.running
            .config()
            .destination_for("nodns.test")
            .dane
            .as_str(),
        "mandatory"
    );
    let text = std::fs::read_to_string(&e.config_path).unwrap();
    assert!(text.contains("nodns.test"), "{text}");
    // The API does the same for another domain; the row now says Mandatory.
    let r = request(
        e.web,
        "POST",
        "/api/v1/readiness/other.test/set-dane-mandatory",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        e.running
            .config()
            .destination_for("other.test")
            .dane
            .as_str(),
        "mandatory"
    );
    let r = request(
        e.web,
        "GET",
        "/api/v1/readiness?since=24h",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["rows"][0]["dane"], "mandatory");
}
