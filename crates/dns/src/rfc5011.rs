//! RFC 5011 automated updates of DNSSEC trust anchors, with the state kept in a file.
//!
//! Per anchored zone and per key (key tag, algorithm, public key) the state is one of
//! Start, AddPend, Valid, Missing or Revoked (RFC 5011 §4). The state only moves on a
//! DNSKEY RRset that was validated with the keys trusted at that moment (RFC 5011 §2.1):
//!
//! - a new SEP key (flags 257) enters AddPend with a hold-down of 30 days (§2.4.1) and
//!   becomes Valid when it is still present after the hold-down;
//! - a pending key that disappears goes back to Start (forgotten; it starts over when it
//!   comes back);
//! - a Valid key that disappears becomes Missing and is still trusted; it is Valid again
//!   when it comes back;
//! - a key with the REVOKE bit (0x0080) that self-signs the DNSKEY RRset becomes Revoked
//!   and is never trusted again, even if a configured anchor names it (§2.1). Revoked keys
//!   are remembered for good: the "remove hold-down" of §2.4.2 is simplified to "never
//!   remove" (the entries are a few bytes each).
//!
//! Keys that match a configured anchor are recorded as Valid with `configured: true`:
//! they are trusted because of the configuration, not because of this state, so they
//! stop being trusted when the configuration drops them. Keys learned here (AddPend →
//! Valid) are trusted while Valid or Missing.
//!
//! The state is saved as JSON in `<state_dir>/trust-anchors.json`, atomically (temporary
//! file, fsync, rename), after every change. A file that cannot be read is reported and
//! set aside (renamed to `trust-anchors.json.corrupt`); the configured anchors still apply.

use std::{
    collections::BTreeMap,
    fmt,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use data_encoding::BASE64;
use serde::{Deserialize, Serialize};

/// RFC 5011 §2.4.1: the add hold-down time (30 days).
pub const ADD_HOLD_DOWN: u64 = 30 * 86_400;
/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "trust-anchors.json";
/// The REVOKE bit of the DNSKEY flags (RFC 5011 §7).
pub const REVOKE_FLAG: u16 = 0x0080;

/// The time source of the state machine (seconds since the Unix epoch). Injectable for
/// tests, e.g. to simulate the passing of the hold-down.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        }))
    }

    /// A clock from a function.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f))
    }

    /// The current time.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// RFC 5011 §4 key states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Not (or no longer) tracked.
    Start,
    /// Seen, waiting for the add hold-down to pass.
    AddPend,
    /// Trusted.
    Valid,
    /// Trusted, but no longer in the zone's DNSKEY RRset.
    Missing,
    /// Revoked by its owner: never trusted again.
    Revoked,
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyState::Start => "Start",
            KeyState::AddPend => "AddPend",
            KeyState::Valid => "Valid",
            KeyState::Missing => "Missing",
            KeyState::Revoked => "Revoked",
        })
    }
}

/// One tracked key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedKey {
    /// Key tag (of the key without the REVOKE bit).
    pub tag: u16,
    /// DNSSEC algorithm number.
    pub algorithm: u8,
    /// Public key, base64.
    pub public_key: String,
    /// Current state.
    pub state: KeyState,
    /// When it entered the current state (Unix seconds).
    pub since: u64,
    /// When it was first seen (Unix seconds).
    pub first_seen: u64,
    /// End of the add hold-down (AddPend only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_down_until: Option<u64>,
    /// First seen as a configured anchor (trusted by configuration, not by this state).
    #[serde(default)]
    pub configured: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ZoneRecord {
    /// Last validated DNSKEY RRset (Unix seconds).
    #[serde(default)]
    last_check: Option<u64>,
    keys: Vec<TrackedKey>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    zones: BTreeMap<String, ZoneRecord>,
}

