//! The DANE decision tables, as data.
//!
//! The rows marked `appliance` are copied, in order, from the two tables of the
//! appliance's DANE guide ("DANE Mandatory" and "DANE Opportunistic",
//! reproduced in docs/dane.md): a reader can compare them line by line. An
//! empty cell of the appliance is `_` (any value, usually "not reached"). The appliance's
//! spelling differences (`secure`, `Fail` / `Failed`, the arrows) are normalised.
//!
//! The appliance does not cover temporary DNS failures nor steps that were not
//! reached; the rows marked `extension` after the appliance's rows do, each with its
//! reason. Rows are tried in order and the first that matches decides
//! ([`decide`]); every table is total (tested over every input combination).
//!
//! Where RFC 7672 differs from the appliance (the appliance is the default; the project's
//! DANE documentation should repeat this list):
//! - An insecure MX RRset with a secure TLSA RRset: RFC 7672 §2.2.1 still
//!   authenticates the MX host with DANE; the appliance falls back (Opportunistic) or
//!   fails (Mandatory).
//! - A secure but wholly unusable TLSA RRset (only PKIX-TA/PKIX-EE records, or
//!   unknown parameters; [`TlsaStatus::Unusable`]): the appliance has no row for it.
//!   RFC 7672 §2.2: TLS is mandatory, but unauthenticated. Extension rows say so:
//!   Opportunistic delivers over unauthenticated TLS ([`Action::TlsUnauthenticated`];
//!   no STARTTLS or no TLS: DANE Fail, never plain text), Mandatory fails.

use std::fmt;

/// The DNSSEC status of the MX lookup (RFC 4035 §4.3, RFC 7672 §2.1.1).
///
/// When the domain has no MX RRset and is its own implicit MX, this is the status
/// of that denial. A domain that does not exist is not a DANE question: the
/// caller bounces before consulting the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MxStatus {
    /// Validated answer.
    Secure,
    /// Provably unsigned ("insecure" and "no trust anchor" are the same, RFC 7672 §2.1.1).
    Insecure,
    /// Validation failed (indeterminate counts as bogus, RFC 7672 §2.1.1).
    Bogus,
    /// SERVFAIL, timeout, unreachable upstream: not in the appliance's tables.
    TempFail,
}

/// The DNSSEC status of the MX host's address (A/AAAA) lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrStatus {
    /// Validated answer.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// Validation failed.
    Bogus,
    /// SERVFAIL, timeout: not in the appliance's tables.
    TempFail,
    /// Not looked up (the MX step already decided).
    NotReached,
}

/// The DNSSEC status of the TLSA lookup at `_25._tcp.<host>` (RFC 7672 §2.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsaStatus {
    /// A validated TLSA RRset with at least one usable record (RFC 7672 §3).
    Secure,
    /// A validated TLSA RRset in which no record is usable (PKIX-TA/PKIX-EE, unknown
    /// parameters, malformed data): TLS is mandatory, but unauthenticated (RFC 7672
    /// §2.2). Not in the appliance's tables.
    Unusable,
    /// Provably unsigned, with or without records (including an insecure denial).
    Insecure,
    /// Validation failed.
    Bogus,
    /// No TLSA record, securely denied (NXDOMAIN or NODATA): the appliance's "NXDOMAIN".
    NxDomain,
    /// SERVFAIL, timeout, malformed answer: not in the appliance's tables.
    TempFail,
    /// Not looked up (an earlier step already decided; RFC 7672 §2.2.2 skips the
    /// TLSA query when the address answer is insecure).
    NotReached,
}

/// The certificate check against the TLSA RRset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertStatus {
    /// The certificate matched a usable TLSA record (and names, for DANE-TA).
    Success,
    /// It did not, or (with [`TlsaStatus::Unusable`]) TLS was established but there
    /// was no usable record to check the certificate against.
    Failed,
    /// No certificate was seen (no STARTTLS, TLS failed, or the check was not needed).
    NotReached,
}

/// The per-destination DANE Support setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaneMode {
    /// DANE not applied: deliver according to TLS Support.
    None,
    /// The appliance's "DANE Opportunistic" table.
    Opportunistic,
    /// The appliance's "DANE Mandatory" table.
    Mandatory,
}

