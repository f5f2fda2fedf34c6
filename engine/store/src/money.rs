//! Money that moves outside a charge: top-up orders, the double-entry
//! ledger and its balances, and merchants' settlement statements.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Result;
use domain::accounts::Order;
use domain::ledger::{Account, Entry};
use domain::settlement::Statement;
use vocab::MerchantId;

/// Orders, ledger entries, balances and statements.
#[async_trait]
pub trait Money: Send + Sync + 'static {
    /// Fails with `Conflict` if the id is taken.
    async fn create_order(&self, order: &Order) -> Result<()>;

    async fn order(&self, id: &str) -> Result<Option<Order>>;

    /// Marks a pending order paid and credits its driver's wallet in one
    /// transaction. `Ok(false)`, changing nothing, if it was paid already:
    /// a replayed notification credits once. `NotFound` for an unknown order.
    async fn pay_order(&self, id: &str, provider_txn: &str, at: DateTime<Utc>) -> Result<bool>;

    /// Orders paid in `[from, until)`, oldest first, for reconciliation.
    async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>>;

    /// Books an entry once: `Ok(false)`, changing nothing, if its key was
    /// booked already; `Refused` if a balance would break the ledger's rule.
    async fn post_entry(&self, entry: &Entry) -> Result<bool>;

    async fn balance(&self, account: &Account) -> Result<Decimal>;

    /// Entries as the filter says, oldest first.
    async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>>;

    /// Stores a merchant's statement and books its settlement entry in one
    /// transaction. `Ok(false)`, changing nothing, if the merchant's day was
    /// issued already: an issued statement never changes.
    async fn issue_statement(&self, statement: &Statement) -> Result<bool>;

    async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>>;
}

/// Which entries to list; every field narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryFilter {
    /// Entries with a line on this account.
    pub account: Option<Account>,
    pub reference: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}
