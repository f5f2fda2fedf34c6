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
mod directory;
mod edits;
mod export;
mod import;
mod listing;
mod money;
mod power_history;
mod read;
mod reports;
mod schema;
mod write;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags};

use super::{
    Diagnostic, EntryFilter, Item, ItemKind, NewStation, PileRecord, Result, Station, StationDetails, Store,
    StoreError, StoreStats, StoredResponse,
};
use domain::accounts::{
    Card, Driver, Merchant, NewRule, NewUser, Operator, Order, Rule, Status, Token, User,
};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use domain::allocation::PowerConfig;
use domain::ledger::{Account, Entry};
use domain::pricing::{Bill, PlanId, PricePlan, Pricing};
use domain::report::{FaultCount, StationDay};
use domain::session::{MeterSample, SessionRecord};
use domain::settlement::Statement;
use domain::tariff::{Tariff, TouPrices};
use read::Readers;
use rust_decimal::Decimal;
use vocab::{DriverId, MerchantId, OperatorId, PileId, SessionId, StationId, TariffId};
use writer::{Batching, Writer};

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
    async fn create_operator(&self, name: &str) -> Result<Operator> {
        let (name, at) = (name.to_owned(), now());
        self.writer.submit(move |c| money::create_operator(c, name, at)).await
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>> {
        self.readers.read(move |c| money::operator(c, id)).await
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        self.readers.read(money::operators).await
    }

    async fn update_operator(&self, id: OperatorId, name: &str, status: Status) -> Result<Option<Operator>> {
        let name = name.to_owned();
        self.writer.submit(move |c| money::update_operator(c, id, name, status)).await
    }

    async fn create_tariff(&self, operator: OperatorId, name: &str, tou: &TouPrices) -> Result<Tariff> {
        let (name, tou, at) = (name.to_owned(), tou.clone(), now());
        self.writer.submit(move |c| write::create_tariff(c, operator, name, tou, at)).await
    }

    async fn tariffs(&self) -> Result<Vec<Tariff>> {
        self.readers.read(read::tariffs).await
    }

    async fn create_plan(&self, operator: OperatorId, name: &str, pricing: &Pricing) -> Result<PricePlan> {
        let (name, pricing, at) = (name.to_owned(), pricing.clone(), now());
        self.writer.submit(move |c| write::create_plan(c, operator, name, pricing, at)).await
    }

    async fn plans(&self) -> Result<Vec<PricePlan>> {
        self.readers.read(read::plans).await
    }

    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        self.readers.read(move |c| read::plan(c, id)).await
    }

    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        self.readers.read(move |c| read::tariff(c, id)).await
    }

    async fn create_station(&self, station: &NewStation) -> Result<Station> {
        let (station, at) = (station.clone(), now());
        self.writer.submit(move |c| write::create_station(c, station, at)).await
    }

    async fn station(&self, id: StationId) -> Result<Option<Station>> {
        self.readers.read(move |c| read::station(c, id)).await
    }

    async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        let pile = pile.clone();
        self.writer.submit(move |c| write::create_pile(c, &pile)).await
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
        self.writer.submit(move |c| write::insert_session(c, &session)).await
    }

    async fn update_session(&self, session: &SessionRecord) -> Result<()> {
        let session = session.clone();
        self.writer.submit(move |c| write::update_session(c, &session)).await
    }

    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.writer.submit(move |c| write::append_samples(c, &samples)).await
    }

    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool> {
        let (session, bill, at) = (session.clone(), bill.clone(), now());
        self.writer.submit(move |c| write::finish_session(c, &session, &bill, at)).await
    }

    async fn correct_bill(&self, bill: &Bill, at: DateTime<Utc>) -> Result<u32> {
        let bill = bill.clone();
        self.writer.submit(move |c| money::correct_bill(c, &bill, at)).await
    }

    async fn bill_history(&self, id: &SessionId) -> Result<Vec<Bill>> {
        let id = id.clone();
        self.readers.read(move |c| money::bill_history(c, &id)).await
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

    async fn driver_sessions(&self, driver: DriverId, limit: usize) -> Result<Vec<SessionRecord>> {
        self.readers.read(move |c| read::driver_sessions(c, driver, limit)).await
    }

    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        let pile = pile.clone();
        self.readers.read(move |c| read::open_sessions(c, &pile)).await
    }

    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
        self.writer.submit(move |c| write::set_station_tariff(c, id, tariff)).await
    }

    async fn stations(&self) -> Result<Vec<Station>> {
        self.readers.read(read::stations).await
    }

    async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&StationDetails>,
    ) -> Result<Option<Station>> {
        let details = details.cloned();
        self.writer.submit(move |c| write::set_station_details(c, id, details.as_ref())).await
    }

    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>> {
        let power = power.cloned();
        self.writer.submit(move |c| write::set_station_power(c, id, power.as_ref())).await
    }

    async fn append_diagnostics(&self, diagnostics: Vec<Diagnostic>) -> Result<()> {
        if diagnostics.is_empty() {
            return Ok(());
        }
        self.writer.submit(move |c| write::append_diagnostics(c, &diagnostics)).await
    }

    async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<Diagnostic>> {
        let pile = pile.clone();
        self.readers.read(move |c| read::diagnostics(c, &pile, limit)).await
    }

    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm> {
        let alarm = alarm.clone();
        self.writer.submit(move |c| write::raise_alarm(c, &alarm)).await
    }

    async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>> {
        self.readers.read(move |c| read::alarm(c, id)).await
    }

    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>> {
        let filter = filter.clone();
        self.readers.read(move |c| read::alarms(c, &filter)).await
    }

    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let mark = write::AlarmMark::Acknowledged;
        self.writer.submit(move |c| write::mark_alarm(c, id, mark, at)).await
    }

    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let mark = write::AlarmMark::Cleared;
        self.writer.submit(move |c| write::mark_alarm(c, id, mark, at)).await
    }

    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        let key = key.to_owned();
        self.readers.read(move |c| read::idempotent_response(c, &key)).await
    }

    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool> {
        let (key, response) = (key.to_owned(), response.clone());
        self.writer.submit(move |c| write::remember_response(c, &key, &response)).await
    }

    async fn create_merchant(
        &self,
        operator: OperatorId,
        name: &str,
        commission_percent: Decimal,
    ) -> Result<Merchant> {
        let (name, at) = (name.to_owned(), now());
        self.writer.submit(move |c| money::create_merchant(c, operator, name, commission_percent, at)).await
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        self.readers.read(move |c| money::merchant(c, id)).await
    }

    async fn merchants(&self) -> Result<Vec<Merchant>> {
        self.readers.read(money::merchants).await
    }

    async fn create_driver(&self, phone: &str, hash: Option<&str>, class: Option<&str>) -> Result<Driver> {
        let (phone, hash, class, at) =
            (phone.to_owned(), hash.map(str::to_owned), class.map(str::to_owned), now());
        self.writer.submit(move |c| money::create_driver(c, phone, hash, class, at)).await
    }

    async fn driver(&self, id: DriverId) -> Result<Option<Driver>> {
        self.readers.read(move |c| money::driver(c, id)).await
    }

    async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>> {
        let phone = phone.to_owned();
        self.readers.read(move |c| money::driver_by_phone(c, &phone)).await
    }

    async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>> {
        self.readers.read(move |c| money::inactive_drivers(c, before, limit)).await
    }

    async fn update_driver(&self, driver: &Driver) -> Result<()> {
        let driver = driver.clone();
        self.writer.submit(move |c| money::update_driver(c, &driver)).await
    }

    async fn create_card(&self, card: &Card) -> Result<()> {
        let card = card.clone();
        self.writer.submit(move |c| money::create_card(c, &card)).await
    }

    async fn card(&self, number: &str) -> Result<Option<Card>> {
        let number = number.to_owned();
        self.readers.read(move |c| money::card(c, &number)).await
    }

    async fn cards(&self, driver: DriverId) -> Result<Vec<Card>> {
        self.readers.read(move |c| money::cards(c, driver)).await
    }

    async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>> {
        let number = number.to_owned();
        self.writer.submit(move |c| money::set_card_status(c, &number, status)).await
    }

    async fn create_rule(&self, rule: &NewRule) -> Result<Rule> {
        let (rule, at) = (rule.clone(), now());
        self.writer.submit(move |c| money::create_rule(c, rule, at)).await
    }

    async fn rules(&self) -> Result<Vec<Rule>> {
        self.readers.read(money::rules).await
    }

    async fn create_order(&self, order: &Order) -> Result<()> {
        let order = order.clone();
        self.writer.submit(move |c| money::create_order(c, &order)).await
    }

    async fn order(&self, id: &str) -> Result<Option<Order>> {
        let id = id.to_owned();
        self.readers.read(move |c| money::order(c, &id)).await
    }

    async fn pay_order(&self, id: &str, provider_txn: &str, at: DateTime<Utc>) -> Result<bool> {
        let (id, txn) = (id.to_owned(), provider_txn.to_owned());
        self.writer.submit(move |c| money::pay_order(c, &id, &txn, at)).await
    }

    async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>> {
        self.readers.read(move |c| money::paid_orders(c, from, until)).await
    }

    async fn post_entry(&self, entry: &Entry) -> Result<bool> {
        let entry = entry.clone();
        self.writer.submit(move |c| money::post(c, &entry)).await
    }

    async fn balance(&self, account: &Account) -> Result<Decimal> {
        let account = account.clone();
        self.readers.read(move |c| money::balance(c, &account)).await
    }

    async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>> {
        let filter = filter.clone();
        self.readers.read(move |c| money::entries(c, &filter)).await
    }

    async fn issue_statement(&self, statement: &Statement) -> Result<bool> {
        let statement = statement.clone();
        self.writer.submit(move |c| money::issue_statement(c, &statement)).await
    }

    async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>> {
        self.readers.read(move |c| money::statement(c, merchant, day)).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<User> {
        let (user, at) = (user.clone(), now());
        self.writer.submit(move |c| money::create_user(c, user, at)).await
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        self.readers.read(move |c| money::user(c, id)).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let name = username.to_owned();
        self.readers.read(move |c| money::user_by_name(c, &name)).await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.readers.read(money::users).await
    }

    async fn create_token(&self, hash: &str, token: &Token) -> Result<()> {
        let (hash, token) = (hash.to_owned(), token.clone());
        self.writer.submit(move |c| money::create_token(c, &hash, &token)).await
    }

    async fn token(&self, hash: &str) -> Result<Option<Token>> {
        let hash = hash.to_owned();
        self.readers.read(move |c| money::token(c, &hash)).await
    }

    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>> {
        let stations = domain::report::distinct(stations);
        self.readers.read(move |c| reports::station_days(c, &stations, from, until)).await
    }

    async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>> {
        let stations = domain::report::distinct(stations);
        self.readers.read(move |c| reports::fault_counts(c, &stations, from, until)).await
    }

    async fn update_station(&self, station: &Station) -> Result<bool> {
        let station = station.clone();
        self.writer.submit(move |c| edits::update_station(c, &station)).await
    }

    async fn update_tariff(&self, tariff: &Tariff) -> Result<bool> {
        let tariff = tariff.clone();
        self.writer.submit(move |c| edits::update_tariff(c, &tariff)).await
    }

    async fn update_plan(&self, plan: &PricePlan) -> Result<bool> {
        let plan = plan.clone();
        self.writer.submit(move |c| edits::update_plan(c, &plan)).await
    }

    async fn update_merchant(&self, merchant: &Merchant) -> Result<bool> {
        let merchant = merchant.clone();
        self.writer.submit(move |c| edits::update_merchant(c, &merchant)).await
    }

    async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()> {
        let item = item.clone();
        self.writer.submit(move |c| edits::set_out_of_service(c, &item, since)).await
    }

    async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>> {
        let item = item.clone();
        self.readers.read(move |c| edits::out_of_service(c, &item)).await
    }

    async fn out_of_service_all(&self, kind: ItemKind) -> Result<HashMap<String, DateTime<Utc>>> {
        self.readers.read(move |c| edits::out_of_service_all(c, kind)).await
    }

    async fn set_offline_cards(&self, pile: &PileId, cards: &[String], listed: bool) -> Result<()> {
        let (pile, cards) = (pile.clone(), cards.to_vec());
        self.writer.submit(move |c| edits::set_offline_cards(c, &pile, &cards, listed)).await
    }

    async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>> {
        let pile = pile.clone();
        self.readers.read(move |c| edits::offline_cards(c, &pile)).await
    }

    async fn import(&self, records: Vec<super::Record>) -> Result<()> {
        self.writer.submit(move |c| import::import(c, &records)).await
    }

    async fn set_pile_node(&self, node: &super::PileNode, ttl: Duration) -> Result<()> {
        let node = node.clone();
        self.writer.submit(move |c| directory::set(c, &node, ttl)).await
    }

    async fn pile_node(&self, pile: &PileId) -> Result<Option<super::PileNode>> {
        let pile = pile.clone();
        self.readers.read(move |c| directory::get(c, &pile)).await
    }

    async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool> {
        let (pile, node_id) = (pile.clone(), node_id.to_owned());
        self.writer.submit(move |c| directory::remove(c, &pile, &node_id)).await
    }

    // Console helper (issue #20).

    async fn list_sessions(&self, filter: &super::SessionFilter) -> Result<Vec<SessionRecord>> {
        let filter = filter.clone();
        self.readers.read(move |c| listing::list_sessions(c, &filter)).await
    }

    async fn revoke_token(&self, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.writer.submit(move |c| listing::revoke_token(c, &hash)).await
    }

    async fn update_rule(&self, rule: &Rule) -> Result<bool> {
        let rule = rule.clone();
        self.writer.submit(move |c| listing::update_rule(c, &rule)).await
    }
}
