//! A station's power over time (`store::power_history`) over CQL: the
//! `station_power` table (schema V13), a partition per station and UTC day
//! so a chart of the last hours reads one or two partitions; each row
//! written with a TTL of the retention, so old samples expire by themselves.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use scylla::statement::prepared::PreparedStatement;

use super::codec::{day_bucket, dec, decimal, micros, time};
use super::statements::{Class, Preparer};
use super::ScyllaStore;
use crate::{PowerHistory, PowerSample, Result};
use vocab::StationId;

pub(super) struct PowerStatements {
    insert: PreparedStatement,
    read: PreparedStatement,
}

impl PowerStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<Self> {
        let insert = p
            .prepare(
                Class::Samples,
                true,
                "INSERT INTO station_power (station_id, day, at, limit_w, allocated_w, measured_w) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TTL ?",
            )
            .await?;
        let read = p
            .prepare(
                Class::Samples,
                true,
                "SELECT at, limit_w, allocated_w, measured_w FROM station_power \
                 WHERE station_id = ? AND day = ? AND at >= ? AND at < ?",
            )
            .await?;
        Ok(PowerStatements { insert, read })
    }
}

type Row = (i64, Option<String>, String, String);

#[async_trait]
impl PowerHistory for ScyllaStore {
    async fn record_station_power(&self, s: &PowerSample, keep: Duration) -> Result<()> {
        let db = &self.db;
        let ttl = i32::try_from(keep.as_secs().max(1)).unwrap_or(i32::MAX);
        let at = micros(s.at);
        let values = (
            s.station_id,
            day_bucket(at),
            at,
            s.limit_w.map(dec),
            dec(s.allocated_w),
            dec(s.measured_w),
            ttl,
        );
        db.cql.count(db.cql.write("recording a station's power", &db.power.insert, values).await)
    }

    async fn station_power(
        &self,
        station: StationId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<PowerSample>> {
        let (from, until) = (micros(from), micros(until));
        if from >= until {
            return Ok(Vec::new());
        }
        let days = day_bucket(from)..=day_bucket(until - 1);
        let reads = days.map(|day| {
            let values = (station, day, from, until);
            async move {
                self.db.cql.rows::<Row, _>("reading a station's power", &self.db.power.read, &values).await
            }
        });
        let rows = try_join_all(reads).await?.into_iter().flatten();
        // Days were read in order, each clustered by time: oldest first.
        rows.map(|(at, limit, allocated, measured)| {
            Ok(PowerSample {
                station_id: station,
                at: time("at", at)?,
                limit_w: limit.as_deref().map(|l| decimal("limit_w", l)).transpose()?,
                allocated_w: decimal("allocated_w", &allocated)?,
                measured_w: decimal("measured_w", &measured)?,
            })
        })
        .collect()
    }
}
