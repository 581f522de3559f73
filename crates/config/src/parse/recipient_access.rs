//! `[recipient_access]`: the recipient access table (RAT), the domains that ACCEPT
//! senders may send to; each domain once.

use super::{Ctx, Tab, V};
use crate::domain::DomainPattern;
use crate::model::*;

const RAT: &[&str] = &["domains"];

fn domain_list(ctx: &mut Ctx<'_>, key: String, v: &V<'_>) -> Vec<DomainPattern> {
    let mut out: Vec<DomainPattern> = Vec::new();
    if let Some(items) = ctx.arr_v(key.clone(), v) {
        for (j, item) in items.iter().enumerate() {
            let k = format!("{key}[{j}]");
            if let Some(p) = ctx.domain_v(k.clone(), item) {
                if out.contains(&p) {
                    ctx.err(k, item.span(), "duplicate domain in this list");
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

pub(super) fn parse_rat(ctx: &mut Ctx<'_>, root: &Tab<'_, '_>) -> RecipientAccess {
    let mut rat = RecipientAccess::default();
    if let Some(v) = root.get("recipient_access")
        && let Some(tab) = ctx.table("recipient_access".into(), v, RAT)
        && let Some(d) = tab.get("domains")
    {
        rat.domains = domain_list(ctx, tab.key("domains"), d);
    }
    rat
}
