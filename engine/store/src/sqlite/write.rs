//! The SQL of each write, run by the writer inside the write's savepoint.
//!
//! Parents are enforced by foreign keys; a broken key is turned into the
//! trait's `Conflict` or `NotFound` naming what was taken or missing. An error
//! here rolls back only this write's savepoint.

use chrono::{DateTime, Utc};
use rusqlite::{ffi, params, Connection, ToSql};

use super::codec::{bind_session, micros, to_json, SESSION_COLUMNS};
use crate::{NewStation, PileRecord, Result, Station, StoreError, StoredResponse};
use domain::alarm::{Alarm, AlarmId, NewAlarm};
use domain::allocation::PowerConfig;
use domain::ledger::Entry;
use domain::pricing::{Bill, PricePlan, Pricing};
use domain::session::{MeterSample, SessionRecord, SessionState};
use domain::tariff::{Tariff, TouPrices};
use vocab::{OperatorId, StationId, TariffId};

/// The constraint a statement broke, when that is why it failed.
enum Broke {
    /// A primary key or unique value already taken.
    Key,
    /// A reference to a row that does not exist.
    Parent,
}

fn broke(e: &rusqlite::Error) -> Option<Broke> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => Some(Broke::Key),
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Broke::Parent),
            _ => None,
        },
        _ => None,
    }
}

fn exists(c: &Connection, sql: &str, key: impl ToSql) -> rusqlite::Result<bool> {
    c.prepare_cached(sql)?.exists([key])
}

pub(super) fn create_tariff(
    c: &Connection,
    operator_id: OperatorId,
    name: String,
    tou: TouPrices,
    at: DateTime<Utc>,
) -> Result<Tariff> {
    c.prepare_cached("INSERT INTO tariffs (operator_id, name, tou, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![operator_id, name, to_json(&tou)?, micros(at)])?;
    Ok(Tariff { id: c.last_insert_rowid(), operator_id, name, tou })
}

pub(super) fn create_station(c: &Connection, station: NewStation, at: DateTime<Utc>) -> Result<Station> {
    c.prepare_cached(
        "INSERT INTO stations (name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at,
                               merchant_id, details, operator_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        station.name,
        station.tariff_id,
        station.utc_offset_minutes,
        station.service_fee.to_string(),
        station.minimum_charge.to_string(),
        micros(at),
        station.merchant_id,
        station.details.as_ref().map(to_json).transpose()?,
        station.operator_id,
    ])
    .map_err(|e| match broke(&e) {
        Some(Broke::Parent) => StoreError::NotFound(format!("tariff {} or merchant", station.tariff_id)),
        _ => e.into(),
    })?;
    Ok(Station {
        id: c.last_insert_rowid(),
        operator_id: station.operator_id,
        name: station.name,
        tariff_id: station.tariff_id,
        utc_offset_minutes: station.utc_offset_minutes,
        service_fee: station.service_fee,
        minimum_charge: station.minimum_charge,
        merchant_id: station.merchant_id,
        details: station.details,
        power: None,
        created_at: at,
    })
}

pub(super) fn create_plan(
    c: &Connection,
    operator_id: OperatorId,
    name: String,
    pricing: Pricing,
    at: DateTime<Utc>,
) -> Result<PricePlan> {
    c.prepare_cached("INSERT INTO plans (operator_id, name, pricing, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![operator_id, name, to_json(&pricing)?, micros(at)])?;
    Ok(PricePlan { id: c.last_insert_rowid(), operator_id, name, pricing })
}

pub(super) fn create_pile(c: &Connection, pile: &PileRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO piles (id, station_id, protocol, ports, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        pile.id.as_str(),
        pile.station_id,
        pile.protocol.as_str(),
        pile.ports,
        micros(pile.created_at)
    ])
    .map_err(|e| match broke(&e) {
        Some(Broke::Key) => StoreError::Conflict(format!("pile {}", pile.id)),
        Some(Broke::Parent) => StoreError::NotFound(format!("station {}", pile.station_id)),
        None => e.into(),
    })?;
    Ok(())
}

/// Names the pile, station, tariff or plan a session refers to that does
/// not exist.
fn missing_parent(c: &Connection, s: &SessionRecord) -> Result<StoreError> {
    let missing = if !exists(c, "SELECT 1 FROM piles WHERE id = ?1", s.pile_id.as_str())? {
        format!("pile {}", s.pile_id)
    } else if !exists(c, "SELECT 1 FROM stations WHERE id = ?1", s.station_id)? {
        format!("station {}", s.station_id)
    } else if let Some(plan) = s.terms.plan_id {
        format!("plan {plan} or tariff")
    } else {
        "tariff".to_owned()
    };
    Ok(StoreError::NotFound(missing))
}

