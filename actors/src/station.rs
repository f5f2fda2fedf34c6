//! A station actor starts the pile actors of its station and keeps them: a
//! pile actor outlives its TCP connections, so open charges survive a pile
//! dropping off and coming back.
//!
//! It is also the one place that sees every port's live power, so it keeps
//! the station under its transformer's limit: it admits a new charge only if
//! the charge's minimum fits, shares what is available among charging ports
//! by `domain::allocation`'s policy, sends each pile its limits through the
//! pile's protocol, and checks what the piles then draw. It recomputes when
//! a charge starts or stops, when the limit or the other load changes, and
//! periodically.
//!
//! With several nodes, a station's actor runs on every node holding one of
//! its piles, but only the holder of the station's lease manages its power
//! (`lease`); the others pass their ports' admissions and power on to it.

mod handover;
mod lease;
mod lease_reads;
mod power_history;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::{FixedOffset, Timelike};
use domain::alarm::NewAlarm;
use domain::allocation::{allocate, Allocation, Demand, Input, PortKey, PowerConfig};
use domain::pricing::{Pricing, Terms};
use domain::tariff::Tariff;
use rust_decimal::Decimal;
use serde::Serialize;
use store::{PileRecord, Station as StationRecord};
use vocab::{PileId, PortNo, Protocol, SessionId, Severity};

use crate::alarms::{self, Active};
use crate::charge::Purchase;
use crate::pile::{self, Pile};
use crate::Platform;

/// A station's offset from UTC, as its pile clocks keep time.
pub fn offset(record: &StationRecord) -> FixedOffset {
    FixedOffset::east_opt(record.utc_offset_minutes * 60)
        .unwrap_or(FixedOffset::east_opt(0).expect("zero offset"))
}

/// What piles, ports and sessions need to know of their station.
#[derive(Debug)]
pub struct StationCtx {
    pub record: StationRecord,
    pub tariff: Tariff,
    pub offset: FixedOffset,
}

pub use lease::{FromNode, HandOver};
use lease::{Notify, PileRef, Role};
pub use lease_reads::LeaseReads;

/// A charging port as the station sees it.
struct Live {
    pile: PileRef,
    protocol: Protocol,
    session: Option<SessionId>,
    measured_w: Decimal,
    /// Start order, for the allocation's first-come rule.
    since: u64,
    /// The limit last sent to the pile.
    sent_w: Option<Decimal>,
    /// The pile has reported this charge's power: it is running there, so
    /// a limit will reach it.
    confirmed: bool,
    /// Since when it has drawn more than its grant.
    over_since: Option<Instant>,
    /// Told to stop: the limit left it no power its pile can be told.
    stopped: bool,
}

impl StationCtx {
    /// What a charge started now is priced under: a chosen plan, or the
    /// station's tariff; with the station's fees.
    pub fn terms(&self, purchase: Purchase) -> Terms {
        let (pricing, plan_id) = match purchase.plan {
            Some(plan) => (plan.pricing, Some(plan.id)),
            None => (Pricing::TimeOfUse { tariff_id: self.tariff.id, tou: self.tariff.tou.clone() }, None),
        };
        Terms {
            pricing,
            plan_id,
            prepaid: purchase.prepaid,
            service_fee: self.record.service_fee,
            minimum: self.record.minimum_charge,
            utc_offset_minutes: self.record.utc_offset_minutes,
            discount: purchase.discount,
            payer: purchase.payer,
            merchant_id: self.record.merchant_id,
        }
    }
}

