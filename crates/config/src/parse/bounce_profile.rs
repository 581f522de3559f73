//! `[[bounce_profile]]`: retry schedule, queue lifetime, delay warnings and hard bounces;
//! names unique, and a `default` profile always exists.

use std::collections::HashMap;

use super::{Ctx, Tab, secs, to_u32};
use crate::limits;
use crate::model::*;

const BOUNCE: &[&str] = &[
    "name",
    "initial_retry_secs",
    "max_retry_interval_secs",
    "max_retries",
    "max_queue_time_secs",
    "delay_warning_after_secs",
    "hard_bounces",
];

pub(super) fn parse_bounce_profiles(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<BounceProfile> {
    let tabs = ctx.tables(root, "bounce_profile", BOUNCE);
    let mut out: Vec<BounceProfile> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, tab) in tabs {
        let Some(name_v) = tab.get("name") else {
            ctx.missing(tab.key("name"), tab.span.clone(), "is required");
            continue;
        };
        let Some(name) = ctx.str_v(tab.key("name"), name_v) else {
            continue;
        };
        if name.trim().is_empty() {
            ctx.err(tab.key("name"), name_v.span(), "must not be empty");
            continue;
        }
        if let Some(j) = names.insert(name.to_string(), i) {
            ctx.err(
                tab.key("name"),
                name_v.span(),
                format!("duplicate bounce profile name (also bounce_profile[{j}])"),
            );
        }
        let mut b = BounceProfile::with_defaults(name);
        let (lo, hi) = limits::INITIAL_RETRY_SECS;
        if let Some(n) = ctx.int(&tab, "initial_retry_secs", lo, hi) {
            b.initial_retry = secs(n);
        }
        let initial = i64::try_from(b.initial_retry.as_secs()).unwrap_or(1);
        if !tab.has("max_retry_interval_secs") {
            b.max_retry_interval = b.max_retry_interval.max(b.initial_retry);
        }
        let (_, hi) = limits::MAX_RETRY_INTERVAL_SECS;
        if let Some(n) = ctx.int(&tab, "max_retry_interval_secs", initial, hi) {
            b.max_retry_interval = secs(n);
        }
        let (lo, hi) = limits::MAX_RETRIES;
        if let Some(n) = ctx.int(&tab, "max_retries", lo, hi) {
            b.max_retries = to_u32(n);
        }
        let (lo, hi) = limits::MAX_QUEUE_TIME_SECS;
        if let Some(n) = ctx.int(&tab, "max_queue_time_secs", lo, hi) {
            b.max_queue_time = secs(n);
        }
        let queue = i64::try_from(b.max_queue_time.as_secs()).unwrap_or(i64::MAX);
        if let Some(n) = ctx.int(&tab, "delay_warning_after_secs", 0, queue - 1) {
            b.delay_warning_after = (n > 0).then(|| secs(n));
        }
        if let Some(h) = ctx.boolean(&tab, "hard_bounces") {
            b.hard_bounces = h;
        }
        out.push(b);
    }
    if !out.iter().any(|b| b.name == "default") {
        out.insert(0, BounceProfile::with_defaults("default"));
    }
    out
}
