//! The double-entry ledger: where every yuan a driver pays in, spends, gets
//! back, and a merchant is owed, is booked.
//!
//! An entry is a set of lines over accounts that sums to zero (debits are
//! positive, credits negative), so money is only ever moved, never made. An
//! entry is never changed: a mistake is undone by a reversal entry. Every
//! entry has a unique key naming the event it books (`topup:<order>`,
//! `capture:<session>`); posting a key twice books it once, which is what
//! makes a retried notification or a resent final record harmless.
//!
//! Balances are kept per account beside the entries, checked against them in
//! tests, and guarded by one rule: no account goes below zero, except a
//! driver's wallet when a charge that already happened costs more than was
//! held for it (the driver then owes the difference).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::payer::Payer;
use crate::pricing::Bill;
use vocab::{DriverId, MerchantId, SessionId};

/// An account. Liabilities and income are credit-normal (a credit raises
/// their balance); assets and expenses are debit-normal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Account {
    /// What the platform owes a driver: money paid in and not yet spent.
    Wallet(DriverId),
    /// A driver's money set aside for charges in progress.
    Held(DriverId),
    /// Money received through a payment provider (an asset).
    Provider(String),
    /// What charges earned at list price, per merchant; `None` for the
    /// operator's own stations.
    Revenue(Option<MerchantId>),
    /// Discounts given off list prices (an expense), per merchant.
    Discounts(Option<MerchantId>),
    /// The platform's commission on merchants' charges.
    Commission,
    /// Owed to a merchant by an issued settlement, until paid out.
    Payouts(MerchantId),
}

impl Account {
    pub fn credit_normal(&self) -> bool {
        !matches!(self, Account::Provider(_) | Account::Discounts(_))
    }

    /// The balance a line moves it by, in the account's own sense.
    pub fn effect(&self, amount: Decimal) -> Decimal {
        if self.credit_normal() {
            -amount
        } else {
            amount
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let merchant = |m: &Option<MerchantId>| m.map_or("operator".to_string(), |m| m.to_string());
        match self {
            Account::Wallet(d) => write!(f, "wallet:{d}"),
            Account::Held(d) => write!(f, "held:{d}"),
            Account::Provider(p) => write!(f, "provider:{p}"),
            Account::Revenue(m) => write!(f, "revenue:{}", merchant(m)),
            Account::Discounts(m) => write!(f, "discounts:{}", merchant(m)),
            Account::Commission => write!(f, "commission"),
            Account::Payouts(m) => write!(f, "payouts:{m}"),
        }
    }
}

impl FromStr for Account {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not an account: {s:?}");
        let (kind, id) = s.split_once(':').unwrap_or((s, ""));
        let int = || id.parse::<i64>().map_err(|_| bad());
        let merchant = || if id == "operator" { Ok(None) } else { int().map(Some) };
        Ok(match kind {
            "wallet" => Account::Wallet(int()?),
            "held" => Account::Held(int()?),
            "provider" if !id.is_empty() => Account::Provider(id.to_string()),
            "revenue" => Account::Revenue(merchant()?),
            "discounts" => Account::Discounts(merchant()?),
            "commission" if id.is_empty() => Account::Commission,
            "payouts" => Account::Payouts(int()?),
            _ => return Err(bad()),
        })
    }
}

impl TryFrom<String> for Account {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Account> for String {
    fn from(a: Account) -> String {
        a.to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A driver paid money in through a provider.
    TopUp,
    /// Money set aside when a charge starts.
    Hold,
    /// A charge's bill taken from its hold, the rest released.
    Capture,
    /// Money paid back to a driver through the provider.
    Refund,
    /// Undoes an earlier entry.
    Reversal,
    /// A merchant's day closed: commission taken, payout owed.
    Settlement,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::TopUp => "top_up",
            EntryKind::Hold => "hold",
            EntryKind::Capture => "capture",
            EntryKind::Refund => "refund",
            EntryKind::Reversal => "reversal",
            EntryKind::Settlement => "settlement",
        }
    }
}

/// One side of an entry: a debit if positive, a credit if negative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub account: Account,
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Names the event booked; unique across the ledger.
    pub key: String,
    pub kind: EntryKind,
    pub at: DateTime<Utc>,
    /// What it is about: an order, a session, a statement.
    pub reference: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LedgerError {
    #[error("entry {0} does not balance")]
    Unbalanced(String),
    #[error("entry {0} has a line of zero or below the fen")]
    BadAmount(String),
    #[error("{account} holds {balance}, short of {needed}")]
    Insufficient { account: String, balance: Decimal, needed: Decimal },
}