pub struct Station {
    platform: Arc<Platform>,
    ctx: Arc<StationCtx>,
    piles: HashMap<PileId, Addr<Pile>>,
    power: Option<PowerConfig>,
    /// Load on the transformer that is not charging, W (pushed by a meter gateway).
    other_load_w: Decimal,
    charging: HashMap<PortKey, Live>,
    seq: u64,
    last: Option<Allocation>,
    /// Charges waiting for room: those stopped for power first (in the
    /// order they started), then new ones, first come first served.
    waiting: VecDeque<Waiting>,
    /// Charges stopped for power, by port: when they started and what they
    /// drew, so they resume in their turn and only where what they draw fits.
    power_stopped: HashMap<PortKey, (u64, Decimal)>,
    over_since: Option<Instant>,
    alarms: Active,
    /// Whether this node manages the station's power (`lease`).
    role: Role,
    /// The highest lease token seen: calls from an owner below it are refused.
    max_token: i64,
    /// With several nodes: the latest report of each port here, told to a
    /// new owner.
    local: HashMap<PortKey, lease::Report>,
    /// With several nodes: charges queued on ports here, wherever the
    /// owner's queue holding them is (`handover`).
    queued_here: HashMap<PortKey, handover::QueuedHere>,
    /// A lease call is in flight.
    leasing: bool,
    /// The node is stopping and gave its lease back: it asks for no other.
    handed_over: bool,
    /// The token under which this node last lost the lease.
    lost: Option<i64>,
}

impl Station {
    pub fn new(platform: Arc<Platform>, ctx: Arc<StationCtx>) -> Self {
        Station {
            power: ctx.record.power.clone(),
            ctx,
            piles: HashMap::new(),
            other_load_w: Decimal::ZERO,
            charging: HashMap::new(),
            seq: 0,
            last: None,
            waiting: VecDeque::new(),
            power_stopped: HashMap::new(),
            over_since: None,
            alarms: Active::default(),
            role: Role::new(&platform),
            max_token: 0,
            local: HashMap::new(),
            queued_here: HashMap::new(),
            leasing: false,
            handed_over: false,
            lost: None,
            platform,
        }
    }

    fn label(&self) -> String {
        self.ctx.record.id.to_string()
    }

    fn limit_w(&self, power: &PowerConfig) -> Decimal {
        let local = self.platform.now().with_timezone(&self.ctx.offset);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        power.transformer.limit_at(Some(&power.schedule), minute)
    }

    fn demand(
        power: &PowerConfig,
        key: PortKey,
        protocol: Protocol,
        since: u64,
        measured: Decimal,
    ) -> Demand {
        // Room to grow above what it draws now; all it can take until measured.
        let requested_w =
            (measured > Decimal::ZERO).then(|| measured * Decimal::new(12, 1) + Decimal::from(50));
        let (min_w, max_w, requested_w) = match protocol {
            Protocol::Ykc => (power.ykc_gun_rated_w * Decimal::new(3, 1), power.ykc_gun_rated_w, requested_w),
            // Charging profiles turn an OCPP charge point down like a YKC pile.
            Protocol::Ocpp => {
                (power.ykc_gun_rated_w * Decimal::new(3, 1), power.ykc_gun_rated_w, requested_w)
            }
            // An e-bike charger cannot be turned down (AP3000 V8.6 has no
            // such command): it needs what it draws, assumed to be
            // `ebike_port_min_w` until measured. A station over its limit
            // then stops its latest charges rather than squeezing them.
            Protocol::Dny => {
                let draw = match measured > Decimal::ZERO {
                    true => {
                        (measured * Decimal::new(11, 1)).clamp(power.ebike_port_min_w, power.ebike_port_max_w)
                    }
                    false => power.ebike_port_min_w,
                };
                (draw, draw, None)
            }
        };
        let priority = u8::from(power.priority_ports.contains(&key));
        Demand { key, min_w, max_w, requested_w, priority, since }
    }

