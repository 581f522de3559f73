//! danegate's log subscriptions: `mail_logs` in the appliance's format
//! (`Tue Feb  5 13:20:03 2019 Info: ...`), several subscriptions at once, each with a
//! level, a file, a format (appliance text or JSON lines), rotation by size and/or time
//! and a maximum number of kept files; the set can be swapped at runtime (reload).
//!
//! - [`LogsLayer`] is a `tracing_subscriber::Layer`: every event whose target starts
//!   with `danegate` (`danegate::mail` Info lines, `danegate::dns` DNS trace,
//!   `danegate::dane` DANE steps, ...) is written to each subscription whose level
//!   admits it. [`LogsHandle::apply`] replaces the set (levels, formats, rotation,
//!   files) atomically; files that stay open keep their size and period.
//! - Levels: `Critical` = ERROR, `Warning` = WARN, `Info`, `Debug`, `Trace`; a
//!   subscription at `Info` gets Critical, Warning and Info lines.
//! - Files: the current file is `file` (e.g. `mail_logs`); a rotation renames it to
//!   `mail_logs.1`, the previous `.1` to `.2`, ...; `max_files` counts the current file,
//!   so at most `max_files` files exist; older ones are deleted. A file is rotated
//!   before a line would make it larger than `rotate_size` bytes, and at the first line
//!   of a new hour/day (UTC) with `rotate_interval`. An existing file is appended to and
//!   belongs to the period of its last modification.
//! - Text format: `Tue Feb  5 13:20:03 2019 Info: <message>` (UTC, ctime layout). JSON
//!   format: one object per line, `{"time":"2019-02-05T13:20:03Z","timestamp":1549372803,
//!   "level":"Info","target":"danegate::mail","message":"...","mid":5,...}` — `icid`,
//!   `mid`, `dcid` are copied from the message's first `ICID n`, `MID n`, `DCID n`, and
//!   the event's other fields are added under their own names.
//! - Writes are synchronous, one `write` of a complete line per subscription under a
//!   per-file mutex (no buffering, nothing lost on a crash, no long blocking).
//!   A write error is reported once on standard error per subscription.

#![warn(missing_docs)]

mod file;
pub mod format;

use std::{
    collections::HashSet,
    fmt,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::SystemTime,
};

use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

use file::{RotatingFile, Rotation};
pub use format::{ctime, escape_controls, escape_for_terminal, level_word, rfc3339};

/// The line format of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// `Tue Feb  5 13:20:03 2019 Info: <message>`.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Time-based rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// At the first line of a new hour (UTC).
    Hourly,
    /// At the first line of a new day (UTC).
    Daily,
}

impl Interval {
    /// The period in seconds.
    pub fn secs(self) -> u64 {
        match self {
            Interval::Hourly => 3600,
            Interval::Daily => 86_400,
        }
    }
}

/// One log subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Its name (`mail_logs`, `mail_logs_d`).
    pub name: String,
    /// The current file.
    pub file: PathBuf,
    /// The most verbose level written (`Level::ERROR` = Critical ... `Level::TRACE`).
    pub level: Level,
    /// Text or JSON lines.
    pub format: Format,
    /// Rotate before the file would exceed this many bytes.
    pub rotate_size: Option<u64>,
    /// Rotate hourly or daily.
    pub rotate_interval: Option<Interval>,
    /// Files kept, the current one included (at least 1).
    pub max_files: u32,
}

impl Subscription {
    /// A text subscription without rotation, keeping one file.
    pub fn new(name: impl Into<String>, file: impl Into<PathBuf>, level: Level) -> Self {
        Subscription {
            name: name.into(),
            file: file.into(),
            level,
            format: Format::Text,
            rotate_size: None,
            rotate_interval: None,
            max_files: 1,
        }
    }

    fn rotation(&self) -> Rotation {
        Rotation {
            size: self.rotate_size,
            interval: self.rotate_interval,
            max_files: self.max_files.max(1),
        }
    }
}

/// The appliance's level name (`Critical`, `Warning`, `Info`, `Debug`, `Trace`) as a
/// `tracing` level.
pub fn level_from_config(l: danegate_config::LogLevel) -> Level {
    match l {
        danegate_config::LogLevel::Critical => Level::ERROR,
        danegate_config::LogLevel::Warning => Level::WARN,
        danegate_config::LogLevel::Info => Level::INFO,
        danegate_config::LogLevel::Debug => Level::DEBUG,
        danegate_config::LogLevel::Trace => Level::TRACE,
    }
}

