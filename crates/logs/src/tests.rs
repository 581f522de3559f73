//! Unit tests: level filtering, formats, rotation by size and time, reload.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, UNIX_EPOCH},
};

use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// 2019-02-05 13:20:03 UTC.
const T0: u64 = 1_549_372_803;

fn clock(at: Arc<AtomicU64>) -> Clock {
    Arc::new(move || UNIX_EPOCH + Duration::from_secs(at.load(Ordering::SeqCst)))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn with_layer(subs: &[Subscription], at: Arc<AtomicU64>, f: impl FnOnce(&LogsHandle)) {
    let (layer, handle) = LogsLayer::with_clock(subs, clock(at)).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || f(&handle));
}

#[test]
fn levels_filter_and_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("mail_logs");
    let debug = dir.path().join("mail_logs_d");
    let crit = dir.path().join("crit");
    let subs = [
        Subscription::new("mail_logs", &info, Level::INFO),
        Subscription::new("mail_logs_d", &debug, Level::DEBUG),
        Subscription::new("crit", &crit, Level::ERROR),
    ];
    with_layer(&subs, Arc::new(AtomicU64::new(T0)), |_| {
        tracing::info!(target: "danegate::mail", "DCID 7 TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384 for example.com");
        tracing::debug!(target: "danegate::dns", "DNS query: Q('example.com', 'MX')");
        tracing::warn!(target: "danegate::mail", "a warning");
        tracing::error!(target: "danegate::mail", "an error");
        tracing::trace!(target: "danegate::dns", "too verbose");
        tracing::info!(target: "other_crate", "not ours");
    });
    assert_eq!(
        read(&info),
        "Tue Feb  5 13:20:03 2019 Info: DCID 7 TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384 for example.com\n\
         Tue Feb  5 13:20:03 2019 Warning: a warning\n\
         Tue Feb  5 13:20:03 2019 Critical: an error\n"
    );
    let d = read(&debug);
    assert!(d.contains("Tue Feb  5 13:20:03 2019 Debug: DNS query: Q('example.com', 'MX')\n"));
    assert_eq!(d.lines().count(), 4, "{d}");
    assert_eq!(read(&crit), "Tue Feb  5 13:20:03 2019 Critical: an error\n");
}

#[test]
fn json_lines_parse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail_logs.json");
    let mut s = Subscription::new("json", &path, Level::INFO);
    s.format = Format::Json;
    with_layer(&[s], Arc::new(AtomicU64::new(T0)), |_| {
        tracing::info!(target: "danegate::mail", "Delivery start DCID 3 MID 12 to RID [0]");
        tracing::info!(target: "danegate::mail", domain = "example.com", "New SMTP ICID 4 interface 127.0.0.1 address 127.0.0.1 reverse dns host (unknown) verified no");
        tracing::debug!(target: "danegate::dns", "not at info");
    });
    let text = read(&path);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["time"], "2019-02-05T13:20:03Z");
    assert_eq!(lines[0]["timestamp"], T0);
    assert_eq!(lines[0]["level"], "Info");
    assert_eq!(lines[0]["target"], "danegate::mail");
    assert_eq!(
        lines[0]["message"],
        "Delivery start DCID 3 MID 12 to RID [0]"
    );
    assert_eq!(lines[0]["dcid"], 3);
    assert_eq!(lines[0]["mid"], 12);
    assert_eq!(lines[1]["icid"], 4);
    assert_eq!(lines[1]["domain"], "example.com");
    assert!(lines[1].get("mid").is_none());
}

#[test]
fn size_rotation_keeps_at_most_n_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail_logs");
    let mut s = Subscription::new("mail_logs", &path, Level::INFO);
    s.rotate_size = Some(200);
    s.max_files = 3;
    let at = Arc::new(AtomicU64::new(T0));
    with_layer(&[s], at, |_| {
        for i in 0..100 {
            tracing::info!(target: "danegate::mail", "MID {i:03} ready 1234 bytes from <a@example.com>");
        }
    });
    assert_eq!(
        files(dir.path()),
        ["mail_logs", "mail_logs.1", "mail_logs.2"]
    );
    for f in ["mail_logs", "mail_logs.1", "mail_logs.2"] {
        let size = std::fs::metadata(dir.path().join(f)).unwrap().len();
        assert!(size > 0 && size <= 200, "{f}: {size}");
    }
    // The newest lines are in the current file, the previous ones in .1.
    assert!(read(&path).contains("MID 099 "));
    let prev = read(&dir.path().join("mail_logs.1"));
    let last_prev = prev.lines().last().unwrap();
    let first_cur = read(&path).lines().next().unwrap().to_string();
    let n = |l: &str| -> u32 { l.split("MID ").nth(1).unwrap()[..3].parse().unwrap() };
    assert_eq!(n(last_prev) + 1, n(&first_cur));
}

#[test]
fn max_files_one_empties_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    let mut s = Subscription::new("m", &path, Level::INFO);
    s.rotate_size = Some(100);
    with_layer(&[s], Arc::new(AtomicU64::new(T0)), |_| {
        for i in 0..20 {
            tracing::info!(target: "danegate::mail", "line number {i} of a few");
        }
    });
    assert_eq!(files(dir.path()), ["m"]);
    assert!(read(&path).contains("line number 19 "));
}

