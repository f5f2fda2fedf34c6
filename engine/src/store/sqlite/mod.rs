//! The embedded default backend: one SQLite file beside the server.
//!
//! SQLite allows one writer at a time and makes each commit pay an fsync, so
//! the store funnels every write through a single writer thread that commits
//! whatever has queued in one transaction (group commit): under load many
//! writes share one fsync, and no async task ever waits on the disk itself,
//! only on the answer to its write. Reads go to a small pool of WAL readers,
//! which see every committed write and never block the writer.
//!
//! `schema` holds the tables and their migrations, `codec` the mapping of
//! domain values to columns, `writer` the thread and its batching, `write`
//! and `read` the SQL of each operation.

mod codec;
mod read;
mod schema;
mod write;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use super::{NewStation, PileRecord, Result, Station, Store, StoreError, StoreStats, StoredResponse};
use crate::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use crate::allocation::PowerConfig;
use crate::domain::{PileId, SessionId, StationId, TariffId};
use crate::pricing::{Bill, PlanId, PricePlan, Pricing};
use crate::session::{MeterSample, SessionRecord};
use crate::tariff::{Tariff, TouPrices};
use read::Readers;
use writer::{Batching, Write, Writer};

/// How long a connection waits for a lock held by another process (a backup,
/// an operator's sqlite3 shell) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// The database file; its directory is created if missing.
    pub path: PathBuf,
    /// Most writes committed in one transaction.
    pub batch_max: usize,
    /// How long the writer waits for more writes before committing a batch.
    /// Zero is pure group commit: writes that queue while a commit runs form
    /// the next batch, so an idle store commits at once.
    pub batch_window: Duration,
    /// Fsync every commit (`synchronous=FULL`). Off (`NORMAL`) a commit
    /// survives a crash of the process but not of the machine.
    pub synchronous_full: bool,
    /// Read connections, i.e. reads that can run at once.
    pub read_connections: usize,
}

impl SqliteConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            batch_max: 1024,
            batch_window: Duration::ZERO,
            synchronous_full: true,
            read_connections: 4,
        }
    }
}

pub struct SqliteStore {
    // Fields drop in order: the readers close before the writer joins, so the
    // writer's connection is the last and checkpoints the WAL on close.
    readers: Arc<Readers>,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, then starts the
    /// writer thread. Blocking: call it before serving, not from a task.
    pub fn open(config: SqliteConfig) -> Result<SqliteStore> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&config.path, flags)
            .map_err(|e| StoreError::Backend(format!("opening {}: {e}", config.path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{} cannot use WAL (journal_mode is {mode})",
                config.path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", if config.synchronous_full { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn)?;
        // Readers open after the migration so they never see an older schema.
        let readers = Arc::new(Readers::open(&config.path, config.read_connections.max(1))?);
        let batching = Batching { max: config.batch_max.max(1), window: config.batch_window };
        let writer = Writer::spawn(conn, batching)
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(SqliteStore { readers, writer })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(format!("sqlite: {e}"))
    }
}

/// Now, at the microsecond precision that is stored, so a record the store
/// returns equals the one read back later.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tariff(&self, name: &str, tou: &TouPrices) -> Result<Tariff> {
        let (name, tou, at) = (name.to_owned(), tou.clone(), now());
        self.writer.submit(|reply| Write::CreateTariff { name, tou, at, reply }).await
    }

    async fn create_plan(&self, name: &str, pricing: &Pricing) -> Result<PricePlan> {
        let (name, pricing, at) = (name.to_owned(), pricing.clone(), now());
        self.writer.submit(|reply| Write::CreatePlan { name, pricing, at, reply }).await
    }

    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        self.readers.read(move |c| read::plan(c, id)).await
    }

    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        self.readers.read(move |c| read::tariff(c, id)).await
    }

    async fn create_station(&self, station: &NewStation) -> Result<Station> {
        let (station, at) = (station.clone(), now());
        self.writer.submit(|reply| Write::CreateStation { station, at, reply }).await
    }

    async fn station(&self, id: StationId) -> Result<Option<Station>> {
        self.readers.read(move |c| read::station(c, id)).await
    }

    async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        let pile = pile.clone();
        self.writer.submit(|reply| Write::CreatePile { pile, reply }).await
    }

    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>> {
        let id = id.clone();
        self.readers.read(move |c| read::pile(c, &id)).await
    }

    async fn piles(&self) -> Result<Vec<PileRecord>> {
        self.readers.read(read::piles).await
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        let session = session.clone();
        self.writer.submit(|reply| Write::InsertSession { session, reply }).await
    }

    async fn update_session(&self, session: &SessionRecord) -> Result<()> {
        let session = session.clone();
        self.writer.submit(|reply| Write::UpdateSession { session, reply }).await
    }

    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.writer.submit(|reply| Write::AppendSamples { samples, reply }).await
    }

    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool> {
        let (session, bill, at) = (Box::new(session.clone()), Box::new(bill.clone()), now());
        self.writer.submit(|reply| Write::FinishSession { session, bill, at, reply }).await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let id = id.clone();
        self.readers.read(move |c| read::session(c, &id)).await
    }

    async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>> {
        let id = id.clone();
        self.readers.read(move |c| read::samples(c, &id)).await
    }

    async fn bill(&self, id: &SessionId) -> Result<Option<Bill>> {
        let id = id.clone();
        self.readers.read(move |c| read::bill(c, &id)).await
    }

    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        let pile = pile.clone();
        self.readers.read(move |c| read::open_sessions(c, &pile)).await
    }

    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
        self.writer.submit(|reply| Write::SetStationTariff { id, tariff, reply }).await
    }

    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>> {
        let power = power.cloned();
        self.writer.submit(|reply| Write::SetStationPower { id, power, reply }).await
    }

    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm> {
        let alarm = alarm.clone();
        self.writer.submit(|reply| Write::RaiseAlarm { alarm, reply }).await
    }

    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>> {
        let filter = filter.clone();
        self.readers.read(move |c| read::alarms(c, &filter)).await
    }

    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let mark = write::AlarmMark::Acknowledged;
        self.writer.submit(|reply| Write::MarkAlarm { id, mark, at, reply }).await
    }

    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let mark = write::AlarmMark::Cleared;
        self.writer.submit(|reply| Write::MarkAlarm { id, mark, at, reply }).await
    }

    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        let key = key.to_owned();
        self.readers.read(move |c| read::idempotent_response(c, &key)).await
    }

    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool> {
        let (key, response) = (key.to_owned(), response.clone());
        self.writer.submit(|reply| Write::RememberResponse { key, response, reply }).await
    }

    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }
}
