//! A pile actor holds one pile's live state across connections.
//!
//! A link attaches when the pile logs in and detaches when its connection
//! dies; a newer link replaces an older one at once, so a pile that reconnects
//! while its old TCP connection is still half-open is served on the new one.
//! The pile owns one port actor per port and routes events to them; sessions
//! send their commands through the pile, which knows the current link.

use std::sync::Arc;

use actix::prelude::*;
use domain::alarm::NewAlarm;
use store::Diagnostic;
use vocab::{PileId, PortNo, Protocol, SessionId, Severity, StationId};

use futures::future::join_all;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::adapter::{self, LoginInfo, Maintenance, PileCommand, PileEvent, Protections};
use crate::alarms::{self, Active};
use crate::charge::{self, Purchase};
use crate::maintenance::{CommandLog, CommandRecord, Outcome, Which};
use crate::metrics::{Mailbox, Queued};
use crate::port::{self, Port, PortView};
use crate::station::StationCtx;
use crate::Platform;

/// What a pile actor tells its link.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum ToLink {
    Command(PileCommand),
    /// Close the connection; the reason is a metric label.
    Close(&'static str),
}

struct Attached {
    id: u64,
    link: Recipient<ToLink>,
}

pub struct Pile {
    platform: Arc<Platform>,
    id: PileId,
    protocol: Protocol,
    station: Arc<StationCtx>,
    ports: Vec<Addr<Port>>,
    port_count: u8,
    link: Option<Attached>,
    firmware: Option<String>,
    /// Pile-wide conditions raised as alarms (offline, supply voltage).
    alarms: Active,
    commands: CommandLog,
    /// Ports with a charge running.
    busy: std::collections::HashSet<PortNo>,
    /// The station's tariff changed while charges ran: push it once idle.
    tariff_pending: bool,
    offline_timer: Option<SpawnHandle>,
    /// Refreshes the pile's row in the directory while its link is here.
    listed: Option<SpawnHandle>,
}

const OFFLINE: &str = "offline";

impl Pile {
    pub fn new(platform: Arc<Platform>, record: store::PileRecord, station: Arc<StationCtx>) -> Self {
        Pile {
            platform,
            id: record.id,
            protocol: record.protocol,
            station,
            ports: Vec::new(),
            port_count: record.ports,
            link: None,
            firmware: None,
            alarms: Active::default(),
            commands: CommandLog::default(),
            busy: Default::default(),
            tariff_pending: false,
            offline_timer: None,
            listed: None,
        }
    }

    fn spawn_port(&self, no: PortNo, ctx: &mut Context<Self>) -> Addr<Port> {
        let (platform, station) = (self.platform.clone(), self.station.clone());
        Port::new(platform, ctx.address(), self.id.clone(), self.protocol, no, station).start()
    }

    /// Hands the pile's open sessions (or one port's) back to their ports,
    /// from storage: after a restart of the platform or of a port actor.
    fn resume_open(&mut self, ctx: &mut Context<Self>, only: Option<PortNo>) {
        let (store, id) = (self.platform.store.clone(), self.id.clone());
        let open = async move {
            let mut open = store.open_sessions(&id).await?;
            for rec in &mut open {
                crate::session::held_from_ledger(&*store, rec).await?;
            }
            Ok::<_, store::StoreError>(open)
        };
        ctx.spawn(open.into_actor(self).map(move |open, pile, _| match open {
            Ok(open) => {
                for rec in open.into_iter().filter(|r| only.is_none_or(|p| r.port == p)) {
                    match pile.ports.get((rec.port.0 as usize).wrapping_sub(1)) {
                        Some(port) => port.do_send(port::Resume(rec)),
                        None => {
                            tracing::warn!(session = %rec.id, "open session on a port the pile no longer has")
                        }
                    }
                }
            }
            Err(e) => tracing::error!(pile = %pile.id, error = %e, "could not load the pile's open sessions"),
        }));
    }

