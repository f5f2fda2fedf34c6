//! The simulated e-bike pile's own side: the task that owns the
//! connection, reads the platform's frames, steps simulated time and acts on
//! the handle's commands. Split from the handle (`super`) so each reads on
//! its own; the handle only spawns `Pile::run` and talks to it by channel.

use std::io;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::codec::Framed;

use super::{order_text, result, state, stop, wire, Command, EbikeConfig, Event, Profile, Script};
use crate::ap3000_wire::{self as ap, cmd, Cutter, Frame, StartStop};
use crate::{BoxIo, Dialer};

/// Resends of a settlement after the first send, per connection.
const SETTLE_RESENDS: u8 = 5;
/// Supply voltage the pile reports.
const VOLTAGE: Decimal = Decimal::from_parts(2200, 0, 0, false, 1);
const FIRMWARE: u16 = 0x0102;
const POWER_BOARD: u16 = 0x0100;
const SIGNAL: u8 = 28;
const AMBIENT_C: i16 = 25;
const PORT_CHARGING_C: i16 = 30;
/// Watt-seconds in a kWh.
const WS_PER_KWH: Decimal = Decimal::from_parts(3_600_000, 0, 0, false, 0);

#[derive(Default)]
pub(super) struct Port {
    plugged: bool,
    /// The last charge ended full and the bike is still plugged in.
    full: bool,
    profile: Profile,
    scripts: Vec<Script>,
    charge: Option<Charge>,
}

impl Port {
    fn state(&self) -> u8 {
        if self.charge.is_some() {
            state::CHARGING
        } else if self.plugged && self.full {
            state::FULL
        } else if self.plugged {
            state::PLUGGED
        } else {
            state::IDLE
        }
    }
}

pub(super) struct Charge {
    order: [u8; 16],
    /// Seconds; 0 = none. Time and tier mode, or set by an adjust.
    time_limit: u32,
    /// kWh; 0 = none. Energy mode.
    energy_limit: Decimal,
    max_duration: u32,
    overload: Decimal,
    /// Watts; 0 = off.
    full_power: Decimal,
    full_hold: u32,
    elapsed: u32,
    /// Watt-seconds at full precision.
    ws: Decimal,
    max_power: Decimal,
    /// Consecutive seconds under `full_power`.
    below: u32,
    /// The power of the last step (at start: of the first).
    power: Decimal,
    /// Elapsed at the last report.
    last_report: u32,
    window: Window,
}

impl Charge {
    fn kwh(&self) -> Decimal {
        self.ws / WS_PER_KWH
    }

    /// What the 0.01 kWh meter shows.
    fn meter(&self) -> Decimal {
        self.kwh().round_dp_with_strategy(2, RoundingStrategy::ToZero).min(Decimal::new(65535, 2))
    }
}

/// Power since the last report.
#[derive(Default)]
struct Window {
    ws: Decimal,
    secs: u32,
    max: Option<Decimal>,
    min: Option<Decimal>,
}

/// A settlement sent and not yet acked.
pub(super) struct Pending {
    port: u8,
    order: [u8; 16],
    /// The settlement frame's MSG, which its ack echoes.
    msg: u16,
    frame: Vec<u8>,
    resends_left: u8,
    /// Simulated second of the next resend; `None` once they are used up on
    /// this connection (a new one sends it again).
    next: Option<u64>,
}

type Conn = Framed<BoxIo, Cutter>;

/// The pile's side, owned by its task.
pub(super) struct Pile {
    pub(super) cfg: EbikeConfig,
    pub(super) dialer: Dialer,
    pub(super) conn: Option<Conn>,
    pub(super) events: mpsc::Sender<Event>,
    /// Off after a power cut: no connection, clock frozen.
    pub(super) powered: bool,
    pub(super) registered: bool,
    pub(super) msg: u16,
    /// Simulated seconds since the pile was created; advances only by steps.
    pub(super) sim: u64,
    /// Simulated unix time at `sim` = 0.
    pub(super) epoch: i64,
    /// Whether the clock was set by a time reply.
    pub(super) clock_set: bool,
    pub(super) next_heartbeat: u64,
    pub(super) next_link: Option<u64>,
    pub(super) ports: Vec<Port>,
    pub(super) pending: Vec<Pending>,
}

