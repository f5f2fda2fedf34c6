//! The single writer: a thread that owns the only write connection and
//! commits queued writes in batches.
//!
//! It blocks for one write, drains whatever else has queued (up to
//! `Batching::max`, waiting up to `Batching::window` for more), and runs the
//! lot in one transaction with each write in its own savepoint, so a write
//! that fails (a conflict, a missing parent) undoes only itself. Every write
//! is answered after the commit: an Ok means durable. Many writes thus share
//! one fsync, and callers wait on a oneshot answer, never on the disk.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{Result, StoreError, StoreStats};

/// One write, as queued for the writer: runs its SQL in the batch and
/// holds its result until the batch commits. Timestamps the store assigns are
/// taken when the caller asks, not when the batch runs.
pub(super) type Write = Box<dyn FnOnce(&mut Batch) -> Answer + Send>;

/// Sends a write's result, or the batch's error if the commit failed.
type Deliver = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A write's result, held until its batch commits or fails.
pub(super) struct Answer {
    ok: bool,
    send: Deliver,
}

fn answer<T: Send + 'static>(reply: oneshot::Sender<Result<T>>, result: Result<T>) -> Answer {
    Answer {
        ok: result.is_ok(),
        send: Box::new(move |failed| {
            // The caller may have gone away (a cancelled request); the write
            // stands regardless.
            let _ = reply.send(match failed {
                Some(e) => Err(e.clone()),
                None => result,
            });
        }),
    }
}

/// One transaction in progress.
pub(super) struct Batch<'c> {
    conn: &'c Connection,
    /// Set once the transaction cannot commit: SQLite rolled it back itself
    /// (disk full, I/O error) or a savepoint could not be closed.
    failed: Option<StoreError>,
}

impl Batch<'_> {
    /// Runs one write in its own savepoint.
    fn run<T>(&mut self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.conn.prepare_cached("SAVEPOINT write")?.execute([])?;
        let result = op(self.conn);
        if self.conn.is_autocommit() {
            // SQLite abandoned the whole transaction (disk full, I/O error):
            // nothing of this batch can commit.
            let why = result.as_ref().err().map_or_else(|| "unknown cause".into(), |e| e.to_string());
            self.failed = Some(StoreError::Backend(format!("sqlite rolled back the batch: {why}")));
            return result;
        }
        let closed = match result {
            Ok(_) => self.conn.prepare_cached("RELEASE write").and_then(|mut s| s.execute([])).map(drop),
            Err(_) => self.conn.execute_batch("ROLLBACK TO write; RELEASE write"),
        };
        if let Err(e) = closed {
            self.failed = Some(StoreError::Backend(format!("sqlite: closing a savepoint: {e}")));
        }
        result
    }

    fn finish(self) -> Result<(), StoreError> {
        let committed = match self.failed {
            Some(e) => Err(e),
            None => self.conn.execute_batch("COMMIT").map_err(StoreError::from),
        };
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        committed
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Batching {
    pub max: usize,
    pub window: Duration,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    batches: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
    busy_micros: AtomicU64,
}

/// The handle the store keeps: the queue's sending end and the thread.
pub(super) struct Writer {
    /// `None` only while dropping, to close the queue before joining.
    queue: Option<Sender<Write>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Writer {
    pub(super) fn spawn(conn: Connection, batching: Batching) -> std::io::Result<Writer> {
        let (queue, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread = std::thread::Builder::new().name("sqlite-writer".into()).spawn({
            let counters = Arc::clone(&counters);
            move || run(conn, rx, batching, &counters)
        })?;
        Ok(Writer { queue: Some(queue), thread: Some(thread), counters })
    }

    /// Queues a write and waits for its commit. `op` runs on the writer
    /// thread, in its own savepoint of the batch's transaction.
    pub(super) async fn submit<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, result) = oneshot::channel();
        let write: Write = Box::new(move |batch| answer(reply, batch.run(op)));
        self.counters.queued.fetch_add(1, Relaxed);
        let sent = self.queue.as_ref().is_some_and(|q| q.send(write).is_ok());
        if !sent {
            self.counters.queued.fetch_sub(1, Relaxed);
            return Err(StoreError::Closed);
        }
        // A dropped reply means the writer thread died (a panic) mid-batch.
        result.await.unwrap_or(Err(StoreError::Closed))
    }

    pub(super) fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            queued: c.queued.load(Relaxed),
            batches: c.batches.load(Relaxed),
            writes: c.writes.load(Relaxed),
            errors: c.errors.load(Relaxed),
            busy_micros: c.busy_micros.load(Relaxed),
        }
    }
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread to commit what is left and
    /// close its connection, so the file can be reopened at once.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(Err(_)) = self.thread.take().map(JoinHandle::join) {
            tracing::error!("the sqlite writer thread panicked");
        }
    }
}

/// The writer thread: until every sender is gone, take a batch and commit it.
fn run(conn: Connection, rx: Receiver<Write>, batching: Batching, counters: &Counters) {
    let mut writes = Vec::with_capacity(batching.max);
    while let Ok(first) = rx.recv() {
        writes.push(first);
        gather(&rx, &mut writes, batching);
        commit(&conn, writes.drain(..), counters);
    }
}

fn gather(rx: &Receiver<Write>, writes: &mut Vec<Write>, batching: Batching) {
    let deadline = Instant::now() + batching.window;
    while writes.len() < batching.max {
        let next = if batching.window.is_zero() {
            rx.try_recv().ok()
        } else {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
        };
        match next {
            Some(w) => writes.push(w),
            None => break,
        }
    }
}

fn commit(conn: &Connection, writes: impl Iterator<Item = Write>, counters: &Counters) {
    let started = Instant::now();
    // A failed BEGIN fails every write of the batch the same way.
    let failed = conn.execute_batch("BEGIN IMMEDIATE").err().map(StoreError::from);
    let mut batch = Batch { conn, failed };
    let answers: Vec<Answer> = writes.map(|w| w(&mut batch)).collect();
    let committed = batch.finish();
    counters.busy_micros.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
    match &committed {
        Ok(()) => {
            counters.batches.fetch_add(1, Relaxed);
        }
        Err(e) => tracing::error!(error = %e, writes = answers.len(), "sqlite batch failed"),
    }
    for a in answers {
        // Counted before answering, so a caller that has its answer sees
        // its write in the stats.
        counters.queued.fetch_sub(1, Relaxed);
        let counter = if a.ok && committed.is_ok() { &counters.writes } else { &counters.errors };
        counter.fetch_add(1, Relaxed);
        (a.send)(committed.as_ref().err());
    }
}
