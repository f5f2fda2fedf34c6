//! chargeplane storage: where the platform's records are kept.
//!
//! The `Store` trait every backend implements and the records it keeps, the
//! SQLite backend (`sqlite`, one file, the default) and the ScyllaDB backend
//! (`scylla`, a cluster), the pile directory, export and import between
//! backends (`export`), and the conformance suite both backends pass
//! (`tests/conformance`). It exists so the only code that names a database
//! is here: `domain` decides what a record means and stays pure, the actors
//! and the HTTP API call the trait and never see SQL or CQL. What does not
//! belong: rules about money, tariffs or sessions (those are `domain`'s; a
//! backend stores what it is given and checks only what it must enforce
//! atomically, such as a wallet short of a hold), wire formats and actors.
//!
//! Actors never wait on disk for anything but durability they must promise
//! (a session's state before the pile hears it was accepted, a bill before
//! the pile's record is acknowledged). Backends therefore take writes through
//! one batching writer and answer each write when its batch is committed.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use domain::accounts::{
    Card, Driver, Merchant, NewRule, NewUser, Operator, Order, Rule, Status, Token, User,
};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use domain::allocation::PowerConfig;
use domain::ledger::{Account, Entry, LedgerError};
use domain::pricing::{Bill, PlanId, PricePlan, Pricing};
use domain::report::{FaultCount, StationDay};
use domain::session::{MeterSample, SessionRecord};
use domain::settlement::Statement;
use domain::tariff::{Tariff, TouPrices};
use rust_decimal::Decimal;
use vocab::{
    default_operator, DriverId, MerchantId, OperatorId, PileId, Protocol, SessionId, StationId, TariffId,
};

pub mod directory;
pub mod export;
pub mod power_history;
pub mod scylla;
pub mod sqlite;

pub use self::scylla::{ScyllaConfig, ScyllaStore};
pub use directory::PileNode;
pub use export::Record;
pub use power_history::{PowerHistory, PowerSample};
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
    /// A ledger rule refused an entry (a wallet short of a hold).
    #[error("refused: {0}")]
    Refused(String),
}

