//! Importing records another store exported (`store::export`).
//!
//! An import writes each record with the statements the store already
//! uses, keeping the ids it carries: plain inserts where the row is the
//! record, the claims (`IF NOT EXISTS`) where a claim guards it, which a
//! second import loses harmlessly. Readings and diagnostics get as `seq`
//! their place among those of the same instant, so importing them again
//! overwrites the same rows. Ledger entries are posted (a key books once). Finally each id
//! sequence is raised past the largest id imported.

use async_trait::async_trait;

use super::codec::{bill_values, day_bucket, dec, micros, to_json};
use super::{Db, ScyllaStore, Seq};
use crate::export::Record;
use crate::{Import, Result, StoreError};

impl Db {
    pub(super) async fn import(&self, records: &[Record]) -> Result<()> {
        let mut highest = [0_i64; super::SEQUENCES];
        let mut saw = |seq: Seq, id: i64| highest[seq as usize] = highest[seq as usize].max(id);
        for record in records {
            match record {
                Record::Tariff(t) => saw(Seq::Tariffs, t.id),
                Record::Plan(p) => saw(Seq::Plans, p.id),
                Record::Merchant(m) => saw(Seq::Merchants, m.id),
                Record::Station(s) => saw(Seq::Stations, s.id),
                Record::Driver(d) => saw(Seq::Drivers, d.id),
                Record::Alarm(a) => saw(Seq::Alarms, a.id),
                Record::Rule(r) => saw(Seq::Rules, r.id),
                Record::User(u) => saw(Seq::Users, u.id),
                Record::Operator(o) => saw(Seq::Operators, o.id),
                _ => {}
            }
            self.import_one(record).await?;
        }
        for seq in SEQS {
            if highest[seq as usize] > 0 {
                self.raise_sequence(seq, highest[seq as usize] + 1).await?;
            }
        }
        Ok(())
    }

