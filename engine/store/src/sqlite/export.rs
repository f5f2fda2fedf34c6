//! Reading the whole database out, page by page, for `store::export`.
//!
//! Each table is paged by its key (`WHERE key > ?` in key order), so a page
//! costs the same wherever it starts and a copy resumes from the last key it
//! reported. Records are read with the same queries the store serves, so an
//! exported record is exactly what the store would have returned.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{json, time};
use super::SqliteStore;
use crate::export::{Page, Record, Table};
use crate::{Item, ItemKind, Result, StoreError};
use vocab::{PileId, SessionId};

impl SqliteStore {
    /// Up to `limit` records of `table` after the key `after`.
    pub async fn export(&self, table: Table, after: Option<String>, limit: usize) -> Result<Page> {
        self.readers.read(move |c| Ok(page(c, table, after, limit))).await?
    }

    /// How many records `table` holds.
    pub async fn export_count(&self, table: Table) -> Result<u64> {
        let (column, _) = key(table);
        let sql = format!("SELECT count(DISTINCT {column}) FROM {}", source(table));
        self.readers.read(move |c| c.query_row(&sql, [], |r| r.get(0))).await
    }
}

/// The SQL table each `Table` is read from.
fn source(table: Table) -> &'static str {
    match table {
        Table::Responses => "idempotency",
        t => t.name(),
    }
}

/// The key a table is paged by, and whether it is an integer. Readings and
/// diagnostics are paged by their session or pile, whose index leads.
fn key(table: Table) -> (&'static str, bool) {
    match table {
        Table::Operators
        | Table::Tariffs
        | Table::Plans
        | Table::Merchants
        | Table::Stations
        | Table::Drivers
        | Table::Alarms
        | Table::Rules
        | Table::Users => ("id", true),
        Table::Entries => ("seq", true),
        Table::Piles | Table::Sessions | Table::Orders => ("id", false),
        Table::Samples | Table::BillRevisions => ("session_id", false),
        Table::Diagnostics | Table::OfflineCards | Table::OcppPasswords => ("pile_id", false),
        Table::Responses => ("key", false),
        Table::Cards => ("number", false),
        Table::Statements => ("merchant_id", true),
        Table::Tokens => ("hash", false),
        // kind || ' ' || key: unique, and ordered as the table's key is.
        Table::OutOfService => ("kind || ' ' || key", false),
    }
}

fn bad_cursor(table: Table, after: &str) -> StoreError {
    StoreError::Backend(format!("bad export position {after:?} for {}", table.name()))
}

