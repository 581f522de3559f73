//! The three endpoints over a stand-in probe: status codes, content types, the
//! readiness body, and the probe's refresh before each scrape.

#![cfg(feature = "exporter")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{body::Body, http::Request};
use danegate_metrics::{
    health::{BoxFuture, Check, Probe},
    http::router,
};
use tower::ServiceExt;

struct Fake {
    ready: bool,
    refreshed: AtomicUsize,
}

impl Probe for Fake {
    fn refresh(&self) -> BoxFuture<'_, ()> {
        self.refreshed.fetch_add(1, Ordering::SeqCst);
        danegate_metrics::queue_sample(danegate_metrics::QueueSample {
            queued: 7,
            ..Default::default()
        });
        Box::pin(async {})
    }

    fn readiness(&self) -> BoxFuture<'_, Vec<Check>> {
        let ready = self.ready;
        Box::pin(async move {
            vec![
                Check::ok("store", "the queue answers"),
                if ready {
                    Check::ok("dns", "127.0.0.1:53 DNSSEC ok")
                } else {
                    Check::failed("dns", "no upstream resolver passed the DNSSEC probe")
                },
            ]
        })
    }
}

async fn get(probe: Arc<Fake>, path: &str) -> (u16, String, String) {
    let res = router(probe)
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

fn fake(ready: bool) -> Arc<Fake> {
    Arc::new(Fake {
        ready,
        refreshed: AtomicUsize::new(0),
    })
}

#[tokio::test]
async fn healthz_and_readyz() {
    let (status, _, body) = get(fake(true), "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    let (status, ctype, body) = get(fake(true), "/readyz").await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["ready"], true);
    assert_eq!(j["not_ready"], serde_json::json!([]));

    let (status, _, body) = get(fake(false), "/readyz").await;
    assert_eq!(status, 503);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["ready"], false);
    assert_eq!(j["not_ready"], serde_json::json!(["dns"]));
    assert_eq!(
        j["checks"][1]["detail"],
        "no upstream resolver passed the DNSSEC probe"
    );

    let (status, _, _) = get(fake(true), "/nothing").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_refreshes_the_probe_then_renders_with_the_node_label() {
    danegate_metrics::exporter::install("node-a").unwrap();
    // A second install keeps the first node name.
    danegate_metrics::exporter::install("node-b").unwrap();
    assert!(danegate_metrics::exporter::installed());
    let probe = fake(true);
    let (status, ctype, body) = get(probe.clone(), "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(probe.refreshed.load(Ordering::SeqCst), 1);
    assert!(
        body.contains("danegate_queue_recipients{node=\"node-a\",state=\"queued\"} 7\n"),
        "{body}"
    );
    assert!(!body.contains("node-b"));
    for m in danegate_metrics::CATALOG {
        if !m.labels.iter().any(|l| l.values.is_empty()) || m.name.ends_with("build_info") {
            assert!(
                body.contains(&format!("# TYPE {} {}\n", m.name, m.kind.word())),
                "{} not registered",
                m.name
            );
            assert!(
                body.contains(&format!("# HELP {} {}\n", m.name, m.help)),
                "{}",
                m.name
            );
        }
    }
}
