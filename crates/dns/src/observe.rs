//! Lookups and upstream failures as metrics (`danegate-metrics`): the mapping from this
//! crate's types to the metric labels. No-ops unless the process installed a recorder.

use std::time::Instant;

use danegate_metrics::{DnsStatus, UpstreamFailure};
use hickory_proto::op::ResponseCode;

use crate::status::{Answer, LookupError, Security};

/// The `status` label of a lookup's result.
pub(crate) fn status(result: Result<&Answer, &LookupError>) -> DnsStatus {
    match result {
        Ok(a) => match a.security {
            Security::Secure => DnsStatus::Secure,
            Security::Insecure => DnsStatus::Insecure,
            Security::Bogus(_) => DnsStatus::Bogus,
        },
        Err(LookupError::Timeout(_)) => DnsStatus::Timeout,
        Err(_) => DnsStatus::Servfail,
    }
}

/// A lookup answered from the cache.
pub(crate) fn cached(answer: &Answer) {
    danegate_metrics::dns_lookup(status(Ok(answer)), None);
}

/// A lookup resolved and validated since `started`.
pub(crate) fn resolved(result: Result<&Answer, &LookupError>, started: Instant) {
    danegate_metrics::dns_lookup(status(result), Some(started.elapsed()));
}

/// An upstream answered with an error RCODE.
pub(crate) fn upstream_rcode(upstream: std::net::SocketAddr, code: ResponseCode) {
    let kind = match code {
        ResponseCode::ServFail => UpstreamFailure::Servfail,
        ResponseCode::Refused => UpstreamFailure::Refused,
        _ => UpstreamFailure::OtherRcode,
    };
    danegate_metrics::dns_upstream_failure(&upstream.to_string(), kind);
}

/// An exchange with an upstream failed (no reply in time, network error).
pub(crate) fn upstream_error(upstream: std::net::SocketAddr, e: &LookupError) {
    let kind = match e {
        LookupError::Timeout(_) => UpstreamFailure::Timeout,
        _ => UpstreamFailure::Network,
    };
    danegate_metrics::dns_upstream_failure(&upstream.to_string(), kind);
}
