//! Domain values to columns and back, following the conventions in `schema`.
//!
//! Decoding is strict: a value the domain cannot hold (a state that does not
//! exist, a timestamp out of range, a malformed decimal) is an error naming
//! its column, never a default, because the store is the record of money.

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{CachedStatement, Row};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;

use domain::accounts::Status;
use domain::pricing::Pricing;
use domain::session::{SessionRecord, SessionState, StopReason};
use vocab::{PileId, PortNo, SessionId};

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn to_json<T: Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn bad(row: &Row, idx: usize, ty: Type, why: String) -> rusqlite::Error {
    let column = row.as_ref().column_name(idx).unwrap_or("?").to_owned();
    rusqlite::Error::FromSqlConversionFailure(idx, ty, format!("column {column}: {why}").into())
}

pub(super) fn time(row: &Row, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let us: i64 = row.get(idx)?;
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| bad(row, idx, Type::Integer, format!("timestamp {us} out of range")))
}

pub(super) fn opt_time(row: &Row, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => time(row, idx).map(Some),
    }
}

pub(super) fn decimal(row: &Row, idx: usize) -> rusqlite::Result<Decimal> {
    let text = row.get_ref(idx)?.as_str()?;
    // Exact: a value that does not fit is an error, not a rounded number.
    Decimal::from_str_exact(text).map_err(|e| bad(row, idx, Type::Text, format!("decimal {text:?}: {e}")))
}

pub(super) fn opt_decimal(row: &Row, idx: usize) -> rusqlite::Result<Option<Decimal>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => decimal(row, idx).map(Some),
    }
}

pub(super) fn json<T: DeserializeOwned>(row: &Row, idx: usize) -> rusqlite::Result<T> {
    let text = row.get_ref(idx)?.as_str()?;
    serde_json::from_str(text).map_err(|e| bad(row, idx, Type::Text, format!("JSON: {e}")))
}

/// A text column holding one of an enum's names.
pub(super) fn name<T>(row: &Row, idx: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text = row.get_ref(idx)?.as_str()?;
    parse(text).ok_or_else(|| bad(row, idx, Type::Text, format!("unknown value {text:?}")))
}

/// Session columns in the order of `bind_session`'s ?1..?14 and `session`.
pub(super) const SESSION_COLUMNS: &str = "id, pile_id, port, station_id, tariff_id, plan_id, state, \
     created_at, started_at, ended_at, stop_code, stop_text, terms, meter";

/// Runs an INSERT or UPDATE whose parameters ?1..?14 are `SESSION_COLUMNS`.
pub(super) fn bind_session(stmt: &mut CachedStatement, s: &SessionRecord) -> rusqlite::Result<usize> {
    let stop = s.stop_reason.as_ref();
    let tariff_id = match &s.terms.pricing {
        Pricing::TimeOfUse { tariff_id, .. } => Some(*tariff_id),
        _ => None,
    };
    stmt.execute(rusqlite::params![
        s.id.as_str(),
        s.pile_id.as_str(),
        s.port.0,
        s.station_id,
        tariff_id,
        s.terms.plan_id,
        s.state.as_str(),
        micros(s.created_at),
        s.started_at.map(micros),
        s.ended_at.map(micros),
        stop.map(|r| r.code),
        stop.map(|r| r.text.as_str()),
        to_json(&s.terms)?,
        to_json(&s.meter)?,
    ])
}

pub(super) const BILL_COLUMNS: &str = "session_id, tariff_id, plan_id, kwh, seconds, energy_amount, \
     service_amount, total, prepaid, refund, lines, created_at, reconciliation, list_total, discount";

/// Runs an INSERT whose parameters ?1..?15 are `BILL_COLUMNS`: `session`'s
/// bill, made `at`.
pub(super) fn bind_bill(
    stmt: &mut CachedStatement,
    session: &SessionId,
    bill: &domain::pricing::Bill,
    at: DateTime<Utc>,
) -> rusqlite::Result<usize> {
    stmt.execute(rusqlite::params![
        session.as_str(),
        bill.tariff_id,
        bill.plan_id,
        bill.kwh.to_string(),
        bill.seconds,
        bill.energy_amount.to_string(),
        bill.service_amount.to_string(),
        bill.total.to_string(),
        bill.prepaid.map(|p| p.to_string()),
        bill.refund.to_string(),
        to_json(&bill.lines)?,
        micros(at),
        bill.reconciliation.as_ref().map(to_json).transpose()?,
        bill.list_total.to_string(),
        bill.discount.to_string(),
    ])
}

/// Decodes a row selected as `SESSION_COLUMNS`.
pub(super) fn session(row: &Row) -> rusqlite::Result<SessionRecord> {
    let stop_reason = match row.get::<_, Option<u8>>(10)? {
        Some(code) => Some(StopReason { code, text: row.get(11)? }),
        None => None,
    };
    Ok(SessionRecord {
        id: SessionId(row.get(0)?),
        pile_id: PileId(row.get(1)?),
        port: PortNo(row.get(2)?),
        station_id: row.get(3)?,
        state: name(row, 6, SessionState::parse)?,
        created_at: time(row, 7)?,
        started_at: opt_time(row, 8)?,
        ended_at: opt_time(row, 9)?,
        stop_reason,
        terms: json(row, 12)?,
        meter: json(row, 13)?,
    })
}

pub(super) fn status(r: &Row, idx: usize) -> rusqlite::Result<Status> {
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

pub(super) fn parsed<T: serde::de::DeserializeOwned>(r: &Row, idx: usize) -> rusqlite::Result<T> {
    let s: String = r.get(idx)?;
    serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("{s:?}: {e}").into(),
        )
    })
}