impl Pile {
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, period: Duration) {
        let mut ticker = interval_at(Instant::now() + period, period);
        // Late steps are caught up, so simulated time keeps pace on average.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            let result = tokio::select! {
                item = next_unit(&mut self.conn) => self.on_unit(item).await,
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c, &mut ticker).await,
                    None => return, // the handle is gone
                },
                _ = ticker.tick(), if self.powered => self.step().await,
            };
            if let Err(e) = result {
                tracing::debug!(pile = %self.cfg.pile_id(), error = %e, "e-bike sim pile disconnected");
                self.drop_link();
            }
        }
    }

    fn emit(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            tracing::trace!(pile = %self.cfg.pile_id(), "e-bike sim pile event dropped (backlog full)");
        }
    }

    /// Simulated unix time now.
    fn now(&self) -> i64 {
        self.epoch.saturating_add(i64::try_from(self.sim).unwrap_or(i64::MAX))
    }

    fn next_msg(&mut self) -> u16 {
        self.msg = self.msg.wrapping_add(1);
        self.msg
    }

    fn port(&self, port: u8) -> Option<&Port> {
        self.ports.get(usize::from(port).checked_sub(1)?)
    }

    fn port_mut(&mut self, port: u8) -> Option<&mut Port> {
        self.ports.get_mut(usize::from(port).checked_sub(1)?)
    }

    /// Opens a connection: ICCID, then register.
    pub(super) async fn open(&mut self) -> io::Result<()> {
        let stream = self.dialer.dial().await?;
        let mut conn = Framed::new(stream, Cutter::new());
        // §1.04: the modem sends the SIM's ICCID, unframed, on connecting.
        conn.send(self.cfg.iccid.clone().into_bytes()).await?;
        let register = ap::register(&ap::Register {
            firmware: FIRMWARE,
            ports: self.cfg.ports,
            virtual_id: 0,
            // §1.0.2 note 8: the top byte of the PHYS is the device kind.
            device_type: self.cfg.phys.to_be_bytes()[0],
            work_mode: 0,
            power_board: POWER_BOARD,
        });
        let msg = self.next_msg();
        let frame = ap::frame(self.cfg.phys, msg, cmd::REGISTER, &register).map_err(io::Error::other)?;
        conn.send(frame).await?;
        self.conn = Some(conn);
        self.registered = false;
        Ok(())
    }

    /// Forgets the connection, if there is one.
    fn drop_link(&mut self) {
        self.registered = false;
        if self.conn.take().is_some() {
            self.emit(Event::Closed);
        }
    }

    /// Opens a new connection, reporting a failure as `Closed`.
    async fn reopen(&mut self) {
        if let Err(e) = self.open().await {
            tracing::debug!(pile = %self.cfg.pile_id(), error = %e, "e-bike sim pile cannot connect");
            self.emit(Event::Closed);
        }
    }

    /// Sends a message the pile originates, if registered; an offline pile's
    /// messages are lost (settlements are kept and resent).
    async fn send(&mut self, cmd: u8, body: Vec<u8>) -> io::Result<()> {
        if !self.registered {
            return Ok(());
        }
        let msg = self.next_msg();
        self.reply(cmd, body, msg).await
    }

    /// Sends a frame with a given MSG (a reply echoes its request's).
    async fn reply(&mut self, cmd: u8, body: Vec<u8>, msg: u16) -> io::Result<()> {
        match ap::frame(self.cfg.phys, msg, cmd, &body) {
            Ok(frame) => self.send_bytes(frame).await,
            Err(e) => {
                // Bodies come from the test driving the pile; tell it, but
                // keep the connection as a real pile would.
                tracing::error!(pile = %self.cfg.pile_id(), error = %e, "e-bike sim pile cannot frame");
                Ok(())
            }
        }
    }

    /// Writes bytes as they are: a frame, the ICCID, a keepalive, or junk.
    async fn send_bytes(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        match self.conn.as_mut() {
            Some(conn) => conn.send(bytes).await,
            None => Ok(()),
        }
    }

    fn heartbeat(&self) -> Vec<u8> {
        let states: Vec<u8> = self.ports.iter().map(Port::state).collect();
        ap::heartbeat(VOLTAGE, &states, SIGNAL, Some(AMBIENT_C))
    }

    async fn send_heartbeat(&mut self) -> io::Result<()> {
        if self.cfg.heartbeat > 0 {
            self.next_heartbeat = self.sim + u64::from(self.cfg.heartbeat);
            self.next_link =
                Some(self.sim + u64::from(self.cfg.heartbeat / 2)).filter(|_| self.cfg.heartbeat >= 2);
        }
        self.send(cmd::HEARTBEAT, self.heartbeat()).await
    }

    async fn on_unit(&mut self, item: Option<io::Result<Frame>>) -> io::Result<()> {
        match item {
            Some(Ok(frame)) => self.on_frame(frame).await,
            Some(Err(e)) => Err(e),
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    /// A frame for a body it cannot read, or no use for.
    fn other(&self, frame: Frame) -> io::Result<()> {
        self.emit(Event::Frame { cmd: frame.cmd, body: frame.body });
        Ok(())
    }

    async fn on_frame(&mut self, frame: Frame) -> io::Result<()> {
        if frame.cmd == cmd::REGISTER {
            let Some(result) = ap::read_ack(&frame.body) else { return self.other(frame) };
            let accepted = result == 0;
            self.emit(Event::Registered { accepted });
            if !accepted {
                return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "register refused"));
            }
            if !self.registered {
                self.registered = true;
                self.on_registered().await?;
            }
            return Ok(());
        }
        if !self.registered {
            // Piles answer nothing before registering.
            return self.other(frame);
        }
        match frame.cmd {
            cmd::TIME => {
                if let Some(now) = ap::read_time(&frame.body) {
                    if !self.clock_set {
                        self.clock_set = true;
                        self.epoch = i64::from(now).saturating_sub(i64::try_from(self.sim).unwrap_or(0));
                    }
                }
                self.other(frame)
            }
            cmd::START_STOP => match ap::read_start_stop(&frame.body) {
                Some(s) => self.on_start_stop(frame, s).await,
                None => self.other(frame),
            },
            // §3.3: the 1-byte ack names its settlement by echoing its MSG.
            cmd::SETTLEMENT if !frame.body.is_empty() => {
                self.on_settlement_ack(frame);
                Ok(())
            }
            cmd::ADJUST => {
                let Some(adjust) = ap::read_adjust(&frame.body) else { return self.other(frame) };
                let port = adjust.port.wrapping_add(1);
                let applied = self.port_mut(port).and_then(|p| p.charge.as_mut()).is_some_and(|c| {
                    match adjust.mode {
                        0 | 1 => c.time_limit = adjust.value.into(),
                        _ => c.energy_limit = Decimal::new(adjust.value.into(), 2),
                    }
                    true
                });
                // §4.2.1: 1 = that port is not charging.
                self.reply(cmd::ADJUST, ap::ack(u8::from(!applied)), frame.msg).await?;
                if applied {
                    self.emit(Event::Adjusted { port, mode: adjust.mode, value: adjust.value });
                    Ok(())
                } else {
                    self.other(frame)
                }
            }
            cmd::LIMITS => {
                let Some(limits) = ap::read_limits(&frame.body) else { return self.other(frame) };
                self.reply(cmd::LIMITS, ap::ack(0), frame.msg).await?;
                self.emit(Event::LimitsSet(limits));
                Ok(())
            }
            cmd::CARD => {
                let Some(r) = ap::read_card_reply(&frame.body) else { return self.other(frame) };
                let balance = r.balance();
                self.emit(Event::CardReply { card: u32::from_be_bytes(r.card), status: r.status, balance });
                Ok(())
            }
            cmd::REBOOT => {
                self.reply(cmd::REBOOT, ap::ack(0), frame.msg).await?;
                self.drop_link();
                self.reopen().await;
                Ok(())
            }
            _ => self.other(frame),
        }
    }

    /// Registered: ask the time, report every port, and send again every
    /// settlement still waiting for its ack.
    async fn on_registered(&mut self) -> io::Result<()> {
        self.send(cmd::TIME, ap::time_request()).await?;
        self.send_heartbeat().await?;
        let retry = u64::from(self.cfg.settle_retry);
        let mut frames = Vec::new();
        for p in &mut self.pending {
            p.resends_left = SETTLE_RESENDS;
            p.next = Some(self.sim + retry);
            frames.push(p.frame.clone());
        }
        for frame in frames {
            self.send_bytes(frame).await?;
        }
        Ok(())
    }

    async fn on_start_stop(&mut self, frame: Frame, s: StartStop) -> io::Result<()> {
        let msg = frame.msg;
        let port = s.port.wrapping_add(1);
        let reply = |result: u8| ap::start_stop_reply(result, s.order, s.port, 0);
        let charging_order = self.port(port).and_then(|p| p.charge.as_ref()).map(|c| c.order);
        if s.command == StartStop::STOP {
            let ours = charging_order.is_some_and(|o| s.order == [0; 16] || s.order == o);
            let result = if ours { result::DONE } else { result::SAME_STATE };
            self.reply(cmd::START_STOP, reply(result), msg).await?;
            if ours {
                return self.stop(port, stop::SERVER).await;
            }
            return self.other(frame);
        }
        let result = match self.port(port) {
            _ if s.command != StartStop::START => result::SAME_STATE,
            None => result::NO_PORT,
            Some(p) if p.charge.is_some() => result::SAME_STATE,
            Some(p) if !p.plugged => result::NOT_PLUGGED,
            Some(_) => result::DONE,
        };
        self.reply(cmd::START_STOP, reply(result), msg).await?;
        let accepted = result == result::DONE;
        if accepted {
            if let Some(p) = self.port_mut(port) {
                p.full = false;
                p.charge = Some(Charge {
                    order: s.order,
                    time_limit: s.limit_secs().map_or(0, u32::from),
                    energy_limit: s.limit_kwh().unwrap_or_default(),
                    max_duration: s.max_duration.into(),
                    overload: s.overload_power,
                    full_power: s.full_power().map_or(Decimal::ZERO, Decimal::from),
                    full_hold: u32::from(s.full_power_max_min) * 60,
                    elapsed: 0,
                    ws: Decimal::ZERO,
                    max_power: Decimal::ZERO,
                    below: 0,
                    power: p.profile.power_at(0),
                    last_report: 0,
                    window: Window::default(),
                });
            }
            self.send_report(port, state::CHARGING).await?;
        }
        self.emit(Event::Started { port, order: order_text(&s.order), accepted });
        Ok(())
    }

    fn on_settlement_ack(&mut self, frame: Frame) {
        match self.pending.iter().position(|p| p.msg == frame.msg) {
            Some(i) => {
                let p = self.pending.remove(i);
                self.emit(Event::SettlementAcked { port: p.port, order: order_text(&p.order) });
            }
            None => self.emit(Event::Frame { cmd: frame.cmd, body: frame.body }),
        }
    }

    async fn on_command(&mut self, command: Command, ticker: &mut Interval) -> io::Result<()> {
        match command {
            Command::Plug(port, plugged) => {
                let Some(p) = self.port_mut(port) else { return Ok(()) };
                p.plugged = plugged;
                if !plugged {
                    p.full = false;
                    if p.charge.is_some() {
                        self.stop(port, stop::UNPLUGGED).await?;
                    }
                }
                self.send_heartbeat().await
            }
            Command::SetProfile(port, profile) => {
                if let Some(p) = self.port_mut(port) {
                    p.profile = profile;
                }
                Ok(())
            }
            Command::Script(port, script) => {
                if let Some(p) = self.port_mut(port) {
                    p.scripts.push(script);
                }
                Ok(())
            }
            Command::SwipeCard(port, card) => {
                // §3.2: a new card (type 1), nothing stored on it.
                let swipe = ap::card_swipe(card.to_be_bytes(), 1, wire(port), 0, unix(self.now()));
                self.send(cmd::CARD, swipe).await
            }
            Command::AskBalance(card) => {
                // §3.2: port 0xFF asks the balance only.
                let query = ap::card_swipe(card.to_be_bytes(), 1, 0xFF, 0, unix(self.now()));
                self.send(cmd::CARD, query).await
            }
            Command::PowerCut => {
                self.powered = false;
                self.drop_link();
                Ok(())
            }
            Command::Restore => {
                if !self.powered {
                    self.powered = true;
                    // No catching up on the steps missed while off.
                    ticker.reset();
                }
                if self.conn.is_none() {
                    self.reopen().await;
                }
                Ok(())
            }
            Command::SendFrame(cmd, body) => {
                let msg = self.next_msg();
                self.reply(cmd, body, msg).await
            }
            Command::Raw(bytes) => self.send_bytes(bytes).await,
            Command::Elapsed(port, reply) => {
                let _ = reply.send(self.port(port).and_then(|p| p.charge.as_ref()).map(|c| c.elapsed));
                Ok(())
            }
        }
    }

    /// One tick of simulated time.
    async fn step(&mut self) -> io::Result<()> {
        let tick = self.cfg.tick;
        self.sim += u64::from(tick);

        let mut stops = Vec::new();
        for (n, port) in (1u8..).zip(&mut self.ports) {
            if let Some(reason) = advance(port, tick) {
                stops.push((n, reason));
            }
        }
        for (port, reason) in stops {
            self.stop(port, reason).await?;
        }

        if self.cfg.report_every > 0 {
            let every = self.cfg.report_every;
            let due: Vec<u8> = (1u8..)
                .zip(&self.ports)
                .filter(|(_, p)| p.charge.as_ref().is_some_and(|c| c.elapsed - c.last_report >= every))
                .map(|(n, _)| n)
                .collect();
            for port in due {
                self.send_report(port, state::CHARGING).await?;
            }
        }

        if self.registered {
            let retry = u64::from(self.cfg.settle_retry);
            let mut due = Vec::new();
            for p in &mut self.pending {
                if p.next.is_some_and(|t| t <= self.sim) {
                    p.resends_left = p.resends_left.saturating_sub(1);
                    p.next = (p.resends_left > 0).then_some(self.sim + retry);
                    due.push(p.frame.clone());
                }
            }
            for frame in due {
                self.send_bytes(frame).await?;
            }

            if self.cfg.heartbeat > 0 && self.sim >= self.next_heartbeat {
                self.send_heartbeat().await?;
            } else if self.next_link.is_some_and(|t| self.sim >= t) {
                self.next_link = None;
                // §1.04: the modem's keepalive, unframed.
                self.send_bytes(b"link".to_vec()).await?;
            }
        }
        Ok(())
    }

    /// Sends a charging report for `port` covering the power since its last
    /// one.
    async fn send_report(&mut self, port: u8, status: u8) -> io::Result<()> {
        let now = unix(self.now());
        let Some(c) = self.port_mut(port).and_then(|p| p.charge.as_mut()) else { return Ok(()) };
        let report = report(port, c, status, now);
        self.send(cmd::REPORT, ap::report(&report)).await
    }

    /// Ends the charge on `port`: a last report if it ended full, then the
    /// settlement, kept for resending until acked. §3.4.2 gives a report
    /// only the states charging, full and float (and a cabinet's waiting):
    /// none is true of a charge that ended otherwise, and reports stop
    /// "once the charge ends", so the settlement alone closes it.
    async fn stop(&mut self, port: u8, reason: u8) -> io::Result<()> {
        let now = unix(self.now());
        let Some(p) = self.port_mut(port) else { return Ok(()) };
        let Some(mut charge) = p.charge.take() else { return Ok(()) };
        p.full = reason == stop::FULL;
        if reason == stop::UNPLUGGED {
            p.plugged = false;
        }
        if p.full {
            let last = report(port, &mut charge, state::FULL, now);
            self.send(cmd::REPORT, ap::report(&last)).await?;
        }

        let settlement = ap::settlement(&ap::Settlement {
            elapsed: clamp_u16(charge.elapsed),
            max_power: charge.max_power,
            kwh: charge.meter(),
            port: wire(port),
            origin: ap::ONLINE,
            card: [0; 4],
            stop_reason: reason,
            order: charge.order,
            second_max_power: charge.max_power,
            time: now,
            occupied_min: 0,
        });
        let msg = self.next_msg();
        match ap::frame(self.cfg.phys, msg, cmd::SETTLEMENT, &settlement) {
            Ok(frame) => {
                if self.registered {
                    self.send_bytes(frame.clone()).await?;
                }
                self.pending.push(Pending {
                    port,
                    order: charge.order,
                    msg,
                    frame,
                    resends_left: SETTLE_RESENDS,
                    next: Some(self.sim + u64::from(self.cfg.settle_retry)),
                });
            }
            Err(e) => {
                tracing::error!(pile = %self.cfg.pile_id(), error = %e, "e-bike sim pile cannot frame its settlement");
            }
        }
        self.emit(Event::Stopped {
            port,
            order: order_text(&charge.order),
            reason,
            elapsed: charge.elapsed,
            kwh: charge.kwh(),
        });
        Ok(())
    }
}

