#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Discovery, fetch and the persisted cache against the STS world: TXT through the
//! validating resolver on 127.0.0.1, the policy from an HTTPS server whose certificate
//! comes from a test CA the fetcher trusts.

use std::sync::OnceLock;
use std::time::Duration;

use danegate_dns::{Resolver, ResolverConfig, TrustAnchors, UpstreamConfig};
use danegate_https::{ClientOptions, HttpsClient, parse_ca_pem};
use danegate_mta_sts::fetch::Discovery;
use danegate_mta_sts::{FetchErrorKind, Fetcher, Mode, PolicyCache, ResultType, now_unix};
use danegate_testkit::https::Route;
use danegate_testkit::stsworld::{POLICY_PATH, StsWorld, policy_text};

fn world() -> &'static StsWorld {
    static W: OnceLock<StsWorld> = OnceLock::new();
    W.get_or_init(StsWorld::start)
}

fn resolver() -> Resolver {
    let w = world();
    let mut c = ResolverConfig::new(
        vec![UpstreamConfig {
            addr: w.dns_addr(),
            priority: 0,
        }],
        TrustAnchors::parse(w.anchor_ds(), "test").unwrap(),
    );
    c.timeout = Duration::from_secs(2);
    Resolver::new(c)
}

fn fetcher() -> Fetcher {
    let w = world();
    Fetcher {
        client: HttpsClient::new(ClientOptions {
            extra_roots: parse_ca_pem(w.ca_pem().as_bytes()).unwrap(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        })
        .unwrap(),
        port: w.https_port(),
    }
}

#[tokio::test]
async fn discovery_and_fetch() {
    let (r, f) = (resolver(), fetcher());
    match f.discover(&r, "enforce.sts.test").await {
        Discovery::Record(rec) => assert_eq!(rec.id, "1"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.discover(&r, "notxt.sts.test").await,
        Discovery::NoPolicy(_)
    ));
    let p = f.fetch(&r, "enforce.sts.test").await.unwrap();
    assert_eq!(p.mode, Mode::Enforce);
    assert!(p.mx_matches("mx-good.stshosts.test"));
    assert_eq!(p.max_age, 86_400);

    let kind = |d: &'static str| {
        let (r, f) = (r.clone(), f.clone());
        async move { f.fetch(&r, d).await.unwrap_err() }
    };
    let e = kind("badcert.sts.test").await;
    assert_eq!(e.kind, FetchErrorKind::Webpki, "{e}");
    assert_eq!(e.result_type(), ResultType::StsWebpkiInvalid);
    let e = kind("notfound.sts.test").await;
    assert_eq!(e.kind, FetchErrorKind::Fetch, "{e}");
    assert!(e.detail.contains("404"), "{e}");
    let e = kind("redirect.sts.test").await;
    assert_eq!(e.kind, FetchErrorKind::Fetch, "{e}");
    assert!(e.detail.contains("redirect"), "{e}");
    let e = kind("invalid.sts.test").await;
    assert_eq!(e.kind, FetchErrorKind::Invalid, "{e}");
    assert_eq!(e.result_type(), ResultType::StsPolicyInvalid);
}

#[tokio::test]
async fn cache_persists_keeps_policy_on_failures_and_follows_id_changes() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let r = resolver();
    let host = w.policy_host("cached.sts.test");

    let cache = PolicyCache::open(dir.path(), fetcher());
    let res = cache.resolve(&r, "cached.sts.test").await;
    let p = res.policy.expect("fetched");
    assert_eq!((p.id.as_str(), p.policy.mode), ("1", Mode::Enforce));
    let fetches = host.requests_for(POLICY_PATH).len();
    // Same id: from the cache, no fetch.
    let again = cache.resolve(&r, "cached.sts.test").await.policy.unwrap();
    assert_eq!(again, p);
    assert_eq!(host.requests_for(POLICY_PATH).len(), fetches);
    drop(cache);

    // A restart: the file brings the policy back; a failed TXT lookup and a policy host
    // answering 404 leave it in force.
    w.fail_cached_txt(true);
    host.set_route(POLICY_PATH, Route::status(404));
    let cache = PolicyCache::open(dir.path(), fetcher());
    assert_eq!(cache.get("cached.sts.test").as_ref(), Some(&p));
    let res = cache.resolve(&r, "cached.sts.test").await;
    assert_eq!(res.policy.as_ref(), Some(&p), "kept on TXT failure");
    w.fail_cached_txt(false);
    // Proactive refresh due (clock moved past half of max_age): the fetch fails (404),
    // the cached policy stays.
    let later = now_unix() + 50_000;
    let res = cache.resolve_at(&r, "cached.sts.test", later).await;
    assert_eq!(res.policy.as_ref(), Some(&p), "kept on fetch failure");
    assert!(res.failure.is_none());
    // Expired: nothing is in force any more, and the failure is reported.
    let res = cache
        .resolve_at(&r, "cached.sts.test", now_unix() + 90_000)
        .await;
    assert!(res.policy.is_none());
    assert_eq!(
        res.failure.as_ref().map(|f| f.0),
        Some(ResultType::StsPolicyFetchError)
    );
    // The policy host serves a new policy: fetched on the refresh.
    host.set_route(
        POLICY_PATH,
        Route::text(&policy_text("testing", &["mx-good.stshosts.test"], 3600)),
    );
    let res = cache.resolve_at(&r, "cached.sts.test", later).await;
    let newer = res.policy.unwrap();
    assert_eq!(newer.policy.mode, Mode::Testing);
    assert_eq!(newer.fetched, later);
    host.set_route(
        POLICY_PATH,
        Route::text(&policy_text("enforce", &["mx-good.stshosts.test"], 86_400)),
    );
}

#[tokio::test]
async fn no_txt_means_no_policy_even_with_a_file_served() {
    let cache = PolicyCache::in_memory(fetcher());
    let res = cache.resolve(&resolver(), "notxt.sts.test").await;
    assert_eq!(res.policy, None);
    assert_eq!(res.failure, None);
    assert!(
        world().policy_host("notxt.sts.test").requests().is_empty(),
        "the policy host is not asked without a TXT record"
    );
}
