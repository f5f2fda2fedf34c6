//! A port actor holds one port's live state: what the pile last reported and
//! which charge, if any, runs on it. It decides whether a charge may start
//! (one at a time, only when online and not faulted), creates the session,
//! and routes the pile's events for that charge to it.

use std::sync::Arc;

use actix::prelude::*;
use domain::alarm::NewAlarm;
use vocab::{PileId, PortNo, PortStatus, Protocol, SessionId, Severity};

use domain::session::SessionRecord;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::adapter::{self, CardRefusal, PileCommand, PileEvent, PortReport, Reading, ReplyTo};
use crate::alarms::{self, Active};
use crate::charge::{Purchase, StartError, Started};
use crate::live::Live;
use crate::metrics::{Mailbox, Queued};
use crate::pile::{self, Pile};
use crate::session::{self, Session};
use crate::station::{self, Admission, StationCtx};
use crate::Platform;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error("the pile has no such port")]
    NoSuchPort,
    #[error("no charge is running on the port")]
    NotCharging,
    #[error("the pile is offline")]
    Offline,
    #[error("the port is unavailable")]
    Unavailable,
}

/// The charge on the port.
struct Current {
    id: SessionId,
    actor: Addr<Session>,
    /// What was bought and the balance told the pile, to start the charge
    /// again if the station stops it for power (`None`: taken over from
    /// storage after a restart).
    bought: Option<Box<(Purchase, Decimal)>>,
    /// The station stopped it for power: start it again once billed.
    power_stopped: bool,
}

/// A pile has ten of these, mostly idle: what an idle port does not use
/// (a reading, a queued start) is boxed to keep each actor small.
pub struct Port {
    platform: Arc<Platform>,
    pile: Addr<Pile>,
    pile_id: PileId,
    protocol: Protocol,
    no: PortNo,
    station: Arc<StationCtx>,
    status: PortStatus,
    reading: Option<Box<Reading>>,
    current: Option<Current>,
    /// A start is waiting for the station's admission.
    admitting: bool,
    /// A start queued for room under the station's limit.
    queued: Option<Box<Start>>,
    alarms: Active,
}

impl Port {
    pub fn new(
        platform: Arc<Platform>,
        pile: Addr<Pile>,
        pile_id: PileId,
        protocol: Protocol,
        no: PortNo,
        station: Arc<StationCtx>,
    ) -> Self {
        Port {
            platform,
            pile,
            pile_id,
            protocol,
            no,
            station,
            status: PortStatus::Offline,
            reading: None,
            current: None,
            admitting: false,
            queued: None,
            alarms: Active::default(),
        }
    }

    fn alarm(&self, kind: String, severity: Severity, message: String) -> NewAlarm {
        NewAlarm {
            station_id: self.station.record.id,
            pile_id: Some(self.pile_id.clone()),
            port: Some(self.no),
            kind,
            severity,
            message,
            raised_at: self.platform.now(),
        }
    }

    /// Hardware faults and over-temperature in a report become alarms while
    /// they last.
    fn check(&mut self, report: &PortReport, ctx: &mut Context<Self>) {
        const HOT: &str = "over_temperature";
        let mut found = Vec::new();
        for (fault, severity) in report.faults.iter().flatten() {
            let msg = format!("{fault} on port {}", self.no);
            found.push(self.alarm(alarms::kind(fault), *severity, msg));
        }
        let temperature = report.reading.as_ref().and_then(|r| r.temperature_c);
        let max = self.platform.config.alarms.max_temperature_c;
        if let Some(t) = temperature.filter(|t| *t > max) {
            let msg = format!("port {} at {t} °C, above {max} °C", self.no);
            found.push(self.alarm(HOT.into(), Severity::Critical, msg));
        }
        let (faults, hot) = (report.faults.is_some(), temperature.is_some());
        let changes = self.alarms.update(|k| if k == HOT { hot } else { faults }, found);
        let platform = self.platform.clone();
        alarms::apply(self, ctx, &platform, changes, |port| &mut port.alarms);
    }

    /// Moves the port to `status`, keeping the ports-by-state gauge true.
    fn set_status(&mut self, status: PortStatus) {
        if status != self.status {
            let ports = &self.platform.metrics.ports;
            ports.with_label_values(&[self.status.as_str()]).dec();
            ports.with_label_values(&[status.as_str()]).inc();
            self.status = status;
            self.platform.live.publish_port(|| Live::Port {
                station_id: self.station.record.id,
                pile_id: self.pile_id.clone(),
                port: self.no.0,
                status,
                session_id: self.current.as_ref().map(|c| c.id.clone()),
            });
        }
    }