/// What to do with this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// DANE authenticated the server: deliver, and log `TLS success ... for <domain>`.
    DaneSuccess,
    /// Do not deliver; the message stays queued and is retried until its bounce
    /// profile's time limit.
    DaneFail,
    /// Deliver according to the profile's TLS Support setting.
    Fallback,
    /// A secure TLSA RRset without a usable record (RFC 7672 §2.2): deliver over the
    /// TLS session just established, without authentication; never in plain text.
    /// Reported as a DANE fallback with its own reason.
    TlsUnauthenticated,
    /// A temporary DNS failure: this host is unusable now; try the next one, else
    /// defer. Never a fallback (RFC 7672 §2.1.2).
    TempFail,
}

impl fmt::Display for Action {
    /// The appliance's wording.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::DaneSuccess => "DANE Success",
            Action::DaneFail => "DANE Fail",
            Action::Fallback => "Fallback to opportunistic TLS flow",
            Action::TlsUnauthenticated => "DANE UNUSABLE TLSA: TLS mandatory, unauthenticated",
            Action::TempFail => "Temporary failure (defer)",
        })
    }
}

/// One table cell: a value, or the appliance's empty cell (any value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell<T> {
    /// The appliance's empty cell: matches every value.
    Any,
    /// Matches exactly this value.
    Is(T),
}

impl<T: PartialEq> Cell<T> {
    /// Whether `value` fits this cell.
    pub fn matches(&self, value: &T) -> bool {
        match self {
            Cell::Any => true,
            Cell::Is(v) => v == value,
        }
    }
}

/// Where a row comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Copied from the appliance's table.
    Appliance,
    /// Added by danegate, with the reason.
    Extension(&'static str),
}

/// One row of a decision table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    /// MX RECORD column.
    pub mx: Cell<MxStatus>,
    /// A RECORD column.
    pub a: Cell<AddrStatus>,
    /// TLSA column.
    pub tlsa: Cell<TlsaStatus>,
    /// CERTIFICATE Verify column.
    pub cert: Cell<CertStatus>,
    /// ACTION column.
    pub action: Action,
    /// Seed row or extension.
    pub origin: Origin,
}

/// The four inputs of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inputs {
    /// MX lookup status.
    pub mx: MxStatus,
    /// Address lookup status.
    pub a: AddrStatus,
    /// TLSA lookup status.
    pub tlsa: TlsaStatus,
    /// Certificate check.
    pub cert: CertStatus,
}

impl Row {
    /// Whether every cell of the row fits the inputs.
    pub fn matches(&self, i: &Inputs) -> bool {
        self.mx.matches(&i.mx)
            && self.a.matches(&i.a)
            && self.tlsa.matches(&i.tlsa)
            && self.cert.matches(&i.cert)
    }
}

macro_rules! cell {
    ($ty:ident, _) => {
        Cell::Any
    };
    ($ty:ident, $v:ident) => {
        Cell::Is($ty::$v)
    };
}

macro_rules! origin {
    () => {
        Origin::Appliance
    };
    ($why:literal) => {
        Origin::Extension($why)
    };
}

/// `MX | A | TLSA | CERTIFICATE => ACTION [, "why"];` — a row without a reason is a
/// appliance row.
macro_rules! table {
    ($($mx:tt | $a:tt | $tlsa:tt | $cert:tt => $action:ident $(, $why:literal)? ;)*) => {
        &[$(Row {
            mx: cell!(MxStatus, $mx),
            a: cell!(AddrStatus, $a),
            tlsa: cell!(TlsaStatus, $tlsa),
            cert: cell!(CertStatus, $cert),
            action: Action::$action,
            origin: origin!($($why)?),
        }),*]
    };
}

