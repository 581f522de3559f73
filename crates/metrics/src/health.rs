//! Readiness, as a load balancer or an orchestrator asks for it: what a running gateway
//! answers, independent of HTTP.

use std::{future::Future, pin::Pin};

/// One readiness check and what it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// `store`, `dns`, `listeners`, `scheduler`.
    pub name: &'static str,
    /// Ready as far as this check goes.
    pub ok: bool,
    /// One line: what was found (what is missing when not ok).
    pub detail: String,
}

impl Check {
    /// A passed check.
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            ok: true,
            detail: detail.into(),
        }
    }

    /// A failed check.
    pub fn failed(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// A boxed future, as the object-safe [`Probe`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the HTTP endpoints ask a running gateway.
pub trait Probe: Send + Sync + 'static {
    /// Updates the sampled gauges (queue depth and age, connections open) before a
    /// scrape. Should be cheap; may skip the work when called again within a second.
    fn refresh(&self) -> BoxFuture<'_, ()>;

    /// Every readiness check: the node is ready when all are ok.
    fn readiness(&self) -> BoxFuture<'_, Vec<Check>>;
}

/// Are all checks ok?
pub fn all_ok(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.ok)
}
