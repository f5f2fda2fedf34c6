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
//! domain values to columns, `writer` the thread and its batching, `readers`
//! the read pool. Each of the store's traits is implemented, with its SQL,
//! in the file of the same name (`sessions`, `money`, `resources`, ...).

mod accounts;
mod alarms;
mod codec;
mod credentials;
mod directory;
mod export;
mod idempotency;
mod import;
mod leases;
mod money;
mod power_history;
mod readers;
mod reports;
mod resources;
mod schema;
mod sessions;
mod write;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use super::{Diagnostic, Result, StationDetails, Store, StoreError, StoreStats};
use readers::Readers;
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
    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }
}
