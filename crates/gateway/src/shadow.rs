//! The shadow evaluation of every delivery attempt, wired into the delivery agent and
//! persisted per destination domain (`<data_dir>/shadow.sqlite`).
//!
//! For each attempt the DNS the DANE tables need is looked up concurrently with the
//! delivery's own connection ([`lookup`]), then [`danegate_delivery::shadow`] decides
//! what DANE Mandatory and DANE Opportunistic would have done with the certificate the
//! connection showed ([`record`]). Delivery itself is not changed.
//!
//! Counts are aggregated in memory and written to SQLite in one transaction every
//! [`FLUSH_EVERY`] (and when the gateway stops, and before every report), so a
//! delivery costs no disk write of its own.
//!
//! Size bound: per domain, hourly buckets for the last [`HOURLY_KEEP`] (the 24 h
//! window is exact to the hour) and daily buckets for the last [`DAILY_KEEP`] (the 7 and
//! 30 day windows are exact to the day), at most [`REASONS_KEPT`] failure reasons per
//! mode (DANE Mandatory, DANE Opportunistic, MTA-STS enforce), and one row with
//! first/last seen and the latest record: at most 48 + 32 + 3 × 5 + 1 = 96 rows per
//! domain. At most [`MAX_DOMAINS`] domains are kept;
//! beyond that the least recently seen are evicted.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, SystemTime},
};

use danegate_delivery::Event;
use danegate_delivery::{
    InsecureMx, Session,
    shadow::{
        ModeResult, Observation, ShadowDns, ShadowRecord, ShadowVerdict, StsFinding, StsShadow,
        StsVerdict, shadow_record,
    },
};
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use crate::Shared;

/// How often pending counts are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Hourly buckets are kept this long.
pub const HOURLY_KEEP: Duration = Duration::from_secs(48 * 3600);
/// Daily buckets are kept this long.
pub const DAILY_KEEP: Duration = Duration::from_secs(32 * 86400);
/// Distinct failure reasons kept per domain and mode (the most recent).
pub const REASONS_KEPT: usize = 5;
/// Destination domains kept (the least recently seen are evicted beyond this).
pub const MAX_DOMAINS: usize = 10_000;

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Counts of one DANE mode's would-be verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeCounts {
    /// Would have delivered (DANE success, or an Opportunistic fallback).
    pub pass: u64,
    /// Of those, authenticated by DANE.
    pub authenticated: u64,
    /// Would have failed (message kept queued).
    pub fail: u64,
    /// Would have deferred (temporary DNS failure).
    pub temp: u64,
    /// The deciding check was not observed.
    pub not_observed: u64,
}

impl ModeCounts {
    fn add(&mut self, r: &ModeResult, n: u64) {
        match r.verdict {
            ShadowVerdict::DaneSuccess => {
                self.pass += n;
                self.authenticated += n;
            }
            ShadowVerdict::Fallback => self.pass += n,
            ShadowVerdict::DaneFailed => self.fail += n,
            ShadowVerdict::TempFail => self.temp += n,
            ShadowVerdict::NotObserved => self.not_observed += n,
        }
    }

    /// Adds `o`.
    pub fn merge(&mut self, o: &ModeCounts) {
        self.pass += o.pass;
        self.authenticated += o.authenticated;
        self.fail += o.fail;
        self.temp += o.temp;
        self.not_observed += o.not_observed;
    }
}

/// Counts of what an enforce MTA-STS policy would have decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsCounts {
    /// Would have delivered (the session met the policy).
    pub pass: u64,
    /// Would have deferred (the session did not meet the policy).
    pub fail: u64,
    /// No policy published (or mode `none`).
    pub no_policy: u64,
    /// The policy fetch failed (nothing cached).
    pub fetch_failed: u64,
    /// The delivery used no TLS or made no connection.
    pub not_observed: u64,
    /// The policy lookup was still running.
    pub not_checked: u64,
}

impl StsCounts {
    fn add(&mut self, r: &StsShadow, n: u64) {
        match r.verdict {
            StsVerdict::Pass => self.pass += n,
            StsVerdict::Fail => self.fail += n,
            StsVerdict::NoPolicy => self.no_policy += n,
            StsVerdict::FetchFailed => self.fetch_failed += n,
            StsVerdict::NotObserved => self.not_observed += n,
            StsVerdict::NotChecked => self.not_checked += n,
        }
    }

    /// Adds `o`.
    pub fn merge(&mut self, o: &StsCounts) {
        self.pass += o.pass;
        self.fail += o.fail;
        self.no_policy += o.no_policy;
        self.fetch_failed += o.fetch_failed;
        self.not_observed += o.not_observed;
        self.not_checked += o.not_checked;
    }
}

/// The counts of a domain over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowCounts {
    /// Messages whose delivery attempts were evaluated.
    pub deliveries: u64,
    /// Of those, delivered DANE-authenticated by the profile in force (protected today).
    pub protected: u64,
    /// What DANE Mandatory would have decided.
    pub mandatory: ModeCounts,
    /// What DANE Opportunistic would have decided.
    pub opportunistic: ModeCounts,
    /// What an enforce MTA-STS policy would have decided.
    #[serde(default)]
    pub mta_sts: StsCounts,
}

impl ShadowCounts {
    /// Adds `o`.
    pub fn merge(&mut self, o: &ShadowCounts) {
        self.deliveries += o.deliveries;
        self.protected += o.protected;
        self.mandatory.merge(&o.mandatory);
        self.opportunistic.merge(&o.opportunistic);
        self.mta_sts.merge(&o.mta_sts);
    }
}

