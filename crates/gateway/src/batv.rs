//! Bounce Verification address tagging (BATV, draft-levine-smtp-batv, `prvs=` scheme):
//! the envelope sender of outbound mail becomes `prvs=KDDDSSSSSS=local@domain`, and a
//! bounce (null sender) to such an address is accepted only with a valid, recent tag.
//!
//! K is the key number (always 0), DDD the day number (days since the epoch) modulo
//! 1000, SSSSSS the first 3 bytes, in hex, of HMAC-SHA256(key, "DDD" + address).

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use ring::{hmac, rand::SecureRandom};

/// Key file under `<data_dir>/state/`.
pub const KEY_FILE: &str = "bounce-verification.key";
/// Length of the key, in bytes.
pub const KEY_LEN: usize = 32;
/// The oldest tag accepted, in days.
pub const MAX_AGE_DAYS: u64 = 7;

/// The secret key of the tags.
#[derive(Clone)]
pub struct BatvKey(hmac::Key);

/// What a recipient address is, for bounce verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not in `prvs=` form.
    Untagged,
    /// A valid tag of at most [`MAX_AGE_DAYS`] days; the untagged address.
    Valid(String),
    /// In `prvs=` form, but the tag is malformed, forged or expired.
    Invalid,
}

impl BatvKey {
    /// A key from its bytes.
    pub fn new(bytes: &[u8]) -> BatvKey {
        BatvKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// Reads `<state_dir>/bounce-verification.key`, creating it (32 random bytes, mode
    /// 0600) when it does not exist.
    pub fn load_or_create(state_dir: &Path) -> Result<BatvKey, String> {
        let path = state_dir.join(KEY_FILE);
        match read_key(&path) {
            Ok(k) => return Ok(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            dir.mode(0o700);
        }
        dir.create(state_dir)
            .map_err(|e| format!("{}: {e}", state_dir.display()))?;
        let mut bytes = [0u8; KEY_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "no random numbers for the bounce verification key".to_string())?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut f) => {
                f.write_all(&bytes)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(target: "danegate::mail", "Bounce verification key created in {}", path.display());
                Ok(BatvKey::new(&bytes))
            }
            // Created meanwhile by someone else: theirs counts.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                read_key(&path).map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn sig(&self, ddd: &str, address: &str) -> String {
        let mut input = String::with_capacity(ddd.len() + address.len());
        input.push_str(ddd);
        input.push_str(address);
        let tag = hmac::sign(&self.0, input.as_bytes());
        // An HMAC-SHA256 tag is 32 bytes; BATV keeps the first three.
        data_encoding::HEXLOWER.encode(tag.as_ref().get(..3).unwrap_or_default())
    }

    /// `address` tagged for `day` (days since the epoch). The null sender (`""`) and
    /// addresses without `@` are returned unchanged.
    pub fn tag_on(&self, address: &str, day: u64) -> String {
        if address.is_empty() || !address.contains('@') || parse(address).is_some() {
            return address.to_string();
        }
        let ddd = format!("{:03}", day % 1000);
        let sig = self.sig(&ddd, address);
        format!("prvs=0{ddd}{sig}={address}")
    }

    /// `address` tagged for today.
    pub fn tag(&self, address: &str) -> String {
        self.tag_on(address, today())
    }

    /// Checks a recipient address on `day` (days since the epoch).
    pub fn verify_on(&self, address: &str, day: u64) -> Verdict {
        let Some((tag, original)) = parse(address) else {
            return if is_prvs(address) {
                Verdict::Invalid
            } else {
                Verdict::Untagged
            };
        };
        let (k, ddd, sig) = (&tag[..1], &tag[1..4], &tag[4..]);
        if k != "0" {
            return Verdict::Invalid;
        }
        let expect = self.sig(ddd, original);
        // Compared without an early exit.
        let sig_ok = expect.len() == sig.len()
            && expect
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
                == 0;
        let Ok(then) = ddd.parse::<u64>() else {
            return Verdict::Invalid;
        };
        let age = (day % 1000 + 1000 - then) % 1000;
        if sig_ok && age <= MAX_AGE_DAYS {
            Verdict::Valid(original.to_string())
        } else {
            Verdict::Invalid
        }
    }

    /// Checks a recipient address today.
    pub fn verify(&self, address: &str) -> Verdict {
        self.verify_on(address, today())
    }
}

fn read_key(path: &Path) -> std::io::Result<BatvKey> {
    let mut f = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    if bytes.len() != KEY_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("must hold {KEY_LEN} bytes, holds {}", bytes.len()),
        ));
    }
    Ok(BatvKey::new(&bytes))
}

/// Days since 1970-01-01 (UTC).
pub fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

/// True when `address` begins with `prvs=` (any case).
pub(crate) fn is_prvs(address: &str) -> bool {
    address
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("prvs="))
}

/// `prvs=TAG=original` → (TAG, original), when TAG is 10 characters: one digit, three
/// digits, six hex digits, and the original address has an `@`.
fn parse(address: &str) -> Option<(&str, &str)> {
    if !is_prvs(address) {
        return None;
    }
    let rest = &address[5..];
    let (tag, original) = rest.split_once('=')?;
    // Checked as ASCII first: the slices below are by octet, and a multi-byte
    // character across octet 4 would not be a character boundary.
    let ok = tag.len() == 10
        && tag.is_ascii()
        && tag[..4].bytes().all(|b| b.is_ascii_digit())
        && tag[4..].bytes().all(|b| b.is_ascii_hexdigit());
    let (local, domain) = original.rsplit_once('@')?;
    (ok && !local.is_empty() && !domain.is_empty()).then_some((tag, original))
}

