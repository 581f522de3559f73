//! The web UI and the JSON API over real HTTP against an in-process gateway: access
//! control (login, sessions, CSRF, rate limit, bearer tokens), the Destination Controls
//! form with its inline errors, and the API's operations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use common::{FORM, PASSWORD, bearer, env, form, login, post_form, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_password_the_ui_says_how_to_set_one() {
    let e = env("").await;
    let r = request(e.web, "GET", "/login", &[], b"").await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("danegate web-passwd"), "{}", r.body);
    assert!(
        !r.body.contains("name=\"password\""),
        "no login form without a password"
    );
    // and nothing else is reachable
    let r = request(e.web, "GET", "/delivery-status", &[], b"").await;
    assert_eq!(r.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_are_refused() {
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    for path in [
        "/destinations",
        "/destinations/new",
        "/destinations/default",
        "/delivery-status",
        "/delivery-status/example.com",
        "/routes",
        "/dns",
    ] {
        let r = request(e.web, "GET", path, &[], b"").await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some("/login"), "{path}");
    }
    // A forged cookie is no session.
    let fake = format!("danegate_session={}", "ab".repeat(32));
    let r = request(e.web, "GET", "/destinations", &[("Cookie", &fake)], b"").await;
    assert_eq!(r.status, 303);
    // A POST without a session is refused before anything happens.
    let r = request(
        e.web,
        "POST",
        "/destinations",
        &[FORM],
        &form(&[("domain", "x.test")]),
    )
    .await;
    assert_eq!(r.status, 403);
    // The API wants a bearer token.
    for (m, p) in [
        ("GET", "/api/v1/destinations"),
        ("POST", "/api/v1/destinations"),
        ("GET", "/api/v1/delivery-status"),
        ("DELETE", "/api/v1/routes/x.test"),
        ("PUT", "/api/v1/dns"),
        ("GET", "/api/v1/nothing-here"),
    ] {
        let r = request(e.web, m, p, &[], b"{}").await;
        assert_eq!(r.status, 401, "{m} {p}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"danegate\"")
        );
    }
    let r = request(
        e.web,
        "GET",
        "/api/v1/destinations",
        &[("Authorization", "Bearer dgw_0000")],
        b"",
    )
    .await;
    assert_eq!(r.status, 401);
    // A session cookie is not an API credential.
    let (cookie, _) = login(&e).await;
    let r = request(
        e.web,
        "GET",
        "/api/v1/destinations",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_and_headers() {
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    let r = request(e.web, "GET", "/login", &[], b"").await;
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    let id = r.session_cookie().unwrap();
    assert_eq!(id.len(), "danegate_session=".len() + 64, "256-bit id");
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    // Login replaces the pre-login session id (no fixation).
    let (cookie, csrf) = login(&e).await;
    assert_ne!(cookie, id);
    // Logout ends the session.
    let r = post_form(&e, &cookie, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    let r = request(e.web, "GET", "/destinations", &[("Cookie", &cookie)], b"").await;
    assert_eq!(r.status, 303, "logged out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused() {
    let e = env("").await;
    let (cookie, csrf) = login(&e).await;
    let add = [
        ("domain", "csrf.test"),
        ("conn_mode", "default"),
        ("msgs_mode", "default"),
        ("rcpt_mode", "default"),
    ];
    for token in [None, Some("0".repeat(64)), Some(String::new())] {
        let mut pairs = add.to_vec();
        if let Some(t) = &token {
            pairs.push(("csrf", t));
        }
        let r = request(
            e.web,
            "POST",
            "/destinations",
            &[FORM, ("Cookie", &cookie)],
            &form(&pairs),
        )
        .await;
        assert_eq!(r.status, 403, "token {token:?}: {}", r.body);
    }
    for path in [
        "/logout",
        "/destinations/default/delete",
        "/delivery-status/x.test/deliver-now",
        "/delivery-status/x.test/bounce",
        "/routes",
        "/routes/x.test/delete",
        "/dns",
    ] {
        let r = request(e.web, "POST", path, &[FORM, ("Cookie", &cookie)], b"").await;
        assert_eq!(r.status, 403, "{path}");
    }
    // The login form needs its token too.
    let r = request(
        e.web,
        "POST",
        "/login",
        &[FORM],
        &form(&[("password", PASSWORD)]),
    )
    .await;
    assert_eq!(r.status, 403);
    // Cross-origin POST with the right token: refused.
    let mut pairs = add.to_vec();
    pairs.push(("csrf", &csrf));
    let r = request(
        e.web,
        "POST",
        "/destinations",
        &[FORM, ("Cookie", &cookie), ("Origin", "http://evil.example")],
        &form(&pairs),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        !std::fs::read_to_string(&e.config_path)
            .unwrap()
            .contains("csrf.test"),
        "nothing was written"
    );
    // And with it, from the page itself: accepted.
    let r = request(
        e.web,
        "POST",
        "/destinations",
        &[
            FORM,
            ("Cookie", &cookie),
            ("Origin", &format!("http://{}", e.web)),
        ],
        &form(&pairs),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() {
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, PASSWORD).unwrap();
    let page = request(e.web, "GET", "/login", &[], b"").await;
    let cookie = page.session_cookie().unwrap();
    let csrf = page.csrf();
    let attempt = |pw: &'static str| {
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        let web = e.web;
        async move {
            request(
                web,
                "POST",
                "/login",
                &[FORM, ("Cookie", &cookie)],
                &form(&[("csrf", &csrf), ("password", pw)]),
            )
            .await
        }
    };
    for i in 0..5 {
        let r = attempt("wrong password").await;
        assert_eq!(r.status, 401, "attempt {i}");
        assert!(r.body.contains("Wrong password"));
    }
    let r = attempt("wrong password").await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Even the right password waits for the window to pass.
    let r = attempt(PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.session_cookie().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_form_shows_errors_next_to_fields_and_commits_good_input() {
    let e = env("").await;
    let (cookie, csrf) = login(&e).await;
    let r = request(
        e.web,
        "GET",
        "/destinations/new",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    for id in [
        "id=\"domain\"",
        "id=\"ip_preference\"",
        "id=\"max_concurrent_connections\"",
        "id=\"max_messages_per_connection\"",
        "id=\"recipient_limit\"",
        "id=\"recipient_limit_per_minutes\"",
        "name=\"apply_limits\"",
        "id=\"tls\"",
        "id=\"dane\"",
        "id=\"bounce_profile\"",
        "id=\"bounce_verification\"",
    ] {
        assert!(r.body.contains(id), "{id}");
    }
    assert!(r.body.contains("Perform address tagging"), "{}", r.body);
    assert!(
        r.body
            .contains(r#"<option value="" selected>Use Default (No)</option>"#),
        "{}",
        r.body
    );
    let bad = form(&[
        ("csrf", &csrf),
        ("domain", "ietf.org"),
        ("ip_preference", ""),
        ("conn_mode", "max"),
        ("max_concurrent_connections", "1001"),
        ("msgs_mode", "default"),
        ("max_messages_per_connection", "50"),
        ("rcpt_mode", "default"),
        ("recipient_limit", "0"),
        ("recipient_limit_per_minutes", "60"),
        ("apply_limits", ""),
        ("tls", "required"),
        ("dane", "mandatory"),
        ("bounce_profile", ""),
    ]);
    let r = request(
        e.web,
        "POST",
        "/destinations",
        &[FORM, ("Cookie", &cookie)],
        &bad,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let b = &r.body;
    let input = b.find("id=\"max_concurrent_connections\"").unwrap();
    let err = b
        .find("data-field=\"max_concurrent_connections\"")
        .expect("an error for the field");
    let next_row = b.find("id=\"msgs_default\"").unwrap();
    assert!(
        input < err && err < next_row,
        "the error sits next to its field"
    );
    assert!(b[err..next_row].contains("1000"), "{}", &b[err..next_row]);
    // What was typed is kept.
    assert!(b.contains("value=\"1001\""));
    assert!(b.contains("value=\"ietf.org\""));
    assert!(
        !std::fs::read_to_string(&e.config_path)
            .unwrap()
            .contains("ietf.org")
    );

    // DANE Mandatory with TLS None: refused server-side, next to the DANE field.
    let r = post_form(
        &e,
        &cookie,
        "/destinations",
        &[
            ("csrf", &csrf),
            ("domain", "ietf.org"),
            ("conn_mode", "default"),
            ("msgs_mode", "default"),
            ("rcpt_mode", "default"),
            ("tls", "none"),
            ("dane", "mandatory"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("data-field=\"dane\""), "{}", r.body);

    // Good input: written, committed, listed.
    let good = form(&[
        ("csrf", &csrf),
        ("domain", "ietf.org"),
        ("conn_mode", "max"),
        ("max_concurrent_connections", "20"),
        ("msgs_mode", "default"),
        ("rcpt_mode", "max"),
        ("recipient_limit", "100"),
        ("recipient_limit_per_minutes", "10"),
        ("tls", "required"),
        ("dane", "mandatory"),
        ("bounce_verification", "yes"),
    ]);
    let r = request(
        e.web,
        "POST",
        "/destinations",
        &[FORM, ("Cookie", &cookie)],
        &good,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let p = e.running.config();
    let d = p.destination_for("ietf.org");
    assert!(d.bounce_verification, "saved");
    assert!(
        std::fs::read_to_string(&e.config_path)
            .unwrap()
            .contains("bounce_verification = true")
    );
    assert_eq!(d.max_concurrent_connections, 20);
    assert_eq!(d.dane.as_str(), "mandatory");
    assert_eq!(d.tls.as_str(), "required");
    assert_eq!(d.recipient_limit.unwrap().recipients, 100);
    assert!(
        std::fs::read_to_string(&e.config_path)
            .unwrap()
            .contains("ietf.org")
    );
    let list = request(
        e.web,
        "GET",
        r.header("location").unwrap(),
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert!(list.body.contains("data-domain=\"ietf.org\""));
    assert!(list.body.contains("id=\"done\""));

    // Edit: back to the default connections; the rest stays.
    let edit = request(
        e.web,
        "GET",
        "/destinations/ietf.org",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(edit.status, 200);
    assert!(
        edit.body.contains(r#"<option value="mandatory" selected>"#),
        "{}",
        edit.body
    );
    assert!(
        edit.body
            .contains(r#"<option value="yes" selected>Yes</option>"#),
        "{}",
        edit.body
    );
    let r = post_form(
        &e,
        &cookie,
        "/destinations/ietf.org",
        &[
            ("csrf", &csrf),
            ("conn_mode", "default"),
            ("msgs_mode", "default"),
            ("rcpt_mode", "default"),
            ("tls", "required"),
            ("dane", "mandatory"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let p = e.running.config();
    let d = p.destination_for("ietf.org");
    assert_eq!(d.max_concurrent_connections, 500);
    assert_eq!(d.dane.as_str(), "mandatory");
    assert!(d.recipient_limit.is_none());
    assert!(
        !d.bounce_verification,
        "Use Default: back to the default profile's No"
    );

    // Delete.
    let r = post_form(
        &e,
        &cookie,
        "/destinations/ietf.org/delete",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        !std::fs::read_to_string(&e.config_path)
            .unwrap()
            .contains("ietf.org")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_and_dns_pages() {
    let e = env("").await;
    let (cookie, csrf) = login(&e).await;
    let r = post_form(
        &e,
        &cookie,
        "/routes",
        &[
            ("csrf", &csrf),
            ("domain", "internal.test"),
            ("hosts", "127.0.0.1:2526, 127.0.0.2"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = request(e.web, "GET", "/routes", &[("Cookie", &cookie)], b"").await;
    assert!(
        page.body.contains("data-domain=\"internal.test\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("127.0.0.1:2526"));
    // DANE on the default profile cannot verify a fixed host: the page warns.
    assert!(page.body.contains("class=\"warning\""), "{}", page.body);
    let bad = post_form(
        &e,
        &cookie,
        "/routes",
        &[("csrf", &csrf), ("domain", "bad domain!"), ("hosts", "")],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("class=\"error\""), "{}", bad.body);
    let r = post_form(
        &e,
        &cookie,
        "/routes/internal.test/delete",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(e.running.config().smtp_routes.is_empty());
    let dns = request(e.web, "GET", "/dns", &[("Cookie", &cookie)], b"").await;
    assert_eq!(dns.status, 200);
    assert!(dns.body.contains("127.0.0.1:9"), "{}", dns.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_api_create_list_edit_delete() {
    let e = env("").await;
    let bearer = bearer(&e, "test");
    let auth = ("Authorization", bearer.as_str());
    let json = ("Content-Type", "application/json");

    let r = request(
        e.web,
        "POST",
        "/api/v1/destinations",
        &[auth, json],
        br#"{"domain":"api.test","tls":"required","dane":"mandatory","max_concurrent_connections":"10"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["domain"], "api.test");
    assert_eq!(v["dane"], "mandatory");
    assert_eq!(v["max_concurrent_connections"], 10);

    let r = request(
        e.web,
        "POST",
        "/api/v1/destinations",
        &[auth, json],
        br#"{"domain":"api2.test","max_concurrent_connections":"1001"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errors"][0]["field"], "max_concurrent_connections");

    let r = request(
        e.web,
        "POST",
        "/api/v1/destinations",
        &[auth, json],
        b"{not json",
    )
    .await;
    assert_eq!(r.status, 400);

    let r = request(e.web, "GET", "/api/v1/destinations", &[auth], b"").await;
    assert_eq!(r.status, 200);
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    assert!(list[0]["is_default"].as_bool().unwrap());
    assert!(list.iter().any(|d| d["domain"] == "api.test"));
    assert!(!list.iter().any(|d| d["domain"] == "api2.test"));

    let r = request(
        e.web,
        "PUT",
        "/api/v1/destinations/api.test",
        &[auth, json],
        br#"{"domain":"api.test","max_concurrent_connections":"42"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["max_concurrent_connections"], 42);
    assert_eq!(v["dane"], "mandatory", "unchanged fields stay");
    assert_eq!(v["bounce_verification"], false);

    let r = request(
        e.web,
        "PUT",
        "/api/v1/destinations/api.test",
        &[auth, json],
        br#"{"domain":"api.test","bounce_verification":true}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["bounce_verification"], true);
    let r = request(
        e.web,
        "PUT",
        "/api/v1/destinations/api.test",
        &[auth, json],
        br#"{"domain":"api.test","bounce_verification":"no"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["bounce_verification"], false);
    assert_eq!(v["max_concurrent_connections"], 42, "unchanged fields stay");
    let r = request(
        e.web,
        "PUT",
        "/api/v1/destinations/api.test",
        &[auth, json],
        br#"{"domain":"api.test","bounce_verification":"maybe"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errors"][0]["field"], "bounce_verification");

    let r = request(e.web, "GET", "/api/v1/destinations/api.test", &[auth], b"").await;
    assert_eq!(r.status, 200);
    let r = request(
        e.web,
        "DELETE",
        "/api/v1/destinations/api.test",
        &[auth],
        b"",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = request(e.web, "GET", "/api/v1/destinations/api.test", &[auth], b"").await;
    assert_eq!(r.status, 404);
    let r = request(
        e.web,
        "DELETE",
        "/api/v1/destinations/api.test",
        &[auth],
        b"",
    )
    .await;
    assert_eq!(r.status, 404);

    // Routes
    let r = request(
        e.web,
        "POST",
        "/api/v1/routes",
        &[auth, json],
        br#"{"domain":"internal.test","hosts":["USEDNS"]}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = request(e.web, "GET", "/api/v1/routes", &[auth], b"").await;
    assert!(r.body.contains("internal.test"), "{}", r.body);
    let r = request(
        e.web,
        "PUT",
        "/api/v1/routes/internal.test",
        &[auth, json],
        br#"{"hosts":["127.0.0.1:2526"]}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = request(
        e.web,
        "DELETE",
        "/api/v1/routes/internal.test",
        &[auth],
        b"",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Status, DNS, queue
    for p in [
        "/api/v1/delivery-status?sort=active&order=desc",
        "/api/v1/delivery-status/example.com",
        "/api/v1/dns",
        "/api/v1/queue",
    ] {
        let r = request(e.web, "GET", p, &[auth], b"").await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        let _: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    }
    let r = request(e.web, "GET", "/api/v1/queue/12345", &[auth], b"").await;
    assert_eq!(r.status, 404);
    let r = request(
        e.web,
        "POST",
        "/api/v1/delivery-status/example.com/deliver-now",
        &[auth],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_profile_is_edited_in_the_same_form() {
    let e = env("").await;
    let (cookie, csrf) = login(&e).await;
    let page = request(
        e.web,
        "GET",
        "/destinations/default",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Built-in default (500)"),
        "{}",
        page.body
    );
    let r = post_form(
        &e,
        &cookie,
        "/destinations/default",
        &[
            ("csrf", &csrf),
            ("ip_preference", "ipv4-preferred"),
            ("conn_mode", "max"),
            ("max_concurrent_connections", "700"),
            ("msgs_mode", "default"),
            ("rcpt_mode", "default"),
            ("apply_limits", "system-wide"),
            ("tls", "preferred"),
            ("dane", "opportunistic"),
            ("bounce_profile", "default"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let c = e.running.config();
    assert_eq!(c.default_destination.max_concurrent_connections, 700);
    assert_eq!(
        c.default_destination.ip_preference.as_str(),
        "ipv4-preferred"
    );
    // A destination without its own value follows it, and the form says so.
    let page = request(
        e.web,
        "GET",
        "/destinations/new",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert!(page.body.contains("Use Default (700)"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_form_saves_and_shows_errors_next_to_fields() {
    let e = env("").await;
    let (cookie, csrf) = login(&e).await;
    // A valid change: persisted, applied, shown.
    let r = post_form(
        &e,
        &cookie,
        "/dns",
        &[
            ("csrf", &csrf),
            ("resolvers", "127.0.0.1:9 0\r\n127.0.0.2:5353 7\r\n"),
            ("timeout_secs", "2"),
            ("trust_anchor_file", ""),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/dns?done=dns-saved"));
    let file = std::fs::read_to_string(&e.config_path).unwrap();
    assert!(file.contains("127.0.0.2:5353"), "{file}");
    assert!(file.contains("timeout_secs = 2"), "{file}");
    let c = e.running.config();
    assert_eq!(c.dns.resolvers.len(), 2);
    assert_eq!(c.dns.timeout.as_secs(), 2);
    let page = request(
        e.web,
        "GET",
        "/dns?done=dns-saved",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("127.0.0.2:5353"), "{}", page.body);
    assert!(page.body.contains("id=\"done\""), "{}", page.body);
    assert!(page.body.contains("id=\"dns-form\""), "{}", page.body);

    // A bad resolver line: 422, the error next to the field, nothing changed.
    let bad = post_form(
        &e,
        &cookie,
        "/dns",
        &[
            ("csrf", &csrf),
            ("resolvers", "127.0.0.1:9 0\nnot-an-ip 5"),
            ("timeout_secs", "2"),
            ("trust_anchor_file", ""),
        ],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("data-field=\"resolvers\""),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("line 2"), "{}", bad.body);
    assert!(bad.body.contains("not-an-ip"), "{}", bad.body);
    let bad = post_form(
        &e,
        &cookie,
        "/dns",
        &[("csrf", &csrf), ("resolvers", ""), ("timeout_secs", "99")],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("data-field=\"timeout_secs\""),
        "{}",
        bad.body
    );
    assert_eq!(e.running.config().dns.resolvers.len(), 2, "unchanged");
    let file = std::fs::read_to_string(&e.config_path).unwrap();
    assert!(!file.contains("not-an-ip"), "{file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_api_put_dns() {
    let e = env("").await;
    let bearer = bearer(&e, "test");
    let auth = ("Authorization", bearer.as_str());
    let json = ("Content-Type", "application/json");
    let r = request(
        e.web,
        "PUT",
        "/api/v1/dns",
        &[auth, json],
        br#"{"resolvers":["127.0.0.1:9 0","127.0.0.3 4"],"timeout_secs":"1"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["timeout_secs"], 1, "{}", r.body);
    let file = std::fs::read_to_string(&e.config_path).unwrap();
    assert!(file.contains("127.0.0.3:53"), "{file}");
    assert_eq!(e.running.config().dns.resolvers.len(), 2);

    let r = request(
        e.web,
        "PUT",
        "/api/v1/dns",
        &[auth, json],
        b"{\"resolvers\":\"127.0.0.1:9 0\\n127.0.0.4 x y\",\"timeout_secs\":\"0\"}",
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errors"][0]["field"], "resolvers", "{}", r.body);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{}",
        r.body
    );
    let r = request(
        e.web,
        "PUT",
        "/api/v1/dns",
        &[auth, json],
        br#"{"resolvers":"","timeout_secs":"0"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errors"][0]["field"], "timeout_secs", "{}", r.body);
    assert_eq!(e.running.config().dns.timeout.as_secs(), 1, "unchanged");
}
