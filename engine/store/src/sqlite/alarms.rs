//! Alarms in SQLite: raised, listed newest first as a filter says, and
//! marked acknowledged or cleared keeping the first time of each.

use super::write::{broke, Broke};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::codec::{self, micros, name, time};
use super::SqliteStore;
use crate::{Alarms, Result, StoreError};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use vocab::{PileId, PortNo, Severity};
const ALARM_COLUMNS: &str =
    "id, station_id, pile_id, port, kind, severity, message, raised_at, acknowledged_at, cleared_at";

fn alarm_row(r: &Row) -> rusqlite::Result<Alarm> {
    Ok(Alarm {
        id: r.get(0)?,
        alarm: NewAlarm {
            station_id: r.get(1)?,
            pile_id: r.get::<_, Option<String>>(2)?.map(PileId),
            port: r.get::<_, Option<u8>>(3)?.map(PortNo),
            kind: r.get(4)?,
            severity: name(r, 5, Severity::parse)?,
            message: r.get(6)?,
            raised_at: time(r, 7)?,
        },
        acknowledged_at: codec::opt_time(r, 8)?,
        cleared_at: codec::opt_time(r, 9)?,
    })
}

pub(super) fn alarm(c: &Connection, id: AlarmId) -> rusqlite::Result<Option<Alarm>> {
    c.prepare_cached(&format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?1"))?
        .query_row([id], alarm_row)
        .optional()
}

pub(super) fn alarms(c: &Connection, f: &AlarmFilter) -> rusqlite::Result<Vec<Alarm>> {
    // Only the filters set are in the statement, so SQLite can use the
    // station's or the pile's index (an `?1 IS NULL OR ...` form made it walk
    // the whole table from the newest row, which a pile's login did); one
    // cached plan per combination, of which there are sixteen.
    let mut clauses = Vec::new();
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::new();
    let pile = f.pile_id.as_ref().map(|p| p.as_str());
    if let Some(station) = &f.station_id {
        clauses.push("station_id = ?");
        values.push(station);
    }
    if let Some(pile) = &pile {
        clauses.push("pile_id = ?");
        values.push(pile);
    }
    if f.open {
        clauses.push("cleared_at IS NULL");
    }
    if let Some(before) = &f.before {
        clauses.push("id < ?");
        values.push(before);
    }
    let limit = f.limit.min(i64::MAX as usize) as i64;
    values.push(&limit);
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!("SELECT {ALARM_COLUMNS} FROM alarms {filter} ORDER BY id DESC LIMIT ?");
    c.prepare_cached(&sql)?.query_map(&values[..], alarm_row)?.collect()
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
    Ok(alarm(c, id)?)
}

pub(super) enum AlarmMark {
    Acknowledged,
    Cleared,
}

#[async_trait]
impl Alarms for SqliteStore {
    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm> {
        let alarm = alarm.clone();
        self.writer.submit(move |c| raise_alarm(c, &alarm)).await
    }

    async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>> {
        self.readers.read(move |c| alarm(c, id)).await
    }

    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>> {
        let filter = filter.clone();
        self.readers.read(move |c| alarms(c, &filter)).await
    }

    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let mark = AlarmMark::Acknowledged;
        self.writer.submit(move |c| mark_alarm(c, id, mark, at)).await
    }

    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let mark = AlarmMark::Cleared;
        self.writer.submit(move |c| mark_alarm(c, id, mark, at)).await
    }
}