#[test]
fn time_rotation_with_an_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail_logs");
    let mut s = Subscription::new("mail_logs", &path, Level::INFO);
    s.rotate_interval = Some(Interval::Daily);
    s.max_files = 2;
    let at = Arc::new(AtomicU64::new(T0));
    with_layer(&[s], at.clone(), |_| {
        tracing::info!(target: "danegate::mail", "day one a");
        at.store(T0 + 3600, Ordering::SeqCst);
        tracing::info!(target: "danegate::mail", "day one b");
        // 2019-02-06 00:00:00 UTC.
        at.store(1_549_411_200, Ordering::SeqCst);
        tracing::info!(target: "danegate::mail", "day two");
        at.store(1_549_411_200 + 86_400, Ordering::SeqCst);
        tracing::info!(target: "danegate::mail", "day three");
    });
    assert_eq!(files(dir.path()), ["mail_logs", "mail_logs.1"]);
    assert_eq!(
        read(&dir.path().join("mail_logs.1")),
        "Wed Feb  6 00:00:00 2019 Info: day two\n"
    );
    assert_eq!(read(&path), "Thu Feb  7 00:00:00 2019 Info: day three\n");

    // Hourly.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h");
    let mut s = Subscription::new("h", &path, Level::INFO);
    s.rotate_interval = Some(Interval::Hourly);
    s.max_files = 5;
    let at = Arc::new(AtomicU64::new(T0));
    with_layer(&[s], at.clone(), |_| {
        for h in 0..4 {
            at.store(T0 + h * 3600, Ordering::SeqCst);
            tracing::info!(target: "danegate::mail", "hour {h}");
            tracing::info!(target: "danegate::mail", "hour {h} again");
        }
    });
    assert_eq!(files(dir.path()), ["h", "h.1", "h.2", "h.3"]);
    assert!(read(&dir.path().join("h.3")).contains("hour 0 again"));
}

#[test]
fn reload_changes_level_and_prunes_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail_logs");
    let mut s = Subscription::new("mail_logs", &path, Level::INFO);
    s.rotate_size = Some(120);
    s.max_files = 4;
    let at = Arc::new(AtomicU64::new(T0));
    with_layer(std::slice::from_ref(&s), at, |handle| {
        tracing::debug!(target: "danegate::dns", "hidden");
        for i in 0..20 {
            tracing::info!(target: "danegate::mail", "info line {i:02}");
        }
        assert_eq!(files(dir.path()).len(), 4);
        let mut d = s.clone();
        d.level = Level::DEBUG;
        d.max_files = 2;
        handle.apply(std::slice::from_ref(&d)).unwrap();
        assert_eq!(files(dir.path()), ["mail_logs", "mail_logs.1"]);
        assert_eq!(handle.subscriptions(), vec![d]);
        tracing::debug!(target: "danegate::dns", "DNS query: Q('x', 'MX')");
        // A bad set changes nothing.
        let bad = [
            Subscription::new("a", dir.path().join("a"), Level::INFO),
            Subscription::new("b", dir.path().join("a"), Level::INFO),
        ];
        assert!(matches!(
            handle.apply(&bad),
            Err(LogError::DuplicateFile { .. })
        ));
        let unopenable = [Subscription::new(
            "n",
            dir.path().join("mail_logs").join("x"),
            Level::INFO,
        )];
        let e = handle.apply(&unopenable).unwrap_err().to_string();
        assert!(e.starts_with("log subscription n: cannot open"), "{e}");
        tracing::debug!(target: "danegate::dns", "still debug");
        handle.rotate_now(Some("mail_logs")).unwrap();
        tracing::info!(target: "danegate::mail", "after rollover");
    });
    assert!(!read(&dir.path().join("mail_logs.1")).contains("hidden"));
    assert!(read(&dir.path().join("mail_logs.1")).contains("Debug: still debug"));
    assert_eq!(
        read(&path),
        "Tue Feb  5 13:20:03 2019 Info: after rollover\n"
    );
}

#[test]
fn existing_file_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("mail_logs");
    let s = Subscription::new("mail_logs", &path, Level::INFO);
    for word in ["first", "second"] {
        with_layer(
            std::slice::from_ref(&s),
            Arc::new(AtomicU64::new(T0)),
            |_| {
                tracing::info!(target: "danegate::mail", "{word}");
            },
        );
    }
    assert_eq!(
        read(&path),
        "Tue Feb  5 13:20:03 2019 Info: first\nTue Feb  5 13:20:03 2019 Info: second\n"
    );
}

#[test]
fn from_config() {
    let c = danegate_config::Config::from_toml_str(
        "[server]\ndata_dir = \"/d\"\n[[log]]\nname = \"mail_logs_d\"\nlevel = \"debug\"\nmax_files = 3\nformat = \"json\"\nrotate_interval = \"hourly\"\n",
        "t",
    )
    .unwrap();
    let s = subscriptions_from_config(&c);
    assert_eq!(
        s,
        vec![Subscription {
            name: "mail_logs_d".into(),
            file: "/d/logs/mail_logs_d".into(),
            level: Level::DEBUG,
            format: Format::Json,
            rotate_size: Some(10 * 1024 * 1024),
            rotate_interval: Some(Interval::Hourly),
            max_files: 3,
        }]
    );
    let d = subscriptions_from_config(&danegate_config::Config::embedded_default());
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].level, Level::INFO);
    assert!(d[0].file.ends_with("logs/mail_logs"));
}
