//! What a test needs from the machine it runs on: external tools, files, free ports.
//!
//! The rule for every test of the workspace: a test that needs something the machine
//! may lack (a tool such as `delv` or `chromedriver`, a fixed port such as
//! 127.0.0.1:2525) asks through [`require`] (or [`require_tool`], [`require_file`]).
//! Outside CI a missing prerequisite skips the test with a visible `SKIPPED:` note on
//! standard error; when the environment variable `CI` is set (to anything but `""`,
//! `0` or `false`) it panics instead, so that a CI run can never pass by skipping.
//!
//! ```no_run
//! use danegate_testkit::host;
//! # fn a_test() {
//! let Some(delv) = host::require_tool("delv") else { return };
//! # let _ = delv;
//! # }
//! ```

use std::path::{Path, PathBuf};

/// Directories searched by [`require_tool`] after `PATH` (tools in `sbin` are often
/// missing from a test runner's `PATH`).
const TOOL_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"];

/// Is this a CI run (`CI` set, and not to `""`, `0` or `false`)?
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// `available` as is when true. When false: panics if [`in_ci`] (naming `what`),
/// otherwise prints `SKIPPED: <what> is not available ...` and returns false, so the
/// caller returns early.
pub fn require(available: bool, what: &str) -> bool {
    require_in(in_ci(), available, what)
}

fn require_in(ci: bool, available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !ci,
        "{what} is not available, and CI is set: a CI run must not skip this test \
         (install it, or free it, on the CI machine)"
    );
    eprintln!("SKIPPED: {what} is not available on this machine (a CI run fails instead)");
    false
}

/// The path of the external tool `name` (searched in `PATH`, then in the usual
/// `bin`/`sbin` directories), or `None` after [`require`]'s note; panics under CI.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(TOOL_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    require(found.is_some(), &format!("the tool `{name}`"))
        .then_some(found)
        .flatten()
}

/// `path` exists (a tool or file at a fixed place); otherwise [`require`]'s note, or a
/// panic under CI.
pub fn require_file(path: &Path) -> bool {
    require(path.exists(), &format!("{}", path.display()))
}

/// A TCP port that was free on 127.0.0.1 a moment ago (the OS picked it). In practice
/// it is free on the other 127.0.0.x addresses too.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_ci_a_missing_prerequisite_skips() {
        assert!(require_in(false, true, "x"));
        assert!(!require_in(false, false, "x"));
    }

    #[test]
    #[should_panic(expected = "CI is set")]
    fn in_ci_a_missing_prerequisite_fails() {
        require_in(true, false, "the tool `nope`");
    }

    #[test]
    fn in_ci_an_available_prerequisite_passes() {
        assert!(require_in(true, true, "x"));
    }

    #[test]
    fn a_tool_is_found_in_path() {
        // `sh` exists on every machine these tests run on.
        assert!(require_tool("sh").is_some());
    }
}