    fn session(&self, id: &SessionId) -> Option<&Addr<Session>> {
        self.current.as_ref().filter(|c| &c.id == id).map(|c| &c.actor)
    }

    fn session_ctx(&self, me: Addr<Port>) -> session::Ctx {
        session::Ctx {
            platform: self.platform.clone(),
            pile: self.pile.clone(),
            pile_id: self.pile_id.clone(),
            port: me.recipient(),
            station: self.station.clone(),
        }
    }
}

impl Actor for Port {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.platform.metrics.ports.with_label_values(&[self.status.as_str()]).inc();
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.platform.metrics.ports.with_label_values(&[self.status.as_str()]).dec();
    }
}

/// The station changed: charges started from now on are priced by its
/// tariff, and power is reported only to a station that manages it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NewStation(pub Arc<StationCtx>);

impl Handler<NewStation> for Port {
    type Result = ();

    fn handle(&mut self, NewStation(ctx): NewStation, _: &mut Context<Self>) {
        self.station = ctx;
    }
}

/// Fault injection for tests: panics inside the actor, as a bug would.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl Handler<Crash> for Port {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("injected fault in port {} of pile {}", self.no, self.pile_id);
    }
}

/// The pile's link came up or went down.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Online(pub bool);

impl Handler<Online> for Port {
    type Result = ();

    fn handle(&mut self, Online(online): Online, _: &mut Context<Self>) {
        let status = match (online, self.status) {
            (false, _) => PortStatus::Offline,
            // The pile reports the real state right after login.
            (true, PortStatus::Offline) => PortStatus::Idle,
            (true, s) => s,
        };
        self.set_status(status);
        if let Some(c) = &self.current {
            c.actor.do_send(session::Link(online));
        }
    }
}

/// Take over an open session from storage (after a restart).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resume(pub SessionRecord);

impl Handler<Resume> for Port {
    type Result = ();

    fn handle(&mut self, Resume(record): Resume, ctx: &mut Context<Self>) {
        if self.current.is_some() {
            return tracing::warn!(session = %record.id, "a second open session on one port left as it is");
        }
        let id = record.id.clone();
        let actor = Session::new(self.session_ctx(ctx.address()), record).start();
        actor.do_send(session::Link(self.status != PortStatus::Offline));
        self.current = Some(Current { id, actor, bought: None, power_stopped: false });
        self.occupied();
    }
}

/// An event from the pile about this port.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromPile(pub PileEvent, pub Queued);

impl Handler<FromPile> for Port {
    type Result = ();

    fn handle(&mut self, FromPile(event, _queued): FromPile, ctx: &mut Context<Self>) {
        match event {
            PileEvent::Port(report) => {
                self.check(&report, ctx);
                self.set_status(report.status);
                let session = match &report.session {
                    Some(id) => self.session(id),
                    // Reports that name no charge belong to the one running.
                    None => self.current.as_ref().map(|c| &c.actor),
                };
                if let Some(s) = session {
                    s.do_send(session::Report {
                        status: report.status,
                        reading: report.reading.clone(),
                        queued: self.platform.metrics.queued(Mailbox::Session),
                    });
                }
                if self.current.is_some() {
                    self.report_power(report.reading.as_ref().map(|r| r.power));
                }
                if let Some(r) = report.reading {
                    self.reading = Some(Box::new(r));
                }
            }
            PileEvent::StartResult { session, accepted, reason, .. } => match self.session(&session) {
                Some(s) => s.do_send(session::StartResult { accepted, reason }),
                None => {
                    tracing::warn!(pile = %self.pile_id, port = %self.no, %session, "start result for a charge not running here")
                }
            },
            PileEvent::StopResult { accepted, .. } => {
                if let Some(c) = &self.current {
                    c.actor.do_send(session::StopResult { accepted });
                }
            }
            PileEvent::Record(record, reply) => match self.session(&record.session) {
                Some(s) => s.do_send(session::Record(record, reply)),
                // A record of a charge this actor does not run: a repeat of
                // one already billed, or one left open by a restart.
                None => {
                    let ctx_ = self.session_ctx(ctx.address());
                    let settle = async move { session::settle_elsewhere(ctx_, record, reply).await };
                    ctx.spawn(settle.into_actor(self).map(|_, port, _| port.charge_over()));
                }
            },
            PileEvent::CardStart { card, reply, .. } => self.card_start(card, reply, ctx),
            _ => {}
        }
    }
}