fn page(c: &Connection, table: Table, after: Option<String>, limit: usize) -> Result<Page> {
    match table {
        Table::BillRevisions => return revisions(c, after, limit),
        Table::Statements => return statements(c, after, limit),
        _ => {}
    }
    let (column, integer) = key(table);
    let after = match after {
        None => Value::Null,
        Some(a) if integer => Value::Integer(a.parse().map_err(|_| bad_cursor(table, &a))?),
        Some(a) => Value::Text(a),
    };
    let sql = format!(
        "SELECT DISTINCT {column} FROM {} WHERE ?1 IS NULL OR {column} > ?1 ORDER BY {column} LIMIT ?2",
        source(table)
    );
    let keys: Vec<Value> = c
        .prepare(&sql)?
        .query_map(params![after, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let next = match keys.last() {
        Some(Value::Integer(k)) if keys.len() == limit => Some(k.to_string()),
        Some(Value::Text(k)) if keys.len() == limit => Some(k.clone()),
        _ => None,
    };
    let missing =
        |k: &Value| StoreError::Backend(format!("{} {k:?} vanished during the export", table.name()));
    let mut records = Vec::with_capacity(keys.len());
    for k in &keys {
        let (id, text) = match k {
            Value::Integer(i) => (*i, ""),
            Value::Text(t) => (0, t.as_str()),
            _ => return Err(missing(k)),
        };
        let record = match table {
            Table::Operators => super::resources::operator(c, id)?.map(Record::Operator),
            Table::Tariffs => super::resources::tariff(c, id)?.map(Record::Tariff),
            Table::Plans => super::resources::plan(c, id)?.map(Record::Plan),
            Table::Merchants => super::resources::merchant(c, id)?.map(Record::Merchant),
            Table::Stations => super::resources::station(c, id)?.map(Record::Station),
            Table::Piles => super::resources::pile(c, &PileId(text.to_owned()))?.map(Record::Pile),
            Table::Drivers => super::accounts::driver(c, id)?.map(Record::Driver),
            Table::Sessions => {
                let sid = SessionId(text.to_owned());
                super::sessions::session(c, &sid)?
                    .map(|s| Ok::<_, StoreError>(Record::Session(s, super::sessions::bill(c, &sid)?)))
                    .transpose()?
            }
            Table::Samples => {
                let sid = SessionId(text.to_owned());
                Some(Record::Samples(sid.clone(), super::sessions::samples(c, &sid)?))
            }
            Table::Diagnostics => {
                let pile = PileId(text.to_owned());
                let mut ds = super::sessions::diagnostics(c, &pile, i64::MAX as usize)?;
                ds.reverse();
                Some(Record::Diagnostics(pile, ds))
            }
            Table::OfflineCards => {
                let pile = PileId(text.to_owned());
                Some(Record::OfflineCards(pile.clone(), super::resources::offline_cards(c, &pile)?))
            }
            Table::OcppPasswords => {
                let pile = PileId(text.to_owned());
                super::credentials::ocpp_password(c, &pile)?.map(|hash| Record::OcppPassword(pile, hash))
            }
            Table::Alarms => super::alarms::alarm(c, id)?.map(Record::Alarm),
            Table::Responses => super::idempotency::idempotent_response(c, text)?
                .map(|r| Record::Response(text.to_owned(), r)),
            Table::Cards => super::accounts::card(c, text)?.map(Record::Card),
            Table::Rules => super::resources::rules(c)?.into_iter().find(|r| r.id == id).map(Record::Rule),
            Table::Orders => super::money::order(c, text)?.map(Record::Order),
            Table::Entries => c
                .prepare_cached("SELECT key, kind, at, reference, lines FROM entries WHERE seq = ?1")?
                .query_row([id], super::money::entry_row)
                .optional()?
                .map(Record::Entry),
            Table::Users => super::accounts::user(c, id)?.map(Record::User),
            Table::Tokens => super::accounts::token(c, text)?.map(|t| Record::Token(text.to_owned(), t)),
            Table::OutOfService => match text.split_once(' ') {
                Some((kind, key)) => match ItemKind::parse(kind) {
                    Some(kind) => {
                        let item = Item { kind, key: key.to_owned() };
                        super::resources::out_of_service(c, &item)?
                            .map(|since| Record::OutOfService(item, since))
                    }
                    None => None,
                },
                None => None,
            },
            Table::BillRevisions | Table::Statements => unreachable!("paged on their own"),
        };
        records.push(record.ok_or_else(|| missing(k))?);
    }
    Ok(Page { records, next })
}

/// Paged by `[session_id, revision]`, as JSON.
fn revisions(c: &Connection, after: Option<String>, limit: usize) -> Result<Page> {
    let (sid, rev): (String, i64) = match &after {
        Some(a) => serde_json::from_str(a).map_err(|_| bad_cursor(Table::BillRevisions, a))?,
        None => (String::new(), -1),
    };
    let rows: Vec<(String, i64, Record)> = c
        .prepare(
            "SELECT session_id, revision, bill, replaced_at FROM bill_revisions
             WHERE (session_id, revision) > (?1, ?2) ORDER BY session_id, revision LIMIT ?3",
        )?
        .query_map(params![sid, rev, limit as i64], |r| {
            let revision: i64 = r.get(1)?;
            let record = Record::BillRevision {
                revision: revision as u32,
                bill: json(r, 2)?,
                replaced_at: time(r, 3)?,
            };
            Ok((r.get(0)?, revision, record))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let next = match rows.last() {
        Some((sid, rev, _)) if rows.len() == limit => Some(serde_json::json!([sid, rev]).to_string()),
        _ => None,
    };
    Ok(Page { records: rows.into_iter().map(|(_, _, r)| r).collect(), next })
}

/// Paged by `[merchant_id, day]`, as JSON.
fn statements(c: &Connection, after: Option<String>, limit: usize) -> Result<Page> {
    let (merchant, day): (i64, String) = match &after {
        Some(a) => serde_json::from_str(a).map_err(|_| bad_cursor(Table::Statements, a))?,
        None => (i64::MIN, String::new()),
    };
    let rows: Vec<(i64, String, Record)> = c
        .prepare(
            "SELECT merchant_id, day, statement FROM statements
             WHERE (merchant_id, day) > (?1, ?2) ORDER BY merchant_id, day LIMIT ?3",
        )?
        .query_map(params![merchant, day, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, Record::Statement(json(r, 2)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let next = match rows.last() {
        Some((m, d, _)) if rows.len() == limit => Some(serde_json::json!([m, d]).to_string()),
        _ => None,
    };
    Ok(Page { records: rows.into_iter().map(|(_, _, r)| r).collect(), next })
}
