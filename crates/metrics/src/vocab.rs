//! The fixed vocabularies of label values. Each enum lists every value its label can
//! take (`ALL`), so the exporter can register each series at zero at start and
//! `docs/metrics.md` can name them.

macro_rules! label_enum {
    (
        $(#[$m:meta])*
        $name:ident {
            $( $(#[$vm:meta])* $v:ident => $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vm])* $v ),+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// Every label value, in the order of [`Self::ALL`].
            pub const LABELS: &'static [&'static str] = &[$($s),+];

            /// The label value.
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }
        }
    };
}

label_enum! {
    /// `direction`: inbound (the listeners) or outbound (deliveries).
    Direction {
        /// Connections from internal mail servers to the listeners.
        In => "in",
        /// Connections from the delivery agent to destination servers.
        Out => "out",
    }
}

label_enum! {
    /// `reason` of a deferral or a bounce: why the recipient was not delivered, from
    /// the RFC 3463 enhanced status code the gateway recorded (see [`crate::classify`]).
    ReasonClass {
        /// The destination server answered 4xx/5xx (RFC 3463 `X.0.0` as recorded).
        Remote => "remote",
        /// DANE verification failed or cannot apply (`X.7.x` naming DANE).
        Dane => "dane",
        /// The profile's TLS Support setting was not met (`X.7.x` otherwise).
        Tls => "tls",
        /// A DNS failure: lookup failed, bogus answer, no address (`X.4.3`, `X.4.4`).
        Dns => "dns",
        /// The domain does not exist or accepts no mail: NXDOMAIN, null MX (`X.1.x`).
        Domain => "domain",
        /// No connection, or the connection was lost (`X.4.1`, `X.4.2`, other `X.4.x`).
        Connection => "connection",
        /// Not tried: the destination is suspended after a failed attempt.
        Suspended => "suspended",
        /// Bounced because the bounce profile's retry limit was reached.
        Expired => "expired",
        /// Anything else.
        Other => "other",
    }
}

label_enum! {
    /// `kind` of a DSN the gateway queued (RFC 3464).
    DsnKind {
        /// A failure report (hard bounce or retries exhausted).
        Failed => "failed",
        /// A delay warning.
        Delayed => "delayed",
    }
}

label_enum! {
    /// `verdict` of one DANE walk for a destination (the appliance's `daneverify`
    /// words; RFC 7672 §2.2).
    DaneVerdict {
        /// `DANE SUCCESS`: a server was authenticated with DANE.
        Success => "success",
        /// `DANE FAILED`: not deliverable under DANE now.
        Failed => "failed",
        /// `DANE FALLBACK`: the table falls back to the profile's TLS Support (or to
        /// unauthenticated TLS for a wholly unusable TLSA RRset).
        Fallback => "fallback",
        /// `DANE TEMPORARY FAILURE`: DNS SERVFAIL/timeout or no server reachable.
        Tempfail => "tempfail",
    }
}

label_enum! {
    /// `table` of a DANE decision: the appliance's decision table in force.
    DaneTable {
        /// DANE Mandatory.
        Mandatory => "mandatory",
        /// DANE Opportunistic.
        Opportunistic => "opportunistic",
        /// DANE None (a table with no rows: never decides).
        None => "none",
        /// Not recognised (a new table name; should not happen).
        Unknown => "unknown",
    }
}

label_enum! {
    /// `action` of a DANE decision-table row.
    DaneAction {
        /// DANE Success.
        DaneSuccess => "dane_success",
        /// DANE Fail.
        DaneFail => "dane_fail",
        /// Fallback to the TLS Support flow.
        Fallback => "fallback",
        /// DANE UNUSABLE TLSA: TLS mandatory, unauthenticated (RFC 7672 §2.2).
        TlsUnauthenticated => "tls_unauthenticated",
        /// Temporary failure (defer).
        Tempfail => "tempfail",
        /// Not recognised.
        Unknown => "unknown",
    }
}

label_enum! {
    /// `result` of an MTA-STS policy check (RFC 8461) for a delivery.
    MtaStsResult {
        /// An `enforce` or `testing` policy applied and was met (MX pattern and PKIX).
        Validated => "validated",
        /// An `enforce` policy was not met: the message stays queued (RFC 8461 §5.1).
        Failed => "failed",
        /// A `testing` policy was not met: delivered anyway, reported (RFC 8461 §5.2).
        TestingFailed => "testing_failed",
        /// The domain has no policy (or mode `none`).
        NoPolicy => "no_policy",
        /// The policy could not be fetched or parsed (TLSRPT `sts-policy-fetch-error`).
        PolicyError => "policy_error",
    }
}

label_enum! {
    /// `status` of a DNSSEC-validated lookup (the `danegate lookup` status words).
    DnsStatus {
        /// Validated from a trust anchor.
        Secure => "secure",
        /// Provably unsigned.
        Insecure => "insecure",
        /// Validation failed.
        Bogus => "bogus",
        /// No answer: SERVFAIL, REFUSED, network error or no usable upstream.
        Servfail => "servfail",
        /// No answer in time.
        Timeout => "timeout",
    }
}

label_enum! {
    /// `error` of a failed exchange with one upstream resolver.
    UpstreamFailure {
        /// No reply within the timeout.
        Timeout => "timeout",
        /// RCODE SERVFAIL.
        Servfail => "servfail",
        /// RCODE REFUSED.
        Refused => "refused",
        /// Another error RCODE.
        OtherRcode => "other_rcode",
        /// Network error or an unparsable reply.
        Network => "network",
    }
}

label_enum! {
    /// `state` of queued recipients.
    RecipientState {
        /// Waiting (new or deferred) and not leased.
        Queued => "queued",
        /// Leased to a delivery agent now.
        InFlight => "in_flight",
    }
}
