//! Money on CQL: top-up orders and settlement statements, and the
//! `active_days` series that list them by day. Posting an entry to the
//! double-entry ledger, which orders and statements do, is `ledger`'s.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::future::try_join_all;
use rust_decimal::Decimal;

use super::codec::{day_bucket, dec, decimal, from_snake, json, micros, opt_time, snake, time, to_json};
use super::cql::IN_KEYS;
use super::{Db, ScyllaStore};
use crate::{EntryFilter, Money, Result, StoreError};
use domain::accounts::{Order, OrderStatus};
use domain::ledger::{Account, Entry};
use domain::settlement::Statement;
use vocab::MerchantId;

const PAID_SERIES: &str = "paid_orders";
/// `active_days` rows remembered as written; past that the memory restarts.
const DAY_MARKS_KEPT: usize = 100_000;

/// The `(series, day)` rows of `active_days` this node has written.
#[derive(Default)]
pub(super) struct DayMarks(HashSet<(String, i32)>);

/// In `statements::ORDER_COLUMNS` order.
type OrderRow = (String, i64, String, String, String, Option<String>, i64, Option<i64>);
fn order_row(r: OrderRow) -> Result<Order> {
    let (id, driver_id, amount, provider, status, provider_txn, created_at, paid_at) = r;
    Ok(Order {
        id,
        driver_id,
        amount: decimal("amount", &amount)?,
        provider,
        status: from_snake("status", &status)?,
        provider_txn,
        created_at: time("created_at", created_at)?,
        paid_at: opt_time("paid_at", paid_at)?,
    })
}

impl Db {
    // Merchants.

    // Drivers.

    // Cards.

    // Price rules.

    // Top-up orders.

    pub(super) async fn create_order(&self, o: &Order) -> Result<()> {
        let m = &self.st.money;
        if !self.exists_id("reading a driver", &m.driver_exists, o.driver_id).await? {
            return Err(StoreError::NotFound(format!("driver {}", o.driver_id)));
        }
        if let Some(paid_at) = o.paid_at {
            self.list_paid(&o.id, paid_at).await?;
        }
        let values = (
            &o.id,
            o.driver_id,
            dec(o.amount),
            &o.provider,
            snake(&o.status)?,
            &o.provider_txn,
            micros(o.created_at),
            o.paid_at.map(micros),
        );
        if !self.cql.lwt("claiming an order id", &m.order_claim, values).await?.applied {
            return Err(StoreError::Conflict(format!("order {}", o.id)));
        }
        Ok(())
    }

    pub(super) async fn order(&self, id: &str) -> Result<Option<Order>> {
        let row = self.cql.row::<OrderRow, _>("reading an order", &self.st.money.order_get, (id,));
        row.await?.map(order_row).transpose()
    }

    /// A serial read: sees, and completes, a payment still in flight.
    async fn order_serial(&self, id: &str) -> Result<Option<Order>> {
        let row = self.cql.row::<OrderRow, _>("reading an order", &self.st.money.order_get_serial, (id,));
        row.await?.map(order_row).transpose()
    }

    /// Lists an order as paid at `at`. A hint: `paid_orders` keeps only
    /// orders whose own row says they were paid in the range.
    async fn list_paid(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        let day = day_bucket(micros(at));
        let listed =
            self.cql.write("listing a paid order", &self.st.money.paid_insert, (day, micros(at), id));
        let (marked, listed) = tokio::join!(self.mark_day(PAID_SERIES.to_owned(), day), listed);
        marked.and(listed)
    }

    /// Claims the provider's transaction (`IF NOT EXISTS`: it pays one
    /// order), lists the order as paid, marks it paid by compare-and-set
    /// (`IF status = 'pending'`: of two notifications one pays), then books
    /// the top-up, whose key books it once.
    ///
    /// A notification for an order already paid returns false, and books
    /// the top-up from the order's row if a crash between marking it paid
    /// and booking left it out: the provider repeats a notification until
    /// it is answered, so that is where the repair happens.
    pub(super) async fn pay_order(&self, id: &str, txn: &str, at: DateTime<Utc>) -> Result<bool> {
        let m = &self.st.money;
        let Some(order) = self.order_serial(id).await? else {
            return Err(StoreError::NotFound(format!("order {id}")));
        };
        if order.status == OrderStatus::Paid {
            self.credit(&order).await?;
            return Ok(false);
        }
        let entry = Entry::top_up(id, order.driver_id, &order.provider, order.amount, at);
        entry.check()?;
        let claim = self.cql.lwt("claiming a provider transaction", &m.txn_claim, (txn, id)).await?;
        if !claim.applied && claim.text("order_id") != Some(id) {
            return Err(StoreError::Conflict(format!("provider transaction {txn}")));
        }
        self.list_paid(id, at).await?;
        if !self.cql.lwt("paying an order", &m.order_pay, (txn, micros(at), id)).await?.applied {
            // Another notification paid it meanwhile.
            let Some(order) = self.order_serial(id).await? else {
                return Err(StoreError::NotFound(format!("order {id}")));
            };
            self.credit(&order).await?;
            return Ok(false);
        }
        self.post(&entry).await?;
        Ok(true)
    }

    /// Books (once, by its key) and lists the top-up of a paid order.
    async fn credit(&self, o: &Order) -> Result<()> {
        let at = o.paid_at.unwrap_or(o.created_at);
        self.list_paid(&o.id, at).await?;
        self.post(&Entry::top_up(&o.id, o.driver_id, &o.provider, o.amount, at)).await?;
        Ok(())
    }

