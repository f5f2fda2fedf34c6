//! Sessions in SQLite: a session and its wallet hold in one write, meter
//! readings and diagnostics appended in batches, a bill stored once with its
//! capture, and corrections that keep the bills they replace.

use super::money::{entries, post};
use super::write::{broke, exists, Broke};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{
    self, bind_bill, bind_session, decimal, json, micros, time, to_json, BILL_COLUMNS, SESSION_COLUMNS,
};
use super::{now, Diagnostic, SqliteStore};
use crate::{EntryFilter, Result, SessionFilter, Sessions, StoreError};
use domain::ledger::Entry;
use domain::pricing::Bill;
use domain::session::{MeterSample, SessionRecord, SessionState};
use rusqlite::params_from_iter;
use rusqlite::types::Value;
use vocab::{DriverId, PileId, SessionId};
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

pub(super) fn diagnostics(c: &Connection, pile: &PileId, limit: usize) -> rusqlite::Result<Vec<Diagnostic>> {
    c.prepare_cached(
        "SELECT pile_id, port, session_id, at, kind, data FROM diagnostics WHERE pile_id = ?1
         ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(rusqlite::params![pile.as_str(), limit as i64], |r| {
        Ok(Diagnostic {
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

/// Names the pile, station, tariff or plan a session refers to that does
/// not exist.
fn missing_parent(c: &Connection, s: &SessionRecord) -> Result<StoreError> {
    let missing = if !exists(c, "SELECT 1 FROM piles WHERE id = ?1", s.pile_id.as_str())? {
        format!("pile {}", s.pile_id)
    } else if !exists(c, "SELECT 1 FROM stations WHERE id = ?1", s.station_id)? {
        format!("station {}", s.station_id)
    } else if let Some(plan) = s.terms.plan_id {
        format!("plan {plan} or tariff")
    } else {
        "tariff".to_owned()
    };
    Ok(StoreError::NotFound(missing))
}

pub(super) fn insert_session(c: &Connection, s: &SessionRecord) -> Result<()> {
    let sql = format!(
        "INSERT INTO sessions ({SESSION_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    );
    if let Err(e) = bind_session(&mut c.prepare_cached(&sql)?, s) {
        return Err(match broke(&e) {
            Some(Broke::Key) => StoreError::Conflict(format!("session {}", s.id)),
            Some(Broke::Parent) => missing_parent(c, s)?,
            None => e.into(),
        });
    }
    if let Some(payer) = &s.terms.payer {
        c.prepare_cached(
            "INSERT INTO driver_sessions (driver_id, created_at, session_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![payer.driver, micros(s.created_at), s.id.as_str()])
        .map_err(|e| match broke(&e) {
            Some(Broke::Parent) => StoreError::NotFound(format!("driver {}", payer.driver)),
            _ => e.into(),
        })?;
        if !payer.held.is_zero() {
            super::money::post(c, &Entry::hold(&s.id, payer.driver, payer.held, s.created_at))?;
        }
    }
    Ok(())
}

/// Rewrites every column of a session; ?1..?14 as in `SESSION_COLUMNS`.
const UPDATE_SESSION: &str = "UPDATE sessions SET pile_id = ?2, port = ?3, station_id = ?4, tariff_id = ?5, \
     plan_id = ?6, state = ?7, created_at = ?8, started_at = ?9, ended_at = ?10, stop_code = ?11, \
     stop_text = ?12, terms = ?13, meter = ?14 WHERE id = ?1";

pub(super) fn update_session(c: &Connection, s: &SessionRecord) -> Result<()> {
    // A billed session is final even if its stored state somehow is not.
    let sql = format!(
        "{UPDATE_SESSION} AND state <> 'finished'
         AND NOT EXISTS (SELECT 1 FROM bills WHERE session_id = ?1)"
    );
    let updated = match bind_session(&mut c.prepare_cached(&sql)?, s) {
        Ok(n) => n,
        Err(e) => {
            return Err(match broke(&e) {
                Some(Broke::Parent) => missing_parent(c, s)?,
                _ => e.into(),
            })
        }
    };
    if updated == 1 {
        release_failed(c, s)
    } else if exists(c, "SELECT 1 FROM sessions WHERE id = ?1", s.id.as_str())? {
        Err(StoreError::Conflict(format!("session {} is finished", s.id)))
    } else {
        Err(StoreError::NotFound(format!("session {}", s.id)))
    }
}

/// A charge that never started gives its hold back.
fn release_failed(c: &Connection, s: &SessionRecord) -> Result<()> {
    if let Some(payer) =
        s.terms.payer.as_ref().filter(|p| s.state == SessionState::Failed && !p.held.is_zero())
    {
        let hold = Entry::hold(&s.id, payer.driver, payer.held, s.created_at);
        super::money::post(c, &hold.reversal(s.ended_at.unwrap_or(s.created_at)))?;
    }
    Ok(())
}

pub(super) fn append_samples(c: &Connection, samples: &[MeterSample]) -> Result<()> {
    // seq: after any reading of the session already stored at the same
    // instant, so equal timestamps keep their arrival order.
    let mut insert = c.prepare_cached(
        "INSERT INTO samples (session_id, at, seq, kwh, voltage, current, power, soc)
         VALUES (?1, ?2, (SELECT coalesce(max(seq) + 1, 0) FROM samples WHERE session_id = ?1 AND at = ?2),
                 ?3, ?4, ?5, ?6, ?7)",
    )?;
    for s in samples {
        insert
            .execute(params![
                s.session_id.as_str(),
                micros(s.at),
                s.kwh.to_string(),
                s.voltage.to_string(),
                s.current.to_string(),
                s.power.to_string(),
                s.soc,
            ])
            .map_err(|e| match broke(&e) {
                Some(Broke::Parent) => StoreError::NotFound(format!("session {}", s.session_id)),
                _ => e.into(),
            })?;
    }
    Ok(())
}

pub(super) fn finish_session(
    c: &Connection,
    s: &SessionRecord,
    bill: &Bill,
    at: DateTime<Utc>,
) -> Result<bool> {
    crate::finishable(s, bill)?;
    if !exists(c, "SELECT 1 FROM sessions WHERE id = ?1", s.id.as_str())? {
        return Err(StoreError::NotFound(format!("session {}", s.id)));
    }
    if exists(c, "SELECT 1 FROM bills WHERE session_id = ?1", s.id.as_str())? {
        return Ok(false);
    }
    if let Err(e) = bind_session(&mut c.prepare_cached(UPDATE_SESSION)?, s) {
        return Err(match broke(&e) {
            Some(Broke::Parent) => missing_parent(c, s)?,
            _ => e.into(),
        });
    }
    let insert = format!(
        "INSERT INTO bills ({BILL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    );
    bind_bill(&mut c.prepare_cached(&insert)?, &s.id, bill, at).map_err(|e| match broke(&e) {
        Some(Broke::Parent) => StoreError::NotFound("the bill's tariff or plan".to_owned()),
        _ => e.into(),
    })?;
    if let Some(payer) = &s.terms.payer {
        let entry = Entry::capture(payer, s.terms.merchant_id, bill, s.ended_at.unwrap_or(at));
        super::money::post(c, &entry)?;
    }
    Ok(true)
}

pub(super) fn append_diagnostics(c: &Connection, ds: &[Diagnostic]) -> Result<()> {
    let mut insert = c.prepare_cached(
        "INSERT INTO diagnostics (pile_id, port, session_id, at, kind, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for d in ds {
        insert
            .execute(params![
                d.pile_id.as_str(),
                d.port,
                d.session_id.as_ref().map(|s| s.as_str()),
                micros(d.at),
                d.kind,
                d.data
            ])
            .map_err(|e| match broke(&e) {
                Some(Broke::Parent) => StoreError::NotFound(format!("pile {}", d.pile_id)),
                _ => e.into(),
            })?;
    }
    Ok(())
}

pub(super) fn correct_bill(c: &Connection, bill: &domain::pricing::Bill, at: DateTime<Utc>) -> Result<u32> {
    let id = &bill.session_id;
    let (Some(old), Some(session)) = (self::bill(c, id)?, self::session(c, id)?) else {
        return Err(StoreError::NotFound(format!("bill of session {id}")));
    };
    let replaced: i64 = c
        .prepare_cached("SELECT count(*) FROM bill_revisions WHERE session_id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))?;
    c.prepare_cached(
        "INSERT INTO bill_revisions (session_id, revision, bill, replaced_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id.as_str(), replaced, to_json(&old)?, micros(at)])?;
    c.prepare_cached(
        "UPDATE bills SET lines = ?2, total = ?3, refund = ?4, list_total = ?5, discount = ?6 WHERE session_id = ?1",
    )?
    .execute(params![
        id.as_str(),
        to_json(&bill.lines)?,
        bill.total.to_string(),
        bill.refund.to_string(),
        bill.list_total.to_string(),
        bill.discount.to_string()
    ])?;
    let revision = replaced as u32 + 1;
    if let Some(payer) = &session.terms.payer {
        let filter = EntryFilter { reference: Some(id.to_string()), ..Default::default() };
        let last = entries(c, &filter)?.into_iter().rfind(|e| e.kind == domain::ledger::EntryKind::Capture);
        if let Some(last) = last {
            post(c, &last.reversal(at))?;
        }
        post(c, &Entry::recapture(payer, session.terms.merchant_id, bill, revision, at))?;
    }
    Ok(revision)
}

pub(super) fn bill_history(
    c: &Connection,
    id: &vocab::SessionId,
) -> rusqlite::Result<Vec<domain::pricing::Bill>> {
    c.prepare_cached("SELECT bill FROM bill_revisions WHERE session_id = ?1 ORDER BY revision")?
        .query_map([id.as_str()], |r| json(r, 0))?
        .collect()
}

/// The console's list: the WHERE is built from the filter's fields that
/// are set, so SQLite walks `sessions_created` (or
/// `sessions_station_created`) newest first and stops at the limit.
pub(super) fn list_sessions(c: &Connection, f: &SessionFilter) -> rusqlite::Result<Vec<SessionRecord>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(stations) = &f.stations {
        if stations.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = stations.iter().map(|s| s.to_string()).collect();
        clauses.push(format!(
            "station_id IN (SELECT value FROM json_each({}))",
            arg(format!("[{}]", list.join(",")).into())
        ));
    }
    if let Some(p) = &f.pile {
        clauses.push(format!("pile_id = {}", arg(p.as_str().to_owned().into())));
    }
    if let Some(d) = f.driver {
        clauses.push(format!(
            "id IN (SELECT session_id FROM driver_sessions WHERE driver_id = {})",
            arg(d.into())
        ));
    }
    if let Some(s) = f.state {
        clauses.push(format!("state = {}", arg(s.as_str().to_owned().into())));
    }
    if let Some(t) = f.from {
        clauses.push(format!("created_at >= {}", arg(micros(t).into())));
    }
    if let Some(t) = f.until {
        clauses.push(format!("created_at < {}", arg(micros(t).into())));
    }
    if let Some((at, id)) = &f.before {
        let (at, id) = (arg(micros(*at).into()), arg(id.as_str().to_owned().into()));
        clauses.push(format!("(created_at < {at} OR (created_at = {at} AND id < {id}))"));
    }
    let limit = arg(i64::try_from(f.limit).unwrap_or(i64::MAX).into());
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions {filter} ORDER BY created_at DESC, id DESC LIMIT {limit}"
    );
    c.prepare_cached(&sql)?.query_map(params_from_iter(args), codec::session)?.collect()
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        let session = session.clone();
        self.writer.submit(move |c| insert_session(c, &session)).await
    }

    async fn update_session(&self, session: &SessionRecord) -> Result<()> {
        let session = session.clone();
        self.writer.submit(move |c| update_session(c, &session)).await
    }

    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.writer.submit(move |c| append_samples(c, &samples)).await
    }

    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool> {
        let (session, bill, at) = (session.clone(), bill.clone(), now());
        self.writer.submit(move |c| finish_session(c, &session, &bill, at)).await
    }

    async fn correct_bill(&self, bill: &Bill, at: DateTime<Utc>) -> Result<u32> {
        let bill = bill.clone();
        self.writer.submit(move |c| correct_bill(c, &bill, at)).await
    }

    async fn bill_history(&self, id: &SessionId) -> Result<Vec<Bill>> {
        let id = id.clone();
        self.readers.read(move |c| bill_history(c, &id)).await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let id = id.clone();
        self.readers.read(move |c| session(c, &id)).await
    }

    async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>> {
        let id = id.clone();
        self.readers.read(move |c| samples(c, &id)).await
    }

    async fn bill(&self, id: &SessionId) -> Result<Option<Bill>> {
        let id = id.clone();
        self.readers.read(move |c| bill(c, &id)).await
    }

    async fn driver_sessions(&self, driver: DriverId, limit: usize) -> Result<Vec<SessionRecord>> {
        self.readers.read(move |c| driver_sessions(c, driver, limit)).await
    }

    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        let pile = pile.clone();
        self.readers.read(move |c| open_sessions(c, &pile)).await
    }

    async fn append_diagnostics(&self, diagnostics: Vec<Diagnostic>) -> Result<()> {
        if diagnostics.is_empty() {
            return Ok(());
        }
        self.writer.submit(move |c| append_diagnostics(c, &diagnostics)).await
    }

    async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<Diagnostic>> {
        let pile = pile.clone();
        self.readers.read(move |c| diagnostics(c, &pile, limit)).await
    }

    async fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionRecord>> {
        let filter = filter.clone();
        self.readers.read(move |c| list_sessions(c, &filter)).await
    }
}