    async fn import_one(&self, record: &Record) -> Result<()> {
        let (st, m) = (&self.st, &self.st.money);
        // Tariffs, plans and rules don't carry their creation time: the import's stands in.
        let now = micros(chrono::Utc::now());
        let taken_is_fine = |r: Result<()>| match r {
            Err(StoreError::Conflict(_)) => Ok(()),
            r => r,
        };
        match record {
            Record::Operator(o) => {
                let values = (o.id, &o.name, o.status.as_str(), micros(o.created_at));
                self.cql.write("importing an operator", &st.resources.operator_insert, values).await
            }
            Record::Tariff(t) => {
                let values = (t.id, &t.name, to_json(&t.tou)?, now, t.operator_id);
                self.cql.write("importing a tariff", &st.resources.tariff_insert, values).await
            }
            Record::Plan(p) => {
                let values = (p.id, &p.name, to_json(&p.pricing)?, now, p.operator_id);
                self.cql.write("importing a plan", &st.resources.plan_insert, values).await
            }
            Record::Merchant(x) => {
                let values = (x.id, &x.name, dec(x.commission_percent), micros(x.created_at), x.operator_id);
                self.cql.write("importing a merchant", &m.merchant_insert, values).await
            }
            Record::OfflineCards(pile, cards) => self.set_offline_cards(pile, cards, true).await,
            Record::OcppPassword(pile, hash) => {
                let values = (pile.as_str(), hash.as_str());
                self.cql.write("importing a charge point's password", &self.credentials.set, values).await
            }
            Record::OutOfService(item, since) => {
                let values = (item.kind.as_str(), item.key.as_str(), micros(*since));
                self.cql.write("importing out of service", &st.edits.out_insert, values).await
            }
            Record::Station(s) => {
                let values = (
                    s.id,
                    &s.name,
                    s.tariff_id,
                    s.utc_offset_minutes,
                    dec(s.service_fee),
                    dec(s.minimum_charge),
                    micros(s.created_at),
                    s.power.as_ref().map(to_json).transpose()?,
                    s.merchant_id,
                    s.details.as_ref().map(to_json).transpose()?,
                    s.operator_id,
                );
                self.cql.write("importing a station", &st.resources.station_insert, values).await
            }
            Record::Pile(p) => taken_is_fine(self.create_pile(p).await),
            Record::Driver(d) => {
                let row = (
                    d.id,
                    &d.phone,
                    &d.password_hash,
                    &d.class,
                    d.status.as_str(),
                    micros(d.created_at),
                    micros(d.last_active_at),
                );
                self.cql.write("importing a driver", &m.driver_insert, row).await?;
                self.cql.lwt("claiming a phone number", &m.phone_claim, (&d.phone, d.id)).await.map(drop)
            }
            Record::Session(s, bill) => {
                if let Some(payer) = &s.terms.payer {
                    let row = (payer.driver, micros(s.created_at), s.id.as_str());
                    self.cql
                        .write("listing a driver's charge", &st.sessions.driver_session_insert, row)
                        .await?;
                }
                self.index_session(s).await?;
                self.write_session(s, self.cql.clock.next()).await?;
                if let Some(bill) = bill {
                    let at = s.ended_at.unwrap_or(s.created_at);
                    self.cql
                        .lwt("claiming a bill", &st.sessions.bill_claim, bill_values(bill, s, at)?)
                        .await?;
                }
                Ok(())
            }
            Record::Samples(session, samples) => {
                let seqs = same_instant(samples.iter().map(|s| s.at));
                let writes = samples.iter().zip(seqs).map(|(s, seq)| {
                    let at = micros(s.at);
                    let values = (
                        session.as_str(),
                        day_bucket(at),
                        at,
                        seq,
                        dec(s.kwh),
                        dec(s.voltage),
                        dec(s.current),
                        dec(s.power),
                        s.soc.map(i32::from),
                    );
                    self.cql.write("importing a reading", &st.sessions.sample_insert, values)
                });
                futures::future::try_join_all(writes).await.map(drop)
            }
            Record::BillRevision { revision, bill, replaced_at } => {
                let claim = (
                    bill.session_id.as_str(),
                    i32::try_from(*revision).unwrap_or(i32::MAX),
                    to_json(bill)?,
                    micros(*replaced_at),
                );
                self.cql.lwt("importing a bill revision", &st.sessions.revision_claim, claim).await.map(drop)
            }
            Record::Diagnostics(_, ds) => {
                let seqs = same_instant(ds.iter().map(|d| d.at));
                let writes = ds.iter().zip(seqs).map(|(d, seq)| {
                    let values = (
                        d.pile_id.as_str(),
                        micros(d.at),
                        seq,
                        i32::from(d.port),
                        d.session_id.as_ref().map(|s| s.as_str()),
                        d.kind.as_str(),
                        d.data.as_str(),
                    );
                    self.cql.write("importing a diagnostic", &st.sessions.diagnostic_insert, values)
                });
                futures::future::try_join_all(writes).await.map(drop)
            }
            Record::Alarm(a) => self.import_alarm(a).await,
            Record::Response(key, r) => self.remember_response(key, r).await.map(drop),
            Record::Card(c) => taken_is_fine(self.create_card(c).await),
            Record::Rule(r) => {
                let values = (r.id, to_json(&r.rule)?, now);
                self.cql.write("importing a rule", &m.rule_insert, values).await
            }
            Record::Order(o) => {
                taken_is_fine(self.create_order(o).await)?;
                if let Some(txn) = o.provider_txn.as_deref().filter(|_| o.paid_at.is_some()) {
                    self.cql.lwt("claiming a provider transaction", &m.txn_claim, (txn, &o.id)).await?;
                }
                Ok(())
            }
            Record::Entry(e) => self.post(e).await.map(drop),
            // Its settlement entry was imported with the ledger: booked once.
            Record::Statement(s) => self.issue_statement(s).await.map(drop),
            Record::User(u) => {
                let row = (
                    u.id,
                    &u.user.username,
                    &u.user.password_hash,
                    u.user.role.as_str(),
                    u.user.merchant_id,
                    micros(u.created_at),
                    u.user.operator_id,
                );
                self.cql.write("importing a user", &m.user_insert, row).await?;
                self.cql
                    .lwt("claiming a username", &m.username_claim, (&u.user.username, u.id))
                    .await
                    .map(drop)
            }
            Record::Token(hash, t) => taken_is_fine(self.create_token(hash, t, chrono::Utc::now()).await),
        }
    }

