//! Station leases (`store::leases`) in SQLite. Each call is one write in
//! the writer's `BEGIN IMMEDIATE` transaction, so reading the row and
//! changing it is atomic across every process sharing the file.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use vocab::StationId;

use super::codec::time;
use super::{now, SqliteStore};
use crate::leases::{expiry, Lease, Leases};
use crate::Result;

fn row(r: &rusqlite::Row) -> rusqlite::Result<Lease> {
    Ok(Lease {
        station_id: r.get(0)?,
        holder: r.get(1)?,
        http_addr: r.get(2)?,
        token: r.get(3)?,
        expires_at: time(r, 4)?,
    })
}

fn get(c: &Connection, station: StationId) -> rusqlite::Result<Option<Lease>> {
    c.prepare_cached(
        "SELECT station_id, holder, http_addr, fencing_token, expires_at FROM station_leases
         WHERE station_id = ?1",
    )?
    .query_row(params![station], row)
    .optional()
}

/// Many stations' leases in one query (the ids as one JSON array).
fn get_many(c: &Connection, stations: &[StationId]) -> rusqlite::Result<Vec<Lease>> {
    if stations.is_empty() {
        return Ok(Vec::new());
    }
    let ids =
        serde_json::to_string(stations).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    c.prepare_cached(
        "SELECT station_id, holder, http_addr, fencing_token, expires_at FROM station_leases
         WHERE station_id IN (SELECT value FROM json_each(?1))",
    )?
    .query_map(params![ids], row)?
    .collect()
}

fn acquire(
    c: &Connection,
    station: StationId,
    holder: &str,
    http_addr: &str,
    ttl: Duration,
) -> Result<Lease> {
    let at = now();
    let token = match get(c, station)? {
        Some(l) if l.expires_at > at && l.holder != holder => return Ok(l),
        Some(l) if l.expires_at > at => l.token,
        Some(l) => l.token + 1,
        None => 1,
    };
    let expires = expiry(at, ttl);
    c.prepare_cached(
        "INSERT INTO station_leases (station_id, holder, http_addr, fencing_token, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (station_id) DO UPDATE SET holder = excluded.holder, http_addr = excluded.http_addr,
             fencing_token = excluded.fencing_token, expires_at = excluded.expires_at",
    )?
    .execute(params![station, holder, http_addr, token, expires])?;
    Ok(get(c, station)?.expect("the lease just written"))
}

#[async_trait]
impl Leases for SqliteStore {
    async fn acquire_lease(
        &self,
        station: StationId,
        holder: &str,
        http_addr: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let (holder, http_addr) = (holder.to_owned(), http_addr.to_owned());
        self.writer.submit(move |c| acquire(c, station, &holder, &http_addr, ttl)).await
    }

    async fn renew_lease(&self, station: StationId, holder: &str, token: i64, ttl: Duration) -> Result<bool> {
        let holder = holder.to_owned();
        self.writer
            .submit(move |c| {
                let at = now();
                let n = c
                    .prepare_cached(
                        "UPDATE station_leases SET expires_at = ?1
                         WHERE station_id = ?2 AND holder = ?3 AND fencing_token = ?4 AND expires_at > ?5",
                    )?
                    .execute(params![expiry(at, ttl), station, holder, token, at.timestamp_micros()])?;
                Ok(n == 1)
            })
            .await
    }

    async fn release_lease(&self, station: StationId, holder: &str, token: i64) -> Result<bool> {
        let holder = holder.to_owned();
        self.writer
            .submit(move |c| {
                let at = now().timestamp_micros();
                let n = c
                    .prepare_cached(
                        "UPDATE station_leases SET expires_at = 0
                         WHERE station_id = ?1 AND holder = ?2 AND fencing_token = ?3 AND expires_at > ?4",
                    )?
                    .execute(params![station, holder, token, at])?;
                Ok(n == 1)
            })
            .await
    }

    async fn lease(&self, station: StationId) -> Result<Option<Lease>> {
        self.readers.read(move |c| get(c, station)).await
    }

    async fn leases(&self, stations: &[StationId]) -> Result<Vec<Lease>> {
        let stations = stations.to_vec();
        self.readers.read(move |c| get_many(c, &stations)).await
    }
}
