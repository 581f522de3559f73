//! Edits through the admin CLI (over the control socket of a running `danegate serve`)
//! keep the operator's comments, key order and formatting in the configuration file:
//! only the changed keys are rewritten.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use danegate_testkit::{gateway::ServeProcess, host::free_port};

const START_TIMEOUT: Duration = Duration::from_secs(90);

/// `danegate serve` on a free SMTP port, once its control socket is up.
fn serve(config: &Path, cwd: &Path) -> ServeProcess {
    let bin = env!("CARGO_BIN_EXE_danegate");
    let mut s = ServeProcess::start(bin, config, free_port(), cwd, START_TIMEOUT);
    s.wait_line("the control socket", START_TIMEOUT, |l| {
        l.contains("Control socket")
    });
    s
}

fn ok(cfg: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "danegate {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cli_edits_keep_the_operators_comments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("danegate.toml");
    let text = format!(
        r#"# Outbound gateway of example.net -- edited by hand, keep this header.

[server]
hostname = "gw.test"            # our HELO name
data_dir = "{data}"

[[listener]]
name = "outbound"
address = "127.0.0.1:2525"

# Only the mail servers of the office relay.
[[sender_group]]
name = "RELAYLIST"
senders = ["127.0.0.1"]  # loopback
policy = "RELAY"

[dns]
resolvers = [ {{ address = "127.0.0.1:9", priority = 0 }} ]
timeout_secs = 1

# The partner insists on its own relay.
[[smtp_route]]
domain = "partner.test"   # contract 42
hosts = ["10.9.9.9:2525"]
"#,
        data = dir.path().display()
    );
    std::fs::write(&cfg, &text).unwrap();
    let _gw = serve(&cfg, dir.path());

    ok(&cfg, &["smtproutes", "set", "route.test", "127.0.0.7:2525"]);
    ok(
        &cfg,
        &[
            "destconfig",
            "add",
            "dane.test",
            "--max-concurrent-connections",
            "7",
        ],
    );
    ok(
        &cfg,
        &["smtproutes", "set", "partner.test", "10.9.9.10:2525"],
    );

    let file = std::fs::read_to_string(&cfg).unwrap();
    for kept in [
        "# Outbound gateway of example.net -- edited by hand, keep this header.\n",
        "hostname = \"gw.test\"            # our HELO name",
        "# Only the mail servers of the office relay.",
        "senders = [\"127.0.0.1\"]  # loopback",
        "# The partner insists on its own relay.",
        "domain = \"partner.test\"   # contract 42",
    ] {
        assert!(file.contains(kept), "lost {kept:?}:\n{file}");
    }
    assert!(file.starts_with("# Outbound gateway"), "{file}");
    assert!(
        file.contains("10.9.9.10:2525") && !file.contains("10.9.9.9:"),
        "{file}"
    );
    assert!(
        file.contains("route.test") && file.contains("dane.test"),
        "{file}"
    );
    // The order of the sections is the operator's: [server] still comes first.
    let server = file.find("[server]").unwrap();
    assert!(file.find("[[listener]]").unwrap() > server, "{file}");
}
