//! Key material: fresh ECDSA / Ed25519 keys from ring, RSA keys from fixtures, and fake keys
//! (unsupported algorithms, KeyTrap collisions).

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{Algorithm, DnsSecResult, PublicKeyBuf, SigningKey, TBS};
use ring::rand::{SecureRandom, SystemRandom};
use ring::rsa::PublicKeyComponents;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};

use super::Alg;

/// 2048-bit RSA private keys (PKCS#8 DER), generated once with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER`.
const RSA_FIXTURES: [&[u8]; 8] = [
    include_bytes!("fixtures/rsa2048-1.pk8"),
    include_bytes!("fixtures/rsa2048-2.pk8"),
    include_bytes!("fixtures/rsa2048-3.pk8"),
    include_bytes!("fixtures/rsa2048-4.pk8"),
    include_bytes!("fixtures/rsa2048-5.pk8"),
    include_bytes!("fixtures/rsa2048-6.pk8"),
    include_bytes!("fixtures/rsa2048-7.pk8"),
    include_bytes!("fixtures/rsa2048-8.pk8"),
];

/// RSA/SHA-256 signing with ring (hickory's `RsaSigningKey` wants rustls-pki-types wrappers;
/// this is the same few lines over ring directly).
struct RsaSha256Key(RsaKeyPair);

impl SigningKey for RsaSha256Key {
    fn sign(&self, tbs: &TBS) -> DnsSecResult<Vec<u8>> {
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            tbs.as_ref(),
            &mut sig,
        )?;
        Ok(sig)
    }

    fn to_public_key(&self) -> DnsSecResult<PublicKeyBuf> {
        // RFC 3110 §2: exponent length, exponent, modulus.
        let c = PublicKeyComponents::<Vec<u8>>::from(self.0.public());
        let (e, n) = (&c.e, &c.n);
        let mut buf = Vec::with_capacity(3 + e.len() + n.len());
        if e.len() > 255 {
            buf.push(0);
            buf.extend_from_slice(&(e.len() as u16).to_be_bytes());
        } else {
            buf.push(e.len() as u8);
        }
        buf.extend_from_slice(e);
        buf.extend_from_slice(n);
        Ok(PublicKeyBuf::new(buf, Algorithm::RSASHA256))
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RSASHA256
    }
}

/// One key of a zone: its DNSKEY and how to produce signatures.
pub(crate) struct Key {
    pub dnskey: DNSKEY,
    pub tag: u16,
    pub alg: Algorithm,
    signer: Option<Box<dyn SigningKey>>,
    /// Length of random "signatures" of fake keys; for RSA-shaped fakes the first byte is
    /// kept below the modulus' first byte.
    fake_sig_len: usize,
    pub rsa_fixture: Option<usize>,
}

impl Key {
    /// Signs, or produces random bytes for fake keys.
    pub fn sign(&self, tbs: &TBS) -> Vec<u8> {
        match &self.signer {
            Some(s) => s.sign(tbs).expect("signing failed"),
            None => {
                let mut sig = random_bytes(self.fake_sig_len);
                if self.alg == Algorithm::RSASHA256 && !sig.is_empty() {
                    sig[0] &= 0x7f;
                }
                sig
            }
        }
    }
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    SystemRandom::new().fill(&mut v).expect("rng");
    v
}

/// Hands out keys; cycles through the RSA fixtures.
pub(crate) struct KeyFactory {
    next_rsa: usize,
}

impl KeyFactory {
    pub fn new() -> Self {
        KeyFactory { next_rsa: 0 }
    }

