//! From TOML text to a validated [`Config`], collecting every error with its key path.
//!
//! The document is parsed into toml's spanned tree ([`DeTable`]) and walked by hand rather
//! than deserialized with serde: serde stops at the first error, and the product needs all
//! of them, each with the value as written and its line.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::Config;
use crate::domain::{DomainPattern, check_domain};
use crate::error::{ConfigError, ConfigErrors};
use crate::limits;
use crate::model::*;

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
];
const SERVER: &[&str] = &["hostname", "data_dir"];
const LISTENER: &[&str] = &[
    "name",
    "address",
    "tls_cert",
    "tls_key",
    "max_message_size",
    "max_recipients",
    "max_connections",
    "max_connections_per_client",
    "idle_timeout_secs",
    "max_errors",
    "command_timeout_secs",
    "data_timeout_secs",
    "session_timeout_secs",
    "reserved_relay_connections",
];
const SENDER_GROUP: &[&str] = &["name", "senders", "policy"];
const RAT: &[&str] = &["domains"];
const DNS: &[&str] = &[
    "resolvers",
    "trust_anchor_file",
    "timeout_secs",
    "sig_skew_min_secs",
    "sig_skew_max_secs",
];
const RESOLVER: &[&str] = &["address", "priority"];
const DESTINATION: &[&str] = &[
    "domain",
    "ip_preference",
    "max_concurrent_connections",
    "max_messages_per_connection",
    "recipient_limit",
    "apply_limits",
    "outbound_interface",
    "tls",
    "dane",
    "bounce_profile",
    "bounce_verification",
];
const RECIPIENT_LIMIT: &[&str] = &["recipients", "per_minutes"];
const ROUTE: &[&str] = &["domain", "hosts"];
const BOUNCE: &[&str] = &[
    "name",
    "initial_retry_secs",
    "max_retry_interval_secs",
    "max_retries",
    "max_queue_time_secs",
    "delay_warning_after_secs",
    "hard_bounces",
];
const LOG: &[&str] = &[
    "name",
    "file",
    "level",
    "format",
    "rotate_size_bytes",
    "rotate_interval",
    "max_files",
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

    let server = parse_server(&mut ctx, &root);
    let listeners = parse_listeners(&mut ctx, &root);
    let sender_groups = parse_sender_groups(&mut ctx, &root);
    let recipient_access = parse_rat(&mut ctx, &root);
    let dns = parse_dns(&mut ctx, &root);
    let bounce_profiles = parse_bounce_profiles(&mut ctx, &root);
    let (default_destination, destinations) = parse_destinations(&mut ctx, &root, &bounce_profiles);
    let smtp_routes = parse_routes(&mut ctx, &root);
    let logs = parse_logs(&mut ctx, &root, &server);

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
    })
}

