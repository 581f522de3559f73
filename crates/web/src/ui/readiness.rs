//! Readiness: per destination domain, what DANE Mandatory and Opportunistic would have
//! decided for its deliveries (the gateway's shadow evaluation), a summary chart, the
//! filters would fail / ready / no DANE, and "Set DANE Mandatory" through the normal
//! Destination Controls validation and commit.

#[allow(unused_imports)]
use super::*;
use danegate_admin::readiness::{
    ModeView, Readiness, ReadinessRow, ReadinessSummary, StsView, parse_since, percent, sts_cell,
    thousands,
};

#[derive(Deserialize, Default)]
pub(crate) struct ReadinessQuery {
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub filter: String,
    #[serde(default)]
    pub done: String,
    #[serde(default)]
    pub d: String,
}

/// The filters: (query value, label).
const FILTERS: &[(&str, &str)] = &[
    ("", "All"),
    ("would-fail", "Would fail"),
    ("ready", "Ready"),
    ("no-dane", "No DANE"),
];

const WINDOWS: &[&str] = &["24h", "7d", "30d"];

fn mode_cell(m: &ModeView) -> Markup {
    let c = &m.counts;
    html! {
        @match m.pass_rate {
            Some(p) => { (percent(p)) " pass" br; span.hint { (thousands(c.pass)) " of " (thousands(c.pass + c.fail)) } }
            None if c.not_observed > 0 => { "not observed" }
            None if c.temp > 0 => { "temporary failure" }
            None => { "—" }
        }
        @for r in m.reasons.iter().take(2) {
            br; span.warning { (r.reason) }
        }
    }
}

/// The MTA-STS enforce column: the counts and the recommendation in words.
fn sts_markup(v: &StsView) -> Markup {
    let code = serde_json::to_value(v.recommendation.code)
        .ok()
        .and_then(|x| x.as_str().map(str::to_string))
        .unwrap_or_default();
    html! {
        (sts_cell(v))
        br; span.hint data-sts-code=(code) { (v.recommendation.text) }
    }
}

/// An inline SVG bar (no external assets; SVG attributes, not inline CSS, so the
/// strict CSP holds): protected today, would be protected, would fail, undecided.
fn chart(s: &ReadinessSummary) -> Markup {
    let total = s.messages.max(1) as f64;
    let extra = s.would_be_protected.saturating_sub(s.protected);
    let parts = [
        ("protected", "DANE-protected today", s.protected, "#2a7d2e"),
        (
            "would-protect",
            "would be protected by DANE Mandatory",
            extra,
            "#8cc68f",
        ),
        (
            "would-fail",
            "would fail under DANE Mandatory",
            s.would_fail,
            "#b00020",
        ),
        (
            "undecided",
            "not decided (no TLS seen, temporary failures)",
            s.undecided,
            "#bbbbbb",
        ),
    ];
    let mut x = 0.0;
    let bars: Vec<(String, String, &str, &str)> = parts
        .iter()
        .map(|(id, _, n, color)| {
            let w = *n as f64 * 100.0 / total;
            let bar = (format!("{x:.2}%"), format!("{w:.2}%"), *id, *color);
            x += w;
            bar
        })
        .collect();
    html! {
        svg id="readiness-chart" xmlns="http://www.w3.org/2000/svg" width="600" height="28" role="img"
            aria-label="Share of traffic: DANE-protected today, would be protected, would fail" {
            rect x="0" y="0" width="100%" height="28" fill="#eeeeee" {}
            @for (bx, bw, id, color) in &bars {
                rect data-part=(id) x=(bx) y="0" width=(bw) height="28" fill=(color) {}
            }
        }
        ul.legend id="readiness-legend" {
            @for (id, label, n, color) in &parts {
                li data-part=(id) {
                    svg width="12" height="12" xmlns="http://www.w3.org/2000/svg" { rect width="12" height="12" fill=(color) {} }
                    " "
                    strong { (thousands(*n)) } " (" (percent(*n as f64 * 100.0 / total)) ") " (label)
                }
            }
        }
    }
}