impl Port {
    /// Checks the card's account, then starts like any other charge, paid
    /// from its wallet; the pile hears the verdict either way.
    fn card_start(&mut self, card: String, reply: ReplyTo, ctx: &mut Context<Self>) {
        let (platform, pile, me, port, station) =
            (self.platform.clone(), self.pile.clone(), ctx.address(), self.no, self.station.record.id);
        let pile_id = self.pile_id.clone();
        actix_rt::spawn(async move {
            let verdict = match crate::service::out_of_service(&platform, station, &pile_id, port.0).await {
                Ok(None) => crate::card::authorize(&platform, station, &card).await,
                Ok(Some(_)) | Err(_) => Err(CardRefusal::Unavailable),
            };
            let verdict = match verdict {
                Ok((purchase, balance)) => {
                    let card = Some((card.clone(), reply));
                    let start = Start { queue: false, balance, purchase, card, resume: false };
                    match me.send(start).await {
                        Ok(Ok(_)) => Ok(balance),
                        Ok(Err(e)) => Err(CardRefusal::from(&e)),
                        Err(_) => Err(CardRefusal::Unavailable),
                    }
                }
                Err(why) => Err(why),
            };
            let result = verdict.map_or_else(CardRefusal::as_str, |_| "started");
            platform.metrics.card_starts.with_label_values(&[result]).inc();
            pile.do_send(pile::Send(PileCommand::CardVerdict { port, card, verdict, reply }));
        });
    }
}

/// Start a charge here.
#[derive(Message)]
#[rtype(result = "Result<Started, StartError>")]
pub struct Start {
    /// Wait for room under the station's limit instead of being refused.
    pub queue: bool,
    pub balance: Decimal,
    pub purchase: Purchase,
    /// The card swipe this start answers.
    pub card: Option<(String, ReplyTo)>,
    /// Resumes a charge the station stopped for power here.
    pub resume: bool,
}

impl Handler<Start> for Port {
    type Result = ResponseActFuture<Self, Result<Started, StartError>>;

    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) -> Self::Result {
        let refused = match (&self.current, self.status) {
            (Some(c), _) => Some(StartError::Busy(Some(c.id.clone()))),
            _ if self.admitting || self.queued.is_some() => Some(StartError::Busy(None)),
            (None, PortStatus::Offline) => Some(StartError::Offline),
            (None, PortStatus::Fault) => Some(StartError::Faulted),
            // Charging by itself: a card or an offline start at the pile.
            (None, PortStatus::Charging) => Some(StartError::Busy(None)),
            (None, PortStatus::Idle | PortStatus::Plugged | PortStatus::Full) => None,
        };
        if let Some(e) = refused.or_else(|| self.too_little(&msg)) {
            return Box::pin(fut::ready(Err(e)));
        }
        // The station must fit the charge's minimum under its limit first.
        let queue = msg.queue.then(|| ctx.address().recipient());
        let admit = self.station_addr().map(|station| {
            let key = (self.pile_id.clone(), self.no);
            let (pile, protocol, resume) = (self.pile.clone(), self.protocol, msg.resume);
            station.send(station::Admit { key, pile, protocol, queue, resume })
        });
        self.admitting = true;
        let admitted = async move {
            match admit {
                Some(asked) => asked.await.unwrap_or(Ok(Admission::Now)),
                None => Ok(Admission::Now),
            }
        };
        Box::pin(admitted.into_actor(self).then(move |admitted, port, ctx| port.admitted(admitted, msg, ctx)))
    }
}

/// The station has room for the charge queued here: start it.
impl Handler<station::Admitted> for Port {
    type Result = ();

    fn handle(&mut self, _: station::Admitted, ctx: &mut Context<Self>) {
        let Some(start) = self.queued.take() else { return };
        // A charge resumes only for a vehicle still plugged in.
        let unplugged = start.resume && self.status == PortStatus::Idle;
        if unplugged || matches!(self.status, PortStatus::Offline | PortStatus::Fault | PortStatus::Charging)
        {
            tracing::info!(pile = %self.pile_id, port = %self.no, "queued charge dropped: the port can no longer start it");
            return self.report_power(None);
        }
        let begun = self.begin(*start, ctx).map(|res, port, _| {
            if let Err(e) = res {
                tracing::warn!(pile = %port.pile_id, port = %port.no, error = %e, "queued charge failed to start");
            }
        });
        ctx.spawn(begun);
    }
}

