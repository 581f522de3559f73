//! The control socket throws an over-long request line away whole: no part of it is
//! taken for a request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::net::UnixStream,
    sync::Arc,
    time::Duration,
};

use danegate_admin::{Admin, control};
use danegate_config::Config;
use danegate_gateway::{GatewayOptions, start};

fn config(data_dir: &std::path::Path) -> Config {
    let text = format!(
        r#"
[server]
hostname = "gw.test"
data_dir = "{}"

[[listener]]
name = "outbound"
address = "127.0.0.1:0"

[dns]
resolvers = [ {{ address = "127.0.0.1", priority = 0 }} ]
"#,
        data_dir.display()
    );
    Config::from_toml_str(&text, "test").expect("test config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_is_discarded_whole() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(dir.path()), GatewayOptions::default())
        .await
        .expect("gateway starts");
    let running = Arc::new(running);
    let path = control::socket_path(dir.path());
    let server = control::serve(Admin::new(running.clone()), &path)
        .await
        .expect("control socket");
    let answers = tokio::task::spawn_blocking(move || {
        let s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // 1 MiB of padding, then a valid request as the line's tail: before the fix the
        // first MiB was answered as a bad request and the tail run as a request of its
        // own. Then one more request on the same connection.
        let mut long = " ".repeat(1 << 20);
        long.push_str("{\"op\":\"top_hosts\",\"n\":1}\n");
        (&s).write_all(long.as_bytes()).unwrap();
        (&s).write_all(b"{\"op\":\"ping\"}\n").unwrap();
        let mut rd = BufReader::new(&s);
        let mut answers = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            rd.read_line(&mut line).unwrap();
            answers.push(serde_json::from_str::<control::Response>(line.trim()).unwrap());
        }
        answers
    })
    .await
    .unwrap();
    let err = &answers[0];
    assert!(!err.ok, "the over-long line is refused: {err:?}");
    assert!(
        err.error.as_deref().unwrap_or("").contains("longer than"),
        "{err:?}"
    );
    // The next answer is the ping's: the tail of the long line was not run.
    let ping = answers[1].result.as_ref().expect("ping result");
    assert!(
        ping.get("pid").is_some(),
        "second answer is the ping's: {ping:?}"
    );
    server.shutdown().await;
    if let Ok(r) = Arc::try_unwrap(running) {
        r.shutdown().await;
    }
}
