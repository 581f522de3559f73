//! From TOML text to a validated [`Config`], collecting every error with its key path.
//!
//! The document is parsed into toml's spanned tree ([`DeTable`]) and walked by hand rather
//! than deserialized with serde: serde stops at the first error, and the product needs all
//! of them, each with the value as written and its line.
//!
//! This module holds the entry point ([`parse`]), the top-level key check and the shared code
//! that walks the tree: `Ctx` (the source text and the errors collected so far; spans to line
//! and column, typed reads with their ranges) and `Tab` (an opened table and its key path).
//! Each top-level section has its own submodule, which also owns that section's list of
//! allowed keys: [`server`], [`listener`], [`sender_group`], [`recipient_access`], [`dns`],
//! [`bounce_profile`], [`destination`], [`smtp_route`] and [`log`]. The sections are
//! independent except for two reads across them, which fix the order in [`parse`]:
//! `[[bounce_profile]]` before `[[destination]]` (a destination names a bounce profile) and
//! `[server]` before `[[log]]` (a log without `file` writes under the server's `data_dir`, and
//! no two logs may share a file).

mod bounce_profile;
mod destination;
mod dns;
mod listener;
mod log;
mod queue;
mod recipient_access;
mod sender_group;
mod server;
mod smtp_route;
mod tls_rpt;

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::Config;
use crate::domain::DomainPattern;
use crate::error::{ConfigError, ConfigErrors};

pub(crate) use destination::inherited_dane;

type V<'i> = Spanned<DeValue<'i>>;

struct Ctx<'s> {
    src: &'s str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = match before.rfind('\n') {
            Some(p) => before[p + 1..].chars().count(),
            None => before.chars().count(),
        } + 1;
        (line, col)
    }

    fn snippet(&self, span: Range<usize>) -> String {
        let raw = self.src.get(span).unwrap_or("");
        let flat: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() > 60 {
            let short: String = flat.chars().take(57).collect();
            format!("{short}...")
        } else {
            flat
        }
    }

    /// An error about a value that is present.
    fn err(&mut self, key: impl Into<String>, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.line_col(span.start);
        let value = self.snippet(span);
        self.errors.push(ConfigError {
            key: key.into(),
            value,
            message: message.into(),
            line: Some(line),
            column: Some(column),
        });
    }

    /// An error about a missing value; `span` locates the enclosing table.
    fn missing(&mut self, key: impl Into<String>, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.line_col(span.start);
        self.errors.push(ConfigError {
            key: key.into(),
            value: String::new(),
            message: message.into(),
            line: Some(line),
            column: Some(column),
        });
    }

    fn int_v(&mut self, key: String, v: &V<'_>, min: i64, max: i64) -> Option<i64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::Float(_) => {
                self.err(key, v.span(), "must be a whole number (no decimal point)");
                return None;
            }
            _ => {
                self.err(key, v.span(), "must be an integer");
                return None;
            }
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.err(key, v.span(), format!("must be between {min} and {max}"));
                None
            }
        }
    }

    fn str_v<'v>(&mut self, key: String, v: &'v V<'_>) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.err(key, v.span(), "must be a string (in double quotes)");
                None
            }
        }
    }

    fn bool_v(&mut self, key: String, v: &V<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.err(key, v.span(), "must be true or false");
                None
            }
        }
    }

    fn choice_v<T: Copy>(&mut self, key: String, v: &V<'_>, options: &[(T, &str)]) -> Option<T> {
        let allowed = options
            .iter()
            .map(|(_, s)| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = match v.get_ref() {
            DeValue::String(s) => s.as_ref(),
            _ => {
                self.err(key, v.span(), format!("must be one of {allowed}"));
                return None;
            }
        };
        match options.iter().find(|(_, s)| s.eq_ignore_ascii_case(text)) {
            Some((t, _)) => Some(*t),
            None => {
                self.err(key, v.span(), format!("must be one of {allowed}"));
                None
            }
        }
    }

    fn arr_v<'v, 'i>(&mut self, key: String, v: &'v V<'i>) -> Option<&'v [V<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.err(key, v.span(), "must be an array [ ... ]");
                None
            }
        }
    }

    fn domain_v(&mut self, key: String, v: &V<'_>) -> Option<DomainPattern> {
        let text = self.str_v(key.clone(), v)?;
        match DomainPattern::parse(text) {
            Ok(p) => Some(p),
            Err(m) => {
                self.err(key, v.span(), m);
                None
            }
        }
    }

    fn path_v(&mut self, key: String, v: &V<'_>) -> Option<PathBuf> {
        let text = self.str_v(key.clone(), v)?;
        if text.is_empty() {
            self.err(key, v.span(), "must be a path, not empty");
            return None;
        }
        Some(PathBuf::from(text))
    }

    /// Opens a table, reporting every key not in `allowed`.
    fn table<'a, 'i>(
        &mut self,
        path: String,
        v: &'a V<'i>,
        allowed: &[&str],
    ) -> Option<Tab<'a, 'i>> {
        let DeValue::Table(table) = v.get_ref() else {
            self.err(path, v.span(), "must be a table");
            return None;
        };
        let tab = Tab {
            path,
            table,
            span: v.span(),
        };
        for (k, val) in table.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                let list = allowed.join(", ");
                self.err(
                    tab.key(k.get_ref()),
                    val.span(),
                    format!("unknown key (allowed here: {list})"),
                );
            }
        }
        Some(tab)
    }

    /// The elements of an array of tables (`[[name]]`), each opened with `allowed`.
    fn tables<'a, 'i>(
        &mut self,
        root: &Tab<'a, 'i>,
        name: &str,
        allowed: &[&str],
    ) -> Vec<(usize, Tab<'a, 'i>)> {
        let Some(v) = root.get(name) else {
            return Vec::new();
        };
        let items = match v.get_ref() {
            DeValue::Array(a) => a,
            DeValue::Table(_) => {
                self.err(
                    name,
                    v.span(),
                    format!("must be an array of tables: write [[{name}]], not [{name}]"),
                );
                return Vec::new();
            }
            _ => {
                self.err(
                    name,
                    v.span(),
                    format!("must be an array of tables ([[{name}]])"),
                );
                return Vec::new();
            }
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                self.table(format!("{name}[{i}]"), item, allowed)
                    .map(|t| (i, t))
            })
            .collect()
    }

    fn int(&mut self, tab: &Tab<'_, '_>, name: &str, min: i64, max: i64) -> Option<i64> {
        let v = tab.get(name)?;
        self.int_v(tab.key(name), v, min, max)
    }

    fn boolean(&mut self, tab: &Tab<'_, '_>, name: &str) -> Option<bool> {
        let v = tab.get(name)?;
        self.bool_v(tab.key(name), v)
    }

    fn choice<T: Copy>(
        &mut self,
        tab: &Tab<'_, '_>,
        name: &str,
        options: &[(T, &str)],
    ) -> Option<T> {
        let v = tab.get(name)?;
        self.choice_v(tab.key(name), v, options)
    }

    fn path(&mut self, tab: &Tab<'_, '_>, name: &str) -> Option<PathBuf> {
        let v = tab.get(name)?;
        self.path_v(tab.key(name), v)
    }
}

