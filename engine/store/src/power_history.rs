//! A station's power over time, for the console's chart: the limit, what
//! the station shared out and what it measured, sampled by the station's
//! actor every `station_power_sample_ms`. Live power is the actor's; only
//! this history needs storing, and only for a while: each backend drops
//! samples older than the retention it is given.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use vocab::StationId;

use crate::Result;

/// One sample of a station's power, W.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerSample {
    pub station_id: StationId,
    pub at: DateTime<Utc>,
    /// The transformer's limit then; `None` while power is not managed.
    pub limit_w: Option<Decimal>,
    /// What the station shared out among its charging ports.
    pub allocated_w: Decimal,
    /// What its ports and other loads drew.
    pub measured_w: Decimal,
}

#[async_trait]
pub trait PowerHistory: Send + Sync + 'static {
    /// Keeps a sample, and forgets the station's samples older than `keep`
    /// before it (at once or by expiry). A sample of the same station and
    /// instant replaces the one there.
    async fn record_station_power(&self, sample: &PowerSample, keep: Duration) -> Result<()>;
    /// A station's samples taken in `[from, until)`, oldest first.
    async fn station_power(
        &self,
        station: StationId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<PowerSample>>;
}