    /// The port's actor, restarted if it died (a panic ends only that actor):
    /// its state comes back from storage and the pile's next frames.
    fn port(&mut self, no: PortNo, ctx: &mut Context<Self>) -> Option<Addr<Port>> {
        let i = (no.0 as usize).checked_sub(1)?;
        let port = self.ports.get(i)?;
        if port.connected() {
            return Some(port.clone());
        }
        tracing::warn!(pile = %self.id, port = %no, "port actor died; restarting it");
        self.platform.metrics.restarts.with_label_values(&["port"]).inc();
        let fresh = self.spawn_port(no, ctx);
        fresh.do_send(port::Online(self.link.is_some()));
        self.ports[i] = fresh.clone();
        self.resume_open(ctx, Some(no));
        Some(fresh)
    }

    fn alarm(&self, kind: String, severity: Severity, message: String) -> NewAlarm {
        NewAlarm {
            station_id: self.station.record.id,
            pile_id: Some(self.id.clone()),
            port: None,
            kind,
            severity,
            message,
            raised_at: self.platform.now(),
        }
    }

    /// A pile that stays away past the threshold raises an alarm, and later
    /// its actors are passivated.
    fn watch_offline(&mut self, ctx: &mut Context<Self>) {
        let after = self.platform.config.alarms.offline_after;
        self.offline_timer = Some(ctx.run_later(after, move |pile, ctx| {
            let msg = format!("offline for more than {} s", after.as_secs());
            let gone = vec![pile.alarm(OFFLINE.into(), Severity::Warning, msg)];
            let changes = pile.alarms.update(|k| k == OFFLINE, gone);
            let platform = pile.platform.clone();
            alarms::apply(pile, ctx, &platform, changes, |pile| &mut pile.alarms);
            let rest = platform.config.pile_passivate_after.saturating_sub(after);
            pile.offline_timer = Some(ctx.run_later(rest, |pile, ctx| pile.passivate(ctx)));
        }));
    }

    /// Stops this offline pile's actors, its ports' too, to give their
    /// memory back: what they hold is in the store (open charges keep them
    /// here), and the pile's next login starts them again. Alarms still being
    /// stored, or charges still open, put it off.
    fn passivate(&mut self, ctx: &mut Context<Self>) {
        self.offline_timer = None;
        if self.link.is_some() {
            return;
        }
        if !self.busy.is_empty() || self.alarms.storing() {
            let later = self.platform.config.pile_passivate_after.max(std::time::Duration::from_secs(1));
            self.offline_timer = Some(ctx.run_later(later, |pile, ctx| pile.passivate(ctx)));
            return;
        }
        for port in &self.ports {
            port.do_send(port::Passivate);
        }
        if let Some(station) = self.platform.registry.stations.get(&self.station.record.id) {
            station.do_send(crate::station::Passivated(self.id.clone(), ctx.address()));
        }
        self.platform.metrics.piles_passivated.inc();
        tracing::debug!(pile = %self.id, "offline pile passivated");
        ctx.stop();
    }

    /// Takes up the pile's alarms still open in the store, so a condition
    /// that ended while no actor watched (the pile offline, its actors
    /// passivated or the platform restarted) is cleared when it is seen gone.
    fn load_open_alarms(&mut self, ctx: &mut Context<Self>) {
        let store = self.platform.store.clone();
        let filter = domain::alarm::AlarmFilter {
            pile_id: Some(self.id.clone()),
            open: true,
            limit: 1000,
            ..Default::default()
        };
        let load = async move { store.alarms(&filter).await };
        ctx.spawn(load.into_actor(self).map(|open, pile, ctx| {
            let open = match open {
                Ok(open) => open,
                Err(e) => return tracing::error!(pile = %pile.id, error = %e, "could not load the pile's open alarms"),
            };
            for alarm in open {
                match alarm.alarm.port {
                    None => pile.alarms.open(&alarm),
                    Some(no) => {
                        if let Some(port) = pile.ports.get((no.0 as usize).wrapping_sub(1)) {
                            port.do_send(port::OpenAlarm(alarm));
                        }
                    }
                }
            }
            if pile.link.is_some() {
                let back = pile.alarms.update(|k| k == OFFLINE, vec![]);
                let platform = pile.platform.clone();
                alarms::apply(pile, ctx, &platform, back, |pile| &mut pile.alarms);
            }
        }));
    }