/// One recent failure reason of a mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowReason {
    /// `mandatory` or `opportunistic`.
    pub mode: String,
    /// The verdict it gave (`dane-failed`, `temp-fail`, `not-observed`).
    pub verdict: ShadowVerdict,
    /// Its class (`no-tlsa`, `cert-mismatch`, ...).
    pub finding: danegate_delivery::shadow::Finding,
    /// In words.
    pub reason: String,
    /// The MX host it is about.
    pub host: Option<String>,
    /// First and last time seen (Unix seconds).
    pub first_seen: u64,
    /// Last time seen (Unix seconds).
    pub last_seen: u64,
    /// Attempts that gave it.
    pub count: u64,
}

/// One recent reason an enforce MTA-STS policy would not have delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsReason {
    /// The verdict it gave (`fail`, `fetch-failed`).
    pub verdict: StsVerdict,
    /// Its class (`mx-mismatch`, `certificate-expired`, ...).
    pub finding: StsFinding,
    /// In words.
    pub reason: String,
    /// The MX host it is about.
    pub host: Option<String>,
    /// First time seen (Unix seconds).
    pub first_seen: u64,
    /// Last time seen (Unix seconds).
    pub last_seen: u64,
    /// Attempts (messages) that gave it.
    pub count: u64,
}

/// The `mode` column of MTA-STS reasons in `shadow_reason`.
const STS_MODE: &str = "mta-sts";

/// The shadow results of one destination domain over a window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainShadow {
    /// The domain.
    pub domain: String,
    /// First attempt ever recorded (Unix seconds).
    pub first_seen: u64,
    /// Latest attempt (Unix seconds).
    pub last_seen: u64,
    /// Counts in the window.
    pub counts: ShadowCounts,
    /// Failure reasons seen in the window, most recent first.
    pub reasons: Vec<ShadowReason>,
    /// MTA-STS enforce failure reasons seen in the window, most recent first.
    #[serde(default)]
    pub sts_reasons: Vec<StsReason>,
    /// The latest attempt's evaluation.
    pub latest: Option<ShadowRecord>,
}