pub(super) fn insert_session(c: &Connection, s: &SessionRecord) -> Result<()> {
    let sql = format!(
        "INSERT INTO sessions ({SESSION_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    );
    if let Err(e) = bind_session(&mut c.prepare_cached(&sql)?, s) {
        return Err(match broke(&e) {
            Some(Broke::Key) => StoreError::Conflict(format!("session {}", s.id)),
            Some(Broke::Parent) => missing_parent(c, s)?,
            None => e.into(),
        });
    }
    if let Some(payer) = &s.terms.payer {
        c.prepare_cached(
            "INSERT INTO driver_sessions (driver_id, created_at, session_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![payer.driver, micros(s.created_at), s.id.as_str()])
        .map_err(|e| match broke(&e) {
            Some(Broke::Parent) => StoreError::NotFound(format!("driver {}", payer.driver)),
            _ => e.into(),
        })?;
        if !payer.held.is_zero() {
            super::money::post(c, &Entry::hold(&s.id, payer.driver, payer.held, s.created_at))?;
        }
    }
    Ok(())
}

/// Rewrites every column of a session; ?1..?14 as in `SESSION_COLUMNS`.
const UPDATE_SESSION: &str = "UPDATE sessions SET pile_id = ?2, port = ?3, station_id = ?4, tariff_id = ?5, \
     plan_id = ?6, state = ?7, created_at = ?8, started_at = ?9, ended_at = ?10, stop_code = ?11, \
     stop_text = ?12, terms = ?13, meter = ?14 WHERE id = ?1";

pub(super) fn update_session(c: &Connection, s: &SessionRecord) -> Result<()> {
    // A billed session is final even if its stored state somehow is not.
    let sql = format!(
        "{UPDATE_SESSION} AND state <> 'finished'
         AND NOT EXISTS (SELECT 1 FROM bills WHERE session_id = ?1)"
    );
    let updated = match bind_session(&mut c.prepare_cached(&sql)?, s) {
        Ok(n) => n,
        Err(e) => {
            return Err(match broke(&e) {
                Some(Broke::Parent) => missing_parent(c, s)?,
                _ => e.into(),
            })
        }
    };
    if updated == 1 {
        release_failed(c, s)
    } else if exists(c, "SELECT 1 FROM sessions WHERE id = ?1", s.id.as_str())? {
        Err(StoreError::Conflict(format!("session {} is finished", s.id)))
    } else {
        Err(StoreError::NotFound(format!("session {}", s.id)))
    }
}

/// A charge that never started gives its hold back.
fn release_failed(c: &Connection, s: &SessionRecord) -> Result<()> {
    if let Some(payer) =
        s.terms.payer.as_ref().filter(|p| s.state == SessionState::Failed && !p.held.is_zero())
    {
        let hold = Entry::hold(&s.id, payer.driver, payer.held, s.created_at);
        super::money::post(c, &hold.reversal(s.ended_at.unwrap_or(s.created_at)))?;
    }
    Ok(())
}

pub(super) fn append_samples(c: &Connection, samples: &[MeterSample]) -> Result<()> {
    // seq: after any reading of the session already stored at the same
    // instant, so equal timestamps keep their arrival order.
    let mut insert = c.prepare_cached(
        "INSERT INTO samples (session_id, at, seq, kwh, voltage, current, power, soc)
         VALUES (?1, ?2, (SELECT coalesce(max(seq) + 1, 0) FROM samples WHERE session_id = ?1 AND at = ?2),
                 ?3, ?4, ?5, ?6, ?7)",
    )?;
    for s in samples {
        insert
            .execute(params![
                s.session_id.as_str(),
                micros(s.at),
                s.kwh.to_string(),
                s.voltage.to_string(),
                s.current.to_string(),
                s.power.to_string(),
                s.soc,
            ])
            .map_err(|e| match broke(&e) {
                Some(Broke::Parent) => StoreError::NotFound(format!("session {}", s.session_id)),
                _ => e.into(),
            })?;
    }
    Ok(())
}

pub(super) fn finish_session(
    c: &Connection,
    s: &SessionRecord,
    bill: &Bill,
    at: DateTime<Utc>,
) -> Result<bool> {
    crate::finishable(s, bill)?;
    if !exists(c, "SELECT 1 FROM sessions WHERE id = ?1", s.id.as_str())? {
        return Err(StoreError::NotFound(format!("session {}", s.id)));
    }
    if exists(c, "SELECT 1 FROM bills WHERE session_id = ?1", s.id.as_str())? {
        return Ok(false);
    }
    if let Err(e) = bind_session(&mut c.prepare_cached(UPDATE_SESSION)?, s) {
        return Err(match broke(&e) {
            Some(Broke::Parent) => missing_parent(c, s)?,
            _ => e.into(),
        });
    }
    c.prepare_cached(
        "INSERT INTO bills (session_id, tariff_id, plan_id, kwh, seconds, energy_amount, service_amount,
                            total, prepaid, refund, lines, created_at, reconciliation, list_total, discount)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        s.id.as_str(),
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
    .map_err(|e| match broke(&e) {
        Some(Broke::Parent) => StoreError::NotFound("the bill's tariff or plan".to_owned()),
        _ => e.into(),
    })?;
    if let Some(payer) = &s.terms.payer {
        let entry = Entry::capture(payer, s.terms.merchant_id, bill, s.ended_at.unwrap_or(at));
        super::money::post(c, &entry)?;
    }
    Ok(true)
}

pub(super) fn remember_response(c: &Connection, key: &str, r: &StoredResponse) -> Result<bool> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO idempotency (key, fingerprint, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![key, r.fingerprint, r.status, r.body, micros(r.created_at)])?;
    Ok(inserted == 1)
}

pub(super) fn raise_alarm(c: &Connection, a: &NewAlarm) -> Result<Alarm> {
    c.prepare_cached(
        "INSERT INTO alarms (station_id, pile_id, port, kind, severity, message, raised_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        a.station_id,
        a.pile_id.as_ref().map(|p| p.as_str()),
        a.port.map(|p| p.0),
        a.kind,
        a.severity.as_str(),
        a.message,
        micros(a.raised_at)
    ])
    .map_err(|e| match broke(&e) {
        Some(Broke::Parent) => StoreError::NotFound(format!("the alarm's station {} or pile", a.station_id)),
        _ => e.into(),
    })?;
    Ok(Alarm { id: c.last_insert_rowid(), alarm: a.clone(), acknowledged_at: None, cleared_at: None })
}