fn parse_server(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Server {
    let mut server = Server {
        hostname: String::new(),
        hostname_configured: false,
        data_dir: PathBuf::from(limits::DEFAULT_DATA_DIR),
    };
    let tab = root
        .get("server")
        .and_then(|v| ctx.table("server".into(), v, SERVER));
    if let Some(tab) = tab {
        if let Some(v) = tab.get("hostname")
            && let Some(h) = ctx.str_v(tab.key("hostname"), v)
        {
            match check_domain(h) {
                Ok(h) => {
                    server.hostname = h;
                    server.hostname_configured = true;
                }
                Err(m) => ctx.err(tab.key("hostname"), v.span(), m),
            }
        }
        if let Some(p) = ctx.path(&tab, "data_dir") {
            server.data_dir = p;
        }
    }
    if !server.hostname_configured {
        server.hostname = crate::system_hostname();
    }
    server
}

fn parse_listeners(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<Listener> {
    let tabs = ctx.tables(root, "listener", LISTENER);
    if let Some(v) = root.get("listener")
        && matches!(v.get_ref(), DeValue::Array(a) if a.is_empty())
    {
        ctx.err("listener", v.span(), "must have at least one [[listener]]");
    }
    if tabs.is_empty() && !root.has("listener") {
        return vec![Listener::default_listener()];
    }
    let mut out: Vec<Listener> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut addrs: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, tab) in tabs {
        let mut l = Listener::default_listener();
        l.name = format!("listener{i}");
        if let Some(v) = tab.get("name")
            && let Some(n) = ctx.str_v(tab.key("name"), v)
        {
            if n.trim().is_empty() {
                ctx.err(tab.key("name"), v.span(), "must not be empty");
            } else {
                l.name = n.to_string();
            }
        }
        if let Some(j) = names.insert(l.name.clone(), i) {
            ctx.err(
                tab.key("name"),
                tab.span_of("name"),
                format!("duplicate listener name (also listener[{j}])"),
            );
        }
        if let Some(v) = tab.get("address")
            && let Some(a) = ctx.str_v(tab.key("address"), v)
        {
            match a.parse::<SocketAddr>() {
                Ok(a) => l.address = a,
                Err(_) => ctx.err(
                    tab.key("address"),
                    v.span(),
                    "must be IP:port, e.g. \"127.0.0.1:2525\" or \"[::1]:2525\"",
                ),
            }
        }
        if l.address.port() != 0
            && let Some(j) = addrs.insert(l.address, i)
        {
            ctx.err(
                tab.key("address"),
                tab.span_of("address"),
                format!("duplicate listener address (also listener[{j}])"),
            );
        }
        // 0.0.0.0:25 with 127.0.0.1:25: the second bind fails (address in use).
        for (j, other) in out.iter().enumerate() {
            let other: SocketAddr = other.address;
            if let Some(crate::coverage::Overlap::Certain) =
                crate::coverage::listener_overlap(other, l.address)
            {
                ctx.err(
                    tab.key("address"),
                    tab.span_of("address"),
                    format!(
                        "overlaps listener[{j}] ({other}): an unspecified address takes the \
                         port on every address of its family, so both cannot be bound; \
                         keep one of them"
                    ),
                );
            }
        }
        let cert = ctx.path(&tab, "tls_cert");
        let key = ctx.path(&tab, "tls_key");
        match (tab.has("tls_cert"), tab.has("tls_key")) {
            (true, false) => ctx.missing(
                tab.key("tls_key"),
                tab.span_of("tls_cert"),
                "is required when tls_cert is set (STARTTLS needs both)",
            ),
            (false, true) => ctx.missing(
                tab.key("tls_cert"),
                tab.span_of("tls_key"),
                "is required when tls_key is set (STARTTLS needs both)",
            ),
            _ => {}
        }
        if let (Some(cert), Some(key)) = (cert, key) {
            l.tls = Some(ListenerTls { cert, key });
        }
        let (lo, hi) = limits::MAX_MESSAGE_SIZE;
        if let Some(n) = ctx.int(&tab, "max_message_size", lo, hi) {
            l.max_message_size = u64::try_from(n).unwrap_or(0);
        }
        let (lo, hi) = limits::MAX_RECIPIENTS;
        if let Some(n) = ctx.int(&tab, "max_recipients", lo, hi) {
            l.max_recipients = to_u32(n);
        }
        let (lo, hi) = limits::MAX_CONNECTIONS;
        if let Some(n) = ctx.int(&tab, "max_connections", lo, hi) {
            l.max_connections = to_u32(n);
        }
        l.max_connections_per_client = l.max_connections_per_client.min(l.max_connections);
        if let Some(n) = ctx.int(
            &tab,
            "max_connections_per_client",
            1,
            i64::from(l.max_connections),
        ) {
            l.max_connections_per_client = to_u32(n);
        }
        let (lo, hi) = limits::IDLE_TIMEOUT_SECS;
        if let Some(n) = ctx.int(&tab, "idle_timeout_secs", lo, hi) {
            l.idle_timeout = secs(n);
        }
        let (lo, hi) = limits::MAX_ERRORS;
        if let Some(n) = ctx.int(&tab, "max_errors", lo, hi) {
            l.max_errors = to_u32(n);
        }
        listener_slow_client_limits(ctx, &tab, &mut l);
        out.push(l);
    }
    out
}

/// The slow-client limits of a listener (RFC 5321 §4.5.3.2 timeouts, RELAY slots).
fn listener_slow_client_limits(ctx: &mut Ctx<'_>, tab: &Tab<'_, '_>, l: &mut Listener) {
    for (key, (lo, hi), slot) in [
        (
            "command_timeout_secs",
            limits::COMMAND_TIMEOUT_SECS,
            &mut l.command_timeout,
        ),
        (
            "data_timeout_secs",
            limits::DATA_TIMEOUT_SECS,
            &mut l.data_timeout,
        ),
        (
            "session_timeout_secs",
            limits::SESSION_TIMEOUT_SECS,
            &mut l.session_timeout,
        ),
    ] {
        if let Some(n) = ctx.int(tab, key, lo, hi) {
            *slot = secs(n);
        }
    }
    // Default: 50, at most a tenth of max_connections (a small listener must not
    // reserve all its slots and turn every ACCEPT client away).
    l.reserved_relay_connections = l.reserved_relay_connections.min(l.max_connections / 10);
    if let Some(n) = ctx.int(
        tab,
        "reserved_relay_connections",
        0,
        i64::from(l.max_connections),
    ) {
        l.reserved_relay_connections = to_u32(n);
    }
}

fn parse_sender(text: &str) -> Result<SenderPattern, String> {
    if text.eq_ignore_ascii_case("ALL") {
        return Ok(SenderPattern::All);
    }
    if text.contains('/') {
        let net: IpNet = text
            .parse()
            .map_err(|_| "must be an IP network such as 10.0.0.0/8 or 2001:db8::/32".to_string())?;
        if net.trunc() != net {
            return Err(format!(
                "has host bits set after the prefix: did you mean {}?",
                net.trunc()
            ));
        }
        return Ok(SenderPattern::Net(net));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SenderPattern::Net(IpNet::from(ip)));
    }
    if let Some(rest) = text.strip_prefix('.') {
        return check_domain(rest).map(SenderPattern::DomainSuffix);
    }
    check_domain(text).map(SenderPattern::Host).map_err(|m| {
        format!("{m}; expected an IP address, a CIDR network, a host name, a .domain or ALL")
    })
}

