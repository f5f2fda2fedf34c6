//! Station leases: which node runs a station's power management, when
//! several nodes share one store.
//!
//! A station's actor admits charges and shares its transformer's limit over
//! its charging ports; run on two nodes at once, each would grant the whole
//! limit. So one node at a time holds the station's lease, for a TTL it
//! renews well before it lapses; a lapsed or released lease is taken by the
//! next node that asks. Every change of hands raises the lease's fencing
//! token, and the nodes holding the station's piles refuse a grant carrying
//! a token lower than one they have seen, so a holder that lost its lease
//! without knowing it cannot grant power beside its successor. Expiry is
//! judged by the clocks of the nodes asking, which must agree to well
//! within the TTL.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vocab::StationId;

use crate::Result;

/// A station's lease as the store holds it. The row outlives its holder, so
/// the token keeps rising: a released or lapsed lease has `expires_at` in
/// the past.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub station_id: StationId,
    /// The holding node (`node_id` in its config).
    pub holder: String,
    /// Where the holder serves HTTP, for the other nodes' station messages.
    pub http_addr: String,
    /// Raised on every change of hands, never lowered.
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// Whether `node` holds it at `now`.
    pub fn held_by(&self, node: &str, now: DateTime<Utc>) -> bool {
        self.holder == node && self.expires_at > now
    }
}

#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the station's lease for `holder` (serving at `http_addr`) until
    /// `ttl` from now if it is free, released or lapsed (with a token one
    /// above the last), or extends it if `holder` holds it still (same
    /// token). Returns the lease as it stands afterwards: `holder`'s, or the
    /// live lease of another node, left alone.
    async fn acquire_lease(
        &self,
        station: StationId,
        holder: &str,
        http_addr: &str,
        ttl: Duration,
    ) -> Result<Lease>;
    /// Extends the lease to `ttl` from now if `holder` still holds it with
    /// `token` and it has not lapsed; false otherwise (the holder must stop
    /// acting for the station at once).
    async fn renew_lease(&self, station: StationId, holder: &str, token: i64, ttl: Duration) -> Result<bool>;
    /// Gives up `holder`'s lease with `token`, so the next node need not
    /// wait for it to lapse; false if it was not held so.
    async fn release_lease(&self, station: StationId, holder: &str, token: i64) -> Result<bool>;
    /// The station's lease, lapsed or not; `None` if never taken.
    async fn lease(&self, station: StationId) -> Result<Option<Lease>>;
    /// The leases of those of `stations` ever taken (as `lease` reads
    /// each), in no particular order: one read for the many stations a
    /// node follows rather than one each.
    async fn leases(&self, stations: &[StationId]) -> Result<Vec<Lease>>;
}

/// Microseconds of `ttl` past `now`, as both backends store expiry.
pub(crate) fn expiry(now: DateTime<Utc>, ttl: Duration) -> i64 {
    now.timestamp_micros() + i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2)
}