/// A key of a validated DNSKEY RRset, as the state machine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenKey {
    /// Key tag of the key without the REVOKE bit.
    pub tag: u16,
    /// Algorithm number.
    pub algorithm: u8,
    /// Public key bytes.
    pub public_key: Vec<u8>,
    /// Zone key with the SEP bit (flags 257 or 385).
    pub sep: bool,
    /// The REVOKE bit is set.
    pub revoked: bool,
    /// An RRSIG by this key over the DNSKEY RRset verifies (needed for a revocation).
    pub self_signed: bool,
    /// The key matches a configured trust anchor.
    pub configured: bool,
}

/// One state transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Key tag.
    pub tag: u16,
    /// Algorithm.
    pub algorithm: u8,
    /// Previous state.
    pub from: KeyState,
    /// New state.
    pub to: KeyState,
}

/// A tracked key for display (admin views).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorStateView {
    /// The anchored zone.
    pub zone: String,
    /// Key tag.
    pub key_tag: u16,
    /// Algorithm number.
    pub algorithm: u8,
    /// RFC 5011 state.
    pub state: KeyState,
    /// In this state since (Unix seconds).
    pub since: u64,
    /// End of the add hold-down (AddPend only).
    pub hold_down_until: Option<u64>,
    /// Trusted by configuration (a configured anchor).
    pub configured: bool,
    /// Last validated DNSKEY RRset of the zone (Unix seconds).
    pub last_check: Option<u64>,
}

/// A Unix time as `YYYY-MM-DD` (UTC), for display.
pub fn fmt_date(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|s| danegate_timefmt::utc(s, danegate_timefmt::Layout::Date))
        .unwrap_or_else(|| t.to_string())
}

impl AnchorStateView {
    /// The state in words: `Valid since 2026-01-02`, `AddPend until 2026-02-01`, ...
    pub fn describe(&self) -> String {
        match (self.state, self.hold_down_until) {
            (KeyState::AddPend, Some(until)) => format!(
                "AddPend since {} (hold-down until {})",
                fmt_date(self.since),
                fmt_date(until)
            ),
            (state, _) => format!("{state} since {}", fmt_date(self.since)),
        }
    }
}

/// A state file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("RFC 5011 state file {path}: {err}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// The file is not a state file.
    #[error("RFC 5011 state file {path} is corrupt ({msg}); ignoring it")]
    Corrupt {
        /// The file.
        path: String,
        /// What was wrong.
        msg: String,
    },
}

/// The RFC 5011 state of every anchored zone.
#[derive(Clone, Debug)]
pub struct Rfc5011State {
    zones: BTreeMap<String, ZoneRecord>,
    path: Option<PathBuf>,
    clock: Clock,
}

impl Default for Rfc5011State {
    fn default() -> Self {
        Self::new()
    }
}

