//! The signed DNS test world.
//!
//! A hermetic DNS hierarchy — a private root `.`, TLDs, domains — built from zone-file
//! text, signed with freshly generated keys (RSA keys come from fixtures: ring cannot
//! generate them), and served from an in-process server on `127.0.0.1` that behaves like a
//! *non-validating* recursive resolver: RA=1, AA=0, AD=0, it resolves across all zones of
//! the world by itself and hands out bogus data as happily as good data.
//!
//! ```no_run
//! use danegate_testkit::dns::{Alg, Denial, DsMode, Fault, ServerOptions, World};
//! use hickory_proto::rr::RecordType;
//!
//! let mut w = World::new();
//! w.zone("test.");
//! w.zone("example.test.")
//!     .alg(Alg::EcdsaP256Sha256)
//!     .denial(Denial::Nsec3 { iterations: 0, salt: vec![], opt_out: false })
//!     .records("@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.1\n");
//! w.zone("plain.test.").unsigned();
//! w.zone("broken.test.")
//!     .records("www 300 IN A 192.0.2.7")
//!     .fault("www", RecordType::A, Fault::ExpiredSignature);
//! w.zone("mismatch.test.").ds(DsMode::Mismatch);
//! let world = w.build();
//! let anchor = world.trust_anchor_ds();
//! let server = world.serve(ServerOptions::default());
//! println!("{anchor} served at {}", server.addr());
//! ```
//!
//! See [`ZoneSpec`] for everything a zone can be made to do, [`Fault`] for the per-RRset
//! signature faults and [`ServerOptions`] for misbehaving resolvers.

mod answer;
mod build;
mod keys;
mod server;
mod text;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

pub use server::DnsServer;

/// A DNSSEC signing algorithm of a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// Algorithm 8, RSA/SHA-256 with 2048-bit keys (from fixtures).
    RsaSha256,
    /// Algorithm 13, ECDSA P-256 with SHA-256 (the default).
    EcdsaP256Sha256,
    /// Algorithm 15, Ed25519.
    Ed25519,
    /// Any algorithm number, used with random key and signature bytes: DNSKEY, RRSIG and the
    /// parent's DS carry that number. With an unassigned number (e.g. 253) validators must
    /// treat the zone as INSECURE (RFC 4035 §5.2).
    Unsupported(u8),
}

impl Alg {
    /// The IANA algorithm number.
    pub fn number(self) -> u8 {
        match self {
            Alg::RsaSha256 => 8,
            Alg::EcdsaP256Sha256 => 13,
            Alg::Ed25519 => 15,
            Alg::Unsupported(n) => n,
        }
    }
}

/// How a signed zone proves non-existence.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Denial {
    /// NSEC (RFC 4034), the default.
    #[default]
    Nsec,
    /// NSEC3 (RFC 5155) with SHA-1 hashing.
    Nsec3 {
        /// Additional hash iterations (RFC 9276 recommends 0).
        iterations: u16,
        /// Salt (RFC 9276 recommends empty).
        salt: Vec<u8>,
        /// Opt-out: insecure delegations get no NSEC3 record of their own and are covered by
        /// a span with the opt-out flag.
        opt_out: bool,
    },
}

/// What the parent publishes as DS for a signed child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DsMode {
    /// A SHA-256 DS of the child's KSK.
    #[default]
    Normal,
    /// A DS with the KSK's tag and algorithm whose digest matches no key of the child
    /// (the chain of trust is broken: BOGUS).
    Mismatch,
    /// No DS at all although the child is signed (an island of security: INSECURE).
    None,
    /// Only a SHA-1 DS (digest type 1) of the child's KSK: still a valid chain of trust.
    Sha1,
    /// A correct SHA-1 DS and a SHA-256 DS of the same key whose digest matches no key: a
    /// validator that ignores SHA-1 when SHA-256 is present (RFC 4509 §3) says BOGUS, one
    /// that accepts either digest says SECURE (a digest downgrade).
    Sha1AndBadSha256,
}

