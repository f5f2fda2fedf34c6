//! T+1 settlement: each merchant's day is settled once it is over (and a
//! configured delay has passed, for late records), by a task that checks
//! every so often, and on demand over HTTP. Both go through `issue`, and
//! the store issues a merchant's day once, so they never race into two.

use std::sync::Arc;
use std::time::Duration;

use actors::Platform;
use chrono::NaiveDate;
use domain::accounts::Merchant;
use domain::ledger::Account;
use domain::settlement::{self, Statement};
use store::{EntryFilter, Result};
use vocab::SessionId;

/// The merchant's statement for `day`, issued now unless it was before;
/// true if this call issued it.
pub async fn issue(
    p: &Platform,
    m: &Merchant,
    day: NaiveDate,
    offset_minutes: i32,
) -> Result<(Statement, bool)> {
    if let Some(issued) = p.store.statement(m.id, day).await? {
        return Ok((issued, false));
    }
    let (from, until) = settlement::day_bounds(day, offset_minutes);
    let filter = EntryFilter {
        account: Some(Account::Revenue(Some(m.id))),
        from: Some(from),
        until: Some(until),
        ..Default::default()
    };
    let entries = p.store.entries(&filter).await?;
    let mut bills = Vec::new();
    for e in &entries {
        if let Some(b) = p.store.bill(&SessionId(e.reference.clone())).await? {
            bills.push(b);
        }
    }
    let s = settlement::compute(m, day, &entries, &bills, p.now());
    if p.store.issue_statement(&s).await? {
        return Ok((s, true));
    }
    // Issued by someone else a moment ago: that one stands.
    Ok((p.store.statement(m.id, day).await?.unwrap_or(s), false))
}

/// Every `every`, settles yesterday for every merchant once `delay` has
/// passed since yesterday ended (local days at `offset_minutes`).
pub async fn daily(p: Arc<Platform>, offset_minutes: i32, every: Duration, delay: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = p.now();
        let today = (now + chrono::Duration::minutes(offset_minutes.into())).date_naive();
        let Some(yesterday) = today.pred_opt() else { continue };
        let (_, end) = settlement::day_bounds(yesterday, offset_minutes);
        if now < end + chrono::Duration::from_std(delay).unwrap_or_default() {
            continue;
        }
        let merchants = match p.store.merchants().await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "daily settlement: cannot list merchants");
                continue;
            }
        };
        for m in merchants {
            match issue(&p, &m, yesterday, offset_minutes).await {
                Ok((s, true)) => {
                    tracing::info!(merchant = m.id, day = %yesterday, payout = %s.payout, "statement issued")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(merchant = m.id, day = %yesterday, error = %e, "settlement failed"),
            }
        }
    }
}