/// DANE Mandatory: only Secure, Secure, Secure, Success is DANE Success.
pub const MANDATORY: &[Row] = table! {
    // MX RECORD | A RECORD   | TLSA       | CERTIFICATE => ACTION
    Secure    | Secure     | Secure     | Success    => DaneSuccess;
    Secure    | Secure     | Secure     | Failed     => DaneFail;
    Secure    | Secure     | Insecure   | _          => DaneFail;
    Secure    | Secure     | NxDomain   | _          => DaneFail;
    Secure    | Secure     | Bogus      | _          => DaneFail;
    Secure    | Insecure   | _          | _          => DaneFail;
    Secure    | Bogus      | _          | _          => DaneFail;
    Insecure  | Secure     | Secure     | Success    => DaneFail;
    Insecure  | Secure     | Secure     | Failed     => DaneFail;
    Insecure  | Secure     | Insecure   | _          => DaneFail;
    Insecure  | Secure     | NxDomain   | _          => DaneFail;
    Insecure  | Secure     | Bogus      | _          => DaneFail;
    Insecure  | Insecure   | _          | _          => DaneFail;
    Insecure  | Bogus      | _          | _          => DaneFail;
    Bogus     | _          | _          | _          => DaneFail;
    // Extensions: not in the appliance.
    TempFail  | _          | _          | _          => TempFail,
        "MX lookup failed temporarily: the MX set is unknown, delay (RFC 7672 section 2.1.2)";
    _         | TempFail   | _          | _          => TempFail,
        "address lookup failed temporarily: try the next MX host, else delay (RFC 7672 section 2.1.2)";
    _         | _          | TempFail   | _          => TempFail,
        "TLSA lookup failed: the host is unusable, never a fallback (RFC 7672 section 2.1.2)";
    _         | NotReached | _          | _          => DaneFail,
        "address lookup not reached after a Secure or Insecure MX: a caller error, fail closed";
    _         | _          | NotReached | _          => DaneFail,
        "TLSA lookup not reached after a Secure address: a caller error, fail closed";
    _         | _          | _          | NotReached => DaneFail,
        "TLSA needed but no certificate seen (no STARTTLS or TLS failed): never plain text (RFC 7672 section 2.2)";
    _         | Secure     | Unusable   | _          => DaneFail,
        "secure TLSA RRset without a usable record: DANE cannot authenticate the server, and Mandatory requires it (RFC 7672 section 2.2)";
};

/// DANE Opportunistic. Not "TLS Preferred": DANE Fail rows are not delivered.
pub const OPPORTUNISTIC: &[Row] = table! {
    // MX RECORD | A RECORD   | TLSA       | CERTIFICATE => ACTION
    Secure    | Secure     | Secure     | Success    => DaneSuccess;
    Secure    | Secure     | Secure     | Failed     => DaneFail;
    Secure    | Secure     | Insecure   | _          => Fallback;
    Secure    | Secure     | NxDomain   | _          => Fallback;
    Secure    | Secure     | Bogus      | _          => DaneFail;
    Secure    | Insecure   | _          | _          => Fallback;
    Secure    | Bogus      | _          | _          => DaneFail;
    Insecure  | Secure     | Secure     | _          => Fallback;
    Insecure  | Secure     | Insecure   | _          => Fallback;
    Insecure  | Secure     | NxDomain   | _          => Fallback;
    Insecure  | Secure     | Bogus      | _          => DaneFail;
    Insecure  | Insecure   | _          | _          => Fallback;
    Insecure  | Bogus      | _          | _          => DaneFail;
    Bogus     | _          | _          | _          => DaneFail;
    // Extensions: not in the appliance.
    TempFail  | _          | _          | _          => TempFail,
        "MX lookup failed temporarily: the MX set is unknown, delay (RFC 7672 section 2.1.2)";
    _         | TempFail   | _          | _          => TempFail,
        "address lookup failed temporarily: try the next MX host, else delay (RFC 7672 section 2.1.2)";
    _         | _          | TempFail   | _          => TempFail,
        "TLSA lookup failed: the host is unusable, never a fallback (RFC 7672 section 2.1.2)";
    _         | NotReached | _          | _          => DaneFail,
        "address lookup not reached after a Secure or Insecure MX: a caller error, fail closed";
    _         | _          | NotReached | _          => DaneFail,
        "TLSA lookup not reached after a Secure address: a caller error, fail closed";
    Insecure  | Secure     | Unusable   | _          => Fallback,
        "insecure MX: as the appliance's rows for an insecure MX with a secure TLSA RRset";
    _         | _          | _          | NotReached => DaneFail,
        "secure TLSA but no certificate seen (no STARTTLS or TLS failed): never plain text (RFC 7672 section 2.2)";
    Secure    | Secure     | Unusable   | _          => TlsUnauthenticated,
        "secure TLSA RRset without a usable record: TLS is mandatory, but unauthenticated (RFC 7672 section 2.2)";
};