/// A per-RRset signature fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The RRSIG's validity period ended 10 days ago (inception 40 days ago): expired even
    /// for a validator that allows a day of clock skew.
    ExpiredSignature,
    /// The RRSIG's validity period starts in 10 days (expiration in 40 days): not yet valid
    /// even for a validator that allows a day of clock skew.
    NotYetValid,
    /// The RRSIG's inception and expiration are these offsets in seconds from now (e.g.
    /// `Validity(600, 30 * 86_400)`: valid from 10 minutes in the future), to test clock
    /// skew allowances and TTL caps at the signature's expiration.
    Validity(i64, i64),
    /// The RRset is served without any RRSIG.
    MissingSignature,
    /// The RRSIG is a valid signature by a key that is not in the zone's DNSKEY set (a fresh
    /// key of the same algorithm; signer name is still the zone, key tag is the stray key's).
    WrongSigner,
    /// The RRset is signed, then one record's RDATA is changed (A/AAAA: last bit of the address
    /// flipped; MX: preference; TXT: "!" appended; TLSA/DS: first digest byte flipped;
    /// CNAME/NS/MX target: "tampered." prepended; SOA: serial+1; DNSKEY: last key byte flipped).
    /// For other types the signature bytes are corrupted instead.
    TamperedRdata,
}

/// Declaration of one zone of the world; obtained from [`World::zone`].
///
/// All setters return `&mut Self` so they can be chained.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    apex: Name,
    alg: Alg,
    denial: Denial,
    records: Vec<String>,
    signed: bool,
    ds_mode: DsMode,
    faults: Vec<(String, RecordType, Fault)>,
    bad_denial: bool,
    lame: bool,
    colliding: Option<usize>,
    extra_keys: usize,
    standby_ksk: bool,
    revoked_ksk: bool,
}

impl ZoneSpec {
    fn new(apex: Name) -> Self {
        ZoneSpec {
            apex,
            alg: Alg::EcdsaP256Sha256,
            denial: Denial::Nsec,
            records: Vec::new(),
            signed: true,
            ds_mode: DsMode::Normal,
            faults: Vec::new(),
            bad_denial: false,
            lame: false,
            colliding: None,
            extra_keys: 0,
            standby_ksk: false,
            revoked_ksk: false,
        }
    }

    /// The zone's apex name.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// Sets the signing algorithm (default [`Alg::EcdsaP256Sha256`]).
    pub fn alg(&mut self, alg: Alg) -> &mut Self {
        self.alg = alg;
        self
    }

    /// Sets the denial-of-existence method (default [`Denial::Nsec`]).
    pub fn denial(&mut self, denial: Denial) -> &mut Self {
        self.denial = denial;
        self
    }

    /// Adds zone-file text. `$ORIGIN` is the apex and `$TTL` defaults to 300, so
    /// `"@ IN MX 10 mail\nmail IN A 192.0.2.1"` works; absolute names need a trailing dot.
    /// SOA and NS at the apex are added when missing (NS `ns1.<apex>` with an A record
    /// 127.0.0.53). May be called several times. Records at or below a child zone's apex
    /// are dropped from this zone (the child serves them).
    pub fn records(&mut self, text: &str) -> &mut Self {
        self.records.push(text.to_string());
        self
    }

    /// Makes the zone unsigned: no DNSKEY/RRSIG/NSEC; the parent has NS but no DS, and its
    /// denial records prove the delegation insecure (or an opt-out NSEC3 span covers it).
    pub fn unsigned(&mut self) -> &mut Self {
        self.signed = false;
        self
    }

    /// Sets what the parent publishes as DS (default [`DsMode::Normal`]).
    pub fn ds(&mut self, mode: DsMode) -> &mut Self {
        self.ds_mode = mode;
        self
    }

    /// Applies a signature fault to the RRset `(owner, rtype)`. `owner` is relative to the apex
    /// (`"@"` is the apex, `"*.wild"` a wildcard) or absolute with a trailing dot. A fault on
    /// the DS of this zone's apex (`fault("@", RecordType::DS, ..)`) applies to the parent's DS.
    pub fn fault(&mut self, owner: &str, rtype: RecordType, fault: Fault) -> &mut Self {
        self.faults.push((owner.to_string(), rtype, fault));
        self
    }

    /// Negative answers (NXDOMAIN, NODATA) from this zone carry validly signed NSEC/NSEC3
    /// records that do not prove the denial: a record of the chain that neither matches nor
    /// covers any of the names to be proven, or no denial record at all when every record of
    /// the chain would prove something. Positive answers are unaffected, and so are NODATA
    /// answers to DS queries (validators probe DS at every label to find zone cuts; breaking
    /// those would make every answer from the zone bogus). NXDOMAIN answers are always broken.
    pub fn bad_denial(&mut self) -> &mut Self {
        self.bad_denial = true;
        self
    }

    /// Delegated by the parent (NS, DS) but not served: queries for names in it get SERVFAIL
    /// (DS queries for its apex are answered by the parent as usual).
    pub fn lame(&mut self) -> &mut Self {
        self.lame = true;
        self
    }