#[derive(Default)]
struct Pending {
    buckets: HashMap<(String, u64, u64), ShadowCounts>,
    domains: HashMap<String, (u64, ShadowRecord)>,
    reasons: HashMap<(String, &'static str, String), ShadowReason>,
    sts_reasons: HashMap<(String, String), StsReason>,
}

/// The store: pending counts in memory, SQLite on disk.
pub(crate) struct ShadowStore {
    enabled: bool,
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
    pending: Mutex<Pending>,
    latest: Mutex<HashMap<String, ShadowRecord>>,
    last_prune: Mutex<u64>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shadow_bucket (
  domain TEXT NOT NULL, span INTEGER NOT NULL, start INTEGER NOT NULL,
  deliveries INTEGER NOT NULL DEFAULT 0, protected INTEGER NOT NULL DEFAULT 0,
  m_pass INTEGER NOT NULL DEFAULT 0, m_auth INTEGER NOT NULL DEFAULT 0,
  m_fail INTEGER NOT NULL DEFAULT 0, m_temp INTEGER NOT NULL DEFAULT 0,
  m_unobs INTEGER NOT NULL DEFAULT 0,
  o_pass INTEGER NOT NULL DEFAULT 0, o_auth INTEGER NOT NULL DEFAULT 0,
  o_fail INTEGER NOT NULL DEFAULT 0, o_temp INTEGER NOT NULL DEFAULT 0,
  o_unobs INTEGER NOT NULL DEFAULT 0,
  s_pass INTEGER NOT NULL DEFAULT 0, s_fail INTEGER NOT NULL DEFAULT 0,
  s_nopol INTEGER NOT NULL DEFAULT 0, s_fetch INTEGER NOT NULL DEFAULT 0,
  s_unobs INTEGER NOT NULL DEFAULT 0, s_unchk INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (domain, span, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shadow_domain (
  domain TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  latest TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shadow_domain_last ON shadow_domain (last_seen);
CREATE TABLE IF NOT EXISTS shadow_reason (
  domain TEXT NOT NULL, mode TEXT NOT NULL, reason TEXT NOT NULL,
  verdict TEXT NOT NULL, finding TEXT NOT NULL, host TEXT,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (domain, mode, reason)) WITHOUT ROWID;
";

/// The MTA-STS columns of `shadow_bucket`, added to a store written before MTA-STS
/// was evaluated (`ALTER TABLE ... ADD COLUMN`, zero for the old buckets).
const STS_COLUMNS: [&str; 6] = [
    "s_pass", "s_fail", "s_nopol", "s_fetch", "s_unobs", "s_unchk",
];

fn migrate(c: &Connection) -> rusqlite::Result<()> {
    let mut have = Vec::new();
    {
        let mut st = c.prepare("PRAGMA table_info(shadow_bucket)")?;
        let rows = st.query_map([], |r| r.get::<_, String>(1))?;
        for r in rows {
            have.push(r?);
        }
    }
    for col in STS_COLUMNS {
        if !have.iter().any(|h| h == col) {
            c.execute_batch(&format!(
                "ALTER TABLE shadow_bucket ADD COLUMN {col} INTEGER NOT NULL DEFAULT 0"
            ))?;
        }
    }
    Ok(())
}

fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn from_word<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

impl ShadowStore {
    /// The store of `data_dir` (opened at the first write or read); `enabled = false`
    /// records nothing.
    pub fn new(data_dir: &Path, enabled: bool) -> Self {
        ShadowStore {
            enabled,
            path: data_dir.join("shadow.sqlite"),
            conn: Mutex::new(None),
            pending: Mutex::new(Pending::default()),
            latest: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut g = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let c = Connection::open(&self.path)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
                .and_then(|_| c.execute_batch(SCHEMA))
                .and_then(|_| migrate(&c))
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            *g = Some(c);
        }
        match g.as_mut() {
            Some(c) => f(c).map_err(|e| format!("{}: {e}", self.path.display())),
            None => Err("shadow store not open".into()),
        }
    }

    /// Adds one evaluated attempt covering `messages` messages, `protected` of them
    /// delivered DANE-authenticated by the profile in force.
    pub fn add(&self, rec: &ShadowRecord, messages: u64, protected: u64, now: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut l) = self.latest.lock() {
            l.insert(rec.domain.clone(), rec.clone());
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (span, start) in [(HOUR, now - now % HOUR), (DAY, now - now % DAY)] {
            let c = p
                .buckets
                .entry((rec.domain.clone(), span, start))
                .or_default();
            c.deliveries += messages;
            c.protected += protected;
            c.mandatory.add(&rec.mandatory, messages);
            c.opportunistic.add(&rec.opportunistic, messages);
            if let Some(s) = &rec.mta_sts {
                c.mta_sts.add(s, messages);
            }
        }
        if let Some(s) = &rec.mta_sts {
            Self::sts_reason(&mut p, &rec.domain, s, messages, now);
        }
        p.domains.insert(rec.domain.clone(), (now, rec.clone()));
        for (mode, r) in [
            ("mandatory", &rec.mandatory),
            ("opportunistic", &rec.opportunistic),
        ] {
            if r.verdict.delivers() {
                continue;
            }
            let e = p
                .reasons
                .entry((rec.domain.clone(), mode, r.reason.clone()))
                .or_insert_with(|| ShadowReason {
                    mode: mode.to_string(),
                    verdict: r.verdict,
                    finding: r.finding,
                    reason: r.reason.clone(),
                    host: r.host.clone(),
                    first_seen: now,
                    last_seen: now,
                    count: 0,
                });
            e.last_seen = now;
            e.count += messages;
        }
    }

    fn sts_reason(p: &mut Pending, domain: &str, s: &StsShadow, messages: u64, now: u64) {
        if !matches!(s.verdict, StsVerdict::Fail | StsVerdict::FetchFailed) {
            return;
        }
        let e = p
            .sts_reasons
            .entry((domain.to_string(), s.reason.clone()))
            .or_insert_with(|| StsReason {
                verdict: s.verdict,
                finding: s.finding,
                reason: s.reason.clone(),
                host: s.host.clone(),
                first_seen: now,
                last_seen: now,
                count: 0,
            });
        e.last_seen = now;
        e.count += messages;
    }

    /// Adds the MTA-STS result of an attempt already added with [`Self::add`] (at
    /// `at`) whose policy lookup answered later: counts it and completes the latest
    /// record.
    pub fn add_sts(&self, domain: &str, sts: &StsShadow, messages: u64, at: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut l) = self.latest.lock()
            && let Some(r) = l.get_mut(domain)
            && r.mta_sts.is_none()
        {
            r.mta_sts = Some(sts.clone());
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (span, start) in [(HOUR, at - at % HOUR), (DAY, at - at % DAY)] {
            p.buckets
                .entry((domain.to_string(), span, start))
                .or_default()
                .mta_sts
                .add(sts, messages);
        }
        Self::sts_reason(&mut p, domain, sts, messages, at);
        let latest = self.latest.lock().ok().and_then(|l| l.get(domain).cloned());
        if let Some(rec) = latest {
            let t = p.domains.get(domain).map(|(t, _)| *t).unwrap_or(at);
            p.domains.insert(domain.to_string(), (t, rec));
        }
    }

    /// Writes pending counts in one transaction; prunes old buckets and reasons and
    /// evicts domains beyond [`MAX_DOMAINS`] (at most once an hour, or when `force`).
    pub fn flush(&self, now: u64, force_prune: bool) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let p = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let prune = {
            let mut last = self.last_prune.lock().unwrap_or_else(|e| e.into_inner());
            let due = force_prune || now >= *last + HOUR;
            if due {
                *last = now;
            }
            due
        };
        if p.buckets.is_empty() && p.domains.is_empty() && p.sts_reasons.is_empty() && !prune {
            return Ok(());
        }
        self.with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO shadow_bucket (domain, span, start, deliveries, protected,
                       m_pass, m_auth, m_fail, m_temp, m_unobs, o_pass, o_auth, o_fail, o_temp, o_unobs,
                       s_pass, s_fail, s_nopol, s_fetch, s_unobs, s_unchk)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                       ?16, ?17, ?18, ?19, ?20, ?21)
                     ON CONFLICT (domain, span, start) DO UPDATE SET
                       deliveries = deliveries + excluded.deliveries,
                       protected = protected + excluded.protected,
                       m_pass = m_pass + excluded.m_pass, m_auth = m_auth + excluded.m_auth,
                       m_fail = m_fail + excluded.m_fail, m_temp = m_temp + excluded.m_temp,
                       m_unobs = m_unobs + excluded.m_unobs,
                       o_pass = o_pass + excluded.o_pass, o_auth = o_auth + excluded.o_auth,
                       o_fail = o_fail + excluded.o_fail, o_temp = o_temp + excluded.o_temp,
                       o_unobs = o_unobs + excluded.o_unobs,
                       s_pass = s_pass + excluded.s_pass, s_fail = s_fail + excluded.s_fail,
                       s_nopol = s_nopol + excluded.s_nopol, s_fetch = s_fetch + excluded.s_fetch,
                       s_unobs = s_unobs + excluded.s_unobs, s_unchk = s_unchk + excluded.s_unchk",
                )?;
                for ((d, span, start), c) in &p.buckets {
                    let (m, o, s) = (&c.mandatory, &c.opportunistic, &c.mta_sts);
                    st.execute(params![
                        d,
                        *span as i64,
                        *start as i64,
                        c.deliveries as i64,
                        c.protected as i64,
                        m.pass as i64,
                        m.authenticated as i64,
                        m.fail as i64,
                        m.temp as i64,
                        m.not_observed as i64,
                        o.pass as i64,
                        o.authenticated as i64,
                        o.fail as i64,
                        o.temp as i64,
                        o.not_observed as i64,
                        s.pass as i64,
                        s.fail as i64,
                        s.no_policy as i64,
                        s.fetch_failed as i64,
                        s.not_observed as i64,
                        s.not_checked as i64,
                    ])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO shadow_domain (domain, first_seen, last_seen, latest)
                     VALUES (?1, ?2, ?2, ?3)
                     ON CONFLICT (domain) DO UPDATE SET last_seen = excluded.last_seen,
                       latest = excluded.latest",
                )?;
                for (d, (t, rec)) in &p.domains {
                    let json = serde_json::to_string(rec).unwrap_or_default();
                    st.execute(params![d, *t as i64, json])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT INTO shadow_reason (domain, mode, reason, verdict, finding, host,
                       first_seen, last_seen, count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (domain, mode, reason) DO UPDATE SET
                       last_seen = excluded.last_seen, count = count + excluded.count,
                       verdict = excluded.verdict, finding = excluded.finding, host = excluded.host",
                )?;
                for ((d, mode, reason), r) in &p.reasons {
                    st.execute(params![
                        d,
                        mode,
                        reason,
                        word(&r.verdict),
                        word(&r.finding),
                        r.host,
                        r.first_seen as i64,
                        r.last_seen as i64,
                        r.count as i64,
                    ])?;
                }
                for ((d, reason), r) in &p.sts_reasons {
                    st.execute(params![
                        d,
                        STS_MODE,
                        reason,
                        word(&r.verdict),
                        word(&r.finding),
                        r.host,
                        r.first_seen as i64,
                        r.last_seen as i64,
                        r.count as i64,
                    ])?;
                }
                // At most REASONS_KEPT reasons per domain and mode: the most recent.
                let mut st = tx.prepare_cached(
                    "DELETE FROM shadow_reason WHERE domain = ?1 AND mode = ?2 AND reason NOT IN
                       (SELECT reason FROM shadow_reason WHERE domain = ?1 AND mode = ?2
                        ORDER BY last_seen DESC, reason LIMIT ?3)",
                )?;
                let touched: std::collections::HashSet<(&String, &str)> = p
                    .reasons
                    .keys()
                    .map(|(d, m, _)| (d, *m))
                    .chain(p.sts_reasons.keys().map(|(d, _)| (d, STS_MODE)))
                    .collect();
                for (d, m) in touched {
                    st.execute(params![d, m, REASONS_KEPT as i64])?;
                }
            }
            if prune {
                prune_old(&tx, now)?;
            }
            tx.commit()
        })
    }