fn row_markup(r: &ReadinessRow, session: &auth::Session, since: &str) -> Markup {
    let filter = r.recommendation.code.filter();
    html! {
        tr data-domain=(r.domain) data-filter=(filter) {
            td { a href={ "/delivery-status/" (enc(&r.domain)) } { (r.domain) } }
            td.num { (thousands(r.messages)) }
            td { (r.profile) br; span.hint { "DANE " (r.dane) ", TLS " (r.tls) } }
            td.mandatory { (mode_cell(&r.mandatory)) }
            td.opportunistic { (mode_cell(&r.opportunistic)) }
            td.mta-sts { (sts_markup(&r.mta_sts)) }
            td.recommendation data-code=(serde_json::to_value(r.recommendation.code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) { (r.recommendation.text) }
            td {
                @if r.dane != "mandatory" {
                    form.inline method="post" action={ "/readiness/" (enc(&r.domain)) "/set-mandatory?since=" (since) }
                        data-confirm={ "Set DANE Mandatory for " (r.domain) "? " (r.recommendation.text) } {
                        (csrf_field(session))
                        button type="submit" class="set-mandatory" { "Set DANE Mandatory" }
                    }
                }
            }
        }
    }
}

pub(crate) async fn readiness_page(
    AxState(st): AxState<State>,
    a: Authed,
    Query(q): Query<ReadinessQuery>,
) -> Response {
    let since = if q.since.is_empty() {
        "7d"
    } else {
        q.since.as_str()
    };
    let secs = match parse_since(since) {
        Ok(s) => s,
        Err(e) => {
            return error_page(
                &a.session,
                Nav::Readiness,
                "Bad window",
                &FormErrors::field("since", "", since, &e),
            );
        }
    };
    let report: Readiness = match st.admin.readiness(secs).await {
        Ok(r) => r,
        Err(e) => {
            return error_page(
                &a.session,
                Nav::Readiness,
                "Readiness unavailable",
                &FormErrors::general(e),
            );
        }
    };
    let filter = FILTERS
        .iter()
        .find(|(k, _)| *k == q.filter)
        .map(|(k, _)| *k)
        .unwrap_or("");
    let rows: Vec<&ReadinessRow> = report
        .rows
        .iter()
        .filter(|r| filter.is_empty() || r.recommendation.code.filter() == filter)
        .collect();
    let body = html! {
        h1 { "Readiness" }
        @if q.done == "mandatory" {
            p.done id="done" { "DANE Mandatory set for " (q.d) " and committed." }
        }
        @if !report.shadow_enabled {
            p.warning { "Shadow evaluation is off (danegate serve --no-shadow): nothing new is recorded." }
        }
        p {
            "What DANE Mandatory, DANE Opportunistic and an enforce MTA-STS policy would have decided for every delivery of the last "
            strong id="window" { (report.window) } ", whatever the destination's profile. Window: "
            @for w in WINDOWS {
                a.window href={ "/readiness?since=" (w) "&filter=" (filter) } { (w) } " "
            }
        }
        h2 { "Traffic (" (thousands(report.summary.messages)) " messages)" }
        (chart(&report.summary))
        p.filters id="filters" {
            "Show: "
            @for (k, label) in FILTERS {
                @if *k == filter { strong data-filter=(k) { (label) } " " }
                @else { a data-filter=(k) href={ "/readiness?since=" (since) "&filter=" (k) } { (label) } " " }
            }
        }
        table id="readiness" {
            thead { tr {
                th { "Destination Domain" } th { "Messages" } th { "Profile" }
                th { "DANE Mandatory would" } th { "DANE Opportunistic would" }
                th { "MTA-STS enforce would" }
                th { "Recommendation" } th { "" }
            } }
            tbody {
                @for r in &rows { (row_markup(r, &a.session, since)) }
                @if rows.is_empty() { tr { td colspan="8" { "No destination domain in this view." } } }
            }
        }
        p.hint { "Set DANE Mandatory edits (or adds) the domain's destination profile through Destination Controls: the same validation and commit." }
    };
    respond(
        StatusCode::OK,
        page("Readiness", Nav::Readiness, Some(&a.session), body),
    )
}

pub(crate) async fn set_mandatory(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Query(q): Query<ReadinessQuery>,
) -> Response {
    let d = domain.clone();
    match blocking(&st, move |admin| admin.set_dane_mandatory(&d)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            tracing::info!(target: "danegate::web", "web UI: DANE Mandatory set for {domain}");
            let since = if q.since.is_empty() {
                "7d"
            } else {
                q.since.as_str()
            };
            Redirect::to(&format!(
                "/readiness?since={}&done=mandatory&d={}",
                enc(since),
                enc(&domain)
            ))
            .into_response()
        }
        Ok(Err(e)) => error_page(&a.session, Nav::Readiness, "DANE Mandatory not set", &e),
    }
}
