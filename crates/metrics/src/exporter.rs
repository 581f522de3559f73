//! The Prometheus recorder: installed once per process with the `node` label on every
//! series, every catalog metric described, every series of a closed vocabulary
//! registered at zero (so rates and alerts work from the first scrape).

use std::{sync::OnceLock, time::Duration};

use metrics::Label;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::catalog::{CATALOG, DNS_BUCKETS, Kind, Metric, names};

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// How often histogram samples are folded into their buckets when nobody scrapes
/// (bounds the memory the samples take).
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process's Prometheus recorder with `node` as the `node` label of
/// every series. Only the first call installs; later calls return its result (the
/// node label cannot change without a restart).
pub fn install(node: &str) -> Result<(), String> {
    HANDLE
        .get_or_init(|| build(node))
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

fn build(node: &str) -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .add_global_label("node", node)
        .set_buckets_for_metric(
            Matcher::Full(names::DNS_VALIDATION_SECONDS.to_string()),
            DNS_BUCKETS,
        )
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: cannot install the recorder: {e}"))?;
    for m in CATALOG {
        describe(m);
        register_at_zero(m);
    }
    metrics::gauge!(names::BUILD_INFO, "version" => crate::catalog::VERSION).set(1.0);
    let h = handle.clone();
    // A plain thread: no runtime needed, and the recorder lives as long as the process.
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                h.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(target: "danegate::mail", "metrics: no upkeep thread ({e}); histogram samples are folded at each scrape only");
    }
    Ok(handle)
}

fn describe(m: &Metric) {
    match m.kind {
        Kind::Counter => metrics::describe_counter!(m.name, m.help),
        Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
        Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
    }
}

/// Every combination of the label values of `m`, when all its labels have a closed
/// vocabulary; none when one is open (those series appear at their first event).
pub fn zero_series(m: &Metric) -> Vec<Vec<(&'static str, &'static str)>> {
    let mut out: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
    for label in m.labels {
        if label.values.is_empty() {
            return Vec::new();
        }
        out = out
            .into_iter()
            .flat_map(|prefix| {
                label.values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((label.name, *v));
                    p
                })
            })
            .collect();
    }
    out
}

fn register_at_zero(m: &Metric) {
    if m.name == names::BUILD_INFO {
        return; // set to 1 with its version
    }
    for set in zero_series(m) {
        let labels: Vec<Label> = set.iter().map(|(k, v)| Label::new(*k, *v)).collect();
        match m.kind {
            Kind::Counter => metrics::counter!(m.name, labels).increment(0),
            Kind::Gauge => metrics::gauge!(m.name, labels).increment(0.0),
            Kind::Histogram => {
                // Registering the handle is enough: it renders with empty buckets.
                let _ = metrics::histogram!(m.name, labels);
            }
        }
    }
}

/// Is the recorder installed?
pub fn installed() -> bool {
    matches!(HANDLE.get(), Some(Ok(_)))
}

/// The Prometheus text exposition of every series; `None` before [`install`].
pub fn render() -> Option<String> {
    match HANDLE.get() {
        Some(Ok(h)) => {
            h.run_upkeep();
            Some(h.render())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::lookup;

    #[test]
    fn zero_series_is_the_product_of_closed_vocabularies() {
        let tls = lookup(names::TLS_SESSIONS).unwrap();
        let s = zero_series(tls);
        assert_eq!(s.len(), 2 * 3);
        assert!(s.contains(&vec![("direction", "out"), ("protocol", "TLSv1.3")]));
        let plain = lookup(names::MESSAGES_RECEIVED).unwrap();
        assert_eq!(zero_series(plain), vec![Vec::<(&str, &str)>::new()]);
        let open = lookup(names::DNS_UPSTREAM_FAILURES).unwrap();
        assert!(zero_series(open).is_empty());
    }
}
