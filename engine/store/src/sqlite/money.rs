//! The SQL of drivers, cards, merchants, orders, rules, tokens and the
//! ledger: writes run by the writer inside their savepoint, reads on a
//! reader connection.
//!
//! Posting an entry reads the balances it touches, checks them with the
//! ledger's own rule (`Entry::apply`) and writes the entry, its lines and the
//! new balances in the same savepoint. The single writer makes that
//! read-check-write atomic without locks.

use super::write::taken;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

use super::codec::{decimal, json, micros, opt_time, parsed, text, time, to_json};
use super::SqliteStore;
use crate::{EntryFilter, Money, Result, StoreError};
use domain::accounts::{Order, OrderStatus};
use domain::ledger::{Account, Entry};
use domain::settlement::Statement;
use vocab::MerchantId;

const ORDER: &str =
    "SELECT id, driver_id, amount, provider, status, provider_txn, created_at, paid_at FROM orders";

fn order_row(r: &Row) -> rusqlite::Result<Order> {
    Ok(Order {
        id: r.get(0)?,
        driver_id: r.get(1)?,
        amount: decimal(r, 2)?,
        provider: r.get(3)?,
        status: parsed(r, 4)?,
        provider_txn: r.get(5)?,
        created_at: time(r, 6)?,
        paid_at: opt_time(r, 7)?,
    })
}

pub(super) fn create_order(c: &Connection, o: &Order) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO orders (id, driver_id, amount, provider, status, provider_txn, created_at, paid_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        o.id,
        o.driver_id,
        o.amount.to_string(),
        o.provider,
        text(&o.status)?,
        o.provider_txn,
        micros(o.created_at),
        o.paid_at.map(micros)
    ])
    .map_err(|e| match taken(e, String::new) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("order {}", o.id)),
        StoreError::NotFound(_) => StoreError::NotFound(format!("driver {}", o.driver_id)),
        e => e,
    })?;
    Ok(())
}

pub(super) fn order(c: &Connection, id: &str) -> rusqlite::Result<Option<Order>> {
    c.prepare_cached(&format!("{ORDER} WHERE id = ?1"))?.query_row([id], order_row).optional()
}

pub(super) fn paid_orders(
    c: &Connection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> rusqlite::Result<Vec<Order>> {
    c.prepare_cached(&format!(
        "{ORDER} WHERE paid_at IS NOT NULL AND paid_at >= ?1 AND paid_at < ?2 ORDER BY paid_at, id"
    ))?
    .query_map([micros(from), micros(until)], order_row)?
    .collect()
}

pub(super) fn pay_order(c: &Connection, id: &str, txn: &str, at: DateTime<Utc>) -> Result<bool> {
    let Some(o) = order(c, id)? else { return Err(StoreError::NotFound(format!("order {id}"))) };
    if o.status == OrderStatus::Paid {
        return Ok(false);
    }
    c.prepare_cached("UPDATE orders SET status = 'paid', provider_txn = ?2, paid_at = ?3 WHERE id = ?1")?
        .execute(params![id, txn, micros(at)])
        .map_err(|e| taken(e, || format!("provider transaction {txn}")))?;
    post(c, &Entry::top_up(id, o.driver_id, &o.provider, o.amount, at))
}

fn balance_of(c: &Connection, account: &Account) -> rusqlite::Result<Decimal> {
    c.prepare_cached("SELECT balance FROM balances WHERE account = ?1")?
        .query_row([account.to_string()], |r| decimal(r, 0))
        .optional()
        .map(Option::unwrap_or_default)
}

pub(super) fn balance(c: &Connection, account: &Account) -> rusqlite::Result<Decimal> {
    balance_of(c, account)
}

/// Books an entry: false if its key is booked already.
pub(super) fn post(c: &Connection, e: &Entry) -> Result<bool> {
    if c.prepare_cached("SELECT 1 FROM entries WHERE key = ?1")?.exists([&e.key])? {
        return Ok(false);
    }
    // Reads inside the writer's transaction see every earlier write.
    let mut failed = None;
    let after = e.apply(|a| {
        balance_of(c, a).unwrap_or_else(|err| {
            failed = Some(err);
            Decimal::ZERO
        })
    });
    if let Some(err) = failed {
        return Err(err.into());
    }
    let after = after?;
    c.prepare_cached("INSERT INTO entries (key, kind, at, reference, lines) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![e.key, e.kind.as_str(), micros(e.at), e.reference, to_json(&e.lines)?])?;
    let seq = c.last_insert_rowid();
    let mut line = c.prepare_cached("INSERT OR IGNORE INTO entry_lines (account, seq) VALUES (?1, ?2)")?;
    let mut set = c.prepare_cached(
        "INSERT INTO balances (account, balance) VALUES (?1, ?2)
         ON CONFLICT (account) DO UPDATE SET balance = excluded.balance",
    )?;
    for (account, b) in after {
        line.execute(params![account.to_string(), seq])?;
        set.execute(params![account.to_string(), b.to_string()])?;
    }
    Ok(true)
}

pub(super) fn entry_row(r: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        key: r.get(0)?,
        kind: parsed(r, 1)?,
        at: time(r, 2)?,
        reference: r.get(3)?,
        lines: json(r, 4)?,
    })
}

