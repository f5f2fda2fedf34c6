//! Sessions on CQL: a session's row and its open-session entry written in
//! one logged batch, readings in unlogged batches by day, bills claimed once
//! with a lightweight transaction, and diagnostics.

use crate::Diagnostic;
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use scylla::statement::batch::{Batch, BatchType};

use super::codec::{
    self, bill_values, day_bucket, dec, decimal, json, micros, opt_small, session_values, time, to_json,
};
use super::cql::IN_KEYS;
use super::{now, Db, ScyllaStore};
use crate::{EntryFilter, Result, Sessions, StoreError};
use domain::ledger::Entry;
use domain::pricing::{Bill, Pricing};
use domain::session::{MeterSample, SessionRecord, SessionState};
use vocab::{DriverId, PileId, SessionId};

/// Readings of a session are read from the day before its creation to the
/// day after its end, so a node whose clock is a little off still finds them.
const DAYS_OF_SLACK: i32 = 1;

/// Readings per unlogged batch: one partition's rows, kept well under the
/// cluster's batch-size warning.
const SAMPLES_PER_BATCH: usize = 32;

impl Db {
    pub(super) async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let row = self.cql.row::<codec::SessionRow, _>(
            "reading a session",
            &self.st.sessions.session_get,
            (id.as_str(),),
        );
        row.await?.map(codec::session).transpose()
    }

    /// Sessions by id, in no particular order, `IN_KEYS` at a time.
    async fn sessions(&self, ids: Vec<String>) -> Result<Vec<SessionRecord>> {
        let chunks = ids.chunks(IN_KEYS).map(|chunk| {
            let chunk = chunk.to_vec();
            async move {
                self.cql
                    .rows::<codec::SessionRow, _>(
                        "reading sessions",
                        &self.st.sessions.sessions_get,
                        &(chunk,),
                    )
                    .await
            }
        });
        try_join_all(chunks).await?.into_iter().flatten().map(codec::session).collect()
    }

    /// The pile's open-session entries, oldest first, resolved to their
    /// sessions. An entry whose session has since closed (its removal not
    /// yet visible) is skipped: the session row decides.
    pub(super) async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        let entries = self
            .cql
            .rows::<(i64, String), _>("listing open sessions", &self.st.sessions.open_list, &(pile.as_str(),))
            .await?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = entries.into_iter().map(|(_, id)| id).collect();
        let mut found: HashMap<SessionId, SessionRecord> =
            self.sessions(ids.clone()).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        Ok(ids
            .into_iter()
            .filter_map(|id| found.remove(&SessionId(id)))
            .filter(|s| s.state.is_open() && &s.pile_id == pile)
            .collect())
    }

    /// The session's day partitions from its creation to its end (or now),
    /// read at once and concatenated in day order: each is ordered by time,
    /// then arrival.
    pub(super) async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>> {
        let Some(session) = self.session(id).await? else {
            return Ok(Vec::new());
        };
        let from = day_bucket(micros(session.created_at)) - DAYS_OF_SLACK;
        let until = session.ended_at.unwrap_or_else(now).max(session.created_at);
        let until = day_bucket(micros(until)) + DAYS_OF_SLACK;
        type Row = (i64, String, String, String, String, Option<i32>);
        let days = (from..=until).map(|day| async move {
            self.cql
                .rows::<Row, _>("reading readings", &self.st.sessions.samples_in_day, &(id.as_str(), day))
                .await
        });
        try_join_all(days)
            .await?
            .into_iter()
            .flatten()
            .map(|(at, kwh, voltage, amperage, power, soc)| {
                Ok(MeterSample {
                    session_id: id.clone(),
                    at: time("read_at", at)?,
                    kwh: decimal("kwh", &kwh)?,
                    voltage: decimal("voltage", &voltage)?,
                    current: decimal("amperage", &amperage)?,
                    power: decimal("power", &power)?,
                    soc: opt_small("soc", soc)?,
                })
            })
            .collect()
    }

    pub(super) async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<Diagnostic>> {
        type Row = (i32, Option<String>, i64, String, String);
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let key = (pile.as_str(), limit);
        let rows =
            self.cql.rows::<Row, _>("reading diagnostics", &self.st.sessions.diagnostics_get, &key).await?;
        rows.into_iter()
            .map(|(port, session, at, kind, data)| {
                Ok(Diagnostic {
                    pile_id: pile.clone(),
                    port: u8::try_from(port)
                        .map_err(|_| StoreError::Backend(format!("column port: {port} is not a port")))?,
                    session_id: session.map(SessionId),
                    at: time("at", at)?,
                    kind,
                    data,
                })
            })
            .collect()
    }

    pub(super) async fn driver_sessions(
        &self,
        driver: vocab::DriverId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let key = (driver, i32::try_from(limit).unwrap_or(i32::MAX));
        let ids = self.cql.rows::<(String,), _>(
            "listing a driver's charges",
            &self.st.sessions.driver_sessions_get,
            &key,
        );
        let ids = ids.await?;
        let sessions =
            try_join_all(ids.into_iter().map(|(id,)| async move { self.session(&SessionId(id)).await }));
        Ok(sessions.await?.into_iter().flatten().collect())
    }

    pub(super) async fn bill(&self, id: &SessionId) -> Result<Option<Bill>> {
        let row = self
            .cql
            .row::<codec::BillRow, _>("reading a bill", &self.st.sessions.bill_get, (id.as_str(),))
            .await?;
        row.map(|r| codec::bill(id, r)).transpose()
    }

    /// Names the pile, station, plan or tariff a session refers to that does
    /// not exist, if any. The reads run at once.
    async fn missing_parent(&self, s: &SessionRecord) -> Result<Option<String>> {
        let tariff_id = match &s.terms.pricing {
            Pricing::TimeOfUse { tariff_id, .. } => Some(*tariff_id),
            _ => None,
        };
        let (pile, station, plan, tariff) = tokio::join!(
            self.exists_text("reading a pile", &self.st.resources.pile_exists, s.pile_id.as_str()),
            self.exists_id("reading a station", &self.st.resources.station_exists, s.station_id),
            async {
                match s.terms.plan_id {
                    Some(id) => self.exists_id("reading a plan", &self.st.resources.plan_exists, id).await,
                    None => Ok(true),
                }
            },
            async {
                match tariff_id {
                    Some(id) => {
                        self.exists_id("reading a tariff", &self.st.resources.tariff_exists, id).await
                    }
                    None => Ok(true),
                }
            },
        );
        Ok(if !pile? {
            Some(format!("pile {}", s.pile_id))
        } else if !station? {
            Some(format!("station {}", s.station_id))
        } else if !plan? {
            Some(format!("plan {}", s.terms.plan_id.unwrap_or_default()))
        } else if !tariff? {
            Some(format!("tariff {}", tariff_id.unwrap_or_default()))
        } else {
            None
        })
    }

    /// The state stored for a session, if it exists.
    async fn stored_state(&self, s: &SessionRecord) -> Result<Option<String>> {
        Ok(self
            .cql
            .row::<(String,), _>("reading a session", &self.st.sessions.session_state, (s.id.as_str(),))
            .await?
            .map(|r| r.0))
    }

    /// Writes a session's row and its open-session entry (added while it is
    /// open, removed once it is not) in one logged batch, at write time `ts`.
    pub(super) async fn write_session(&self, s: &SessionRecord, ts: i64) -> Result<()> {
        let row = session_values(s, ts)?;
        let (pile, created, id) = (s.pile_id.as_str(), micros(s.created_at), s.id.as_str());
        if s.state.is_open() {
            self.cql
                .batch("writing a session", &self.st.sessions.session_open, (row, (pile, created, id, ts)))
                .await
        } else {
            self.cql
                .batch("writing a session", &self.st.sessions.session_closed, (row, (ts, pile, created, id)))
                .await
        }
    }

    /// Session ids are minted unique by the platform, so a duplicate is a
    /// bug to report, not a race to arbitrate: a quorum read finds it. (A
    /// lightweight transaction here would force every later write of the row
    /// to be one too: plain writes and Paxos writes on the same cells are
    /// ordered by two different clocks.)
    ///
    /// A session paid from a wallet has its hold booked first, and is
    /// written only once the hold is: a wallet that is short refuses the
    /// hold, and the session is never written. If the writer dies between
    /// the two, the hold stays booked for a session that does not exist;
    /// inserting the same record again writes the session (the hold's key
    /// is booked already, so it is not held twice).
    pub(super) async fn insert_session(&self, s: &SessionRecord, ts: i64) -> Result<()> {
        let (existing, missing) = tokio::join!(self.stored_state(s), self.missing_parent(s));
        if existing?.is_some() {
            return Err(StoreError::Conflict(format!("session {}", s.id)));
        }
        if let Some(missing) = missing? {
            return Err(StoreError::NotFound(missing));
        }
        if let Some(payer) = &s.terms.payer {
            if !payer.held.is_zero() {
                self.post(&Entry::hold(&s.id, payer.driver, payer.held, s.created_at)).await?;
            }
            let row = (payer.driver, micros(s.created_at), s.id.as_str());
            self.cql.write("listing a driver's charge", &self.st.sessions.driver_session_insert, row).await?;
        }
        self.index_session(s).await?;
        self.write_session(s, ts).await
    }

    /// Refuses a session that is finished or billed. The bill is checked
    /// with a serial read, which also completes a bill claim still in flight,
    /// so a claim that committed is never overwritten by an older update.
    /// Check and write are not one transaction: one session is written by
    /// the one actor that drives it, and `ts` (taken when the update was
    /// asked for) keeps an update that loses a race with the finish older
    /// than the finished record.
    ///
    /// A wallet-paid session stored as failed then gives its hold back
    /// (the hold's reversal, whose key books it once). If the writer dies
    /// between the two, storing the failed record again books it.
    pub(super) async fn update_session(&self, s: &SessionRecord, ts: i64) -> Result<()> {
        let billed = self.cql.row::<(String,), _>(
            "reading a bill",
            &self.st.sessions.bill_exists_serial,
            (s.id.as_str(),),
        );
        let (billed, state) = tokio::join!(billed, self.stored_state(s));
        let Some(state) = state? else {
            return Err(StoreError::NotFound(format!("session {}", s.id)));
        };
        if billed?.is_some() || state == SessionState::Finished.as_str() {
            return Err(StoreError::Conflict(format!("session {} is finished", s.id)));
        }
        self.write_session(s, ts).await?;
        let failed = s.state == SessionState::Failed;
        if let Some(payer) = s.terms.payer.as_ref().filter(|p| failed && !p.held.is_zero()) {
            let hold = Entry::hold(&s.id, payer.driver, payer.held, s.created_at);
            self.post(&hold.reversal(s.ended_at.unwrap_or(s.created_at))).await?;
        }
        Ok(())
    }

    /// Claims the bill (`INSERT INTO bills ... IF NOT EXISTS`): exactly one
    /// final record of a session is billed, however often the pile repeats
    /// it and whichever node it reaches. Then the charge is listed for
    /// reports, the session row is rewritten as finished, and a session paid
    /// from a wallet has its bill captured (`Entry::capture`, whose key books
    /// it once). If a node died between these steps, the next repeat of the
    /// final record finds the bill taken and lists the charge, finishes the
    /// row, and books the capture, from the record and bill stored with the
    /// bill, not from the repeat.
    pub(super) async fn finish_session(
        &self,
        s: &SessionRecord,
        bill: &Bill,
        at: DateTime<Utc>,
        ts: i64,
    ) -> Result<bool> {
        crate::finishable(s, bill)?;
        let Some(state) = self.stored_state(s).await? else {
            return Err(StoreError::NotFound(format!("session {}", s.id)));
        };
        let lwt =
            self.cql.lwt("claiming a bill", &self.st.sessions.bill_claim, bill_values(bill, s, at)?).await?;
        if lwt.applied {
            // Listed before the session is marked finished: a repeat that
            // finds the session unfinished lists it again.
            self.list_charge(s, bill).await?;
            self.write_session(s, ts).await?;
            if let Some(payer) = &s.terms.payer {
                let entry = Entry::capture(payer, s.terms.merchant_id, bill, s.ended_at.unwrap_or(at));
                self.post(&entry).await?;
            }
            return Ok(true);
        }
        let stored = match lwt.text("final_session") {
            Some(text) => text.to_owned(),
            None => {
                let read = self.cql.row::<(String,), _>(
                    "reading a bill",
                    &self.st.sessions.bill_final_session,
                    (s.id.as_str(),),
                );
                read.await?.map(|r| r.0).unwrap_or_default()
            }
        };
        let first: SessionRecord = codec::json("final_session", &stored)?;
        if state != SessionState::Finished.as_str() {
            if let Some(bill) = self.bill(&s.id).await? {
                self.list_charge(&first, &bill).await?;
            }
            self.write_session(&first, ts).await?;
        }
        if let Some(payer) = &first.terms.payer {
            // Booked once by its key: this only books a capture a crash left out.
            let Some(first_bill) = self.bill(&s.id).await? else {
                return Err(StoreError::Backend(format!("the bill of session {} went missing", s.id)));
            };
            let entry =
                Entry::capture(payer, first.terms.merchant_id, &first_bill, first.ended_at.unwrap_or(at));
            self.post(&entry).await?;
        }
        Ok(false)
    }

    /// Readings go to their (session, day) partitions, each partition's in
    /// unlogged batches (one partition per batch, so a batch is one
    /// replica-set write, not a coordinator fan-out). `seq` is the write
    /// clock, so readings that share a timestamp keep their arrival order.
    /// There is no foreign key to check: readings of an unknown session are
    /// stored and never read (`samples` starts from the session row).
    /// One write per frame: diagnostics are few beside meter samples.
    pub(super) async fn append_diagnostics(&self, ds: &[Diagnostic]) -> Result<()> {
        let writes = ds.iter().map(|d| {
            let values = (
                d.pile_id.as_str(),
                micros(d.at),
                self.cql.clock.next(),
                i32::from(d.port),
                d.session_id.as_ref().map(|s| s.as_str()),
                d.kind.as_str(),
                d.data.as_str(),
            );
            self.cql.write("inserting a diagnostic", &self.st.sessions.diagnostic_insert, values)
        });
        futures::future::try_join_all(writes).await.map(drop)
    }

    pub(super) async fn append_samples(&self, samples: &[MeterSample]) -> Result<()> {
        type Values = (String, i32, i64, i64, String, String, String, String, Option<i32>);
        let mut partitions: BTreeMap<(&str, i32), Vec<Values>> = BTreeMap::new();
        for s in samples {
            let at = micros(s.at);
            let values = (
                s.session_id.0.clone(),
                day_bucket(at),
                at,
                self.cql.clock.next(),
                dec(s.kwh),
                dec(s.voltage),
                dec(s.current),
                dec(s.power),
                s.soc.map(i32::from),
            );
            partitions.entry((s.session_id.as_str(), day_bucket(at))).or_default().push(values);
        }
        let writes = partitions
            .into_values()
            .flat_map(|rows| rows.chunks(SAMPLES_PER_BATCH).map(|chunk| chunk.to_vec()).collect::<Vec<_>>());
        let writes = writes.map(|chunk| async move {
            if let [one] = &chunk[..] {
                return self.cql.write("inserting a reading", &self.st.sessions.sample_insert, one).await;
            }
            let mut batch = Batch::new(BatchType::Unlogged);
            for _ in &chunk {
                batch.append_statement(self.st.sessions.sample_insert.clone());
            }
            batch.set_consistency(self.st.sessions.sample_insert.get_consistency().unwrap_or_default());
            batch.set_is_idempotent(true);
            self.cql.batch("inserting readings", &batch, chunk).await
        });
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// Not one transaction as in SQLite: the revision is claimed first
    /// (so concurrent corrections cannot both win), then the bill row is
    /// replaced, then the ledger entries posted, each idempotent. A crash
    /// between steps leaves the revision recorded and the rest undone; the
    /// operator sees the bill unchanged and corrects it again.
    pub(super) async fn correct_bill(&self, bill: &domain::pricing::Bill, at: DateTime<Utc>) -> Result<u32> {
        let id = &bill.session_id;
        let (old, session) = tokio::try_join!(self.bill(id), self.session(id))?;
        let (Some(old), Some(session)) = (old, session) else {
            return Err(StoreError::NotFound(format!("bill of session {id}")));
        };
        let replaced = self.bill_history(id).await?.len() as i32;
        let claim = (id.as_str(), replaced, to_json(&old)?, micros(at));
        if !self.cql.lwt("claiming a bill revision", &self.st.sessions.revision_claim, claim).await?.applied {
            return Err(StoreError::Conflict(format!("bill of session {id} is being corrected")));
        }
        let values = (
            to_json(&bill.lines)?,
            bill.total.to_string(),
            bill.refund.to_string(),
            bill.list_total.to_string(),
            bill.discount.to_string(),
            id.as_str(),
        );
        self.cql.write("correcting a bill", &self.st.sessions.bill_correct, values).await?;
        self.list_charge(&session, bill).await?;
        let revision = replaced as u32 + 1;
        if let Some(payer) = &session.terms.payer {
            let filter = EntryFilter { reference: Some(id.to_string()), ..Default::default() };
            let captures = self
                .entries(&filter)
                .await?
                .into_iter()
                .rfind(|e| e.kind == domain::ledger::EntryKind::Capture);
            if let Some(last) = captures {
                self.post(&last.reversal(at)).await?;
            }
            self.post(&Entry::recapture(payer, session.terms.merchant_id, bill, revision, at)).await?;
        }
        Ok(revision)
    }

    pub(super) async fn bill_history(&self, id: &vocab::SessionId) -> Result<Vec<domain::pricing::Bill>> {
        let key = (id.as_str(),);
        let mut rows = self
            .cql
            .rows::<(i32, String), _>("reading bill revisions", &self.st.sessions.revisions_get, &key)
            .await?;
        rows.sort_by_key(|(revision, _)| *revision);
        rows.into_iter().map(|(_, bill)| json("bill", &bill)).collect()
    }
}

#[async_trait]
impl Sessions for ScyllaStore {
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

    async fn correct_bill(&self, bill: &Bill, at: DateTime<Utc>) -> Result<u32> {
        self.db.correct_bill(bill, at).await
    }

    async fn bill_history(&self, id: &SessionId) -> Result<Vec<Bill>> {
        self.db.bill_history(id).await
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

    async fn driver_sessions(&self, driver: DriverId, limit: usize) -> Result<Vec<SessionRecord>> {
        self.db.driver_sessions(driver, limit).await
    }

    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        self.db.open_sessions(pile).await
    }

    async fn append_diagnostics(&self, diagnostics: Vec<Diagnostic>) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.append_diagnostics(&diagnostics).await)
    }

    async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<Diagnostic>> {
        self.db.diagnostics(pile, limit).await
    }

    async fn list_sessions(&self, filter: &crate::SessionFilter) -> Result<Vec<SessionRecord>> {
        self.db.list_sessions(filter).await
    }
}