    /// The allocator's input: the limit in force now, the margin and the other load.
    fn input<'a>(&self, power: &PowerConfig, demands: &'a [Demand]) -> Input<'a> {
        Input {
            limit_w: self.limit_w(power),
            margin_w: power.transformer.margin_w,
            other_load_w: self.other_load_w,
            demands,
        }
    }

    fn demands(&self, power: &PowerConfig) -> Vec<Demand> {
        self.charging
            .iter()
            .map(|(k, l)| Self::demand(power, k.clone(), l.protocol, l.since, l.measured_w))
            .collect()
    }

    /// Shares the available power, sends changed limits, and publishes the figures.
    fn reallocate(&mut self) {
        let Some(power) = self.power.clone() else { return };
        // Only the owner grants, and not before it knows every charge.
        if !self.role.grants() {
            return;
        }
        let demands = self.demands(&power);
        let input = self.input(&power, &demands);
        let (limit, allocation) = (input.limit_w, allocate(&input));
        // Ports that got no grant (the limit dropped under the minimums,
        // latest charges first) are stopped and billed: no protocol can hold
        // a charge at nothing. A YKC pile is never told less than 30 %, and
        // an e-bike charger draws what it draws (AP3000 V8.6 has no command
        // that lowers a running charge's power).
        let grants = allocation.grants.iter().map(|g| (&g.key, g.power_w));
        let held = allocation.queued.iter().map(|k| (k, Decimal::ZERO));
        let mut per_pile: HashMap<PileId, Vec<(PortNo, Option<SessionId>, Decimal)>> = HashMap::new();
        let mut changed: Vec<PileId> = Vec::new();
        for (key, watts) in grants.chain(held) {
            let Some(live) = self.charging.get_mut(key).filter(|l| l.confirmed) else { continue };
            if watts.is_zero() && !std::mem::replace(&mut live.stopped, true) {
                tracing::warn!(station = %self.ctx.record.id, port = ?key, "no power left for a charge; stopping it to resume later");
                self.platform.metrics.power_stops.inc();
                self.power_stopped.insert(key.clone(), (live.since, live.measured_w));
                lease::power_stop(&self.platform, self.ctx.record.id, &self.role, &live.pile, key);
            }
            let (pile, port) = key;
            per_pile.entry(pile.clone()).or_default().push((*port, live.session.clone(), watts));
            // A stopping charge is counted in its pile's limit but sends none.
            if live.stopped {
                continue;
            }
            let step = Decimal::from(10).max(watts / Decimal::from(100));
            if live.sent_w.is_none_or(|s| (s - watts).abs() > step) {
                live.sent_w = Some(watts);
                changed.push(pile.clone());
            }
        }
        changed.sort();
        changed.dedup();
        for pile_id in changed {
            let limits = per_pile.remove(&pile_id).unwrap_or_default();
            let Some(live) = self.charging.iter().find(|(k, _)| k.0 == pile_id).map(|(_, l)| l) else {
                continue;
            };
            let rated_w = match live.protocol {
                Protocol::Ykc | Protocol::Ocpp => power.ykc_gun_rated_w,
                Protocol::Dny => power.ebike_port_max_w,
            };
            self.platform.metrics.power_commands.inc();
            let (id, role) = (self.ctx.record.id, &self.role);
            lease::power_limit(&self.platform, id, role, &live.pile, pile_id, limits, rated_w);
        }
        self.publish(limit, &allocation);
        self.last = Some(allocation);
    }

    fn measured_w(&self) -> Decimal {
        self.charging.values().map(|l| l.measured_w).sum()
    }

    fn publish(&self, limit: Decimal, allocation: &Allocation) {
        let m = &self.platform.metrics;
        let label = self.label();
        let set = |g: &prometheus::GaugeVec, v: Decimal| {
            g.with_label_values(&[&label]).set(v.try_into().unwrap_or(0.0));
        };
        set(&m.station_limit, limit);
        set(&m.station_allocated, allocation.allocated_w);
        set(&m.station_measured, self.measured_w() + self.other_load_w);
        set(&m.station_headroom, allocation.headroom_w);
    }

    /// Compares what is drawn with what was granted: a port over its grant,
    /// or the station over its limit, for longer than the grace period
    /// raises an alarm.
    fn verify(&mut self, ctx: &mut Context<Self>) {
        let Some(power) = self.power.clone() else { return };
        let grace = self.platform.config.power_verify_after;
        let now = Instant::now();
        let grants: HashMap<&PortKey, Decimal> =
            self.last.iter().flat_map(|a| a.grants.iter()).map(|g| (&g.key, g.power_w)).collect();
        let mut unruly = Vec::new();
        for (key, live) in self.charging.iter_mut() {
            let grant = grants.get(key).copied();
            let over = grant.is_some_and(|g| live.measured_w > g * Decimal::new(11, 1) + Decimal::from(20));
            live.over_since = if over { live.over_since.or(Some(now)) } else { None };
            if over {
                // Perhaps the limit was lost on the way: send it again.
                live.sent_w = None;
            }
            if live.over_since.is_some_and(|t| now - t >= grace) {
                unruly.push((key.clone(), live.measured_w, grant.unwrap_or_default()));
            }
        }
        let mut found: Vec<NewAlarm> = unruly
            .into_iter()
            .map(|(key, drawn, grant)| {
                let msg = format!("port {} draws {drawn} W against a limit of {grant} W", key.1);
                self.alarm(Some(key), "ignores_power_limit", Severity::Major, msg)
            })
            .collect();
        let (limit, drawn) = (self.limit_w(&power), self.measured_w() + self.other_load_w);
        self.over_since = if drawn > limit { self.over_since.or(Some(now)) } else { None };
        if self.over_since.is_some_and(|t| now - t >= grace) {
            let msg = format!("station draws {drawn} W against a limit of {limit} W");
            found.push(self.alarm(None, "station_over_limit", Severity::Critical, msg));
        }
        let changes = self.alarms.update(|_| true, found);
        let platform = self.platform.clone();
        alarms::apply(self, ctx, &platform, changes, |st| &mut st.alarms);
    }

    fn alarm(&self, port: Option<PortKey>, kind: &str, severity: Severity, message: String) -> NewAlarm {
        let (pile_id, port) = port.map_or((None, None), |(p, n)| (Some(p), Some(n)));
        NewAlarm {
            station_id: self.ctx.record.id,
            pile_id,
            port,
            kind: kind.into(),
            severity,
            message,
            raised_at: self.platform.now(),
        }
    }
}

