//! `daneverify`: the appliance's DANE diagnostic of a destination domain, line for line
//! (RFC 7672 §2.2 MX and address lookups, §2.2.1 the MX RRset's security, §3 TLSA
//! lookup and certificate matching). One implementation for both places it runs:
//! standalone in the `danegate daneverify` process, and inside a running gateway over
//! the control socket ([`crate::control::Request::Daneverify`]) with the gateway's
//! resolvers, trust anchors, DNS cache and outbound interface, its DNS debug lines going
//! to the gateway's log subscriptions.

use std::{net::IpAddr, time::Duration};

use danegate_delivery::{DaneMode, Event, IpPreference, Options, Verdict, verify_destination};
use danegate_dns::Resolver;
use danegate_smtp::Timeouts;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Exit status: DANE SUCCESS.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit status: DANE FAILED.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: DANE FALLBACK (opportunistic mode only): mail would go per TLS Support.
pub const EXIT_FALLBACK: u8 = 3;
/// Exit status: usage error (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit status: temporary failure (EX_TEMPFAIL): DNS SERVFAIL/timeout, servers
/// unreachable, or the gateway could not be asked.
pub const EXIT_TEMPFAIL: u8 = 75;

/// Longest per-step timeout accepted (seconds).
pub const MAX_TIMEOUT_SECS: u64 = 300;

/// Which decision table applies.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// DANE Mandatory: only Secure/Secure/Secure/Success passes.
    Mandatory,
    /// DANE Opportunistic: fallback rows print `DANE FALLBACK`.
    Opportunistic,
}

/// One check, as the command line gives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Check {
    /// The destination domain.
    pub domain: String,
    /// SMTP port; TLSA is looked up at `_<port>._tcp.<host>` (RFC 7672 §3).
    pub port: u16,
    /// Decision table.
    pub mode: CheckMode,
    /// `ipv6-preferred`, `ipv4-preferred`, `ipv4-only`, `ipv6-only`.
    pub ip_preference: String,
    /// Seconds for each SMTP/TLS step, 1 – [`MAX_TIMEOUT_SECS`].
    pub timeout_secs: u64,
    /// Name sent in EHLO.
    pub helo: String,
    /// One JSON object instead of the appliance's lines.
    pub json: bool,
}

/// The end of a check: its verdict and the exit status of `danegate daneverify`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckEnd {
    /// `dane-success`, `dane-failed`, `fallback`, `temp-fail`.
    pub verdict: String,
    /// The exit status.
    pub exit: u8,
}

impl Check {
    /// The domain without its trailing dot, or an error naming what is wrong.
    pub fn normalized_domain(&self) -> Result<String, String> {
        let domain = self.domain.trim().trim_end_matches('.').to_string();
        if domain.is_empty() || domain.parse::<danegate_dns::Name>().is_err() {
            return Err(format!("bad domain {:?}", self.domain));
        }
        Ok(domain)
    }

    /// The DANE path's options for this check (also what a bulk audit uses, so both
    /// walk alike), or an error naming a bad field.
    pub fn options(&self, local: Option<IpAddr>) -> Result<Options, String> {
        if self.port == 0 {
            return Err("port: 0 is not a port (1 – 65535)".into());
        }
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(format!(
                "timeout: {} is out of range (1 – {MAX_TIMEOUT_SECS} seconds)",
                self.timeout_secs
            ));
        }
        let ip_preference: IpPreference = self
            .ip_preference
            .parse()
            .map_err(|e| format!("ip_preference: {e}"))?;
        Ok(Options {
            mode: match self.mode {
                CheckMode::Mandatory => DaneMode::Mandatory,
                CheckMode::Opportunistic => DaneMode::Opportunistic,
            },
            port: self.port,
            ip_preference,
            timeouts: Timeouts::uniform(Duration::from_secs(self.timeout_secs)),
            helo_name: self.helo.clone(),
            local,
            ..Options::default()
        })
    }
}

/// The exit status of a verdict.
pub fn exit_code(v: Verdict) -> u8 {
    match v {
        Verdict::DaneSuccess => EXIT_SUCCESS,
        Verdict::DaneFailed => EXIT_FAILED,
        Verdict::Fallback => EXIT_FALLBACK,
        Verdict::TempFail => EXIT_TEMPFAIL,
    }
}

/// Runs `check` with `resolver`, connecting from `local` when given. Each line of
/// standard output goes to `out` as soon as it is known (without its newline); every
/// step is also logged at debug level (target `danegate::dane`). Returns the verdict, or
/// an error naming a bad field of `check` (nothing was printed then).
pub async fn run(
    resolver: &Resolver,
    check: &Check,
    local: Option<IpAddr>,
    out: &mut (dyn FnMut(String) + Send + Sync),
) -> Result<CheckEnd, String> {
    run_with(resolver, check, local, out, Quit::Wait).await
}

/// [`run`] inside the gateway: the same check and lines, but the QUIT exchange that
/// ends the SMTP session (RFC 5321 §4.1.1.10) is left to a task of the gateway's
/// runtime instead of being awaited, so the verdict is returned (and answered on the
/// control socket) one round trip to the server sooner. Must be called within a tokio
/// runtime that keeps running (the gateway's).
pub async fn run_in_gateway(
    resolver: &Resolver,
    check: &Check,
    local: Option<IpAddr>,
    out: &mut (dyn FnMut(String) + Send + Sync),
) -> Result<CheckEnd, String> {
    run_with(resolver, check, local, out, Quit::Background).await
}

/// Whether [`run_with`] awaits the QUIT exchange.
enum Quit {
    /// Awaited: a standalone process must not exit before it.
    Wait,
    /// Spawned on the current runtime.
    Background,
}

async fn run_with(
    resolver: &Resolver,
    check: &Check,
    local: Option<IpAddr>,
    out: &mut (dyn FnMut(String) + Send + Sync),
    quit: Quit,
) -> Result<CheckEnd, String> {
    let domain = check.normalized_domain()?;
    let opts = check.options(local)?;
    let json = check.json;
    let mut print = |e: &Event| {
        if !json && e.is_summary() {
            out(e.to_string());
        }
        tracing::debug!(target: "danegate::dane", "{e}");
    };
    let outcome = verify_destination(resolver, &domain, &opts, &mut print).await;
    if let Some(s) = outcome.session {
        match quit {
            Quit::Wait => {
                let _ = s.client.quit().await;
            }
            Quit::Background => {
                tokio::spawn(async move {
                    let _ = s.client.quit().await;
                });
            }
        }
    }
    if json {
        let steps: Vec<serde_json::Value> = outcome
            .events
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("line".into(), json!(e.to_string()));
                }
                v
            })
            .collect();
        let obj = json!({
            "domain": domain,
            "mode": match check.mode {
                CheckMode::Mandatory => "mandatory",
                CheckMode::Opportunistic => "opportunistic",
            },
            "verdict": outcome.verdict,
            "fallback_host": outcome.fallback_host,
            "steps": steps,
        });
        out(obj.to_string());
    }
    let verdict = serde_json::to_value(outcome.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(CheckEnd {
        verdict,
        exit: exit_code(outcome.verdict),
    })
}