    /// KeyTrap shape (CVE-2023-50387): the DNSKEY RRset holds `n` keys sharing one key tag and
    /// algorithm (the first with flags 257, the others 256), and every RRset carries `n`
    /// RRSIGs with that tag and random signatures (none valid). The parent's DS matches the
    /// first key. With [`Alg::RsaSha256`] the keys are well-formed 2048-bit RSA public keys
    /// (random odd moduli, e=65537) and the signatures are smaller than the moduli, so each
    /// key×signature pair costs a full RSA verification; with other algorithms the key bytes
    /// are random.
    pub fn colliding_keys(&mut self, n: usize) -> &mut Self {
        self.colliding = Some(n.max(1));
        self
    }

    /// Publishes `n` additional (non-signing) ZSKs of the zone's algorithm in the DNSKEY RRset,
    /// e.g. to make a large DNSKEY answer. For RSA the fixtures limit the distinct keys to 8.
    pub fn extra_keys(&mut self, n: usize) -> &mut Self {
        self.extra_keys = n;
        self
    }

    /// Publishes a second KSK (flags 257, a standby key for an RFC 5011 rollover) that also
    /// signs the DNSKEY RRset. The parent's DS and the trust-anchor lines still describe the
    /// first KSK; [`SignedWorld::standby_dnskey_line`] gives the standby key.
    pub fn standby_ksk(&mut self) -> &mut Self {
        self.standby_ksk = true;
        self
    }

    /// RFC 5011 revocation: the KSK is published with the REVOKE bit (flags 385) and still
    /// self-signs the DNSKEY RRset; implies [`ZoneSpec::standby_ksk`], and the standby KSK
    /// also signs the DNSKEY RRset. The trust-anchor lines ([`SignedWorld::ds_line`],
    /// [`SignedWorld::dnskey_line`], the root's `trust_anchor_*`) describe the KSK *before*
    /// revocation (flags 257: what a resolver was configured with); the parent's DS points
    /// at the standby KSK so the chain of trust stays intact.
    pub fn revoked_ksk(&mut self) -> &mut Self {
        self.revoked_ksk = true;
        self.standby_ksk = true;
        self
    }
}

/// The world being declared: a set of zones. Build it with [`World::build`].
#[derive(Clone, Debug)]
pub struct World {
    zones: BTreeMap<Name, ZoneSpec>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// A world with only the root zone `.` (algorithm 13, NSEC, KSK + ZSK).
    pub fn new() -> Self {
        let mut zones = BTreeMap::new();
        zones.insert(Name::root(), ZoneSpec::new(Name::root()));
        World { zones }
    }

    /// Declares (or returns the already declared) zone with apex `name` (a trailing dot is
    /// optional). Its parent is the closest enclosing zone of the world; the parent gets NS
    /// (`ns1.<name>`), glue (A 127.0.0.53) and DS records when the world is built.
    ///
    /// # Panics
    /// If `name` is not a valid domain name.
    pub fn zone(&mut self, name: &str) -> &mut ZoneSpec {
        let apex = parse_abs(name);
        self.zones
            .entry(apex.clone())
            .or_insert_with(|| ZoneSpec::new(apex))
    }

    /// Generates the keys, builds and signs every zone. Signatures are valid from one hour
    /// ago to 30 days from now unless a [`Fault`] says otherwise.
    ///
    /// # Panics
    /// If zone text does not parse or signing fails.
    pub fn build(self) -> SignedWorld {
        SignedWorld {
            inner: Arc::new(build::build(self.zones.into_values().collect())),
        }
    }
}

/// A built, signed world: trust anchors, zone texts, and a server factory.
#[derive(Clone)]
pub struct SignedWorld {
    inner: Arc<build::WorldData>,
}

impl std::fmt::Debug for SignedWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedWorld")
            .field("zones", &self.zone_names())
            .finish()
    }
}

impl SignedWorld {
    /// The root trust anchor as a DS line: `". 3600 IN DS <tag> 13 2 <hex>"` (SHA-256 of the
    /// root KSK), with a trailing newline.
    pub fn trust_anchor_ds(&self) -> String {
        self.ds_line(".").expect("root is signed")
    }

    /// The root trust anchor as a DNSKEY line: `". 3600 IN DNSKEY 257 3 13 <base64>"`, with a
    /// trailing newline.
    pub fn trust_anchor_dnskey(&self) -> String {
        self.dnskey_line(".").expect("root is signed")
    }

    /// The root KSK's key tag.
    pub fn root_key_tag(&self) -> u16 {
        self.inner.zones[0]
            .anchor_ds
            .as_ref()
            .expect("root is signed")
            .0
    }