/// DANE None: DNSSEC statuses are not consulted; only a temporary failure of the
/// lookups needed to reach a host stops delivery.
pub const NONE: &[Row] = table! {
    // MX RECORD | A RECORD   | TLSA       | CERTIFICATE => ACTION
    TempFail  | _          | _          | _          => TempFail,
        "MX lookup failed temporarily: the MX set is unknown, delay (RFC 7672 section 2.1.2)";
    _         | TempFail   | _          | _          => TempFail,
        "address lookup failed temporarily: try the next MX host, else delay";
    _         | _          | _          | _          => Fallback,
        "DANE Support None: deliver according to TLS Support";
};

/// The table of a mode.
pub fn table(mode: DaneMode) -> &'static [Row] {
    match mode {
        DaneMode::None => NONE,
        DaneMode::Opportunistic => OPPORTUNISTIC,
        DaneMode::Mandatory => MANDATORY,
    }
}

/// The outcome of [`decide`]: the action and the row that gave it (for logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The deciding row.
    pub row: &'static Row,
    /// Its 1-based position in the table.
    pub line: usize,
    /// The row was chosen treating an insecure MX as secure
    /// ([`InsecureMx::Rfc7672`]): never log this as a fully secure delivery.
    pub insecure_mx: bool,
}

/// The action for these inputs: the first matching row of the mode's table.
///
/// Every table is total; should a row ever be missing, the answer is DANE Fail
/// (fail closed, never a fallback).
pub fn decide(mode: DaneMode, inputs: Inputs) -> Decision {
    const FAIL_CLOSED: Row = Row {
        mx: Cell::Any,
        a: Cell::Any,
        tlsa: Cell::Any,
        cert: Cell::Any,
        action: Action::DaneFail,
        origin: Origin::Extension("no row matched: fail closed"),
    };
    let rows = table(mode);
    rows.iter()
        .enumerate()
        .find(|(_, r)| r.matches(&inputs))
        .map(|(i, row)| Decision {
            action: row.action,
            row,
            line: i + 1,
            insecure_mx: false,
        })
        .unwrap_or(Decision {
            action: Action::DaneFail,
            row: &FAIL_CLOSED,
            line: 0,
            insecure_mx: false,
        })
}

/// How an insecure MX RRset is treated (RFC 7672 §2.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InsecureMx {
    /// The appliance's tables as they are: an insecure MX falls back (Opportunistic) or
    /// fails (Mandatory). The default.
    #[default]
    Appliance,
    /// RFC 7672 §2.2.1 (Postfix's default): the MX host's own secure TLSA RRset
    /// is still honoured; the row is chosen as if the MX answer were secure.
    /// [`Decision::insecure_mx`] tells the caller not to log such a delivery as
    /// fully secure, and DANE-TA names must then use the MX host name only
    /// (RFC 7672 §3.2.2).
    Rfc7672,
}

/// [`decide`] with a choice for insecure MX RRsets.
pub fn decide_with(mode: DaneMode, inputs: Inputs, insecure_mx: InsecureMx) -> Decision {
    match (insecure_mx, inputs.mx) {
        (InsecureMx::Rfc7672, MxStatus::Insecure) if mode != DaneMode::None => {
            let mut d = decide(
                mode,
                Inputs {
                    mx: MxStatus::Secure,
                    ..inputs
                },
            );
            d.insecure_mx = true;
            d
        }
        _ => decide(mode, inputs),
    }
}

/// Every TLSA status a completed lookup can give (not `TempFail`, not `NotReached`).
const LOOKED_UP_TLSA: [TlsaStatus; 5] = [
    TlsaStatus::Secure,
    TlsaStatus::Unusable,
    TlsaStatus::Insecure,
    TlsaStatus::NxDomain,
    TlsaStatus::Bogus,
];

/// Every certificate outcome, including no TLS at all.
const ALL_CERT: [CertStatus; 3] = [
    CertStatus::Success,
    CertStatus::Failed,
    CertStatus::NotReached,
];