fn parse_sender_groups(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<SenderGroup> {
    let tabs = ctx.tables(root, "sender_group", SENDER_GROUP);
    if tabs.is_empty() && !root.has("sender_group") {
        return vec![SenderGroup::default_relaylist()];
    }
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, tab) in tabs {
        let mut name = format!("group{i}");
        if let Some(v) = tab.get("name")
            && let Some(n) = ctx.str_v(tab.key("name"), v)
        {
            if n.trim().is_empty() {
                ctx.err(tab.key("name"), v.span(), "must not be empty");
            } else {
                name = n.to_string();
            }
        }
        if let Some(j) = names.insert(name.to_ascii_uppercase(), i) {
            ctx.err(
                tab.key("name"),
                tab.span_of("name"),
                format!("duplicate sender group name (also sender_group[{j}])"),
            );
        }
        let mut senders = Vec::new();
        match tab.get("senders") {
            None => ctx.missing(
                tab.key("senders"),
                tab.span.clone(),
                "is required: a list of IP addresses, CIDR networks, host names, .domains or \"ALL\"",
            ),
            Some(v) => {
                if let Some(items) = ctx.arr_v(tab.key("senders"), v) {
                    if items.is_empty() {
                        ctx.err(tab.key("senders"), v.span(), "must not be empty");
                    }
                    for (j, item) in items.iter().enumerate() {
                        let key = format!("{}[{j}]", tab.key("senders"));
                        if let Some(s) = ctx.str_v(key.clone(), item) {
                            match parse_sender(s) {
                                Ok(p) => senders.push(p),
                                Err(m) => ctx.err(key, item.span(), m),
                            }
                        }
                    }
                }
            }
        }
        let policy = match tab.get("policy") {
            None => {
                ctx.missing(
                    tab.key("policy"),
                    tab.span.clone(),
                    "is required: one of \"RELAY\", \"ACCEPT\", \"REJECT\", \"TCPREFUSE\"",
                );
                Policy::Reject
            }
            Some(v) => ctx
                .choice_v(tab.key("policy"), v, Policy::ALL)
                .unwrap_or(Policy::Reject),
        };
        // The union of the group's networks, not each one alone: 0.0.0.0/1 +
        // 128.0.0.0/1 relays for everyone just as 0.0.0.0/0 does.
        if policy == Policy::Relay
            && let Some(open) = crate::coverage::covers_a_whole_family(&senders)
        {
            ctx.err(
                tab.key("policy"),
                tab.span_of("policy"),
                format!(
                    "RELAY for {open} would make an open relay (never allowed: anyone could \
                     send mail anywhere through the gateway); use ACCEPT with a \
                     [recipient_access] table, or list your networks"
                ),
            );
        }
        out.push(SenderGroup {
            name,
            senders,
            policy,
        });
    }
    out
}