    /// Pushes a changed tariff to the pile, but never under a running
    /// charge: a pile reprices what it shows mid-charge otherwise.
    fn push_tariff_if_idle(&mut self) {
        if !self.tariff_pending || !self.busy.is_empty() {
            return;
        }
        let Some(link) = &self.link else { return };
        let cmd = PileCommand::PushTariff {
            model: tariff_model(&self.station),
            tou: self.station.tariff.tou.clone(),
        };
        link.link.do_send(ToLink::Command(cmd));
        self.tariff_pending = false;
        self.platform.metrics.tariff_pushes.with_label_values(&["sent"]).inc();
    }

    fn set_online(&self, online: bool) {
        for port in &self.ports {
            port.do_send(port::Online(online));
        }
    }
}

impl Actor for Pile {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.ports = (1..=self.port_count).map(|n| self.spawn_port(PortNo(n), ctx)).collect();
        // Charges that were open when the platform last stopped carry on.
        self.resume_open(ctx, None);
        self.load_open_alarms(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        // Its own entry only: a pile that logged in again has a new actor.
        // (Its address still reads as connected here: the mailbox closes
        // only after `stopped`.)
        let me = ctx.address();
        self.platform.registry.piles.remove_if(&self.id, |_, a| *a == me);
    }
}

/// A link logged this pile in. Answers the station's offset from UTC, which
/// the link's adapter needs to read the pile's local clock.
#[derive(Message)]
#[rtype(result = "chrono::FixedOffset")]
pub struct Attach {
    pub link_id: u64,
    pub link: Recipient<ToLink>,
    pub info: LoginInfo,
}

impl Handler<Attach> for Pile {
    type Result = MessageResult<Attach>;

    fn handle(&mut self, msg: Attach, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(timer) = self.offline_timer.take() {
            ctx.cancel_future(timer);
        }
        let back = self.alarms.update(|k| k == OFFLINE, vec![]);
        let platform = self.platform.clone();
        alarms::apply(self, ctx, &platform, back, |pile| &mut pile.alarms);
        if let Some(old) = self.link.take() {
            tracing::info!(pile = %self.id, "pile logged in on a new connection; closing the old one");
            old.link.do_send(ToLink::Close("replaced"));
        }
        // Queued behind the login reply: the link answers the login first.
        let cfg = &self.platform.config;
        msg.link.do_send(ToLink::Command(PileCommand::Protections(Protections {
            max_duration_s: cfg.ebike.max_duration_s,
            port_overload_w: cfg.ebike.overload_w,
            pile_overload_w: cfg.ebike.pile_overload_w,
            over_voltage_v: cfg.alarms.supply_max_v,
            under_voltage_v: cfg.alarms.supply_min_v,
            full_power_w: cfg.ebike.full_power_w,
        })));
        self.link = Some(Attached { id: msg.link_id, link: msg.link });
        if let Some(timer) = self.listed.take() {
            ctx.cancel_future(timer);
        }
        self.listed = crate::directory::list(&self.id, &self.platform, ctx);
        self.firmware = Some(msg.info.firmware);
        self.set_online(true);
        self.push_tariff_if_idle();
        MessageResult(self.station.offset)
    }
}

/// Close the pile's connection (shutdown: it reconnects to another node).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect(pub &'static str);

impl Handler<Disconnect> for Pile {
    type Result = ResponseFuture<()>;

    /// Answers once the pile is out of the directory, so a node shutting
    /// down leaves no rows behind.
    fn handle(&mut self, Disconnect(reason): Disconnect, ctx: &mut Context<Self>) -> Self::Result {
        let Some(a) = self.link.take() else { return Box::pin(async {}) };
        a.link.do_send(ToLink::Close(reason));
        self.set_online(false);
        Box::pin(crate::directory::unlist(&self.id, &self.platform, ctx, self.listed.take()))
    }
}