    /// A real (or, for unsupported algorithms, fake) key with the given flags.
    /// `avoid_rsa` lists fixture indices not to use (for a stray key).
    pub fn key(&mut self, alg: Alg, flags: u16, avoid_rsa: &[usize]) -> Key {
        let rng = SystemRandom::new();
        let (signer, rsa_fixture): (Box<dyn SigningKey>, Option<usize>) = match alg {
            Alg::EcdsaP256Sha256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .expect("ecdsa keygen");
                let kp = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8.as_ref(),
                    &rng,
                )
                .expect("ecdsa key");
                (
                    Box::new(EcdsaSigningKey::from_ecdsa(kp, Algorithm::ECDSAP256SHA256)),
                    None,
                )
            }
            Alg::Ed25519 => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519 keygen");
                let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ed25519 key");
                (Box::new(Ed25519SigningKey::from_ed25519(kp)), None)
            }
            Alg::RsaSha256 => {
                let mut idx = self.next_rsa % RSA_FIXTURES.len();
                for _ in 0..RSA_FIXTURES.len() {
                    if !avoid_rsa.contains(&idx) {
                        break;
                    }
                    idx = (idx + 1) % RSA_FIXTURES.len();
                }
                self.next_rsa = idx + 1;
                let kp = RsaKeyPair::from_pkcs8(RSA_FIXTURES[idx]).expect("rsa fixture");
                (Box::new(RsaSha256Key(kp)), Some(idx))
            }
            Alg::Unsupported(n) => return fake_key(n, flags, 64, 64),
        };
        let public = signer.to_public_key().expect("public key");
        let dnskey = DNSKEY::with_flags(flags, public);
        let tag = dnskey.calculate_key_tag().expect("key tag");
        Key {
            dnskey,
            tag,
            alg: signer.algorithm(),
            signer: Some(signer),
            fake_sig_len: 0,
            rsa_fixture,
        }
    }
}

/// A key of algorithm number `alg` with random public-key bytes; it "signs" with random bytes.
fn fake_key(alg: u8, flags: u16, key_len: usize, sig_len: usize) -> Key {
    let algorithm = Algorithm::from_u8(alg);
    let dnskey = DNSKEY::with_flags(flags, PublicKeyBuf::new(random_bytes(key_len), algorithm));
    let tag = dnskey.calculate_key_tag().expect("key tag");
    Key {
        dnskey,
        tag,
        alg: algorithm,
        signer: None,
        fake_sig_len: sig_len,
        rsa_fixture: None,
    }
}

/// RFC 4034 Appendix B: the unfolded sum over DNSKEY RDATA.
fn key_tag_sum(rdata: &[u8]) -> u32 {
    rdata
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i & 1 == 1 {
                u32::from(*b)
            } else {
                u32::from(*b) << 8
            }
        })
        .sum()
}

/// RFC 4034 Appendix B: folds the sum into the key tag.
fn key_tag_fold(ac: u32) -> u16 {
    ((ac + ((ac >> 16) & 0xffff)) & 0xffff) as u16
}

/// `n` fake keys of the zone's algorithm that all share one key tag (KeyTrap shape).
pub(crate) fn colliding_keys(alg: Alg, n: usize) -> Vec<Key> {
    let num = alg.number();
    let algorithm = Algorithm::from_u8(num);
    let (key_len, sig_len) = match alg {
        Alg::RsaSha256 => (3 + 256, 256),
        Alg::Ed25519 => (32, 64),
        _ => (64, 64),
    };
    let mut target: Option<u16> = None;
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let flags: u16 = if i == 0 { 257 } else { 256 };
        let mut key = random_bytes(key_len);
        if alg == Alg::RsaSha256 {
            // exponent 65537, top bits of the modulus set, modulus odd
            key[0] = 3;
            key[1..4].copy_from_slice(&[1, 0, 1]);
            key[4] |= 0xc0;
            let last = key.len() - 1;
            key[last] |= 1;
        }
        let mut rdata = Vec::with_capacity(4 + key_len);
        rdata.extend_from_slice(&flags.to_be_bytes());
        rdata.push(3);
        rdata.push(num);
        rdata.extend_from_slice(&key);
        // Adjust an even-aligned 16-bit word near the end (not the last byte, which keeps the
        // RSA modulus odd) until the tag matches the first key's.
        if let Some(t) = target {
            let pos = (rdata.len() - 3) & !1;
            rdata[pos..pos + 2].copy_from_slice(&[0, 0]);
            let rest = key_tag_sum(&rdata);
            let w = (0..=u16::MAX)
                .find(|w| key_tag_fold(rest + u32::from(*w)) == t)
                .expect("no colliding key tag found");
            rdata[pos..pos + 2].copy_from_slice(&w.to_be_bytes());
        }
        let public = rdata[4..].to_vec();
        let dnskey = DNSKEY::with_flags(flags, PublicKeyBuf::new(public, algorithm));
        let tag = dnskey.calculate_key_tag().expect("key tag");
        debug_assert_eq!(tag, key_tag_fold(key_tag_sum(&rdata)));
        target.get_or_insert(tag);
        keys.push(Key {
            dnskey,
            tag,
            alg: algorithm,
            signer: None,
            fake_sig_len: sig_len,
            rsa_fixture: None,
        });
    }
    keys
}