fn domain_list(ctx: &mut Ctx<'_>, key: String, v: &V<'_>) -> Vec<DomainPattern> {
    let mut out: Vec<DomainPattern> = Vec::new();
    if let Some(items) = ctx.arr_v(key.clone(), v) {
        for (j, item) in items.iter().enumerate() {
            let k = format!("{key}[{j}]");
            if let Some(p) = ctx.domain_v(k.clone(), item) {
                if out.contains(&p) {
                    ctx.err(k, item.span(), "duplicate domain in this list");
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn parse_rat(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> RecipientAccess {
    let mut rat = RecipientAccess::default();
    if let Some(v) = root.get("recipient_access")
        && let Some(tab) = ctx.table("recipient_access".into(), v, RAT)
        && let Some(d) = tab.get("domains")
    {
        rat.domains = domain_list(ctx, tab.key("domains"), d);
    }
    rat
}

fn parse_resolver_addr(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    text.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

fn parse_dns(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Dns {
    let mut dns = Dns {
        resolvers: Vec::new(),
        trust_anchor_file: None,
        timeout: Duration::from_secs(limits::DEFAULT_DNS_TIMEOUT_SECS),
        sig_skew_min_secs: limits::DEFAULT_DNS_SIG_SKEW_MIN_SECS,
        sig_skew_max_secs: limits::DEFAULT_DNS_SIG_SKEW_MAX_SECS,
    };
    let Some(tab) = root
        .get("dns")
        .and_then(|v| ctx.table("dns".into(), v, DNS))
    else {
        return dns;
    };
    if let Some(v) = tab.get("resolvers")
        && let Some(items) = ctx.arr_v(tab.key("resolvers"), v)
    {
        for (j, item) in items.iter().enumerate() {
            let key = format!("{}[{j}]", tab.key("resolvers"));
            let (addr_v, addr_key, priority) = match item.get_ref() {
                DeValue::String(_) => (Some(item), key.clone(), 0),
                DeValue::Table(_) => {
                    let Some(rt) = ctx.table(key.clone(), item, RESOLVER) else {
                        continue;
                    };
                    let (lo, hi) = limits::RESOLVER_PRIORITY;
                    let p = ctx.int(&rt, "priority", lo, hi).unwrap_or(0);
                    if !rt.has("address") {
                        ctx.missing(
                            rt.key("address"),
                            item.span(),
                            "is required, e.g. \"127.0.0.1:53\"",
                        );
                    }
                    (rt.get("address"), rt.key("address"), p)
                }
                _ => {
                    ctx.err(
                        key,
                        item.span(),
                        "must be { address = \"IP[:port]\", priority = N } or \"IP[:port]\"",
                    );
                    continue;
                }
            };
            let Some(addr_v) = addr_v else { continue };
            let Some(text) = ctx.str_v(addr_key.clone(), addr_v) else {
                continue;
            };
            match parse_resolver_addr(text) {
                Some(address) => {
                    if dns.resolvers.iter().any(|r| r.address == address) {
                        ctx.err(addr_key, addr_v.span(), "duplicate resolver");
                    } else {
                        dns.resolvers.push(Resolver {
                            address,
                            priority: u16::try_from(priority).unwrap_or(0),
                        });
                    }
                }
                None => ctx.err(
                    addr_key,
                    addr_v.span(),
                    "must be an IP address with an optional port, e.g. \"127.0.0.1:53\" or \"[::1]:53\"",
                ),
            }
        }
    }
    dns.trust_anchor_file = ctx.path(&tab, "trust_anchor_file");
    let (lo, hi) = limits::DNS_TIMEOUT_SECS;
    if let Some(n) = ctx.int(&tab, "timeout_secs", lo, hi) {
        dns.timeout = secs(n);
    }
    let (lo, hi) = limits::DNS_SIG_SKEW_SECS;
    if let Some(n) = ctx.int(&tab, "sig_skew_min_secs", lo, hi) {
        dns.sig_skew_min_secs = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = ctx.int(&tab, "sig_skew_max_secs", lo, hi) {
        dns.sig_skew_max_secs = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if dns.sig_skew_min_secs > dns.sig_skew_max_secs
        && let Some(v) = tab.get("sig_skew_min_secs")
    {
        ctx.err(
            tab.key("sig_skew_min_secs"),
            v.span(),
            format!(
                "must not exceed sig_skew_max_secs ({})",
                dns.sig_skew_max_secs
            ),
        );
    }
    dns
}

fn parse_bounce_profiles(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<BounceProfile> {
    let tabs = ctx.tables(root, "bounce_profile", BOUNCE);
    let mut out: Vec<BounceProfile> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, tab) in tabs {
        let Some(name_v) = tab.get("name") else {
            ctx.missing(tab.key("name"), tab.span.clone(), "is required");
            continue;
        };
        let Some(name) = ctx.str_v(tab.key("name"), name_v) else {
            continue;
        };
        if name.trim().is_empty() {
            ctx.err(tab.key("name"), name_v.span(), "must not be empty");
            continue;
        }
        if let Some(j) = names.insert(name.to_string(), i) {
            ctx.err(
                tab.key("name"),
                name_v.span(),
                format!("duplicate bounce profile name (also bounce_profile[{j}])"),
            );
        }
        let mut b = BounceProfile::with_defaults(name);
        let (lo, hi) = limits::INITIAL_RETRY_SECS;
        if let Some(n) = ctx.int(&tab, "initial_retry_secs", lo, hi) {
            b.initial_retry = secs(n);
        }
        let initial = i64::try_from(b.initial_retry.as_secs()).unwrap_or(1);
        if !tab.has("max_retry_interval_secs") {
            b.max_retry_interval = b.max_retry_interval.max(b.initial_retry);
        }
        let (_, hi) = limits::MAX_RETRY_INTERVAL_SECS;
        if let Some(n) = ctx.int(&tab, "max_retry_interval_secs", initial, hi) {
            b.max_retry_interval = secs(n);
        }
        let (lo, hi) = limits::MAX_RETRIES;
        if let Some(n) = ctx.int(&tab, "max_retries", lo, hi) {
            b.max_retries = to_u32(n);
        }
        let (lo, hi) = limits::MAX_QUEUE_TIME_SECS;
        if let Some(n) = ctx.int(&tab, "max_queue_time_secs", lo, hi) {
            b.max_queue_time = secs(n);
        }
        let queue = i64::try_from(b.max_queue_time.as_secs()).unwrap_or(i64::MAX);
        if let Some(n) = ctx.int(&tab, "delay_warning_after_secs", 0, queue - 1) {
            b.delay_warning_after = (n > 0).then(|| secs(n));
        }
        if let Some(h) = ctx.boolean(&tab, "hard_bounces") {
            b.hard_bounces = h;
        }
        out.push(b);
    }
    if !out.iter().any(|b| b.name == "default") {
        out.insert(0, BounceProfile::with_defaults("default"));
    }
    out
}

/// A destination table as written: `None` = not written (inherit).
#[derive(Default)]
struct RawDest {
    ip_preference: Option<IpPreference>,
    max_concurrent_connections: Option<u32>,
    max_messages_per_connection: Option<u32>,
    recipient_limit: Option<Option<RecipientLimit>>,
    apply_limits: Option<ApplyLimits>,
    outbound_interface: Option<Option<IpAddr>>,
    tls: Option<TlsSupport>,
    dane: Option<(DaneSupport, Range<usize>)>,
    bounce_profile: Option<(String, Range<usize>)>,
    bounce_verification: Option<bool>,
}

fn read_dest(ctx: &mut Ctx<'_>, tab: &Tab<'_, '_>) -> RawDest {
    let mut raw = RawDest {
        ip_preference: ctx.choice(tab, "ip_preference", IpPreference::ALL),
        ..RawDest::default()
    };
    let (lo, hi) = limits::MAX_CONCURRENT_CONNECTIONS;
    raw.max_concurrent_connections = ctx
        .int(tab, "max_concurrent_connections", lo, hi)
        .map(to_u32);
    let (lo, hi) = limits::MAX_MESSAGES_PER_CONNECTION;
    raw.max_messages_per_connection = ctx
        .int(tab, "max_messages_per_connection", lo, hi)
        .map(to_u32);
    if let Some(v) = tab.get("recipient_limit") {
        let key = tab.key("recipient_limit");
        match v.get_ref() {
            DeValue::String(s) if s.eq_ignore_ascii_case("none") => {
                raw.recipient_limit = Some(None)
            }
            DeValue::Table(_) => {
                if let Some(rt) = ctx.table(key.clone(), v, RECIPIENT_LIMIT) {
                    let (lo, hi) = limits::RECIPIENT_LIMIT_RECIPIENTS;
                    let recipients = match rt.get("recipients") {
                        Some(_) => ctx.int(&rt, "recipients", lo, hi),
                        None => {
                            ctx.missing(
                                rt.key("recipients"),
                                v.span(),
                                format!("is required ({lo} - {hi})"),
                            );
                            None
                        }
                    };
                    let (lo, hi) = limits::RECIPIENT_LIMIT_PER_MINUTES;
                    let minutes = if rt.has("per_minutes") {
                        ctx.int(&rt, "per_minutes", lo, hi)
                    } else {
                        Some(hi)
                    };
                    if let (Some(r), Some(m)) = (recipients, minutes) {
                        raw.recipient_limit = Some(Some(RecipientLimit {
                            recipients: to_u32(r),
                            interval: secs(m * 60),
                        }));
                    }
                }
            }
            _ => ctx.err(
                key,
                v.span(),
                "must be { recipients = N, per_minutes = M } or \"none\"",
            ),
        }
    }
    raw.apply_limits = ctx.choice(tab, "apply_limits", ApplyLimits::ALL);
    if let Some(v) = tab.get("outbound_interface")
        && let Some(s) = ctx.str_v(tab.key("outbound_interface"), v)
    {
        if s.eq_ignore_ascii_case("none") {
            raw.outbound_interface = Some(None);
        } else {
            match s.parse::<IpAddr>() {
                Ok(ip) => raw.outbound_interface = Some(Some(ip)),
                Err(_) => ctx.err(
                    tab.key("outbound_interface"),
                    v.span(),
                    "must be a local IP address (or \"none\")",
                ),
            }
        }
    }
    raw.tls = ctx.choice(tab, "tls", TlsSupport::ALL);
    if let Some(v) = tab.get("dane")
        && let Some(d) = ctx.choice_v(tab.key("dane"), v, DaneSupport::ALL)
    {
        raw.dane = Some((d, v.span()));
    }
    if let Some(v) = tab.get("bounce_profile")
        && let Some(s) = ctx.str_v(tab.key("bounce_profile"), v)
    {
        raw.bounce_profile = Some((s.to_string(), v.span()));
    }
    raw.bounce_verification = ctx.boolean(tab, "bounce_verification");
    raw
}

/// Applies `raw` over `base`; checks the DANE/TLS rule and the bounce profile name.
fn build_dest(
    ctx: &mut Ctx<'_>,
    key: &str,
    domain: DestinationDomain,
    raw: RawDest,
    base: &DestinationProfile,
    bounces: &[BounceProfile],
) -> DestinationProfile {
    let tls = raw.tls.unwrap_or(base.tls);
    let dane = match &raw.dane {
        Some((d, span)) => {
            if *d != DaneSupport::None && tls == TlsSupport::None {
                ctx.err(
                    format!("{key}.dane"),
                    span.clone(),
                    format!(
                        "DANE requires TLS: dane = \"{d}\" is not allowed with tls = \"none\" \
                         (as on the appliance, DANE Support is selectable only once TLS Support is enabled)"
                    ),
                );
            }
            *d
        }
        None => inherited_dane(tls, base.dane),
    };
    if let Some((name, span)) = &raw.bounce_profile
        && !bounces.iter().any(|b| &b.name == name)
    {
        let known = bounces
            .iter()
            .map(|b| format!("\"{}\"", b.name))
            .collect::<Vec<_>>()
            .join(", ");
        ctx.err(
            format!("{key}.bounce_profile"),
            span.clone(),
            format!("no [[bounce_profile]] has this name (defined: {known})"),
        );
    }
    let explicit = if domain == DestinationDomain::Default {
        ExplicitFields::ALL
    } else {
        ExplicitFields {
            ip_preference: raw.ip_preference.is_some(),
            max_concurrent_connections: raw.max_concurrent_connections.is_some(),
            max_messages_per_connection: raw.max_messages_per_connection.is_some(),
            recipient_limit: raw.recipient_limit.is_some(),
            apply_limits: raw.apply_limits.is_some(),
            outbound_interface: raw.outbound_interface.is_some(),
            tls: raw.tls.is_some(),
            dane: raw.dane.is_some(),
            bounce_profile: raw.bounce_profile.is_some(),
            bounce_verification: raw.bounce_verification.is_some(),
        }
    };
    DestinationProfile {
        domain,
        ip_preference: raw.ip_preference.unwrap_or(base.ip_preference),
        max_concurrent_connections: raw
            .max_concurrent_connections
            .unwrap_or(base.max_concurrent_connections),
        max_messages_per_connection: raw
            .max_messages_per_connection
            .unwrap_or(base.max_messages_per_connection),
        recipient_limit: raw.recipient_limit.unwrap_or(base.recipient_limit),
        apply_limits: raw.apply_limits.unwrap_or(base.apply_limits),
        outbound_interface: raw.outbound_interface.unwrap_or(base.outbound_interface),
        tls,
        dane,
        bounce_profile: raw
            .bounce_profile
            .map_or_else(|| base.bounce_profile.clone(), |(n, _)| n),
        bounce_verification: raw.bounce_verification.unwrap_or(base.bounce_verification),
        explicit,
    }
}

/// The DANE Support a profile gets when it does not set `dane`: the base profile's, except
/// that DANE is off when TLS is off (the form greys DANE out when TLS Support is None).
pub(crate) fn inherited_dane(tls: TlsSupport, base: DaneSupport) -> DaneSupport {
    if tls == TlsSupport::None {
        DaneSupport::None
    } else {
        base
    }
}

fn parse_destinations(
    ctx: &mut Ctx<'_>,
    root: &Tab<'_, '_>,
    bounces: &[BounceProfile],
) -> (DestinationProfile, Vec<DestinationProfile>) {
    let tabs = ctx.tables(root, "destination", DESTINATION);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut entries: Vec<(String, DestinationDomain, RawDest)> = Vec::new();
    for (i, tab) in tabs {
        let domain = match tab.get("domain") {
            None => {
                ctx.missing(
                    tab.key("domain"),
                    tab.span.clone(),
                    "is required: \"example.com\", \".example.com\" or \"default\"",
                );
                None
            }
            Some(v) => match ctx.str_v(tab.key("domain"), v) {
                Some(s) if s.eq_ignore_ascii_case("default") => Some(DestinationDomain::Default),
                Some(_) => ctx
                    .domain_v(tab.key("domain"), v)
                    .map(DestinationDomain::Pattern),
                None => None,
            },
        };
        let raw = read_dest(ctx, &tab);
        let Some(domain) = domain else { continue };
        if let Some(j) = seen.insert(domain.to_string(), i) {
            ctx.err(
                tab.key("domain"),
                tab.span_of("domain"),
                format!("duplicate destination profile (also destination[{j}])"),
            );
            continue;
        }
        entries.push((tab.path.clone(), domain, raw));
    }
    let builtin = DestinationProfile::builtin_default();
    let mut default = builtin.clone();
    let mut rest = Vec::new();
    for (key, domain, raw) in entries {
        if domain == DestinationDomain::Default {
            default = build_dest(ctx, &key, domain, raw, &builtin, bounces);
        } else {
            rest.push((key, domain, raw));
        }
    }
    let others = rest
        .into_iter()
        .map(|(key, domain, raw)| build_dest(ctx, &key, domain, raw, &default, bounces))
        .collect();
    (default, others)
}

fn parse_route_host(text: &str) -> Result<RouteHost, String> {
    const HELP: &str =
        "must be \"host\", \"host:port\", \"IP\", \"IP:port\", \"[IPv6]:port\" or \"USEDNS\"";
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err("port must be between 1 and 65535".to_string()),
        }
    };
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(RouteHost {
            host: RouteHostName::Ip(ip),
            port: 25,
        });
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err("port must be between 1 and 65535".to_string());
        }
        return Ok(RouteHost {
            host: RouteHostName::Ip(sa.ip()),
            port: sa.port(),
        });
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<IpAddr>()
    {
        return Ok(RouteHost {
            host: RouteHostName::Ip(ip),
            port: 25,
        });
    }
    if text.starts_with('[') {
        return Err(HELP.to_string());
    }
    let (name, p) = match text.rsplit_once(':') {
        Some((n, p)) => (n, port(p)?),
        None => (text, 25),
    };
    let name = check_domain(name).map_err(|m| format!("{m}; {HELP}"))?;
    Ok(RouteHost {
        host: RouteHostName::Name(name),
        port: p,
    })
}

fn parse_routes(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> Vec<SmtpRoute> {
    let tabs = ctx.tables(root, "smtp_route", ROUTE);
    let mut out: Vec<SmtpRoute> = Vec::new();
    let mut seen: HashMap<DomainPattern, usize> = HashMap::new();
    for (i, tab) in tabs {
        let domain = match tab.get("domain") {
            None => {
                ctx.missing(
                    tab.key("domain"),
                    tab.span.clone(),
                    "is required: \"internal.example\" or \".internal.example\"",
                );
                None
            }
            Some(v) => ctx.domain_v(tab.key("domain"), v),
        };
        if let Some(d) = &domain
            && let Some(j) = seen.insert(d.clone(), i)
        {
            ctx.err(
                tab.key("domain"),
                tab.span_of("domain"),
                format!("duplicate SMTP route (also smtp_route[{j}])"),
            );
        }
        let hosts_key = tab.key("hosts");
        let hosts = match tab.get("hosts") {
            None => {
                ctx.missing(
                    hosts_key,
                    tab.span.clone(),
                    "is required: [\"host[:port]\", ...] or [\"USEDNS\"]",
                );
                None
            }
            Some(v) => parse_hosts(ctx, hosts_key, v),
        };
        if let (Some(domain), Some(hosts)) = (domain, hosts) {
            out.push(SmtpRoute { domain, hosts });
        }
    }
    out
}

fn parse_hosts(ctx: &mut Ctx<'_>, key: String, v: &V<'_>) -> Option<RouteHosts> {
    let items = ctx.arr_v(key.clone(), v)?;
    if items.is_empty() {
        ctx.err(key, v.span(), "must list at least one host, or \"USEDNS\"");
        return None;
    }
    let mut hosts = Vec::new();
    let mut usedns = false;
    let mut ok = true;
    for (j, item) in items.iter().enumerate() {
        let k = format!("{key}[{j}]");
        let Some(s) = ctx.str_v(k.clone(), item) else {
            ok = false;
            continue;
        };
        if s.eq_ignore_ascii_case("USEDNS") {
            usedns = true;
            continue;
        }
        match parse_route_host(s) {
            Ok(h) => hosts.push(h),
            Err(m) => {
                ok = false;
                ctx.err(k, item.span(), m);
            }
        }
    }
    if usedns && (!hosts.is_empty() || items.len() > 1) {
        ctx.err(key, v.span(), "\"USEDNS\" must be the only entry when used");
        return None;
    }
    if !ok {
        return None;
    }
    Some(if usedns {
        RouteHosts::UseDns
    } else {
        RouteHosts::Hosts(hosts)
    })
}

/// `[[log]]`: log subscriptions; names and files unique.
fn parse_logs(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>, server: &Server) -> Vec<LogSubscription> {
    let tabs = ctx.tables(root, "log", LOG);
    let mut out: Vec<LogSubscription> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut files: HashMap<PathBuf, usize> = HashMap::new();
    for (i, tab) in tabs {
        let Some(name_v) = tab.get("name") else {
            ctx.missing(tab.key("name"), tab.span.clone(), "is required");
            continue;
        };
        let Some(name) = ctx.str_v(tab.key("name"), name_v) else {
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || name.starts_with('.')
        {
            ctx.err(
                tab.key("name"),
                name_v.span(),
                "must be letters, digits, '_', '-' or '.' (not first), e.g. \"mail_logs\"",
            );
            continue;
        }
        if let Some(j) = names.insert(name.to_string(), i) {
            ctx.err(
                tab.key("name"),
                name_v.span(),
                format!("duplicate log subscription name (also log[{j}])"),
            );
        }
        let mut l = LogSubscription::with_defaults(name);
        l.file = ctx.path(&tab, "file");
        if let Some(v) = ctx.choice(
            &tab,
            "level",
            &[
                (LogLevel::Critical, "critical"),
                (LogLevel::Warning, "warning"),
                (LogLevel::Info, "info"),
                (LogLevel::Debug, "debug"),
                (LogLevel::Trace, "trace"),
            ],
        ) {
            l.level = v;
        }
        if let Some(v) = ctx.choice(
            &tab,
            "format",
            &[(LogFormat::Text, "text"), (LogFormat::Json, "json")],
        ) {
            l.format = v;
        }
        if let Some(v) = tab.get("rotate_size_bytes") {
            let (lo, hi) = limits::LOG_ROTATE_SIZE;
            let key = tab.key("rotate_size_bytes");
            match v.get_ref() {
                DeValue::Integer(n)
                    if i64::from_str_radix(n.as_str(), n.radix()).ok() == Some(0) =>
                {
                    l.rotate_size_bytes = None;
                }
                DeValue::Integer(_) => {
                    if let Some(n) = ctx.int_v(key.clone(), v, lo, hi) {
                        l.rotate_size_bytes = u64::try_from(n).ok();
                    } else if let Some(e) = ctx.errors.last_mut() {
                        e.message =
                            format!("must be 0 (no size rotation) or between {lo} and {hi}");
                    }
                }
                _ => {
                    ctx.int_v(key, v, lo, hi);
                }
            }
        }
        if let Some(v) = ctx.choice(
            &tab,
            "rotate_interval",
            &[
                (None, "none"),
                (Some(RotateInterval::Hourly), "hourly"),
                (Some(RotateInterval::Daily), "daily"),
            ],
        ) {
            l.rotate_interval = v;
        }
        let (lo, hi) = limits::LOG_MAX_FILES;
        if let Some(n) = ctx.int(&tab, "max_files", lo, hi) {
            l.max_files = to_u32(n);
        }
        let path = l.path(&server.data_dir);
        if let Some(j) = files.insert(path.clone(), i) {
            ctx.err(
                tab.key("file"),
                tab.span_of("file"),
                format!(
                    "{} is already the file of log[{j}]: each subscription needs its own file",
                    path.display()
                ),
            );
        }
        out.push(l);
    }
    out
}