    /// Every domain seen in the last `since`, most messages first.
    pub fn report(&self, since: Duration, now: u64) -> Result<Vec<DomainShadow>, String> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        self.flush(now, false)?;
        let since = since.as_secs();
        let (span, from) = if since <= HOURLY_KEEP.as_secs() {
            let f = now.saturating_sub(since);
            (HOUR, f - f % HOUR)
        } else {
            let f = now.saturating_sub(since);
            (DAY, f - f % DAY)
        };
        let reason_from = now.saturating_sub(since);
        self.with_conn(|c| {
            let mut out: HashMap<String, DomainShadow> = HashMap::new();
            let mut st = c.prepare_cached(
                "SELECT b.domain, SUM(deliveries), SUM(protected), SUM(m_pass), SUM(m_auth),
                   SUM(m_fail), SUM(m_temp), SUM(m_unobs), SUM(o_pass), SUM(o_auth), SUM(o_fail),
                   SUM(o_temp), SUM(o_unobs), d.first_seen, d.last_seen, d.latest,
                   SUM(s_pass), SUM(s_fail), SUM(s_nopol), SUM(s_fetch), SUM(s_unobs), SUM(s_unchk)
                 FROM shadow_bucket b JOIN shadow_domain d ON d.domain = b.domain
                 WHERE b.span = ?1 AND b.start >= ?2 GROUP BY b.domain",
            )?;
            let rows = st.query_map(params![span as i64, from as i64], |r| {
                let g =
                    |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
                let latest: Option<String> = r.get(15)?;
                Ok(DomainShadow {
                    domain: r.get(0)?,
                    counts: ShadowCounts {
                        deliveries: g(1)?,
                        protected: g(2)?,
                        mandatory: ModeCounts {
                            pass: g(3)?,
                            authenticated: g(4)?,
                            fail: g(5)?,
                            temp: g(6)?,
                            not_observed: g(7)?,
                        },
                        opportunistic: ModeCounts {
                            pass: g(8)?,
                            authenticated: g(9)?,
                            fail: g(10)?,
                            temp: g(11)?,
                            not_observed: g(12)?,
                        },
                        mta_sts: StsCounts {
                            pass: g(16)?,
                            fail: g(17)?,
                            no_policy: g(18)?,
                            fetch_failed: g(19)?,
                            not_observed: g(20)?,
                            not_checked: g(21)?,
                        },
                    },
                    first_seen: g(13)?,
                    last_seen: g(14)?,
                    reasons: Vec::new(),
                    sts_reasons: Vec::new(),
                    latest: latest.and_then(|j| serde_json::from_str(&j).ok()),
                })
            })?;
            for r in rows {
                let r = r?;
                out.insert(r.domain.clone(), r);
            }
            let mut st = c.prepare_cached(
                "SELECT domain, mode, reason, verdict, finding, host, first_seen, last_seen, count
                 FROM shadow_reason WHERE last_seen >= ?1 ORDER BY last_seen DESC, reason",
            )?;
            let rows = st.query_map(params![reason_from as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            })?;
            for r in rows {
                let (d, mode, reason, verdict, finding, host, first, last, count) = r?;
                if mode == STS_MODE {
                    let (Some(verdict), Some(finding), Some(ds)) =
                        (from_word(&verdict), from_word(&finding), out.get_mut(&d))
                    else {
                        continue;
                    };
                    ds.sts_reasons.push(StsReason {
                        verdict,
                        finding,
                        reason,
                        host,
                        first_seen: first.max(0) as u64,
                        last_seen: last.max(0) as u64,
                        count: count.max(0) as u64,
                    });
                    continue;
                }
                let (Some(verdict), Some(finding)) = (from_word(&verdict), from_word(&finding))
                else {
                    continue;
                };
                if let Some(ds) = out.get_mut(&d) {
                    ds.reasons.push(ShadowReason {
                        mode,
                        verdict,
                        finding,
                        reason,
                        host,
                        first_seen: first.max(0) as u64,
                        last_seen: last.max(0) as u64,
                        count: count.max(0) as u64,
                    });
                }
            }
            let mut list: Vec<DomainShadow> = out.into_values().collect();
            list.sort_by(|a, b| {
                b.counts
                    .deliveries
                    .cmp(&a.counts.deliveries)
                    .then_with(|| a.domain.cmp(&b.domain))
            });
            Ok(list)
        })
    }

    /// The latest evaluation for `domain`: from memory, else from the store.
    pub fn latest(&self, domain: &str) -> Option<ShadowRecord> {
        if let Some(r) = self.latest.lock().ok().and_then(|l| l.get(domain).cloned()) {
            return Some(r);
        }
        if !self.enabled || !self.path.exists() {
            return None;
        }
        self.with_conn(|c| {
            c.query_row(
                "SELECT latest FROM shadow_domain WHERE domain = ?1",
                params![domain],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
        })
        .ok()
        .flatten()
        .flatten()
        .and_then(|j| serde_json::from_str(&j).ok())
    }

    #[cfg(test)]
    fn row_count(&self) -> i64 {
        self.with_conn(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM shadow_bucket) + (SELECT COUNT(*) FROM shadow_domain)
                   + (SELECT COUNT(*) FROM shadow_reason)",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or(-1)
    }
}