/// True when some value of the TLSA column (with any certificate outcome) changes the
/// action for this MX and address status: only then is the TLSA lookup needed. The
/// tables stay the single source of truth for when DANE needs what (RFC 7672 §2.2.2
/// skips the lookup after an insecure address; the appliance's rows decide the rest).
pub fn depends_on_tlsa(mode: DaneMode, im: InsecureMx, mx: MxStatus, a: AddrStatus) -> bool {
    let mut actions = LOOKED_UP_TLSA.iter().flat_map(|&tlsa| {
        ALL_CERT
            .iter()
            .map(move |&cert| decide_with(mode, Inputs { mx, a, tlsa, cert }, im).action)
    });
    let first = actions.next();
    actions.any(|x| Some(x) != first)
}

/// True when the certificate column (a match, a mismatch, or no TLS at all) changes
/// the action for these statuses: only then is a connection needed. With a secure TLSA
/// RRset this is how the tables say "STARTTLS or nothing" (RFC 7672 §2.2), including
/// for an RRset without a usable record.
pub fn depends_on_cert(
    mode: DaneMode,
    im: InsecureMx,
    mx: MxStatus,
    a: AddrStatus,
    tlsa: TlsaStatus,
) -> bool {
    let mut actions = ALL_CERT
        .iter()
        .map(|&cert| decide_with(mode, Inputs { mx, a, tlsa, cert }, im).action);
    let first = actions.next();
    actions.any(|x| Some(x) != first)
}

fn cell_text<T: fmt::Debug>(c: &Cell<T>) -> String {
    match c {
        Cell::Any => String::new(),
        Cell::Is(v) => match format!("{v:?}").as_str() {
            "NxDomain" => "NXDOMAIN".to_string(),
            other => other.to_string(),
        },
    }
}