pub(super) fn entries(c: &Connection, f: &EntryFilter) -> rusqlite::Result<Vec<Entry>> {
    let mut sql = String::from("SELECT e.key, e.kind, e.at, e.reference, e.lines FROM entries e");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut conds = Vec::new();
    if let Some(a) = &f.account {
        sql.push_str(" JOIN entry_lines l ON l.seq = e.seq");
        args.push(Box::new(a.to_string()));
        conds.push(format!("l.account = ?{}", args.len()));
    }
    if let Some(r) = &f.reference {
        args.push(Box::new(r.clone()));
        conds.push(format!("e.reference = ?{}", args.len()));
    }
    if let Some(t) = f.from {
        args.push(Box::new(micros(t)));
        conds.push(format!("e.at >= ?{}", args.len()));
    }
    if let Some(t) = f.until {
        args.push(Box::new(micros(t)));
        conds.push(format!("e.at < ?{}", args.len()));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY e.seq");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())), entry_row)?;
    rows.collect()
}

pub(super) fn issue_statement(c: &Connection, s: &Statement) -> Result<bool> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO statements (merchant_id, day, statement) VALUES (?1, ?2, ?3)
             ON CONFLICT (merchant_id, day) DO NOTHING",
        )?
        .execute(params![s.merchant_id, s.day.to_string(), to_json(s)?])
        .map_err(|e| taken(e, || format!("merchant {}", s.merchant_id)))?;
    if inserted == 0 {
        return Ok(false);
    }
    let entry = s.entry();
    if !entry.lines.is_empty() {
        post(c, &entry)?;
    }
    Ok(true)
}

pub(super) fn statement(
    c: &Connection,
    merchant: MerchantId,
    day: NaiveDate,
) -> rusqlite::Result<Option<Statement>> {
    c.prepare_cached("SELECT statement FROM statements WHERE merchant_id = ?1 AND day = ?2")?
        .query_row(params![merchant, day.to_string()], |r| json(r, 0))
        .optional()
}

#[async_trait]
impl Money for SqliteStore {
    async fn create_order(&self, order: &Order) -> Result<()> {
        let order = order.clone();
        self.writer.submit(move |c| create_order(c, &order)).await
    }

    async fn order(&self, id: &str) -> Result<Option<Order>> {
        let id = id.to_owned();
        self.readers.read(move |c| order(c, &id)).await
    }

    async fn pay_order(&self, id: &str, provider_txn: &str, at: DateTime<Utc>) -> Result<bool> {
        let (id, txn) = (id.to_owned(), provider_txn.to_owned());
        self.writer.submit(move |c| pay_order(c, &id, &txn, at)).await
    }

    async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>> {
        self.readers.read(move |c| paid_orders(c, from, until)).await
    }

    async fn post_entry(&self, entry: &Entry) -> Result<bool> {
        let entry = entry.clone();
        self.writer.submit(move |c| post(c, &entry)).await
    }

    async fn balance(&self, account: &Account) -> Result<Decimal> {
        let account = account.clone();
        self.readers.read(move |c| balance(c, &account)).await
    }

    async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>> {
        let filter = filter.clone();
        self.readers.read(move |c| entries(c, &filter)).await
    }

    async fn issue_statement(&self, statement: &Statement) -> Result<bool> {
        let statement = statement.clone();
        self.writer.submit(move |c| issue_statement(c, &statement)).await
    }

    async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>> {
        self.readers.read(move |c| statement(c, merchant, day)).await
    }
}
