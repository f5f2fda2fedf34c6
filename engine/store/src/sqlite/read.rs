//! Reads: a pool of WAL reader connections and the queries they run.
//!
//! In WAL mode readers see the last committed state and never wait for the
//! writer, so a few connections serve every read. Each query runs on
//! tokio's blocking pool, which exists on current-thread runtimes (actix-rt)
//! and multi-thread ones alike, so an async caller never blocks on SQLite.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::codec::{self, decimal, json, name, time, SESSION_COLUMNS};
use super::BUSY_TIMEOUT;
use crate::{PileRecord, Result, Station, StoreError, StoredResponse};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use domain::pricing::{Bill, PlanId, PricePlan};
use domain::session::{MeterSample, SessionRecord};
use domain::tariff::Tariff;
use vocab::{PileId, PortNo, Protocol, SessionId, Severity, StationId, TariffId};

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

const TARIFF: &str = "SELECT id, operator_id, name, tou FROM tariffs";

fn tariff_row(r: &Row) -> rusqlite::Result<Tariff> {
    Ok(Tariff { id: r.get(0)?, operator_id: r.get(1)?, name: r.get(2)?, tou: json(r, 3)? })
}

pub(super) fn tariff(c: &Connection, id: TariffId) -> rusqlite::Result<Option<Tariff>> {
    c.prepare_cached(&format!("{TARIFF} WHERE id = ?1"))?.query_row([id], tariff_row).optional()
}

pub(super) fn tariffs(c: &Connection) -> rusqlite::Result<Vec<Tariff>> {
    c.prepare_cached(&format!("{TARIFF} ORDER BY id"))?.query_map([], tariff_row)?.collect()
}

const STATION: &str =
    "SELECT id, name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at, power,
                merchant_id, details, operator_id
         FROM stations";

pub(super) fn stations(c: &Connection) -> rusqlite::Result<Vec<Station>> {
    c.prepare_cached(&format!("{STATION} ORDER BY id"))?.query_map([], station_row)?.collect()
}

pub(super) fn station(c: &Connection, id: StationId) -> rusqlite::Result<Option<Station>> {
    c.prepare_cached(&format!("{STATION} WHERE id = ?1"))?.query_row([id], station_row).optional()
}

fn station_row(r: &Row) -> rusqlite::Result<Station> {
    {
        Ok(Station {
            id: r.get(0)?,
            operator_id: r.get(10)?,
            name: r.get(1)?,
            tariff_id: r.get(2)?,
            utc_offset_minutes: r.get(3)?,
            service_fee: decimal(r, 4)?,
            minimum_charge: decimal(r, 5)?,
            created_at: time(r, 6)?,
            power: match r.get_ref(7)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(json(r, 7)?),
            },
            merchant_id: r.get(8)?,
            details: match r.get_ref(9)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(json(r, 9)?),
            },
        })
    }
}

const PLAN: &str = "SELECT id, operator_id, name, pricing FROM plans";

fn plan_row(r: &Row) -> rusqlite::Result<PricePlan> {
    Ok(PricePlan { id: r.get(0)?, operator_id: r.get(1)?, name: r.get(2)?, pricing: json(r, 3)? })
}

pub(super) fn plan(c: &Connection, id: PlanId) -> rusqlite::Result<Option<PricePlan>> {
    c.prepare_cached(&format!("{PLAN} WHERE id = ?1"))?.query_row([id], plan_row).optional()
}

pub(super) fn plans(c: &Connection) -> rusqlite::Result<Vec<PricePlan>> {
    c.prepare_cached(&format!("{PLAN} ORDER BY id"))?.query_map([], plan_row)?.collect()
}

const PILE_COLUMNS: &str = "id, station_id, protocol, ports, created_at";

fn pile_row(r: &Row) -> rusqlite::Result<PileRecord> {
    Ok(PileRecord {
        id: PileId(r.get(0)?),
        station_id: r.get(1)?,
        protocol: name(r, 2, Protocol::parse)?,
        ports: r.get(3)?,
        created_at: time(r, 4)?,
    })
}

pub(super) fn pile(c: &Connection, id: &PileId) -> rusqlite::Result<Option<PileRecord>> {
    c.prepare_cached(&format!("SELECT {PILE_COLUMNS} FROM piles WHERE id = ?1"))?
        .query_row([id.as_str()], pile_row)
        .optional()
}

pub(super) fn piles(c: &Connection) -> rusqlite::Result<Vec<PileRecord>> {
    c.prepare_cached(&format!("SELECT {PILE_COLUMNS} FROM piles ORDER BY id"))?
        .query_map([], pile_row)?
        .collect()
}

pub(super) fn session(c: &Connection, id: &SessionId) -> rusqlite::Result<Option<SessionRecord>> {
    c.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"))?
        .query_row([id.as_str()], codec::session)
        .optional()
}

pub(super) fn open_sessions(c: &Connection, pile: &PileId) -> rusqlite::Result<Vec<SessionRecord>> {
    // The state condition is the partial index's, word for word.
    c.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions
         WHERE pile_id = ?1 AND state IN ('starting', 'charging', 'stopping')
         ORDER BY created_at, rowid"
    ))?
    .query_map([pile.as_str()], codec::session)?
    .collect()
}

