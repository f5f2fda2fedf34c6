//! The queries behind reports: a station's billed charges and its alarms
//! in the UTC span of the local days asked for, summed by `report` as they
//! are read, so a long period never sits in memory row by row.

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension};

use super::codec::{decimal, json, micros, time};
use super::SqliteStore;
use crate::{Reports, Result};
use domain::report::{self, Charge, Days, FaultCount, StationDay};
use vocab::{PileId, StationId};

fn offset(c: &Connection, station: StationId) -> rusqlite::Result<Option<i32>> {
    c.prepare_cached("SELECT utc_offset_minutes FROM stations WHERE id = ?1")?
        .query_row([station], |r| r.get(0))
        .optional()
}

pub(super) fn station_days(
    c: &Connection,
    stations: &[StationId],
    from: NaiveDate,
    until: NaiveDate,
) -> rusqlite::Result<Vec<StationDay>> {
    let mut days = Days::new(from, until);
    // `state = 'finished'` lets the query use the partial index sessions_ended.
    let mut query = c.prepare_cached(
        "SELECT s.ended_at, b.seconds, b.kwh, b.total, b.lines
         FROM sessions s JOIN bills b ON b.session_id = s.id
         WHERE s.station_id = ?1 AND s.state = 'finished' AND s.ended_at >= ?2 AND s.ended_at < ?3",
    )?;
    for &station in stations {
        let Some(offset) = offset(c, station)? else { continue };
        let (start, end) = report::window(from, until, offset);
        let mut rows = query.query((station, micros(start), micros(end)))?;
        while let Some(r) = rows.next()? {
            let charge = Charge::from_lines(
                station,
                time(r, 0)?,
                r.get(1)?,
                decimal(r, 2)?,
                decimal(r, 3)?,
                &json::<Vec<_>>(r, 4)?,
            );
            days.add(offset, &charge);
        }
    }
    Ok(days.into_vec())
}

pub(super) fn fault_counts(
    c: &Connection,
    stations: &[StationId],
    from: NaiveDate,
    until: NaiveDate,
) -> rusqlite::Result<Vec<FaultCount>> {
    let mut alarms = Vec::new();
    let mut query = c.prepare_cached(
        "SELECT pile_id, kind FROM alarms WHERE station_id = ?1 AND raised_at >= ?2 AND raised_at < ?3",
    )?;
    for &station in stations {
        let Some(offset) = offset(c, station)? else { continue };
        let (start, end) = report::window(from, until, offset);
        let rows = query.query_map((station, micros(start), micros(end)), |r| {
            Ok((station, r.get::<_, Option<String>>(0)?.map(PileId), r.get(1)?))
        })?;
        for row in rows {
            alarms.push(row?);
        }
    }
    Ok(report::count_faults(alarms))
}

#[async_trait]
impl Reports for SqliteStore {
    async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>> {
        let stations = domain::report::distinct(stations);
        self.readers.read(move |c| station_days(c, &stations, from, until)).await
    }

    async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>> {
        let stations = domain::report::distinct(stations);
        self.readers.read(move |c| fault_counts(c, &stations, from, until)).await
    }
}
