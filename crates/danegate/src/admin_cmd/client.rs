//! The admin CLI's side of the control socket: one request, its answer, and what is
//! printed and returned when the gateway is not there or refuses.

use std::{path::Path, time::Duration};

use danegate_admin::control::{self, ClientError, Request, Response};
use serde::de::DeserializeOwned;

use super::{EXIT_NOT_FOUND, Target};
use crate::{EXIT_TEMPFAIL, EXIT_USAGE};

/// How long the CLI waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Asks the gateway; `Err(exit status)` after printing why.
pub(super) fn ask(name: &str, target: &Target, req: &Request) -> Result<Response, u8> {
    let dir = target.data_dir().map_err(|e| {
        eprintln!("danegate {name}: {e}");
        EXIT_USAGE
    })?;
    let path = control::socket_path(&dir);
    control::request(&path, req, TIMEOUT).map_err(|e| {
        eprintln!("danegate {name}: {e}");
        match e {
            ClientError::NotRunning(_) | ClientError::Io(_) => EXIT_TEMPFAIL,
        }
    })
}

/// Prints a refused response: each field error on its own line; returns the status.
pub(super) fn refused(name: &str, r: &Response) -> u8 {
    if r.errors.is_empty() {
        eprintln!(
            "danegate {name}: {}",
            r.error.as_deref().unwrap_or("refused")
        );
        return EXIT_USAGE;
    }
    eprintln!("danegate {name}: refused, nothing changed:");
    for e in &r.errors {
        let mut line = String::from("  ");
        if !e.field.is_empty() {
            line.push_str(&e.field);
            if !e.value.is_empty() {
                line.push_str(&format!(" = {}", e.value));
            }
            line.push_str(": ");
        }
        line.push_str(&e.message);
        if !e.key.is_empty() {
            line.push_str(&format!(" [{}]", e.key));
        }
        eprintln!("{line}");
    }
    let not_found = r.errors.iter().all(|e| e.message.starts_with("has no "));
    if not_found {
        EXIT_NOT_FOUND
    } else {
        EXIT_USAGE
    }
}

/// The result of an `ok` response as `T`.
pub(super) fn result<T: DeserializeOwned>(name: &str, r: Response) -> Result<T, u8> {
    serde_json::from_value(r.result.unwrap_or(serde_json::Value::Null)).map_err(|e| {
        eprintln!("danegate {name}: unexpected answer from the gateway: {e}");
        EXIT_TEMPFAIL
    })
}

/// Sends `req`, prints the result as JSON or with `human`.
pub(super) fn query<T: DeserializeOwned + serde::Serialize>(
    name: &str,
    target: &Target,
    req: Request,
    human: impl FnOnce(&T) -> Result<String, (String, u8)>,
) -> u8 {
    let r = match ask(name, target, &req) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if !r.ok {
        return refused(name, &r);
    }
    let v: T = match result(name, r) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if target.json {
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("danegate {name}: {e}");
                return EXIT_TEMPFAIL;
            }
        }
        return 0;
    }
    match human(&v) {
        Ok(text) => {
            // Queue contents (addresses, reply texts) come from SMTP peers.
            print!("{}", danegate_logs::escape_for_terminal(&text));
            0
        }
        Err((msg, code)) => {
            eprintln!("danegate {name}: {msg}");
            code
        }
    }
}

/// Sends a change; prints `done` (or `{"ok":true}` with --json).
pub(super) fn change(name: &str, target: &Target, req: Request, done: &str) -> u8 {
    let r = match ask(name, target, &req) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if target.json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
        if r.ok {
            return 0;
        }
        return refused(name, &r);
    }
    if !r.ok {
        return refused(name, &r);
    }
    println!("{done}");
    0
}

/// `danegate commit` through the control socket: the gateway re-reads its file,
/// validates and applies it. `None` when no gateway answers on the socket (the caller
/// falls back to SIGHUP); `Some(status)` otherwise.
pub fn commit_via_socket(data_dir: &Path) -> Option<u8> {
    let path = control::socket_path(data_dir);
    if !path.exists() {
        return None;
    }
    let r = match control::request(&path, &Request::Commit, TIMEOUT) {
        Ok(r) => r,
        Err(ClientError::NotRunning(_)) => return None,
        Err(e) => {
            eprintln!("danegate commit: {e}");
            return Some(EXIT_TEMPFAIL);
        }
    };
    if !r.ok {
        return Some(refused("commit", &r));
    }
    let msg: String = result("commit", r).unwrap_or_else(|_| "committed".into());
    println!("{msg}");
    Some(0)
}