impl Actor for Station {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(renew) = self.platform.config.directory.as_ref().map(|n| n.lease_renew) {
            self.lease(ctx);
            ctx.run_interval(renew, |st, ctx| st.lease(ctx));
        }
        ctx.run_interval(self.platform.config.power_interval, |st, ctx| {
            st.reallocate();
            st.admit_waiting();
            st.verify(ctx);
        });
        power_history::sample_every(Arc::clone(&self.platform), self.ctx.record.id, ctx);
    }
}

/// An offline pile's actor stopped to give its memory back; the pile's next
/// login starts another.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivated(pub PileId, pub Addr<Pile>);

impl Handler<Passivated> for Station {
    type Result = ();

    fn handle(&mut self, Passivated(id, addr): Passivated, _: &mut Context<Self>) {
        if self.piles.get(&id) == Some(&addr) {
            self.piles.remove(&id);
        }
    }
}

/// Start a pile's actor, or return the running one.
#[derive(Message)]
#[rtype(result = "Addr<Pile>")]
pub struct SpawnPile(pub PileRecord);

impl Handler<SpawnPile> for Station {
    type Result = Addr<Pile>;

    fn handle(&mut self, SpawnPile(record): SpawnPile, _: &mut Context<Self>) -> Addr<Pile> {
        match self.piles.get(&record.id) {
            Some(addr) if addr.connected() => return addr.clone(),
            Some(_) => {
                tracing::warn!(pile = %record.id, "pile actor died; restarting it");
                self.platform.metrics.restarts.with_label_values(&["pile"]).inc();
            }
            None => {}
        }
        let id = record.id.clone();
        let addr = Pile::new(self.platform.clone(), record, self.ctx.clone()).start();
        self.piles.insert(id.clone(), addr.clone());
        self.platform.registry.piles.insert(id, addr.clone());
        addr
    }
}

/// May a charge start on this port? Only if its minimum share fits under
/// the limit. If not, it is refused, or queued when the port asks to wait
/// (`queue`): queued charges are admitted first come first served as room
/// frees up, and their port is told. A charge the station stopped for power
/// (`resume`) waits ahead of new ones and is admitted only when what it drew fits. Admitted ports count as charging at
/// once, so two starts cannot squeeze into the same headroom.
#[derive(Message)]
#[rtype(result = "Result<Admission, String>")]
pub struct Admit {
    pub key: PortKey,
    pub pile: Addr<Pile>,
    pub protocol: Protocol,
    pub queue: Option<Recipient<Admitted>>,
    /// The charge the station stopped for power here, resuming: it keeps
    /// its place ahead of new charges.
    pub resume: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Admission {
    Now,
    /// Waiting at this position (1 is next).
    Queued(usize),
}

/// A queued charge now fits: its port may start it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Admitted;

struct Waiting {
    key: PortKey,
    pile: PileRef,
    protocol: Protocol,
    /// Told when the charge may start; `None` when it asked not to wait.
    port: Option<Notify>,
    /// A charge stopped for power: when it first started, what it drew.
    resume: Option<(u64, Decimal)>,
}

impl Station {
    /// Whether a charge's minimum (or, resuming, what it drew) fits beside
    /// the charging ports.
    fn fits(&mut self, power: &PowerConfig, w: &Waiting) -> bool {
        let mut demands = self.demands(power);
        let (since, drew) = w.resume.unwrap_or((self.seq + 1, Decimal::ZERO));
        demands.push(Self::demand(power, w.key.clone(), w.protocol, since, drew));
        !allocate(&self.input(power, &demands)).queued.contains(&w.key)
    }