fn prune_old(tx: &rusqlite::Transaction<'_>, now: u64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM shadow_bucket WHERE span = ?1 AND start < ?2",
        params![
            HOUR as i64,
            now.saturating_sub(HOURLY_KEEP.as_secs()) as i64
        ],
    )?;
    tx.execute(
        "DELETE FROM shadow_bucket WHERE span = ?1 AND start < ?2",
        params![DAY as i64, now.saturating_sub(DAILY_KEEP.as_secs()) as i64],
    )?;
    tx.execute(
        "DELETE FROM shadow_reason WHERE last_seen < ?1",
        params![now.saturating_sub(DAILY_KEEP.as_secs()) as i64],
    )?;
    // Domains beyond the cap, least recently seen first, and everything about them.
    tx.execute(
        "CREATE TEMP TABLE IF NOT EXISTS shadow_evict (domain TEXT PRIMARY KEY)",
        [],
    )?;
    tx.execute("DELETE FROM shadow_evict", [])?;
    tx.execute(
        "INSERT INTO shadow_evict SELECT domain FROM shadow_domain
           ORDER BY last_seen DESC, domain LIMIT -1 OFFSET ?1",
        params![MAX_DOMAINS as i64],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO shadow_evict SELECT domain FROM shadow_domain WHERE last_seen < ?1",
        params![now.saturating_sub(DAILY_KEEP.as_secs()) as i64],
    )?;
    for t in ["shadow_bucket", "shadow_reason", "shadow_domain"] {
        tx.execute(
            &format!("DELETE FROM {t} WHERE domain IN (SELECT domain FROM shadow_evict)"),
            [],
        )?;
    }
    Ok(())
}

/// What the delivery's event stream showed about the host it tried and a failed
/// certificate check (for Delivery Status).
#[derive(Clone, Debug, Default)]
pub(crate) struct Trail {
    host_of: Vec<(std::net::IpAddr, String)>,
    last_ip: Option<std::net::IpAddr>,
    /// The last host (with address) a connection was made to.
    pub tried: Option<String>,
    /// TLS was negotiated up to the certificate, which failed the check: why.
    pub cert_failed: Option<String>,
    /// Every event of the attempt, in order (TLS-RPT classifies them).
    pub events: Vec<Event>,
    /// The delivery ran under an enforce MTA-STS policy and the policy refused it:
    /// the RFC 8460 result type and the reason (for the shadow's MTA-STS result).
    pub sts_refused: Option<(danegate_mta_sts::ResultType, String)>,
}

impl Trail {
    /// Follows one delivery event.
    pub fn observe(&mut self, e: &Event) {
        self.events.push(e.clone());
        match e {
            Event::AddrFound { ip, host, .. } => self.host_of.push((*ip, host.clone())),
            Event::Connecting { ip, .. } => {
                self.last_ip = Some(*ip);
                self.cert_failed = None;
                let host = self
                    .host_of
                    .iter()
                    .rev()
                    .find(|(i, _)| i == ip)
                    .map(|(_, h)| h.clone());
                self.tried = Some(match host {
                    Some(h) => format!("{h} [{ip}]"),
                    None => format!("[{ip}]"),
                });
            }
            Event::CertFailed { reason } => self.cert_failed = Some(reason.clone()),
            _ => {}
        }
    }

