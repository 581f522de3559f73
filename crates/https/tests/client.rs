#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! The HTTPS client against the testkit HTTPS server: PKIX against a test CA, the
//! refusals (self-signed, expired, wrong name, untrusted), redirects not followed,
//! status, size limit, content type, POST recorded by the server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use danegate_https::{CertProblem, ClientOptions, Error, HttpsClient, HttpsUrl};
use danegate_testkit::certs::{
    ChainOptions, Issuance, Presented, TestChain, TlsVersions, Validity,
};
use danegate_testkit::https::{HttpsServer, Route};

const HOST: &str = "mta-sts.example.test";
const LOCAL: [IpAddr; 1] = [IpAddr::V4(Ipv4Addr::LOCALHOST)];

fn chain(opts: ChainOptions) -> TestChain {
    TestChain::generate(&opts)
}

fn client_trusting(c: &TestChain) -> HttpsClient {
    HttpsClient::new(ClientOptions {
        extra_roots: c.root_store().roots,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    })
    .unwrap()
}

fn url(server: &HttpsServer, path: &str) -> HttpsUrl {
    HttpsUrl::parse(&format!("https://{HOST}:{}{path}", server.port())).unwrap()
}

#[tokio::test]
async fn get_post_and_refusals() {
    let good = chain(ChainOptions::for_names(&[HOST]));
    let server = HttpsServer::with_route(
        good.server_config(TlsVersions::Both, Presented::LeafAndIntermediate),
        "/.well-known/mta-sts.txt",
        Route::ok("text/plain; charset=utf-8", "version: STSv1\r\n"),
    );
    let client = client_trusting(&good);

    // 200 text/plain.
    let r = client
        .get(&url(&server, "/.well-known/mta-sts.txt"), &LOCAL)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"version: STSv1\r\n");
    r.require_content_type("text/plain").unwrap();
    assert!(matches!(
        r.require_content_type("application/json"),
        Err(Error::ContentType { .. })
    ));
    let req = &server.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.sni.as_deref(), Some(HOST));
    assert_eq!(
        req.header("host"),
        Some(format!("{HOST}:{}", server.port()).as_str())
    );

    // 404, 500, redirects.
    let e = client
        .get(&url(&server, "/nothing"), &LOCAL)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Status { status: 404 }), "{e}");
    assert!(!e.is_temporary());
    server.set_route("/boom", Route::status(503));
    let e = client
        .get(&url(&server, "/boom"), &LOCAL)
        .await
        .unwrap_err();
    assert!(e.is_temporary(), "{e}");
    server.set_route("/moved", Route::redirect(301, "https://elsewhere.test/"));
    let e = client
        .get(&url(&server, "/moved"), &LOCAL)
        .await
        .unwrap_err();
    match e {
        Error::Redirect { status, location } => {
            assert_eq!(status, 301);
            assert_eq!(location.as_deref(), Some("https://elsewhere.test/"));
        }
        other => panic!("{other}"),
    }
    // Not followed: nothing asked for the target.
    assert_eq!(server.requests_for("/moved").len(), 1);

    // Size limit: declared and streamed.
    server.set_route("/big", Route::text(&"x".repeat(70 * 1024)));
    let e = client.get(&url(&server, "/big"), &LOCAL).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 65536 }), "{e}");

    // POST recorded with its headers and body.
    server.set_route("/report", Route::status(201));
    let r = client
        .post(
            &url(&server, "/report"),
            &LOCAL,
            "application/tlsrpt+gzip",
            vec![1, 2, 3],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let posted = server.requests_for("/report");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].method, "POST");
    assert_eq!(posted[0].body, vec![1, 2, 3]);
    assert_eq!(
        posted[0].header("content-type"),
        Some("application/tlsrpt+gzip")
    );
}

async fn refused(server_chain: &TestChain, trusted: &TestChain) -> Error {
    let server = HttpsServer::with_route(
        server_chain.server_config(TlsVersions::Both, Presented::LeafAndIntermediate),
        "/p",
        Route::text("x"),
    );
    let e = client_trusting(trusted)
        .get(&url(&server, "/p"), &LOCAL)
        .await
        .unwrap_err();
    assert!(
        server.requests().is_empty(),
        "no request after a refused handshake"
    );
    e
}

#[tokio::test]
async fn pkix_failures_are_classified() {
    let trusted = chain(ChainOptions::for_names(&[HOST]));
    let self_signed = chain(ChainOptions {
        issuance: Issuance::SelfSigned,
        ..ChainOptions::for_names(&[HOST])
    });
    let e = refused(&self_signed, &trusted).await;
    assert_eq!(e.cert_problem(), Some(&CertProblem::Untrusted), "{e}");

    let other_ca = chain(ChainOptions::for_names(&[HOST]));
    let e = refused(&other_ca, &trusted).await;
    assert_eq!(e.cert_problem(), Some(&CertProblem::Untrusted), "{e}");

    let wrong_name = chain(ChainOptions::for_names(&["other.example.test"]));
    let e = refused(&wrong_name, &wrong_name).await;
    assert_eq!(e.cert_problem(), Some(&CertProblem::NameMismatch), "{e}");

    let expired = chain(ChainOptions {
        validity: Validity::Expired,
        ..ChainOptions::for_names(&[HOST])
    });
    let e = refused(&expired, &expired).await;
    assert_eq!(e.cert_problem(), Some(&CertProblem::Expired), "{e}");
}

#[tokio::test]
async fn webpki_roots_alone_do_not_trust_a_test_ca() {
    let c = chain(ChainOptions::for_names(&[HOST]));
    let server = HttpsServer::with_route(
        c.server_config(TlsVersions::Both, Presented::LeafAndIntermediate),
        "/p",
        Route::text("x"),
    );
    let e = HttpsClient::new(ClientOptions::default())
        .unwrap()
        .get(&url(&server, "/p"), &LOCAL)
        .await
        .unwrap_err();
    assert_eq!(e.cert_problem(), Some(&CertProblem::Untrusted), "{e}");
}

#[tokio::test]
async fn connection_refused_is_temporary() {
    let port = danegate_testkit::host::free_port();
    let u = HttpsUrl::parse(&format!("https://{HOST}:{port}/p")).unwrap();
    let c = chain(ChainOptions::for_names(&[HOST]));
    let e = client_trusting(&c).get(&u, &LOCAL).await.unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert!(e.is_temporary());
}

#[test]
fn ca_pem_parsing() {
    assert!(danegate_https::parse_ca_pem(b"").is_err());
    assert!(
        danegate_https::parse_ca_pem(
            b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"
        )
        .is_err()
    );
    let e = danegate_https::load_ca_file(std::path::Path::new("/nonexistent/ca.pem")).unwrap_err();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
}
