//! `[[log]]`: log subscriptions (level, format, rotation); names and files unique.

use std::collections::HashMap;
use std::path::PathBuf;

use toml::de::DeValue;

use super::{Ctx, Tab, to_u32};
use crate::limits;
use crate::model::*;

const LOG: &[&str] = &[
    "name",
    "file",
    "level",
    "format",
    "rotate_size_bytes",
    "rotate_interval",
    "max_files",
];

/// `[[log]]`: log subscriptions; names and files unique.
pub(super) fn parse_logs(
    ctx: &mut Ctx<'_>,
    root: &Tab<'_, '_>,
    server: &Server,
) -> Vec<LogSubscription> {
    let tabs = ctx.tables(root, "log", LOG);
    let mut out: Vec<LogSubscription> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut files: HashMap<PathBuf, usize> = HashMap::new();
    for (i, tab) in tabs {
        let Some(name_v) = tab.get("name") else {
            ctx.missing(tab.key("name"), tab.span.clone(), "is required");
            continue;
        };
        let Some(name) = ctx.str_v(tab.key("name"), name_v) else {
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || name.starts_with('.')
        {
            ctx.err(
                tab.key("name"),
                name_v.span(),
                "must be letters, digits, '_', '-' or '.' (not first), e.g. \"mail_logs\"",
            );
            continue;
        }
        if let Some(j) = names.insert(name.to_string(), i) {
            ctx.err(
                tab.key("name"),
                name_v.span(),
                format!("duplicate log subscription name (also log[{j}])"),
            );
        }
        let mut l = LogSubscription::with_defaults(name);
        l.file = ctx.path(&tab, "file");
        if let Some(v) = ctx.choice(
            &tab,
            "level",
            &[
                (LogLevel::Critical, "critical"),
                (LogLevel::Warning, "warning"),
                (LogLevel::Info, "info"),
                (LogLevel::Debug, "debug"),
                (LogLevel::Trace, "trace"),
            ],
        ) {
            l.level = v;
        }
        if let Some(v) = ctx.choice(
            &tab,
            "format",
            &[(LogFormat::Text, "text"), (LogFormat::Json, "json")],
        ) {
            l.format = v;
        }
        if let Some(v) = tab.get("rotate_size_bytes") {
            let (lo, hi) = limits::LOG_ROTATE_SIZE;
            let key = tab.key("rotate_size_bytes");
            match v.get_ref() {
                DeValue::Integer(n)
                    if i64::from_str_radix(n.as_str(), n.radix()).ok() == Some(0) =>
                {
                    l.rotate_size_bytes = None;
                }
                DeValue::Integer(_) => {
                    if let Some(n) = ctx.int_v(key.clone(), v, lo, hi) {
                        l.rotate_size_bytes = u64::try_from(n).ok();
                    } else if let Some(e) = ctx.errors.last_mut() {
                        e.message =
                            format!("must be 0 (no size rotation) or between {lo} and {hi}");
                    }
                }
                _ => {
                    ctx.int_v(key, v, lo, hi);
                }
            }
        }
        if let Some(v) = ctx.choice(
            &tab,
            "rotate_interval",
            &[
                (None, "none"),
                (Some(RotateInterval::Hourly), "hourly"),
                (Some(RotateInterval::Daily), "daily"),
            ],
        ) {
            l.rotate_interval = v;
        }
        let (lo, hi) = limits::LOG_MAX_FILES;
        if let Some(n) = ctx.int(&tab, "max_files", lo, hi) {
            l.max_files = to_u32(n);
        }
        let path = l.path(&server.data_dir);
        if let Some(j) = files.insert(path.clone(), i) {
            ctx.err(
                tab.key("file"),
                tab.span_of("file"),
                format!(
                    "{} is already the file of log[{j}]: each subscription needs its own file",
                    path.display()
                ),
            );
        }
        out.push(l);
    }
    out
}