/// Runs `port`'s charge for one step of `tick` seconds; the stop reason if
/// it ends. The power of a step is the profile's at its start.
fn advance(port: &mut Port, tick: u32) -> Option<u8> {
    let c = port.charge.as_mut()?;
    let power = port.profile.power_at(c.elapsed);
    let ws = power * Decimal::from(tick);
    c.ws += ws;
    c.window.ws += ws;
    c.window.secs += tick;
    c.window.max = Some(c.window.max.map_or(power, |m| m.max(power)));
    c.window.min = Some(c.window.min.map_or(power, |m| m.min(power)));
    c.max_power = c.max_power.max(power);
    c.power = power;
    c.elapsed = c.elapsed.saturating_add(tick);
    if !c.full_power.is_zero() && power < c.full_power {
        c.below = c.below.saturating_add(tick);
    } else {
        c.below = 0;
    }

    if !c.overload.is_zero() && power > c.overload {
        return Some(stop::OVERLOAD);
    }
    if c.below > 0 && c.below >= c.full_hold {
        return Some(stop::FULL);
    }
    if c.time_limit > 0 && c.elapsed >= c.time_limit {
        return Some(stop::PRESET_TIME);
    }
    if !c.energy_limit.is_zero() && c.ws >= c.energy_limit * WS_PER_KWH {
        return Some(stop::PRESET_ENERGY);
    }
    if c.max_duration > 0 && c.elapsed >= c.max_duration {
        return Some(stop::MAX_TIME);
    }
    let elapsed = c.elapsed;
    if let Some(i) = port.scripts.iter().position(|Script::UnplugAt(at)| elapsed >= *at) {
        port.scripts.remove(i);
        port.plugged = false;
        return Some(stop::UNPLUGGED);
    }
    None
}

