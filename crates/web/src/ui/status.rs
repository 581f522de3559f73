//! Delivery Status: the sortable list, a page per domain, Deliver now, Bounce.

#[allow(unused_imports)]
use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct SortQuery {
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub order: String,
}

/// The Delivery Status columns: (query key, heading).
pub(crate) const COLUMNS: &[(&str, &str)] = &[
    ("domain", "Destination Domain"),
    ("active", "Active Recipients"),
    ("connections_out", "Connections Out"),
    ("in_flight", "In Delivery"),
    ("delivered", "Delivered Recipients"),
    ("soft_bounced", "Soft Bounced Events"),
    ("hard_bounced", "Hard Bounced Recipients"),
    ("last", "Latest TLS / DANE Outcome"),
];

/// Sorts per `sort`/`order` (default: active recipients, most first, as the appliance does
/// to watch that column). Unknown keys sort by domain.
pub(crate) fn sort_status(list: &mut [DomainStatus], sort: &str, order: &str) -> (String, bool) {
    let key = if COLUMNS.iter().any(|(k, _)| *k == sort) {
        sort
    } else if sort.is_empty() {
        "active"
    } else {
        "domain"
    };
    let desc = match order {
        "asc" => false,
        "desc" => true,
        _ => key != "domain" && key != "last",
    };
    list.sort_by(|a, b| {
        let o = match key {
            "active" => a.active.cmp(&b.active),
            "in_flight" => a.in_flight.cmp(&b.in_flight),
            "connections_out" => a.connections_out.cmp(&b.connections_out),
            "delivered" => a.delivered.cmp(&b.delivered),
            "soft_bounced" => a.soft_bounced.cmp(&b.soft_bounced),
            "hard_bounced" => a.hard_bounced.cmp(&b.hard_bounced),
            "last" => a
                .last
                .as_ref()
                .map(|l| l.dane.clone())
                .cmp(&b.last.as_ref().map(|l| l.dane.clone())),
            _ => std::cmp::Ordering::Equal,
        };
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| a.domain.cmp(&b.domain))
    });
    (key.to_string(), desc)
}

pub(crate) fn outcome_text(s: &DomainStatus) -> Markup {
    match &s.last {
        None => html! { span.hint { "not tried yet" } },
        Some(l) => html! {
            (l.dane)
            @if let (Some(p), Some(c)) = (&l.tls_protocol, &l.tls_cipher) { br; "TLS " (p) " " (c) }
            @else if l.cert_failed.is_some() { br; span.warning { "TLS negotiated, certificate check failed" } }
            @else { br; "no TLS" }
            @if let Some(h) = l.host.as_ref().or(l.tried.as_ref()) { br; span.hint { (h) } }
            @if let Some(sh) = &l.shadow {
                br; span.hint.shadow { "Mandatory would: " (sh.mandatory.verdict.words()) "; Opportunistic would: " (sh.opportunistic.verdict.words()) @if let Some(m) = &sh.mta_sts { "; MTA-STS enforce would: " (m.verdict.words()) } }
            }
        },
    }
}

pub(crate) async fn delivery_status(
    AxState(st): AxState<State>,
    a: Authed,
    Query(q): Query<SortQuery>,
) -> Response {
    let mut list = st.admin.delivery_status().await;
    let (key, desc) = sort_status(&mut list, &q.sort, &q.order);
    let total_active: u64 = list.iter().map(|d| d.active).sum();
    let body = html! {
        h1 { "Delivery Status" }
        p { "Active recipients in the queue: " strong id="total-active" { (total_active) } }
        table id="delivery-status" {
            thead { tr {
                @for (k, label) in COLUMNS {
                    @let next = if *k == key && !desc { "desc" } else { "asc" };
                    th { a href={ "/delivery-status?sort=" (k) "&order=" (next) } data-sort=(k) {
                        (label)
                        @if *k == key { (if desc { " ▼" } else { " ▲" }) }
                    } }
                }
            } }
            tbody {
                @for d in &list {
                    tr data-domain=(d.domain) {
                        td { a href={ "/delivery-status/" (enc(&d.domain)) } { (d.domain) } }
                        td.num { (d.active) }
                        td.num { (d.connections_out) }
                        td.num { (d.in_flight) }
                        td.num { (d.delivered) }
                        td.num { (d.soft_bounced) }
                        td.num { (d.hard_bounced) }
                        td { (outcome_text(d)) }
                    }
                }
                @if list.is_empty() { tr { td colspan="8" { "No destination domains yet." } } }
            }
        }
        p.hint { "Connections Out: delivery connections open now. In Delivery: recipients being delivered at this moment." }
    };
    respond(
        StatusCode::OK,
        page("Delivery Status", Nav::Status, Some(&a.session), body),
    )
}