    /// The delivery's DANE check rejected the certificate of the last address it
    /// connected to: that observation.
    pub fn dane_rejection(&self, dns: &ShadowDns) -> Option<Observation> {
        let (ip, why) = (self.last_ip?, self.cert_failed.clone()?);
        Some(Observation {
            host: dns.host_of(ip)?.to_string(),
            ip,
            tls: danegate_delivery::shadow::TlsSeen::DaneRejected(why),
        })
    }

    /// Names the address of an open session with its host name.
    pub fn name_session(&mut self, s: &Session) {
        let ip = s.addr.ip();
        self.tried = Some(format!("{} [{ip}]", s.host));
        self.last_ip = Some(ip);
    }

    /// Names the address tried with the host names of a shadow lookup (the TLS Support
    /// path's events carry only addresses).
    pub fn name_from(&mut self, dns: &ShadowDns) {
        if let (Some(ip), Some(t)) = (self.last_ip, self.tried.as_mut())
            && t.starts_with('[')
            && let Some(h) = dns.host_of(ip)
        {
            *t = format!("{h} [{ip}]");
        }
    }
}

/// The DNS lookups of the shadow evaluation for a destination (`None` when shadow
/// evaluation is off, or an SMTP route to fixed hosts applies: DANE does not apply there).
pub(crate) async fn lookup(
    shared: &Shared,
    domain: &str,
    routed: bool,
    ip_preference: danegate_delivery::IpPreference,
) -> Option<ShadowDns> {
    if !shared.shadow.enabled() || routed {
        return None;
    }
    let resolver = shared.resolver();
    Some(
        danegate_delivery::shadow::lookup(&resolver, domain, shared.opts.smtp_port, ip_preference)
            .await,
    )
}

/// Evaluates and records one attempt covering `messages` messages: `session` is the
/// delivery's session, if it got one; else, on the DANE path (`dane_path`), a
/// certificate its own DANE check rejected is still an observation. The MTA-STS part
/// ([`crate::shadow_sts`]) is decided now when the domain's policy is known, else
/// recorded when the background lookup answers.
pub(crate) fn record(
    shared: &std::sync::Arc<Shared>,
    dns: &ShadowDns,
    session: Option<&Session>,
    trail: &Trail,
    dane_path: bool,
    messages: usize,
) -> ShadowRecord {
    let obs = match session {
        Some(s) => Some(Observation::from_session(s)),
        None if dane_path => trail.dane_rejection(dns),
        None => None,
    };
    let mut rec = shadow_record(
        dns,
        obs.as_ref(),
        InsecureMx::Appliance,
        rustls_pki_types::UnixTime::now(),
    );
    let protected = session
        .filter(|s| s.dane == Some(danegate_delivery::Action::DaneSuccess))
        .map(|_| messages as u64)
        .unwrap_or(0);
    let now = unix(SystemTime::now());
    let seen = crate::shadow_sts::Seen::new(session, trail.sts_refused.clone());
    let n = messages as u64;
    let domain = dns.domain().to_string();
    rec.mta_sts =
        crate::shadow_sts::evaluate_attempt(shared, dns.domain(), seen, move |sh, sts| {
            tracing::debug!(target: "danegate::mail", "shadow {domain}: MTA-STS enforce {} ({})",
            sts.verdict.words(), sts.reason);
            sh.shadow.add_sts(&domain, &sts, n, now);
        });
    shared.shadow.add(&rec, n, protected, now);
    tracing::debug!(target: "danegate::dane", "shadow {}: Mandatory {} ({}), Opportunistic {} ({}), MTA-STS enforce {}",
        rec.domain, rec.mandatory.verdict.words(), rec.mandatory.reason,
        rec.opportunistic.verdict.words(), rec.opportunistic.reason,
        rec.mta_sts.as_ref().map(|s| format!("{} ({})", s.verdict.words(), s.reason))
            .unwrap_or_else(|| "pending".into()));
    rec
}