/// Tab-separated, as the appliance prints it: `Secure\tSecure\tInsecure\t\tDANE Fail`.
impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}",
            cell_text(&self.mx),
            cell_text(&self.a),
            cell_text(&self.tlsa),
            cell_text(&self.cert),
            self.action
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MX: [MxStatus; 4] = [
        MxStatus::Secure,
        MxStatus::Insecure,
        MxStatus::Bogus,
        MxStatus::TempFail,
    ];
    const A: [AddrStatus; 5] = [
        AddrStatus::Secure,
        AddrStatus::Insecure,
        AddrStatus::Bogus,
        AddrStatus::TempFail,
        AddrStatus::NotReached,
    ];
    const TLSA: [TlsaStatus; 7] = [
        TlsaStatus::Secure,
        TlsaStatus::Unusable,
        TlsaStatus::Insecure,
        TlsaStatus::Bogus,
        TlsaStatus::NxDomain,
        TlsaStatus::TempFail,
        TlsaStatus::NotReached,
    ];
    const CERT: [CertStatus; 3] = [
        CertStatus::Success,
        CertStatus::Failed,
        CertStatus::NotReached,
    ];
    const MODES: [DaneMode; 3] = [DaneMode::None, DaneMode::Opportunistic, DaneMode::Mandatory];

    fn all_inputs() -> Vec<Inputs> {
        let mut v = Vec::new();
        for mx in MX {
            for a in A {
                for tlsa in TLSA {
                    for cert in CERT {
                        v.push(Inputs { mx, a, tlsa, cert });
                    }
                }
            }
        }
        v
    }

    fn appliance_rows(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .filter(|r| r.origin == Origin::Appliance)
            .map(|r| r.to_string())
            .collect()
    }

    // The appliance's tables, as printed there, with "secure" capitalised,
    // "Fail" read as "Failed" in the certificate column, the arrows and the
    // margin note ("Mail will not be delivered for the marked arrows") removed.
    const SEED_MANDATORY: &str = "\
Secure	Secure	Secure	Success	DANE Success
Secure	Secure	Secure	Failed	DANE Fail
Secure	Secure	Insecure		DANE Fail
Secure	Secure	NXDOMAIN		DANE Fail
Secure	Secure	Bogus		DANE Fail
Secure	Insecure			DANE Fail
Secure	Bogus			DANE Fail
Insecure	Secure	Secure	Success	DANE Fail
Insecure	Secure	Secure	Failed	DANE Fail
Insecure	Secure	Insecure		DANE Fail
Insecure	Secure	NXDOMAIN		DANE Fail
Insecure	Secure	Bogus		DANE Fail
Insecure	Insecure			DANE Fail
Insecure	Bogus			DANE Fail
Bogus				DANE Fail";

    const SEED_OPPORTUNISTIC: &str = "\
Secure	Secure	Secure	Success	DANE Success
Secure	Secure	Secure	Failed	DANE Fail
Secure	Secure	Insecure		Fallback to opportunistic TLS flow
Secure	Secure	NXDOMAIN		Fallback to opportunistic TLS flow
Secure	Secure	Bogus		DANE Fail
Secure	Insecure			Fallback to opportunistic TLS flow
Secure	Bogus			DANE Fail
Insecure	Secure	Secure		Fallback to opportunistic TLS flow
Insecure	Secure	Insecure		Fallback to opportunistic TLS flow
Insecure	Secure	NXDOMAIN		Fallback to opportunistic TLS flow
Insecure	Secure	Bogus		DANE Fail
Insecure	Insecure			Fallback to opportunistic TLS flow
Insecure	Bogus			DANE Fail
Bogus				DANE Fail";

    #[test]
    fn appliance_rows_are_the_published_tables_line_by_line() {
        let expect: Vec<&str> = SEED_MANDATORY.lines().collect();
        assert_eq!(appliance_rows(MANDATORY), expect);
        let expect: Vec<&str> = SEED_OPPORTUNISTIC.lines().collect();
        assert_eq!(appliance_rows(OPPORTUNISTIC), expect);
        assert!(appliance_rows(NONE).is_empty());
    }

    #[test]
    fn appliance_rows_come_first() {
        for rows in [MANDATORY, OPPORTUNISTIC] {
            let first_ext = rows
                .iter()
                .position(|r| r.origin != Origin::Appliance)
                .unwrap();
            assert!(
                rows[first_ext..]
                    .iter()
                    .all(|r| r.origin != Origin::Appliance)
            );
        }
    }

    /// Every appliance row decides every input it matches: appliance rows never overlap,
    /// so the order among them does not matter.
    #[test]
    fn every_appliance_row_decides_its_inputs() {
        for mode in MODES {
            for (idx, row) in table(mode).iter().enumerate() {
                if row.origin != Origin::Appliance {
                    continue;
                }
                let matching: Vec<Inputs> = all_inputs()
                    .into_iter()
                    .filter(|i| row.matches(i))
                    .collect();
                assert!(!matching.is_empty(), "{mode:?} row {} is dead", idx + 1);
                for i in matching {
                    let d = decide(mode, i);
                    assert_eq!(d.line, idx + 1, "{mode:?} {i:?}");
                    assert_eq!(d.action, row.action, "{mode:?} {i:?}");
                }
            }
        }
    }

    #[test]
    fn tables_are_total_without_the_fail_closed_default() {
        for mode in MODES {
            for i in all_inputs() {
                let d = decide(mode, i);
                assert!(d.line >= 1, "{mode:?}: no row for {i:?}");
                assert!(table(mode)[d.line - 1].matches(&i));
            }
        }
    }

    #[test]
    fn every_row_is_reachable() {
        for mode in MODES {
            for line in 1..=table(mode).len() {
                assert!(
                    all_inputs().iter().any(|i| decide(mode, *i).line == line),
                    "{mode:?} line {line} is shadowed"
                );
            }
        }
    }

    fn is_full_success(i: &Inputs) -> bool {
        *i == Inputs {
            mx: MxStatus::Secure,
            a: AddrStatus::Secure,
            tlsa: TlsaStatus::Secure,
            cert: CertStatus::Success,
        }
    }

    #[test]
    fn mandatory_succeeds_only_on_all_secure_and_never_falls_back() {
        for i in all_inputs() {
            let action = decide(DaneMode::Mandatory, i).action;
            assert_eq!(action == Action::DaneSuccess, is_full_success(&i), "{i:?}");
            assert_ne!(action, Action::Fallback, "{i:?}");
        }
    }

    /// Which inputs a correct caller can produce: each step only after the
    /// previous one allowed it.
    fn reachable(i: &Inputs) -> bool {
        let a_reached = matches!(i.mx, MxStatus::Secure | MxStatus::Insecure);
        let tlsa_reached = a_reached && i.a == AddrStatus::Secure;
        (a_reached != (i.a == AddrStatus::NotReached))
            && (tlsa_reached != (i.tlsa == TlsaStatus::NotReached))
    }

    #[test]
    fn temporary_failures_defer_and_never_fall_back() {
        for mode in [DaneMode::Opportunistic, DaneMode::Mandatory] {
            for i in all_inputs().iter().filter(|i| reachable(i)) {
                let tempfail = i.mx == MxStatus::TempFail
                    || i.a == AddrStatus::TempFail
                    || i.tlsa == TlsaStatus::TempFail;
                let action = decide(mode, *i).action;
                assert_eq!(action == Action::TempFail, tempfail, "{mode:?} {i:?}");
            }
        }
        // Also with DANE None when the host cannot be reached at all.
        let i = Inputs {
            mx: MxStatus::TempFail,
            a: AddrStatus::NotReached,
            tlsa: TlsaStatus::NotReached,
            cert: CertStatus::NotReached,
        };
        assert_eq!(decide(DaneMode::None, i).action, Action::TempFail);
    }

    #[test]
    fn opportunistic_properties() {
        for i in all_inputs().iter().filter(|i| reachable(i)) {
            let action = decide(DaneMode::Opportunistic, *i).action;
            assert_eq!(action == Action::DaneSuccess, is_full_success(i), "{i:?}");
            // Anything bogus on the path fails.
            let bogus =
                i.mx == MxStatus::Bogus || i.a == AddrStatus::Bogus || i.tlsa == TlsaStatus::Bogus;
            if bogus {
                assert_eq!(action, Action::DaneFail, "{i:?}");
            }
            // A fully secure path with a secure TLSA never falls back.
            if i.mx == MxStatus::Secure && i.tlsa == TlsaStatus::Secure {
                assert_ne!(action, Action::Fallback, "{i:?}");
            }
        }
    }

    #[test]
    fn none_mode_falls_back_unless_unreachable() {
        for i in all_inputs() {
            let action = decide(DaneMode::None, i).action;
            let expect = if i.mx == MxStatus::TempFail || i.a == AddrStatus::TempFail {
                Action::TempFail
            } else {
                Action::Fallback
            };
            assert_eq!(action, expect, "{i:?}");
        }
    }

    #[test]
    fn rfc7672_insecure_mx_option() {
        let i = Inputs {
            mx: MxStatus::Insecure,
            a: AddrStatus::Secure,
            tlsa: TlsaStatus::Secure,
            cert: CertStatus::Success,
        };
        // Seed default: fallback / fail.
        assert_eq!(decide(DaneMode::Opportunistic, i).action, Action::Fallback);
        assert_eq!(decide(DaneMode::Mandatory, i).action, Action::DaneFail);
        assert_eq!(
            decide_with(DaneMode::Mandatory, i, InsecureMx::Appliance),
            decide(DaneMode::Mandatory, i)
        );
        // RFC 7672 §2.2.1: the host's TLSA is honoured, flagged.
        for mode in [DaneMode::Opportunistic, DaneMode::Mandatory] {
            let d = decide_with(mode, i, InsecureMx::Rfc7672);
            assert_eq!(d.action, Action::DaneSuccess);
            assert!(d.insecure_mx);
            let failed = Inputs {
                cert: CertStatus::Failed,
                ..i
            };
            assert_eq!(
                decide_with(mode, failed, InsecureMx::Rfc7672).action,
                Action::DaneFail
            );
        }
        // Secure MX and DANE None are unaffected.
        let secure = Inputs {
            mx: MxStatus::Secure,
            ..i
        };
        assert!(!decide_with(DaneMode::Mandatory, secure, InsecureMx::Rfc7672).insecure_mx);
        assert_eq!(
            decide_with(DaneMode::None, i, InsecureMx::Rfc7672).action,
            Action::Fallback
        );
    }

    #[test]
    fn secure_tlsa_without_tls_fails() {
        let i = Inputs {
            mx: MxStatus::Secure,
            a: AddrStatus::Secure,
            tlsa: TlsaStatus::Secure,
            cert: CertStatus::NotReached,
        };
        for mode in [DaneMode::Opportunistic, DaneMode::Mandatory] {
            let d = decide(mode, i);
            assert_eq!(d.action, Action::DaneFail);
            assert!(matches!(d.row.origin, Origin::Extension(why) if why.contains("plain text")));
        }
    }

    /// RFC 7672 §2.2: a secure TLSA RRset without a usable record means TLS is
    /// mandatory, but unauthenticated.
    #[test]
    fn unusable_tlsa_rrset_rows() {
        let i = |mx, cert| Inputs {
            mx,
            a: AddrStatus::Secure,
            tlsa: TlsaStatus::Unusable,
            cert,
        };
        // Opportunistic: TLS established (the certificate could not be checked) gives
        // unauthenticated TLS, from an extension row with its reason.
        let d = decide(
            DaneMode::Opportunistic,
            i(MxStatus::Secure, CertStatus::Failed),
        );
        assert_eq!(d.action, Action::TlsUnauthenticated);
        assert!(matches!(d.row.origin, Origin::Extension(why) if why.contains("unauthenticated")));
        // No STARTTLS / TLS failed: never plain text.
        let d = decide(
            DaneMode::Opportunistic,
            i(MxStatus::Secure, CertStatus::NotReached),
        );
        assert_eq!(d.action, Action::DaneFail);
        // Mandatory: DANE Fail whatever happened.
        for cert in CERT {
            for mx in [MxStatus::Secure, MxStatus::Insecure] {
                assert_eq!(
                    decide(DaneMode::Mandatory, i(mx, cert)).action,
                    Action::DaneFail
                );
            }
        }
        // An insecure MX falls back as with any secure TLSA RRset (the appliance's rows), unless
        // RFC 7672 §2.2.1 is chosen.
        assert_eq!(
            decide(
                DaneMode::Opportunistic,
                i(MxStatus::Insecure, CertStatus::Failed)
            )
            .action,
            Action::Fallback
        );
        assert_eq!(
            decide_with(
                DaneMode::Opportunistic,
                i(MxStatus::Insecure, CertStatus::Failed),
                InsecureMx::Rfc7672
            )
            .action,
            Action::TlsUnauthenticated
        );
        // Only Opportunistic ever gives unauthenticated TLS, and only for this status
        // after TLS was established.
        for mode in MODES {
            for inp in all_inputs() {
                if decide(mode, inp).action == Action::TlsUnauthenticated {
                    assert_eq!(mode, DaneMode::Opportunistic);
                    assert_eq!(inp.tlsa, TlsaStatus::Unusable);
                    assert_ne!(inp.cert, CertStatus::NotReached);
                }
            }
        }
    }

    #[test]
    fn what_the_tables_need() {
        use DaneMode::{Mandatory, Opportunistic};
        let (s, im) = (MxStatus::Secure, InsecureMx::Appliance);
        // A secure address: the TLSA column matters in both DANE modes.
        for mode in [Mandatory, Opportunistic] {
            assert!(depends_on_tlsa(mode, im, s, AddrStatus::Secure));
            // An insecure address: decided without TLSA (RFC 7672 §2.2.2).
            assert!(!depends_on_tlsa(mode, im, s, AddrStatus::Insecure));
            // A secure, usable TLSA RRset needs the certificate.
            assert!(depends_on_cert(
                mode,
                im,
                s,
                AddrStatus::Secure,
                TlsaStatus::Secure
            ));
        }
        // An unusable RRset needs a connection (TLS) only where it can deliver.
        let u = TlsaStatus::Unusable;
        assert!(depends_on_cert(Opportunistic, im, s, AddrStatus::Secure, u));
        assert!(!depends_on_cert(Mandatory, im, s, AddrStatus::Secure, u));
        // No TLSA: the appliance's fallback needs no connection here.
        assert!(!depends_on_cert(
            Opportunistic,
            im,
            s,
            AddrStatus::Secure,
            TlsaStatus::NxDomain
        ));
        assert!(!depends_on_tlsa(DaneMode::None, im, s, AddrStatus::Secure));
    }
}