/// The subscriptions of a configuration (`[[log]]`, or the default `mail_logs` at Info
/// in `<data_dir>/logs/mail_logs`), see `docs/configuration.md`.
pub fn subscriptions_from_config(config: &danegate_config::Config) -> Vec<Subscription> {
    config
        .log_subscriptions()
        .into_iter()
        .map(|l| Subscription {
            file: l.path(&config.server.data_dir),
            level: level_from_config(l.level),
            format: match l.format {
                danegate_config::LogFormat::Text => Format::Text,
                danegate_config::LogFormat::Json => Format::Json,
            },
            rotate_size: l.rotate_size_bytes,
            rotate_interval: l.rotate_interval.map(|i| match i {
                danegate_config::RotateInterval::Hourly => Interval::Hourly,
                danegate_config::RotateInterval::Daily => Interval::Daily,
            }),
            max_files: l.max_files,
            name: l.name,
        })
        .collect()
}

/// A subscription set that cannot be installed.
#[derive(Debug)]
pub enum LogError {
    /// The file cannot be opened or created.
    Open {
        /// The subscription.
        name: String,
        /// Its file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Two subscriptions write the same file.
    DuplicateFile {
        /// The second subscription.
        name: String,
        /// The file.
        file: PathBuf,
    },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Open { name, file, error } => write!(
                f,
                "log subscription {name}: cannot open {}: {error}",
                file.display()
            ),
            LogError::DuplicateFile { name, file } => write!(
                f,
                "log subscription {name}: {} is already written by another subscription",
                file.display()
            ),
        }
    }
}

impl std::error::Error for LogError {}

/// The source of time stamps and rotation times (injectable for tests).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

struct Active {
    spec: Subscription,
    out: Arc<Mutex<RotatingFile>>,
    warned: AtomicBool,
}

struct Shared {
    subs: RwLock<Arc<Vec<Active>>>,
    clock: Clock,
}

/// The `tracing` layer writing `danegate*` events to the subscriptions.
pub struct LogsLayer {
    shared: Arc<Shared>,
}

/// Swaps the subscription set of a [`LogsLayer`] at runtime.
#[derive(Clone)]
pub struct LogsHandle {
    shared: Arc<Shared>,
}

impl LogsLayer {
    /// A layer writing to `subs`, and its handle. Fails if a file cannot be opened.
    pub fn new(subs: &[Subscription]) -> Result<(LogsLayer, LogsHandle), LogError> {
        LogsLayer::with_clock(subs, Arc::new(SystemTime::now))
    }

    /// As [`LogsLayer::new`], with time stamps and rotation from `clock`.
    pub fn with_clock(
        subs: &[Subscription],
        clock: Clock,
    ) -> Result<(LogsLayer, LogsHandle), LogError> {
        let shared = Arc::new(Shared {
            subs: RwLock::new(Arc::new(Vec::new())),
            clock,
        });
        let handle = LogsHandle {
            shared: shared.clone(),
        };
        handle.apply(subs)?;
        Ok((LogsLayer { shared }, handle))
    }
}

impl LogsHandle {
    /// Replaces the subscription set (a reload: level, format, rotation and file changes
    /// apply to the next line). All files are opened first: on an error nothing changes.
    /// A file written before and after keeps its handle, size and rotation period.
    pub fn apply(&self, subs: &[Subscription]) -> Result<(), LogError> {
        let now = (self.shared.clock)();
        let old = self.current();
        let mut seen = HashSet::new();
        let mut next = Vec::with_capacity(subs.len());
        for s in subs {
            if !seen.insert(s.file.clone()) {
                return Err(LogError::DuplicateFile {
                    name: s.name.clone(),
                    file: s.file.clone(),
                });
            }
            let out = match old.iter().find(|a| same_file(&a.spec.file, &s.file)) {
                Some(a) => {
                    if let Ok(mut f) = a.out.lock() {
                        f.set_rotation(s.rotation());
                    }
                    a.out.clone()
                }
                None => {
                    let f = RotatingFile::open(&s.file, s.rotation(), now).map_err(|error| {
                        LogError::Open {
                            name: s.name.clone(),
                            file: s.file.clone(),
                            error,
                        }
                    })?;
                    Arc::new(Mutex::new(f))
                }
            };
            next.push(Active {
                spec: s.clone(),
                out,
                warned: AtomicBool::new(false),
            });
        }
        if let Ok(mut cur) = self.shared.subs.write() {
            *cur = Arc::new(next);
        }
        Ok(())
    }