/// A charge started (true) or ended (false) on a port.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Busy(pub PortNo, pub bool);

impl Handler<Busy> for Pile {
    type Result = ();

    fn handle(&mut self, Busy(port, busy): Busy, _: &mut Context<Self>) {
        if busy {
            self.busy.insert(port);
        } else {
            self.busy.remove(&port);
            self.push_tariff_if_idle();
        }
    }
}

/// The station changed: its tariff, or whether it manages its power.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NewStation(pub Arc<StationCtx>);

impl Handler<NewStation> for Pile {
    type Result = ();

    fn handle(&mut self, NewStation(ctx): NewStation, _: &mut Context<Self>) {
        for port in &self.ports {
            port.do_send(port::NewStation(ctx.clone()));
        }
        // Not every change is a new tariff (power management, fees).
        self.tariff_pending |= ctx.tariff != self.station.tariff;
        self.station = ctx;
        self.push_tariff_if_idle();
    }
}

/// Fault injection for tests: panics inside the actor, as a bug would.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct CrashPort(pub PortNo);

impl Handler<CrashPort> for Pile {
    type Result = ();

    fn handle(&mut self, CrashPort(no): CrashPort, ctx: &mut Context<Self>) {
        if let Some(port) = self.port(no, ctx) {
            port.do_send(port::Crash);
        }
    }
}

/// A link's connection ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach {
    pub link_id: u64,
}

impl Handler<Detach> for Pile {
    type Result = ();

    fn handle(&mut self, msg: Detach, ctx: &mut Context<Self>) {
        if self.link.as_ref().is_some_and(|l| l.id == msg.link_id) {
            self.link = None;
            self.set_online(false);
            actix_rt::spawn(crate::directory::unlist(&self.id, &self.platform, ctx, self.listed.take()));
            self.watch_offline(ctx);
        }
    }
}

/// An event from the pile's link.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Event(pub PileEvent, pub Queued);

impl Handler<Event> for Pile {
    type Result = ();

