//! `danegate audit`'s MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) columns against the
//! STS world (real DNS, HTTPS policy hosts with a test CA, STARTTLS MX hosts): for every
//! domain — enforce and testing policies satisfied or not, policy fetch and parse
//! errors, no TXT record, no policy at all — the audit's `mta_sts` object holds exactly
//! what `danegate stsverify --json` says for the domain; the TLS-RPT records (valid
//! mailto and https, invalid, absent) are reported; MX sessions are shared; the text
//! summary, the text lines and the HTML report show them; `--no-sts` skips them; the CA
//! file comes from `--ca-file` or the configuration's `[server] ca_file`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{
    path::PathBuf,
    process::Command,
    sync::{Mutex, OnceLock},
};

use danegate_testkit::stsworld::StsWorld;
use serde_json::Value;

struct Net {
    world: StsWorld,
    dir: tempfile::TempDir,
    anchor: PathBuf,
    ca: PathBuf,
}

fn net() -> &'static Net {
    static N: OnceLock<Net> = OnceLock::new();
    N.get_or_init(|| {
        let world = StsWorld::start();
        let dir = tempfile::tempdir().unwrap();
        let (anchor, ca) = world.write_files(dir.path());
        Net {
            world,
            dir,
            anchor,
            ca,
        }
    })
}

/// One audit at a time: the sharing counts are per run, and the machine is small.
static SERIAL: Mutex<()> = Mutex::new(());

/// Every domain of the world but `cached.sts.test` (another test flips its TXT), and
/// one that publishes nothing.
const DOMAINS: &[&str] = &[
    "enforce.sts.test",
    "wild.sts.test",
    "selfsigned.sts.test",
    "expired.sts.test",
    "wrongname.sts.test",
    "nostarttls.sts.test",
    "notinpolicy.sts.test",
    "testing.sts.test",
    "badcert.sts.test",
    "notfound.sts.test",
    "redirect.sts.test",
    "invalid.sts.test",
    "notxt.sts.test",
    "dane.sdane.test",
    "nothing.sts.test",
];

