//! SMTP Routes: the list and the set/delete forms.

#[allow(unused_imports)]
use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct RouteForm {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    hosts: String,
}

/// `"a.example:2525, b.example"` or `"USEDNS"` → the list.
pub(crate) fn split_hosts(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn routes_body(
    st: &State,
    a: &Authed,
    q: &Done,
    form: &RouteForm,
    errors: &[FieldError],
) -> Markup {
    let routes = st.admin.routes();
    html! {
        h1 { "SMTP Routes" }
        (done_banner(q))
        @if st.admin.config_path().is_none() { (read_only_note()) }
        table id="routes" {
            thead { tr { th { "Receiving Domain" } th { "Destination Hosts" } th { "" } } }
            tbody {
                @for r in &routes {
                    tr data-domain=(r.domain) {
                        td { (r.domain) }
                        td { (r.hosts.join(", ")) @if let Some(w) = &r.dane_warning { br; span.warning { (w) } } }
                        td {
                            form.inline method="post" action={ "/routes/" (enc(&r.domain)) "/delete" }
                                data-confirm={ "Delete the SMTP route of " (r.domain) "?" } {
                                (csrf_field(&a.session))
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
                @if routes.is_empty() { tr { td colspan="3" { "No SMTP routes: every domain is delivered by its MX records." } } }
            }
        }
        h2 { "Add or replace a route" }
        (general_errors(errors, &["domain", "hosts"]))
        form method="post" action="/routes" id="route-form" {
            (csrf_field(&a.session))
            table.form {
                tr { th { label for="route-domain" { "Receiving Domain" } }
                     td { input type="text" id="route-domain" name="domain" value=(form.domain) placeholder="example.com or .example.com";
                          (field_errors(errors, &["domain"])) } }
                tr { th { label for="route-hosts" { "Destination Hosts" } }
                     td { input type="text" id="route-hosts" name="hosts" value=(form.hosts) size="50" placeholder="relay.example:2525, relay2.example  or  USEDNS";
                          span.hint { br; "In order of preference, separated by commas. DANE can only be verified with USEDNS." }
                          (field_errors(errors, &["hosts"])) } }
            }
            div.actions { button type="submit" id="route-submit" { "Submit" } }
        }
    }
}

pub(crate) async fn routes_page(
    AxState(st): AxState<State>,
    a: Authed,
    Query(q): Query<Done>,
) -> Response {
    let body = routes_body(&st, &a, &q, &RouteForm::default(), &[]);
    respond(
        StatusCode::OK,
        page("SMTP Routes", Nav::Routes, Some(&a.session), body),
    )
}

pub(crate) async fn set_route(
    AxState(st): AxState<State>,
    a: Authed,
    Form(f): Form<RouteForm>,
) -> Response {
    let domain = f.domain.trim().to_string();
    let hosts = split_hosts(&f.hosts);
    let d = domain.clone();
    match blocking(&st, move |ad| ad.set_route(&d, &hosts)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/routes?done=route-saved&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => {
            let body = routes_body(&st, &a, &Done::default(), &f, &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page("SMTP Routes", Nav::Routes, Some(&a.session), body),
            )
        }
    }
}

pub(crate) async fn delete_route(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
) -> Response {
    let d = domain.clone();
    match blocking(&st, move |ad| ad.delete_route(&d)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/routes?done=route-deleted&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => error_page(&a.session, Nav::Routes, "Route not deleted", &errors),
    }
}