    fn admit(&mut self, w: Waiting) {
        let Waiting { key, pile, protocol, resume, .. } = w;
        self.seq += 1;
        let (since, measured_w) = resume.unwrap_or((self.seq, Decimal::ZERO));
        let live = Live {
            pile,
            protocol,
            session: None,
            measured_w,
            since,
            sent_w: None,
            confirmed: false,
            over_since: None,
            stopped: false,
        };
        self.charging.insert(key, live);
        self.reallocate();
    }

    /// Admits queued charges, in order, while the next one fits.
    fn admit_waiting(&mut self) {
        let Some(power) = self.power.clone() else { return };
        while let Some(next) = self.waiting.pop_front() {
            if !self.fits(&power, &next) {
                self.waiting.push_front(next);
                break;
            }
            if let Some(port) = &next.port {
                lease::admitted(&self.platform, self.ctx.record.id, &self.role, port, &next.key);
                self.queued_here.remove(&next.key);
            }
            self.admit(next);
        }
        let queued = self.waiting.len() as i64;
        self.platform.metrics.station_queued.with_label_values(&[&self.label()]).set(queued);
    }
}

impl Handler<Admit> for Station {
    type Result = ActorResponse<Self, Result<Admission, String>>;

    fn handle(&mut self, msg: Admit, _: &mut Context<Self>) -> Self::Result {
        if self.power.is_some() && !self.role.owns() {
            return self.admit_remotely(msg);
        }
        let Admit { key, pile, protocol, queue, resume } = msg;
        let remembered = queue.clone().map(|port| {
            let pile = pile.clone();
            handover::QueuedHere { port, pile, protocol, resume, under: None }
        });
        self.queuing(&key, remembered);
        let waiting = Waiting {
            key: key.clone(),
            pile: PileRef::Local(pile),
            protocol,
            port: queue.map(Notify::Local),
            resume: None,
        };
        let answer = move |st: &mut Self| {
            let result = st.admission(waiting, resume);
            st.queued_under(&key, &result, st.role.token().unwrap_or_default());
            result
        };
        // A new owner answers once it knows every charge; otherwise (one
        // node always) at once.
        match self.role.settling() {
            Some(at) => {
                let later = actix::clock::sleep_until(at.into()).into_actor(self);
                ActorResponse::r#async(later.map(move |_, st, _| answer(st)))
            }
            None => ActorResponse::reply(answer(self)),
        }
    }
}

impl Station {
    /// The owner's verdict on a charge asking to start (`Admit`).
    fn admission(&mut self, mut w: Waiting, resume: bool) -> Result<Admission, String> {
        let Some(power) = self.power.clone() else { return Ok(Admission::Now) };
        if !self.role.grants() {
            let id = self.ctx.record.id;
            return Err(format!(
                "station {id}'s power is changing hands between nodes; try again in a moment"
            ));
        }
        if self.charging.contains_key(&w.key) {
            return Ok(Admission::Now);
        }
        let resume = self.power_stopped.remove(&w.key).filter(|_| resume);
        w.resume = resume;
        // Nobody overtakes the queue, but a resuming charge goes ahead of
        // new ones, after those that started before it.
        let ahead = match resume {
            Some((since, _)) => {
                self.waiting.iter().take_while(|o| o.resume.is_some_and(|r| r.0 < since)).count()
            }
            None => self.waiting.len(),
        };
        if ahead == 0 && self.fits(&power, &w) {
            self.admit(w);
            return Ok(Admission::Now);
        }
        if w.port.is_none() {
            self.platform.metrics.station_refusals.with_label_values(&[&self.label()]).inc();
            let limit = self.limit_w(&power);
            let id = self.ctx.record.id;
            return Err(format!("station {id} cannot fit another charge under its {limit} W limit"));
        }
        self.waiting.retain(|o| o.key != w.key);
        let at = ahead.min(self.waiting.len());
        self.waiting.insert(at, w);
        let queued = self.waiting.len();
        self.platform.metrics.station_queued.with_label_values(&[&self.label()]).set(queued as i64);
        Ok(Admission::Queued(at + 1))
    }
}

/// A port's live state: whether it charges (and which session), and its power.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PortPower {
    pub key: PortKey,
    pub pile: Addr<Pile>,
    pub protocol: Protocol,
    pub session: Option<SessionId>,
    pub charging: bool,
    pub power_w: Option<Decimal>,
    pub queued: crate::metrics::Queued,
}

