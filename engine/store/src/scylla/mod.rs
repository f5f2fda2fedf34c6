//! The clustered backend: ScyllaDB (or Apache Cassandra) over CQL, for
//! running several chargeplane nodes against one replicated database.
//!
//! Every table is laid out for one of the trait's queries (`schema`), each
//! statement is prepared once at connect (`cql`), and domain values map to
//! columns exactly as in the SQLite backend (`codec`). `write` and `read`
//! hold the logic of each operation.
//!
//! Consistency: sessions, bills, reference data, alarms and idempotency keys
//! are read and written at `money_consistency` (LOCAL_QUORUM), so a write a
//! node acknowledged is seen by every later quorum read in the datacenter.
//! Meter readings use `sample_consistency` (LOCAL_ONE): they are most of the
//! write volume, the bill never depends on them (it comes from the session's
//! own meter, written at quorum), and a lost reading is re-derivable from the
//! pile's cumulative totals in the readings around it.
//!
//! Lightweight transactions (Paxos) are used only where two writers may
//! race for one thing and exactly one must win: handing out an id, claiming
//! a pile id, billing a session, acknowledging or clearing an alarm, keeping
//! an idempotency key's first response, claiming a schema migration, and
//! in money (`money`): claiming a phone number, a card, an order, a provider
//! transaction, a statement or a token, paying an order, booking a ledger
//! key, and changing an account's balance.
//!
//! CQL has no transaction across partitions, so what the trait promises as
//! one transaction (a session and its hold, a bill and its capture, a paid
//! order and its top-up, a statement and its settlement) is a sequence of
//! idempotent steps here, ordered so that a repeat of the call, or the
//! ledger's sweep, finishes what a crash interrupted (see `money` and
//! docs/scylla.md).
//!
//! Requests are routed by the driver's default load-balancing policy, which
//! is token-aware (each prepared statement goes to a replica of its
//! partition) and prefers `local_datacenter` when one is set; the store
//! keeps it. A semaphore bounds requests in flight to `max_in_flight`.

mod cluster;
mod codec;
mod cql;
mod edits;
mod listing;
mod money;
mod power_history;
mod read;
mod reports;
mod schema;
mod tenants;
mod write;

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use scylla::client::session_builder::SessionBuilder;
pub use scylla::statement::{Consistency, SerialConsistency};
use tokio::task::JoinHandle;

use super::{
    EntryFilter, Item, ItemKind, NewStation, PileRecord, Result, Station, Store, StoreError, StoreStats,
    StoredResponse,
};
use cql::{Cql, Statements};
use domain::accounts::{Card, Driver, Merchant, NewRule, Operator, Order, Rule, Status, Token};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use domain::allocation::PowerConfig;
use domain::ledger::{Account, Entry};
use domain::pricing::{Bill, PlanId, PricePlan, Pricing};
use domain::report::{FaultCount, StationDay};
use domain::session::{MeterSample, SessionRecord};
use domain::settlement::Statement;
use domain::tariff::{Tariff, TouPrices};
use vocab::{DriverId, MerchantId, OperatorId, PileId, SessionId, StationId, TariffId};

/// The CQL native protocol's port.
pub const DEFAULT_PORT: u16 = 9042;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScyllaConfig {
    /// Contact points, `host:port`; the driver discovers the rest of the
    /// cluster from them.
    pub nodes: Vec<String>,
    /// Created if missing, with `replication`.
    pub keyspace: String,
    /// The CQL replication map a new keyspace gets.
    pub replication: String,
    /// Sessions, bills, reference data, alarms, idempotency keys.
    pub money_consistency: Consistency,
    /// Meter readings: high-volume, and a lost one is re-derivable from the
    /// pile's cumulative totals, so one replica's acknowledgement is enough.
    pub sample_consistency: Consistency,
    /// The Paxos phase of lightweight transactions. LOCAL_SERIAL makes ids,
    /// bills and the other claims unique among the writers of one
    /// datacenter; if nodes in two datacenters can race for the same thing,
    /// use SERIAL (and QUORUM for money).
    pub serial_consistency: SerialConsistency,
    /// The datacenter whose replicas are "local" for LOCAL_* consistency and
    /// are tried first. `None`: the driver treats every node alike, which is
    /// right for a single-datacenter cluster.
    pub local_datacenter: Option<String>,
    /// Most CQL requests this store has in flight at once; more wait.
    pub max_in_flight: usize,
}

