//! DNS: resolvers, query timeout and trust anchors, and the form that sets them.

#[allow(unused_imports)]
use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct DnsUiForm {
    #[serde(default)]
    resolvers: String,
    #[serde(default)]
    timeout_secs: String,
    #[serde(default)]
    trust_anchor_file: String,
}

impl DnsUiForm {
    /// The form filled with the configuration in force.
    fn current(admin: &Admin) -> Self {
        let c = admin.config();
        DnsUiForm {
            resolvers: c
                .dns
                .resolvers
                .iter()
                .map(|r| format!("{} {}\n", r.address, r.priority))
                .collect(),
            timeout_secs: c.dns.timeout.as_secs().to_string(),
            trust_anchor_file: c
                .dns
                .trust_anchor_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }
}

pub(crate) fn dns_body(
    st: &State,
    a: &Authed,
    q: &Done,
    dns: &danegate_admin::DnsView,
    form: &DnsUiForm,
    errors: &[FieldError],
) -> Markup {
    let fields = ["resolvers", "timeout_secs", "trust_anchor_file"];
    html! {
        h1 { "DNS" }
        (done_banner(q))
        @if st.admin.config_path().is_none() { (read_only_note()) }
        h2 { "Resolvers" }
        table id="upstreams" {
            thead { tr { th { "Address" } th { "Priority" } th { "DNSSEC probe" } } }
            tbody {
                @for u in &dns.upstreams {
                    tr {
                        td { (u.address) } td.num { (u.priority) }
                        td { @match u.capability.as_str() {
                            "dnssec" => "DNSSEC-capable",
                            "no-dnssec" => span.warning { "no DNSSEC: DANE domains would look Bogus" },
                            "unreachable" => span.warning { "unreachable" },
                            other => (other),
                        } }
                    }
                }
            }
        }
        p.hint { "Lower priority values are asked first; give DNSSEC-capable resolvers the lowest." }
        p id="dns-timeout" { "Query timeout: " (dns.timeout_secs) " s" }
        h2 { "Trust anchors" }
        p id="anchor-source" { "Source: " (dns.anchor_source) }
        table id="anchors" {
            thead { tr { th { "Owner" } th { "Type" } th { "Record" } th { "RFC 5011" } } }
            tbody {
                @for an in &dns.anchors {
                    tr { td { (an.owner) } td { (an.kind) } td { code { (an.text) } } td { (an.rfc5011) } }
                }
            }
        }
        h2 { "Edit DNS settings" }
        (general_errors(errors, &fields))
        form method="post" action="/dns" id="dns-form" {
            (csrf_field(&a.session))
            table.form {
                tr { th { label for="dns-resolvers" { "Resolvers" } }
                     td { textarea id="dns-resolvers" name="resolvers" rows="5" cols="40"
                              placeholder="127.0.0.1 0\n[::1]:53 10" { (form.resolvers) }
                          span.hint { br; "One " code { "ADDR[:PORT] PRIORITY" } " per line; empty: the nameservers of /etc/resolv.conf." }
                          (field_errors(errors, &["resolvers"])) } }
                tr { th { label for="dns-timeout" { "Query timeout (s)" } }
                     td { input type="text" id="dns-timeout" name="timeout_secs" value=(form.timeout_secs) size="4";
                          span.hint { " 1 – 60; empty: 3." }
                          (field_errors(errors, &["timeout_secs"])) } }
                tr { th { label for="dns-anchors" { "Trust-anchor file" } }
                     td { input type="text" id="dns-anchors" name="trust_anchor_file" value=(form.trust_anchor_file) size="40" placeholder="empty: built-in root anchors";
                          span.hint { br; "DS or DNSKEY lines in zone-file syntax; empty: the built-in root anchors." }
                          (field_errors(errors, &["trust_anchor_file"])) } }
            }
            div.actions { button type="submit" id="dns-submit" { "Submit" } }
        }
    }
}

pub(crate) async fn dns_page(
    AxState(st): AxState<State>,
    a: Authed,
    Query(q): Query<Done>,
) -> Response {
    let dns = st.admin.dns_probed().await;
    let form = DnsUiForm::current(&st.admin);
    let body = dns_body(&st, &a, &q, &dns, &form, &[]);
    respond(
        StatusCode::OK,
        page("DNS", Nav::Dns, Some(&a.session), body),
    )
}

pub(crate) async fn set_dns(
    AxState(st): AxState<State>,
    a: Authed,
    Form(f): Form<DnsUiForm>,
) -> Response {
    let form = DnsForm {
        resolvers: f.resolvers.clone(),
        timeout_secs: Some(f.timeout_secs.clone()),
        trust_anchor_file: Some(f.trust_anchor_file.clone()),
    };
    match blocking(&st, move |ad| ad.set_dns(&form)).await {
        Err(r) => r,
        Ok(Ok(())) => Redirect::to("/dns?done=dns-saved").into_response(),
        Ok(Err(errors)) => {
            let dns = st.admin.dns();
            let body = dns_body(&st, &a, &Done::default(), &dns, &f, &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page("DNS", Nav::Dns, Some(&a.session), body),
            )
        }
    }
}