impl Handler<PortPower> for Station {
    type Result = ();

    fn handle(&mut self, msg: PortPower, ctx: &mut Context<Self>) {
        if self.power.is_none() {
            return;
        }
        let PortPower { key, pile, protocol, session, charging, power_w, .. } = msg;
        let report = lease::Report { key, pile: PileRef::Local(pile), protocol, session, charging, power_w };
        if self.platform.config.directory.is_some() && !self.report_here(&report) {
            return;
        }
        self.port_power(report, ctx);
    }
}

impl Station {
    /// A port's report, from this node or another, on the owner.
    fn port_power(&mut self, msg: lease::Report, ctx: &mut Context<Self>) {
        if !msg.charging {
            if self.charging.remove(&msg.key).is_some() {
                self.reallocate();
                self.admit_waiting();
            }
            return;
        }
        let started = !self.charging.contains_key(&msg.key);
        if started {
            self.seq += 1;
        }
        let seq = self.seq;
        let live = self.charging.entry(msg.key).or_insert_with(|| Live {
            pile: msg.pile.clone(),
            protocol: msg.protocol,
            session: None,
            measured_w: Decimal::ZERO,
            since: seq,
            sent_w: None,
            confirmed: false,
            over_since: None,
            stopped: false,
        });
        // The pile may have moved to another node.
        live.pile = msg.pile;
        if msg.session.is_some() {
            live.session = msg.session;
        }
        let confirmed = msg.power_w.is_some() && !live.confirmed;
        if let Some(p) = msg.power_w {
            live.measured_w = p;
            live.confirmed = true;
        }
        if started || confirmed {
            self.reallocate();
        }
        self.verify(ctx);
    }
}

/// The station moved to another tariff: new charges are priced by it and
/// its piles are sent it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetTariff(pub StationRecord, pub Tariff);

impl Handler<SetTariff> for Station {
    type Result = ();

    fn handle(&mut self, SetTariff(record, tariff): SetTariff, _: &mut Context<Self>) {
        self.share(StationCtx { record, tariff, offset: self.ctx.offset });
    }
}

impl Station {
    /// Tells the piles, and through them their ports, what changed.
    fn share(&mut self, ctx: StationCtx) {
        let ctx = Arc::new(ctx);
        for pile in self.piles.values() {
            pile.do_send(pile::NewStation(ctx.clone()));
        }
        self.ctx = ctx;
    }
}

/// The station as the store holds it now, for a node that may have missed
/// an edit made on another node: whatever differs from what this actor
/// runs on (tariff, fees, time zone, power) is taken up as if pushed here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconcile(pub StationRecord, pub Tariff);

impl Handler<Reconcile> for Station {
    type Result = ();

    fn handle(&mut self, Reconcile(record, tariff): Reconcile, ctx: &mut Context<Self>) {
        if record == self.ctx.record && tariff == self.ctx.tariff {
            return;
        }
        tracing::info!(station = record.id, "station changed on another node; taking it up");
        self.platform.metrics.station_reconciles.inc();
        let power = record.power.clone();
        let offset = offset(&record);
        self.share(StationCtx { record, tariff, offset });
        if power != self.power {
            self.handle(SetPower(power), ctx);
        }
    }
}

