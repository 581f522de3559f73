//! `danegate readiness [--since 7d] [--json]`: the readiness report of the running
//! gateway (docs/readiness.md).

use clap::Args;
use danegate_admin::{
    control::Request,
    readiness::{ModeView, Readiness, StsCode, parse_since, percent, sts_cell, thousands},
};

use super::{Target, client::query, render::table};
use crate::EXIT_USAGE;

/// `danegate readiness`
#[derive(Args, Debug)]
pub struct ReadinessArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// The window: `24h`, `7d`, `30d` (at most 31 days).
    #[arg(long, value_name = "WINDOW", default_value = "7d")]
    pub(crate) since: String,
}

fn mode_cell(m: &ModeView) -> String {
    let c = &m.counts;
    match m.pass_rate {
        Some(p) => format!(
            "{} pass ({}/{})",
            percent(p),
            thousands(c.pass),
            thousands(c.pass + c.fail)
        ),
        None if c.not_observed > 0 => "not observed".into(),
        None if c.temp > 0 => "temporary failure".into(),
        None => "-".into(),
    }
}

/// The report as text: a table, then each domain's failure reasons.
pub(crate) fn text(r: &Readiness) -> String {
    let mut out = String::new();
    if !r.shadow_enabled {
        out.push_str(
            "Shadow evaluation is off (danegate serve --no-shadow): nothing new is recorded.\n",
        );
    }
    let s = &r.summary;
    out.push_str(&format!(
        "Readiness over the last {}: {} message(s) to {} domain(s); DANE-protected today {}, \
         would be with DANE Mandatory {}, would fail {}.\n\n",
        r.window,
        thousands(s.messages),
        r.rows.len(),
        thousands(s.protected),
        thousands(s.would_be_protected),
        thousands(s.would_fail),
    ));
    if r.rows.is_empty() {
        out.push_str("No delivery evaluated yet.\n");
        return out;
    }
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.domain.clone(),
                thousands(row.messages),
                format!("{} (dane {}, tls {})", row.profile, row.dane, row.tls),
                mode_cell(&row.mandatory),
                mode_cell(&row.opportunistic),
                sts_cell(&row.mta_sts),
                row.recommendation.text.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "DOMAIN",
            "MESSAGES",
            "PROFILE",
            "MANDATORY",
            "OPPORTUNISTIC",
            "MTA-STS ENFORCE",
            "RECOMMENDATION",
        ],
        &rows,
    ));
    for row in &r.rows {
        let mut reasons: Vec<String> = row
            .mandatory
            .reasons
            .iter()
            .map(|x| ("Mandatory", x))
            .chain(
                row.opportunistic
                    .reasons
                    .iter()
                    .map(|x| ("Opportunistic", x)),
            )
            .map(|(m, x)| {
                format!(
                    "  {m}: {} — {} ({}x, last {})",
                    x.verdict_words(),
                    x.reason,
                    thousands(x.count),
                    super::render::time_text(x.last_seen)
                )
            })
            .collect();
        let sts = &row.mta_sts;
        if !matches!(sts.recommendation.code, StsCode::NoData | StsCode::NoPolicy) {
            reasons.push(format!("  MTA-STS: {}", sts.recommendation.text));
        }
        reasons.extend(sts.reasons.iter().map(|x| {
            format!(
                "  MTA-STS enforce: {} — {} ({}x, last {})",
                x.verdict.words(),
                x.reason,
                thousands(x.count),
                super::render::time_text(x.last_seen)
            )
        }));
        if !reasons.is_empty() {
            out.push_str(&format!("\n{}:\n{}\n", row.domain, reasons.join("\n")));
        }
    }
    out
}

trait VerdictWords {
    fn verdict_words(&self) -> &'static str;
}

impl VerdictWords for danegate_gateway::ShadowReason {
    fn verdict_words(&self) -> &'static str {
        self.verdict.words()
    }
}

/// The shadow evaluation of the latest delivery, for `hoststatus`.
pub(crate) fn shadow_lines(s: Option<&danegate_delivery::shadow::ShadowRecord>) -> String {
    let Some(s) = s else {
        return format!("{:<24} not evaluated\n", "Shadow");
    };
    let line = |name: &str, m: &danegate_delivery::shadow::ModeResult| {
        format!("{name:<24} {}: {}\n", m.verdict.words(), m.reason)
    };
    let mut out = line("Shadow Mandatory", &s.mandatory);
    out.push_str(&line("Shadow Opportunistic", &s.opportunistic));
    match &s.mta_sts {
        Some(m) => out.push_str(&format!(
            "{:<24} {}: {}\n",
            "Shadow MTA-STS enforce",
            m.verdict.words(),
            m.reason
        )),
        None => out.push_str(&format!("{:<24} not evaluated\n", "Shadow MTA-STS enforce")),
    }
    out
}

/// `danegate readiness [--since W] [--json]`
pub fn readiness(args: ReadinessArgs, top: &Target) -> u8 {
    let t = args.target.or(top);
    let since_secs = match parse_since(&args.since) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("danegate readiness: --since {e}");
            return EXIT_USAGE;
        }
    };
    query(
        "readiness",
        &t,
        Request::Readiness { since_secs },
        |r: &Readiness| Ok(text(r)),
    )
}
