//! The writes. There are no foreign keys in CQL, so a parent a write refers
//! to is read first (at quorum) and its absence is the trait's `NotFound`;
//! a taken key is found by a lightweight transaction where two writers could
//! race for it, and by a quorum read where ids are minted unique anyway.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use chrono::{DateTime, Utc};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::codec::{self, bill_values, day_bucket, dec, micros, pile_bucket, session_values, to_json};
use super::{Db, Seq};
use crate::{NewStation, PileRecord, Result, Station, StoreError, StoredResponse};
use domain::alarm::{Alarm, AlarmId, NewAlarm};
use domain::allocation::PowerConfig;
use domain::ledger::Entry;
use domain::pricing::{Bill, PricePlan, Pricing};
use domain::session::{MeterSample, SessionRecord, SessionState};
use domain::tariff::{Tariff, TouPrices};
use vocab::{OperatorId, StationId, TariffId};

/// Compare-and-set rounds before claiming an id gives up (each lost round
/// means another node took an id meanwhile).
const ID_ATTEMPTS: u32 = 64;

/// Readings per unlogged batch: one partition's rows, kept well under the
/// cluster's batch-size warning.
const SAMPLES_PER_BATCH: usize = 32;

pub(super) enum AlarmMark {
    Acknowledged,
    Cleared,
}

impl Db {
    /// The next id of a sequence: a compare-and-set on its `id_sequences`
    /// row (`UPDATE ... SET next_id = n + 1 ... IF next_id = n`), retried
    /// with the value a lost round returns. Ids are unique and increasing
    /// across every node; a round whose outcome is unknown (a timeout) may
    /// leave a gap, never a duplicate.
    pub(super) async fn next_id(&self, seq: Seq) -> Result<i64> {
        let hint = &self.id_hints[seq as usize];
        let mut current = hint.load(Relaxed);
        for attempt in 0..ID_ATTEMPTS {
            if attempt > 2 {
                // Heavy contention: let the other claimers finish.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
            }
            let lwt = if current <= 0 {
                self.cql.lwt("creating an id sequence", &self.st.seq_init, (seq.name(), 2_i64)).await?
            } else {
                self.cql.lwt("claiming an id", &self.st.seq_bump, (current + 1, seq.name(), current)).await?
            };
            if lwt.applied {
                let id = current.max(1);
                hint.fetch_max(id + 1, Relaxed);
                return Ok(id);
            }
            current = lwt.bigint("next_id").unwrap_or(0);
            hint.fetch_max(current, Relaxed);
        }
        Err(StoreError::Backend(format!(
            "could not claim a {} id in {ID_ATTEMPTS} rounds: too much contention",
            seq.name()
        )))
    }

    pub(super) async fn exists_id(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        id: i64,
    ) -> Result<bool> {
        Ok(self.cql.row::<(i64,), _>(what, stmt, (id,)).await?.is_some())
    }

    pub(super) async fn exists_text(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        id: &str,
    ) -> Result<bool> {
        Ok(self.cql.row::<(String,), _>(what, stmt, (id,)).await?.is_some())
    }

    pub(super) async fn create_tariff(
        &self,
        operator_id: OperatorId,
        name: &str,
        tou: &TouPrices,
        at: DateTime<Utc>,
    ) -> Result<Tariff> {
        let id = self.next_id(Seq::Tariffs).await?;
        let values = (id, name, to_json(tou)?, micros(at), operator_id);
        self.cql.write("inserting a tariff", &self.st.tariff_insert, values).await?;
        Ok(Tariff { id, operator_id, name: name.to_owned(), tou: tou.clone() })
    }

    pub(super) async fn create_plan(
        &self,
        operator_id: OperatorId,
        name: &str,
        pricing: &Pricing,
        at: DateTime<Utc>,
    ) -> Result<PricePlan> {
        let id = self.next_id(Seq::Plans).await?;
        let values = (id, name, to_json(pricing)?, micros(at), operator_id);
        self.cql.write("inserting a plan", &self.st.plan_insert, values).await?;
        Ok(PricePlan { id, operator_id, name: name.to_owned(), pricing: pricing.clone() })
    }