/// Set or remove the station's power management.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPower(pub Option<PowerConfig>);

impl Handler<SetPower> for Station {
    type Result = ();

    fn handle(&mut self, SetPower(power): SetPower, _: &mut Context<Self>) {
        // Ports report their power only while it is managed.
        let record = StationRecord { power: power.clone(), ..self.ctx.record.clone() };
        self.share(StationCtx { record, tariff: self.ctx.tariff.clone(), offset: self.ctx.offset });
        if power.is_none() {
            // No port reports a charge ending from now on: forget them, and
            // learn them again from their readings if managed again.
            self.charging.clear();
        }
        self.power = power;
        for live in self.charging.values_mut() {
            live.sent_w = None;
        }
        self.reallocate();
        self.admit_waiting();
    }
}

/// The transformer's non-charging load, W, from a meter gateway.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OtherLoad(pub Decimal);

impl Handler<OtherLoad> for Station {
    type Result = ();

    fn handle(&mut self, OtherLoad(w): OtherLoad, _: &mut Context<Self>) {
        self.other_load_w = w.max(Decimal::ZERO);
        self.reallocate();
        self.admit_waiting();
    }
}

/// The station's power as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PowerView {
    pub managed: bool,
    pub limit_w: Decimal,
    pub margin_w: Decimal,
    pub other_load_w: Decimal,
    pub available_w: Decimal,
    pub allocated_w: Decimal,
    pub measured_w: Decimal,
    pub headroom_w: Decimal,
    pub ports: Vec<PortPowerView>,
    /// Charges waiting for room, next first.
    pub queued: Vec<PortKey>,
    /// The node managing the station's power, with several nodes.
    pub owner: Option<String>,
    /// Where `owner` serves HTTP when it is another node, so the API can
    /// show the owner's view rather than this one (not shown).
    #[serde(skip)]
    pub owner_addr: Option<String>,
    /// This node's own view, shown because the owner could not be asked:
    /// its grants and charges on other nodes may be missing or behind.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortPowerView {
    pub pile_id: PileId,
    pub port: PortNo,
    pub measured_w: Decimal,
    pub granted_w: Option<Decimal>,
}

#[derive(Message)]
#[rtype(result = "PowerView")]
pub struct GetPower;

/// The station's connected piles.
#[derive(Message)]
#[rtype(result = "Vec<Addr<Pile>>")]
pub struct Piles;

impl Handler<Piles> for Station {
    type Result = MessageResult<Piles>;

    fn handle(&mut self, _: Piles, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.piles.values().cloned().collect())
    }
}

impl Handler<GetPower> for Station {
    type Result = MessageResult<GetPower>;

    fn handle(&mut self, _: GetPower, _: &mut Context<Self>) -> Self::Result {
        let (limit_w, margin_w) = match &self.power {
            Some(p) => (self.limit_w(p), p.transformer.margin_w),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        let last = self.last.as_ref();
        let granted =
            |k: &PortKey| last.and_then(|a| a.grants.iter().find(|g| &g.key == k)).map(|g| g.power_w);
        let mut ports: Vec<PortPowerView> = self
            .charging
            .iter()
            .map(|(k, l)| PortPowerView {
                pile_id: k.0.clone(),
                port: k.1,
                measured_w: l.measured_w,
                granted_w: granted(k),
            })
            .collect();
        ports.sort_by(|a, b| (&a.pile_id, a.port).cmp(&(&b.pile_id, b.port)));
        MessageResult(PowerView {
            managed: self.power.is_some(),
            limit_w,
            margin_w,
            other_load_w: self.other_load_w,
            available_w: last.map_or(Decimal::ZERO, |a| a.available_w),
            allocated_w: last.map_or(Decimal::ZERO, |a| a.allocated_w),
            measured_w: self.measured_w() + self.other_load_w,
            headroom_w: last.map_or(Decimal::ZERO, |a| a.headroom_w),
            ports,
            queued: self.waiting.iter().map(|w| w.key.clone()).collect(),
            owner: self.role.owner(&self.platform),
            owner_addr: match &self.role {
                Role::Follower { owner: Some(lease) } => Some(lease.http_addr.clone()),
                _ => None,
            },
            stale: false,
        })
    }
}
