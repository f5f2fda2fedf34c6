//! Reads: a pool of WAL reader connections.
//!
//! In WAL mode readers see the last committed state and never wait for the
//! writer, so a few connections serve every read. Each query runs on
//! tokio's blocking pool, which exists on current-thread runtimes (actix-rt)
//! and multi-thread ones alike, so an async caller never blocks on SQLite.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::{Connection, OpenFlags};

use super::BUSY_TIMEOUT;
use crate::{Result, StoreError};

pub(super) struct Readers {
    conns: Vec<Mutex<Connection>>,
    /// Where a read waits when every connection is busy, spread round-robin.
    next: AtomicUsize,
}

/// More than the distinct read statements there are, alarm filters included.
const STATEMENTS: usize = 256;

impl Readers {
    pub(super) fn open(path: &Path, n: usize) -> Result<Self> {
        // Read-only: a bug in a read path cannot write behind the writer's back.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conns = (0..n)
            .map(|_| {
                let conn = Connection::open_with_flags(path, flags)?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                // Every read statement stays prepared (rusqlite keeps 16).
                conn.set_prepared_statement_cache_capacity(STATEMENTS);
                Ok(Mutex::new(conn))
            })
            .collect::<Result<_>>()?;
        Ok(Readers { conns, next: AtomicUsize::new(0) })
    }

    /// Runs `query` on a free connection, off the async runtime.
    pub(super) async fn read<T, F>(self: &Arc<Self>, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || Ok(query(&readers.lease())?))
            .await
            .map_err(|e| StoreError::Backend(format!("read task: {e}")))?
    }

    fn lease(&self) -> MutexGuard<'_, Connection> {
        for conn in &self.conns {
            match conn.try_lock() {
                Ok(guard) => return guard,
                // A panic mid-read leaves the connection itself sound.
                Err(TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].lock().unwrap_or_else(PoisonError::into_inner)
    }
}
