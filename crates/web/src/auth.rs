//! Authentication: the administrator password (an argon2 PHC string in a file), browser
//! sessions with a CSRF token each, the login rate limit, and API bearer tokens (their
//! SHA-256 digests in a file).
//!
//! There is no default password: while the password file is missing, the web UI only
//! shows how to set one (`danegate web-passwd`).

use std::{
    collections::HashMap,
    fs,
    io::{self, Write},
    net::IpAddr,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq as _;

/// The shortest accepted administrator password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The prefix of every API token (so a leaked one is recognisable in logs and scanners).
pub const TOKEN_PREFIX: &str = "dgw_";

/// `n` bytes from the operating system's CSPRNG.
fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| io::Error::other("the system random number generator failed"))?;
    Ok(b)
}

fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

/// A random 256-bit identifier, hex-encoded (session ids and CSRF tokens).
pub fn random_id() -> io::Result<String> {
    Ok(hex(&random_bytes::<32>()?))
}

/// Hashes `password` with argon2id (default parameters) and a random salt: a PHC string.
pub fn hash_password(password: &str) -> io::Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (false for a malformed one).
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc.trim()) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Writes `contents` to `path` atomically (a temporary file renamed over it), mode 0600.
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    }
    fs::rename(&tmp, path)
}

/// Sets the administrator password: writes its argon2 hash to `path` (mode 0600).
pub fn set_password(path: &Path, password: &str) -> io::Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the password must have at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    write_private(path, &format!("{}\n", hash_password(password)?))
}

/// The stored password hash, `None` while no password has been set.
pub fn read_password_hash(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn token_digest(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Creates an API token: returns it (shown once) and appends its SHA-256 digest, with
/// `label` and the creation time, to `path` (mode 0600). Tokens are 256 random bits, so
/// a plain digest is enough to make the file useless to a reader.
pub fn create_token(path: &Path, label: &str) -> io::Result<String> {
    let token = format!("{TOKEN_PREFIX}{}", hex(&random_bytes::<32>()?));
    let mut text = match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let created = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let label: String = label
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    text.push_str(&format!("{} {created} {label}\n", token_digest(&token)));
    write_private(path, &text)?;
    Ok(token)
}

/// Whether `token` is one of those whose digest is listed in `path` (the file is read
/// on every request, so `danegate web-token create` needs no restart).
pub fn token_is_valid(path: &Path, token: &str) -> bool {
    if !token.starts_with(TOKEN_PREFIX) {
        return false;
    }
    let digest = token_digest(token);
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    // Every line is compared, each in constant time: neither which line matched nor
    // how much of a digest matched shows in the time taken.
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .fold(false, |found, d| {
            found | constant_time_eq(&d.to_ascii_lowercase(), &digest)
        })
}

/// One browser session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token every form of this session carries in its `csrf` field.
    pub csrf: String,
    /// Whether the password was given (a session also exists before login, so that the
    /// login form itself carries a CSRF token).
    pub authenticated: bool,
    last_seen: Instant,
    created: Instant,
}

/// The server-side session store.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// A session unused this long expires.
    pub idle: Duration,
    /// A session expires this long after login regardless of use.
    pub absolute: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a session; returns its id.
    pub fn create(&self, authenticated: bool) -> io::Result<(String, Session)> {
        let id = random_id()?;
        let now = Instant::now();
        let s = Session {
            csrf: random_id()?,
            authenticated,
            last_seen: now,
            created: now,
        };
        let mut map = self.lock();
        // Drop the expired ones while we hold the lock.
        let (idle, absolute) = (self.idle, self.absolute);
        map.retain(|_, v| {
            now.duration_since(v.last_seen) < idle && now.duration_since(v.created) < absolute
        });
        map.insert(id.clone(), s.clone());
        Ok((id, s))
    }

    /// The live session `id`, its last use updated.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let live = match map.get_mut(id) {
            Some(s)
                if now.duration_since(s.last_seen) < self.idle
                    && now.duration_since(s.created) < self.absolute =>
            {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => None,
            None => return None,
        };
        if live.is_none() {
            map.remove(id);
        }
        live
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// Login attempts per client address: at most `max` in `window` (default 5 a minute),
/// then refused (429) until the oldest leaves the window. An attempt is counted when it
/// starts, before the password is verified, so parallel attempts cannot all pass the
/// check before any failure is recorded; a successful login forgets its address.
pub struct LoginLimiter {
    attempts: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    /// Attempts allowed per window.
    pub max: usize,
    /// The window.
    pub window: Duration,
}

/// Addresses tracked before expired entries are swept (bounds the limiter's memory).
const LIMITER_SWEEP_AT: usize = 4096;

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            attempts: Mutex::new(HashMap::new()),
            max: 5,
            window: Duration::from_secs(60),
        }
    }
}

