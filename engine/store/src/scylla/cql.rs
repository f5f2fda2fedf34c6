//! Running CQL: the concurrency limit, the write clock, paging, and reading
//! the answer of a lightweight transaction (the statements are in
//! `statements`).

use std::fmt::Display;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::serialize::batch::BatchValues;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{Result, StoreError, StoreStats};

/// Turns a driver error into the trait's, saying what was being done.
pub(super) fn cql_err<E: Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Backend(format!("scylla: {what}: {e}"))
}

/// The answer to a conditional statement: whether it applied and the row as
/// it was. ScyllaDB always returns the previous row; Cassandra returns it
/// only when the condition failed, so columns are looked up by name.
pub(super) struct Lwt {
    pub applied: bool,
    names: Vec<String>,
    row: Vec<Option<CqlValue>>,
}

impl Lwt {
    pub(super) fn parse(result: QueryResult) -> Result<Lwt> {
        let rows = result.into_rows_result().map_err(cql_err("reading an LWT result"))?;
        let names = rows.column_specs().iter().map(|c| c.name().to_owned()).collect();
        let row = rows
            .maybe_first_row::<Row>()
            .map_err(cql_err("reading an LWT result"))?
            .map(|r| r.columns)
            .unwrap_or_default();
        let applied = match row.first() {
            Some(Some(CqlValue::Boolean(b))) => *b,
            other => {
                return Err(StoreError::Backend(format!("scylla: LWT answered {other:?}, not [applied]")))
            }
        };
        Ok(Lwt { applied, names, row })
    }

    fn column(&self, name: &str) -> Option<&CqlValue> {
        let i = self.names.iter().position(|n| n == name)?;
        self.row.get(i)?.as_ref()
    }

    pub(super) fn bigint(&self, name: &str) -> Option<i64> {
        match self.column(name)? {
            CqlValue::BigInt(v) => Some(*v),
            _ => None,
        }
    }

    pub(super) fn text(&self, name: &str) -> Option<&str> {
        match self.column(name)? {
            CqlValue::Text(v) | CqlValue::Ascii(v) => Some(v),
            _ => None,
        }
    }