/// The key of a gateway, loaded at first need from `<data_dir>/state`.
#[derive(Default)]
pub(crate) struct KeyCache(std::sync::Mutex<Option<(PathBuf, BatvKey)>>);

impl KeyCache {
    pub fn get(&self, data_dir: &Path) -> Result<BatvKey, String> {
        let state = data_dir.join("state");
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, k)) = g.as_ref()
            && *p == state
        {
            return Ok(k.clone());
        }
        let k = BatvKey::load_or_create(&state)?;
        *g = Some((state, k.clone()));
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 20_500; // 2026-02-16; DDD = 500

    fn key() -> BatvKey {
        BatvKey::new(&[7u8; 32])
    }

    #[test]
    fn tag_has_the_prvs_form_and_verifies() {
        let t = key().tag_on("alice@sender.test", DAY);
        assert!(t.starts_with("prvs=0500"), "{t}");
        assert!(t.ends_with("=alice@sender.test"), "{t}");
        assert_eq!(t.len(), "prvs=0500abcdef=alice@sender.test".len());
        // The signature is HMAC-SHA256(key, "500" + address), first 3 bytes in hex.
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]),
            b"500alice@sender.test",
        );
        let hex = data_encoding::HEXLOWER.encode(&mac.as_ref()[..3]);
        assert_eq!(t, format!("prvs=0500{hex}=alice@sender.test"));
        assert_eq!(
            key().verify_on(&t, DAY),
            Verdict::Valid("alice@sender.test".into())
        );
        assert_eq!(
            key().verify_on(&t, DAY + MAX_AGE_DAYS),
            Verdict::Valid("alice@sender.test".into())
        );
        // Upper-case hex (some MTAs fold case) still verifies.
        let upper = format!(
            "PRVS={}{}{}",
            &t[5..9],
            t[9..15].to_ascii_uppercase(),
            &t[15..]
        );
        assert_eq!(
            key().verify_on(&upper, DAY),
            Verdict::Valid("alice@sender.test".into())
        );
        // Null sender and tagged addresses are not tagged (again).
        assert_eq!(key().tag_on("", DAY), "");
        assert_eq!(key().tag_on(&t, DAY), t);
    }

    #[test]
    fn wrong_hmac_is_invalid() {
        let t = key().tag_on("alice@sender.test", DAY);
        let other = BatvKey::new(&[8u8; 32]);
        assert_eq!(other.verify_on(&t, DAY), Verdict::Invalid);
        let forged = "prvs=0500000000=alice@sender.test";
        assert_eq!(key().verify_on(forged, DAY), Verdict::Invalid);
        // The tag of one address does not fit another.
        let moved = t.replace("alice@", "bob@");
        assert_eq!(key().verify_on(&moved, DAY), Verdict::Invalid);
    }

    #[test]
    fn expired_tag_is_invalid() {
        let t = key().tag_on("alice@sender.test", DAY);
        assert_eq!(
            key().verify_on(&t, DAY + MAX_AGE_DAYS + 1),
            Verdict::Invalid
        );
        // Tags from the future (clock skew beyond a wrap) are not accepted either.
        assert_eq!(key().verify_on(&t, DAY - 1), Verdict::Invalid);
        // Day numbers wrap at 1000.
        let t = key().tag_on("alice@sender.test", 20_998);
        assert!(t.starts_with("prvs=0998"));
        assert_eq!(
            key().verify_on(&t, 21_002),
            Verdict::Valid("alice@sender.test".into())
        );
    }

    /// A tag with a multi-byte character across octet 4 (the split of the tag's
    /// digits and hex) is refused, not a panic on a non-boundary slice.
    #[test]
    fn multi_byte_tag_is_invalid_not_a_panic() {
        for bad in [
            "prvs=000\u{e9}abcde=alice@sender.test",
            "prvs=0500abc\u{e9}d=alice@sender.test",
            "prvs=\u{20ac}0500abc=alice@sender.test",
            "prvs=0\u{1f600}abcde=alice@sender.test",
        ] {
            assert_eq!(key().verify_on(bad, DAY), Verdict::Invalid, "{bad}");
        }
    }

    #[test]
    fn wrong_format_is_invalid_and_plain_addresses_are_untagged() {
        for bad in [
            "prvs=0500abc=alice@sender.test",
            "prvs=0500abcdefgh=alice@sender.test",
            "prvs=1500abcdef=alice@sender.test",
            "prvs=x500abcdef=alice@sender.test",
            "prvs=0500abcdeg=alice@sender.test",
            "prvs=0500abcdef@sender.test",
            "prvs=0500abcdef=@sender.test",
        ] {
            assert_eq!(key().verify_on(bad, DAY), Verdict::Invalid, "{bad}");
        }
        for plain in ["alice@sender.test", "prv=alice@sender.test", "postmaster"] {
            assert_eq!(key().verify_on(plain, DAY), Verdict::Untagged, "{plain}");
        }
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let k1 = BatvKey::load_or_create(&state).unwrap();
        let path = state.join(KEY_FILE);
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let k2 = BatvKey::load_or_create(&state).unwrap();
        let t = k1.tag_on("a@b.test", DAY);
        assert_eq!(k2.verify_on(&t, DAY), Verdict::Valid("a@b.test".into()));
        std::fs::write(&path, b"short").unwrap();
        assert!(BatvKey::load_or_create(&state).is_err());
    }
}