impl Entry {
    fn new(key: String, kind: EntryKind, at: DateTime<Utc>, reference: String, lines: Vec<Line>) -> Self {
        let lines = lines.into_iter().filter(|l| !l.amount.is_zero()).collect();
        Entry { key, kind, at, reference, lines }
    }

    /// A driver's payment through a provider is credited to the wallet.
    pub fn top_up(order: &str, driver: DriverId, provider: &str, amount: Decimal, at: DateTime<Utc>) -> Self {
        Entry::new(
            format!("topup:{order}"),
            EntryKind::TopUp,
            at,
            order.to_string(),
            vec![
                Line { account: Account::Provider(provider.to_string()), amount },
                Line { account: Account::Wallet(driver), amount: -amount },
            ],
        )
    }

    /// Sets money aside for a charge about to start.
    pub fn hold(session: &SessionId, driver: DriverId, amount: Decimal, at: DateTime<Utc>) -> Self {
        Entry::new(
            format!("hold:{session}"),
            EntryKind::Hold,
            at,
            session.to_string(),
            vec![
                Line { account: Account::Wallet(driver), amount },
                Line { account: Account::Held(driver), amount: -amount },
            ],
        )
    }

    /// Sets more aside for a charge under way (the driver topped up);
    /// `n` counts the charge's holds from 2.
    pub fn hold_more(
        session: &SessionId,
        driver: DriverId,
        amount: Decimal,
        n: u32,
        at: DateTime<Utc>,
    ) -> Self {
        let mut entry = Entry::hold(session, driver, amount, at);
        entry.key = format!("{}:{n}", entry.key);
        entry
    }

    /// Books a bill: what was held is taken, the bill's total goes to the
    /// merchant at list price less its discount, and the rest of the hold
    /// goes back to the wallet (or, if the bill exceeds it, the difference
    /// comes out of the wallet).
    pub fn capture(payer: &Payer, merchant: Option<MerchantId>, bill: &Bill, at: DateTime<Utc>) -> Self {
        let (driver, held) = (payer.driver, payer.held);
        let paid = bill.total;
        Entry::new(
            format!("capture:{}", bill.session_id),
            EntryKind::Capture,
            at,
            bill.session_id.to_string(),
            vec![
                Line { account: Account::Held(driver), amount: held },
                Line { account: Account::Wallet(driver), amount: paid - held },
                Line { account: Account::Discounts(merchant), amount: bill.discount },
                Line { account: Account::Revenue(merchant), amount: -(paid + bill.discount) },
            ],
        )
    }

    /// Pays wallet money back through the provider it came in by.
    pub fn refund(key: &str, driver: DriverId, provider: &str, amount: Decimal, at: DateTime<Utc>) -> Self {
        Entry::new(
            format!("refund:{key}"),
            EntryKind::Refund,
            at,
            key.to_string(),
            vec![
                Line { account: Account::Wallet(driver), amount },
                Line { account: Account::Provider(provider.to_string()), amount: -amount },
            ],
        )
    }

    /// Undoes this entry with its mirror image.
    pub fn reversal(&self, at: DateTime<Utc>) -> Self {
        let lines =
            self.lines.iter().map(|l| Line { account: l.account.clone(), amount: -l.amount }).collect();
        Entry::new(format!("reversal:{}", self.key), EntryKind::Reversal, at, self.reference.clone(), lines)
    }

    /// A corrected bill's capture, booked after the reversal of the first;
    /// `revision` counts corrections of the same charge from 1.
    pub fn recapture(
        payer: &Payer,
        merchant: Option<MerchantId>,
        bill: &Bill,
        revision: u32,
        at: DateTime<Utc>,
    ) -> Self {
        let mut entry = Entry::capture(payer, merchant, bill, at);
        entry.key = format!("{}:r{revision}", entry.key);
        entry
    }

    /// Closes a merchant's day: list revenue less discounts is split into
    /// the platform's commission and the payout owed to the merchant.
    pub fn settlement(
        merchant: MerchantId,
        statement: &str,
        revenue: Decimal,
        discounts: Decimal,
        commission: Decimal,
        at: DateTime<Utc>,
    ) -> Self {
        Entry::new(
            format!("settlement:{statement}"),
            EntryKind::Settlement,
            at,
            statement.to_string(),
            vec![
                Line { account: Account::Revenue(Some(merchant)), amount: revenue },
                Line { account: Account::Discounts(Some(merchant)), amount: -discounts },
                Line { account: Account::Commission, amount: -commission },
                Line { account: Account::Payouts(merchant), amount: -(revenue - discounts - commission) },
            ],
        )
    }