impl From<LedgerError> for StoreError {
    fn from(e: LedgerError) -> Self {
        StoreError::Refused(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What every backend's `finish_session` checks first: only a finished
/// record with its own bill may be stored as billed, anything else would
/// leave a billed session that looks open.
pub fn finishable(s: &SessionRecord, bill: &Bill) -> Result<()> {
    if s.state == domain::session::SessionState::Finished && bill.session_id == s.id {
        return Ok(());
    }
    Err(StoreError::Backend(format!(
        "finish_session takes a finished session and its bill, got session {} ({}) with a bill for {}",
        s.id,
        s.state.as_str(),
        bill.session_id
    )))
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    pub id: StationId,
    #[serde(default = "default_operator")]
    pub operator_id: OperatorId,
    pub name: String,
    pub tariff_id: TariffId,
    /// Local time of the station relative to UTC, minutes (China: 480).
    pub utc_offset_minutes: i32,
    /// Added to every charge that delivered anything, yuan.
    pub service_fee: Decimal,
    /// The least such a charge costs, yuan.
    pub minimum_charge: Decimal,
    /// The site owner its charges earn for; `None`: the operator's own.
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    /// Where it is and when it is open, for drivers.
    #[serde(default)]
    pub details: Option<StationDetails>,
    /// How the station's power is managed; `None`: not managed.
    pub power: Option<PowerConfig>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStation {
    #[serde(default = "default_operator")]
    pub operator_id: OperatorId,
    pub name: String,
    pub tariff_id: TariffId,
    pub utc_offset_minutes: i32,
    pub service_fee: Decimal,
    pub minimum_charge: Decimal,
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    #[serde(default)]
    pub details: Option<StationDetails>,
}

/// What drivers see of a station besides its prices.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationDetails {
    pub address: String,
    /// WGS-84 degrees, to 0.000001 (about 10 cm).
    pub lat: Decimal,
    pub lon: Decimal,
    /// As the operator writes them ("24h", "07:00-23:00").
    #[serde(default)]
    pub opening_hours: String,
    /// Photo URLs.
    #[serde(default)]
    pub photos: Vec<String>,
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

/// A frame kept for diagnosis, not acted on: what a car's battery
/// management system and the pile told each other during a charge.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub pile_id: PileId,
    pub port: u8,
    /// The charge it belongs to, if any.
    pub session_id: Option<SessionId>,
    pub at: DateTime<Utc>,
    /// What it is ("BMS handshake", "battery status").
    pub kind: String,
    /// The frame's payload, hex.
    pub data: String,
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
pub trait Store: PowerHistory + Send + Sync + 'static {
    /// An operator gets the next id; the first is `DEFAULT_OPERATOR`, which
    /// every store has from the start.
    async fn create_operator(&self, name: &str) -> Result<Operator>;
    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>>;
    /// Every operator, by id.
    async fn operators(&self) -> Result<Vec<Operator>>;
    /// Renames or freezes an operator; `None` if it does not exist.
    async fn update_operator(&self, id: OperatorId, name: &str, status: Status) -> Result<Option<Operator>>;

    /// A tariff gets the next id.
    async fn create_tariff(&self, operator: OperatorId, name: &str, tou: &TouPrices) -> Result<Tariff>;
    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>>;
    /// Every tariff, by id.
    async fn tariffs(&self) -> Result<Vec<Tariff>>;

    /// A plan gets the next id.
    async fn create_plan(&self, operator: OperatorId, name: &str, pricing: &Pricing) -> Result<PricePlan>;
    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>>;
    /// Every plan, by id.
    async fn plans(&self) -> Result<Vec<PricePlan>>;

    /// Fails with `NotFound` if the station's tariff does not exist.
    async fn create_station(&self, station: &NewStation) -> Result<Station>;
    async fn station(&self, id: StationId) -> Result<Option<Station>>;
    /// Moves a station to another tariff: `None` if the station does not
    /// exist, `NotFound` if the tariff does not.
    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>>;
    /// Every station, by id (an operator has thousands, not millions).
    async fn stations(&self) -> Result<Vec<Station>>;
    /// Sets (or with `None` removes) a station's details; `None` if the
    /// station does not exist.
    async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&StationDetails>,
    ) -> Result<Option<Station>>;
    /// Sets (or with `None` removes) a station's power management; `None`
    /// if the station does not exist.
    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>>;

    /// Fails with `Conflict` if the id is taken, `NotFound` if the station is not.
    async fn create_pile(&self, pile: &PileRecord) -> Result<()>;
    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>>;
    /// All piles, ordered by id.
    async fn piles(&self) -> Result<Vec<PileRecord>>;

    /// Durable when it returns. Fails with `Conflict` if the id is taken.
    /// A session paid from a wallet (`terms.payer`) places its hold in the
    /// same transaction, or fails with `Refused` if the wallet is short.
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;
    /// Replaces the stored record of an open session; durable when it returns.
    /// Fails with `NotFound` for an unknown session, `Conflict` if the stored
    /// session is already finished (a finished session never changes).
    /// A wallet-paid session stored as failed gives its hold back in the
    /// same transaction.
    async fn update_session(&self, session: &SessionRecord) -> Result<()>;
    /// Appends readings; committed in order with every other write.
    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()>;
    /// Stores the finished record and its bill in one transaction. Returns
    /// false, changing nothing, if the session was already billed: a repeated
    /// final record from a pile is billed once. A session paid from a wallet
    /// has its bill captured from the hold in the same transaction.
    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool>;
    /// Replaces a billed session's bill with a corrected one, keeping the
    /// one it replaces, and for a wallet-paid charge reverses the last
    /// capture and captures the new total, all in one transaction. Returns
    /// the correction's number (from 1); `NotFound` if the session has no bill.
    async fn correct_bill(&self, bill: &Bill, at: DateTime<Utc>) -> Result<u32>;
    /// The bills a session had before its corrections, oldest first.
    async fn bill_history(&self, id: &SessionId) -> Result<Vec<Bill>>;
    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>>;
    /// A session's readings, oldest first.
    async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>>;
    async fn bill(&self, id: &SessionId) -> Result<Option<Bill>>;
    /// The charges a driver paid for from their wallet, newest first.
    async fn driver_sessions(&self, driver: DriverId, limit: usize) -> Result<Vec<SessionRecord>>;
    /// Sessions of a pile that are not finished or failed, oldest first.
    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>>;

    /// Keeps diagnostic frames; committed in order with every other write.
    async fn append_diagnostics(&self, diagnostics: Vec<Diagnostic>) -> Result<()>;
    /// A pile's latest diagnostics, newest first, at most `limit`.
    async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<Diagnostic>>;

    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm>;
    async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>>;
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

    async fn create_merchant(
        &self,
        operator: OperatorId,
        name: &str,
        commission_percent: Decimal,
    ) -> Result<Merchant>;
    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>>;
    /// Every merchant, by id (the daily settlement runs through them).
    async fn merchants(&self) -> Result<Vec<Merchant>>;

    /// Fails with `Conflict` if the phone number is registered.
    async fn create_driver(
        &self,
        phone: &str,
        password_hash: Option<&str>,
        class: Option<&str>,
    ) -> Result<Driver>;
    async fn driver(&self, id: DriverId) -> Result<Option<Driver>>;
    async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>>;
    /// Drivers not active since `before`, longest idle first, at most `limit`.
    async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>>;
    /// Stores a driver's password, class, status and last activity;
    /// `NotFound` for an unknown driver.
    async fn update_driver(&self, driver: &Driver) -> Result<()>;

    /// Fails with `Conflict` if the number is taken, `NotFound` if the driver is.
    async fn create_card(&self, card: &Card) -> Result<()>;
    async fn card(&self, number: &str) -> Result<Option<Card>>;
    /// A driver's cards, by number.
    async fn cards(&self, driver: DriverId) -> Result<Vec<Card>>;
    async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>>;

    async fn create_rule(&self, rule: &NewRule) -> Result<Rule>;
    /// Every price rule, by id; an operator has tens, not millions.
    async fn rules(&self) -> Result<Vec<Rule>>;

    /// Fails with `Conflict` if the id is taken.
    async fn create_order(&self, order: &Order) -> Result<()>;
    async fn order(&self, id: &str) -> Result<Option<Order>>;
    /// Marks a pending order paid and credits its driver's wallet in one
    /// transaction. `Ok(false)`, changing nothing, if it was paid already:
    /// a replayed notification credits once. `NotFound` for an unknown order.
    async fn pay_order(&self, id: &str, provider_txn: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Orders paid in `[from, until)`, oldest first, for reconciliation.
    async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>>;

    /// Books an entry once: `Ok(false)`, changing nothing, if its key was
    /// booked already; `Refused` if a balance would break the ledger's rule.
    async fn post_entry(&self, entry: &Entry) -> Result<bool>;
    async fn balance(&self, account: &Account) -> Result<Decimal>;
    /// Entries as the filter says, oldest first.
    async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>>;

    /// Stores a merchant's statement and books its settlement entry in one
    /// transaction. `Ok(false)`, changing nothing, if the merchant's day was
    /// issued already: an issued statement never changes.
    async fn issue_statement(&self, statement: &Statement) -> Result<bool>;
    async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>>;

    /// Fails with `Conflict` if the username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    async fn user(&self, id: i64) -> Result<Option<User>>;
    async fn user_by_name(&self, username: &str) -> Result<Option<User>>;
    /// Every user, by id.
    async fn users(&self) -> Result<Vec<User>>;

    /// Keeps a login token under the hash of its secret.
    async fn create_token(&self, hash: &str, token: &Token) -> Result<()>;
    async fn token(&self, hash: &str) -> Result<Option<Token>>;

    fn stats(&self) -> StoreStats;

    // Reports (`report`): days are each station's local days, by its
    // current `utc_offset_minutes`; unknown stations are left out.

    /// The billed charges of `stations` that ended on local days in
    /// `[from, until)`, summed per station and day, by station then day.
    async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>>;
    /// The alarms raised at `stations` on local days in `[from, until)`,
    /// counted by station, pile and kind.
    async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>>;

    // Editing what operators set up. Running charges keep the terms they
    // started under; these change what comes next.

    /// Replaces a station's name, time zone, fees and merchant (its tariff,
    /// details and power have their own calls); false if it does not exist.
    async fn update_station(&self, station: &Station) -> Result<bool>;
    /// Replaces a tariff's name and prices; false if it does not exist.
    async fn update_tariff(&self, tariff: &Tariff) -> Result<bool>;
    /// Replaces a plan's name and pricing; false if it does not exist.
    async fn update_plan(&self, plan: &PricePlan) -> Result<bool>;
    /// Replaces a merchant's name and commission; false if it does not exist.
    async fn update_merchant(&self, merchant: &Merchant) -> Result<bool>;
    /// Takes an item out of service since a time, or (`None`) back in.
    async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()>;
    /// Since when an item is out of service; `None` while it is in service.
    async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>>;
    /// The keys of every item of a kind that is out of service, and since when.
    async fn out_of_service_all(&self, kind: ItemKind) -> Result<HashMap<String, DateTime<Utc>>>;
    /// Puts cards on a pile's offline list (`listed`) or takes them off. The
    /// list is what the pile may let charge while it cannot reach the
    /// platform, so its offline charges are billed only to cards on it.
    async fn set_offline_cards(&self, pile: &PileId, cards: &[String], listed: bool) -> Result<()>;
    /// A pile's offline list, in card order.
    async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>>;

    // Moving a store, and several nodes on one store.

    /// Writes records another store exported (`export`), keeping their ids
    /// and times; writing a record again changes nothing. Ids the store
    /// hands out afterwards are above the imported ones.
    async fn import(&self, records: Vec<Record>) -> Result<()>;
    /// Records which node holds a pile's link, replacing any other node's
    /// row; it lapses `ttl` after this write unless written again.
    async fn set_pile_node(&self, node: &PileNode, ttl: std::time::Duration) -> Result<()>;
    /// The node holding a pile's link, unless its row lapsed or was removed.
    async fn pile_node(&self, pile: &PileId) -> Result<Option<PileNode>>;
    /// Removes a pile's row if `node_id` still holds it; true if it did.
    async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool>;

    // Console helper (issue #20): listing sessions, signing out, editing rules.

    /// Sessions as the filter says, newest first (by creation time, then
    /// id), at most `filter.limit`.
    async fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionRecord>>;
    /// Forgets a login token, so it no longer signs anyone in.
    async fn revoke_token(&self, hash: &str) -> Result<()>;
    /// Replaces a price rule; false if it does not exist.
    async fn update_rule(&self, rule: &Rule) -> Result<bool>;
}

/// Which sessions to list; every field set narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// At these stations; `None`: at every station.
    pub stations: Option<Vec<StationId>>,
    pub pile: Option<PileId>,
    /// Charges this driver paid for from their wallet.
    pub driver: Option<DriverId>,
    pub state: Option<domain::session::SessionState>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Only sessions listed after this one (creation time and id): the
    /// last of the previous page.
    pub before: Option<(DateTime<Utc>, SessionId)>,
    pub limit: usize,
}

impl SessionFilter {
    /// Whether a session passes every field but the stations and `limit`
    /// (for backends that narrow by station in their index and check the
    /// rest on the record).
    pub fn keeps(&self, s: &SessionRecord) -> bool {
        self.pile.as_ref().is_none_or(|p| *p == s.pile_id)
            && self.driver.is_none_or(|d| s.terms.payer.as_ref().is_some_and(|p| p.driver == d))
            && self.state.is_none_or(|st| st == s.state)
            && self.from.is_none_or(|f| s.created_at >= f)
            && self.until.is_none_or(|u| s.created_at < u)
            && self.before.as_ref().is_none_or(|(at, id)| (s.created_at, &s.id) < (*at, id))
    }
}

/// What an operator can take out of service without deleting it: a closed
/// station, a decommissioned pile or a broken port (refused at login or at
/// start), a tariff, plan or merchant no longer to be chosen. Kept apart
/// from the records so one table serves them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Station,
    Pile,
    Port,
    Tariff,
    Plan,
    Merchant,
}

impl ItemKind {
    pub fn parse(s: &str) -> Option<ItemKind> {
        [Self::Station, Self::Pile, Self::Port, Self::Tariff, Self::Plan, Self::Merchant]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Station => "station",
            ItemKind::Pile => "pile",
            ItemKind::Port => "port",
            ItemKind::Tariff => "tariff",
            ItemKind::Plan => "plan",
            ItemKind::Merchant => "merchant",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    pub kind: ItemKind,
    /// Its id as text; a port is `{pile}-{port:02}`, its public code.
    pub key: String,
}

impl Item {
    pub fn new(kind: ItemKind, id: impl std::fmt::Display) -> Item {
        Item { kind, key: id.to_string() }
    }

    pub fn port(pile: &PileId, port: u8) -> Item {
        Item { kind: ItemKind::Port, key: format!("{pile}-{port:02}") }
    }
}

/// Which entries to list; every field narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryFilter {
    /// Entries with a line on this account.
    pub account: Option<Account>,
    pub reference: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
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
