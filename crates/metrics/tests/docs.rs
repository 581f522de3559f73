//! docs/metrics.md lists exactly the catalog: every metric with its type and labels,
//! and every label with its values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};

use danegate_metrics::CATALOG;

const DOC: &str = include_str!("../../../docs/metrics.md");

/// The cells of the table rows of the section `heading` whose first cell starts with
/// a backtick.
fn rows(heading: &str) -> Vec<Vec<String>> {
    let start = DOC
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading}"));
    DOC[start + heading.len() + 2..]
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// `` `a`, `b` `` as [a, b]; anything without backticks as [].
fn ticked(cell: &str) -> Vec<String> {
    cell.split(", ")
        .filter_map(|t| t.strip_prefix('`').and_then(|t| t.strip_suffix('`')))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_metric_is_documented_with_its_type_and_labels_and_nothing_else() {
    let doc: BTreeMap<String, (String, Vec<String>)> = rows("## Metrics")
        .into_iter()
        .map(|c| {
            assert_eq!(c.len(), 4, "{c:?}");
            (ticked(&c[0])[0].clone(), (c[1].clone(), ticked(&c[2])))
        })
        .collect();
    for m in CATALOG {
        let (kind, labels) = doc
            .get(m.name)
            .unwrap_or_else(|| panic!("{} is not in docs/metrics.md", m.name));
        assert_eq!(kind, m.kind.word(), "{}", m.name);
        let want: Vec<String> = m.labels.iter().map(|l| l.name.to_string()).collect();
        assert_eq!(labels, &want, "labels of {}", m.name);
    }
    let names: BTreeSet<&str> = CATALOG.iter().map(|m| m.name).collect();
    for name in doc.keys() {
        assert!(
            names.contains(name.as_str()),
            "docs/metrics.md lists {name}, which is not in the catalog"
        );
    }
    assert_eq!(doc.len(), CATALOG.len(), "a metric is listed twice");
}

#[test]
fn every_label_is_documented_with_its_values() {
    let doc: BTreeMap<String, Vec<String>> = rows("## Labels")
        .into_iter()
        .map(|c| (ticked(&c[0])[0].clone(), ticked(&c[1])))
        .collect();
    assert!(doc.contains_key("node"));
    let mut used = BTreeSet::from(["node".to_string()]);
    for m in CATALOG {
        for l in m.labels {
            used.insert(l.name.to_string());
            let values = doc
                .get(l.name)
                .unwrap_or_else(|| panic!("label {} of {} is not documented", l.name, m.name));
            if !l.values.is_empty() {
                let want: Vec<String> = l.values.iter().map(|v| v.to_string()).collect();
                assert_eq!(values, &want, "values of {} ({})", l.name, m.name);
            }
        }
    }
    for name in doc.keys() {
        assert!(
            used.contains(name),
            "docs/metrics.md documents label {name}, which no metric has"
        );
    }
}

#[test]
fn every_reason_class_is_explained() {
    let doc: Vec<String> = rows("### Reason classes")
        .into_iter()
        .map(|c| ticked(&c[0])[0].clone())
        .collect();
    let want: Vec<String> = danegate_metrics::ReasonClass::LABELS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(doc, want);
}
