//! Station leases (`store::leases`) in ScyllaDB: the `station_leases`
//! table, one row per station, changed only by lightweight transactions
//! (Paxos, at `serial_consistency`, committed at `money_consistency`).
//! Taking one reads the row at the serial consistency and compares it with
//! what was read (`IF token = ? AND expires_at = ?`), so of two nodes racing
//! for a lapsed lease exactly one wins and the token rises by one. `lease`,
//! which every node following a station asks each renewal, reads at the
//! money consistency instead: a quorum read, not a Paxos round, which sees
//! every committed change of hands; one still in flight shows at the next
//! read, and acting on a stale row only makes a take fail its comparison.

use std::time::Duration;

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;
use vocab::StationId;

use super::codec::{micros, time};
use super::statements::{Class, Preparer};
use super::{now, ScyllaStore};
use crate::leases::{expiry, Lease, Leases};
use crate::{Result, StoreError};

pub(super) struct LeaseStatements {
    get: PreparedStatement,
    peek: PreparedStatement,
    create: PreparedStatement,
    take: PreparedStatement,
    renew: PreparedStatement,
    release: PreparedStatement,
}

impl LeaseStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<Self> {
        let select =
            "SELECT holder, http_addr, fencing_token, expires_at FROM station_leases WHERE station_id = ?";
        let get = p.read(Class::SerialRead, select).await?;
        let peek = p.read(Class::Money, select).await?;
        let create = p
            .prepare(
                Class::Lwt,
                false,
                "INSERT INTO station_leases (station_id, holder, http_addr, fencing_token, expires_at) \
                 VALUES (?, ?, ?, 1, ?) IF NOT EXISTS",
            )
            .await?;
        let take = p
            .prepare(
                Class::Lwt,
                false,
                "UPDATE station_leases SET holder = ?, http_addr = ?, fencing_token = ?, expires_at = ? \
                 WHERE station_id = ? IF fencing_token = ? AND expires_at = ?",
            )
            .await?;
        let renew = p
            .prepare(
                Class::Lwt,
                false,
                "UPDATE station_leases SET expires_at = ? WHERE station_id = ? \
                 IF holder = ? AND fencing_token = ? AND expires_at > ?",
            )
            .await?;
        let release = p
            .prepare(
                Class::Lwt,
                false,
                "UPDATE station_leases SET expires_at = 0 WHERE station_id = ? \
                 IF holder = ? AND fencing_token = ? AND expires_at > ?",
            )
            .await?;
        Ok(LeaseStatements { get, peek, create, take, renew, release })
    }
}

impl ScyllaStore {
    async fn read_lease(&self, station: StationId, how: &PreparedStatement) -> Result<Option<Lease>> {
        let db = &self.db;
        let row =
            db.cql.row::<(String, String, i64, i64), _>("reading a station lease", how, (station,)).await?;
        row.map(|(holder, http_addr, token, at)| {
            Ok(Lease { station_id: station, holder, http_addr, token, expires_at: time("expires_at", at)? })
        })
        .transpose()
    }
}

#[async_trait]
impl Leases for ScyllaStore {
    async fn acquire_lease(
        &self,
        station: StationId,
        holder: &str,
        http_addr: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let db = &self.db;
        // Each lost race re-reads the row: another node took or renewed it.
        for _ in 0..8 {
            let at = now();
            let expires = expiry(at, ttl);
            let applied = match self.read_lease(station, &db.leases.get).await? {
                Some(l) if l.expires_at > at && l.holder != holder => return Ok(l),
                Some(l) => {
                    let token = if l.expires_at > at { l.token } else { l.token + 1 };
                    let values = (holder, http_addr, token, expires, station, l.token, micros(l.expires_at));
                    db.cql.lwt("taking a station lease", &db.leases.take, values).await?.applied
                }
                None => {
                    let values = (station, holder, http_addr, expires);
                    db.cql.lwt("creating a station lease", &db.leases.create, values).await?.applied
                }
            };
            if applied {
                return self.read_lease(station, &db.leases.get).await?.ok_or_else(|| {
                    StoreError::Backend(format!("station {station}'s lease vanished after it was taken"))
                });
            }
        }
        Err(StoreError::Backend(format!("could not take station {station}'s lease: too much contention")))
    }

    async fn renew_lease(&self, station: StationId, holder: &str, token: i64, ttl: Duration) -> Result<bool> {
        let (db, at) = (&self.db, now());
        let values = (expiry(at, ttl), station, holder, token, micros(at));
        Ok(db.cql.lwt("renewing a station lease", &db.leases.renew, values).await?.applied)
    }

    async fn release_lease(&self, station: StationId, holder: &str, token: i64) -> Result<bool> {
        let (db, at) = (&self.db, now());
        let values = (station, holder, token, micros(at));
        Ok(db.cql.lwt("releasing a station lease", &db.leases.release, values).await?.applied)
    }

    async fn lease(&self, station: StationId) -> Result<Option<Lease>> {
        self.read_lease(station, &self.db.leases.peek).await
    }

    /// One quorum read per station, concurrently: each goes to the
    /// station's own replicas rather than one coordinator gathering them all.
    async fn leases(&self, stations: &[StationId]) -> Result<Vec<Lease>> {
        let peek = &self.db.leases.peek;
        let rows = futures::future::try_join_all(stations.iter().map(|s| self.read_lease(*s, peek))).await?;
        Ok(rows.into_iter().flatten().collect())
    }
}