    /// Lines balance and every amount is a whole number of fen above zero.
    pub fn check(&self) -> Result<(), LedgerError> {
        if self.lines.iter().map(|l| l.amount).sum::<Decimal>() != Decimal::ZERO {
            return Err(LedgerError::Unbalanced(self.key.clone()));
        }
        if self.lines.iter().any(|l| l.amount.is_zero() || l.amount.normalize().scale() > 2) {
            return Err(LedgerError::BadAmount(self.key.clone()));
        }
        Ok(())
    }

    /// An account may go below zero only where the rule allows: a wallet,
    /// by a charge that already happened or by undoing a booking.
    fn may_go_negative(&self, account: &Account) -> bool {
        matches!(account, Account::Wallet(_)) && matches!(self.kind, EntryKind::Capture | EntryKind::Reversal)
    }

    /// The balances the entry leaves its accounts at, given their current
    /// ones, or why it cannot be posted. Every backend posts through this.
    pub fn apply(
        &self,
        mut balance: impl FnMut(&Account) -> Decimal,
    ) -> Result<BTreeMap<Account, Decimal>, LedgerError> {
        self.check()?;
        let mut after = BTreeMap::new();
        for line in &self.lines {
            let b = after.entry(line.account.clone()).or_insert_with(|| balance(&line.account));
            *b += line.account.effect(line.amount);
        }
        for (account, b) in &after {
            let moved = self.lines.iter().filter(|l| &l.account == account).map(|l| account.effect(l.amount));
            let moved: Decimal = moved.sum();
            if *b < Decimal::ZERO && moved < Decimal::ZERO && !self.may_go_negative(account) {
                return Err(LedgerError::Insufficient {
                    account: account.to_string(),
                    balance: *b - moved,
                    needed: -moved,
                });
            }
        }
        Ok(after)
    }
}

/// The ledger in memory: the reference model the stores are tested
/// against, and the proof of the rules above.
#[derive(Default, Debug)]
pub struct Ledger {
    balances: HashMap<Account, Decimal>,
    keys: HashSet<String>,
    pub entries: Vec<Entry>,
}

impl Ledger {
    pub fn balance(&self, account: &Account) -> Decimal {
        self.balances.get(account).copied().unwrap_or_default()
    }

    /// Books an entry once: false if its key was booked already.
    pub fn post(&mut self, entry: Entry) -> Result<bool, LedgerError> {
        if self.keys.contains(&entry.key) {
            return Ok(false);
        }
        let after = entry.apply(|a| self.balance(a))?;
        self.balances.extend(after);
        self.keys.insert(entry.key.clone());
        self.entries.push(entry);
        Ok(true)
    }

    pub fn accounts(&self) -> impl Iterator<Item = (&Account, &Decimal)> {
        self.balances.iter()
    }
}

/// An account's balance from its entries alone.
pub fn balance_of<'a>(account: &Account, entries: impl IntoIterator<Item = &'a Entry>) -> Decimal {
    entries
        .into_iter()
        .flat_map(|e| &e.lines)
        .filter(|l| &l.account == account)
        .map(|l| account.effect(l.amount))
        .sum()
}

/// What each payment provider brought into `driver`'s wallet, less what was
/// paid back through it (reversals undo either): the most a refund through
/// that provider may return. Largest first; providers owed nothing left out.
pub fn refundable<'a>(
    driver: DriverId,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Vec<(String, Decimal)> {
    let wallet = Account::Wallet(driver);
    let mut net: BTreeMap<&str, Decimal> = BTreeMap::new();
    for entry in entries.into_iter().filter(|e| e.lines.iter().any(|l| l.account == wallet)) {
        for line in &entry.lines {
            if let Account::Provider(p) = &line.account {
                *net.entry(p).or_default() += line.amount;
            }
        }
    }
    let mut out: Vec<_> =
        net.into_iter().filter(|(_, n)| *n > Decimal::ZERO).map(|(p, n)| (p.to_owned(), n)).collect();
    out.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    out
}

#[cfg(test)]
mod tests;
