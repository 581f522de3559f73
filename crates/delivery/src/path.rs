//! The walk from a domain to an authenticated SMTP session.

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use danegate_dane::{
    TlsaSet, TlsaSetStatus,
    names::ReferenceIds,
    policy::{
        Action, AddrStatus, CertStatus, DaneMode, Decision, Inputs, InsecureMx, MxStatus,
        TlsaStatus, decide_with, depends_on_cert, depends_on_tlsa,
    },
};
use danegate_dns::{Answer, AnswerKind, LookupError, Name, RecordType, Resolver, Security};
use danegate_smtp::{SmtpClient, Timeouts};
use danegate_tls::VerifyOutcome;
use hickory_proto::rr::RData;

use crate::{
    IpPreference,
    events::{Event, Sec, Verdict},
    mx_walk::{FamilyAnswer, MxFailure, MxHost, addresses, ips, mx_hosts, text},
    probe::{LiveProbe, ProbeRequest, Probed, TlsProbe},
};

/// How to walk the path.
#[derive(Clone, Debug)]
pub struct Options {
    /// The DANE Support mode whose table decides.
    pub mode: DaneMode,
    /// The appliance's tables (default) or RFC 7672 §2.2.1 for an insecure MX RRset.
    pub insecure_mx: InsecureMx,
    /// The SMTP port (25; tests use others). TLSA is looked up at `_<port>._tcp`.
    pub port: u16,
    /// Address families and order.
    pub ip_preference: IpPreference,
    /// Per-step SMTP timeouts.
    pub timeouts: Timeouts,
    /// Our EHLO name.
    pub helo_name: String,
    /// Local address to connect from (the outbound interface), if any.
    pub local: Option<IpAddr>,
    /// Shuffle MX hosts of equal preference (RFC 5321 §5.1); off for reproducible tests.
    pub shuffle: bool,
    /// Only MX hosts this filter keeps are tried (an MTA-STS policy's `mx` patterns,
    /// RFC 8461 §4.1); `None` keeps all.
    pub mx_filter: Option<MxFilter>,
    /// On the TLS Support path, judge the certificate with PKIX (MX host or recipient
    /// domain) even in the modes that do not check it, without failing on it: the
    /// session's `verification` says what PKIX found (an MTA-STS policy in mode
    /// testing, RFC 8461 §5).
    pub judge_pkix: bool,
}

/// A predicate over MX host names (lower-case, no trailing dot).
#[derive(Clone)]
pub struct MxFilter(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl MxFilter {
    /// A filter keeping the hosts for which `keep` is true.
    pub fn new(keep: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        MxFilter(Arc::new(keep))
    }

    /// True when `host` is kept.
    pub fn keeps(&self, host: &str) -> bool {
        (self.0)(host)
    }
}

impl std::fmt::Debug for MxFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MxFilter")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: DaneMode::Mandatory,
            insecure_mx: InsecureMx::Appliance,
            port: 25,
            ip_preference: IpPreference::default(),
            timeouts: Timeouts::uniform(Duration::from_secs(30)),
            helo_name: "localhost".into(),
            local: None,
            shuffle: true,
            mx_filter: None,
            judge_pkix: false,
        }
    }
}

/// An SMTP session ready for a transaction, and what authenticated it.
pub struct Session {
    /// The client, after EHLO (and STARTTLS when TLS was negotiated).
    pub client: SmtpClient,
    /// The MX host name.
    pub host: String,
    /// The peer address.
    pub addr: SocketAddr,
    /// `TLSv1.2` etc.
    pub protocol: String,
    /// OpenSSL-style cipher name.
    pub cipher: String,
    /// What the certificate check decided.
    pub verification: VerifyOutcome,
    /// The DANE table's action that gave this session: `DaneSuccess` (authenticated),
    /// `TlsUnauthenticated` (a secure TLSA RRset without a usable record, RFC 7672
    /// §2.2); `None` on the TLS Support path.
    pub dane: Option<Action>,
    /// What the connection showed of TLS: the chain the server presented, or why
    /// there was none (for the shadow evaluation, [`crate::shadow`]).
    pub tls_seen: crate::shadow::TlsSeen,
}