impl ScyllaConfig {
    pub fn new(nodes: Vec<String>, keyspace: impl Into<String>) -> Self {
        ScyllaConfig {
            nodes,
            keyspace: keyspace.into(),
            replication: replication_map(3),
            money_consistency: Consistency::LocalQuorum,
            sample_consistency: Consistency::LocalOne,
            serial_consistency: SerialConsistency::LocalSerial,
            local_datacenter: None,
            max_in_flight: 256,
        }
    }

    /// Parses `scylla://host1:9042,host2/keyspace`. Ports default to 9042;
    /// the keyspace is required. Optional query parameters:
    /// `replication_factor=N` (the same factor in every datacenter),
    /// `local_dc=NAME` and `max_in_flight=N`.
    pub fn from_uri(uri: &str) -> Result<Self> {
        let bad = |why: &str| StoreError::Backend(format!("bad ScyllaDB URI {uri:?}: {why}"));
        let rest = uri.strip_prefix("scylla://").ok_or_else(|| bad("it must start with scylla://"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (hosts, keyspace) =
            rest.split_once('/').ok_or_else(|| bad("no keyspace (scylla://host/keyspace)"))?;
        if hosts.contains('@') {
            return Err(bad("credentials are not taken from the URI"));
        }
        let nodes = hosts.split(',').map(|h| node(h).map_err(|why| bad(&why))).collect::<Result<Vec<_>>>()?;
        let keyspace = keyspace.strip_suffix('/').unwrap_or(keyspace);
        if keyspace.is_empty() {
            return Err(bad("no keyspace (scylla://host/keyspace)"));
        }
        valid_keyspace(keyspace).map_err(|why| bad(&why))?;
        let mut config = ScyllaConfig::new(nodes, keyspace.to_ascii_lowercase());
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| bad(&format!("{pair:?} is not key=value")))?;
            let number = |what: &str| match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad(&format!("{what} must be a positive integer, not {value:?}"))),
            };
            match key {
                "replication_factor" => config.replication = replication_map(number(key)?),
                "max_in_flight" => config.max_in_flight = number(key)?,
                "local_dc" if !value.is_empty() => config.local_datacenter = Some(value.to_owned()),
                _ => return Err(bad(&format!("unknown parameter {pair:?}"))),
            }
        }
        Ok(config)
    }
}

fn replication_map(factor: usize) -> String {
    format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {factor}}}")
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with the port filled in.
fn node(host: &str) -> std::result::Result<String, String> {
    let port_of =
        |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| format!("bad port {p:?}"));
    if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(|| format!("unclosed [ in {host:?}"))?;
        let port = match after {
            "" => DEFAULT_PORT,
            _ => port_of(after.strip_prefix(':').ok_or_else(|| format!("bad host {host:?}"))?)?,
        };
        if addr.is_empty() {
            return Err(format!("empty host in {host:?}"));
        }
        return Ok(format!("[{addr}]:{port}"));
    }
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, port_of(port)?),
        None => (host, DEFAULT_PORT),
    };
    if name.is_empty() {
        return Err("empty host".to_owned());
    }
    Ok(format!("{name}:{port}"))
}

/// An unquoted CQL keyspace name: the store puts it in statements as is.
fn valid_keyspace(ks: &str) -> std::result::Result<(), String> {
    let ok = ks.len() <= 48
        && ks.starts_with(|c: char| c.is_ascii_alphabetic())
        && ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("keyspace {ks:?} must be a letter then up to 47 letters, digits or _"))
    }
}

/// The sequences ids are handed out from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Seq {
    Tariffs,
    Plans,
    Stations,
    Alarms,
    Merchants,
    Drivers,
    Rules,
    Users,
    Operators,
}

/// How many `Seq`s there are.
const SEQUENCES: usize = 9;

impl Seq {
    fn name(self) -> &'static str {
        match self {
            Seq::Tariffs => "tariffs",
            Seq::Plans => "plans",
            Seq::Stations => "stations",
            Seq::Alarms => "alarms",
            Seq::Merchants => "merchants",
            Seq::Drivers => "drivers",
            Seq::Rules => "rules",
            Seq::Users => "users",
            Seq::Operators => "operators",
        }
    }
}