struct Tab<'a, 'i> {
    path: String,
    table: &'a DeTable<'i>,
    span: Range<usize>,
}

impl<'a, 'i> Tab<'a, 'i> {
    fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn get(&self, name: &str) -> Option<&'a V<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == name)
            .map(|(_, v)| v)
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Span of a key's value, or of the table when absent.
    fn span_of(&self, name: &str) -> Range<usize> {
        self.get(name).map_or(self.span.clone(), |v| v.span())
    }
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0))
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

const TOP: &[&str] = &[
    "server",
    "listener",
    "sender_group",
    "recipient_access",
    "dns",
    "destination",
    "smtp_route",
    "bounce_profile",
    "log",
    "tls_rpt",
    "queue",
];

/// Parses and validates `text`; `source_name` is printed before each error.
pub(crate) fn parse(text: &str, source_name: &str) -> Result<Config, ConfigErrors> {
    let fail = |errors: Vec<ConfigError>| ConfigErrors {
        source_name: source_name.to_string(),
        errors,
    };
    let mut ctx = Ctx {
        src: text,
        errors: Vec::new(),
    };
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let (line, column) = match e.span() {
                Some(s) => {
                    let (l, c) = ctx.line_col(s.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            ctx.errors.push(ConfigError {
                key: String::new(),
                value: String::new(),
                message: format!("TOML syntax error: {}", e.message().trim()),
                line,
                column,
            });
        }
        return Err(fail(ctx.errors));
    }
    let root_span = doc.span();
    let root_table = doc.into_inner();
    let root = Tab {
        path: String::new(),
        table: &root_table,
        span: root_span,
    };
    for (k, v) in root_table.iter() {
        if !TOP.contains(&k.get_ref().as_ref()) {
            ctx.err(
                k.get_ref().to_string(),
                v.span(),
                format!("unknown section or key (allowed: {})", TOP.join(", ")),
            );
        }
    }

    let server = server::parse_server(&mut ctx, &root);
    let listeners = listener::parse_listeners(&mut ctx, &root);
    let sender_groups = sender_group::parse_sender_groups(&mut ctx, &root);
    let recipient_access = recipient_access::parse_rat(&mut ctx, &root);
    let dns = dns::parse_dns(&mut ctx, &root);
    let bounce_profiles = bounce_profile::parse_bounce_profiles(&mut ctx, &root);
    let (default_destination, destinations) =
        destination::parse_destinations(&mut ctx, &root, &bounce_profiles);
    let smtp_routes = smtp_route::parse_routes(&mut ctx, &root);
    let logs = log::parse_logs(&mut ctx, &root, &server);
    let tls_rpt = tls_rpt::parse_tls_rpt(&mut ctx, &root);
    let queue = queue::parse_queue(&mut ctx, &root);

    if !ctx.errors.is_empty() {
        let mut errors = ctx.errors;
        errors.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
        return Err(fail(errors));
    }
    Ok(Config {
        server,
        listeners,
        sender_groups,
        recipient_access,
        dns,
        default_destination,
        destinations,
        smtp_routes,
        bounce_profiles,
        logs,
        tls_rpt,
        queue,
    })
}
