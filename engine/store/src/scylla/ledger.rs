//! The double-entry ledger on CQL: posting an entry, balances, listing
//! entries, and the sweep that finishes postings a crashed writer left.
//!
//! SQLite writes an entry, its lines and the new balances in one
//! transaction. CQL has no transaction across partitions, so here a posting
//! is a sequence of steps, each idempotent, each leaving a record the next
//! writer can see:
//!
//! 1. note the key in `ledger_pending`, so the sweep can find it;
//! 2. claim the key: `INSERT INTO ledger_entries ... IF NOT EXISTS`, state
//!    `pending`. A key is claimed once; a lost claim means the key is booked
//!    or being booked, and the post returns false once it is booked;
//! 3. apply each account's lines to `account_balances`, one conditional
//!    batch on the account's partition: its balance row's new balance and
//!    version `IF version = ?` (the version read), and a row naming the
//!    entry. That row is the proof the lines were applied, so resuming a
//!    posting never applies them twice. Each account is checked by `Entry::apply` against
//!    its balance at that moment. Accounts the entry lowers (the only ones
//!    the rule can refuse) go first; if one is refused, what was applied is
//!    undone, the claim withdrawn, and the post fails with `Refused`. Money
//!    is taken before it is given, so nothing can spend a credit that is
//!    later undone;
//! 4. list the entry by account, by reference and by day;
//! 5. mark it `applied` (`IF state = 'pending'`) and delete the note.
//!
//! A writer that stops part-way (a crash, a timeout) leaves the entry
//! `pending`. Once it has been so for `TAKE_OVER_AFTER`, whoever next posts
//! the same key, or the sweep every node runs each minute over recent
//! `ledger_pending` notes, takes it over (a compare-and-set on its `lease`,
//! so one writer at a time) and resumes it from step 3. A writer issues no
//! write for an entry later than `DEADLINE` after it began, far less than
//! `TAKE_OVER_AFTER`, so the writer that stopped and the one resuming never
//! write at once. (The deadline is checked just before each write is sent;
//! a write sent in time may still take the driver's 30 s timeout to fail.)
//!
//! Between steps 3 and 5 the accounts of one entry are not all changed at
//! the same instant: each balance is exact and serialized on its own, but a
//! reader adding up several accounts may see an entry half-applied.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::future::{try_join_all, BoxFuture, FutureExt};
use rust_decimal::Decimal;
use tokio::task::JoinHandle;

use super::codec::{day_bucket, dec, from_snake, hour_bucket, json, micros, opt_decimal, time, to_json};
use super::statements::{APPLIED_ROW_TTL, BALANCE_ROW};
use super::{now, Db};
use crate::{EntryFilter, Result, StoreError};
use domain::ledger::{Account, Entry};

/// A posting pending for longer is not resumed by itself (the rows that say
/// which of its accounts it was applied to may have expired): it is logged
/// for an operator.
const RESUME_WITHIN: Duration = Duration::from_secs(60 * 86_400);

// The rows saying where an entry was applied outlive any posting that may
// still be resumed, with a week to spare.
const _: () = assert!(RESUME_WITHIN.as_secs() + 7 * 86_400 < APPLIED_ROW_TTL.as_secs());

/// A writer issues no write for an entry later than this after it began.
const DEADLINE: Duration = Duration::from_secs(30);

/// A `pending` entry whose lease is this old is taken over and resumed:
/// `DEADLINE`, plus the driver's 30 s request timeout, plus a margin.
const TAKE_OVER_AFTER: Duration = Duration::from_secs(120);

/// How long a post waits for another writer to finish the same key.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(5);

const POLL: Duration = Duration::from_millis(100);

/// Compare-and-set rounds on one account before a posting gives up.
const CAS_ATTEMPTS: u32 = 64;

const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Hours of `ledger_pending` each sweep reads; the first after start reads
/// a week, in case every node was down for a while.
const SWEEP_HOURS: i32 = 3;

const FIRST_SWEEP_HOURS: i32 = 7 * 24;

/// `active_days` series.
const LEDGER_SERIES: &str = "ledger";

fn account_series(account: &str) -> String {
    format!("account:{account}")
}

/// In `statements::LISTING_COLUMNS` order: posted, key, kind, at, reference, lines.
type ListingRow = (i64, String, String, i64, String, String);

/// kind, at, reference, lines, posted, lease, state.
type EntryRow = (String, i64, String, String, i64, Option<i64>, String);

