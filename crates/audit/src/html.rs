//! The self-contained HTML report: no external asset (inline CSS, a few lines of inline
//! JavaScript to sort the table by any column, an inline SVG bar chart of the verdicts).

use danegate_delivery::Verdict;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::{
    record::{DomainResult, verdict_word},
    summary::Summary,
};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;width:100%;font-size:14px}\
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#eee;cursor:pointer;user-select:none}th:hover{background:#ddd}\
tr.dane-success td.v{background:#d7f5d7}tr.dane-failed td.v{background:#f9d0d0}\
tr.fallback td.v{background:#fdf0c4}tr.temp-fail td.v{background:#dde4f7}\
td.r{font-size:12px;color:#555}.num{text-align:right}";

/// Sorts the table by the clicked column (numbers numerically), toggling the order.
const SORT_JS: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){\
th.addEventListener('click',function(){var tb=th.closest('table').tBodies[0];\
var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
var rows=Array.from(tb.rows);rows.sort(function(a,b){\
var x=a.cells[i].textContent.trim(),y=b.cells[i].textContent.trim();\
var nx=parseFloat(x),ny=parseFloat(y);\
var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});\
rows.forEach(function(r){tb.appendChild(r);});});});";

fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::DaneSuccess => "#3a9d3a",
        Verdict::DaneFailed => "#c83c3c",
        Verdict::Fallback => "#d9a514",
        Verdict::TempFail => "#5470c6",
    }
}

/// A horizontal bar per verdict, its length the share of domains.
fn chart(s: &Summary) -> Markup {
    let rows = [
        (Verdict::DaneSuccess, s.dane_success),
        (Verdict::DaneFailed, s.dane_failed),
        (Verdict::Fallback, s.fallback),
        (Verdict::TempFail, s.temp_fail),
    ];
    let total = s.domains.max(1) as f64;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width="520" height="120" role="img"
            aria-label="domains per verdict" {
            @for (i, (v, n)) in rows.iter().enumerate() {
                @let y = 6 + i * 28;
                @let w = (360.0 * *n as f64 / total).round() as u32;
                text x="0" y=(y + 15) font-size="13" { (verdict_word(*v)) }
                rect x="110" y=(y) width=(w.max(1)) height="20" fill=(colour(*v)) {}
                text x=(115 + w) y=(y + 15) font-size="13" {
                    (n) " (" (format!("{:.1}", 100.0 * *n as f64 / total)) " %)"
                }
            }
        }
    }
}

fn hosts_cell(r: &DomainResult) -> String {
    r.hosts
        .iter()
        .map(|h| {
            let addrs: Vec<String> = h.addresses.iter().map(|a| a.ip.to_string()).collect();
            if addrs.is_empty() {
                h.name.clone()
            } else {
                format!("{} ({})", h.name, addrs.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The MTA-STS cell: mode and result, each MX host's pattern match, or the error.
fn sts_cell(r: &DomainResult) -> String {
    let Some(v) = r.mta_sts.done() else {
        return "not checked".into();
    };
    let rep = &v.report;
    match &rep.policy {
        Some(p) => {
            let hosts: Vec<String> = rep
                .hosts
                .iter()
                .map(|h| {
                    if h.matches_policy {
                        format!("{} {}", h.host, h.result)
                    } else {
                        format!("{} not in policy", h.host)
                    }
                })
                .collect();
            let mut s = format!(
                "{} (id {}, max_age {}): {}",
                p.mode, p.id, p.max_age, v.result
            );
            if let Some(e) = v.enforce {
                s.push_str(&format!("; enforce: {e}"));
            }
            if !hosts.is_empty() {
                s.push_str(&format!("; {}", hosts.join(", ")));
            }
            s
        }
        None => match (&rep.txt, &rep.policy_error) {
            (Some(txt), Some(e)) => format!(
                "{txt} policy error ({}): {e}",
                rep.policy_error_type.as_deref().unwrap_or("-")
            ),
            (_, Some(e)) if v.result == "temp-fail" => format!("unknown: {e}"),
            _ => "none".into(),
        },
    }
}

/// The TLS-RPT cell: status and destinations, or why not.
fn tlsrpt_cell(r: &DomainResult) -> String {
    let Some(t) = r.tls_rpt.done() else {
        return "not checked".into();
    };
    match t.status {
        "valid" => format!("valid: {}", t.rua.join(", ")),
        "absent" => "none".into(),
        other => format!("{other}: {}", t.error.as_deref().unwrap_or("")),
    }
}

/// The report page.
pub fn report(summary: &Summary, results: &[DomainResult]) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "danegate audit: " (summary.domains) " domains" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "DANE audit" }
                p {
                    (summary.domains) " domains, " (summary.mode) " table, "
                    (format!("{:.1}", summary.elapsed_ms as f64 / 1000.0)) " s; "
                    (summary.mx_hosts) " MX hosts, " (summary.handshakes) " STARTTLS probes ("
                    (summary.shared) " shared)."
                }
                (chart(summary))
                @if let (Some(sts), Some(rpt)) = (summary.sts_text(), summary.tlsrpt_text()) {
                    p.sts { (sts) "." br; (rpt) "." }
                }
                @if !summary.not_answering.is_empty() {
                    h2 { "MX hosts that did not answer" }
                    ul {
                        @for d in &summary.not_answering {
                            li { (d.host) " (" (d.domains) " domains): " (d.error) }
                        }
                    }
                }
                h2 { "Domains" }
                p { "Click a column heading to sort." }
                table.sortable id="domains" {
                    thead {
                        tr {
                            th { "domain" } th { "verdict" } th { "MX" } th { "MX hosts" }
                            th { "reason" } th { "table row" } th { "MTA-STS" } th { "TLS-RPT" }
                            th.num { "ms" }
                        }
                    }
                    tbody {
                        @for r in results {
                            tr class=(verdict_word(r.verdict)) {
                                td { (r.domain) }
                                td.v { (verdict_word(r.verdict)) }
                                td { (r.mx_status.map(|s| s.word()).unwrap_or("-")) }
                                td { (hosts_cell(r)) }
                                td { (r.reason) }
                                td.r { (r.row.as_deref().unwrap_or("")) }
                                td.r { (sts_cell(r)) }
                                td.r { (tlsrpt_cell(r)) }
                                td.num { (r.elapsed_ms) }
                            }
                        }
                    }
                }
                script { (PreEscaped(SORT_JS)) }
            }
        }
    };
    page.into_string()
}
