//! A station's power over time (`store::power_history`) in SQLite: one row
//! per station and instant; writing a sample deletes the station's samples
//! that fell out of retention, so the table stays a few days deep.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::codec::{decimal, micros, opt_decimal, time};
use super::SqliteStore;
use crate::{PowerHistory, PowerSample, Result};
use vocab::StationId;

fn record(c: &Connection, s: &PowerSample, keep: Duration) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO station_power (station_id, at, limit_w, allocated_w, measured_w)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        s.station_id,
        micros(s.at),
        s.limit_w.map(|w| w.to_string()),
        s.allocated_w.to_string(),
        s.measured_w.to_string()
    ])?;
    let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
    c.prepare_cached("DELETE FROM station_power WHERE station_id = ?1 AND at < ?2")?
        .execute(params![s.station_id, micros(s.at).saturating_sub(keep)])?;
    Ok(())
}

fn read(c: &Connection, station: StationId, from: i64, until: i64) -> rusqlite::Result<Vec<PowerSample>> {
    c.prepare_cached(
        "SELECT at, limit_w, allocated_w, measured_w FROM station_power
         WHERE station_id = ?1 AND at >= ?2 AND at < ?3 ORDER BY at",
    )?
    .query_map(params![station, from, until], |r| {
        Ok(PowerSample {
            station_id: station,
            at: time(r, 0)?,
            limit_w: opt_decimal(r, 1)?,
            allocated_w: decimal(r, 2)?,
            measured_w: decimal(r, 3)?,
        })
    })?
    .collect()
}

#[async_trait]
impl PowerHistory for SqliteStore {
    async fn record_station_power(&self, sample: &PowerSample, keep: Duration) -> Result<()> {
        let sample = sample.clone();
        self.writer.submit(move |c| record(c, &sample, keep)).await
    }

    async fn station_power(
        &self,
        station: StationId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<PowerSample>> {
        let (from, until) = (micros(from), micros(until));
        self.readers.read(move |c| read(c, station, from, until)).await
    }
}