/// A listed entry and when it was posted.
fn listing_row((posted, key, kind, at, reference, lines): ListingRow) -> Result<(i64, Entry)> {
    let entry = Entry {
        key,
        kind: from_snake("kind", &kind)?,
        at: time("at", at)?,
        reference,
        lines: json("lines", &lines)?,
    };
    Ok((posted, entry))
}

/// An entry as `ledger_entries` holds it.
struct Stored {
    entry: Entry,
    posted: i64,
    /// When the writer now completing it took it.
    lease: i64,
    applied: bool,
}

/// An account as a posting sees it.
struct Side {
    balance: Decimal,
    /// `None`: the account has never been changed.
    version: Option<i64>,
    /// The entry's lines are applied to it.
    applied: bool,
}

/// What taking over a stalled posting came to.
enum TakeOver {
    Finished,
    /// The rule refused it now: undone and withdrawn.
    Withdrawn,
    /// Another writer took it first.
    Taken,
}

/// What each account's balance moves by, in the account's own sense.
fn moves(e: &Entry) -> BTreeMap<Account, Decimal> {
    let mut moves = BTreeMap::new();
    for line in &e.lines {
        *moves.entry(line.account.clone()).or_insert(Decimal::ZERO) += line.account.effect(line.amount);
    }
    moves
}

/// The balance `e` leaves `account` at, from `balance`, or the ledger's
/// refusal. The rule is `Entry::apply`'s, for this one account: every other
/// account is given a balance that just covers the entry, so only this
/// one's can refuse (each is checked when its own turn comes).
fn balance_after(
    e: &Entry,
    moves: &BTreeMap<Account, Decimal>,
    account: &Account,
    balance: Decimal,
) -> Result<Decimal> {
    let covered = |a: &Account| (-moves.get(a).copied().unwrap_or_default()).max(Decimal::ZERO);
    let after = e.apply(|a| if a == account { balance } else { covered(a) })?;
    Ok(after.get(account).copied().unwrap_or(balance))
}

fn too_long(key: &str) -> StoreError {
    StoreError::Backend(format!(
        "posting ledger entry {key} took over {}s; it is left pending and will be resumed",
        DEADLINE.as_secs()
    ))
}

fn contention(what: &str) -> StoreError {
    StoreError::Backend(format!("{what}: no compare-and-set won in {CAS_ATTEMPTS} rounds"))
}

