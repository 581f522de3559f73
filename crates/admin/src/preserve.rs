//! Writing a change into the operator's configuration file with `toml_edit`, so that
//! comments, key order and formatting of everything the change does not touch survive.
//!
//! The change is the difference between two canonical forms ([`Config::to_toml`]) of
//! the configuration, before and after; only the keys that differ are written into the
//! file's document. The result is checked: it must parse to exactly the new
//! configuration, else the caller falls back to the canonical text.

use danegate_config::Config;
use toml::Value;
use toml_edit::{DocumentMut, Item, TableLike};

/// `file_text` with the change from `old` to `new` applied, or `None` when the file
/// cannot be edited in place (not TOML, or the edited text would not mean `new`).
pub fn edited_text(file_text: &str, old: &Config, new: &Config) -> Option<String> {
    let mut doc: DocumentMut = file_text.parse().ok()?;
    let old_t: toml::Table = old.to_toml().parse().ok()?;
    let new_t: toml::Table = new.to_toml().parse().ok()?;
    apply_table(doc.as_table_mut(), &old_t, &new_t);
    let text = doc.to_string();
    let reparsed = Config::from_toml_str(&text, crate::edit::SOURCE).ok()?;
    (reparsed == *new).then_some(text)
}

/// Applies the difference `old` → `new` to `doc`.
fn apply_table(doc: &mut dyn TableLike, old: &toml::Table, new: &toml::Table) {
    for (k, nv) in new {
        match (old.get(k), doc.get_mut(k)) {
            (Some(ov), _) if ov == nv => {}
            (Some(ov), Some(item)) => apply_item(item, ov, nv),
            _ => {
                doc.insert(k, to_item(nv));
            }
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            doc.remove(k);
        }
    }
}

fn as_tables(a: &[Value]) -> Option<Vec<&toml::Table>> {
    a.iter().map(Value::as_table).collect()
}

/// Applies the difference `old` → `new` to one item, keeping its decoration.
fn apply_item(item: &mut Item, old: &Value, new: &Value) {
    match (old, new) {
        (Value::Table(ot), Value::Table(nt)) if item.is_table_like() => {
            if let Some(t) = item.as_table_like_mut() {
                apply_table(t, ot, nt);
            }
            return;
        }
        (Value::Array(oa), Value::Array(na)) if item.is_array_of_tables() => {
            if let (Some(ot), Some(nt), Some(aot)) =
                (as_tables(oa), as_tables(na), item.as_array_of_tables_mut())
                && aot.len() == ot.len()
            {
                if nt.len() == ot.len() {
                    for (i, (o, n)) in ot.iter().zip(&nt).enumerate() {
                        if let Some(t) = aot.get_mut(i) {
                            apply_table(t, o, n);
                        }
                    }
                    return;
                }
                if nt.len() + 1 == ot.len() {
                    // One removed: the first place where they differ.
                    let i = ot.iter().zip(&nt).take_while(|(o, n)| o == n).count();
                    if ot.get(..i) == nt.get(..i) && ot.get(i + 1..) == nt.get(i..) {
                        aot.remove(i);
                        return;
                    }
                }
                if nt.len() == ot.len() + 1 && nt.get(..ot.len()) == Some(&ot[..]) {
                    if let Some(last) = nt.last() {
                        aot.push(to_table(last));
                    }
                    return;
                }
            }
        }
        _ => {}
    }
    // Replaced: a value keeps its surrounding whitespace and trailing comment.
    match (item.as_value_mut(), to_item(new)) {
        (Some(v), Item::Value(mut nv)) => {
            *nv.decor_mut() = v.decor().clone();
            *v = nv;
        }
        (_, n) => *item = n,
    }
}

fn to_value(v: &Value) -> toml_edit::Value {
    match v {
        Value::String(s) => s.as_str().into(),
        Value::Integer(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::Boolean(b) => (*b).into(),
        Value::Datetime(d) => d
            .to_string()
            .parse::<toml_edit::Value>()
            .unwrap_or_else(|_| d.to_string().into()),
        Value::Array(a) => toml_edit::Value::Array(a.iter().map(to_value).collect()),
        Value::Table(t) => {
            toml_edit::Value::InlineTable(t.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

fn to_table(t: &toml::Table) -> toml_edit::Table {
    let mut out = toml_edit::Table::new();
    for (k, v) in t {
        out.insert(k, to_item(v));
    }
    out
}

fn to_item(v: &Value) -> Item {
    match v {
        Value::Table(t) => Item::Table(to_table(t)),
        Value::Array(a) if !a.is_empty() => match as_tables(a) {
            Some(ts) => Item::ArrayOfTables(ts.into_iter().map(to_table).collect()),
            None => Item::Value(to_value(v)),
        },
        _ => Item::Value(to_value(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DestinationForm, edit};

    const FILE: &str = r#"# danegate, edited by hand
[server]
hostname = "gw.example"   # the HELO name
data_dir = "/var/lib/danegate"

# Relay for the office only.
[[sender_group]]
name = "RELAYLIST"
senders = ["10.0.0.0/8"] # office
policy = "RELAY"

# Routes
[[smtp_route]]
domain = "partner.example" # via their MX
hosts = ["mx.partner.example"]

[[smtp_route]]
domain = "other.example"
hosts = ["10.1.1.1:2525"]  # keep
"#;

    fn old() -> Config {
        Config::from_toml_str(FILE, "t").unwrap()
    }

    #[test]
    fn comments_survive_edits() {
        let old = old();
        // Change a route's hosts.
        let new = edit::edit_config(&old, |t| {
            edit::set_route(t, "partner.example", &["mx2.partner.example".into()])
        })
        .unwrap();
        let text = edited_text(FILE, &old, &new).unwrap();
        assert!(text.contains("# danegate, edited by hand"), "{text}");
        assert!(
            text.contains("# the HELO name") && text.contains("# office"),
            "{text}"
        );
        assert!(
            text.contains("domain = \"partner.example\" # via their MX"),
            "{text}"
        );
        assert!(
            text.contains("mx2.partner.example") && !text.contains("\"mx.partner"),
            "{text}"
        );
        assert!(text.contains("\"10.1.1.1:2525\"]  # keep"), "{text}");

        // Delete the first route: the second keeps its comment.
        let new = edit::edit_config(&old, |t| edit::delete_route(t, "partner.example")).unwrap();
        let text = edited_text(FILE, &old, &new).unwrap();
        assert!(!text.contains("partner.example"), "{text}");
        assert!(
            text.contains("# keep") && text.contains("# office"),
            "{text}"
        );

        // Add a destination profile: appended, the rest untouched.
        let form = DestinationForm {
            domain: "dane.example".into(),
            max_concurrent_connections: Some("7".into()),
            ..DestinationForm::default()
        };
        let new = edit::edit_config(&old, |t| edit::add_destination(t, &form)).unwrap();
        let text = edited_text(FILE, &old, &new).unwrap();
        assert!(text.starts_with("# danegate, edited by hand\n"), "{text}");
        assert!(
            text.contains("dane.example") && text.contains("# via their MX"),
            "{text}"
        );
        assert_eq!(Config::from_toml_str(&text, "t").unwrap(), new);
    }
}
