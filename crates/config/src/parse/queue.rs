//! `[queue]`: the queue's backend and, for PostgreSQL, how to reach the database.

use super::{Ctx, Tab};
use crate::queue::*;

const QUEUE: &[&str] = &[
    "backend",
    "url",
    "password_file",
    "password_env",
    "tls",
    "tls_ca_file",
    "pool_size",
    "lease_secs",
];

pub(super) fn parse_queue(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> QueueSettings {
    let mut q = QueueSettings::default();
    let Some(tab) = root
        .get("queue")
        .and_then(|v| ctx.table("queue".into(), v, QUEUE))
    else {
        return q;
    };
    if let Some(b) = ctx.choice(
        &tab,
        "backend",
        &[
            (QueueBackend::Sqlite, "sqlite"),
            (QueueBackend::Postgres, "postgres"),
        ],
    ) {
        q.backend = b;
    }
    if let Some(v) = tab.get("url")
        && let Some(u) = ctx.str_v(tab.key("url"), v)
    {
        match check_url(u) {
            Ok(()) => q.url = Some(u.trim().to_string()),
            Err(m) => {
                // Never echo a password back: name the key, not the value.
                ctx.missing(tab.key("url"), v.span(), m);
            }
        }
    }
    let file = ctx.path(&tab, "password_file");
    let env = match tab.get("password_env") {
        Some(v) => match ctx.str_v(tab.key("password_env"), v) {
            Some(e) if !e.is_empty() && !e.contains('=') && !e.contains('\0') => {
                Some(e.to_string())
            }
            Some(_) => {
                ctx.err(
                    tab.key("password_env"),
                    v.span(),
                    "must be the name of an environment variable",
                );
                None
            }
            None => None,
        },
        None => None,
    };
    q.password = match (file, env) {
        (Some(_), Some(_)) => {
            ctx.err(
                tab.key("password_env"),
                tab.span_of("password_env"),
                "give either queue.password_file or queue.password_env, not both",
            );
            None
        }
        (Some(f), None) => Some(PasswordSource::File(f)),
        (None, Some(e)) => Some(PasswordSource::Env(e)),
        (None, None) => None,
    };
    if let Some(t) = ctx.boolean(&tab, "tls") {
        q.tls = t;
    }
    q.tls_ca_file = ctx.path(&tab, "tls_ca_file");
    if q.tls_ca_file.is_some() && !q.tls {
        ctx.err(
            tab.key("tls_ca_file"),
            tab.span_of("tls_ca_file"),
            "needs queue.tls = true",
        );
    }
    if let Some(n) = ctx.int(&tab, "pool_size", POOL_SIZE.0, POOL_SIZE.1) {
        q.pool_size = super::to_u32(n);
    }
    if let Some(n) = ctx.int(&tab, "lease_secs", LEASE_SECS.0, LEASE_SECS.1) {
        q.lease = super::secs(n);
    }
    if q.backend == QueueBackend::Postgres && q.url.is_none() && !tab.has("url") {
        ctx.missing(
            tab.key("url"),
            tab.span.clone(),
            "is required with backend = \"postgres\" (postgresql://user@host/database)",
        );
    }
    q
}