/// The world's resolver, anchor and ports.
fn world_args() -> Vec<String> {
    let n = net();
    [
        "--resolver",
        &n.world.dns_addr().to_string(),
        "--trust-anchor",
        n.anchor.to_str().unwrap(),
        "--port",
        &n.world.smtp_port().to_string(),
        "--https-port",
        &n.world.https_port().to_string(),
        "--timeout",
        "10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn danegate(args: &[String]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_danegate"))
        .args(args)
        .current_dir(net().dir.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn audit(extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["audit".to_string()];
    args.extend(world_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(DOMAINS.iter().map(|s| s.to_string()));
    danegate(&args)
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn find<'a>(objs: &'a [Value], domain: &str) -> &'a Value {
    objs.iter().find(|o| o["domain"] == domain).unwrap()
}

#[test]
fn sts_columns_equal_stsverify_for_every_domain() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let n = net();
    let (code, out, err) = audit(&["--json", "--ca-file", n.ca.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let objs = json_lines(&out);
    assert_eq!(objs.len(), DOMAINS.len(), "{out}");
    for d in DOMAINS {
        let o = find(&objs, d);
        let sts = &o["mta_sts"];
        let mut args = vec!["stsverify".to_string(), "--json".into()];
        args.extend(world_args());
        args.extend([
            "--ca-file".into(),
            n.ca.to_str().unwrap().into(),
            d.to_string(),
        ]);
        let (code, sv, sverr) = danegate(&args);
        let sv: Value =
            serde_json::from_str(&sv).unwrap_or_else(|e| panic!("{d}: {e}: {sv}{sverr}"));
        // Every field of stsverify's report, equal.
        for (k, v) in sv.as_object().unwrap() {
            assert_eq!(&sts[k], v, "{d}: {k}\naudit: {sts:#}\nstsverify: {sv:#}");
        }
        assert_eq!(sts["exit"], code.unwrap(), "{d}");
        let want = match code.unwrap() {
            0 => "satisfied",
            1 => "failed",
            3 => "no-policy",
            _ => "temp-fail",
        };
        assert_eq!(sts["result"], want, "{d}: {sts:#}");
    }

    // The cases, in the audit's words.
    let sts = |d: &str| find(&objs, d)["mta_sts"].clone();
    let rpt = |d: &str| find(&objs, d)["tls_rpt"].clone();
    let e = sts("enforce.sts.test");
    assert_eq!(e["result"], "satisfied");
    assert_eq!(e["enforce"], "deliver");
    assert_eq!(e["policy_id"], "1");
    assert_eq!(e["policy"]["mode"], "enforce");
    assert_eq!(e["policy"]["max_age"], 86_400);
    assert_eq!(e["policy"]["mx"][0], "mx-good.stshosts.test");
    assert_eq!(e["hosts"][0]["matches_policy"], true);
    assert_eq!(e["hosts"][0]["result"], "ok");
    let t = sts("testing.sts.test");
    assert_eq!(t["policy"]["mode"], "testing");
    assert_eq!(t["result"], "failed");
    assert_eq!(t["enforce"], "refuse", "an enforce policy would refuse");
    let nip = sts("notinpolicy.sts.test");
    assert_eq!(nip["hosts"][0]["matches_policy"], false);
    assert_eq!(nip["enforce"], "refuse");
    let inv = sts("invalid.sts.test");
    assert_eq!(inv["result"], "no-policy");
    assert!(inv["policy"].is_null());
    assert_eq!(inv["txt"], "v=STSv1; id=1;");
    assert!(inv["policy_error"].is_string(), "{inv:#}");
    assert!(inv["enforce"].is_null());
    assert_eq!(sts("badcert.sts.test")["result"], "no-policy");
    assert!(sts("notxt.sts.test")["txt"].is_null());
    assert_eq!(sts("nothing.sts.test")["result"], "no-policy");

    assert_eq!(rpt("enforce.sts.test")["status"], "valid");
    assert_eq!(
        rpt("enforce.sts.test")["rua"][0],
        "mailto:tlsrpt@enforce.sts.test"
    );
    assert_eq!(rpt("testing.sts.test")["status"], "valid");
    assert_eq!(
        rpt("testing.sts.test")["rua"][0],
        "https://reports.sts.test/v1"
    );
    let bad = rpt("invalid.sts.test");
    assert_eq!(bad["status"], "invalid");
    assert_eq!(bad["txt"][0], "v=TLSRPTv1; rua=ftp://reports.sts.test/");
    assert!(bad["error"].as_str().unwrap().contains("ftp"), "{bad:#}");
    assert_eq!(rpt("wild.sts.test")["status"], "absent");
    assert_eq!(rpt("nothing.sts.test")["status"], "absent");

    // The summary: per mode, per result, TLS-RPT, and shared MX sessions (mx-good for
    // enforce and wild, mx-selfsigned for selfsigned and testing).
    assert!(
        err.contains(
            "MTA-STS: 8 enforce, 1 testing, 0 none; 2 without a record, 4 policy fetch/parse \
             error(s), 0 unknown; satisfied 3, failed 6; mode enforce would refuse 6\n\
             TLS-RPT: 2 valid, 1 invalid, 12 absent, 0 unknown\n\
             6 MTA-STS sessions, 2 answered from a shared one"
        ),
        "{err}"
    );
}

#[test]
fn text_html_no_sts_and_the_configured_ca_file() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let n = net();
    // The CA file from the configuration's [server] ca_file.
    let cfg = n.dir.path().join("audit.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nca_file = \"{}\"\n", n.ca.display()),
    )
    .unwrap();
    let (code, out, err) = audit(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let line = |d: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{d} ")))
            .unwrap_or_else(|| panic!("{d}: {out}"))
            .to_string()
    };
    assert!(
        line("enforce.sts.test").ends_with("[MTA-STS enforce satisfied; TLS-RPT valid]"),
        "{out}"
    );
    assert!(
        line("invalid.sts.test").ends_with("[MTA-STS policy error; TLS-RPT invalid]"),
        "{out}"
    );
    assert!(!line("nothing.sts.test").contains("MTA-STS"), "{out}");
    assert!(out.contains("MTA-STS: 8 enforce, 1 testing"), "{out}");

    let html = n.dir.path().join("report.html");
    let (code, out, err) = audit(&[
        "--ca-file",
        n.ca.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("TLS-RPT: 2 valid, 1 invalid, 12 absent"),
        "{out}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<th>MTA-STS</th>"), "{page}");
    assert!(
        page.contains(
            "enforce (id 1, max_age 86400): satisfied; enforce: deliver; mx-good.stshosts.test ok"
        ),
        "{page}"
    );
    assert!(
        page.contains("valid: mailto:tlsrpt@enforce.sts.test"),
        "{page}"
    );
    assert!(
        page.contains("TLS-RPT: 2 valid, 1 invalid, 12 absent"),
        "{page}"
    );

    // Without the test CA the policy hosts' certificates are not trusted: no policy.
    let (code, out, err) = audit(&["--json"]);
    assert_eq!(code, Some(0), "{err}");
    let objs = json_lines(&out);
    let e = &find(&objs, "enforce.sts.test")["mta_sts"];
    assert_eq!(e["result"], "no-policy", "{e:#}");
    assert_eq!(e["policy_error_type"], "sts-webpki-invalid", "{e:#}");

    // --no-sts: not checked, nothing in the summary.
    let (code, out, err) = audit(&["--json", "--no-sts"]);
    assert_eq!(code, Some(0), "{err}");
    for o in json_lines(&out) {
        assert_eq!(o["mta_sts"], "not checked");
        assert_eq!(o["tls_rpt"], "not checked");
    }
    assert!(!err.contains("MTA-STS:"), "{err}");

    // A bad CA file is a usage error.
    let (code, _, err) = audit(&["--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("--ca-file"), "{err}");
}
