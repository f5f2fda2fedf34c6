//! The SQL of drivers, cards, merchants, orders, rules, tokens and the
//! ledger: writes run by the writer inside their savepoint, reads on a
//! reader connection.
//!
//! Posting an entry reads the balances it touches, checks them with the
//! ledger's own rule (`Entry::apply`) and writes the entry, its lines and the
//! new balances in the same savepoint. The single writer makes that
//! read-check-write atomic without locks.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

use super::codec::{decimal, json, micros, name, opt_time, time, to_json};
use crate::{EntryFilter, Result, StoreError};
use domain::accounts::{
    Card, Driver, Merchant, NewRule, NewUser, Operator, Order, OrderStatus, Role, Rule, Status, Token, User,
};
use domain::ledger::{Account, Entry};
use domain::settlement::Statement;
use vocab::{DriverId, MerchantId, OperatorId};

fn taken(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            ) =>
        {
            StoreError::Conflict(what())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::NotFound(what())
        }
        _ => e.into(),
    }
}

fn status(r: &Row, idx: usize) -> rusqlite::Result<Status> {
    let s: String = r.get(idx)?;
    Status::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("status {s:?}").into(),
        )
    })
}

pub(super) fn text<T: serde::Serialize>(v: &T) -> rusqlite::Result<String> {
    // Enums stored as their snake_case JSON string without quotes.
    Ok(to_json(v)?.trim_matches('"').to_owned())
}

fn parsed<T: serde::de::DeserializeOwned>(r: &Row, idx: usize) -> rusqlite::Result<T> {
    let s: String = r.get(idx)?;
    serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("{s:?}: {e}").into(),
        )
    })
}

pub(super) fn create_merchant(
    c: &Connection,
    operator_id: OperatorId,
    name: String,
    pct: Decimal,
    at: DateTime<Utc>,
) -> Result<Merchant> {
    c.prepare_cached(
        "INSERT INTO merchants (operator_id, name, commission_percent, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![operator_id, name, pct.to_string(), micros(at)])?;
    Ok(Merchant { id: c.last_insert_rowid(), operator_id, name, commission_percent: pct, created_at: at })
}

const MERCHANT: &str = "SELECT id, operator_id, name, commission_percent, created_at FROM merchants";

fn merchant_row(r: &Row) -> rusqlite::Result<Merchant> {
    Ok(Merchant {
        id: r.get(0)?,
        operator_id: r.get(1)?,
        name: r.get(2)?,
        commission_percent: decimal(r, 3)?,
        created_at: time(r, 4)?,
    })
}

pub(super) fn merchants(c: &Connection) -> rusqlite::Result<Vec<Merchant>> {
    c.prepare_cached(&format!("{MERCHANT} ORDER BY id"))?.query_map([], merchant_row)?.collect()
}

pub(super) fn merchant(c: &Connection, id: MerchantId) -> rusqlite::Result<Option<Merchant>> {
    c.prepare_cached(&format!("{MERCHANT} WHERE id = ?1"))?.query_row([id], merchant_row).optional()
}

const DRIVER: &str =
    "SELECT id, phone, password_hash, class, status, created_at, last_active_at FROM drivers";

fn driver_row(r: &Row) -> rusqlite::Result<Driver> {
    Ok(Driver {
        id: r.get(0)?,
        phone: r.get(1)?,
        password_hash: r.get(2)?,
        class: r.get(3)?,
        status: status(r, 4)?,
        created_at: time(r, 5)?,
        last_active_at: time(r, 6)?,
    })
}

pub(super) fn create_driver(
    c: &Connection,
    phone: String,
    password_hash: Option<String>,
    class: Option<String>,
    at: DateTime<Utc>,
) -> Result<Driver> {
    c.prepare_cached(
        "INSERT INTO drivers (phone, password_hash, class, status, created_at, last_active_at)
         VALUES (?1, ?2, ?3, 'active', ?4, ?4)",
    )?
    .execute(params![phone, password_hash, class, micros(at)])
    .map_err(|e| taken(e, || format!("phone {phone}")))?;
    let id = c.last_insert_rowid();
    Ok(Driver { id, phone, password_hash, class, status: Status::Active, created_at: at, last_active_at: at })
}

pub(super) fn driver(c: &Connection, id: DriverId) -> rusqlite::Result<Option<Driver>> {
    c.prepare_cached(&format!("{DRIVER} WHERE id = ?1"))?.query_row([id], driver_row).optional()
}

pub(super) fn driver_by_phone(c: &Connection, phone: &str) -> rusqlite::Result<Option<Driver>> {
    c.prepare_cached(&format!("{DRIVER} WHERE phone = ?1"))?.query_row([phone], driver_row).optional()
}

pub(super) fn inactive_drivers(
    c: &Connection,
    before: DateTime<Utc>,
    limit: usize,
) -> rusqlite::Result<Vec<Driver>> {
    c.prepare_cached(&format!("{DRIVER} WHERE last_active_at < ?1 ORDER BY last_active_at, id LIMIT ?2"))?
        .query_map(params![micros(before), limit as i64], driver_row)?
        .collect()
}

pub(super) fn update_driver(c: &Connection, d: &Driver) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE drivers SET password_hash = ?2, class = ?3, status = ?4, last_active_at = ?5 WHERE id = ?1",
        )?
        .execute(params![d.id, d.password_hash, d.class, d.status.as_str(), micros(d.last_active_at)])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("driver {}", d.id)));
    }
    Ok(())
}