impl Port {
    fn station_addr(&self) -> Option<Addr<station::Station>> {
        self.platform.registry.stations.get(&self.station.record.id).map(|s| s.clone())
    }

    /// Tells the pile whether a charge runs here.
    fn occupied(&self) {
        self.pile.do_send(pile::Busy(self.no, self.current.is_some()));
    }

    /// Tells the station whether this port holds a share of its power, if
    /// the station manages its power.
    fn report_power(&self, power_w: Option<Decimal>) {
        if self.station.record.power.is_none() {
            return;
        }
        if let Some(station) = self.station_addr() {
            station.do_send(station::PortPower {
                key: (self.pile_id.clone(), self.no),
                pile: self.pile.clone(),
                protocol: self.protocol,
                session: self.current.as_ref().map(|c| c.id.clone()),
                charging: self.current.is_some(),
                power_w,
                queued: self.platform.metrics.queued(Mailbox::Station),
            });
        }
    }

    /// Refuses a prepaid charge that would buy nothing, before it can queue.
    fn too_little(&self, msg: &Start) -> Option<StartError> {
        msg.purchase.prepaid?;
        let terms = self.station.terms(msg.purchase.clone());
        terms.buys_nothing().then(|| {
            StartError::TooLittle(format!(
                "the prepaid amount must buy more than the station's service fee of {}",
                terms.service_fee
            ))
        })
    }

    /// Starts, queues or refuses a charge by the station's answer.
    fn admitted(
        &mut self,
        admitted: Result<Admission, String>,
        msg: Start,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<Started, StartError>> {
        self.admitting = false;
        match admitted {
            Err(reason) => Box::pin(fut::ready(Err(StartError::CapacityShort(reason)))),
            Ok(Admission::Queued(position)) => {
                self.queued = Some(Box::new(msg));
                Box::pin(fut::ready(Ok(Started::Queued(position))))
            }
            Ok(Admission::Now) => Box::pin(self.begin(msg, ctx).map(|res, _, _| res.map(Started::Session))),
        }
    }

    /// Creates the admitted charge's session and sends the start command.
    fn begin(
        &mut self,
        msg: Start,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<SessionId, StartError>> {
        let now = self.platform.now();
        let local = now.with_timezone(&self.station.offset).naive_local();
        let id = adapter::session_id(self.protocol, &self.pile_id, self.no, local);
        let terms = self.station.terms(msg.purchase.clone());
        let record =
            SessionRecord::new(id.clone(), self.pile_id.clone(), self.no, self.station.record.id, terms, now);
        let session = Session::new(self.session_ctx(ctx.address()), record).start();
        let bought = Some(Box::new((msg.purchase, msg.balance)));
        self.current = Some(Current { id: id.clone(), actor: session.clone(), bought, power_stopped: false });
        self.occupied();
        self.report_power(None);
        Box::pin(
            async move { session.send(session::Begin { balance: msg.balance, card: msg.card }).await }
                .into_actor(self)
                .map(move |res, port, _| {
                    let res = res.unwrap_or(Err(StartError::Unavailable));
                    if res.is_err() && port.current.as_ref().is_some_and(|c| c.id == id) {
                        port.current = None;
                        port.occupied();
                        port.report_power(None);
                    }
                    res.map(|()| id)
                }),
        )
    }
}

/// Stop the charge running here.
#[derive(Message)]
#[rtype(result = "Result<SessionId, StopError>")]
pub struct Stop;

impl Handler<Stop> for Port {
    type Result = ResponseFuture<Result<SessionId, StopError>>;

    fn handle(&mut self, _: Stop, _: &mut Context<Self>) -> Self::Result {
        let current = self.current.as_ref().map(|c| (c.id.clone(), c.actor.clone()));
        Box::pin(async move {
            let (id, session) = current.ok_or(StopError::NotCharging)?;
            session.send(session::Stop).await.map_err(|_| StopError::NotCharging)??;
            Ok(id)
        })
    }
}

/// A session on this port ended: billed (`spent`: its total) or failed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ended {
    pub session: SessionId,
    pub spent: Option<Decimal>,
}

impl Handler<Ended> for Port {
    type Result = ();

