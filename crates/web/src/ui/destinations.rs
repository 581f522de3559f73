//! Destination Controls: the list, the add/edit form with inline errors, delete.

#[allow(unused_imports)]
use super::*;

pub(crate) async fn destinations(
    AxState(st): AxState<State>,
    a: Authed,
    Query(q): Query<Done>,
) -> Response {
    let list = st.admin.destinations();
    let editable = st.admin.config_path().is_some();
    let body = html! {
        h1 { "Destination Controls" }
        (done_banner(&q))
        @if !editable { (read_only_note()) }
        p { a href="/destinations/new" id="add-destination" { "Add Destination…" } }
        table id="destinations" {
            thead { tr {
                th { "Destination" } th { "IP Address Preference" } th { "Concurrent Connections" }
                th { "Messages per Connection" } th { "Recipient Limit" } th { "Apply Limits" }
                th { "TLS Support" } th { "DANE Support" } th { "Bounce Profile" } th { "Delete" }
            } }
            tbody {
                @for d in &list {
                    tr data-domain=(d.domain) {
                        td { a href={ "/destinations/" (enc(&d.domain)) } { @if d.is_default { "Default" } @else { (d.domain) } } }
                        td { (shown(d, "ip_preference", d.ip_preference.clone())) }
                        td.num { (shown(d, "max_concurrent_connections", d.max_concurrent_connections.to_string())) }
                        td.num { (shown(d, "max_messages_per_connection", d.max_messages_per_connection.to_string())) }
                        td { (shown(d, "recipient_limit", recipient_limit_text(d))) }
                        td { (shown(d, "apply_limits", d.apply_limits.clone())) }
                        td { (shown(d, "tls", d.tls.clone())) }
                        td { (shown(d, "dane", d.dane.clone())) }
                        td { (shown(d, "bounce_profile", d.bounce_profile.clone())) }
                        td {
                            @if !d.is_default {
                                form.inline method="post" action={ "/destinations/" (enc(&d.domain)) "/delete" }
                                    data-confirm={ "Delete the destination control of " (d.domain) "?" } {
                                    (csrf_field(&a.session))
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.hint { "Values in italics follow the default profile." }
    };
    respond(
        StatusCode::OK,
        page(
            "Destination Controls",
            Nav::Destinations,
            Some(&a.session),
            body,
        ),
    )
}

pub(crate) fn read_only_note() -> Markup {
    html! {
        p.warning id="read-only" {
            "danegate runs on its embedded default configuration: changes are refused. "
            "Start it with " code { "danegate serve --config FILE" } " to edit."
        }
    }
}

pub(crate) fn shown(d: &DestinationView, field: &str, value: String) -> Markup {
    if d.is_default || d.explicit.iter().any(|f| f == field) {
        html! { (value) }
    } else {
        html! { i title="follows the default profile" { (value) } }
    }
}

pub(crate) fn recipient_limit_text(d: &DestinationView) -> String {
    match &d.recipient_limit {
        None => "No Limit".into(),
        Some(r) => format!("{} per {} min", r.recipients, r.per_minutes),
    }
}

/// The add/edit form as the browser sends it. "" (or a `*_mode` of `default`) means
/// "Use Default".
#[derive(Deserialize, Default, Clone, Debug)]
pub(crate) struct DestForm {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    ip_preference: String,
    #[serde(default)]
    conn_mode: String,
    #[serde(default)]
    max_concurrent_connections: String,
    #[serde(default)]
    msgs_mode: String,
    #[serde(default)]
    max_messages_per_connection: String,
    #[serde(default)]
    rcpt_mode: String,
    #[serde(default)]
    recipient_limit: String,
    #[serde(default)]
    recipient_limit_per_minutes: String,
    #[serde(default)]
    apply_limits: String,
    #[serde(default)]
    tls: String,
    /// Absent when the select is disabled (TLS Support None).
    dane: Option<String>,
    #[serde(default)]
    bounce_profile: String,
    /// Bounce Verification address tagging: `yes`, `no`, or empty (Use Default).
    #[serde(default)]
    bounce_verification: String,
    /// MTA-STS: `on`, `off`, or empty (Use Default).
    #[serde(default)]
    mta_sts: String,
}

impl DestForm {
    fn from_view(v: &DestinationView) -> DestForm {
        let ex = |f: &str| v.is_default || v.explicit.iter().any(|e| e == f);
        let pick = |f: &str, val: &str| {
            if ex(f) {
                val.to_string()
            } else {
                String::new()
            }
        };
        let mode = |f: &str| if ex(f) { "max" } else { "default" }.to_string();
        DestForm {
            domain: v.domain.clone(),
            ip_preference: pick("ip_preference", &v.ip_preference),
            conn_mode: mode("max_concurrent_connections"),
            max_concurrent_connections: v.max_concurrent_connections.to_string(),
            msgs_mode: mode("max_messages_per_connection"),
            max_messages_per_connection: v.max_messages_per_connection.to_string(),
            rcpt_mode: if ex("recipient_limit") && v.recipient_limit.is_some() {
                "max".into()
            } else {
                "default".into()
            },
            recipient_limit: v
                .recipient_limit
                .as_ref()
                .map(|r| r.recipients.to_string())
                .unwrap_or_else(|| "0".into()),
            recipient_limit_per_minutes: v
                .recipient_limit
                .as_ref()
                .map(|r| r.per_minutes.to_string())
                .unwrap_or_else(|| "60".into()),
            apply_limits: pick("apply_limits", &v.apply_limits),
            tls: pick("tls", &v.tls),
            dane: Some(pick("dane", &v.dane)),
            bounce_profile: pick("bounce_profile", &v.bounce_profile),
            bounce_verification: pick(
                "bounce_verification",
                if v.bounce_verification { "yes" } else { "no" },
            ),
            mta_sts: pick("mta_sts", &v.mta_sts),
        }
    }

    fn new_default() -> DestForm {
        DestForm {
            conn_mode: "default".into(),
            msgs_mode: "default".into(),
            rcpt_mode: "default".into(),
            recipient_limit: "0".into(),
            recipient_limit_per_minutes: "60".into(),
            dane: Some(String::new()),
            ..DestForm::default()
        }
    }

    /// What the admin layer takes. Adding: "Use Default" is `None` (inherit). Editing:
    /// it is `"default"` (drop the explicit value), since `None` would keep it.
    fn to_admin(&self, editing: bool) -> DestinationForm {
        let def = || {
            if editing {
                Some("default".to_string())
            } else {
                None
            }
        };
        let opt = |v: &str| {
            let v = v.trim();
            if v.is_empty() {
                def()
            } else {
                Some(v.to_string())
            }
        };
        let max = |mode: &str, v: &str| {
            if mode == "max" {
                Some(v.trim().to_string())
            } else {
                def()
            }
        };
        let (rl, rlm) = if self.rcpt_mode == "max" {
            (
                Some(self.recipient_limit.trim().to_string()),
                Some(self.recipient_limit_per_minutes.trim().to_string()),
            )
        } else {
            (def(), None)
        };
        DestinationForm {
            domain: self.domain.trim().to_string(),
            ip_preference: opt(&self.ip_preference),
            max_concurrent_connections: max(&self.conn_mode, &self.max_concurrent_connections),
            max_messages_per_connection: max(&self.msgs_mode, &self.max_messages_per_connection),
            recipient_limit: rl,
            recipient_limit_per_minutes: rlm,
            apply_limits: opt(&self.apply_limits),
            tls: opt(&self.tls),
            // A disabled DANE select (TLS Support None) sends nothing: DANE follows TLS.
            dane: match &self.dane {
                None => def(),
                Some(v) => opt(v),
            },
            bounce_profile: opt(&self.bounce_profile),
            outbound_interface: None,
            bounce_verification: opt(&self.bounce_verification),
            mta_sts: opt(&self.mta_sts),
        }
    }
}

pub(crate) const ON_OFF: &[(&str, &str)] = &[("on", "On"), ("off", "Off")];
pub(crate) const IP_PREFS: &[(&str, &str)] = &[
    ("ipv6-preferred", "IPv6 Preferred"),
    ("ipv4-preferred", "IPv4 Preferred"),
    ("ipv4-only", "IPv4 Only"),
    ("ipv6-only", "IPv6 Only"),
];
pub(crate) const TLS: &[(&str, &str)] = &[
    ("none", "None"),
    ("preferred", "Preferred"),
    ("required", "Required"),
    ("preferred-verify", "Preferred - Verify"),
    ("required-verify", "Required - Verify"),
    (
        "required-verify-hosted-domains",
        "Required - Verify Hosted Domains",
    ),
];
pub(crate) const DANE: &[(&str, &str)] = &[
    ("none", "None"),
    ("opportunistic", "Opportunistic"),
    ("mandatory", "Mandatory"),
];
pub(crate) const YES_NO: &[(&str, &str)] = &[("no", "No"), ("yes", "Yes")];
pub(crate) const APPLY: &[(&str, &str)] = &[
    ("system-wide", "System Wide"),
    ("per-interface", "Each Outbound Interface"),
];

pub(crate) fn label_of(list: &[(&str, &'static str)], v: &str) -> String {
    list.iter()
        .find(|(k, _)| *k == v)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| v.to_string())
}

pub(crate) fn select(
    name: &str,
    list: &[(&str, &str)],
    current: &str,
    default_label: Option<String>,
    default_value: &str,
) -> Markup {
    html! {
        select id=(name) name=(name) data-default=(default_value) {
            @if let Some(l) = default_label {
                option value="" selected[current.is_empty()] { (l) }
            }
            @for (v, l) in list {
                option value=(v) selected[current == *v] { (l) }
            }
        }
    }
}

pub(crate) const FORM_FIELDS: &[&str] = &[
    "domain",
    "ip_preference",
    "max_concurrent_connections",
    "max_messages_per_connection",
    "recipient_limit",
    "recipient_limit_per_minutes",
    "apply_limits",
    "tls",
    "dane",
    "bounce_profile",
    "bounce_verification",
    "mta_sts",
];

pub(crate) fn destination_form(
    st: &State,
    session: &auth::Session,
    f: &DestForm,
    editing: Option<&str>,
    errors: &[FieldError],
) -> Markup {
    let default = st.admin.destination("default");
    let is_default = editing == Some("default");
    // The default profile has no "Use Default" choice of its own.
    let dl = |label: &str, v: String| {
        if is_default {
            None
        } else {
            Some(format!(
                "Use Default ({})",
                if v.is_empty() { label.to_string() } else { v }
            ))
        }
    };
    let d_ip = default
        .as_ref()
        .map(|d| d.ip_preference.clone())
        .unwrap_or_default();
    let d_tls = default.as_ref().map(|d| d.tls.clone()).unwrap_or_default();
    let d_dane = default.as_ref().map(|d| d.dane.clone()).unwrap_or_default();
    let d_apply = default
        .as_ref()
        .map(|d| d.apply_limits.clone())
        .unwrap_or_default();
    // For the default profile itself, "Built-in default" is the product's value.
    let builtin = danegate_config::DestinationProfile::builtin_default();
    let d_conn = match (&default, is_default) {
        (Some(d), false) => d.max_concurrent_connections,
        _ => builtin.max_concurrent_connections,
    };
    let d_msgs = match (&default, is_default) {
        (Some(d), false) => d.max_messages_per_connection,
        _ => builtin.max_messages_per_connection,
    };
    let d_rcpt = default
        .as_ref()
        .map(recipient_limit_text)
        .unwrap_or_else(|| "No Limit".into());
    let d_bounce = default
        .as_ref()
        .map(|d| d.bounce_profile.clone())
        .unwrap_or_default();
    let d_bv = if default.as_ref().is_some_and(|d| d.bounce_verification) {
        "yes"
    } else {
        "no"
    };
    let d_sts = default
        .as_ref()
        .map_or_else(|| "on".to_string(), |d| d.mta_sts.clone());
    let profiles: Vec<String> = {
        let mut v: Vec<String> = st
            .admin
            .config()
            .bounce_profiles
            .iter()
            .map(|p| p.name.clone())
            .collect();
        if !v.iter().any(|n| n == "default") {
            v.insert(0, "default".into());
        }
        v
    };
    let profile_list: Vec<(&str, &str)> =
        profiles.iter().map(|p| (p.as_str(), p.as_str())).collect();
    let action = match editing {
        Some(d) => format!("/destinations/{}", enc(d)),
        None => "/destinations".to_string(),
    };
    let title = match editing {
        Some("default") => "Edit Default Destination Control".to_string(),
        Some(d) => format!("Edit Destination Control: {d}"),
        None => "Add Destination Control".to_string(),
    };
    let def_label = if is_default {
        "Built-in default"
    } else {
        "Use Default"
    };
    let dane_value = f.dane.clone().unwrap_or_default();
    html! {
        h1 { (title) }
        (general_errors(errors, FORM_FIELDS))
        @if st.admin.config_path().is_none() { (read_only_note()) }
        form method="post" action=(action) id="destination-form" novalidate {
            (csrf_field(session))
            table.form {
                tr {
                    th { label for="domain" { "Destination" } }
                    td {
                        @if editing.is_some() {
                            input type="text" id="domain" name="domain" value=(f.domain) readonly;
                        } @else {
                            input type="text" id="domain" name="domain" value=(f.domain) placeholder="example.com or .example.com" required;
                        }
                        (field_errors(errors, &["domain"]))
                    }
                }
                tr {
                    th { label for="ip_preference" { "IP Address Preference" } }
                    td {
                        (select("ip_preference", IP_PREFS, &f.ip_preference, dl("", label_of(IP_PREFS, &d_ip)), &d_ip))
                        (field_errors(errors, &["ip_preference"]))
                    }
                }
                tr {
                    th { "Concurrent Connections" }
                    td {
                        label { input type="radio" id="conn_default" name="conn_mode" value="default" checked[f.conn_mode != "max"]; " " (def_label) " (" (d_conn) ")" }
                        " "
                        label { input type="radio" id="conn_max" name="conn_mode" value="max" checked[f.conn_mode == "max"]; " Maximum of " }
                        input.num type="text" id="max_concurrent_connections" name="max_concurrent_connections" data-radio="conn_max" value=(f.max_concurrent_connections);
                        span.hint { " (between 1 and 1,000)" }
                        (field_errors(errors, &["max_concurrent_connections"]))
                    }
                }
                tr {
                    th { "Maximum Messages Per Connection" }
                    td {
                        label { input type="radio" id="msgs_default" name="msgs_mode" value="default" checked[f.msgs_mode != "max"]; " " (def_label) " (" (d_msgs) ")" }
                        " "
                        label { input type="radio" id="msgs_max" name="msgs_mode" value="max" checked[f.msgs_mode == "max"]; " Maximum of " }
                        input.num type="text" id="max_messages_per_connection" name="max_messages_per_connection" data-radio="msgs_max" value=(f.max_messages_per_connection);
                        span.hint { " (between 1 and 1,000)" }
                        (field_errors(errors, &["max_messages_per_connection"]))
                    }
                }
                tr {
                    th { "Recipients" }
                    td {
                        label { input type="radio" id="rcpt_default" name="rcpt_mode" value="default" checked[f.rcpt_mode != "max"]; " " (def_label) " (" (if is_default { "No Limit".to_string() } else { d_rcpt.clone() }) ")" }
                        " "
                        label { input type="radio" id="rcpt_max" name="rcpt_mode" value="max" checked[f.rcpt_mode == "max"]; " Maximum of " }
                        input.num type="text" id="recipient_limit" name="recipient_limit" data-radio="rcpt_max" value=(f.recipient_limit);
                        " per "
                        input.num type="text" id="recipient_limit_per_minutes" name="recipient_limit_per_minutes" data-radio="rcpt_max" value=(f.recipient_limit_per_minutes);
                        " minutes"
                        span.hint { br; "Number of recipients between 0 and 1,000,000,000 per number of minutes between 1 and 60" }
                        (field_errors(errors, &["recipient_limit", "recipient_limit_per_minutes"]))
                    }
                }
                tr {
                    th { "Apply Limits" }
                    td {
                        @if !is_default {
                            label { input type="radio" name="apply_limits" value="" checked[f.apply_limits.is_empty()]; " Use Default (" (label_of(APPLY, &d_apply)) ")" }
                            " "
                        }
                        @for (v, l) in APPLY {
                            label { input type="radio" name="apply_limits" value=(v) checked[f.apply_limits == *v]; " " (l) }
                            " "
                        }
                        (field_errors(errors, &["apply_limits"]))
                    }
                }
                tr {
                    th { label for="tls" { "TLS Support" } }
                    td {
                        (select("tls", TLS, &f.tls, dl("", label_of(TLS, &d_tls)), &d_tls))
                        (field_errors(errors, &["tls"]))
                    }
                }
                tr {
                    th { label for="dane" { "DANE Support" } }
                    td {
                        (select("dane", DANE, &dane_value, dl("", label_of(DANE, &d_dane)), &d_dane))
                        span.hint id="dane-note" hidden { " DANE Support can be selected once TLS Support is enabled." }
                        (field_errors(errors, &["dane"]))
                    }
                }
                tr {
                    th { label for="bounce_verification" { "Bounce Verification" } }
                    td {
                        "Perform address tagging: "
                        (select("bounce_verification", YES_NO, &f.bounce_verification, dl("", label_of(YES_NO, d_bv)), d_bv))
                        span.hint { br; "Tags the envelope sender (BATV prvs=); bounces to a tagged address are accepted only with a valid tag." }
                        (field_errors(errors, &["bounce_verification"]))
                    }
                }
                tr {
                    th { label for="mta_sts" { "MTA-STS" } }
                    td {
                        (select("mta_sts", ON_OFF, &f.mta_sts, dl("", label_of(ON_OFF, &d_sts)), &d_sts))
                        span.hint { br; "Honours a recipient domain's MTA-STS policy (RFC 8461); DANE still decides where it applies." }
                        (field_errors(errors, &["mta_sts"]))
                    }
                }
                tr {
                    th { label for="bounce_profile" { "Bounce Profile" } }
                    td {
                        (select("bounce_profile", &profile_list, &f.bounce_profile, dl("", d_bounce), ""))
                        (field_errors(errors, &["bounce_profile"]))
                    }
                }
            }
            div.actions {
                button type="submit" id="submit" { "Submit" }
                a href="/destinations" { "Cancel" }
            }
            p.hint { "Submit validates the change, writes the configuration file and commits it to the running gateway." }
        }
    }
}

pub(crate) async fn new_destination(AxState(st): AxState<State>, a: Authed) -> Response {
    let body = destination_form(&st, &a.session, &DestForm::new_default(), None, &[]);
    respond(
        StatusCode::OK,
        page("Add Destination", Nav::Destinations, Some(&a.session), body),
    )
}

pub(crate) async fn add_destination(
    AxState(st): AxState<State>,
    a: Authed,
    Form(f): Form<DestForm>,
) -> Response {
    let form = f.to_admin(false);
    let domain = form.domain.clone();
    match blocking(&st, move |ad| ad.add_destination(&form)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/destinations?done=added&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => {
            let body = destination_form(&st, &a.session, &f, None, &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page("Add Destination", Nav::Destinations, Some(&a.session), body),
            )
        }
    }
}

pub(crate) async fn edit_destination_page(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
) -> Response {
    match st.admin.destination(&domain) {
        None => not_found(&a.session, &format!("No destination control for {domain}.")),
        Some(v) => {
            let key = if v.is_default {
                "default".to_string()
            } else {
                v.domain.clone()
            };
            let body = destination_form(&st, &a.session, &DestForm::from_view(&v), Some(&key), &[]);
            respond(
                StatusCode::OK,
                page(
                    "Edit Destination",
                    Nav::Destinations,
                    Some(&a.session),
                    body,
                ),
            )
        }
    }
}

pub(crate) async fn edit_destination(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
    Form(mut f): Form<DestForm>,
) -> Response {
    f.domain = domain.clone();
    let form = f.to_admin(true);
    let d = domain.clone();
    match blocking(&st, move |ad| ad.edit_destination(&d, &form)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/destinations?done=saved&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => {
            let body = destination_form(&st, &a.session, &f, Some(&domain), &errors.errors);
            respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(
                    "Edit Destination",
                    Nav::Destinations,
                    Some(&a.session),
                    body,
                ),
            )
        }
    }
}

pub(crate) async fn delete_destination(
    AxState(st): AxState<State>,
    a: Authed,
    Path(domain): Path<String>,
) -> Response {
    let d = domain.clone();
    match blocking(&st, move |ad| ad.delete_destination(&d)).await {
        Err(r) => r,
        Ok(Ok(())) => {
            Redirect::to(&format!("/destinations?done=deleted&d={}", enc(&domain))).into_response()
        }
        Ok(Err(errors)) => error_page(
            &a.session,
            Nav::Destinations,
            "Destination not deleted",
            &errors,
        ),
    }
}

pub(crate) fn error_page(
    session: &auth::Session,
    nav: Nav,
    title: &str,
    errors: &FormErrors,
) -> Response {
    respond(
        StatusCode::UNPROCESSABLE_ENTITY,
        page(
            title,
            nav,
            Some(session),
            html! {
                h1 { (title) }
                div.errors id="errors" { ul { @for e in &errors.errors { li { (e.to_string()) } } } }
                p { a href="javascript:history.back()" { "Back" } }
            },
        ),
    )
}

pub(crate) fn not_found(session: &auth::Session, text: &str) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            Nav::None,
            Some(session),
            html! { h1 { "Not found" } p { (text) } },
        ),
    )
}
