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
use danegate_smtp::{SmtpClient, SmtpError, Timeouts};
use danegate_tls::{
    DaneVerifier, VerifyOutcome, client_config, openssl_cipher_name, protocol_name, server_name,
};
use hickory_proto::rr::RData;

use crate::{
    IpPreference,
    events::{Event, Sec, Verdict},
    mx_walk::{FamilyAnswer, MxFailure, MxHost, addresses, ips, mx_hosts, text},
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

struct TlsaLookup {
    /// The TLSA base domain that gave the answer (or the last one tried).
    base: Name,
    result: Result<Answer, LookupError>,
    /// Names the certificate may carry (DANE-TA): base domain, MX host, expanded host.
    reference_ids: ReferenceIds,
}

struct Walk<'a> {
    resolver: &'a Resolver,
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
    let mut walk = Walk {
        resolver,
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
                HostResult::Success(s) => return (Verdict::DaneSuccess, Some(*s), None),
                HostResult::Fallback => return (Verdict::Fallback, None, Some(hname)),
                HostResult::Unauthenticated(s) => {
                    return (Verdict::Fallback, Some(*s), Some(hname));
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

    /// RFC 7672 §2.2.2: with a secure CNAME chain, the expanded name first, then the
    /// original name if the expanded one has (securely) no TLSA.
    async fn tlsa_lookup(&self, host: &MxHost, addr: &Answer) -> TlsaLookup {
        let expanded = addr.final_name().clone();
        let mut bases = vec![expanded.clone()];
        if expanded != host.name {
            bases.push(host.name.clone());
        }
        let mut refs = ReferenceIds::new([text(&expanded), text(&host.name)]);
        let mut last = None;
        for base in bases {
            let qname = match Name::from_str(&format!("_{}._tcp", self.opts.port))
                .and_then(|p| p.append_domain(&base))
            {
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
            let result = self.resolver.lookup(&qname, RecordType::TLSA).await;
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
                    let set =
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
                        }));
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
        let port = self.opts.port;
        self.emit(Event::Connecting { ip, port });
        let mut client = match SmtpClient::connect(
            SocketAddr::new(ip, port),
            self.opts.local,
            self.opts.timeouts,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                self.emit(Event::ConnectFailed {
                    ip,
                    port,
                    error: e.to_string(),
                });
                return AddrResult::TempFail;
            }
        };
        self.emit(Event::Connected {
            ip,
            local: client.local_addr().ip(),
        });
        let usable = set.usable().len();
        self.emit(Event::TlsaFound {
            sec: Sec::Secure,
            host: hname.clone(),
            domain: domain.clone(),
            base: base.clone(),
            records,
            usable,
        });
        self.emit(Event::CheckingTls);
        let all_unusable = tstatus == TlsaStatus::Unusable;
        let verifier = Arc::new(if all_unusable {
            danegate_tls::danger::accept_any_certificate()
        } else {
            DaneVerifier::dane(set, t.reference_ids.clone())
        });
        let slot = verifier.outcome();
        let result = self.starttls(&mut client, ip, &base, verifier).await;
        let (cert, session) = match result {
            Err(cert) => (cert, None),
            Ok((protocol, cipher)) => {
                self.emit(Event::TlsEstablished {
                    protocol: protocol.clone(),
                    cipher: cipher.clone(),
                });
                let report = slot
                    .take()
                    .map(|r| r.outcome)
                    .unwrap_or(VerifyOutcome::Unchecked);
                let cert = if all_unusable {
                    self.emit(Event::CertUnchecked {
                        why: "the secure TLSA RRset has no usable record (RFC 7672 §2.2)".into(),
                    });
                    CertStatus::Failed
                } else {
                    match &report {
                        VerifyOutcome::Dane(_) => {
                            self.emit(Event::CertOk {
                                detail: report.to_string(),
                            });
                            self.emit(Event::TlsSucceeded {
                                domain: domain.clone(),
                            });
                            CertStatus::Success
                        }
                        other => {
                            self.emit(Event::CertFailed {
                                reason: other.to_string(),
                            });
                            CertStatus::Failed
                        }
                    }
                };
                (
                    cert,
                    Some(Session {
                        client,
                        host: hname.clone(),
                        addr: SocketAddr::new(ip, port),
                        protocol,
                        cipher,
                        verification: report,
                        dane: None,
                    }),
                )
            }
        };
        let d = self.decide(mxs, a, tstatus, cert);
        match (d.action, session) {
            (Action::DaneSuccess, Some(mut s)) => {
                s.dane = Some(Action::DaneSuccess);
                AddrResult::Success(Box::new(s))
            }
            (Action::TlsUnauthenticated, Some(mut s)) => {
                self.emit(Event::UnauthenticatedTls {
                    host: hname.clone(),
                    domain: domain.clone(),
                });
                s.dane = Some(Action::TlsUnauthenticated);
                AddrResult::Unauthenticated(Box::new(s))
            }
            (Action::DaneSuccess | Action::TlsUnauthenticated, None) => AddrResult::Fail,
            (action, s) => {
                if let Some(s) = s {
                    let _ = s.client.quit().await;
                }
                addr_action(action)
            }
        }
    }

    /// EHLO + STARTTLS + handshake. Any failure is reported; the caller never goes on
    /// in clear text after a secure TLSA RRset.
    async fn starttls(
        &mut self,
        client: &mut SmtpClient,
        ip: IpAddr,
        base: &str,
        verifier: Arc<DaneVerifier>,
    ) -> Result<(String, String), CertStatus> {
        let slot = verifier.outcome();
        let caps = match client.ehlo(&self.opts.helo_name).await {
            Ok(c) => c,
            Err(e) => {
                self.emit(Event::StartTlsFailed {
                    ip,
                    error: format!("EHLO failed: {e}"),
                });
                return Err(CertStatus::NotReached);
            }
        };
        if !caps.starttls {
            self.emit(Event::StartTlsFailed {
                ip,
                error:
                    "STARTTLS not offered; a secure TLSA RRset forbids plain text (RFC 7672 §2.2)"
                        .into(),
            });
            return Err(CertStatus::NotReached);
        }
        let config = match client_config(verifier) {
            Ok(c) => c,
            Err(e) => {
                self.emit(Event::TlsFailed {
                    error: format!("TLS configuration: {e}"),
                });
                return Err(CertStatus::NotReached);
            }
        };
        let sni = match server_name(base) {
            Ok(s) => s,
            Err(e) => {
                self.emit(Event::TlsFailed {
                    error: format!("bad SNI name {base}: {e}"),
                });
                return Err(CertStatus::NotReached);
            }
        };
        match client.starttls(config, sni).await {
            Ok(info) => Ok((
                protocol_name(info.protocol).to_string(),
                openssl_cipher_name(info.cipher_suite).to_string(),
            )),
            Err(e) => {
                // The verifier said why: that is the line, not rustls's wrapping of it.
                if let Some(report) = slot.get()
                    && let VerifyOutcome::Failed(f) = &report.outcome
                {
                    self.emit(Event::CertFailed {
                        reason: f.to_string(),
                    });
                    return Err(CertStatus::Failed);
                }
                match e {
                    SmtpError::StartTlsNotOffered | SmtpError::StartTlsRefused { .. } => {
                        self.emit(Event::StartTlsFailed {
                            ip,
                            error: e.to_string(),
                        })
                    }
                    other => self.emit(Event::TlsFailed {
                        error: other.to_string(),
                    }),
                }
                Err(CertStatus::NotReached)
            }
        }
    }
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

enum HostResult {
    Success(Box<Session>),
    Fallback,
    /// TLS without authentication (a secure TLSA RRset without a usable record).
    Unauthenticated(Box<Session>),
    Fail,
    TempFail,
}

enum AddrResult {
    Success(Box<Session>),
    Fallback,
    Unauthenticated(Box<Session>),
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