impl Rfc5011State {
    /// An empty state kept in memory only, on the system clock.
    pub fn new() -> Self {
        Rfc5011State {
            zones: BTreeMap::new(),
            path: None,
            clock: Clock::system(),
        }
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time on this state's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The state file of `dir`.
    pub fn file_in(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Loads `<dir>/trust-anchors.json`; a missing file is an empty state. On a corrupt
    /// file the error says so, and the file is renamed to `trust-anchors.json.corrupt`; the
    /// caller goes on with [`Rfc5011State::empty_in`].
    pub fn load(dir: &Path) -> Result<Self, StateError> {
        let path = Self::file_in(dir);
        let mut state = Self::empty_in(dir);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(err) => {
                return Err(StateError::Io {
                    path: path.display().to_string(),
                    err,
                });
            }
        };
        match serde_json::from_slice::<StateFile>(&text) {
            Ok(f) if f.version == 1 => {
                state.zones = f.zones;
                Ok(state)
            }
            other => {
                let msg = match other {
                    Ok(f) => format!("unknown version {}", f.version),
                    Err(e) => e.to_string(),
                };
                let aside = path.with_extension("json.corrupt");
                let _ = std::fs::rename(&path, &aside);
                Err(StateError::Corrupt {
                    path: path.display().to_string(),
                    msg,
                })
            }
        }
    }

    /// An empty state saved to `<dir>/trust-anchors.json`.
    pub fn empty_in(dir: &Path) -> Self {
        Rfc5011State {
            path: Some(Self::file_in(dir)),
            ..Self::new()
        }
    }

    /// Writes the state file atomically (temporary file, fsync, rename). No-op for a
    /// state without a directory.
    pub fn save(&self) -> Result<(), StateError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let io = |err| StateError::Io {
            path: path.display().to_string(),
            err,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = StateFile {
            version: 1,
            zones: self.zones.clone(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let tmp = path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The transition function (RFC 5011 §4) for one validated DNSKEY RRset of `zone`
    /// observed at `now`. Returns what changed (the last-check time is always updated).
    pub fn observe(&mut self, now: u64, zone: &str, seen: &[SeenKey]) -> Vec<Change> {
        let rec = self.zones.entry(zone.to_ascii_lowercase()).or_default();
        rec.last_check = Some(now);
        let mut changes = Vec::new();
        let set = |k: &mut TrackedKey, to: KeyState, changes: &mut Vec<Change>| {
            if k.state != to {
                changes.push(Change {
                    tag: k.tag,
                    algorithm: k.algorithm,
                    from: k.state,
                    to,
                });
                k.state = to;
                k.since = now;
            }
            if to != KeyState::AddPend {
                k.hold_down_until = None;
            }
        };
        for s in seen.iter().filter(|s| s.sep) {
            let b64 = BASE64.encode(&s.public_key);
            let idx = rec
                .keys
                .iter()
                .position(|k| k.algorithm == s.algorithm && k.public_key == b64);
            if s.revoked {
                // §2.1: only a self-signed revocation counts.
                if !s.self_signed {
                    continue;
                }
                match idx {
                    Some(i) => {
                        if let Some(k) = rec.keys.get_mut(i) {
                            set(k, KeyState::Revoked, &mut changes);
                        }
                    }
                    None => {
                        rec.keys.push(TrackedKey {
                            tag: s.tag,
                            algorithm: s.algorithm,
                            public_key: b64,
                            state: KeyState::Revoked,
                            since: now,
                            first_seen: now,
                            hold_down_until: None,
                            configured: s.configured,
                        });
                        changes.push(Change {
                            tag: s.tag,
                            algorithm: s.algorithm,
                            from: KeyState::Start,
                            to: KeyState::Revoked,
                        });
                    }
                }
                continue;
            }
            let Some(i) = idx else {
                let (state, hold) = if s.configured {
                    (KeyState::Valid, None)
                } else {
                    (KeyState::AddPend, Some(now + ADD_HOLD_DOWN))
                };
                rec.keys.push(TrackedKey {
                    tag: s.tag,
                    algorithm: s.algorithm,
                    public_key: b64,
                    state,
                    since: now,
                    first_seen: now,
                    hold_down_until: hold,
                    configured: s.configured,
                });
                changes.push(Change {
                    tag: s.tag,
                    algorithm: s.algorithm,
                    from: KeyState::Start,
                    to: state,
                });
                continue;
            };
            let Some(k) = rec.keys.get_mut(i) else {
                continue;
            };
            match k.state {
                KeyState::Start if s.configured => set(k, KeyState::Valid, &mut changes),
                KeyState::Start => {
                    set(k, KeyState::AddPend, &mut changes);
                    k.first_seen = now;
                    k.hold_down_until = Some(now + ADD_HOLD_DOWN);
                }
                KeyState::AddPend if s.configured => set(k, KeyState::Valid, &mut changes),
                KeyState::AddPend => {
                    if k.hold_down_until.is_none_or(|until| now >= until) {
                        set(k, KeyState::Valid, &mut changes);
                    }
                }
                KeyState::Missing => set(k, KeyState::Valid, &mut changes),
                KeyState::Valid | KeyState::Revoked => {}
            }
        }
        for k in rec.keys.iter_mut() {
            let present = seen.iter().any(|s| {
                s.sep && s.algorithm == k.algorithm && BASE64.encode(&s.public_key) == k.public_key
            });
            if present {
                continue;
            }
            match k.state {
                KeyState::AddPend => set(k, KeyState::Start, &mut changes),
                KeyState::Valid => set(k, KeyState::Missing, &mut changes),
                KeyState::Start | KeyState::Missing | KeyState::Revoked => {}
            }
        }
        changes
    }

    /// Keys of `zone` trusted because of this state: learned (not configured) keys in
    /// Valid or Missing, as (algorithm, public key).
    pub fn trusted(&self, zone: &str) -> Vec<(u8, Vec<u8>)> {
        self.keys(zone)
            .filter(|k| !k.configured && matches!(k.state, KeyState::Valid | KeyState::Missing))
            .filter_map(|k| Some((k.algorithm, BASE64.decode(k.public_key.as_bytes()).ok()?)))
            .collect()
    }

    /// Keys of `zone` that are Revoked, as (algorithm, public key): never trusted.
    pub fn revoked(&self, zone: &str) -> Vec<(u8, Vec<u8>)> {
        self.keys(zone)
            .filter(|k| k.state == KeyState::Revoked)
            .filter_map(|k| Some((k.algorithm, BASE64.decode(k.public_key.as_bytes()).ok()?)))
            .collect()
    }

    /// The state of a key of `zone`, if it is tracked.
    pub fn state_of(&self, zone: &str, algorithm: u8, public_key: &[u8]) -> Option<KeyState> {
        let b64 = BASE64.encode(public_key);
        self.keys(zone)
            .find(|k| k.algorithm == algorithm && k.public_key == b64)
            .map(|k| k.state)
    }

    fn keys<'a>(&'a self, zone: &str) -> impl Iterator<Item = &'a TrackedKey> + 'a {
        self.zones
            .get(&zone.to_ascii_lowercase())
            .into_iter()
            .flat_map(|r| r.keys.iter())
    }

    /// Every tracked key, for display (Start entries left out).
    pub fn view(&self) -> Vec<AnchorStateView> {
        self.zones
            .iter()
            .flat_map(|(zone, rec)| {
                rec.keys
                    .iter()
                    .filter(|k| k.state != KeyState::Start)
                    .map(move |k| AnchorStateView {
                        zone: zone.clone(),
                        key_tag: k.tag,
                        algorithm: k.algorithm,
                        state: k.state,
                        since: k.since,
                        hold_down_until: k.hold_down_until,
                        configured: k.configured,
                        last_check: rec.last_check,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn key(n: u8, sep: bool) -> SeenKey {
        SeenKey {
            tag: u16::from(n),
            algorithm: 13,
            public_key: vec![n; 64],
            sep,
            revoked: false,
            self_signed: true,
            configured: false,
        }
    }

    fn configured(n: u8) -> SeenKey {
        SeenKey {
            configured: true,
            ..key(n, true)
        }
    }

    fn revoked(n: u8) -> SeenKey {
        SeenKey {
            revoked: true,
            ..key(n, true)
        }
    }

    fn st(s: &Rfc5011State, n: u8) -> Option<KeyState> {
        s.state_of(".", 13, &[n; 64])
    }

    #[test]
    fn new_key_add_pend_then_valid_after_hold_down() {
        let mut s = Rfc5011State::new();
        let t0 = 1_700_000_000;
        let c = s.observe(t0, ".", &[configured(1), key(2, true), key(3, false)]);
        assert_eq!(st(&s, 1), Some(KeyState::Valid));
        assert_eq!(st(&s, 2), Some(KeyState::AddPend));
        assert_eq!(st(&s, 3), None, "ZSKs are not tracked");
        assert_eq!(c.len(), 2);
        assert!(s.trusted(".").is_empty(), "configured and pending keys");
        // Hold-down not passed.
        let c = s.observe(t0 + 29 * DAY, ".", &[configured(1), key(2, true)]);
        assert!(c.is_empty());
        assert_eq!(st(&s, 2), Some(KeyState::AddPend));
        assert_eq!(s.view()[1].hold_down_until, Some(t0 + ADD_HOLD_DOWN));
        // Passed.
        let c = s.observe(t0 + 30 * DAY, ".", &[configured(1), key(2, true)]);
        assert_eq!(
            c,
            vec![Change {
                tag: 2,
                algorithm: 13,
                from: KeyState::AddPend,
                to: KeyState::Valid
            }]
        );
        assert_eq!(s.trusted("."), vec![(13, vec![2; 64])]);
    }

    #[test]
    fn key_disappearing_before_valid_starts_over() {
        let mut s = Rfc5011State::new();
        s.observe(0, ".", &[configured(1), key(2, true)]);
        let c = s.observe(10 * DAY, ".", &[configured(1)]);
        assert_eq!(c[0].to, KeyState::Start);
        assert_eq!(st(&s, 2), Some(KeyState::Start));
        // Back after the original hold-down would have ended: a new hold-down.
        s.observe(31 * DAY, ".", &[configured(1), key(2, true)]);
        assert_eq!(st(&s, 2), Some(KeyState::AddPend));
        s.observe(60 * DAY, ".", &[configured(1), key(2, true)]);
        assert_eq!(st(&s, 2), Some(KeyState::AddPend));
        s.observe(61 * DAY, ".", &[configured(1), key(2, true)]);
        assert_eq!(st(&s, 2), Some(KeyState::Valid));
    }

    #[test]
    fn valid_key_missing_is_still_trusted() {
        let mut s = Rfc5011State::new();
        s.observe(0, ".", &[configured(1), key(2, true)]);
        s.observe(30 * DAY, ".", &[configured(1), key(2, true)]);
        let c = s.observe(31 * DAY, ".", &[configured(1)]);
        assert_eq!(c[0].to, KeyState::Missing);
        assert_eq!(s.trusted("."), vec![(13, vec![2; 64])]);
        s.observe(32 * DAY, ".", &[key(2, true)]);
        assert_eq!(st(&s, 2), Some(KeyState::Valid));
        assert_eq!(st(&s, 1), Some(KeyState::Missing));
    }

    #[test]
    fn revoked_key_is_no_longer_trusted() {
        let mut s = Rfc5011State::new();
        s.observe(0, ".", &[configured(1), key(2, true)]);
        s.observe(30 * DAY, ".", &[configured(1), key(2, true)]);
        // A revocation that is not self-signed does not count (§2.1).
        let not_self = SeenKey {
            self_signed: false,
            ..revoked(2)
        };
        s.observe(31 * DAY, ".", &[configured(1), not_self]);
        assert_ne!(st(&s, 2), Some(KeyState::Revoked));
        let c = s.observe(32 * DAY, ".", &[configured(1), revoked(2)]);
        assert!(c.iter().any(|c| c.to == KeyState::Revoked), "{c:?}");
        assert_eq!(st(&s, 2), Some(KeyState::Revoked));
        assert!(s.trusted(".").is_empty());
        assert_eq!(s.revoked("."), vec![(13, vec![2; 64])]);
        // Published again without the bit: still revoked.
        s.observe(33 * DAY, ".", &[configured(1), key(2, true)]);
        assert_eq!(st(&s, 2), Some(KeyState::Revoked));
        // A revoked configured anchor.
        s.observe(34 * DAY, ".", &[revoked(1), key(2, true)]);
        assert_eq!(st(&s, 1), Some(KeyState::Revoked));
        assert_eq!(s.revoked(".").len(), 2);
    }

    #[test]
    fn persistence_round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Rfc5011State::empty_in(dir.path());
        s.observe(5, ".", &[configured(1), key(2, true)]);
        s.save().unwrap();
        let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        assert!(text.contains("addpend"), "{text}");
        let l = Rfc5011State::load(dir.path()).unwrap();
        assert_eq!(st(&l, 2), Some(KeyState::AddPend));
        assert_eq!(l.view(), s.view());

        std::fs::write(dir.path().join(STATE_FILE), "{ not json").unwrap();
        let e = Rfc5011State::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is corrupt"), "{e}");
        assert!(dir.path().join("trust-anchors.json.corrupt").exists());
        let l = Rfc5011State::load(dir.path()).unwrap();
        assert!(l.view().is_empty());
    }
}