fn micros_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Db {
    pub(super) async fn balance(&self, account: &Account) -> Result<Decimal> {
        let read = self.cql.row::<(Option<String>, Option<i64>), _>(
            "reading a balance",
            &self.st.money.balance_get,
            (account.to_string(),),
        );
        Ok(match read.await? {
            Some((balance, _)) => opt_decimal("balance", balance.as_deref())?.unwrap_or_default(),
            None => Decimal::ZERO,
        })
    }

    /// Books an entry once (see the module's comment): false if its key is
    /// booked already, `Refused` if the ledger's rule refuses it.
    pub(super) async fn post(&self, e: &Entry) -> Result<bool> {
        e.check()?;
        if e.key == BALANCE_ROW {
            return Err(StoreError::Backend(format!("{BALANCE_ROW:?} is not a ledger key this store takes")));
        }
        let m = &self.st.money;
        let started = Instant::now();
        loop {
            if started.elapsed() > DEADLINE {
                return Err(too_long(&e.key));
            }
            let posted = self.cql.clock.next();
            let note = (hour_bucket(posted), e.key.as_str(), posted);
            self.cql.write("noting a posting", &m.pending_insert, note).await?;
            if started.elapsed() > DEADLINE {
                return Err(too_long(&e.key));
            }
            let claim = (
                e.key.as_str(),
                e.kind.as_str(),
                micros(e.at),
                e.reference.as_str(),
                to_json(&e.lines)?,
                posted,
                posted,
            );
            if self.cql.lwt("claiming a ledger key", &m.entry_claim, claim).await?.applied {
                self.complete(e, posted, true, started).await?;
                return Ok(true);
            }
            if self.settle(&e.key, started).await? {
                return Ok(false);
            }
            // The other claim was withdrawn (refused): try ours.
        }
    }

    /// Waits for a key another writer claimed: true once it is applied,
    /// false if it was withdrawn. One pending past `TAKE_OVER_AFTER` is taken
    /// over and finished here; one still in a live writer's hands after
    /// `WAIT_FOR_OTHER` is an error to retry.
    async fn settle(&self, key: &str, started: Instant) -> Result<bool> {
        loop {
            let Some(stored) = self.stored_entry(key).await? else {
                return Ok(false);
            };
            if stored.applied {
                return Ok(true);
            }
            if micros(now()) - stored.lease >= micros_of(TAKE_OVER_AFTER) {
                match self.take_over(stored).await? {
                    TakeOver::Finished => return Ok(true),
                    TakeOver::Withdrawn => return Ok(false),
                    TakeOver::Taken => {}
                }
            }
            if started.elapsed() > WAIT_FOR_OTHER {
                return Err(StoreError::Backend(format!(
                    "ledger entry {key} is being posted by another writer; retry"
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn stored_entry(&self, key: &str) -> Result<Option<Stored>> {
        let read =
            self.cql.row::<EntryRow, _>("reading a ledger key", &self.st.money.entry_get_serial, (key,));
        read.await?
            .map(|(kind, at, reference, lines, posted, lease, state)| {
                Ok(Stored {
                    entry: Entry {
                        key: key.to_owned(),
                        kind: from_snake("kind", &kind)?,
                        at: time("at", at)?,
                        reference,
                        lines: json("lines", &lines)?,
                    },
                    posted,
                    lease: lease.unwrap_or(posted),
                    applied: state == "applied",
                })
            })
            .transpose()
    }

    /// Takes a stalled posting over (a compare-and-set on its lease, so one
    /// writer resumes it) and resumes it.
    async fn take_over(&self, s: Stored) -> Result<TakeOver> {
        if micros(now()) - s.posted > micros_of(RESUME_WITHIN) {
            return Err(StoreError::Backend(format!(
                "ledger entry {} has been pending since {}: too long to resume safely; an operator must settle it",
                s.entry.key, s.entry.at
            )));
        }
        let started = Instant::now();
        let lease = self.cql.clock.next();
        let values = (lease, s.entry.key.as_str(), s.lease);
        if !self.cql.lwt("taking over a posting", &self.st.money.entry_take_over, values).await?.applied {
            return Ok(TakeOver::Taken);
        }
        tracing::warn!(key = %s.entry.key, "resuming a ledger posting its writer left unfinished");
        match self.complete(&s.entry, s.posted, false, started).await {
            Ok(()) => Ok(TakeOver::Finished),
            Err(StoreError::Refused(why)) => {
                tracing::warn!(key = %s.entry.key, %why, "withdrew an unfinished ledger posting");
                Ok(TakeOver::Withdrawn)
            }
            Err(e) => Err(e),
        }
    }

    /// Steps 3 to 5 of a posting whose key this writer holds. `fresh`: it
    /// has just claimed the key, so no line is applied yet (a resumed
    /// posting reads which are).
    async fn complete(&self, e: &Entry, posted: i64, fresh: bool, started: Instant) -> Result<()> {
        let m = &self.st.money;
        let moves = moves(e);
        let in_time = || if started.elapsed() > DEADLINE { Err(too_long(&e.key)) } else { Ok(()) };
        let lowered = moves.iter().filter(|(_, moved)| **moved < Decimal::ZERO);
        let raised = moves.iter().filter(|(_, moved)| **moved >= Decimal::ZERO);
        for (account, _) in lowered.chain(raised) {
            match self.apply_line(e, &moves, account, fresh, &in_time).await {
                Ok(()) => {}
                Err(StoreError::Refused(why)) => {
                    self.undo(e, &moves, posted, &in_time).await?;
                    return Err(StoreError::Refused(why));
                }
                Err(other) => return Err(other),
            }
        }
        in_time()?;
        self.list_entry(e, &moves, posted).await?;
        in_time()?;
        // Not applied only if an earlier attempt whose answer was lost did it.
        self.cql.lwt("marking an entry applied", &m.entry_applied, (e.key.as_str(),)).await?;
        let note = (hour_bucket(posted), e.key.as_str());
        self.cql.write("clearing a posting note", &m.pending_delete, note).await
    }

    /// The balance and version of an account, and (`resumed`) whether the
    /// entry is applied to it. A fresh posting's first read is a quorum
    /// read, a guess the compare-and-set checks; later ones are serial.
    async fn side(&self, account: &str, key: &str, serial: bool, resumed: bool) -> Result<Side> {
        let m = &self.st.money;
        let stmt = if serial { &m.balance_get_serial } else { &m.balance_get };
        let balance = self.cql.row::<(Option<String>, Option<i64>), _>("reading a balance", stmt, (account,));
        let applied = async {
            if !resumed {
                return Ok::<_, StoreError>(false);
            }
            let row = self.cql.row::<(Option<String>,), _>(
                "reading an account's entries",
                &m.applied_get_serial,
                (account, key),
            );
            Ok(row.await?.is_some_and(|(k,)| k.as_deref() == Some(key)))
        };
        let (balance, applied) = tokio::join!(balance, applied);
        let (balance, version) = match balance? {
            Some((balance, version)) => {
                (opt_decimal("balance", balance.as_deref())?.unwrap_or_default(), version)
            }
            None => (Decimal::ZERO, None),
        };
        Ok(Side { balance, version, applied: applied? })
    }

    /// Applies the entry's lines on one account: checked against its
    /// balance now, written by compare-and-set on its version together
    /// with the entry's row under the account.
    async fn apply_line(
        &self,
        e: &Entry,
        moves: &BTreeMap<Account, Decimal>,
        account: &Account,
        fresh: bool,
        in_time: &impl Fn() -> Result<()>,
    ) -> Result<()> {
        let m = &self.st.money;
        let (name, key) = (account.to_string(), e.key.as_str());
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 2 {
                tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
            }
            let side = self.side(&name, key, !fresh || attempt > 0, !fresh).await?;
            if side.applied {
                return Ok(());
            }
            let after = dec(balance_after(e, moves, account, side.balance)?);
            in_time()?;
            let lwt = match side.version {
                None => {
                    let values = ((name.as_str(), after), (name.as_str(), key));
                    self.cql.lwt_batch("opening an account", &m.balance_open, values).await?
                }
                Some(v) => {
                    let values = ((after, v + 1, name.as_str(), v), (name.as_str(), key));
                    self.cql.lwt_batch("posting to an account", &m.balance_post, values).await?
                }
            };
            if lwt.applied {
                return Ok(());
            }
        }
        Err(contention(&format!("posting {key} to {name}")))
    }

    /// Undoes every line of the entry applied so far, then withdraws its
    /// claim, so its key is free again.
    async fn undo(
        &self,
        e: &Entry,
        moves: &BTreeMap<Account, Decimal>,
        posted: i64,
        in_time: &impl Fn() -> Result<()>,
    ) -> Result<()> {
        let m = &self.st.money;
        let key = e.key.as_str();
        for (account, moved) in moves {
            let name = account.to_string();
            let mut attempt = 0;
            loop {
                let side = self.side(&name, key, true, true).await?;
                let (true, Some(v)) = (side.applied, side.version) else { break };
                in_time()?;
                let values = ((dec(side.balance - moved), v + 1, name.as_str(), v), (name.as_str(), key));
                if self.cql.lwt_batch("undoing a posting", &m.balance_unpost, values).await?.applied {
                    break;
                }
                attempt += 1;
                if attempt >= CAS_ATTEMPTS {
                    return Err(contention(&format!("undoing {key} on {name}")));
                }
            }
        }
        in_time()?;
        self.cql.lwt("withdrawing a ledger key", &m.entry_withdraw, (key,)).await?;
        self.cql.write("clearing a posting note", &m.pending_delete, (hour_bucket(posted), key)).await
    }

    /// Lists an entry under each of its accounts, its reference and its
    /// day. Entries never change, so the listings hold them whole and
    /// writing them again is harmless.
    async fn list_entry(&self, e: &Entry, moves: &BTreeMap<Account, Decimal>, posted: i64) -> Result<()> {
        let m = &self.st.money;
        let (key, kind, at, reference) =
            (e.key.as_str(), e.kind.as_str(), micros(e.at), e.reference.as_str());
        let lines = to_json(&e.lines)?;
        let day = day_bucket(at);
        let names: Vec<String> = moves.keys().map(Account::to_string).collect();
        let mut writes: Vec<BoxFuture<'_, Result<()>>> = Vec::new();
        for name in &names {
            writes.push(self.mark_day(account_series(name), day).boxed());
            let row = (name.as_str(), day, posted, key, kind, at, reference, lines.as_str());
            writes.push(self.cql.write("listing an entry by account", &m.by_account_insert, row).boxed());
        }
        writes.push(self.mark_day(LEDGER_SERIES.to_owned(), day).boxed());
        let row = (reference, posted, key, kind, at, lines.as_str());
        writes.push(self.cql.write("listing an entry by reference", &m.by_reference_insert, row).boxed());
        let row = (day, posted, key, kind, at, reference, lines.as_str());
        writes.push(self.cql.write("listing an entry by day", &m.by_day_insert, row).boxed());
        try_join_all(writes).await?;
        Ok(())
    }

    /// Entries from the narrowest listing the filter names: the reference's,
    /// the account's days in the range, or every day's in the range; then
    /// the rest of the filter, in the order they were posted.
    pub(super) async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>> {
        let m = &self.st.money;
        let (from, until) = (filter.from.map(micros), filter.until.map(micros));
        if let (Some(from), Some(until)) = (from, until) {
            if from >= until {
                return Ok(Vec::new());
            }
        }
        let first = from.map_or(i32::MIN, day_bucket);
        let last = until.map_or(i32::MAX, |until| day_bucket(until - 1));
        let rows: Vec<ListingRow> = match (&filter.reference, &filter.account) {
            (Some(reference), _) => {
                self.cql
                    .rows("listing a reference's entries", &m.by_reference, &(reference.as_str(),))
                    .await?
            }
            (None, Some(account)) => {
                let name = account.to_string();
                let days = self.days(&account_series(&name), first, last).await?;
                let name = name.as_str();
                let reads = days.into_iter().map(|day| async move {
                    self.cql
                        .rows::<ListingRow, _>(
                            "listing an account's entries",
                            &m.by_account_in_day,
                            &(name, day),
                        )
                        .await
                });
                try_join_all(reads).await?.into_iter().flatten().collect()
            }
            (None, None) => {
                let days = self.days(LEDGER_SERIES, first, last).await?;
                let reads = days.into_iter().map(|day| async move {
                    self.cql.rows::<ListingRow, _>("listing a day's entries", &m.by_day, &(day,)).await
                });
                try_join_all(reads).await?.into_iter().flatten().collect()
            }
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for row in rows {
            let (posted, e) = listing_row(row)?;
            let at = micros(e.at);
            let takes = from.is_none_or(|from| at >= from)
                && until.is_none_or(|until| at < until)
                && filter.account.as_ref().is_none_or(|a| e.lines.iter().any(|l| &l.account == a))
                && filter.reference.as_ref().is_none_or(|r| &e.reference == r);
            if takes && seen.insert(e.key.clone()) {
                out.push((posted, e));
            }
        }
        out.sort_by(|(p, a), (q, b)| p.cmp(q).then_with(|| a.key.cmp(&b.key)));
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// Resumes the postings noted in the last `hours` hours that have been
    /// pending for `TAKE_OVER_AFTER`, and clears notes of entries that are
    /// applied or were never claimed. A note's failure is logged and the
    /// sweep goes on.
    async fn sweep(&self, hours: i32) -> Result<()> {
        let m = &self.st.money;
        let now = micros(now());
        let grace = micros_of(TAKE_OVER_AFTER);
        let current = hour_bucket(now);
        for hour in (current - hours + 1)..=current {
            let notes: Vec<(String, Option<i64>)> =
                self.cql.rows("listing unfinished postings", &m.pending_in_hour, &(hour,)).await?;
            for (key, noted) in notes {
                if now - noted.unwrap_or(0) < grace {
                    continue;
                }
                let resolved = async {
                    Ok::<_, StoreError>(match self.stored_entry(&key).await? {
                        None => true,
                        Some(s) if s.applied => true,
                        Some(s) if now - s.lease < grace => false,
                        Some(s) => !matches!(self.take_over(s).await?, TakeOver::Taken),
                    })
                };
                match resolved.await {
                    Ok(true) => {
                        self.cql
                            .write("clearing a posting note", &m.pending_delete, (hour, key.as_str()))
                            .await?
                    }
                    Ok(false) => {}
                    Err(StoreError::Closed) => return Err(StoreError::Closed),
                    Err(e) => tracing::warn!(%key, error = %e, "resuming an unfinished ledger posting"),
                }
            }
        }
        Ok(())
    }
}

/// Every `SWEEP_EVERY`, finishes the ledger postings a writer left half-done
/// (see `Db::sweep`). Holds the store weakly: it ends with it.
pub(super) fn spawn_sweeper(db: &Arc<Db>) -> JoinHandle<()> {
    let db: Weak<Db> = Arc::downgrade(db);
    tokio::spawn(async move {
        let mut hours = FIRST_SWEEP_HOURS;
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            let Some(db) = db.upgrade() else { return };
            match db.sweep(hours).await {
                Ok(()) => hours = SWEEP_HOURS,
                Err(StoreError::Closed) => return,
                Err(e) => tracing::warn!(error = %e, "sweeping unfinished ledger postings"),
            }
        }
    })
}

#[cfg(test)]
mod tests;