    /// The days of the range that have paid orders, each read at once, then
    /// the orders by id; an order counts if its row says it was paid in
    /// `[from, until)`.
    pub(super) async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>> {
        let m = &self.st.money;
        let (from, until) = (micros(from), micros(until));
        if from >= until {
            return Ok(Vec::new());
        }
        let days = self.days(PAID_SERIES, day_bucket(from), day_bucket(until - 1)).await?;
        let reads = days.into_iter().map(|day| async move {
            self.cql.rows::<(String,), _>("listing paid orders", &m.paid_in_day, &(day, from, until)).await
        });
        let mut ids: Vec<String> = try_join_all(reads).await?.into_iter().flatten().map(|(id,)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        let chunks = ids.chunks(IN_KEYS).map(|chunk| {
            let chunk = chunk.to_vec();
            async move { self.cql.rows::<OrderRow, _>("reading orders", &m.orders_get, &(chunk,)).await }
        });
        let mut orders = Vec::new();
        for row in try_join_all(chunks).await?.into_iter().flatten() {
            let order = order_row(row)?;
            let paid = order.paid_at.map(micros).filter(|at| (from..until).contains(at));
            if order.status == OrderStatus::Paid && paid.is_some() {
                orders.push(order);
            }
        }
        orders.sort_by(|a, b| a.paid_at.cmp(&b.paid_at).then_with(|| a.id.cmp(&b.id)));
        Ok(orders)
    }

    // Settlement statements.

    /// Claims the merchant's day (`IF NOT EXISTS`), then books the
    /// statement's settlement entry. If the ledger refuses the entry, the
    /// statement is withdrawn. A statement issued already returns false, and
    /// books its settlement if a crash between the two steps left it out.
    pub(super) async fn issue_statement(&self, s: &Statement) -> Result<bool> {
        let m = &self.st.money;
        if !self.exists_id("reading a merchant", &m.merchant_exists, s.merchant_id).await? {
            return Err(StoreError::NotFound(format!("merchant {}", s.merchant_id)));
        }
        let entry = s.entry();
        if !entry.lines.is_empty() {
            entry.check()?;
        }
        let day = s.day.to_string();
        let lwt = self.cql.lwt("issuing a statement", &m.statement_claim, (s.merchant_id, &day, to_json(s)?));
        let lwt = lwt.await?;
        if !lwt.applied {
            let issued = match lwt.text("statement") {
                Some(text) => json::<Statement>("statement", text)?,
                None => self.statement(s.merchant_id, s.day).await?.ok_or_else(|| {
                    StoreError::Backend(format!("statement {} was withdrawn meanwhile; retry", s.key()))
                })?,
            };
            let entry = issued.entry();
            if !entry.lines.is_empty() {
                self.post(&entry).await?;
            }
            return Ok(false);
        }
        if !entry.lines.is_empty() {
            if let Err(e) = self.post(&entry).await {
                if matches!(e, StoreError::Refused(_)) {
                    self.cql
                        .lwt("withdrawing a statement", &m.statement_withdraw, (s.merchant_id, &day))
                        .await?;
                }
                return Err(e);
            }
        }
        Ok(true)
    }

    pub(super) async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>> {
        let read = self.cql.row::<(String,), _>(
            "reading a statement",
            &self.st.money.statement_get,
            (merchant, day.to_string()),
        );
        read.await?.map(|(s,)| json("statement", &s)).transpose()
    }

    // Login tokens.

    // Day listings.

    /// The days of a series in `[first, last]` that have rows.
    pub(super) async fn days(&self, series: &str, first: i32, last: i32) -> Result<Vec<i32>> {
        let rows: Vec<(i32,)> =
            self.cql.rows("listing days", &self.st.money.days_between, &(series, first, last)).await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// Notes that a series has rows on a day, unless this node did already.
    pub(super) async fn mark_day(&self, series: String, day: i32) -> Result<()> {
        let mark = (series, day);
        if self.day_marks.lock().unwrap_or_else(|p| p.into_inner()).0.contains(&mark) {
            return Ok(());
        }
        self.cql.write("listing a day", &self.st.money.day_insert, (&mark.0, day)).await?;
        let mut marks = self.day_marks.lock().unwrap_or_else(|p| p.into_inner());
        if marks.0.len() >= DAY_MARKS_KEPT {
            marks.0.clear();
        }
        marks.0.insert(mark);
        Ok(())
    }

    // The ledger.
}

#[async_trait]
impl Money for ScyllaStore {
    async fn create_order(&self, order: &Order) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_order(order).await)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>> {
        self.db.order(id).await
    }

    async fn pay_order(&self, id: &str, provider_txn: &str, at: DateTime<Utc>) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.pay_order(id, provider_txn, at).await)
    }

    async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>> {
        self.db.paid_orders(from, until).await
    }

    async fn post_entry(&self, entry: &Entry) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.post(entry).await)
    }

    async fn balance(&self, account: &Account) -> Result<Decimal> {
        self.db.balance(account).await
    }

    async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>> {
        self.db.entries(filter).await
    }

    async fn issue_statement(&self, statement: &Statement) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.issue_statement(statement).await)
    }

    async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>> {
        self.db.statement(merchant, day).await
    }
}