    pub(super) fn int(&self, name: &str) -> Option<i32> {
        match self.column(name)? {
            CqlValue::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// Write timestamps (microseconds) that never repeat or go back within this
/// process: a session's rewrites, and its open-session entry, carry the time
/// they were asked for, so the last one asked for wins even if an earlier one
/// reaches the replicas later (the session actor does not await each write).
/// Also numbers readings that share a timestamp (`samples.seq`).
#[derive(Default)]
pub(super) struct WriteClock(AtomicI64);

impl WriteClock {
    pub(super) fn next(&self) -> i64 {
        let now = chrono::Utc::now().timestamp_micros();
        let mut last = self.0.load(Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.0.compare_exchange_weak(last, next, Relaxed, Relaxed) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

#[derive(Default)]
struct Counters {
    in_flight: AtomicU64,
    batches: AtomicU64,
    busy_micros: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
}

/// One in-flight request: holds a place under `max_in_flight`.
struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    counters: &'a Counters,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The session, the limit on requests in flight, and the store's counters.
pub(super) struct Cql {
    pub session: Session,
    limit: Semaphore,
    counters: Counters,
    pub clock: WriteClock,
}

impl Cql {
    pub(super) fn new(session: Session, max_in_flight: usize) -> Cql {
        Cql {
            session,
            limit: Semaphore::new(max_in_flight.max(1)),
            counters: Counters::default(),
            clock: WriteClock::default(),
        }
    }

    async fn slot(&self) -> Result<Slot<'_>> {
        let permit = self.limit.acquire().await.map_err(|_| StoreError::Closed)?;
        self.counters.in_flight.fetch_add(1, Relaxed);
        Ok(Slot { _permit: permit, counters: &self.counters })
    }

    /// Closes the limit: requests not yet started fail with `Closed`.
    pub(super) fn close(&self) {
        self.limit.close();
    }

    pub(super) async fn exec(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult> {
        let _slot = self.slot().await?;
        self.session.execute_unpaged(stmt, values).await.map_err(cql_err(what))
    }

    /// A write that returns nothing.
    pub(super) async fn write(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<()> {
        let started = std::time::Instant::now();
        self.exec(what, stmt, values).await?;
        self.wrote(started);
        Ok(())
    }

    /// Counts a committed write and the time it took.
    fn wrote(&self, started: std::time::Instant) {
        self.counters.batches.fetch_add(1, Relaxed);
        self.counters.busy_micros.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
    }

    pub(super) async fn batch(
        &self,
        what: &'static str,
        batch: &Batch,
        values: impl BatchValues,
    ) -> Result<()> {
        let _slot = self.slot().await?;
        let started = std::time::Instant::now();
        self.session.batch(batch, values).await.map_err(cql_err(what))?;
        self.wrote(started);
        Ok(())
    }

    /// A conditional write.
    pub(super) async fn lwt(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Lwt> {
        let started = std::time::Instant::now();
        let lwt = Lwt::parse(self.exec(what, stmt, values).await?)?;
        if lwt.applied {
            self.wrote(started);
        }
        Ok(lwt)
    }

    /// A conditional batch: statements on one partition applied by one
    /// round of Paxos, all or none.
    pub(super) async fn lwt_batch(
        &self,
        what: &'static str,
        batch: &Batch,
        values: impl BatchValues,
    ) -> Result<Lwt> {
        let started = std::time::Instant::now();
        let result = {
            let _slot = self.slot().await?;
            self.session.batch(batch, values).await.map_err(cql_err(what))?
        };
        let lwt = Lwt::parse(result)?;
        if lwt.applied {
            self.wrote(started);
        }
        Ok(lwt)
    }

    /// Every row a query returns, a page at a time.
    pub(super) async fn rows<R, V>(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        values: &V,
    ) -> Result<Vec<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
        V: SerializeRow,
    {
        let mut out = Vec::new();
        let mut paging = PagingState::start();
        loop {
            let (result, next) = {
                let _slot = self.slot().await?;
                self.session.execute_single_page(stmt, values, paging).await.map_err(cql_err(what))?
            };
            let rows = result.into_rows_result().map_err(cql_err(what))?;
            for row in rows.rows::<R>().map_err(cql_err(what))? {
                out.push(row.map_err(cql_err(what))?);
            }
            match next {
                PagingStateResponse::HasMorePages { state } => paging = state,
                PagingStateResponse::NoMorePages => return Ok(out),
            }
        }
    }

    /// The one row a query by primary key returns, if any.
    pub(super) async fn row<R, V>(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        values: V,
    ) -> Result<Option<R>>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
        V: SerializeRow,
    {
        let result = self.exec(what, stmt, values).await?;
        let rows = result.into_rows_result().map_err(cql_err(what))?;
        rows.maybe_first_row::<R>().map_err(cql_err(what))
    }

    /// Counts a store operation (one trait write) and passes its result on.
    pub(super) fn count<T>(&self, result: Result<T>) -> Result<T> {
        let counter = if result.is_ok() { &self.counters.writes } else { &self.counters.errors };
        counter.fetch_add(1, Relaxed);
        result
    }

    pub(super) fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            queued: c.in_flight.load(Relaxed),
            batches: c.batches.load(Relaxed),
            busy_micros: c.busy_micros.load(Relaxed),
            writes: c.writes.load(Relaxed),
            errors: c.errors.load(Relaxed),
        }
    }
}

/// Most keys in one `IN` query: the coordinator fans it out, so keep it small.
pub(super) const IN_KEYS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_clock_never_repeats_or_goes_back() {
        let clock = WriteClock::default();
        let mut last = clock.next();
        assert!(last > 1_700_000_000_000_000, "microseconds since 1970: {last}");
        for _ in 0..10_000 {
            let next = clock.next();
            assert!(next > last);
            last = next;
        }
    }

    #[test]
    fn the_write_clock_is_unique_across_threads() {
        let clock = std::sync::Arc::new(WriteClock::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let clock = clock.clone();
                std::thread::spawn(move || (0..5_000).map(|_| clock.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
