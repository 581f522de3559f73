//! TOML-level configuration edits: the running configuration's `to_toml()`, the change
//! made on the TOML table, then the same validation as the configuration file
//! ([`Config::from_toml_str`]), so that errors keep their key paths and ranges.

use danegate_config::{Config, ConfigErrors};
use toml::{Table, Value};

use crate::{DestinationForm, FieldError, FormErrors};

/// The source name used in validation errors of an edit.
pub(crate) const SOURCE: &str = "admin edit";

/// Applies `change` to the TOML form of `base` and validates the result. Returns the new
/// configuration; its canonical text is `Config::to_toml()`.
pub fn edit_config(
    base: &Config,
    change: impl FnOnce(&mut Table) -> Result<(), FormErrors>,
) -> Result<Config, FormErrors> {
    let text = base.to_toml();
    let mut table: Table = text
        .parse()
        .map_err(|e| FormErrors::general(format!("cannot re-read the configuration: {e}")))?;
    change(&mut table)?;
    let new_text = table.to_string();
    Config::from_toml_str(&new_text, SOURCE).map_err(|e| config_errors(&e))
}

/// The form field a configuration key path refers to (`destination[2].tls` → `tls`,
/// `destination[2].recipient_limit.per_minutes` → `recipient_limit_per_minutes`,
/// `smtp_route[0].hosts[1]` → `hosts`); `""` for keys outside a destination or route.
pub fn field_of_key(key: &str) -> String {
    let rest = ["destination[", "smtp_route["]
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .and_then(|r| r.split_once("]."))
        .map(|(_, field)| field);
    let Some(field) = rest else {
        return String::new();
    };
    if field == "recipient_limit.per_minutes" {
        return "recipient_limit_per_minutes".into();
    }
    if field.starts_with("recipient_limit") {
        return "recipient_limit".into();
    }
    let end = field.find(['.', '[']).unwrap_or(field.len());
    field[..end].to_string()
}

/// Validation errors as form errors.
pub fn config_errors(e: &ConfigErrors) -> FormErrors {
    FormErrors {
        errors: e
            .iter()
            .map(|c| FieldError {
                field: field_of_key(&c.key),
                key: c.key.clone(),
                value: c.value.clone(),
                message: c.message.clone(),
            })
            .collect(),
    }
}

/// A domain as written by `to_toml()` (lower case, no trailing dot, `.` prefix kept).
pub fn normalize_domain(d: &str) -> String {
    let d = d.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    d.to_ascii_lowercase()
}

fn array<'a>(t: &'a mut Table, key: &str) -> &'a mut Vec<Value> {
    let v = t
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !v.is_array() {
        *v = Value::Array(Vec::new());
    }
    match v {
        Value::Array(a) => a,
        _ => unreachable!("just made an array"),
    }
}

fn domain_of(v: &Value) -> Option<String> {
    v.get("domain")
        .and_then(Value::as_str)
        .map(normalize_domain)
}

/// Index of the `[[destination]]` (or `[[smtp_route]]`) entry for `domain`.
fn find(entries: &[Value], domain: &str) -> Option<usize> {
    let want = normalize_domain(domain);
    entries
        .iter()
        .position(|e| domain_of(e).as_deref() == Some(want.as_str()))
}

fn is_default(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("default")
}

/// A form value as TOML: an integer when it reads as one (so range errors name the
/// range), else a string (so type errors show the value).
fn int_or_string(v: &str) -> Value {
    let t = v.trim();
    match t.replace(',', "").parse::<i64>() {
        Ok(n) => Value::Integer(n),
        Err(_) => Value::String(t.to_string()),
    }
}

