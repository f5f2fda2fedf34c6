//! A session actor runs one charge: it sends the start command, meters the
//! pile's readings through the domain's state machine, streams them to
//! storage in batches, and bills the charge when the pile's final record
//! arrives. The record is acknowledged to the pile only once the bill is
//! durable, so a crash in between makes the pile resend, never lose, the bill;
//! the store bills a session once however often the record comes.
//!
//! A charge outlives its pile's connection (power-cut memory): when the link
//! drops the session waits, and only if the pile stays away past the orphan
//! timeout is it closed and billed for what was metered.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use domain::alarm::NewAlarm;
use domain::ledger::EntryKind;
use domain::pricing::{Pricing, Reconciliation};
use domain::session::{MeterSample, SessionRecord, SessionState, StopReason};
use rust_decimal::Decimal;
use vocab::PortStatus;

use crate::adapter::{FinalRecord, Order, PileCommand, PricingKind, Reading, ReplyTo};
use crate::alarms;
use crate::live::Live;
use crate::pile::{self, Pile};
use crate::station::StationCtx;
use crate::Platform;
use crate::{charge, port};

/// What a session needs of the world around it.
#[derive(Clone)]
pub struct Ctx {
    pub platform: Arc<Platform>,
    pub pile: Addr<Pile>,
    pub pile_id: vocab::PileId,
    /// The port to tell when the charge ends.
    pub port: Recipient<port::Ended>,
    pub station: Arc<StationCtx>,
}

pub struct Session {
    ctx: Ctx,
    rec: SessionRecord,
    buffer: Vec<MeterSample>,
    /// Closes the charge if the pile does not come back.
    orphan: Option<SpawnHandle>,
    /// When the start command went out, until the pile answers.
    start_sent: Option<std::time::Instant>,
    /// The card that started it, if one did.
    card: Option<String>,
    /// The bill could not be written; an alarm says so until it is.
    bill_failing: bool,
    /// Made from the record of a charge the pile ran while offline.
    offline: bool,
}

impl Session {
    pub fn new(ctx: Ctx, rec: SessionRecord) -> Self {
        Session {
            ctx,
            rec,
            buffer: Vec::new(),
            orphan: None,
            start_sent: None,
            card: None,
            bill_failing: false,
            offline: false,
        }
    }

    /// Energy of the charge by the pile's register: from the register at
    /// its start, which the first register reading sets (a charge from
    /// before registers were kept measures from what it had metered).
    fn kwh_by_register(&mut self, register: Decimal) -> Decimal {
        let meter = &mut self.rec.meter;
        let start = *meter.register_start.get_or_insert(register - meter.kwh);
        (register - start).max(Decimal::ZERO)
    }

    fn platform(&self) -> &Platform {
        &self.ctx.platform
    }