pub(super) fn samples(c: &Connection, id: &SessionId) -> rusqlite::Result<Vec<MeterSample>> {
    c.prepare_cached(
        "SELECT at, kwh, voltage, current, power, soc FROM samples
         WHERE session_id = ?1 ORDER BY at, seq",
    )?
    .query_map([id.as_str()], |r| {
        Ok(MeterSample {
            session_id: id.clone(),
            at: time(r, 0)?,
            kwh: decimal(r, 1)?,
            voltage: decimal(r, 2)?,
            current: decimal(r, 3)?,
            power: decimal(r, 4)?,
            soc: r.get(5)?,
        })
    })?
    .collect()
}

pub(super) fn bill(c: &Connection, id: &SessionId) -> rusqlite::Result<Option<Bill>> {
    c.prepare_cached(
        "SELECT tariff_id, plan_id, lines, kwh, seconds, energy_amount, service_amount, total, prepaid, refund,
                reconciliation, list_total, discount
         FROM bills WHERE session_id = ?1",
    )?
    .query_row([id.as_str()], |r| {
        let total = decimal(r, 7)?;
        Ok(Bill {
            session_id: id.clone(),
            tariff_id: r.get(0)?,
            plan_id: r.get(1)?,
            lines: json(r, 2)?,
            kwh: decimal(r, 3)?,
            seconds: r.get(4)?,
            energy_amount: decimal(r, 5)?,
            service_amount: decimal(r, 6)?,
            // Bills from before discounts: the total was the list price.
            list_total: super::codec::opt_decimal(r, 11)?.unwrap_or(total),
            discount: super::codec::opt_decimal(r, 12)?.unwrap_or_default(),
            total,
            prepaid: super::codec::opt_decimal(r, 8)?,
            refund: decimal(r, 9)?,
            reconciliation: match r.get_ref(10)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(json(r, 10)?),
            },
        })
    })
    .optional()
}

pub(super) fn idempotent_response(c: &Connection, key: &str) -> rusqlite::Result<Option<StoredResponse>> {
    c.prepare_cached("SELECT fingerprint, status, body, created_at FROM idempotency WHERE key = ?1")?
        .query_row([key], |r| {
            Ok(StoredResponse {
                fingerprint: r.get(0)?,
                status: r.get(1)?,
                body: r.get(2)?,
                created_at: time(r, 3)?,
            })
        })
        .optional()
}

const ALARM_COLUMNS: &str =
    "id, station_id, pile_id, port, kind, severity, message, raised_at, acknowledged_at, cleared_at";

fn alarm_row(r: &Row) -> rusqlite::Result<Alarm> {
    Ok(Alarm {
        id: r.get(0)?,
        alarm: NewAlarm {
            station_id: r.get(1)?,
            pile_id: r.get::<_, Option<String>>(2)?.map(PileId),
            port: r.get::<_, Option<u8>>(3)?.map(PortNo),
            kind: r.get(4)?,
            severity: name(r, 5, Severity::parse)?,
            message: r.get(6)?,
            raised_at: time(r, 7)?,
        },
        acknowledged_at: codec::opt_time(r, 8)?,
        cleared_at: codec::opt_time(r, 9)?,
    })
}

pub(super) fn alarm(c: &Connection, id: AlarmId) -> rusqlite::Result<Option<Alarm>> {
    c.prepare_cached(&format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?1"))?
        .query_row([id], alarm_row)
        .optional()
}

pub(super) fn alarms(c: &Connection, f: &AlarmFilter) -> rusqlite::Result<Vec<Alarm>> {
    // Only the filters set are in the statement, so SQLite can use the
    // station's or the pile's index (an `?1 IS NULL OR ...` form made it walk
    // the whole table from the newest row, which a pile's login did); one
    // cached plan per combination, of which there are sixteen.
    let mut clauses = Vec::new();
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::new();
    let pile = f.pile_id.as_ref().map(|p| p.as_str());
    if let Some(station) = &f.station_id {
        clauses.push("station_id = ?");
        values.push(station);
    }
    if let Some(pile) = &pile {
        clauses.push("pile_id = ?");
        values.push(pile);
    }
    if f.open {
        clauses.push("cleared_at IS NULL");
    }
    if let Some(before) = &f.before {
        clauses.push("id < ?");
        values.push(before);
    }
    let limit = f.limit.min(i64::MAX as usize) as i64;
    values.push(&limit);
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!("SELECT {ALARM_COLUMNS} FROM alarms {filter} ORDER BY id DESC LIMIT ?");
    c.prepare_cached(&sql)?.query_map(&values[..], alarm_row)?.collect()
}

pub(super) fn diagnostics(
    c: &Connection,
    pile: &PileId,
    limit: usize,
) -> rusqlite::Result<Vec<crate::Diagnostic>> {
    c.prepare_cached(
        "SELECT pile_id, port, session_id, at, kind, data FROM diagnostics WHERE pile_id = ?1
         ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(rusqlite::params![pile.as_str(), limit as i64], |r| {
        Ok(crate::Diagnostic {
            pile_id: PileId(r.get(0)?),
            port: r.get(1)?,
            session_id: r.get::<_, Option<String>>(2)?.map(SessionId),
            at: time(r, 3)?,
            kind: r.get(4)?,
            data: r.get(5)?,
        })
    })?
    .collect()
}

pub(super) fn driver_sessions(
    c: &Connection,
    driver: vocab::DriverId,
    limit: usize,
) -> rusqlite::Result<Vec<SessionRecord>> {
    let ids: Vec<String> = c
        .prepare_cached(
            "SELECT session_id FROM driver_sessions WHERE driver_id = ?1 ORDER BY created_at DESC, session_id DESC
             LIMIT ?2",
        )?
        .query_map(rusqlite::params![driver, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().filter_map(|id| session(c, &SessionId(id)).transpose()).collect()
}