/// What every operation works with.
pub(super) struct Db {
    cql: Cql,
    st: Statements,
    /// The last `next_id` seen of each sequence (0: not yet), so claiming an
    /// id usually takes one round of Paxos instead of two.
    id_hints: [AtomicI64; SEQUENCES],
    /// The `active_days` rows this node has written today, so a busy
    /// series is not rewritten on every entry.
    day_marks: Mutex<money::DayMarks>,
    /// The pile directory's statements.
    cluster: cluster::ClusterStatements,
    /// The session list's and sign-out's statements.
    listing: listing::ListingStatements,
    /// Stations' power history's statements.
    power: power_history::PowerStatements,
}

pub struct ScyllaStore {
    db: Arc<Db>,
    /// Finishes ledger postings a crashed writer left half-done.
    sweeper: JoinHandle<()>,
}

impl ScyllaStore {
    /// Connects, creates the keyspace if missing, applies the schema
    /// migrations this build has and the keyspace lacks, and prepares every
    /// statement.
    pub async fn connect(config: ScyllaConfig) -> Result<ScyllaStore> {
        if config.nodes.is_empty() {
            return Err(StoreError::Backend("no ScyllaDB nodes to connect to".into()));
        }
        valid_keyspace(&config.keyspace).map_err(StoreError::Backend)?;
        if !(config.replication.starts_with('{') && config.replication.ends_with('}'))
            || config.replication.contains(';')
        {
            return Err(StoreError::Backend(format!(
                "replication {:?} is not a CQL map",
                config.replication
            )));
        }
        // The default policy is token-aware; only the local datacenter is set.
        let mut builder = SessionBuilder::new().known_nodes(&config.nodes);
        if let Some(dc) = &config.local_datacenter {
            builder = builder.prefer_datacenter(dc.clone());
        }
        let session = builder
            .build()
            .await
            .map_err(|e| StoreError::Backend(format!("connecting to ScyllaDB at {:?}: {e}", config.nodes)))?;
        schema::create_keyspace(&session, &config).await?;
        session
            .use_keyspace(&config.keyspace, false)
            .await
            .map_err(|e| StoreError::Backend(format!("using keyspace {}: {e}", config.keyspace)))?;
        let node = format!("{}/{}", hostname(), std::process::id());
        schema::migrate(&session, &config.keyspace, &node).await?;
        let st = Statements::prepare(&session, &config).await?;
        let cluster = cluster::ClusterStatements::prepare(&session, &config).await?;
        let listing = listing::ListingStatements::prepare(&session, &config).await?;
        let power = power_history::PowerStatements::prepare(&session, &config).await?;
        let cql = Cql::new(session, config.max_in_flight);
        let (id_hints, day_marks) = Default::default();
        let db = Arc::new(Db { cql, st, id_hints, day_marks, cluster, listing, power });
        let sweeper = money::spawn_sweeper(&db);
        Ok(ScyllaStore { db, sweeper })
    }

    /// Refuses new requests; those in flight finish. Dropping the store
    /// closes its connections.
    pub fn close(&self) {
        self.sweeper.abort();
        self.db.cql.close();
    }
}

impl Drop for ScyllaStore {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "chargeplane".to_owned())
}

/// Now, at the microsecond precision that is stored.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

#[async_trait]
impl Store for ScyllaStore {
    async fn create_operator(&self, name: &str) -> Result<Operator> {
        let db = &self.db;
        db.cql.count(db.create_operator(name, now()).await)
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>> {
        self.db.operator(id).await
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        self.db.operators().await
    }

    async fn update_operator(&self, id: OperatorId, name: &str, status: Status) -> Result<Option<Operator>> {
        let db = &self.db;
        db.cql.count(db.update_operator(id, name, status).await)
    }

    async fn create_tariff(&self, operator: OperatorId, name: &str, tou: &TouPrices) -> Result<Tariff> {
        let db = &self.db;
        db.cql.count(db.create_tariff(operator, name, tou, now()).await)
    }

    async fn tariffs(&self) -> Result<Vec<Tariff>> {
        self.db.tariffs().await
    }

    async fn plans(&self) -> Result<Vec<PricePlan>> {
        self.db.plans().await
    }

    async fn users(&self) -> Result<Vec<domain::accounts::User>> {
        self.db.users().await
    }

    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        self.db.tariff(id).await
    }