/// The result of [`verify_destination`].
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Every step, in order.
    pub events: Vec<Event>,
    /// For DANE SUCCESS: the authenticated session (the gateway delivers over it;
    /// `daneverify` sends QUIT). For a fallback decided by
    /// [`Action::TlsUnauthenticated`] (RFC 7672 §2.2): the unauthenticated TLS session,
    /// which is the only way to deliver ([`Session::dane`] says so); for any other
    /// fallback, `None`.
    pub session: Option<Session>,
    /// For a fallback: the MX host whose row said so.
    pub fallback_host: Option<String>,
}

/// Address and TLSA lookups of one host, done ahead (in parallel for all hosts).
struct HostLookups {
    /// Per family, in preference order.
    addrs: Vec<FamilyAnswer>,
    /// TLSA answers at the candidate base domains (expanded name first, RFC 7672 §2.2.2).
    tlsa: Option<TlsaLookup>,
}

pub(crate) struct TlsaLookup {
    /// The TLSA base domain that gave the answer (or the last one tried).
    pub(crate) base: Name,
    pub(crate) result: Result<Answer, LookupError>,
    /// Names the certificate may carry (DANE-TA): base domain, MX host, expanded host.
    pub(crate) reference_ids: ReferenceIds,
}

struct Walk<'a> {
    resolver: &'a Resolver,
    probe: &'a dyn TlsProbe,
    opts: &'a Options,
    domain: String,
    events: Vec<Event>,
    sink: &'a mut (dyn FnMut(&Event) + Send + Sync),
}

impl Walk<'_> {
    fn emit(&mut self, e: Event) {
        (self.sink)(&e);
        self.events.push(e);
    }
}

fn mx_status(s: &Security) -> MxStatus {
    match s {
        Security::Secure => MxStatus::Secure,
        Security::Insecure => MxStatus::Insecure,
        Security::Bogus(_) => MxStatus::Bogus,
    }
}

fn addr_status(s: &Security) -> AddrStatus {
    match s {
        Security::Secure => AddrStatus::Secure,
        Security::Insecure => AddrStatus::Insecure,
        Security::Bogus(_) => AddrStatus::Bogus,
    }
}

