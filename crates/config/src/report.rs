//! The text of `danegate config check`: errors, or lints and notes, then a verdict.

use std::fmt::Write as _;
use std::path::Path;

use crate::Config;
use crate::model::{Lint, parse_resolv_conf};

/// Checks a configuration file and returns the report to print and whether the file is
/// valid. Errors come first (one per line, `FILE: key = value: message`) and end with
/// `N errors`; a valid file prints its warnings (`warning: key: message` and `  fix: ...`),
/// its notes, and `config OK` (with the warning count when there are any).
///
/// Besides [`Config::lints`], this looks at the system: when `dns.resolvers` is empty it
/// reads `/etc/resolv.conf` and warns that those resolvers are used (upstreams
/// must be DNSSEC-capable).
pub fn check_report(path: impl AsRef<Path>) -> (String, bool) {
    let resolv = std::fs::read_to_string("/etc/resolv.conf").ok();
    match Config::load(path) {
        Ok(config) => report_ok(&config, resolv.as_deref()),
        Err(errors) => report_errors(&errors),
    }
}

/// [`check_report`] for a text already read; `resolv_conf` is the text of
/// `/etc/resolv.conf` (`None` when missing).
pub fn check_report_str(
    text: &str,
    source_name: &str,
    resolv_conf: Option<&str>,
) -> (String, bool) {
    match Config::from_toml_str(text, source_name) {
        Ok(config) => report_ok(&config, resolv_conf),
        Err(errors) => report_errors(&errors),
    }
}

fn report_errors(errors: &crate::ConfigErrors) -> (String, bool) {
    let n = errors.len();
    let mut out = format!("{errors}\n");
    let _ = writeln!(out, "{n} error{}", if n == 1 { "" } else { "s" });
    (out, false)
}

/// Lints that depend on the system, not only on the file.
pub(crate) fn environment_lints(config: &Config, resolv_conf: Option<&str>) -> Vec<Lint> {
    if !config.dns.resolvers.is_empty() {
        return Vec::new();
    }
    let found = resolv_conf.map(parse_resolv_conf).unwrap_or_default();
    if found.is_empty() {
        return vec![Lint {
            key: "dns.resolvers".to_string(),
            message: "not set, and /etc/resolv.conf has no usable nameserver line: no DNS lookup, \
                      hence no delivery, is possible"
                .to_string(),
            fix: "list DNSSEC-validating resolvers in [dns] resolvers".to_string(),
        }];
    }
    let list = found
        .iter()
        .map(|r| r.address.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    vec![Lint {
        key: "dns.resolvers".to_string(),
        message: format!(
            "not set: the nameservers of /etc/resolv.conf ({list}) are used, all with priority 0; \
             each is probed for DNSSEC at start, and one that strips DNSSEC is not used for DANE \
             lookups (a non-DNSSEC resolver makes DANE domains look BOGUS)"
        ),
        fix: "pin DNSSEC-capable resolvers in [dns] resolvers, the best with the lowest priority number"
            .to_string(),
    }]
}

fn report_ok(config: &Config, resolv_conf: Option<&str>) -> (String, bool) {
    let mut lints = config.lints();
    lints.extend(environment_lints(config, resolv_conf));
    let mut out = String::new();
    for l in &lints {
        let _ = writeln!(out, "{l}");
    }
    for n in config.notes() {
        if n.key == "dns.resolvers" && lints.iter().any(|l| l.key == "dns.resolvers") {
            continue;
        }
        let _ = writeln!(out, "{n}");
    }
    match lints.len() {
        0 => out.push_str("config OK\n"),
        1 => out.push_str("config OK (1 warning)\n"),
        n => {
            let _ = writeln!(out, "config OK ({n} warnings)");
        }
    }
    (out, true)
}
