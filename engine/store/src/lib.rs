//! Storage: the `Store` trait, one trait per concern, its SQLite and ScyllaDB
//! backends, export and import between them, and the conformance suite both
//! pass.
//!
//! The `Store` trait every backend implements, made of one trait per concern
//! (`resources`, `accounts`, `sessions`, `alarms`, `idempotency`, `money`,
//! `reports`, `directory`, and `Import` in `export`), the records they keep, the
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

use domain::ledger::LedgerError;

pub mod accounts;
pub mod alarms;
pub mod credentials;
pub mod directory;
pub mod export;
pub mod idempotency;
pub mod leases;
pub mod money;
pub mod power_history;
pub mod reports;
pub mod resources;
pub mod scylla;
pub mod sessions;
pub mod sqlite;

pub use self::scylla::{ScyllaConfig, ScyllaStore};
pub use accounts::Accounts;
pub use alarms::Alarms;
pub use credentials::Credentials;
pub use directory::{ClusterNode, Directory, PileNode};
pub use export::{Import, Record};
pub use idempotency::{Idempotency, StoredResponse};
pub use leases::{Lease, Leases};
pub use money::{EntryFilter, Money};
pub use power_history::{PowerHistory, PowerSample};
pub use reports::Reports;
pub use resources::{Item, ItemKind, NewStation, PileRecord, Resources, Station, StationDetails};
pub use sessions::{finishable, Diagnostic, SessionFilter, Sessions};
pub use sqlite::{SqliteConfig, SqliteStore};

/// The traits `Store` is made of, so their methods can be called on a store:
/// `use store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Accounts, Alarms, Credentials, Directory, Idempotency, Import, Leases, Money, PowerHistory, Reports,
        Resources, Sessions, Store,
    };
}

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

/// Everything a backend keeps, one trait per concern; `Arc<dyn Store>` is
/// what the actors and the API hold, and has every concern's methods. On a
/// concrete store (`SqliteStore`) bring them into scope with
/// `use store::prelude::*`.
pub trait Store:
    Resources
    + Accounts
    + Sessions
    + Alarms
    + Idempotency
    + Money
    + Reports
    + Directory
    + Leases
    + PowerHistory
    + Credentials
    + Import
{
    /// How far behind the backend's writer is.
    fn stats(&self) -> StoreStats;
}