/// A report of `c` covering the power since the last one, which it resets.
fn report(port: u8, c: &mut Charge, status: u8, now: u32) -> ap::Report {
    let w = std::mem::take(&mut c.window);
    c.last_report = c.elapsed;
    let avg = if w.secs > 0 { w.ws / Decimal::from(w.secs) } else { c.power };
    let current = (c.power / VOLTAGE).round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero);
    let port_temp = if status == state::CHARGING { PORT_CHARGING_C } else { AMBIENT_C };
    ap::Report {
        port: wire(port),
        state: status,
        elapsed: clamp_u16(c.elapsed),
        kwh: c.meter(),
        origin: ap::ONLINE,
        power: watts(c.power),
        max_power: watts(w.max.unwrap_or(c.power)),
        min_power: watts(w.min.unwrap_or(c.power)),
        avg_power: watts(avg),
        order: c.order,
        period_kwh: w.ws / WS_PER_KWH,
        peak_power: watts(c.max_power),
        voltage: VOLTAGE,
        current,
        ambient: Some(AMBIENT_C),
        port_temp: Some(port_temp),
        time: now,
        occupied_min: 0,
    }
}

/// Watts as the 0.1 W wire field carries them.
fn watts(w: Decimal) -> Decimal {
    w.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
        .clamp(Decimal::ZERO, Decimal::new(65535, 1))
}

fn clamp_u16(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Unix seconds as the 4-byte wire timestamp carries them.
fn unix(secs: i64) -> u32 {
    u32::try_from(secs.max(0)).unwrap_or(u32::MAX)
}
async fn next_unit(conn: &mut Option<Conn>) -> Option<io::Result<Frame>> {
    match conn {
        Some(conn) => conn.next().await,
        None => std::future::pending().await,
    }
}