/// Sets the fields of a destination entry from a form. `None` leaves a field as it is,
/// `"default"` removes it (the profile then follows the default profile).
fn apply_form(entry: &mut Table, form: &DestinationForm) -> Result<(), FormErrors> {
    let strings = [
        ("ip_preference", &form.ip_preference),
        ("apply_limits", &form.apply_limits),
        ("tls", &form.tls),
        ("dane", &form.dane),
        ("bounce_profile", &form.bounce_profile),
        ("outbound_interface", &form.outbound_interface),
        ("mta_sts", &form.mta_sts),
    ];
    for (key, value) in strings {
        match value {
            None => {}
            Some(v) if is_default(v) && key != "bounce_profile" => {
                entry.remove(key);
            }
            Some(v) => {
                let v = v.trim();
                let v = if key == "bounce_profile" {
                    v.to_string()
                } else {
                    v.to_ascii_lowercase()
                };
                entry.insert(key.into(), Value::String(v));
            }
        }
    }
    for (key, value) in [
        (
            "max_concurrent_connections",
            &form.max_concurrent_connections,
        ),
        (
            "max_messages_per_connection",
            &form.max_messages_per_connection,
        ),
    ] {
        match value {
            None => {}
            Some(v) if is_default(v) => {
                entry.remove(key);
            }
            Some(v) => {
                entry.insert(key.into(), int_or_string(v));
            }
        }
    }
    // Bounce Verification address tagging: yes/no, or "default".
    if let Some(v) = &form.bounce_verification {
        let t = v.trim().to_ascii_lowercase();
        match t.as_str() {
            "default" => {
                entry.remove("bounce_verification");
            }
            "yes" | "true" | "on" => {
                entry.insert("bounce_verification".into(), Value::Boolean(true));
            }
            "no" | "false" | "off" => {
                entry.insert("bounce_verification".into(), Value::Boolean(false));
            }
            _ => {
                return Err(FormErrors::field(
                    "bounce_verification",
                    "",
                    v.trim(),
                    "must be \"yes\", \"no\" or \"default\"",
                ));
            }
        }
    }
    // Recipient limit: "none", N (per M minutes), or "default".
    let per_minutes = match &form.recipient_limit_per_minutes {
        Some(m) if !is_default(m) => Some(int_or_string(m)),
        _ => None,
    };
    match &form.recipient_limit {
        Some(v) if is_default(v) => {
            entry.remove("recipient_limit");
        }
        Some(v) if v.trim().eq_ignore_ascii_case("none") => {
            entry.insert("recipient_limit".into(), Value::String("none".into()));
        }
        Some(v) => {
            let mut t = Table::new();
            t.insert("recipients".into(), int_or_string(v));
            let old_minutes = entry
                .get("recipient_limit")
                .and_then(|r| r.get("per_minutes"))
                .cloned();
            if let Some(m) = per_minutes.or(old_minutes) {
                t.insert("per_minutes".into(), m);
            }
            entry.insert("recipient_limit".into(), Value::Table(t));
        }
        None => {
            if let Some(m) = per_minutes {
                match entry.get_mut("recipient_limit") {
                    Some(Value::Table(t)) => {
                        t.insert("per_minutes".into(), m);
                    }
                    _ => {
                        return Err(FormErrors::field(
                            "recipient_limit_per_minutes",
                            "",
                            form.recipient_limit_per_minutes.as_deref().unwrap_or(""),
                            "needs a recipient limit (recipients per M minutes)",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Adds a destination profile (a new `[[destination]]` entry).
pub fn add_destination(t: &mut Table, form: &DestinationForm) -> Result<(), FormErrors> {
    let domain = form.domain.trim();
    if domain.is_empty() {
        return Err(FormErrors::field(
            "domain",
            "",
            "",
            "is required (example.com, or .example.com for its subdomains)",
        ));
    }
    let list = array(t, "destination");
    if is_default(domain) || find(list, domain).is_some() {
        return Err(FormErrors::field(
            "domain",
            "",
            domain,
            "already has a destination profile (use edit)",
        ));
    }
    let mut entry = Table::new();
    entry.insert("domain".into(), Value::String(normalize_domain(domain)));
    apply_form(&mut entry, form)?;
    list.push(Value::Table(entry));
    Ok(())
}

fn not_found(field: &str, what: &str, domain: &str) -> FormErrors {
    FormErrors::field(field, "", domain, &format!("has no {what}"))
}

/// Edits the profile of `domain` (`default` for the default profile). A non-empty
/// `form.domain` different from `domain` renames the profile.
pub fn edit_destination(
    t: &mut Table,
    domain: &str,
    form: &DestinationForm,
) -> Result<(), FormErrors> {
    let list = array(t, "destination");
    let Some(i) = find(list, domain) else {
        return Err(not_found("domain", "destination profile", domain));
    };
    let new_domain = form.domain.trim();
    if !new_domain.is_empty() && normalize_domain(new_domain) != normalize_domain(domain) {
        if is_default(domain) || is_default(new_domain) {
            return Err(FormErrors::field(
                "domain",
                "",
                new_domain,
                "the default profile cannot be renamed",
            ));
        }
        if find(list, new_domain).is_some() {
            return Err(FormErrors::field(
                "domain",
                "",
                new_domain,
                "already has a destination profile",
            ));
        }
    }
    let Some(Value::Table(entry)) = list.get_mut(i) else {
        return Err(not_found("domain", "destination profile", domain));
    };
    if !new_domain.is_empty() && !is_default(domain) {
        entry.insert("domain".into(), Value::String(normalize_domain(new_domain)));
    }
    apply_form(entry, form)
}

/// Deletes the profile of `domain` (the default profile cannot be deleted).
pub fn delete_destination(t: &mut Table, domain: &str) -> Result<(), FormErrors> {
    if is_default(domain) {
        return Err(FormErrors::field(
            "domain",
            "",
            domain,
            "the default profile cannot be deleted",
        ));
    }
    let list = array(t, "destination");
    let Some(i) = find(list, domain) else {
        return Err(not_found("domain", "destination profile", domain));
    };
    list.remove(i);
    Ok(())
}

/// Adds the SMTP route of `domain`, or replaces its hosts.
pub fn set_route(t: &mut Table, domain: &str, hosts: &[String]) -> Result<(), FormErrors> {
    if domain.trim().is_empty() {
        return Err(FormErrors::field("domain", "", "", "is required"));
    }
    if hosts.is_empty() {
        return Err(FormErrors::field(
            "hosts",
            "",
            "",
            "at least one host (host, host:port, [IPv6]:port) or USEDNS is required",
        ));
    }
    let hosts = Value::Array(
        hosts
            .iter()
            .map(|h| Value::String(h.trim().to_string()))
            .collect(),
    );
    let list = array(t, "smtp_route");
    match find(list, domain) {
        Some(i) => {
            if let Some(Value::Table(entry)) = list.get_mut(i) {
                entry.insert("hosts".into(), hosts);
            }
        }
        None => {
            let mut entry = Table::new();
            entry.insert("domain".into(), Value::String(normalize_domain(domain)));
            entry.insert("hosts".into(), hosts);
            list.push(Value::Table(entry));
        }
    }
    Ok(())
}

/// Deletes the SMTP route of `domain`.
pub fn delete_route(t: &mut Table, domain: &str) -> Result<(), FormErrors> {
    let list = array(t, "smtp_route");
    let Some(i) = find(list, domain) else {
        return Err(not_found("domain", "SMTP route", domain));
    };
    list.remove(i);
    if list.is_empty() {
        t.remove("smtp_route");
    }
    Ok(())
}

/// One resolver line of the DNS form: `ADDR[:PORT] [PRIORITY]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolverLine {
    /// The 1-based line number in the form's text.
    pub line: usize,
    /// The address as typed.
    pub address: String,
    /// The priority as a TOML value (an integer, or the text when it is not one, so that
    /// validation reports it); 0 when not given.
    pub priority: Value,
}

/// The resolver lines of the DNS form (blank lines and `#` comments skipped). A line
/// with more than two words is an error naming the line.
pub fn resolver_lines(text: &str) -> Result<Vec<ResolverLine>, FormErrors> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (address, priority) = match words.as_slice() {
            [a] => (*a, Value::Integer(0)),
            [a, p] => (*a, int_or_string(p)),
            _ => {
                return Err(FormErrors::field(
                    "resolvers",
                    "",
                    line,
                    &format!("line {}: must be \"ADDR[:PORT] PRIORITY\"", i + 1),
                ));
            }
        };
        out.push(ResolverLine {
            line: i + 1,
            address: address.to_string(),
            priority,
        });
    }
    Ok(out)
}

/// Sets `[dns]` from the DNS form: the resolvers (none: those of `/etc/resolv.conf`),
/// `timeout_secs` (`None`: unchanged; empty or `default`: the default) and
/// `trust_anchor_file` (`None`: unchanged; empty or `builtin`: the built-in anchors).
pub fn set_dns(
    t: &mut Table,
    resolvers: &[ResolverLine],
    timeout_secs: Option<&str>,
    trust_anchor_file: Option<&str>,
) -> Result<(), FormErrors> {
    let dns = t
        .entry("dns".to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    if !dns.is_table() {
        *dns = Value::Table(Table::new());
    }
    let Value::Table(dns) = dns else {
        return Err(FormErrors::general("cannot edit [dns]"));
    };
    if resolvers.is_empty() {
        dns.remove("resolvers");
    } else {
        let list = resolvers
            .iter()
            .map(|r| {
                let mut e = Table::new();
                e.insert("address".into(), Value::String(r.address.clone()));
                e.insert("priority".into(), r.priority.clone());
                Value::Table(e)
            })
            .collect();
        dns.insert("resolvers".into(), Value::Array(list));
    }
    if let Some(v) = timeout_secs {
        let v = v.trim();
        if v.is_empty() || is_default(v) {
            dns.remove("timeout_secs");
        } else {
            dns.insert("timeout_secs".into(), int_or_string(v));
        }
    }
    if let Some(v) = trust_anchor_file {
        let v = v.trim();
        if v.is_empty() || v.eq_ignore_ascii_case("builtin") || v.eq_ignore_ascii_case("built-in") {
            dns.remove("trust_anchor_file");
        } else {
            dns.insert("trust_anchor_file".into(), Value::String(v.to_string()));
        }
    }
    Ok(())
}

/// Errors of a `[dns]` edit: `dns.resolvers[j]...` → field `resolvers` with the line of
/// the j-th resolver, `dns.timeout_secs` → `timeout_secs`, `dns.trust_anchor_file` →
/// `trust_anchor_file`.
pub fn dns_errors(mut e: FormErrors, lines: &[ResolverLine]) -> FormErrors {
    for err in &mut e.errors {
        if let Some(rest) = err.key.strip_prefix("dns.resolvers") {
            err.field = "resolvers".into();
            let j = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .and_then(|(n, _)| n.parse::<usize>().ok());
            if let Some(l) = j.and_then(|j| lines.get(j)) {
                err.message = format!("line {}: {}", l.line, err.message);
            }
        } else if err.key == "dns.timeout_secs" {
            err.field = "timeout_secs".into();
        } else if err.key == "dns.trust_anchor_file" {
            err.field = "trust_anchor_file".into();
        }
    }
    e
}