    fn handle(&mut self, Ended { session, spent }: Ended, ctx: &mut Context<Self>) {
        let Some(ended) = self.current.take_if(|c| c.id == session) else { return };
        self.occupied();
        self.report_power(None);
        self.charge_over();
        if let (true, Some(bought), Some(spent)) = (ended.power_stopped, ended.bought, spent) {
            let (purchase, balance) = *bought;
            self.resume_later(purchase, balance, spent, ctx);
        }
    }
}

/// The pile's actors are passivated (it is offline and nothing runs here).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivate;

impl Handler<Passivate> for Port {
    type Result = ();

    fn handle(&mut self, _: Passivate, ctx: &mut Context<Self>) {
        if self.current.is_none() {
            ctx.stop();
        }
    }
}

/// An alarm on this port still open in the store when its actor started.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OpenAlarm(pub domain::alarm::Alarm);

impl Handler<OpenAlarm> for Port {
    type Result = ();

    fn handle(&mut self, OpenAlarm(alarm): OpenAlarm, _: &mut Context<Self>) {
        self.alarms.open(&alarm);
    }
}

/// The station has no power left for the charge here: it is stopped and
/// billed, then queued to resume as the same purchase, less what it spent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PowerStop;

impl Handler<PowerStop> for Port {
    type Result = ();

    fn handle(&mut self, _: PowerStop, _: &mut Context<Self>) {
        if let Some(c) = &mut self.current {
            c.power_stopped = true;
            c.actor.do_send(session::Stop);
        }
    }
}

impl Port {
    /// Queues again a charge stopped for power: a prepaid charge with what is
    /// left of its prepayment, a wallet charge with a fresh hold. One that
    /// can no longer buy anything ends here.
    fn resume_later(
        &mut self,
        mut purchase: Purchase,
        balance: Decimal,
        spent: Decimal,
        ctx: &mut Context<Self>,
    ) {
        let (platform, me) = (self.platform.clone(), ctx.address());
        let (pile, port) = (self.pile_id.clone(), self.no);
        actix_rt::spawn(async move {
            if let Some(prepaid) = &mut purchase.prepaid {
                *prepaid -= spent;
            }
            let balance = match &mut purchase.payer {
                Some(payer) => {
                    let wallet = domain::ledger::Account::Wallet(payer.driver);
                    let funds = match platform.store.balance(&wallet).await {
                        Ok(b) => b,
                        Err(e) => {
                            return tracing::error!(%pile, %port, error = %e, "cannot resume a charge stopped for power")
                        }
                    };
                    payer.held = purchase.prepaid.unwrap_or(platform.config.wallet_hold.min(funds));
                    if payer.held > funds {
                        payer.held = Decimal::ZERO;
                    }
                    payer.held
                }
                None => (balance - spent).max(Decimal::ZERO),
            };
            if balance <= Decimal::ZERO || purchase.prepaid.is_some_and(|p| p <= Decimal::ZERO) {
                return tracing::info!(%pile, %port, "a charge stopped for power has nothing left to resume with");
            }
            let start = Start { queue: true, balance, purchase, card: None, resume: true };
            match me.send(start).await {
                Ok(Ok(started)) => {
                    tracing::info!(%pile, %port, ?started, "a charge stopped for power resumes")
                }
                Ok(Err(e)) => {
                    tracing::info!(%pile, %port, error = %e, "a charge stopped for power cannot resume")
                }
                Err(_) => {}
            }
        });
    }
}

impl Port {
    /// The pile's final record closed the charge: the port is no longer
    /// charging even before its next status report, which says whether the
    /// vehicle is still plugged in; until then a new start may go ahead.
    fn charge_over(&mut self) {
        if self.current.is_none() && self.status == PortStatus::Charging {
            self.set_status(PortStatus::Plugged);
        }
    }
}

/// A port's live state, as the API shows it.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PortView {
    pub port: PortNo,
    pub status: PortStatus,
    pub session_id: Option<SessionId>,
    pub power_w: Option<Decimal>,
    pub voltage_v: Option<Decimal>,
    pub current_a: Option<Decimal>,
}

#[derive(Message)]
#[rtype(result = "PortView")]
pub struct GetView;

impl Handler<GetView> for Port {
    type Result = MessageResult<GetView>;

    fn handle(&mut self, _: GetView, _: &mut Context<Self>) -> Self::Result {
        let live = self.status != PortStatus::Offline;
        let r = self.reading.as_ref().filter(|_| live);
        MessageResult(PortView {
            port: self.no,
            status: self.status,
            session_id: self.current.as_ref().map(|c| c.id.clone()),
            power_w: r.map(|r| r.power),
            voltage_v: r.map(|r| r.voltage),
            current_a: r.map(|r| r.current),
        })
    }
}
