//! Regression (issue 10, point 1): the trust-anchor file of the DNS settings (API
//! `PUT /api/v1/dns`, web DNS form) cannot be used to read files: it must lie in the
//! configuration file's directory, is size-limited, and an error never shows what a file
//! that is not a trust-anchor file holds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use common::{bearer, env, login, post_form, request};

async fn put_anchor(e: &common::Env, bearer: &str, file: &str) -> common::Resp {
    let body = serde_json::json!({ "trust_anchor_file": file }).to_string();
    request(
        e.web,
        "PUT",
        "/api/v1/dns",
        &[
            ("Authorization", bearer),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_does_not_reveal_files_through_the_trust_anchor_setting() {
    let e = env("").await;
    danegate_web::auth::set_password(&e.settings.password_hash_file, common::PASSWORD).unwrap();
    let bearer = bearer(&e, "A");
    let passwd = std::fs::read_to_string(&e.settings.password_hash_file).unwrap();
    let tokens = std::fs::read_to_string(&e.settings.api_tokens_file).unwrap();
    let secret_of = |text: &str| text.split_whitespace().next().unwrap().to_string();

    // Files next to the configuration (the data directory is the same directory here):
    // read, but not quoted.
    for (file, secret) in [
        (&e.settings.password_hash_file, secret_of(&passwd)),
        (&e.settings.api_tokens_file, secret_of(&tokens)),
    ] {
        let r = put_anchor(&e, &bearer, &file.display().to_string()).await;
        assert_eq!(r.status, 422, "{}", r.body);
        let tail = &secret[secret.len() - 16..];
        assert!(!r.body.contains(tail), "leaks {file:?}: {}", r.body);
        assert!(r.body.contains("trust_anchor_file"), "{}", r.body);
    }

    // Files elsewhere: refused before they are opened.
    for file in [
        "/proc/self/environ",
        "/etc/passwd",
        "/etc/shadow",
        "/nonexistent/x",
    ] {
        let r = put_anchor(&e, &bearer, file).await;
        assert_eq!(r.status, 422, "{file}: {}", r.body);
        assert!(
            r.body
                .contains("must be in the configuration file's directory"),
            "{file}: {}",
            r.body
        );
        assert!(
            !r.body.contains("root:") && !r.body.contains("PATH="),
            "{}",
            r.body
        );
    }
    let sneaky = format!("{}/../../etc/passwd", e.data_dir().display());
    let r = put_anchor(&e, &bearer, &sneaky).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(!r.body.contains("root:"), "{}", r.body);

    // A 10 MB file: a short error, not a copy of it.
    let big = e.data_dir().join("big.key");
    std::fs::write(&big, "x".repeat(10 << 20)).unwrap();
    let r = put_anchor(&e, &bearer, &big.display().to_string()).await;
    assert_eq!(r.status, 422, "{}", &r.body[..r.body.len().min(500)]);
    assert!(r.body.len() < 2000, "{} bytes", r.body.len());
    assert!(r.body.contains("is larger than 64 KiB"), "{}", r.body);

    assert!(
        e.running.config().dns.trust_anchor_file.is_none(),
        "unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dns_form_does_not_reveal_files_either() {
    let e = env("").await;
    let (cookie, csrf) = login(&e).await;
    let passwd = std::fs::read_to_string(&e.settings.password_hash_file).unwrap();
    let hash = passwd.trim();
    for file in [
        e.settings.password_hash_file.display().to_string(),
        "/etc/passwd".to_string(),
    ] {
        let r = post_form(
            &e,
            &cookie,
            "/dns",
            &[
                ("csrf", &csrf),
                ("resolvers", "127.0.0.1:9 0"),
                ("timeout_secs", "1"),
                ("trust_anchor_file", &file),
            ],
        )
        .await;
        assert_eq!(r.status, 422, "{file}: {}", r.body);
        assert!(!r.body.contains(&hash[hash.len() - 16..]), "{}", r.body);
        assert!(!r.body.contains("root:"), "{}", r.body);
    }
}
