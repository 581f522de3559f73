//! Bounded work per lookup: the defence against validator denial of service
//! (KeyTrap CVE-2023-50387, NSEC3 closest-encloser CVE-2023-50868, RFC 9276).

/// Signatures considered per RRset: more RRSIGs than this are ignored.
pub const MAX_SIGS_PER_RRSET: usize = 8;
/// Keys tried per RRSIG when several share its key tag and algorithm (KeyTrap).
pub const MAX_KEYS_PER_SIG: usize = 4;
/// Signature verifications per lookup, all RRsets and zones together.
pub const MAX_VERIFICATIONS: u32 = 96;
/// Failed signature verifications per lookup before the answer is declared bogus.
pub const MAX_FAILED_VERIFICATIONS: u32 = 16;
/// NSEC3 iterations above which a zone's denial is treated as INSECURE (RFC 9276 §3.2;
/// the limit unbound, BIND and Knot ship).
pub const MAX_NSEC3_ITERATIONS: u16 = 150;
/// NSEC3 hash computations per lookup (each one is `iterations + 1` SHA-1 runs).
pub const MAX_NSEC3_HASHES: u32 = 64;
/// Labels walked below a trust anchor when looking for zone cuts.
pub const MAX_DESCENT_LABELS: usize = 32;
/// CNAME links followed per lookup.
pub const MAX_CNAME_LINKS: usize = 12;

/// What a lookup may still spend.
#[derive(Debug, Clone)]
pub struct Budget {
    verifications: u32,
    failures: u32,
    hashes: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            verifications: MAX_VERIFICATIONS,
            failures: MAX_FAILED_VERIFICATIONS,
            hashes: MAX_NSEC3_HASHES,
        }
    }
}

impl Budget {
    /// Takes one signature verification; false when none is left.
    pub fn take_verification(&mut self) -> bool {
        if self.verifications == 0 || self.failures == 0 {
            return false;
        }
        self.verifications -= 1;
        true
    }

    /// Records a failed verification.
    pub fn failed_verification(&mut self) {
        self.failures = self.failures.saturating_sub(1);
    }

    /// Takes one NSEC3 hash computation; false when none is left.
    pub fn take_hash(&mut self) -> bool {
        if self.hashes == 0 {
            return false;
        }
        self.hashes -= 1;
        true
    }
}