/// Writes pending counts every [`FLUSH_EVERY`] until `stop`, then once more.
pub(crate) async fn flusher(
    shared: std::sync::Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if !shared.shadow.enabled() {
        return;
    }
    loop {
        let stopped = tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let sh = shared.clone();
        let r =
            tokio::task::spawn_blocking(move || sh.shadow.flush(unix(SystemTime::now()), false))
                .await;
        if let Ok(Err(e)) = r {
            tracing::error!(target: "danegate::mail", "shadow store: {e}");
        }
        if stopped {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use danegate_delivery::shadow::Finding;

    fn mode(verdict: ShadowVerdict, reason: &str) -> ModeResult {
        ModeResult {
            verdict,
            row: String::new(),
            line: 0,
            finding: if verdict.delivers() {
                Finding::Authenticated
            } else {
                Finding::NoTlsa
            },
            reason: reason.into(),
            host: Some("mx.d.test".into()),
        }
    }

    fn rec(domain: &str, m: ShadowVerdict, o: ShadowVerdict, why: &str) -> ShadowRecord {
        ShadowRecord {
            domain: domain.into(),
            host: Some("mx.d.test".into()),
            tls: "negotiated".into(),
            mandatory: mode(m, why),
            opportunistic: mode(o, why),
            mta_sts: None,
        }
    }

    #[test]
    fn counts_survive_a_reopen_and_windows_select_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000u64;
        {
            let s = ShadowStore::new(dir.path(), true);
            s.add(
                &rec(
                    "a.test",
                    ShadowVerdict::DaneSuccess,
                    ShadowVerdict::DaneSuccess,
                    "",
                ),
                3,
                0,
                now,
            );
            s.add(
                &rec(
                    "b.test",
                    ShadowVerdict::DaneFailed,
                    ShadowVerdict::Fallback,
                    "no TLSA",
                ),
                1,
                0,
                now - 3 * DAY,
            );
            s.flush(now, false).unwrap();
        }
        let s = ShadowStore::new(dir.path(), true);
        let week = s.report(Duration::from_secs(7 * DAY), now).unwrap();
        assert_eq!(week.len(), 2);
        assert_eq!(week[0].domain, "a.test");
        assert_eq!(week[0].counts.deliveries, 3);
        assert_eq!(week[0].counts.mandatory.authenticated, 3);
        assert_eq!(week[1].counts.mandatory.fail, 1);
        assert_eq!(week[1].counts.opportunistic.pass, 1);
        assert_eq!(week[1].reasons.len(), 1, "the fallback is no failure");
        assert_eq!(week[1].reasons[0].mode, "mandatory");
        assert_eq!(week[1].reasons[0].reason, "no TLSA");
        let day = s.report(Duration::from_secs(DAY), now).unwrap();
        assert_eq!(day.len(), 1, "{day:?}");
        assert_eq!(
            s.latest("a.test").unwrap().mandatory.verdict,
            ShadowVerdict::DaneSuccess
        );
    }

    #[test]
    fn size_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShadowStore::new(dir.path(), true);
        let start = 1_800_000_000u64;
        // 40 days of hourly attempts to one domain, each with a new failure reason.
        for h in 0..(40 * 24u64) {
            let now = start + h * HOUR;
            let mut r = rec(
                "a.test",
                ShadowVerdict::DaneFailed,
                ShadowVerdict::DaneFailed,
                &format!("why {h}"),
            );
            r.mta_sts = Some(sts(
                StsVerdict::Fail,
                StsFinding::CertificateExpired,
                &format!("sts why {h}"),
            ));
            s.add(&r, 1, 0, now);
            s.flush(now, h % 24 == 0).unwrap();
        }
        let end = start + 40 * 24 * HOUR;
        s.flush(end, true).unwrap();
        let rows = s.row_count();
        assert!(rows <= 48 + 33 + 3 * REASONS_KEPT as i64 + 1, "{rows} rows");
        let r = s.report(Duration::from_secs(30 * DAY), end).unwrap();
        assert_eq!(r[0].reasons.len(), 2 * REASONS_KEPT);
        assert_eq!(r[0].sts_reasons.len(), REASONS_KEPT);
    }

    fn sts(verdict: StsVerdict, finding: StsFinding, why: &str) -> StsShadow {
        StsShadow {
            verdict,
            finding,
            reason: why.into(),
            host: Some("mx2.d.test".into()),
            policy_id: Some("1".into()),
            policy_mode: Some("enforce".into()),
            result_type: None,
        }
    }

    #[test]
    fn sts_results_are_counted_with_their_reasons_and_late_results_complete_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000u64;
        let s = ShadowStore::new(dir.path(), true);
        let mut r = rec(
            "a.test",
            ShadowVerdict::DaneSuccess,
            ShadowVerdict::DaneSuccess,
            "",
        );
        r.mta_sts = Some(sts(StsVerdict::Pass, StsFinding::Valid, "ok"));
        s.add(&r, 2, 0, now);
        r.mta_sts = Some(sts(
            StsVerdict::Fail,
            StsFinding::MxMismatch,
            "mx2.d.test does not match the policy (mx: mx1.d.test)",
        ));
        s.add(&r, 1, 0, now + 1);
        // An attempt whose policy lookup answers after the record.
        r.mta_sts = None;
        s.add(&r, 1, 0, now + 2);
        assert!(s.latest("a.test").unwrap().mta_sts.is_none());
        s.add_sts(
            "a.test",
            &sts(StsVerdict::NoPolicy, StsFinding::NoPolicy, "none"),
            1,
            now + 2,
        );
        assert_eq!(
            s.latest("a.test").unwrap().mta_sts.unwrap().verdict,
            StsVerdict::NoPolicy
        );
        s.flush(now + 3, false).unwrap();
        let s = ShadowStore::new(dir.path(), true);
        let d = s.report(Duration::from_secs(DAY), now + 3).unwrap();
        let c = d[0].counts.mta_sts;
        assert_eq!((c.pass, c.fail, c.no_policy), (2, 1, 1), "{c:?}");
        assert_eq!(d[0].counts.deliveries, 4);
        assert_eq!(d[0].sts_reasons.len(), 1);
        assert_eq!(d[0].sts_reasons[0].finding, StsFinding::MxMismatch);
        assert!(d[0].reasons.is_empty(), "no DANE failure");
        assert_eq!(
            d[0].latest
                .as_ref()
                .unwrap()
                .mta_sts
                .as_ref()
                .unwrap()
                .verdict,
            StsVerdict::NoPolicy
        );
    }

    #[test]
    fn a_store_from_before_mta_sts_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000u64;
        {
            // The schema as it was, with one bucket.
            let c = Connection::open(dir.path().join("shadow.sqlite")).unwrap();
            c.execute_batch(
                "CREATE TABLE shadow_bucket (
                  domain TEXT NOT NULL, span INTEGER NOT NULL, start INTEGER NOT NULL,
                  deliveries INTEGER NOT NULL DEFAULT 0, protected INTEGER NOT NULL DEFAULT 0,
                  m_pass INTEGER NOT NULL DEFAULT 0, m_auth INTEGER NOT NULL DEFAULT 0,
                  m_fail INTEGER NOT NULL DEFAULT 0, m_temp INTEGER NOT NULL DEFAULT 0,
                  m_unobs INTEGER NOT NULL DEFAULT 0,
                  o_pass INTEGER NOT NULL DEFAULT 0, o_auth INTEGER NOT NULL DEFAULT 0,
                  o_fail INTEGER NOT NULL DEFAULT 0, o_temp INTEGER NOT NULL DEFAULT 0,
                  o_unobs INTEGER NOT NULL DEFAULT 0,
                  PRIMARY KEY (domain, span, start)) WITHOUT ROWID;
                CREATE TABLE shadow_domain (
                  domain TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                  latest TEXT) WITHOUT ROWID;",
            )
            .unwrap();
            c.execute(
                "INSERT INTO shadow_bucket (domain, span, start, deliveries, m_pass) VALUES ('old.test', ?1, ?2, 5, 5)",
                params![HOUR as i64, (now - now % HOUR) as i64],
            )
            .unwrap();
            c.execute(
                "INSERT INTO shadow_domain VALUES ('old.test', ?1, ?1, NULL)",
                params![now as i64],
            )
            .unwrap();
        }
        let s = ShadowStore::new(dir.path(), true);
        let mut r = rec(
            "old.test",
            ShadowVerdict::DaneSuccess,
            ShadowVerdict::DaneSuccess,
            "",
        );
        r.mta_sts = Some(sts(StsVerdict::Pass, StsFinding::Valid, "ok"));
        s.add(&r, 1, 0, now);
        let d = s.report(Duration::from_secs(DAY), now).unwrap();
        assert_eq!(d[0].counts.deliveries, 6);
        assert_eq!(d[0].counts.mandatory.pass, 6);
        assert_eq!(d[0].counts.mta_sts.pass, 1);
        // Opening it again finds the columns in place.
        drop(s);
        let s = ShadowStore::new(dir.path(), true);
        assert_eq!(s.report(Duration::from_secs(DAY), now).unwrap().len(), 1);
    }

    #[test]
    fn disabled_store_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = ShadowStore::new(dir.path(), false);
        s.add(
            &rec(
                "a.test",
                ShadowVerdict::DaneSuccess,
                ShadowVerdict::DaneSuccess,
                "",
            ),
            1,
            0,
            1_800_000_000,
        );
        s.flush(1_800_000_000, true).unwrap();
        assert!(!dir.path().join("shadow.sqlite").exists());
    }
}