/// Walks the DANE path for `domain` and decides, emitting each step to `sink` as it
/// happens (RFC 7672 §2; the appliance's tables in docs/dane.md).
pub async fn verify_destination(
    resolver: &Resolver,
    domain: &str,
    opts: &Options,
    sink: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Outcome {
    verify_destination_with(resolver, &LiveProbe, domain, opts, sink).await
}

/// [`verify_destination`] with the TLS probe of each address given: the same walk,
/// lookups, tables and events; with a probe that keeps no session (a bulk audit sharing
/// handshakes), [`Outcome::session`] is `None` whatever the verdict.
pub async fn verify_destination_with(
    resolver: &Resolver,
    probe: &dyn TlsProbe,
    domain: &str,
    opts: &Options,
    sink: &mut (dyn FnMut(&Event) + Send + Sync),
) -> Outcome {
    let mut walk = Walk {
        resolver,
        probe,
        opts,
        domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        events: Vec::new(),
        sink,
    };
    let (verdict, session, fallback_host) = walk.run().await;
    let d = walk.domain.clone();
    walk.emit(Event::Verdict { verdict, domain: d });
    walk.emit(Event::Completed);
    Outcome {
        verdict,
        events: walk.events,
        session,
        fallback_host,
    }
}

type RunResult = (Verdict, Option<Session>, Option<String>);

impl Walk<'_> {
    async fn run(&mut self) -> RunResult {
        let domain = self.domain.clone();
        // 1. MX (RFC 7672 §2.2.1), hosts in preference order: the shared walk.
        let set = match mx_hosts(self.resolver, &domain, self.opts.shuffle).await {
            Ok(set) => set,
            Err(MxFailure::InvalidName) => {
                self.emit(Event::NoMailDomain {
                    domain: domain.clone(),
                    sec: Sec::Insecure,
                    why: "not a valid domain name".into(),
                });
                return (Verdict::DaneFailed, None, None);
            }
            Err(MxFailure::TempFail(error)) => {
                self.emit(Event::DnsTempFail {
                    what: format!("MX of {domain}"),
                    error,
                });
                return (Verdict::TempFail, None, None);
            }
            Err(MxFailure::Bogus(reason)) => {
                self.emit(Event::MxBogus {
                    domain: domain.clone(),
                    reason,
                });
                let d = self.decide(
                    MxStatus::Bogus,
                    AddrStatus::NotReached,
                    TlsaStatus::NotReached,
                    CertStatus::NotReached,
                );
                return (self.action_verdict(d.action), None, None);
            }
            Err(MxFailure::NxDomain(sec)) => {
                self.emit(Event::NoMailDomain {
                    domain: domain.clone(),
                    sec: Sec::from(&sec),
                    why: "the domain does not exist (NXDOMAIN)".into(),
                });
                return (Verdict::DaneFailed, None, None);
            }
            Err(MxFailure::NullMx(sec)) => {
                self.emit(Event::NoMailDomain {
                    domain: domain.clone(),
                    sec: Sec::from(&sec),
                    why: "null MX (RFC 7505): the domain accepts no mail".into(),
                });
                return (Verdict::DaneFailed, None, None);
            }
        };
        let mxs = mx_status(&set.security);
        let sec = Sec::from(&set.security);
        let implicit = set.implicit;
        let hosts: Vec<MxHost> = match &self.opts.mx_filter {
            Some(f) => set
                .hosts
                .into_iter()
                .filter(|h| f.keeps(&text(&h.name)))
                .collect(),
            None => set.hosts,
        };
        // 2. Addresses and TLSA of every host, in parallel (they do not depend on each other).
        let lookups: Vec<HostLookups> =
            futures_util::future::join_all(hosts.iter().map(|h| self.host_lookups(h, mxs))).await;
        // 3. Walk the hosts in preference order.
        let mut saw_fail = false;
        let n_hosts = hosts.len();
        for (i, (host, look)) in hosts.iter().zip(lookups).enumerate() {
            let hname = text(&host.name);
            self.emit(Event::MxFound {
                sec,
                host: hname.clone(),
                preference: host.preference,
                domain: domain.clone(),
                implicit,
            });
            if sec == Sec::Insecure {
                self.emit(Event::MxInsecureProceed {
                    host: hname.clone(),
                });
            }
            match self.try_host(host, mxs, look).await {
                HostResult::Success(s) => return (Verdict::DaneSuccess, s.map(|s| *s), None),
                HostResult::Fallback => return (Verdict::Fallback, None, Some(hname)),
                HostResult::Unauthenticated(s) => {
                    return (Verdict::Fallback, s.map(|s| *s), Some(hname));
                }
                HostResult::Fail => saw_fail = true,
                HostResult::TempFail => {}
            }
            if i + 1 < n_hosts {
                self.emit(Event::NextMx {
                    domain: domain.clone(),
                });
            }
        }
        if saw_fail {
            (Verdict::DaneFailed, None, None)
        } else {
            (Verdict::TempFail, None, None)
        }
    }

    fn decide(
        &mut self,
        mx: MxStatus,
        a: AddrStatus,
        tlsa: TlsaStatus,
        cert: CertStatus,
    ) -> Decision {
        let d = decide_with(
            self.opts.mode,
            Inputs { mx, a, tlsa, cert },
            self.opts.insecure_mx,
        );
        self.emit(Event::Decision {
            action: d.action.to_string(),
            row: format!(
                "{:?} table line {}: {}",
                self.opts.mode,
                d.line,
                d.row.to_string().replace('\t', " | ")
            ),
        });
        d
    }

    fn action_verdict(&self, action: Action) -> Verdict {
        match action {
            Action::DaneSuccess => Verdict::DaneSuccess,
            Action::DaneFail => Verdict::DaneFailed,
            Action::Fallback | Action::TlsUnauthenticated => Verdict::Fallback,
            Action::TempFail => Verdict::TempFail,
        }
    }

    async fn host_lookups(&self, host: &MxHost, mx: MxStatus) -> HostLookups {
        let addrs = addresses(self.resolver, &host.name, self.opts.ip_preference).await;
        // TLSA only if some address answer is secure and the table may care (RFC 7672 §2.2.2:
        // an insecure address answer means no TLSA lookup).
        let secure_addr = addrs.iter().find_map(|(_, r)| match r {
            Ok(a) if a.security.is_secure() && a.kind == AnswerKind::Data => Some(a.clone()),
            _ => None,
        });
        let tlsa = match secure_addr {
            Some(a)
                if depends_on_tlsa(
                    self.opts.mode,
                    self.opts.insecure_mx,
                    mx,
                    AddrStatus::Secure,
                ) =>
            {
                Some(self.tlsa_lookup(host, &a).await)
            }
            _ => None,
        };
        HostLookups { addrs, tlsa }
    }

    async fn tlsa_lookup(&self, host: &MxHost, addr: &Answer) -> TlsaLookup {
        tlsa_lookup(self.resolver, self.opts.port, host, addr).await
    }

    async fn try_host(&mut self, host: &MxHost, mxs: MxStatus, look: HostLookups) -> HostResult {
        let domain = self.domain.clone();
        let hname = text(&host.name);
        // The addresses to try, each with the status of the answer that gave it.
        let mut attempts: Vec<(RecordType, IpAddr, Security)> = Vec::new();
        let mut bogus: Option<(RecordType, String)> = None;
        let mut temp = false;
        for (rtype, result) in &look.addrs {
            match result {
                Err(e) => {
                    temp = true;
                    self.emit(Event::DnsTempFail {
                        what: format!("{rtype} of {hname}"),
                        error: e.to_string(),
                    });
                }
                Ok(a) => {
                    if let Security::Bogus(r) = &a.security {
                        if bogus.is_none() {
                            bogus = Some((*rtype, r.to_string()));
                        }
                        continue;
                    }
                    for ip in ips(a) {
                        attempts.push((*rtype, ip, a.security.clone()));
                    }
                }
            }
        }
        if let Some((rtype, reason)) = bogus {
            self.emit(Event::AddrBogus {
                rtype: rtype.to_string(),
                host: hname.clone(),
                domain: domain.clone(),
                reason,
            });
            // A bogus address answer decides for the host (RFC 7672 §2.1.2: try the next MX).
            let d = self.decide(
                mxs,
                AddrStatus::Bogus,
                TlsaStatus::NotReached,
                CertStatus::NotReached,
            );
            return match d.action {
                Action::Fallback => HostResult::Fallback,
                Action::TempFail => HostResult::TempFail,
                _ => HostResult::Fail,
            };
        }
        if attempts.is_empty() {
            if temp {
                return HostResult::TempFail;
            }
            self.emit(Event::NoAddress {
                host: hname.clone(),
                domain: domain.clone(),
            });
            return HostResult::TempFail;
        }
        let mut saw_fail = false;
        for (j, (rtype, ip, sec)) in attempts.iter().enumerate() {
            self.emit(Event::AddrFound {
                sec: Sec::from(sec),
                rtype: rtype.to_string(),
                ip: *ip,
                host: hname.clone(),
                domain: domain.clone(),
            });
            let r = self.try_addr(host, mxs, *ip, sec, look.tlsa.as_ref()).await;
            match r {
                AddrResult::Success(s) => return HostResult::Success(s),
                AddrResult::Fallback => return HostResult::Fallback,
                AddrResult::Unauthenticated(s) => return HostResult::Unauthenticated(s),
                AddrResult::Fail => saw_fail = true,
                AddrResult::TempFail => {}
                // A TLSA lookup failure makes the whole host unusable (RFC 7672 §2.1.2).
                AddrResult::HostUnusable => return HostResult::TempFail,
            }
            if let Some((nt, nip, _)) = attempts.get(j + 1) {
                self.emit(Event::NextAddr {
                    rtype: nt.to_string(),
                    ip: *nip,
                    host: hname.clone(),
                    domain: domain.clone(),
                });
            }
        }
        if saw_fail {
            HostResult::Fail
        } else {
            HostResult::TempFail
        }
    }

    async fn try_addr(
        &mut self,
        host: &MxHost,
        mxs: MxStatus,
        ip: IpAddr,
        sec: &Security,
        tlsa: Option<&TlsaLookup>,
    ) -> AddrResult {
        let (mode, im) = (self.opts.mode, self.opts.insecure_mx);
        let a = addr_status(sec);
        let domain = self.domain.clone();
        let hname = text(&host.name);
        if !depends_on_tlsa(mode, im, mxs, a) {
            // The table decides without TLSA (e.g. insecure MX or address): no connection.
            let d = self.decide(mxs, a, TlsaStatus::Insecure, CertStatus::Failed);
            return addr_action(d.action);
        }
        let Some(t) = tlsa else {
            let d = self.decide(mxs, a, TlsaStatus::NotReached, CertStatus::NotReached);
            return addr_action(d.action);
        };
        let base = text(&t.base);
        let (tstatus, set) = match &t.result {
            Err(e) => {
                self.emit(Event::DnsTempFail {
                    what: format!("TLSA of {base}"),
                    error: e.to_string(),
                });
                self.decide(mxs, a, TlsaStatus::TempFail, CertStatus::NotReached);
                return AddrResult::HostUnusable;
            }
            Ok(ans) => match (&ans.security, ans.kind) {
                (Security::Bogus(r), _) => {
                    self.emit(Event::TlsaBogus {
                        host: hname.clone(),
                        domain: domain.clone(),
                        base: base.clone(),
                        reason: r.to_string(),
                    });
                    (TlsaStatus::Bogus, None)
                }
                (Security::Insecure, AnswerKind::Data) => {
                    self.emit(Event::TlsaFound {
                        sec: Sec::Insecure,
                        host: hname.clone(),
                        domain: domain.clone(),
                        base: base.clone(),
                        records: records_text(ans),
                        usable: 0,
                    });
                    (TlsaStatus::Insecure, None)
                }
                (Security::Insecure, _) => {
                    self.emit(Event::TlsaNone {
                        sec: Sec::Insecure,
                        host: hname.clone(),
                        domain: domain.clone(),
                        base: base.clone(),
                    });
                    (TlsaStatus::Insecure, None)
                }
                (Security::Secure, AnswerKind::Data) => {
                    let set = tlsa_set(ans);
                    // RFC 7672 §2.2: an RRset without a usable record is a status of
                    // its own (TLS mandatory, unauthenticated); the tables decide.
                    let status = match set.status() {
                        TlsaSetStatus::Usable => TlsaStatus::Secure,
                        TlsaSetStatus::AllUnusable => TlsaStatus::Unusable,
                        TlsaSetStatus::Empty => TlsaStatus::NxDomain,
                    };
                    (status, Some((set, records_text(ans))))
                }
                (Security::Secure, _) => {
                    self.emit(Event::TlsaNone {
                        sec: Sec::Secure,
                        host: hname.clone(),
                        domain: domain.clone(),
                        base: base.clone(),
                    });
                    (TlsaStatus::NxDomain, None)
                }
            },
        };
        let Some((set, records)) = set else {
            let d = self.decide(mxs, a, tstatus, CertStatus::NotReached);
            return addr_action(d.action);
        };
        if !depends_on_cert(mode, im, mxs, a, tstatus) {
            self.emit(Event::TlsaFound {
                sec: Sec::Secure,
                host: hname.clone(),
                domain: domain.clone(),
                base: base.clone(),
                records,
                usable: set.usable().len(),
            });
            let d = self.decide(mxs, a, tstatus, CertStatus::Failed);
            return addr_action(d.action);
        }
        // Connect, then STARTTLS: secure TLSA means TLS or nothing (RFC 7672 §2.2).
        let usable = set.usable().len();
        let found = Event::TlsaFound {
            sec: Sec::Secure,
            host: hname.clone(),
            domain: domain.clone(),
            base: base.clone(),
            records: records.clone(),
            usable,
        };
        let probe = self.probe;
        let req = ProbeRequest {
            host: &hname,
            ip,
            port: self.opts.port,
            local: self.opts.local,
            timeouts: self.opts.timeouts,
            helo: &self.opts.helo_name,
            base: &base,
            tlsa: &set,
            records: &records,
            reference_ids: &t.reference_ids,
            all_unusable: tstatus == TlsaStatus::Unusable,
        };
        let mut found = Some(found);
        let mut steps = |e: Event| {
            let connected = matches!(e, Event::Connected { .. });
            self.emit(e);
            // The TLSA line comes once the connection is up, as the appliance prints it.
            if connected && let Some(f) = found.take() {
                self.emit(f);
                self.emit(Event::CheckingTls);
            }
        };
        let Probed { cert, tls, client } = probe.probe(req, &mut steps).await;
        if found.is_some() {
            // Never connected (refused, timed out): a temporary failure of this
            // address, not a DANE decision; the next address or host is tried.
            return AddrResult::TempFail;
        }
        if cert == CertStatus::Success {
            self.emit(Event::TlsSucceeded {
                domain: domain.clone(),
            });
        }
        let established = tls.is_some();
        let session = match (tls, client) {
            (Some(info), Some(client)) => Some(Box::new(Session {
                client,
                host: hname.clone(),
                addr: SocketAddr::new(ip, self.opts.port),
                protocol: info.protocol,
                cipher: info.cipher,
                verification: info.verification,
                dane: None,
                tls_seen: crate::shadow::TlsSeen::Chain(info.chain),
            })),
            _ => None,
        };
        let d = self.decide(mxs, a, tstatus, cert);
        match (d.action, established) {
            (Action::DaneSuccess, true) => AddrResult::Success(session.map(|mut s| {
                s.dane = Some(Action::DaneSuccess);
                s
            })),
            (Action::TlsUnauthenticated, true) => {
                self.emit(Event::UnauthenticatedTls {
                    host: hname.clone(),
                    domain: domain.clone(),
                });
                AddrResult::Unauthenticated(session.map(|mut s| {
                    s.dane = Some(Action::TlsUnauthenticated);
                    s
                }))
            }
            (Action::DaneSuccess | Action::TlsUnauthenticated, false) => AddrResult::Fail,
            (action, _) => {
                if let Some(s) = session {
                    let _ = s.client.quit().await;
                }
                addr_action(action)
            }
        }
    }
}