    pub(super) async fn create_station(&self, s: &NewStation, at: DateTime<Utc>) -> Result<Station> {
        let merchant = async {
            match s.merchant_id {
                Some(id) => self.exists_id("reading a merchant", &self.st.money.merchant_exists, id).await,
                None => Ok(true),
            }
        };
        let (tariff, merchant) =
            tokio::join!(self.exists_id("reading a tariff", &self.st.tariff_exists, s.tariff_id), merchant);
        if !tariff? {
            return Err(StoreError::NotFound(format!("tariff {}", s.tariff_id)));
        }
        if !merchant? {
            return Err(StoreError::NotFound(format!("merchant {}", s.merchant_id.unwrap_or_default())));
        }
        let id = self.next_id(Seq::Stations).await?;
        let values = (
            id,
            &s.name,
            s.tariff_id,
            s.utc_offset_minutes,
            dec(s.service_fee),
            dec(s.minimum_charge),
            micros(at),
            None::<String>,
            s.merchant_id,
            s.details.as_ref().map(to_json).transpose()?,
            s.operator_id,
        );
        self.cql.write("inserting a station", &self.st.station_insert, values).await?;
        Ok(Station {
            id,
            operator_id: s.operator_id,
            name: s.name.clone(),
            tariff_id: s.tariff_id,
            utc_offset_minutes: s.utc_offset_minutes,
            service_fee: s.service_fee,
            minimum_charge: s.minimum_charge,
            merchant_id: s.merchant_id,
            details: s.details.clone(),
            power: None,
            created_at: at,
        })
    }

    /// A plain overwrite of the one column: the last operator to set it wins.
    pub(super) async fn set_station_tariff(
        &self,
        id: StationId,
        tariff: TariffId,
    ) -> Result<Option<Station>> {
        if !self.exists_id("reading a station", &self.st.station_exists, id).await? {
            return Ok(None);
        }
        if !self.exists_id("reading a tariff", &self.st.tariff_exists, tariff).await? {
            return Err(StoreError::NotFound(format!("tariff {tariff}")));
        }
        self.cql.write("moving a station to a tariff", &self.st.station_tariff, (tariff, id)).await?;
        self.station(id).await
    }

    pub(super) async fn set_station_power(
        &self,
        id: StationId,
        power: Option<&PowerConfig>,
    ) -> Result<Option<Station>> {
        // An UPDATE would create a row for an unknown id: check first
        // (stations are never deleted, so the check cannot go stale).
        if !self.exists_id("reading a station", &self.st.station_exists, id).await? {
            return Ok(None);
        }
        let json = power.map(to_json).transpose()?;
        self.cql.write("setting a station's power", &self.st.station_power, (json, id)).await?;
        self.station(id).await
    }