const CARD: &str = "SELECT number, driver_id, kind, status, created_at FROM cards";

fn card_row(r: &Row) -> rusqlite::Result<Card> {
    Ok(Card {
        number: r.get(0)?,
        driver_id: r.get(1)?,
        kind: parsed(r, 2)?,
        status: status(r, 3)?,
        created_at: time(r, 4)?,
    })
}

pub(super) fn create_card(c: &Connection, card: &Card) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO cards (number, driver_id, kind, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        card.number,
        card.driver_id,
        text(&card.kind)?,
        card.status.as_str(),
        micros(card.created_at)
    ])
    .map_err(|e| match taken(e, String::new) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("card {}", card.number)),
        StoreError::NotFound(_) => StoreError::NotFound(format!("driver {}", card.driver_id)),
        e => e,
    })?;
    Ok(())
}

pub(super) fn card(c: &Connection, number: &str) -> rusqlite::Result<Option<Card>> {
    c.prepare_cached(&format!("{CARD} WHERE number = ?1"))?.query_row([number], card_row).optional()
}

pub(super) fn cards(c: &Connection, driver: DriverId) -> rusqlite::Result<Vec<Card>> {
    c.prepare_cached(&format!("{CARD} WHERE driver_id = ?1 ORDER BY number"))?
        .query_map([driver], card_row)?
        .collect()
}

pub(super) fn set_card_status(c: &Connection, number: &str, s: Status) -> Result<Option<Card>> {
    c.prepare_cached("UPDATE cards SET status = ?2 WHERE number = ?1")?
        .execute(params![number, s.as_str()])?;
    Ok(card(c, number)?)
}

pub(super) fn create_rule(c: &Connection, rule: NewRule, at: DateTime<Utc>) -> Result<Rule> {
    c.prepare_cached("INSERT INTO rules (rule, created_at) VALUES (?1, ?2)")?
        .execute(params![to_json(&rule)?, micros(at)])?;
    Ok(Rule { id: c.last_insert_rowid(), rule })
}

pub(super) fn rules(c: &Connection) -> rusqlite::Result<Vec<Rule>> {
    c.prepare_cached("SELECT id, rule FROM rules ORDER BY id")?
        .query_map([], |r| Ok(Rule { id: r.get(0)?, rule: json(r, 1)? }))?
        .collect()
}

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

const USER: &str =
    "SELECT id, username, password_hash, role, merchant_id, created_at, operator_id FROM users";

fn user_row(r: &Row) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    let role = Role::parse(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("role {role:?}").into(),
        )
    })?;
    let user = NewUser {
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role,
        operator_id: r.get(6)?,
        merchant_id: r.get(4)?,
    };
    Ok(User { id: r.get(0)?, user, created_at: time(r, 5)? })
}

pub(super) fn create_user(c: &Connection, u: NewUser, at: DateTime<Utc>) -> Result<User> {
    c.prepare_cached(
        "INSERT INTO users (username, password_hash, role, merchant_id, created_at, operator_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![u.username, u.password_hash, u.role.as_str(), u.merchant_id, micros(at), u.operator_id])
    .map_err(|e| match taken(e, String::new) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("username {}", u.username)),
        StoreError::NotFound(_) => StoreError::NotFound(format!("merchant {:?}", u.merchant_id)),
        e => e,
    })?;
    Ok(User { id: c.last_insert_rowid(), user: u, created_at: at })
}

pub(super) fn user(c: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(&format!("{USER} WHERE id = ?1"))?.query_row([id], user_row).optional()
}

