//! Control-socket JSON lines: each input line is parsed as a request exactly as the
//! socket's reader does (trimmed, `serde_json` into `control::Request`) and handed
//! to the admin layer of a running gateway, whose answer is serialised back.
#![no_main]

use danegate_admin::control::{self, Request};
use danegate_fuzz::{gateway, runtime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let gw = gateway();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(8) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Ok(req) = serde_json::from_str::<Request>(line) {
            if matches!(req, Request::Commit) {
                continue;
            }
            let resp = runtime().block_on(control::handle(&gw.admin, req));
            let _ = serde_json::to_string(&resp);
        }
    }
});