    /// The row and its listings as `raise_alarm` writes them, then the
    /// acknowledgement and clearing as `mark_alarm` sets them.
    async fn import_alarm(&self, a: &domain::alarm::Alarm) -> Result<()> {
        let (st, id, n) = (&self.st, a.id, &a.alarm);
        let ts = self.cql.clock.next();
        let row = (
            id,
            n.station_id,
            n.pile_id.as_ref().map(|p| p.as_str()),
            n.port.map(|p| i32::from(p.0)),
            n.kind.as_str(),
            n.severity.as_str(),
            n.message.as_str(),
            micros(n.raised_at),
            ts,
        );
        let (by_station, open) = ((n.station_id, id, ts), (id, ts));
        match &n.pile_id {
            Some(pile) => {
                let values = (row, by_station, (pile.as_str(), id, ts), open);
                self.cql.batch("importing an alarm", &st.alarms.alarm_raise, values).await?
            }
            None => {
                self.cql
                    .batch("importing an alarm", &st.alarms.alarm_raise_station, (row, by_station, open))
                    .await?
            }
        }
        if let Some(at) = a.acknowledged_at {
            self.cql
                .lwt("acknowledging an alarm", &st.alarms.alarm_ack, (micros(at), id, n.station_id))
                .await?;
        }
        if let Some(at) = a.cleared_at {
            self.cql.lwt("clearing an alarm", &st.alarms.alarm_clear, (micros(at), id, n.station_id)).await?;
            let ts = self.cql.clock.next();
            self.cql.write("unlisting an open alarm", &st.alarms.open_alarm_delete, (ts, id)).await?;
        }
        Ok(())
    }

    /// Moves a sequence's `next_id` up to at least `next` (never down), by
    /// compare-and-set as `next_id` does.
    async fn raise_sequence(&self, seq: Seq, next: i64) -> Result<()> {
        for _ in 0..16 {
            let current =
                self.cql.row::<(i64,), _>("reading an id sequence", &self.st.seq_get, (seq.name(),)).await?;
            let lwt = match current {
                Some((n,)) if n >= next => return Ok(()),
                Some((n,)) => {
                    self.cql.lwt("raising an id sequence", &self.st.seq_bump, (next, seq.name(), n)).await?
                }
                None => {
                    self.cql.lwt("creating an id sequence", &self.st.seq_init, (seq.name(), next)).await?
                }
            };
            if lwt.applied {
                return Ok(());
            }
        }
        Err(StoreError::Backend(format!("could not raise the {} sequence: too much contention", seq.name())))
    }
}

/// Each time's place among the equal times before it (0, 1, ... per
/// instant): stable when later readings are added, unlike a position.
fn same_instant(times: impl Iterator<Item = chrono::DateTime<chrono::Utc>>) -> Vec<i64> {
    let mut seen = std::collections::HashMap::new();
    times
        .map(|t| {
            let n = seen.entry(t).or_insert(0_i64);
            *n += 1;
            *n - 1
        })
        .collect()
}

const SEQS: [Seq; super::SEQUENCES] = [
    Seq::Tariffs,
    Seq::Plans,
    Seq::Stations,
    Seq::Alarms,
    Seq::Merchants,
    Seq::Drivers,
    Seq::Rules,
    Seq::Users,
    Seq::Operators,
];

#[async_trait]
impl Import for ScyllaStore {
    async fn import(&self, records: Vec<Record>) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.import(&records).await)
    }
}

#[cfg(test)]
mod tests {
    use super::same_instant;

    #[test]
    fn readings_of_one_instant_are_numbered_in_order_and_others_start_at_zero() {
        let t = |s| chrono::DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(same_instant([t(1), t(1), t(2), t(1), t(3)].into_iter()), vec![0, 1, 0, 2, 0]);
    }
}