impl LoginLimiter {
    /// Counts an attempt from `ip` now: `Ok` if it may go on (and it is counted), else
    /// how long until the next one may (and it is not counted).
    pub fn begin(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let window = self.window;
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= LIMITER_SWEEP_AT {
            map.retain(|_, l| l.iter().any(|t| now.duration_since(*t) < window));
        }
        let list = map.entry(ip).or_default();
        list.retain(|t| now.duration_since(*t) < window);
        if list.len() >= self.max {
            let oldest = list.iter().min().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.duration_since(oldest)));
        }
        list.push(now);
        Ok(())
    }

    /// Forgets `ip`'s attempts (after a successful login).
    pub fn succeed(&self, ip: IpAddr) {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&ip);
    }
}

/// How many password verifications may run at once. Each argon2id verification with
/// the default parameters (m = 19 MiB) holds 19 MiB on the blocking pool: unbounded,
/// 100 concurrent login attempts took over 1 GB. Four bound it to about 80 MiB.
pub const MAX_CONCURRENT_VERIFICATIONS: usize = 4;

/// The permits for password verifications ([`MAX_CONCURRENT_VERIFICATIONS`]).
pub struct VerifySlots(std::sync::Arc<tokio::sync::Semaphore>);

impl Default for VerifySlots {
    fn default() -> Self {
        VerifySlots(std::sync::Arc::new(tokio::sync::Semaphore::new(
            MAX_CONCURRENT_VERIFICATIONS,
        )))
    }
}

impl VerifySlots {
    /// Verifies `password` against `phc` on the blocking pool if a slot is free; `None`
    /// when all are busy (the caller answers 503). The slot is held until the
    /// verification ends, even if the request is dropped meanwhile.
    pub async fn verify(&self, phc: String, password: String) -> Option<bool> {
        let permit = self.0.clone().try_acquire_owned().ok()?;
        let ok = tokio::task::spawn_blocking(move || {
            let ok = verify_password(&phc, &password);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false);
        Some(ok)
    }
}

/// Compares two strings in time independent of their content (the `subtle` crate's
/// `ConstantTimeEq`; only the lengths, which are not secret here, may show).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.passwd");
        assert_eq!(read_password_hash(&p).unwrap(), None);
        assert!(set_password(&p, "short").is_err());
        set_password(&p, "correct horse").unwrap();
        let h = read_password_hash(&p).unwrap().unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsE"));
        assert!(!verify_password("garbage", "x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn tokens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.tokens");
        assert!(!token_is_valid(&p, "dgw_x"));
        let t1 = create_token(&p, "ci job").unwrap();
        let t2 = create_token(&p, "").unwrap();
        assert!(token_is_valid(&p, &t1) && token_is_valid(&p, &t2));
        assert!(!token_is_valid(&p, &format!("{t1}0")));
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains(&t1[TOKEN_PREFIX.len()..]),
            "only digests stored"
        );
        assert!(text.contains("ci_job"));
    }

    #[test]
    fn limiter() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(l.begin(ip).is_ok());
        }
        assert!(l.begin(ip).is_err());
        assert!(l.begin("127.0.0.2".parse().unwrap()).is_ok());
        l.succeed(ip);
        assert!(l.begin(ip).is_ok());
    }

    #[test]
    fn sessions_expire() {
        let s = Sessions {
            idle: Duration::from_millis(30),
            ..Sessions::default()
        };
        let (id, _) = s.create(true).unwrap();
        assert!(s.get(&id).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get(&id).is_none());
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd"));
    }
}