pub(super) fn users(c: &Connection) -> rusqlite::Result<Vec<User>> {
    c.prepare_cached(&format!("{USER} ORDER BY id"))?.query_map([], user_row)?.collect()
}

/// Operator 1 comes with the schema; see V12.
pub(super) fn create_operator(c: &Connection, name: String, at: DateTime<Utc>) -> Result<Operator> {
    c.prepare_cached("INSERT INTO operators (name, status, created_at) VALUES (?1, 'active', ?2)")?
        .execute(params![name, micros(at)])?;
    Ok(Operator { id: c.last_insert_rowid(), name, status: Status::Active, created_at: at })
}

const OPERATOR: &str = "SELECT id, name, status, created_at FROM operators";

fn operator_row(r: &Row) -> rusqlite::Result<Operator> {
    Ok(Operator {
        id: r.get(0)?,
        name: r.get(1)?,
        status: name(r, 2, Status::parse)?,
        created_at: time(r, 3)?,
    })
}

pub(super) fn operator(c: &Connection, id: OperatorId) -> rusqlite::Result<Option<Operator>> {
    c.prepare_cached(&format!("{OPERATOR} WHERE id = ?1"))?.query_row([id], operator_row).optional()
}

pub(super) fn operators(c: &Connection) -> rusqlite::Result<Vec<Operator>> {
    c.prepare_cached(&format!("{OPERATOR} ORDER BY id"))?.query_map([], operator_row)?.collect()
}

pub(super) fn update_operator(
    c: &Connection,
    id: OperatorId,
    name: String,
    status: Status,
) -> Result<Option<Operator>> {
    c.prepare_cached("UPDATE operators SET name = ?2, status = ?3 WHERE id = ?1")?.execute(params![
        id,
        name,
        status.as_str()
    ])?;
    Ok(operator(c, id)?)
}

pub(super) fn user_by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(&format!("{USER} WHERE username = ?1"))?.query_row([name], user_row).optional()
}

pub(super) fn create_token(c: &Connection, hash: &str, t: &Token) -> Result<()> {
    c.prepare_cached("INSERT INTO tokens (hash, token, expires_at) VALUES (?1, ?2, ?3)")?
        .execute(params![hash, to_json(t)?, micros(t.expires_at)])
        .map_err(|e| taken(e, || "token".to_owned()))?;
    Ok(())
}

pub(super) fn token(c: &Connection, hash: &str) -> rusqlite::Result<Option<Token>> {
    c.prepare_cached("SELECT token FROM tokens WHERE hash = ?1")?.query_row([hash], |r| json(r, 0)).optional()
}

pub(super) fn correct_bill(c: &Connection, bill: &domain::pricing::Bill, at: DateTime<Utc>) -> Result<u32> {
    let id = &bill.session_id;
    let (Some(old), Some(session)) = (super::read::bill(c, id)?, super::read::session(c, id)?) else {
        return Err(StoreError::NotFound(format!("bill of session {id}")));
    };
    let replaced: i64 = c
        .prepare_cached("SELECT count(*) FROM bill_revisions WHERE session_id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))?;
    c.prepare_cached(
        "INSERT INTO bill_revisions (session_id, revision, bill, replaced_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id.as_str(), replaced, to_json(&old)?, micros(at)])?;
    c.prepare_cached(
        "UPDATE bills SET lines = ?2, total = ?3, refund = ?4, list_total = ?5, discount = ?6 WHERE session_id = ?1",
    )?
    .execute(params![
        id.as_str(),
        to_json(&bill.lines)?,
        bill.total.to_string(),
        bill.refund.to_string(),
        bill.list_total.to_string(),
        bill.discount.to_string()
    ])?;
    let revision = replaced as u32 + 1;
    if let Some(payer) = &session.terms.payer {
        let filter = EntryFilter { reference: Some(id.to_string()), ..Default::default() };
        let last = entries(c, &filter)?.into_iter().rfind(|e| e.kind == domain::ledger::EntryKind::Capture);
        if let Some(last) = last {
            post(c, &last.reversal(at))?;
        }
        post(c, &Entry::recapture(payer, session.terms.merchant_id, bill, revision, at))?;
    }
    Ok(revision)
}

pub(super) fn bill_history(
    c: &Connection,
    id: &vocab::SessionId,
) -> rusqlite::Result<Vec<domain::pricing::Bill>> {
    c.prepare_cached("SELECT bill FROM bill_revisions WHERE session_id = ?1 ORDER BY revision")?
        .query_map([id.as_str()], |r| json(r, 0))?
        .collect()
}