    /// A DS line (SHA-256) for the KSK of any signed zone, e.g. to use an island of security
    /// ([`DsMode::None`]) as a trust anchor. `None` for unknown or unsigned zones.
    pub fn ds_line(&self, zone: &str) -> Option<String> {
        let z = self.find(zone)?;
        let (tag, alg, digest) = z.anchor_ds.as_ref()?;
        Some(format!(
            "{} 3600 IN DS {tag} {alg} 2 {}\n",
            z.apex,
            data_encoding::HEXUPPER.encode(digest)
        ))
    }

    /// A DNSKEY line for the KSK of any signed zone. `None` for unknown or unsigned zones.
    pub fn dnskey_line(&self, zone: &str) -> Option<String> {
        let z = self.find(zone)?;
        let (flags, alg, key) = z.anchor_dnskey.as_ref()?;
        Some(format!(
            "{} 3600 IN DNSKEY {flags} 3 {alg} {}\n",
            z.apex,
            data_encoding::BASE64.encode(key)
        ))
    }

    /// A DNSKEY line for the standby KSK of a zone declared with [`ZoneSpec::standby_ksk`]
    /// (or [`ZoneSpec::revoked_ksk`]). `None` otherwise.
    pub fn standby_dnskey_line(&self, zone: &str) -> Option<String> {
        let z = self.find(zone)?;
        let (flags, alg, key) = z.standby_dnskey.as_ref()?;
        Some(format!(
            "{} 3600 IN DNSKEY {flags} 3 {alg} {}\n",
            z.apex,
            data_encoding::BASE64.encode(key)
        ))
    }

    fn find(&self, zone: &str) -> Option<&build::Zone> {
        let apex = parse_abs(zone);
        self.inner.zones.iter().find(|z| z.apex == apex)
    }

    /// The signed zone `name` in zone-file syntax (for debugging and external checkers),
    /// `None` if the world has no such zone.
    pub fn zone_text(&self, name: &str) -> Option<String> {
        self.find(name).map(text::zone_text)
    }

    /// The apex names of all zones, parents before children.
    pub fn zone_names(&self) -> Vec<String> {
        self.inner
            .zones
            .iter()
            .map(|z| z.apex.to_string())
            .collect()
    }

    /// The reply the server would send to a query for `name`/`rtype` with DO=1 (answer and
    /// authority sections with their RRSIGs and denial records, the response code), e.g. to
    /// build a forged reply from real signed data in a [`Rewrite`].
    pub fn reply(&self, name: &str, rtype: RecordType) -> Message {
        answer::reply(&self.inner, &parse_abs(name), rtype)
    }

    /// Starts a server for this world on `127.0.0.1:<ephemeral>` (UDP and TCP on the same
    /// port) in its own thread with its own tokio runtime. Dropping the handle stops it.
    pub fn serve(&self, options: ServerOptions) -> DnsServer {
        server::start(self.inner.clone(), options)
    }
}

/// How the server misbehaves.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Never include RRSIG, NSEC or NSEC3 records, even with DO=1 (a middlebox that strips
    /// DNSSEC). DNSKEY and DS records are still served when asked for.
    pub strip_dnssec: bool,
    /// Receive queries and never answer (a timing-out upstream).
    pub silent: bool,
    /// Always SERVFAIL for these (name, type) pairs; names are absolute, the trailing dot is
    /// optional. Applies to every link of a CNAME chain.
    pub servfail: Vec<(String, RecordType)>,
    /// Changes every reply before it is sent (a forging or replaying man in the middle).
    pub rewrite: Option<Rewrite>,
}

/// A reply rewriter for [`ServerOptions::rewrite`]: called with the query name, the query
/// type and the reply the world would send (after DNSSEC filtering); whatever it leaves in
/// the message is sent.
#[derive(Clone)]
pub struct Rewrite(Arc<RewriteFn>);

type RewriteFn = dyn Fn(&Name, RecordType, &mut Message) + Send + Sync;

impl Rewrite {
    /// Wraps a rewriting function.
    pub fn new(f: impl Fn(&Name, RecordType, &mut Message) + Send + Sync + 'static) -> Self {
        Rewrite(Arc::new(f))
    }

    pub(crate) fn apply(&self, name: &Name, rtype: RecordType, msg: &mut Message) {
        (self.0)(name, rtype, msg)
    }
}

impl std::fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rewrite(..)")
    }
}

pub(crate) fn parse_abs(name: &str) -> Name {
    let mut n = Name::from_ascii(name)
        .unwrap_or_else(|e| panic!("invalid domain name {name:?}: {e}"))
        .to_lowercase();
    n.set_fqdn(true);
    n
}