/// The destination domains with deliveries evaluated in the last `since` before `now`
/// (Unix seconds), most deliveries first (then by name), each with its count — read
/// from `<data_dir>/shadow.sqlite` without opening it for writing, so it works beside
/// a running gateway (counts not yet flushed, at most [`FLUSH_EVERY`] old, are not
/// seen). The window is bucketed as [`ShadowStore::report`] does it. An error names the
/// file: no store (the gateway never ran with shadow evaluation there), or unreadable.
pub fn history_domains(
    data_dir: &Path,
    since: Duration,
    now: u64,
) -> Result<Vec<(String, u64)>, String> {
    let path = data_dir.join("shadow.sqlite");
    if !path.is_file() {
        return Err(format!(
            "{}: no shadow evaluation store (no gateway with shadow evaluation ran with this data directory)",
            path.display()
        ));
    }
    let since = since.as_secs();
    let f = now.saturating_sub(since);
    let (span, from) = if since <= HOURLY_KEEP.as_secs() {
        (HOUR, f - f % HOUR)
    } else {
        (DAY, f - f % DAY)
    };
    let read = || -> rusqlite::Result<Vec<(String, u64)>> {
        let c = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        c.busy_timeout(Duration::from_secs(5))?;
        let mut st = c.prepare(
            "SELECT domain, SUM(deliveries) AS n FROM shadow_bucket
             WHERE span = ?1 AND start >= ?2 GROUP BY domain HAVING n > 0
             ORDER BY n DESC, domain",
        )?;
        let rows = st.query_map(params![span as i64, from as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        rows.collect()
    };
    read().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod history_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A record as the store persists it (its JSON form, so fields added later with a
    /// default do not touch this test).
    fn rec(domain: &str) -> ShadowRecord {
        let mode = serde_json::json!({
            "verdict": "dane-success", "row": "", "line": 0,
            "finding": "authenticated", "reason": "", "host": null
        });
        serde_json::from_value(serde_json::json!({
            "domain": domain, "host": null, "tls": "negotiated",
            "mandatory": mode, "opportunistic": mode
        }))
        .unwrap()
    }

    #[test]
    fn domains_in_the_window_by_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            history_domains(dir.path(), Duration::from_secs(DAY), 1_800_000_000)
                .unwrap_err()
                .contains("no shadow evaluation store")
        );
        let s = ShadowStore::new(dir.path(), true);
        let now = 1_800_000_000;
        // old.test: 40 days ago (outside every window); few.test once, many.test 3 times.
        s.add(&rec("old.test"), 1, 0, now - 40 * DAY);
        s.flush(now - 40 * DAY, false).unwrap();
        s.add(&rec("few.test"), 1, 0, now - 3 * DAY);
        for _ in 0..3 {
            s.add(&rec("many.test"), 1, 0, now - 60);
        }
        s.flush(now, false).unwrap();
        let month = history_domains(dir.path(), Duration::from_secs(30 * DAY), now).unwrap();
        assert_eq!(
            month,
            [("many.test".to_string(), 3), ("few.test".to_string(), 1)]
        );
        let day = history_domains(dir.path(), Duration::from_secs(DAY), now).unwrap();
        assert_eq!(day, [("many.test".to_string(), 3)]);
    }
}
