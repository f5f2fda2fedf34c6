//! The clustered backend: ScyllaDB (or Apache Cassandra) over CQL, for
//! running several chargeplane nodes against one replicated database.
//!
//! Every table is laid out for one of the trait's queries (`schema`), each
//! statement is prepared once at connect (`cql`), and domain values map to
//! columns exactly as in the SQLite backend (`codec`). Each of the store's
//! traits is implemented, with its logic, in the file of the same name
//! (`sessions`, `money`, `resources`, ...); `write` hands out ids.
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
//! an idempotency key's first response, claiming a schema migration,
//! claiming a phone number, a card or a token (`accounts`), and in money
//! (`money`, `ledger`): claiming an order, a provider transaction or a
//! statement, paying an order, booking a ledger key, and changing an
//! account's balance.
//!
//! CQL has no transaction across partitions, so what the trait promises as
//! one transaction (a session and its hold, a bill and its capture, a paid
//! order and its top-up, a statement and its settlement) is a sequence of
//! idempotent steps here, ordered so that a repeat of the call, or the
//! ledger's sweep, finishes what a crash interrupted (see `ledger` and
//! docs/scylla.md).
//!
//! Requests are routed by the driver's default load-balancing policy, which
//! is token-aware (each prepared statement goes to a replica of its
//! partition) and prefers `local_datacenter` when one is set; the store
//! keeps it. A semaphore bounds requests in flight to `max_in_flight`.

mod accounts;
mod alarms;
mod codec;
mod cql;
mod credentials;
mod directory;
mod edits;
mod idempotency;
mod import;
mod leases;
mod ledger;
mod listing;
mod migrate;
mod money;
mod power_history;
mod reports;
mod resources;
mod schema;
mod sessions;
mod statements;
mod write;

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scylla::client::session_builder::SessionBuilder;
pub use scylla::statement::{Consistency, SerialConsistency};
use tokio::task::JoinHandle;

use super::{Result, Store, StoreError, StoreStats};
use cql::Cql;
use statements::{Preparer, Statements};

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
    directory: directory::DirectoryStatements,
    /// The station leases' statements.
    leases: leases::LeaseStatements,
    /// The session list's and sign-out's statements.
    listing: listing::ListingStatements,
    /// Stations' power history's statements.
    power: power_history::PowerStatements,
    /// Charge points' passwords.
    credentials: credentials::CredentialStatements,
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
        migrate::create_keyspace(&session, &config).await?;
        session
            .use_keyspace(&config.keyspace, false)
            .await
            .map_err(|e| StoreError::Backend(format!("using keyspace {}: {e}", config.keyspace)))?;
        let node = format!("{}/{}", hostname(), std::process::id());
        migrate::migrate(&session, &config.keyspace, &node).await?;
        let p = Preparer { session: &session, config: &config };
        let st = Statements::prepare(&p).await?;
        let directory = directory::DirectoryStatements::prepare(&p).await?;
        let leases = leases::LeaseStatements::prepare(&p).await?;
        let listing = listing::ListingStatements::prepare(&p).await?;
        let power = power_history::PowerStatements::prepare(&p).await?;
        let credentials = credentials::CredentialStatements::prepare(&p).await?;
        let cql = Cql::new(session, config.max_in_flight);
        let (id_hints, day_marks) = Default::default();
        let db =
            Arc::new(Db { cql, st, id_hints, day_marks, directory, leases, listing, power, credentials });
        let sweeper = ledger::spawn_sweeper(&db);
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
    fn stats(&self) -> StoreStats {
        self.db.cql.stats()
    }
}