    /// Writes buffered readings and the record's metering so far. Not awaited:
    /// the store commits writes in the order they are made.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.buffer.is_empty() {
            return;
        }
        let samples = std::mem::take(&mut self.buffer);
        let store = self.platform().store.clone();
        let rec = self.rec.clone();
        ctx.spawn(
            async move {
                if let Err(e) = store.append_samples(samples).await {
                    tracing::error!(session = %rec.id, error = %e, "could not store meter samples");
                }
                if let Err(e) = store.update_session(&rec).await {
                    tracing::error!(session = %rec.id, error = %e, "could not store session progress");
                }
            }
            .into_actor(self),
        );
    }

    /// Persists the record as it is now (a state transition).
    /// Tells live pages where the charge stands.
    fn publish(&self, amount: Option<Decimal>) {
        let rec = &self.rec;
        self.platform().live.publish_charge(&rec.id, || Live::Charge {
            session_id: rec.id.clone(),
            state: rec.state,
            kwh: rec.meter.kwh,
            elapsed_s: rec.meter.elapsed_s,
            power_w: rec.meter.last_power,
            amount: amount.unwrap_or_else(|| rec.terms.bill(&rec.id, &rec.meter).total),
        });
    }

    fn persist(&mut self, ctx: &mut Context<Self>) {
        self.publish(None);
        let store = self.platform().store.clone();
        let rec = self.rec.clone();
        ctx.spawn(
            async move {
                if let Err(e) = store.update_session(&rec).await {
                    tracing::error!(session = %rec.id, error = %e, "could not store session state");
                }
            }
            .into_actor(self),
        );
    }

    /// `spent`: the bill's total, if it was billed.
    fn end(&mut self, ctx: &mut Context<Self>, result: &'static str, spent: Option<Decimal>) {
        let m = &self.platform().metrics;
        m.sessions_finished.with_label_values(&[result]).inc();
        self.ctx.port.do_send(port::Ended { session: self.rec.id.clone(), spent });
        ctx.stop();
    }

    fn fail(&mut self, ctx: &mut Context<Self>, reason: StopReason) {
        if self.rec.start_result(false, self.platform().now(), Some(reason)).is_ok() {
            self.publish(None);
            // Ended only once stored: stopping the actor would drop the write.
            let (store, rec) = (self.platform().store.clone(), self.rec.clone());
            let write = async move { store.update_session(&rec).await };
            ctx.wait(write.into_actor(self).map(|res, s, ctx| {
                if let Err(e) = res {
                    tracing::error!(session = %s.rec.id, error = %e, "could not store a failed start");
                }
                s.end(ctx, "failed", None);
            }));
        }
    }

    /// What the pile is told to enforce for this charge.
    fn order(&self, balance: Decimal, card: Option<(String, ReplyTo)>) -> Order {
        let limits = &self.platform().config.ebike;
        let terms = &self.rec.terms;
        let (pricing, overload_w) = match &terms.pricing {
            Pricing::Time { .. } => (PricingKind::Time, limits.overload_w),
            Pricing::Energy { .. } => (PricingKind::Energy, limits.overload_w),
            Pricing::PowerTiers { tiers, .. } => {
                let top = tiers.last().map_or(limits.overload_w, |t| t.up_to_w);
                (PricingKind::PowerTiers, top.min(limits.overload_w))
            }
            Pricing::TimeOfUse { .. } => (PricingKind::TimeOfUse, limits.overload_w),
        };
        Order {
            balance,
            pricing,
            limit: terms.limit(),
            max_duration_s: limits.max_duration_s,
            overload_w,
            full_power_w: limits.full_power_w,
            full_hold_s: limits.full_hold_s,
            card,
        }
    }

    /// Closes the metering with the pile's final record (or, for a pile that
    /// never came back, the platform's own totals), stores the bill, then
    /// acknowledges the pile's record if there is one to acknowledge.
    fn settle(&mut self, ctx: &mut Context<Self>, record: FinalRecord, ack: Option<ReplyTo>) {
        let FinalRecord { ended_at: end, kwh, elapsed_s, reason, amount: pile_amount, register_kwh, .. } =
            record;
        let kwh = match (register_kwh, self.rec.meter.register_start) {
            (Some(register), Some(_)) => self.kwh_by_register(register),
            _ => kwh,
        };
        let now = self.platform().now();
        // Kept to go back to if the bill cannot be written, so the pile's
        // resent record bills the charge then.
        let unbilled = self.rec.clone();
        if self.rec.state == SessionState::Starting {
            let _ = self.rec.start_result(true, now, None);
        }
        let mut bill = match self.rec.finish(end, kwh, elapsed_s, reason) {
            Ok(bill) => bill,
            Err(e) => return tracing::debug!(error = %e, "record ignored"),
        };
        let capped = bill.lines.iter().any(|l| matches!(l, domain::pricing::BillLine::PrepaidCap { .. }));
        if self.offline && capped {
            let message =
                format!("offline charge {} cost more than the offline cap; billed up to it", self.rec.id);
            offline_alarm(&self.ctx, message, self.platform().now());
        }
        if let Some(amount) = pile_amount {
            let r = Reconciliation::of(bill.total, amount, self.platform().config.reconcile_tolerance);
            if r.flagged {
                self.platform().metrics.bill_mismatches.inc();
                tracing::warn!(session = %self.rec.id, bill = %bill.total, pile = %amount, "pile's amount differs from the bill");
            }
            bill.reconciliation = Some(r);
        }
        let samples = std::mem::take(&mut self.buffer);
        let store = self.platform().store.clone();
        let rec = self.rec.clone();
        let pile = self.ctx.pile.clone();
        let bill_total = bill.total;
        let kept = samples.clone();
        ctx.wait(
            async move {
                store.append_samples(samples).await?;
                store.finish_session(&rec, &bill).await
            }
            .into_actor(self)
            .map(move |res, s, ctx| match res {
                Ok(first) => {
                    if !first {
                        s.platform().metrics.duplicate_records.inc();
                    }
                    s.publish(Some(bill_total));
                    if let Some(reply) = ack {
                        let (port, session) = (s.rec.port, s.rec.id.clone());
                        let ack = PileCommand::AckRecord { port, session, accepted: true, reply };
                        pile.do_send(pile::Send(ack));
                    }
                    s.end(ctx, "billed", Some(bill_total));
                }
                // Not acknowledged: the pile resends the record and the
                // session, back as it was, bills it then.
                Err(e) => {
                    tracing::error!(session = %s.rec.id, error = %e, "could not store the bill");
                    s.rec = unbilled;
                    s.buffer.splice(0..0, kept);
                    s.platform().metrics.bill_failures.inc();
                    if !std::mem::replace(&mut s.bill_failing, true) {
                        let alarm = NewAlarm {
                            station_id: s.rec.station_id,
                            pile_id: Some(s.rec.pile_id.clone()),
                            port: Some(s.rec.port),
                            kind: "billing".into(),
                            severity: vocab::Severity::Major,
                            message: format!("charge {} cannot be billed: {e}", s.rec.id),
                            raised_at: s.platform().now(),
                        };
                        let p = s.ctx.platform.clone();
                        actix_rt::spawn(async move { alarms::raise(&p, alarm).await });
                    }
                }
            }),
        );
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let p = self.platform();
        p.registry.sessions.insert(self.rec.id.clone(), ctx.address());
        if let Some(payer) = &self.rec.terms.payer {
            p.registry.wallets.entry(payer.driver).or_default().push(ctx.address());
        }
        p.metrics.sessions_open.inc();
        let (flush, start_timeout) = (p.config.sample_flush, p.config.start_timeout);
        ctx.run_interval(flush, |s, ctx| s.flush(ctx));
        ctx.run_later(start_timeout, |s, ctx| {
            if s.rec.state == SessionState::Starting {
                // The pile may have started and only its answer been lost, or
                // it may start late: a charge this session no longer bills
                // must not run, so it is stopped before the session fails.
                let stop = PileCommand::StopCharge { port: s.rec.port, session: s.rec.id.clone() };
                s.ctx.pile.do_send(pile::Send(stop));
                s.fail(ctx, StopReason { code: 0, text: "the pile did not answer the start command".into() });
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let p = &self.ctx.platform;
        p.metrics.sessions_open.dec();
        // Its own entries only. (Its address still reads as connected here:
        // the mailbox closes only after `stopped`.)
        let me = ctx.address();
        p.registry.sessions.remove_if(&self.rec.id, |_, a| *a == me);
        if !self.rec.state.is_open() {
            p.live.end_charge(&self.rec.id);
        }
        if let Some(payer) = &self.rec.terms.payer {
            p.registry.wallets.remove_if_mut(&payer.driver, |_, live| {
                live.retain(|a| *a != me && a.connected());
                live.is_empty()
            });
        }
    }
}

/// Store the new session, then send the start command.
#[derive(Message)]
#[rtype(result = "Result<(), charge::StartError>")]
pub struct Begin {
    pub balance: Decimal,
    /// The card swipe this charge answers, if it was started by card.
    pub card: Option<(String, ReplyTo)>,
}

impl Handler<Begin> for Session {
    type Result = ResponseActFuture<Self, Result<(), charge::StartError>>;

    fn handle(&mut self, msg: Begin, _: &mut Context<Self>) -> Self::Result {
        let store = self.platform().store.clone();
        let rec = self.rec.clone();
        let pile = self.ctx.pile.clone();
        self.card = msg.card.as_ref().map(|(card, _)| card.clone());
        let cmd = PileCommand::StartCharge {
            port: rec.port,
            session: rec.id.clone(),
            order: self.order(msg.balance, msg.card),
        };
        let begin = async move {
            store.insert_session(&rec).await.map_err(|e| match e {
                store::StoreError::Refused(why) => charge::StartError::Refused(why),
                e => charge::StartError::Storage(e.to_string()),
            })?;
            match pile.send(pile::Send(cmd)).await {
                Ok(Ok(())) => Ok(()),
                _ => Err(charge::StartError::Offline),
            }
        };
        Box::pin(begin.into_actor(self).map(|res, s, ctx| {
            match &res {
                Ok(()) => {
                    s.start_sent = Some(std::time::Instant::now());
                    s.platform().metrics.sessions_started.inc();
                }
                // Nothing was stored: nothing to fail.
                Err(charge::StartError::Storage(_) | charge::StartError::Refused(_)) => {
                    s.end(ctx, "failed", None)
                }
                Err(_) => s.fail(ctx, StopReason { code: 0, text: "the pile is offline".into() }),
            }
            res
        }))
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct StartResult {
    pub accepted: bool,
    pub reason: Option<StopReason>,
}

impl Handler<StartResult> for Session {
    type Result = ();

    fn handle(&mut self, msg: StartResult, ctx: &mut Context<Self>) {
        if let Some(sent) = self.start_sent.take() {
            self.platform().metrics.start_latency.observe(sent.elapsed().as_secs_f64());
        }
        if !msg.accepted {
            let reason = msg.reason.unwrap_or(StopReason { code: 0, text: "refused by the pile".into() });
            return self.fail(ctx, reason);
        }
        match self.rec.start_result(true, self.platform().now(), None) {
            Ok(()) => self.persist(ctx),
            Err(e) => tracing::debug!(error = %e, "start result ignored"),
        }
    }
}

/// The wallet paying for this charge was topped up: hold more of it, up to
/// the configured hold, and tell the pile it may spend that much.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TopUp;

impl Handler<TopUp> for Session {
    type Result = ();

    fn handle(&mut self, _: TopUp, ctx: &mut Context<Self>) {
        let Some(payer) = self.rec.terms.payer.clone() else { return };
        if !self.rec.state.is_open() {
            return;
        }
        let (store, hold, now) =
            (self.platform().store.clone(), self.platform().config.wallet_hold, self.platform().now());
        let id = self.rec.id.clone();
        let raise = async move {
            let balance = store.balance(&domain::ledger::Account::Wallet(payer.driver)).await?;
            let more = hold.min(balance);
            if more <= Decimal::ZERO {
                return Ok(None);
            }
            // Numbered by the holds already booked, so a restarted actor
            // never books one twice.
            let filter = store::EntryFilter { reference: Some(id.to_string()), ..Default::default() };
            let holds = store.entries(&filter).await?.iter().filter(|e| e.kind == EntryKind::Hold).count();
            let entry = domain::ledger::Entry::hold_more(&id, payer.driver, more, holds as u32 + 1, now);
            Ok::<_, store::StoreError>(store.post_entry(&entry).await?.then_some(more))
        };
        ctx.wait(raise.into_actor(self).map(|res, s, ctx| match res {
            Ok(Some(more)) => {
                let Some(payer) = s.rec.terms.payer.as_mut() else { return };
                payer.held += more;
                let balance = payer.held;
                s.persist(ctx);
                let cmd = PileCommand::BalanceUpdate { port: s.rec.port, card: s.card.clone(), balance };
                s.ctx.pile.do_send(pile::Send(cmd));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(session = %s.rec.id, error = %e, "could not raise a charge's hold"),
        }));
    }
}

/// Tells every live charge paid from a driver's wallet that it was topped up.
pub fn topped_up(platform: &Platform, driver: vocab::DriverId) {
    if let Some(live) = platform.registry.wallets.get(&driver) {
        live.iter().for_each(|s| s.do_send(TopUp));
    }
}

/// A live report of the port for this charge.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Report {
    pub status: PortStatus,
    pub reading: Option<Reading>,
    pub queued: crate::metrics::Queued,
}

impl Handler<Report> for Session {
    type Result = ();

    fn handle(&mut self, msg: Report, ctx: &mut Context<Self>) {
        let now = self.platform().now();
        // Readings prove the charge started even if the pile's answer was lost.
        if self.rec.state == SessionState::Starting && msg.status == PortStatus::Charging {
            let _ = self.rec.start_result(true, now, None);
            self.persist(ctx);
        }
        if let Some(r) = msg.reading {
            let tier = self.rec.meter.tier;
            let kwh = r.register_kwh.map_or(r.kwh, |register| self.kwh_by_register(register));
            // A reading the pile kept while offline counts when it was taken.
            let now = r.at.map_or(now, |at| at.min(now));
            if self.rec.reading(now, kwh, r.power, r.elapsed_s).is_err() {
                return;
            }
            self.platform().metrics.samples.inc();
            self.publish(None);
            self.buffer.push(MeterSample {
                session_id: self.rec.id.clone(),
                at: now,
                kwh,
                voltage: r.voltage,
                current: r.current,
                power: r.power,
                soc: r.soc,
            });
            // A prepaid tier charge buys less time at a dearer tier.
            if tier.is_some() && tier != self.rec.meter.tier {
                if let Some(left) = self.rec.terms.seconds_left(&self.rec.meter) {
                    let limit_s = self.rec.meter.elapsed_s.saturating_add(left);
                    let cmd =
                        PileCommand::Adjust { port: self.rec.port, session: self.rec.id.clone(), limit_s };
                    self.ctx.pile.do_send(pile::Send(cmd));
                }
            }
        }
        // The pile ended the charge by itself; its record follows.
        let ended = !matches!(msg.status, PortStatus::Charging | PortStatus::Offline);
        if ended && self.rec.state == SessionState::Charging {
            let _ = self.rec.stopping();
        }
        if self.buffer.len() >= self.platform().config.sample_batch
            || self.rec.state == SessionState::Stopping
        {
            self.flush(ctx);
        }
    }
}

/// Write everything buffered and wait until it is durable (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for Session {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        let samples = std::mem::take(&mut self.buffer);
        let store = self.platform().store.clone();
        let rec = self.rec.clone();
        Box::pin(async move {
            let written = async {
                store.append_samples(samples).await?;
                store.update_session(&rec).await
            };
            if let Err(e) = written.await {
                tracing::error!(session = %rec.id, error = %e, "could not flush the session at shutdown");
            }
        })
    }
}

/// Stop the charge (from the API).
#[derive(Message)]
#[rtype(result = "Result<(), port::StopError>")]
pub struct Stop;

impl Handler<Stop> for Session {
    type Result = ResponseActFuture<Self, Result<(), port::StopError>>;

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) -> Self::Result {
        if self.rec.stopping().is_err() {
            return Box::pin(fut::ready(Err(port::StopError::NotCharging)));
        }
        self.persist(ctx);
        let cmd = PileCommand::StopCharge { port: self.rec.port, session: self.rec.id.clone() };
        let sent = self.ctx.pile.send(pile::Send(cmd));
        Box::pin(sent.into_actor(self).map(|res, _, _| match res {
            Ok(Ok(())) => Ok(()),
            _ => Err(port::StopError::Offline),
        }))
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct StopResult {
    pub accepted: bool,
}

impl Handler<StopResult> for Session {
    type Result = ();

    fn handle(&mut self, msg: StopResult, _: &mut Context<Self>) {
        if !msg.accepted {
            tracing::warn!(session = %self.rec.id, "pile refused the stop command; waiting for its record");
        }
    }
}

/// The pile's link went down (false) or came back (true).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Link(pub bool);

impl Handler<Link> for Session {
    type Result = ();

    fn handle(&mut self, Link(up): Link, ctx: &mut Context<Self>) {
        if let Some(timer) = self.orphan.take() {
            ctx.cancel_future(timer);
        }
        if up {
            return;
        }
        let timeout = self.platform().config.orphan_timeout;
        self.orphan = Some(ctx.run_later(timeout, |s, ctx| {
            tracing::warn!(session = %s.rec.id, "the pile never came back; billing what was metered");
            let m = &s.rec.meter;
            let metered = FinalRecord {
                port: s.rec.port,
                session: s.rec.id.clone(),
                ended_at: m.last_at.unwrap_or(s.platform().now()),
                kwh: m.kwh,
                elapsed_s: Some(m.elapsed_s),
                amount: None,
                reason: StopReason { code: 0, text: "the pile did not come back".into() },
                fault: None,
                card: None,
                started_offline: None,
                register_kwh: None,
            };
            s.settle(ctx, metered, None);
        }));
    }
}

/// The pile's final record of this charge.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Record(pub FinalRecord, pub ReplyTo);

impl Handler<Record> for Session {
    type Result = ();

    fn handle(&mut self, Record(record, reply): Record, ctx: &mut Context<Self>) {
        if let Some(severity) = record.fault.filter(|_| self.rec.state.is_open()) {
            let alarm = NewAlarm {
                station_id: self.rec.station_id,
                pile_id: Some(self.rec.pile_id.clone()),
                port: Some(self.rec.port),
                kind: alarms::kind(&record.reason.text),
                severity,
                message: format!("charge {} stopped: {}", self.rec.id, record.reason.text),
                raised_at: self.platform().now(),
            };
            let p = self.ctx.platform.clone();
            actix_rt::spawn(async move { alarms::raise(&p, alarm).await });
        }
        let ended_at = clamp_end(record.ended_at, self.rec.meter.last_at, self.platform().now());
        self.settle(ctx, FinalRecord { ended_at, ..record }, Some(reply));
    }
}

/// The pile's clock decides when the charge ended, within what the platform
/// saw: not before the last reading, not in the future.
fn clamp_end(pile_end: DateTime<Utc>, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    let end = pile_end.min(now);
    last.map_or(end, |l| end.max(l))
}

/// Sets what a stored charge holds from the ledger's holds for it: a hold
/// booked by a top-up is durable before the session's own record of it,
/// so after a crash the ledger is the one to trust.
pub async fn held_from_ledger(store: &dyn store::Store, rec: &mut SessionRecord) -> store::Result<()> {
    let Some(payer) = rec.terms.payer.as_mut() else { return Ok(()) };
    let filter = store::EntryFilter { reference: Some(rec.id.to_string()), ..Default::default() };
    let held = domain::ledger::Account::Held(payer.driver);
    payer.held = store
        .entries(&filter)
        .await?
        .iter()
        .filter(|e| e.kind == EntryKind::Hold)
        .flat_map(|e| &e.lines)
        .filter(|l| l.account == held)
        .map(|l| -l.amount)
        .sum();
    Ok(())
}

/// A final record for a charge no live actor runs: acknowledge a repeat of a
/// billed charge, bill a charge left open by a restart, and refuse one the
/// platform never started.
pub async fn settle_elsewhere(ctx: Ctx, record: FinalRecord, reply: ReplyTo) {
    let p = ctx.platform.clone();
    let stored = match p.store.session(&record.session).await {
        Ok(s) => s,
        Err(e) => {
            return tracing::error!(session = %record.session, error = %e, "could not look up a record's session")
        }
    };
    match stored {
        // Another pile's charge: not this pile's to end.
        Some(rec) if rec.pile_id != ctx.pile_id => {
            tracing::warn!(session = %rec.id, pile = %ctx.pile_id, "final record of another pile's charge refused");
            let ack =
                PileCommand::AckRecord { port: record.port, session: record.session, accepted: false, reply };
            ctx.pile.do_send(pile::Send(ack));
        }
        // The pile named the wrong port (an OCPP stop names none): the
        // port running the charge takes it.
        Some(rec) if rec.state.is_open() && rec.port != record.port => {
            let record = FinalRecord { port: rec.port, ..record };
            let queued = p.metrics.queued(crate::metrics::Mailbox::Pile);
            ctx.pile.do_send(pile::Event(crate::adapter::PileEvent::Record(record, reply), queued));
        }
        Some(mut rec) if rec.state.is_open() => {
            if let Err(e) = held_from_ledger(&*p.store, &mut rec).await {
                return tracing::error!(session = %rec.id, error = %e, "could not read a charge's holds; the pile will resend");
            }
            let session = Session::new(ctx, rec).start();
            session.do_send(Record(record, reply));
        }
        Some(rec) => {
            if rec.state == SessionState::Finished {
                p.metrics.duplicate_records.inc();
            }
            let ack =
                PileCommand::AckRecord { port: record.port, session: record.session, accepted: true, reply };
            ctx.pile.do_send(pile::Send(ack));
        }
        // A charge the pile started by itself (an offline card): its record
        // is all there is, so it becomes a session and is billed from it.
        None if record.started_offline.is_some() => bill_offline(ctx, record, reply).await,
        None => {
            tracing::warn!(session = %record.session, "final record of a charge this platform never started");
            let ack =
                PileCommand::AckRecord { port: record.port, session: record.session, accepted: false, reply };
            ctx.pile.do_send(pile::Send(ack));
        }
    }
}

/// An offline charge outside what the platform allows: the operator looks.
fn offline_alarm(ctx: &Ctx, message: String, at: DateTime<Utc>) {
    tracing::warn!(pile = %ctx.pile_id, "{message}");
    let alarm = NewAlarm {
        station_id: ctx.station.record.id,
        pile_id: Some(ctx.pile_id.clone()),
        port: None,
        kind: "offline_charge".into(),
        severity: vocab::Severity::Warning,
        message,
        raised_at: at,
    };
    let p = ctx.platform.clone();
    actix_rt::spawn(async move { alarms::raise(&p, alarm).await });
}

/// Creates the session of an offline charge from its record, at the
/// station's terms in force now, and bills it like any other: the energy is
/// spread evenly from its start to its end over the tariff's periods. A card
/// with an account pays from its wallet (nothing was held: the charge has
/// happened, so the wallet may go below zero).
async fn bill_offline(ctx: Ctx, record: FinalRecord, reply: ReplyTo) {
    let p = ctx.platform.clone();
    let started = record.started_offline.unwrap_or(record.ended_at);
    let station = ctx.station.clone();
    let purchase = match &record.card {
        Some(card) => {
            match crate::card::offline_payer(&p, &ctx.pile_id, station.record.id, card, started).await {
                Ok(Ok(purchase)) => purchase,
                Ok(Err(why)) => {
                    let message =
                        format!("offline charge {} by {why} ({card}): billed to no one", record.session);
                    offline_alarm(&ctx, message, p.now());
                    Default::default()
                }
                Err(e) => {
                    return tracing::error!(session = %record.session, error = %e, "could not find who pays an offline charge; the pile will resend")
                }
            }
        }
        None => Default::default(),
    };
    let mut rec = SessionRecord::new(
        record.session.clone(),
        ctx.pile_id.clone(),
        record.port,
        station.record.id,
        station.terms(purchase),
        started,
    );
    let _ = rec.start_result(true, started, None);
    match p.store.insert_session(&rec).await {
        // Stored, or a repeat of this record stored it a moment ago: either
        // way the session actor bills it once.
        Ok(()) | Err(store::StoreError::Conflict(_)) => {
            tracing::info!(session = %rec.id, "billing a charge started offline at the pile");
            let mut session = Session::new(ctx, rec);
            session.offline = true;
            let session = session.start();
            session.do_send(Record(record, reply));
        }
        Err(e) => {
            tracing::error!(session = %rec.id, error = %e, "could not record an offline charge; the pile will resend")
        }
    }
}