/// RFC 7672 §2.2.2: with a secure CNAME chain, the expanded name first, then the
/// original name if the expanded one has (securely) no TLSA.
pub(crate) async fn tlsa_lookup(
    resolver: &Resolver,
    port: u16,
    host: &MxHost,
    addr: &Answer,
) -> TlsaLookup {
    let expanded = addr.final_name().clone();
    let mut bases = vec![expanded.clone()];
    if expanded != host.name {
        bases.push(host.name.clone());
    }
    let mut refs = ReferenceIds::new([text(&expanded), text(&host.name)]);
    let mut last = None;
    for base in bases {
        let qname =
            match Name::from_str(&format!("_{}._tcp", port)).and_then(|p| p.append_domain(&base)) {
                Ok(n) => n,
                Err(e) => {
                    last = Some(TlsaLookup {
                        base: base.clone(),
                        result: Err(LookupError::Network(format!(
                            "bad TLSA name for {base}: {e}"
                        ))),
                        reference_ids: refs.clone(),
                    });
                    break;
                }
            };
        let result = resolver.lookup(&qname, RecordType::TLSA).await;
        let secure_absent =
            matches!(&result, Ok(a) if a.security.is_secure() && a.kind != AnswerKind::Data);
        // A CNAME at _25._tcp does not change the base domain (RFC 7672 §2.2.3).
        refs.push(&text(&base));
        last = Some(TlsaLookup {
            base: base.clone(),
            result,
            reference_ids: refs.clone(),
        });
        if !secure_absent {
            break;
        }
    }
    last.unwrap_or(TlsaLookup {
        base: host.name.clone(),
        result: Err(LookupError::Network("no TLSA base domain".into())),
        reference_ids: refs,
    })
}