    fn handle(&mut self, Event(event, _queued): Event, ctx: &mut Context<Self>) {
        match event {
            PileEvent::TariffCheck { model, reply } => {
                let current = model == tariff_model(&self.station);
                let cmd = PileCommand::TariffCheckReply { model, current, reply };
                ctx.notify(Send(cmd));
            }
            PileEvent::TariffRequest(reply) => {
                let cmd = PileCommand::Tariff {
                    model: tariff_model(&self.station),
                    tou: self.station.tariff.tou.clone(),
                    reply,
                };
                ctx.notify(Send(cmd));
            }
            PileEvent::Alarm { port, kind, severity, message } => {
                let alarm = NewAlarm { port, ..self.alarm(alarms::kind(kind), severity, message) };
                let p = self.platform.clone();
                actix_rt::spawn(async move { alarms::raise(&p, alarm).await });
            }
            PileEvent::BalanceQuery { card, reply } => {
                let (p, me) = (self.platform.clone(), ctx.address());
                actix_rt::spawn(async move {
                    let balance = crate::card::balance(&p, &card).await;
                    me.do_send(Send(PileCommand::CardBalance { card, balance, reply }));
                });
            }
            PileEvent::TariffPushed { ok } => {
                let outcome = if ok { "acknowledged" } else { "refused" };
                self.platform.metrics.tariff_pushes.with_label_values(&[outcome]).inc();
            }
            PileEvent::MaintenanceResult { kind, ok, detail, answer } => {
                let outcome = if ok { Outcome::Acknowledged } else { Outcome::Refused };
                let now = self.platform.now();
                let Some(done) = self.commands.finish(Which::Kind(kind), outcome, Some(detail), now) else {
                    return;
                };
                done.answer = answer;
                self.platform.metrics.maintenance.with_label_values(&[kind, outcome.as_str()]).inc();
                // Off the offline list once the pile says they are off it.
                if let (Maintenance::OfflineCardsClear { cards }, true) = (&done.command, ok) {
                    let (p, pile, cards) = (self.platform.clone(), self.id.clone(), cards.clone());
                    actix_rt::spawn(async move {
                        if let Err(e) = p.store.set_offline_cards(&pile, &cards, false).await {
                            tracing::error!(%pile, error = %e, "could not take cards off the offline list");
                        }
                    });
                }
            }
            PileEvent::Supply { voltage } => {
                let cfg = &self.platform.config.alarms;
                let found = if voltage > cfg.supply_max_v {
                    let msg = format!("supply at {voltage} V, above {} V", cfg.supply_max_v);
                    vec![self.alarm("over_voltage".into(), Severity::Major, msg)]
                } else if voltage < cfg.supply_min_v {
                    let msg = format!("supply at {voltage} V, below {} V", cfg.supply_min_v);
                    vec![self.alarm("under_voltage".into(), Severity::Major, msg)]
                } else {
                    vec![]
                };
                let changes = self.alarms.update(|k| k.ends_with("_voltage"), found);
                let platform = self.platform.clone();
                alarms::apply(self, ctx, &platform, changes, |pile| &mut pile.alarms);
            }
            PileEvent::Diagnostic { port, session, kind, data } => {
                let d = Diagnostic {
                    pile_id: self.id.clone(),
                    port: port.0,
                    session_id: session,
                    at: self.platform.now(),
                    kind: kind.to_owned(),
                    data,
                };
                let store = self.platform.store.clone();
                actix_rt::spawn(async move {
                    if let Err(e) = store.append_diagnostics(vec![d]).await {
                        tracing::warn!(error = %e, "could not keep a diagnostic frame");
                    }
                });
            }
            // Everything else is about one port (a login never reaches here).
            event => {
                let Some(no) = event.port() else { return };
                match self.port(no, ctx) {
                    Some(port) => {
                        port.do_send(port::FromPile(event, self.platform.metrics.queued(Mailbox::Port)))
                    }
                    None => {
                        tracing::warn!(pile = %self.id, port = %no, "event for a port the pile does not have")
                    }
                }
            }
        }
    }
}

/// The number a pile knows the station's tariff by: its id, as four digits.
fn tariff_model(station: &StationCtx) -> u16 {
    (station.tariff.id % 10_000) as u16
}

/// The pile has no live link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("pile is offline")]
pub struct Offline;

/// Send a command to the pile over its current link.
#[derive(Message)]
#[rtype(result = "Result<(), Offline>")]
pub struct Send(pub PileCommand);

impl Handler<Send> for Pile {
    type Result = Result<(), Offline>;

