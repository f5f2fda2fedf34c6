//! The storage trait every backend implements, and the records it keeps.
//!
//! Actors never wait on disk for anything but durability they must promise
//! (a session's state before the pile hears it was accepted, a bill before
//! the pile's record is acknowledged). Backends therefore take writes through
//! one batching writer and answer each write when its batch is committed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use crate::allocation::PowerConfig;
use crate::domain::{PileId, Protocol, SessionId, StationId, TariffId};
use crate::pricing::{Bill, PlanId, PricePlan, Pricing};
use crate::session::{MeterSample, SessionRecord};
use crate::tariff::{Tariff, TouPrices};
use rust_decimal::Decimal;

pub mod scylla;
pub mod sqlite;

pub use self::scylla::{ScyllaConfig, ScyllaStore};
pub use sqlite::{SqliteConfig, SqliteStore};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("storage is shut down")]
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    pub id: StationId,
    pub name: String,
    pub tariff_id: TariffId,
    /// Local time of the station relative to UTC, minutes (China: 480).
    pub utc_offset_minutes: i32,
    /// Added to every charge that delivered anything, yuan.
    pub service_fee: Decimal,
    /// The least such a charge costs, yuan.
    pub minimum_charge: Decimal,
    /// How the station's power is managed; `None`: not managed.
    pub power: Option<PowerConfig>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStation {
    pub name: String,
    pub tariff_id: TariffId,
    pub utc_offset_minutes: i32,
    pub service_fee: Decimal,
    pub minimum_charge: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PileRecord {
    pub id: PileId,
    pub station_id: StationId,
    pub protocol: Protocol,
    /// Number of ports, numbered 1..=ports.
    pub ports: u8,
    pub created_at: DateTime<Utc>,
}

/// What an operator watches of a store: how far behind its writer is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Writes queued and not yet committed.
    pub queued: u64,
    /// Transactions committed since start.
    pub batches: u64,
    /// Writes committed since start.
    pub writes: u64,
    /// Writes that failed since start.
    pub errors: u64,
    /// Time spent committing writes since start, microseconds.
    pub busy_micros: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A tariff gets the next id.
    async fn create_tariff(&self, name: &str, tou: &TouPrices) -> Result<Tariff>;
    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>>;

    /// A plan gets the next id.
    async fn create_plan(&self, name: &str, pricing: &Pricing) -> Result<PricePlan>;
    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>>;

    /// Fails with `NotFound` if the station's tariff does not exist.
    async fn create_station(&self, station: &NewStation) -> Result<Station>;
    async fn station(&self, id: StationId) -> Result<Option<Station>>;
    /// Moves a station to another tariff: `None` if the station does not
    /// exist, `NotFound` if the tariff does not.
    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>>;
    /// Sets (or with `None` removes) a station's power management; `None`
    /// if the station does not exist.
    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>>;

    /// Fails with `Conflict` if the id is taken, `NotFound` if the station is not.
    async fn create_pile(&self, pile: &PileRecord) -> Result<()>;
    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>>;
    /// All piles, ordered by id.
    async fn piles(&self) -> Result<Vec<PileRecord>>;

    /// Durable when it returns. Fails with `Conflict` if the id is taken.
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;
    /// Replaces the stored record of an open session; durable when it returns.
    /// Fails with `NotFound` for an unknown session, `Conflict` if the stored
    /// session is already finished (a finished session never changes).
    async fn update_session(&self, session: &SessionRecord) -> Result<()>;
    /// Appends readings; committed in order with every other write.
    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()>;
    /// Stores the finished record and its bill in one transaction. Returns
    /// false, changing nothing, if the session was already billed: a repeated
    /// final record from a pile is billed once.
    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool>;
    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>>;
    /// A session's readings, oldest first.
    async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>>;
    async fn bill(&self, id: &SessionId) -> Result<Option<Bill>>;
    /// Sessions of a pile that are not finished or failed, oldest first.
    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>>;

    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm>;
    /// Newest first, as the filter says.
    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>>;
    /// Marks an alarm seen; the first acknowledgement's time is kept.
    /// `None` for an unknown id.
    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>>;
    /// Marks an alarm's condition over; the first clearing's time is kept.
    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>>;

    /// The response stored under an idempotency key, if any.
    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>>;
    /// Stores a response under a key unless one is there; returns false
    /// (changing nothing) if the key was taken.
    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool>;

    fn stats(&self) -> StoreStats;
}

/// An API response kept under its request's idempotency key, so a retried
/// request gets the first answer instead of acting twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// What identifies the request (method, path, body), so a key reused
    /// for a different request is refused.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
    pub created_at: DateTime<Utc>,
}