/// The TLSA records of an answer, sorted into usable and unusable ones (RFC 7672 §3).
pub(crate) fn tlsa_set(ans: &Answer) -> TlsaSet {
    TlsaSet::from_rdata(ans.records.iter().filter_map(|r| match &r.data {
        RData::TLSA(t) => {
            let mut v = vec![
                u8::from(t.cert_usage),
                u8::from(t.selector),
                u8::from(t.matching),
            ];
            v.extend_from_slice(&t.cert_data);
            Some(v)
        }
        _ => None,
    }))
}

fn records_text(a: &Answer) -> Vec<String> {
    a.records
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(t) => {
                let hex = data_encoding::HEXLOWER.encode(&t.cert_data);
                Some(format!(
                    "{} {} {} {hex}",
                    u8::from(t.cert_usage),
                    u8::from(t.selector),
                    u8::from(t.matching)
                ))
            }
            _ => None,
        })
        .collect()
}

/// A session is `None` only with a probe that does not keep it (a bulk audit).
enum HostResult {
    Success(Option<Box<Session>>),
    Fallback,
    /// TLS without authentication (a secure TLSA RRset without a usable record).
    Unauthenticated(Option<Box<Session>>),
    Fail,
    TempFail,
}

enum AddrResult {
    Success(Option<Box<Session>>),
    Fallback,
    Unauthenticated(Option<Box<Session>>),
    Fail,
    TempFail,
    HostUnusable,
}

fn addr_action(a: Action) -> AddrResult {
    match a {
        // Success and unauthenticated TLS need the session: without one, no delivery.
        Action::DaneSuccess | Action::TlsUnauthenticated | Action::DaneFail => AddrResult::Fail,
        Action::Fallback => AddrResult::Fallback,
        Action::TempFail => AddrResult::TempFail,
    }
}