/// Sets an alarm's acknowledged or cleared time if it is not set yet.
pub(super) fn mark_alarm(
    c: &Connection,
    id: AlarmId,
    column: AlarmMark,
    at: DateTime<Utc>,
) -> Result<Option<Alarm>> {
    let sql = match column {
        AlarmMark::Acknowledged => {
            "UPDATE alarms SET acknowledged_at = coalesce(acknowledged_at, ?2) WHERE id = ?1"
        }
        AlarmMark::Cleared => "UPDATE alarms SET cleared_at = coalesce(cleared_at, ?2) WHERE id = ?1",
    };
    c.prepare_cached(sql)?.execute(params![id, micros(at)])?;
    Ok(super::read::alarm(c, id)?)
}

pub(super) enum AlarmMark {
    Acknowledged,
    Cleared,
}

pub(super) fn set_station_power(
    c: &Connection,
    id: StationId,
    power: Option<&PowerConfig>,
) -> Result<Option<Station>> {
    let json = power.map(to_json).transpose()?;
    c.prepare_cached("UPDATE stations SET power = ?2 WHERE id = ?1")?.execute(params![id, json])?;
    Ok(super::read::station(c, id)?)
}

pub(super) fn set_station_details(
    c: &Connection,
    id: StationId,
    details: Option<&crate::StationDetails>,
) -> Result<Option<Station>> {
    let json = details.map(to_json).transpose()?;
    c.prepare_cached("UPDATE stations SET details = ?2 WHERE id = ?1")?.execute(params![id, json])?;
    Ok(super::read::station(c, id)?)
}

pub(super) fn set_station_tariff(c: &Connection, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
    c.prepare_cached("UPDATE stations SET tariff_id = ?2 WHERE id = ?1")?
        .execute(params![id, tariff])
        .map_err(|e| match broke(&e) {
            Some(Broke::Parent) => StoreError::NotFound(format!("tariff {tariff}")),
            _ => e.into(),
        })?;
    Ok(super::read::station(c, id)?)
}

pub(super) fn append_diagnostics(c: &Connection, ds: &[crate::Diagnostic]) -> Result<()> {
    let mut insert = c.prepare_cached(
        "INSERT INTO diagnostics (pile_id, port, session_id, at, kind, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for d in ds {
        insert
            .execute(params![
                d.pile_id.as_str(),
                d.port,
                d.session_id.as_ref().map(|s| s.as_str()),
                micros(d.at),
                d.kind,
                d.data
            ])
            .map_err(|e| match broke(&e) {
                Some(Broke::Parent) => StoreError::NotFound(format!("pile {}", d.pile_id)),
                _ => e.into(),
            })?;
    }
    Ok(())
}