    fn handle(&mut self, Send(cmd): Send, _: &mut Context<Self>) -> Result<(), Offline> {
        match &self.link {
            Some(a) => {
                a.link.do_send(ToLink::Command(cmd));
                Ok(())
            }
            None => {
                self.platform.metrics.commands_undeliverable.inc();
                Err(Offline)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintainError {
    #[error("the pile is offline")]
    Offline,
    #[error("{0}")]
    Unsupported(String),
    #[error("a {0} command is still waiting for the pile's answer")]
    InProgress(&'static str),
}

/// Send a maintenance command (from the API).
#[derive(Message)]
#[rtype(result = "Result<CommandRecord, MaintainError>")]
pub struct Maintain(pub Maintenance);

impl Handler<Maintain> for Pile {
    type Result = Result<CommandRecord, MaintainError>;

    fn handle(&mut self, Maintain(m): Maintain, ctx: &mut Context<Self>) -> Self::Result {
        adapter::check_maintenance(self.protocol, &m).map_err(MaintainError::Unsupported)?;
        let kind = m.kind();
        if self.commands.pending(kind).is_some() {
            return Err(MaintainError::InProgress(kind));
        }
        let link = self.link.as_ref().ok_or(MaintainError::Offline)?;
        link.link.do_send(ToLink::Command(PileCommand::Maintain(m.clone())));
        let record = self.commands.sent(m, self.platform.now());
        self.platform.metrics.maintenance.with_label_values(&[kind, "sent"]).inc();
        let id = record.id;
        ctx.run_later(self.platform.config.command_timeout, move |pile, _| {
            let now = pile.platform.now();
            if pile.commands.finish(Which::Id(id), Outcome::TimedOut, None, now).is_some() {
                pile.platform.metrics.maintenance.with_label_values(&[kind, "timed_out"]).inc();
            }
        });
        Ok(record)
    }
}

/// The pile's recent maintenance commands, newest first.
#[derive(Message)]
#[rtype(result = "Vec<CommandRecord>")]
pub struct Commands;

impl Handler<Commands> for Pile {
    type Result = MessageResult<Commands>;

    fn handle(&mut self, _: Commands, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.commands.all())
    }
}

/// Start a charge on a port (from the API).
#[derive(Message)]
#[rtype(result = "Result<charge::Started, charge::StartError>")]
pub struct StartCharge {
    pub port: PortNo,
    /// Wait for room under the station's limit instead of being refused.
    pub queue: bool,
    pub balance: Decimal,
    pub purchase: Purchase,
}

/// The station has no power for the charge on this port (to the port).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PowerStop(pub PortNo);

impl Handler<PowerStop> for Pile {
    type Result = ();

    fn handle(&mut self, PowerStop(no): PowerStop, ctx: &mut Context<Self>) {
        if let Some(port) = self.port(no, ctx) {
            port.do_send(port::PowerStop);
        }
    }
}

impl Handler<StartCharge> for Pile {
    type Result = ResponseFuture<Result<charge::Started, charge::StartError>>;

    fn handle(&mut self, msg: StartCharge, ctx: &mut Context<Self>) -> Self::Result {
        let port = self.port(msg.port, ctx);
        Box::pin(async move {
            let port = port.ok_or(charge::StartError::NoSuchPort)?;
            port.send(port::Start {
                queue: msg.queue,
                balance: msg.balance,
                purchase: msg.purchase,
                card: None,
                resume: false,
            })
            .await
            .map_err(|_| charge::StartError::Unavailable)?
        })
    }
}

/// Stop the charge on a port (from the API).
#[derive(Message)]
#[rtype(result = "Result<SessionId, port::StopError>")]
pub struct StopCharge {
    pub port: PortNo,
}

impl Handler<StopCharge> for Pile {
    type Result = ResponseFuture<Result<SessionId, port::StopError>>;

    fn handle(&mut self, msg: StopCharge, ctx: &mut Context<Self>) -> Self::Result {
        let port = self.port(msg.port, ctx);
        Box::pin(async move {
            let port = port.ok_or(port::StopError::NoSuchPort)?;
            port.send(port::Stop).await.map_err(|_| port::StopError::Unavailable)?
        })
    }
}

/// A pile's live state, as the API shows it.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PileView {
    pub id: PileId,
    pub station_id: StationId,
    pub protocol: Protocol,
    pub online: bool,
    pub firmware: Option<String>,
    pub ports: Vec<PortView>,
}

#[derive(Message)]
#[rtype(result = "PileView")]
pub struct View;

impl Handler<View> for Pile {
    type Result = ResponseFuture<PileView>;

    fn handle(&mut self, _: View, _: &mut Context<Self>) -> Self::Result {
        let ports: Vec<_> = self.ports.iter().map(|p| p.send(port::GetView)).collect();
        let mut view = PileView {
            id: self.id.clone(),
            station_id: self.station.record.id,
            protocol: self.protocol,
            online: self.link.is_some(),
            firmware: self.firmware.clone(),
            ports: Vec::new(),
        };
        Box::pin(async move {
            view.ports = join_all(ports).await.into_iter().flatten().collect();
            view
        })
    }
}