    /// The subscriptions in force.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.current().iter().map(|a| a.spec.clone()).collect()
    }

    /// Rotates the named subscription's file now (all of them with `None`): the
    /// appliance's `rollovernow`.
    pub fn rotate_now(&self, name: Option<&str>) -> Result<(), LogError> {
        let now = (self.shared.clock)();
        for a in self.current().iter() {
            if name.is_some_and(|n| n != a.spec.name) {
                continue;
            }
            if let Ok(mut f) = a.out.lock() {
                f.rotate(now).map_err(|error| LogError::Open {
                    name: a.spec.name.clone(),
                    file: a.spec.file.clone(),
                    error,
                })?;
            }
        }
        Ok(())
    }

    fn current(&self) -> Arc<Vec<Active>> {
        match self.shared.subs.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
}

/// The message and the other fields of an event.
#[derive(Default)]
struct Fields {
    message: String,
    other: Map<String, Value>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use fmt::Write as _;
            let _ = write!(self.message, "{value:?}");
        } else {
            self.other.insert(
                field.name().to_string(),
                Value::String(format!("{value:?}")),
            );
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.other
                .insert(field.name().to_string(), Value::String(value.to_string()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.other.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.other.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.other.insert(field.name().to_string(), value.into());
    }
}

/// The first `ICID n`, `MID n`, `DCID n` of a message.
fn ids(message: &str, into: &mut Map<String, Value>) {
    let mut words = message.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let key = match w {
            "ICID" => "icid",
            "MID" => "mid",
            "DCID" => "dcid",
            _ => continue,
        };
        if let Some(n) = words.peek().and_then(|n| n.parse::<u64>().ok())
            && !into.contains_key(key)
        {
            into.insert(key.to_string(), n.into());
        }
    }
}

fn json_line(secs: u64, level: &Level, target: &str, f: &Fields) -> String {
    let mut m = Map::new();
    m.insert("time".into(), rfc3339(secs).into());
    m.insert("timestamp".into(), secs.into());
    m.insert("level".into(), level_word(level).into());
    m.insert("target".into(), target.into());
    // serde_json escapes C0 controls, not C1 or bidi controls: escape them all the
    // same way as the text format.
    m.insert(
        "message".into(),
        format::escape_controls(&f.message).into_owned().into(),
    );
    ids(&f.message, &mut m);
    for (k, v) in &f.other {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(m).to_string()
}

impl<S: Subscriber> Layer<S> for LogsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("danegate") {
            return;
        }
        let subs = match self.shared.subs.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        if !subs.iter().any(|s| *meta.level() <= s.spec.level) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = (self.shared.clock)();
        let secs = format::unix_secs(now);
        let mut text: Option<String> = None;
        let mut json: Option<String> = None;
        for s in subs.iter().filter(|s| *meta.level() <= s.spec.level) {
            let line = match s.spec.format {
                Format::Text => text.get_or_insert_with(|| {
                    let mut l = format::text_line(secs, meta.level(), &fields.message);
                    l.push('\n');
                    l
                }),
                Format::Json => json.get_or_insert_with(|| {
                    let mut l = json_line(secs, meta.level(), meta.target(), &fields);
                    l.push('\n');
                    l
                }),
            };
            let result = match s.out.lock() {
                Ok(mut f) => f.write_line(line.as_bytes(), now),
                Err(p) => p.into_inner().write_line(line.as_bytes(), now),
            };
            if let Err(e) = result
                && !s.warned.swap(true, Ordering::Relaxed)
            {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "danegate: log subscription {}: cannot write {}: {e}",
                    s.spec.name,
                    s.spec.file.display()
                );
            }
        }
    }
}

/// Writes every `danegate*` event at or above `max` to standard error as an appliance
/// text line.
pub struct StderrLayer {
    /// The most verbose level written.
    pub max: Level,
}

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.max || !meta.target().starts_with("danegate") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let secs = format::unix_secs(SystemTime::now());
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            format::text_line(secs, meta.level(), &fields.message)
        );
    }
}

#[cfg(test)]
mod tests;
