//! `danegate audit` as an administrator runs it, against the bulk mail world (every
//! table row, scenarios, a host without a server, copies sharing MX hosts): JSON lines
//! with the documented fields for every domain, the HTML report, the text summary,
//! standard input, and usage errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::{collections::BTreeSet, io::Write, process::Command, sync::OnceLock};

use danegate_testkit::mailworld::{Expect, MailWorld, TABLE_ROWS, bulk_domains};

const COPIES: usize = 1;

fn world() -> &'static MailWorld {
    static W: OnceLock<MailWorld> = OnceLock::new();
    W.get_or_init(|| MailWorld::build_bulk(COPIES))
}

fn domains() -> Vec<String> {
    bulk_domains(COPIES).into_iter().map(|(d, _)| d).collect()
}

/// `danegate audit` with the world's resolver, anchor and port, `extra` args and
/// `stdin`: (exit code, stdout, stderr).
fn audit(extra: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let w = world();
    let dns = w.dns_addr().to_string();
    let port = w.port().to_string();
    let anchor = w.anchor_file().to_str().unwrap().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_danegate"));
    cmd.args(["audit", "--resolver", &dns, "--trust-anchor", &anchor])
        .args([
            "--port",
            &port,
            "--timeout",
            "5",
            "--ip-preference",
            "ipv4-only",
        ])
        .args(extra);
    danegate_testkit::cli::run(cmd, stdin)
}

fn input_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "# every domain of the bulk world").unwrap();
    for d in domains() {
        writeln!(f, "{d}").unwrap();
    }
    f
}

fn expect_word(e: Expect) -> &'static str {
    match e {
        Expect::DaneSuccess => "dane-success",
        Expect::DaneFail => "dane-failed",
        Expect::Fallback => "fallback",
        Expect::TempFail => "temp-fail",
    }
}

#[test]
fn json_one_object_per_domain_with_the_documented_fields() {
    let f = input_file();
    for (mode, pick) in [("mandatory", 2usize), ("opportunistic", 3)] {
        let (code, out, err) = audit(
            &[
                "--json",
                "--mode",
                mode,
                "--input",
                f.path().to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(code, Some(0), "{err}");
        let objs: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let names: Vec<String> = objs
            .iter()
            .map(|o| o["domain"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, domains(), "one line per domain, in input order");
        for o in &objs {
            for key in [
                "domain",
                "mode",
                "verdict",
                "row",
                "reason",
                "mx_status",
                "implicit_mx",
                "hosts",
                "mta_sts",
                "tls_rpt",
                "lines",
                "elapsed_ms",
            ] {
                assert!(o.get(key).is_some(), "{key} missing in {o}");
            }
            assert_eq!(o["mode"], mode);
            // No domain of this world publishes MTA-STS or TLS-RPT (tests/audit_sts.rs
            // has those).
            assert!(o["mta_sts"]["result"].is_string(), "{o}");
            assert!(o["tls_rpt"]["status"].is_string(), "{o}");
        }
        for row in TABLE_ROWS {
            let want = expect_word(if pick == 2 { row.2 } else { row.3 });
            let o = objs.iter().find(|o| o["domain"] == row.0).unwrap();
            assert_eq!(o["verdict"], want, "{} [{}] {mode}", row.0, row.1);
            // The copy decides alike.
            let copy = format!("c1-{}", row.0);
            let c = objs.iter().find(|o| o["domain"] == copy.as_str()).unwrap();
            assert_eq!(c["verdict"], want, "{copy} {mode}");
            assert_eq!(c["row"], o["row"], "{copy} {mode}");
        }
        let good = objs
            .iter()
            .find(|o| o["domain"] == "good.dom.test")
            .unwrap();
        assert_eq!(good["mx_status"], "SECURE");
        assert_eq!(good["hosts"][0]["name"], "good.hosts.test");
        assert_eq!(good["hosts"][0]["tlsa_status"], "SECURE");
        assert_eq!(good["hosts"][0]["certificate"], "ok");
        assert_eq!(good["mta_sts"]["result"], "no-policy", "{good}");
        assert!(good["mta_sts"]["txt"].is_null(), "{good}");
        assert_eq!(good["tls_rpt"]["status"], "absent", "{good}");
        assert!(
            good["row"].as_str().unwrap().contains("table line"),
            "{good}"
        );
        // The summary goes to standard error.
        assert!(
            err.contains(&format!("{} domains audited ({mode} table)", objs.len())),
            "{err}"
        );
        assert!(
            err.contains("MX hosts that did not answer:\n  down.hosts.test (2 domains)"),
            "{err}"
        );
    }
}

/// Every start tag has its end tag, properly nested (void elements aside).
fn well_formed(page: &str) -> Result<usize, String> {
    const VOID: &[&str] = &["meta", "br", "hr", "img", "input", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = page;
    let mut elements = 0;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("unclosed tag")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if tag.starts_with('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !VOID.contains(&name.as_str()) && !tag.ends_with('/') {
            elements += 1;
            stack.push(name.clone());
            if name == "script" || name == "style" {
                let close = format!("</{name}>");
                let j = rest.find(&close).ok_or("unclosed script/style")?;
                rest = &rest[j..];
            }
        }
    }
    if stack.is_empty() {
        Ok(elements)
    } else {
        Err(format!("unclosed {stack:?}"))
    }
}

#[test]
fn html_report_is_self_contained_and_names_every_domain() {
    let f = input_file();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let (code, out, err) = audit(
        &[
            "--html",
            html.to_str().unwrap(),
            "--input",
            f.path().to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("domains audited (mandatory table)"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    well_formed(&page).unwrap();
    // No external asset.
    for attr in ["src=", "href=", "@import", "url("] {
        assert!(!page.contains(attr), "{attr} in the report");
    }
    assert!(page.contains("<svg"), "summary chart");
    assert!(page.contains("<script>"), "sort script");
    let rows = page.matches("<tr class=").count();
    assert_eq!(rows, domains().len());
    let cells: BTreeSet<&str> = page
        .split("<td>")
        .skip(1)
        .filter_map(|c| c.split("</td>").next())
        .collect();
    for d in domains() {
        assert!(cells.contains(d.as_str()), "{d} not in the report");
    }
}

#[test]
fn standard_input_domains_and_addresses_and_text_output() {
    let (code, out, err) = audit(
        &["--input", "-"],
        "Good.Dom.Test.\npostmaster@wrongtlsa.dom.test\ngood.dom.test\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("good.dom.test       dane-success  authenticated good.hosts.test"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("wrongtlsa.dom.test  dane-failed   Certificate verification failed"),
        "{out}"
    );
    assert!(out.contains("2 domains audited (mandatory table)"), "{out}");
}

#[test]
fn bad_input_is_a_usage_error_naming_the_line() {
    let (code, _, err) = audit(&["--input", "-"], "good.dom.test\nbad..name\n");
    assert_eq!(code, Some(64));
    assert!(err.contains("line 2: bad domain \"bad..name\""), "{err}");
    let (code, _, err) = audit(&["--input", "/nonexistent/list"], "");
    assert_eq!(code, Some(64));
    assert!(err.contains("--input /nonexistent/list"), "{err}");
    let (code, _, err) = audit(&[], "");
    assert_eq!(code, Some(64));
    assert!(err.contains("no domain to audit"), "{err}");
}