    pub(super) async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&crate::StationDetails>,
    ) -> Result<Option<Station>> {
        if !self.exists_id("reading a station", &self.st.station_exists, id).await? {
            return Ok(None);
        }
        let json = details.map(to_json).transpose()?;
        self.cql.write("setting a station's details", &self.st.station_details, (json, id)).await?;
        self.station(id).await
    }

    /// Claims the id in `piles_by_id` (a lightweight transaction: two
    /// operators registering one pile must not both succeed), then lists it.
    pub(super) async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        if !self.exists_id("reading a station", &self.st.station_exists, pile.station_id).await? {
            return Err(StoreError::NotFound(format!("station {}", pile.station_id)));
        }
        let (id, ports, created) = (pile.id.as_str(), i32::from(pile.ports), micros(pile.created_at));
        let claim = (id, pile.station_id, pile.protocol.as_str(), ports, created);
        let lwt = self.cql.lwt("claiming a pile id", &self.st.pile_claim, claim).await?;
        if lwt.applied {
            let listed = (pile_bucket(id), id, pile.station_id, pile.protocol.as_str(), ports, created);
            return self.cql.write("listing a pile", &self.st.pile_list_insert, listed).await;
        }
        // Taken. If the pile's first registration died between its claim
        // and its listing, list it now, as it was registered.
        if let (Some(station), Some(protocol), Some(ports), Some(created)) =
            (lwt.bigint("station_id"), lwt.text("protocol"), lwt.int("ports"), lwt.bigint("created_at"))
        {
            let listed = (pile_bucket(id), id, station, protocol, ports, created);
            self.cql.write("listing a pile", &self.st.pile_list_insert, listed).await?;
        }
        Err(StoreError::Conflict(format!("pile {id}")))
    }

    /// Names the pile, station, plan or tariff a session refers to that does
    /// not exist, if any. The reads run at once.
    async fn missing_parent(&self, s: &SessionRecord) -> Result<Option<String>> {
        let tariff_id = match &s.terms.pricing {
            Pricing::TimeOfUse { tariff_id, .. } => Some(*tariff_id),
            _ => None,
        };
        let (pile, station, plan, tariff) = tokio::join!(
            self.exists_text("reading a pile", &self.st.pile_exists, s.pile_id.as_str()),
            self.exists_id("reading a station", &self.st.station_exists, s.station_id),
            async {
                match s.terms.plan_id {
                    Some(id) => self.exists_id("reading a plan", &self.st.plan_exists, id).await,
                    None => Ok(true),
                }
            },
            async {
                match tariff_id {
                    Some(id) => self.exists_id("reading a tariff", &self.st.tariff_exists, id).await,
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
            .row::<(String,), _>("reading a session", &self.st.session_state, (s.id.as_str(),))
            .await?
            .map(|r| r.0))
    }

    /// Writes a session's row and its open-session entry (added while it is
    /// open, removed once it is not) in one logged batch, at write time `ts`.
    pub(super) async fn write_session(&self, s: &SessionRecord, ts: i64) -> Result<()> {
        let row = session_values(s, ts)?;
        let (pile, created, id) = (s.pile_id.as_str(), micros(s.created_at), s.id.as_str());
        if s.state.is_open() {
            self.cql.batch("writing a session", &self.st.session_open, (row, (pile, created, id, ts))).await
        } else {
            self.cql.batch("writing a session", &self.st.session_closed, (row, (ts, pile, created, id))).await
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
            self.cql.write("listing a driver's charge", &self.st.driver_session_insert, row).await?;
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
        let billed =
            self.cql.row::<(String,), _>("reading a bill", &self.st.bill_exists_serial, (s.id.as_str(),));
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
        let lwt = self.cql.lwt("claiming a bill", &self.st.bill_claim, bill_values(bill, s, at)?).await?;
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
                    &self.st.bill_final_session,
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
    pub(super) async fn append_diagnostics(&self, ds: &[crate::Diagnostic]) -> Result<()> {
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
            self.cql.write("inserting a diagnostic", &self.st.diagnostic_insert, values)
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
                return self.cql.write("inserting a reading", &self.st.sample_insert, one).await;
            }
            let mut batch = Batch::new(BatchType::Unlogged);
            for _ in &chunk {
                batch.append_statement(self.st.sample_insert.clone());
            }
            batch.set_consistency(self.st.sample_insert.get_consistency().unwrap_or_default());
            batch.set_is_idempotent(true);
            self.cql.batch("inserting readings", &batch, chunk).await
        });
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    pub(super) async fn raise_alarm(&self, a: &NewAlarm) -> Result<Alarm> {
        let pile = async {
            match &a.pile_id {
                Some(pile) => self.exists_text("reading a pile", &self.st.pile_exists, pile.as_str()).await,
                None => Ok(true),
            }
        };
        let (pile, station) =
            tokio::join!(pile, self.exists_id("reading a station", &self.st.station_exists, a.station_id));
        if !(pile? && station?) {
            return Err(StoreError::NotFound(format!("the alarm's station {} or pile", a.station_id)));
        }
        let id = self.next_id(Seq::Alarms).await?;
        let ts = self.cql.clock.next();
        let row = (
            id,
            a.station_id,
            a.pile_id.as_ref().map(|p| p.as_str()),
            a.port.map(|p| i32::from(p.0)),
            a.kind.as_str(),
            a.severity.as_str(),
            a.message.as_str(),
            micros(a.raised_at),
            ts,
        );
        let (by_station, open) = ((a.station_id, id, ts), (id, ts));
        let at = micros(a.raised_at);
        let pile = a.pile_id.as_ref().map(|p| p.as_str());
        let by_month = (a.station_id, super::reports::month(a.raised_at), at, id, pile, a.kind.as_str(), ts);
        match &a.pile_id {
            Some(pile) => {
                let values = (row, by_station, (pile.as_str(), id, ts), open, by_month);
                self.cql.batch("raising an alarm", &self.st.alarm_raise, values).await?;
            }
            None => {
                let values = (row, by_station, open, by_month);
                self.cql.batch("raising an alarm", &self.st.alarm_raise_station, values).await?;
            }
        }
        Ok(Alarm { id, alarm: a.clone(), acknowledged_at: None, cleared_at: None })
    }

    /// Sets the time with a compare-and-set on `IF ... = null`, so of two
    /// operators acknowledging at once the first stands, as in SQLite.
    pub(super) async fn mark_alarm(
        &self,
        id: AlarmId,
        mark: AlarmMark,
        at: DateTime<Utc>,
    ) -> Result<Option<Alarm>> {
        let Some(alarm) = self.alarm(id).await? else {
            return Ok(None);
        };
        let values = (micros(at), id, alarm.alarm.station_id);
        match mark {
            AlarmMark::Acknowledged => {
                self.cql.lwt("acknowledging an alarm", &self.st.alarm_ack, values).await?;
            }
            AlarmMark::Cleared => {
                self.cql.lwt("clearing an alarm", &self.st.alarm_clear, values).await?;
                // Whoever cleared it, it is not open: the removal is idempotent.
                let ts = self.cql.clock.next();
                self.cql.write("unlisting an open alarm", &self.st.open_alarm_delete, (ts, id)).await?;
            }
        }
        self.alarm(id).await
    }

    /// `INSERT ... IF NOT EXISTS`: of two requests with one key, exactly one
    /// response is kept; the table's default TTL drops it after 7 days.
    pub(super) async fn remember_response(&self, key: &str, r: &StoredResponse) -> Result<bool> {
        let values =
            (key, r.fingerprint.as_str(), i32::from(r.status), r.body.as_str(), micros(r.created_at));
        Ok(self.cql.lwt("remembering a response", &self.st.idem_claim, values).await?.applied)
    }
}