    async fn create_plan(&self, operator: OperatorId, name: &str, pricing: &Pricing) -> Result<PricePlan> {
        let db = &self.db;
        db.cql.count(db.create_plan(operator, name, pricing, now()).await)
    }

    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        self.db.plan(id).await
    }

    async fn create_station(&self, station: &NewStation) -> Result<Station> {
        let db = &self.db;
        db.cql.count(db.create_station(station, now()).await)
    }

    async fn station(&self, id: StationId) -> Result<Option<Station>> {
        self.db.station(id).await
    }

    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
        let db = &self.db;
        db.cql.count(db.set_station_tariff(id, tariff).await)
    }

    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>> {
        let db = &self.db;
        db.cql.count(db.set_station_power(id, power).await)
    }

    async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_pile(pile).await)
    }

    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>> {
        self.db.pile(id).await
    }

    async fn piles(&self) -> Result<Vec<PileRecord>> {
        self.db.piles().await
    }

    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        let db = &self.db;
        let ts = db.cql.clock.next();
        db.cql.count(db.insert_session(session, ts).await)
    }

    async fn update_session(&self, session: &SessionRecord) -> Result<()> {
        let db = &self.db;
        let ts = db.cql.clock.next();
        db.cql.count(db.update_session(session, ts).await)
    }

    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let db = &self.db;
        db.cql.count(db.append_samples(&samples).await)
    }

    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool> {
        let db = &self.db;
        let ts = db.cql.clock.next();
        db.cql.count(db.finish_session(session, bill, now(), ts).await)
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        self.db.session(id).await
    }

    async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>> {
        self.db.samples(id).await
    }

    async fn bill(&self, id: &SessionId) -> Result<Option<Bill>> {
        self.db.bill(id).await
    }

    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        self.db.open_sessions(pile).await
    }

    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm> {
        let db = &self.db;
        db.cql.count(db.raise_alarm(alarm).await)
    }

    async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>> {
        self.db.alarm(id).await
    }

    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>> {
        self.db.alarms(filter).await
    }

    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let db = &self.db;
        db.cql.count(db.mark_alarm(id, write::AlarmMark::Acknowledged, at).await)
    }

    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let db = &self.db;
        db.cql.count(db.mark_alarm(id, write::AlarmMark::Cleared, at).await)
    }

    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        self.db.idempotent_response(key).await
    }

    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.remember_response(key, response).await)
    }

    async fn create_merchant(
        &self,
        operator: OperatorId,
        name: &str,
        commission_percent: Decimal,
    ) -> Result<Merchant> {
        let db = &self.db;
        db.cql.count(db.create_merchant(operator, name, commission_percent, now()).await)
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        self.db.merchant(id).await
    }

    async fn create_driver(
        &self,
        phone: &str,
        password_hash: Option<&str>,
        class: Option<&str>,
    ) -> Result<Driver> {
        let db = &self.db;
        db.cql.count(db.create_driver(phone, password_hash, class, now()).await)
    }

    async fn driver(&self, id: DriverId) -> Result<Option<Driver>> {
        self.db.driver(id).await
    }

    async fn driver_by_phone(&self, phone: &str) -> Result<Option<Driver>> {
        self.db.driver_by_phone(phone).await
    }

    async fn correct_bill(&self, bill: &Bill, at: DateTime<Utc>) -> Result<u32> {
        self.db.correct_bill(bill, at).await
    }

    async fn bill_history(&self, id: &SessionId) -> Result<Vec<Bill>> {
        self.db.bill_history(id).await
    }

    async fn append_diagnostics(&self, diagnostics: Vec<crate::Diagnostic>) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.append_diagnostics(&diagnostics).await)
    }

    async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<crate::Diagnostic>> {
        self.db.diagnostics(pile, limit).await
    }

    async fn stations(&self) -> Result<Vec<Station>> {
        self.db.stations().await
    }

    async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&crate::StationDetails>,
    ) -> Result<Option<Station>> {
        let db = &self.db;
        db.cql.count(db.set_station_details(id, details).await)
    }

    async fn merchants(&self) -> Result<Vec<domain::accounts::Merchant>> {
        self.db.merchants().await
    }

    async fn driver_sessions(&self, driver: DriverId, limit: usize) -> Result<Vec<SessionRecord>> {
        self.db.driver_sessions(driver, limit).await
    }

    async fn inactive_drivers(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Driver>> {
        self.db.inactive_drivers(before, limit).await
    }

    async fn update_driver(&self, driver: &Driver) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.update_driver(driver).await)
    }

    async fn create_card(&self, card: &Card) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_card(card).await)
    }

    async fn card(&self, number: &str) -> Result<Option<Card>> {
        self.db.card(number).await
    }

    async fn cards(&self, driver: DriverId) -> Result<Vec<Card>> {
        self.db.cards(driver).await
    }

    async fn set_card_status(&self, number: &str, status: Status) -> Result<Option<Card>> {
        let db = &self.db;
        db.cql.count(db.set_card_status(number, status).await)
    }

    async fn create_rule(&self, rule: &NewRule) -> Result<Rule> {
        let db = &self.db;
        db.cql.count(db.create_rule(rule, now()).await)
    }

    async fn rules(&self) -> Result<Vec<Rule>> {
        self.db.rules().await
    }

    async fn create_order(&self, order: &Order) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_order(order).await)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>> {
        self.db.order(id).await
    }

    async fn pay_order(&self, id: &str, provider_txn: &str, at: DateTime<Utc>) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.pay_order(id, provider_txn, at).await)
    }

    async fn paid_orders(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Order>> {
        self.db.paid_orders(from, until).await
    }

    async fn post_entry(&self, entry: &Entry) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.post(entry).await)
    }

    async fn balance(&self, account: &Account) -> Result<Decimal> {
        self.db.balance(account).await
    }

    async fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>> {
        self.db.entries(filter).await
    }

    async fn issue_statement(&self, statement: &Statement) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.issue_statement(statement).await)
    }

    async fn statement(&self, merchant: MerchantId, day: NaiveDate) -> Result<Option<Statement>> {
        self.db.statement(merchant, day).await
    }

    async fn create_user(&self, user: &domain::accounts::NewUser) -> Result<domain::accounts::User> {
        let db = &self.db;
        db.cql.count(db.create_user(user, now()).await)
    }

    async fn user(&self, id: i64) -> Result<Option<domain::accounts::User>> {
        self.db.user(id).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<domain::accounts::User>> {
        self.db.user_by_name(username).await
    }

    async fn create_token(&self, hash: &str, token: &Token) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_token(hash, token, now()).await)
    }

    async fn token(&self, hash: &str) -> Result<Option<Token>> {
        self.db.token(hash).await
    }

    fn stats(&self) -> StoreStats {
        self.db.cql.stats()
    }

    async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>> {
        self.db.station_days(stations, from, until).await
    }

    async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>> {
        self.db.fault_counts(stations, from, until).await
    }

    async fn update_station(&self, station: &Station) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_station(station).await)
    }

    async fn update_tariff(&self, tariff: &Tariff) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_tariff(tariff).await)
    }

    async fn update_plan(&self, plan: &PricePlan) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_plan(plan).await)
    }

    async fn update_merchant(&self, merchant: &Merchant) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_merchant(merchant).await)
    }

    async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.set_out_of_service(item, since).await)
    }

    async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>> {
        self.db.out_of_service(item).await
    }

    async fn out_of_service_all(
        &self,
        kind: ItemKind,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
        self.db.out_of_service_all(kind).await
    }

    async fn set_offline_cards(&self, pile: &PileId, cards: &[String], listed: bool) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.set_offline_cards(pile, cards, listed).await)
    }

    async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>> {
        self.db.offline_cards(pile).await
    }

    async fn import(&self, records: Vec<crate::Record>) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.import(&records).await)
    }

    async fn set_pile_node(&self, node: &crate::PileNode, ttl: std::time::Duration) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.set_pile_node(node, ttl).await)
    }

    async fn pile_node(&self, pile: &PileId) -> Result<Option<crate::PileNode>> {
        self.db.pile_node(pile).await
    }

    async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.remove_pile_node(pile, node_id).await)
    }

    // Console helper (issue #20).

    async fn list_sessions(&self, filter: &crate::SessionFilter) -> Result<Vec<SessionRecord>> {
        self.db.list_sessions(filter).await
    }

    async fn revoke_token(&self, hash: &str) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.revoke_token(hash).await)
    }

    async fn update_rule(&self, rule: &Rule) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_rule(rule).await)
    }
}