pub(crate) async fn host_status(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let h: HostStatus = st.admin.host_status(&domain).await;
    let p = &h.profile;
    let body = html! {
        h1 { "Host Status: " (h.domain) }
        (done_banner(&q))
        div.actions {
            form.inline method="post" action={ "/delivery-status/" (enc(&h.domain)) "/deliver-now" } {
                (csrf_field(&a.session))
                button type="submit" id="deliver-now" { "Deliver now" }
            }
            form.inline method="post" action={ "/delivery-status/" (enc(&h.domain)) "/bounce" }
                data-confirm={ "Bounce every queued recipient of " (h.domain) "?" } {
                (csrf_field(&a.session))
                button type="submit" id="bounce-all" { "Bounce all queued" }
            }
        }
        h2 { "Counters" }
        table id="counters" {
            tr { th { "Active Recipients" } td.num { (h.counts.active) } }
            tr { th { "Connections Out" } td.num { (h.counts.connections_out) } }
            tr { th { "In Delivery" } td.num { (h.counts.in_flight) } }
            tr { th { "Delivered Recipients" } td.num { (h.counts.delivered) } }
            tr { th { "Soft Bounced Events" } td.num { (h.counts.soft_bounced) } }
            tr { th { "Hard Bounced Recipients" } td.num { (h.counts.hard_bounced) } }
        }
        h2 { "Latest outcome" }
        @match &h.counts.last {
            None => p { "No delivery attempt since the gateway started." },
            Some(l) => table id="last-outcome" {
                tr { th { "When" } td { (fmt_time(l.when)) } }
                tr { th { "Host" } td { (l.host.clone().unwrap_or_else(|| "—".into())) } }
                tr { th { "DANE" } td id="last-dane" { (l.dane) } }
                tr { th { "Host tried" } td id="last-tried" { (l.tried.clone().unwrap_or_else(|| "—".into())) } }
                tr { th { "TLS" } td id="last-tls" { (l.tls_text()) } }
                tr { th { "Detail" } td { (l.detail) } }
                @match &l.shadow {
                    None => tr { th { "Shadow evaluation" } td id="shadow-none" { "not evaluated" } },
                    Some(sh) => {
                        tr { th { "DANE Mandatory would" } td id="shadow-mandatory" { (sh.mandatory.verdict.words()) ": " (sh.mandatory.reason) @if !sh.mandatory.row.is_empty() { br; span.hint { (sh.mandatory.row) } } } }
                        tr { th { "DANE Opportunistic would" } td id="shadow-opportunistic" { (sh.opportunistic.verdict.words()) ": " (sh.opportunistic.reason) @if !sh.opportunistic.row.is_empty() { br; span.hint { (sh.opportunistic.row) } } } }
                        tr { th { "MTA-STS enforce would" } td id="shadow-mta-sts" { @match &sh.mta_sts { Some(m) => { (m.verdict.words()) ": " (m.reason) }, None => { "not evaluated" } } } }
                    }
                }
            },
        }
        @if let Some(s) = &h.mta_sts {
            h2 { "MTA-STS" }
            table id="mta-sts" {
                @for (k, v) in s.lines() {
                    tr { th { (k) } td { (v) } }
                }
            }
        }
        h2 { "Destination control applied" }
        table id="profile" {
            tr { th { "Profile" } td { a href={ "/destinations/" (enc(if p.is_default { "default" } else { &p.domain })) } { @if p.is_default { "Default" } @else { (p.domain) } } } }
            tr { th { "TLS Support" } td { (p.tls) } }
            tr { th { "DANE Support" } td { (p.dane) } }
            tr { th { "Concurrent Connections" } td { (p.max_concurrent_connections) } }
            tr { th { "Messages per Connection" } td { (p.max_messages_per_connection) } }
            tr { th { "Recipient Limit" } td { (recipient_limit_text(p)) } }
            tr { th { "Bounce Profile" } td { (p.bounce_profile) } }
            tr { th { "Bounce Verification" } td { @if p.bounce_verification { "Yes" } @else { "No" } } }
            tr { th { "MTA-STS" } td { (p.mta_sts) } }
            @if let Some(r) = &h.route {
                tr { th { "SMTP Route" } td { (r.hosts.join(", ")) @if let Some(w) = &r.dane_warning { br; span.warning { (w) } } } }
            }
        }
        h2 { "Queued recipients (" (h.queued.len()) ")" }
        table id="queued" {
            thead { tr { th { "MID" } th { "RID" } th { "Recipient" } th { "Sender" } th { "Received" } th { "Attempts" } th { "Next attempt" } th { "Node" } th { "Last reason" } th { "" } } }
            tbody {
                @for r in &h.queued {
                    tr {
                        td.num { (r.mid) } td.num { (r.rid) } td { (r.address) } td { (r.sender) }
                        td { (fmt_time(r.received_at)) } td.num { (r.attempts) }
                        td { @if r.in_flight { "in delivery" } @else { (fmt_time(r.next_attempt)) } }
                        td.node { (r.node) }
                        td { (r.last_reason.clone().unwrap_or_default()) }
                        td {
                            form.inline method="post" action={ "/delivery-status/" (enc(&h.domain)) "/bounce" }
                                data-confirm={ "Bounce " (r.address) "?" } {
                                (csrf_field(&a.session))
                                input type="hidden" name="mid" value=(r.mid);
                                input type="hidden" name="rid" value=(r.rid);
                                button type="submit" { "Bounce" }
                            }
                        }
                    }
                }
                @if h.queued.is_empty() { tr { td colspan="10" { "Nothing queued." } } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page("Host Status", Nav::Status, Some(&a.session), body),
    )
}

pub(crate) async fn deliver_now(
    AxState(st): AxState<State>,
    _a: Authed,
    Path(domain): Path<String>,
) -> Response {
    let n = st.admin.deliver_now(Some(&domain)).await;
    tracing::info!(target: "danegate::web", "web UI: deliver now {domain} ({n} recipients)");
    Redirect::to(&format!(
        "/delivery-status/{}?done=delivered&d={}&n={n}",
        enc(&domain),
        enc(&domain)
    ))
    .into_response()
}

#[derive(Deserialize)]
pub(crate) struct BounceForm {
    mid: Option<u64>,
    rid: Option<u64>,
}

/// Bounces one queued recipient (`mid` + `rid`) or every queued recipient of the domain.
pub(crate) async fn bounce_domain(
    admin: &Admin,
    domain: &str,
    one: Option<(u64, u64)>,
) -> Result<usize, String> {
    match one {
        Some((mid, rid)) => {
            // Only a recipient of this domain.
            let queued = admin.queue_list(Some(domain), 100_000).await;
            if !queued.iter().any(|q| q.mid == mid && q.rid == rid) {
                return Err(format!("MID {mid} RID {rid} is not queued for {domain}"));
            }
            admin.bounce(mid, Some(rid)).await
        }
        None => {
            let mut n = 0;
            for q in admin.queue_list(Some(domain), 100_000).await {
                if q.in_flight {
                    continue;
                }
                if let Ok(k) = admin.bounce(q.mid, Some(q.rid)).await {
                    n += k;
                }
            }
            Ok(n)
        }
    }
}

pub(crate) async fn bounce(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Form(f): Form<BounceForm>,
) -> Response {
    let one = f.mid.zip(f.rid);
    match bounce_domain(&st.admin, &domain, one).await {
        Ok(n) => {
            tracing::info!(target: "danegate::web", "web UI: bounced {n} recipient(s) of {domain}");
            Redirect::to(&format!(
                "/delivery-status/{}?done=bounced&d={}&n={n}",
                enc(&domain),
                enc(&domain)
            ))
            .into_response()
        }
        Err(e) => error_page(
            &a.session,
            Nav::Status,
            "Nothing bounced",
            &FormErrors {
                errors: vec![FieldError {
                    field: String::new(),
                    key: String::new(),
                    value: String::new(),
                    message: e,
                }],
            },
        ),
    }
}
