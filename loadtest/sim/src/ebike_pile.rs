//! A simulated DNY e-bike pile on a real TCP connection (or any byte
//! stream, see `EbikePile::connect_with`), in simulated time.
//!
//! `EbikePile::connect` opens the link (ICCID, then register) and spawns a
//! task that plays a multi-port pile: it heartbeats, starts and stops ports
//! on the platform's orders, meters each charge against a power profile,
//! stops by itself (full, preset time or energy, overload, max time, unplug)
//! and repeats the settlement until the platform acks it. The handle steers
//! it (plug, profile, scripted events, card swipe, power cut) and reports
//! what happened as `Event`s. Behaviour follows the AP3000 guide V8.6
//! (`shared/specs/ap3000-v8.6.md`): ports 0-based on the wire, charging
//! reports of status 1 or 3, 1-byte settlement acks matched by MSG. Frames
//! are still built with the platform's codec (`engine::dny`); a simulator
//! written apart from it is issue #16's open item.
//!
//! Time is simulated so tests can assert bills to the cent. The pile's clock
//! advances by exactly `tick` simulated seconds per step, and steps run every
//! `tick / time_scale` real seconds. A late step is still one `tick`, so
//! every elapsed time, energy and timestamp the pile reports depends only on
//! the steps taken, never on scheduling jitter. Every timer (heartbeat,
//! reports, settlement resends) counts simulated seconds.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use engine::dny::{
    pile_id, Ack, CardSwipe, ChargingReport, CodecError, Down, Electric, Frame, FrameFault, Heartbeat,
    Limits, OrderNo, Register, Settlement, StartStop, StartStopReply, StreamCodec, TimeRequest, Unit, Up,
};
use engine::domain::PileId;
use futures::{SinkExt, StreamExt};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::codec::Framed;

use crate::{BoxIo, Dialer};

/// Unread events kept per pile. A load test never reads them, so the rest
/// are dropped rather than growing without bound.
const EVENT_BACKLOG: usize = 4096;
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

/// Port states of the heartbeat (spec V8.6 §3.1) and of the charging
/// report (§3.4.2: 1 charging, 3 full).
mod state {
    pub const IDLE: u8 = 0;
    pub const CHARGING: u8 = 1;
    pub const PLUGGED: u8 = 2;
    pub const FULL: u8 = 3;
}

/// Stop reasons of the settlement (§3.3).
pub mod stop {
    pub const FULL: u8 = 0x01;
    pub const MAX_TIME: u8 = 0x02;
    pub const PRESET_TIME: u8 = 0x03;
    pub const PRESET_ENERGY: u8 = 0x04;
    pub const UNPLUGGED: u8 = 0x05;
    pub const OVERLOAD: u8 = 0x06;
    pub const SERVER: u8 = 0x07;
}

/// Results of a start or stop command (§4.2).
mod result {
    pub const DONE: u8 = 0x00;
    pub const NOT_PLUGGED: u8 = 0x01;
    pub const SAME_STATE: u8 = 0x02;
    pub const NO_PORT: u8 = 0x04;
}

/// Ports are 0-based on the wire (0x00 = port 1).
fn wire(port: u8) -> u8 {
    port.wrapping_sub(1)
}

#[derive(Clone, Debug)]
pub struct EbikeConfig {
    /// Device id; the top byte is the device type (0x05 = 10-port pile).
    pub phys: u32,
    pub ports: u8,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Simulated seconds per step.
    pub tick: u32,
    /// Heartbeat interval, simulated seconds; a `link` keepalive goes out
    /// halfway between heartbeats. 0 = none.
    pub heartbeat: u32,
    /// Charging report interval, simulated seconds of a charge. 0 = only at
    /// start and stop.
    pub report_every: u32,
    /// Interval between settlement resends, simulated seconds.
    pub settle_retry: u32,
    /// Sent unframed right after connecting: 20 hex characters.
    pub iccid: String,
}

impl EbikeConfig {
    /// A 10-port pile in real time with the protocol's intervals.
    pub fn new(phys: u32) -> Self {
        EbikeConfig {
            phys,
            ports: 10,
            time_scale: 1.0,
            tick: 1,
            heartbeat: 180,
            report_every: 300,
            settle_retry: 60,
            iccid: format!("8986{phys:016X}"),
        }
    }

    pub fn pile_id(&self) -> PileId {
        pile_id(self.phys)
    }

    /// Real time between steps.
    fn step_period(&self) -> io::Result<Duration> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_owned());
        if self.tick == 0 {
            return Err(invalid("tick must be at least one simulated second"));
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(invalid("time_scale must be a positive number"));
        }
        let secs = f64::from(self.tick) / self.time_scale;
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d >= Duration::from_micros(1))
            .ok_or_else(|| invalid("tick / time_scale must be between 1 µs and forever"))
    }
}

/// The power a port draws over a charge, by seconds since it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Watts, throughout.
    Constant(Decimal),
    /// (elapsed seconds, watts from then on); 0 W before the first step.
    Steps(Vec<(u32, Decimal)>),
    /// A battery: `charge_w` for `cc_secs`, then a linear taper to
    /// `trickle_w` over `taper_secs`, then `trickle_w`.
    Battery { charge_w: Decimal, cc_secs: u32, taper_secs: u32, trickle_w: Decimal },
}

impl Default for Profile {
    /// An e-bike battery: 180 W for 3 h, tapering to 2 W over 1 h.
    fn default() -> Self {
        Profile::Battery {
            charge_w: Decimal::from(180),
            cc_secs: 3 * 3600,
            taper_secs: 3600,
            trickle_w: Decimal::from(2),
        }
    }
}

impl Profile {
    /// Watts drawn `elapsed` seconds into a charge.
    pub fn power_at(&self, elapsed: u32) -> Decimal {
        match self {
            Profile::Constant(w) => *w,
            Profile::Steps(steps) => steps
                .iter()
                .filter(|(at, _)| *at <= elapsed)
                .max_by_key(|(at, _)| *at)
                .map_or(Decimal::ZERO, |s| s.1),
            Profile::Battery { charge_w, cc_secs, taper_secs, trickle_w } => {
                if elapsed < *cc_secs {
                    *charge_w
                } else if elapsed - cc_secs < *taper_secs {
                    let into = Decimal::from(elapsed - cc_secs);
                    *charge_w - (*charge_w - *trickle_w) * into / Decimal::from(*taper_secs)
                } else {
                    *trickle_w
                }
            }
        }
    }
}

/// Something that happens to a port at a given point of its charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Script {
    /// The rider unplugs this many seconds into the charge (the first step
    /// at or past it), ending it with stop reason 5.
    UnplugAt(u32),
}

/// What the platform did, and what the pile did by itself, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Registered {
        accepted: bool,
    },
    /// A start command, accepted or refused.
    Started {
        port: u8,
        order: String,
        accepted: bool,
    },
    /// The pile ended a charge (before its settlement is acked). `kwh` is
    /// at full precision; the settlement carries it truncated to 0.01.
    Stopped {
        port: u8,
        order: String,
        reason: u8,
        elapsed: u32,
        kwh: Decimal,
    },
    SettlementAcked {
        port: u8,
        order: String,
    },
    /// An adjust (0x8A) was applied: its fee mode and its new limit,
    /// seconds or 0.01 kWh.
    Adjusted {
        port: u8,
        mode: u8,
        value: u16,
    },
    LimitsSet(Limits),
    /// The platform's go/no-go on a swiped card. A go starts nothing: the
    /// platform still sends a start command.
    CardReply {
        card: u32,
        status: u8,
        balance: Option<Decimal>,
    },
    /// Any other inbound message, including everything before registration.
    Frame(Down),
    /// The connection ended (power cut, reboot, closed by the platform,
    /// refused, or could not be opened).
    Closed,
}

enum Command {
    Plug(u8, bool),
    SetProfile(u8, Profile),
    Script(u8, Script),
    SwipeCard(u8, u32),
    PowerCut,
    Restore,
    Send(Box<Up>),
    Raw(Vec<u8>),
    Elapsed(u8, oneshot::Sender<Option<u32>>),
}

/// A handle on a running simulated pile. Dropping it powers the pile off
/// for good.
pub struct EbikePile {
    id: PileId,
    phys: u32,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
}

impl EbikePile {
    /// Connects and sends the ICCID and the register; does not wait for the
    /// reply. Every port starts unplugged with the default profile.
    pub async fn connect(addr: SocketAddr, cfg: EbikeConfig) -> io::Result<EbikePile> {
        Self::connect_with(Dialer::tcp(addr), cfg).await
    }

    /// Like `connect`, over connections `dialer` opens (a new one after each
    /// power cut or reboot).
    pub async fn connect_with(dialer: Dialer, cfg: EbikeConfig) -> io::Result<EbikePile> {
        // A heartbeat carries a byte per port in at most 242 bytes of data.
        if !(1..=237).contains(&cfg.ports) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a pile has 1 to 237 ports"));
        }
        let period = cfg.step_period()?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::channel(EVENT_BACKLOG);
        let id = cfg.pile_id();
        let phys = cfg.phys;
        let mut pile = Pile {
            ports: (0..cfg.ports).map(|_| Port::default()).collect(),
            cfg,
            dialer,
            conn: None,
            events: event_tx,
            powered: true,
            registered: false,
            msg: 0,
            sim: 0,
            epoch: Utc::now().timestamp(),
            clock_set: false,
            next_heartbeat: 0,
            next_link: None,
            pending: Vec::new(),
        };
        pile.open().await?;
        let task = tokio::spawn(pile.run(command_rx, period));
        Ok(EbikePile { id, phys, commands, events, task })
    }

    pub fn id(&self) -> &PileId {
        &self.id
    }

    pub fn phys(&self) -> u32 {
        self.phys
    }

    /// The next event; `None` once the pile is gone and every event was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The first event matching `pred` within `timeout`, skipping others.
    pub async fn wait_for(&mut self, pred: impl FnMut(&Event) -> bool, timeout: Duration) -> Option<Event> {
        crate::wait_for(&mut self.events, pred, timeout).await
    }

    /// A bike is plugged into (or unplugged from) `port`. The pile sends a
    /// heartbeat at once; unplugging a charging port ends its charge with
    /// stop reason 5.
    pub fn plug(&self, port: u8, plugged: bool) {
        self.command(Command::Plug(port, plugged));
    }

    /// The power profile of `port`'s next charges, and of its current one
    /// from now on.
    pub fn set_profile(&self, port: u8, profile: Profile) {
        self.command(Command::SetProfile(port, profile));
    }

    /// Adds a scripted event to `port`; it fires once, during a charge.
    pub fn script(&self, port: u8, script: Script) {
        self.command(Command::Script(port, script));
    }

    /// A card is swiped at `port` (0x02).
    pub fn swipe_card(&self, port: u8, card: u32) {
        self.command(Command::SwipeCard(port, card));
    }

    /// Drops the connection at once and freezes the pile's clock. Ports
    /// keep their state, charges included; nothing advances while off.
    pub fn power_cut(&self) {
        self.command(Command::PowerCut);
    }

    /// Powers the pile back on (or reconnects after the platform closed
    /// the link): new connection, ICCID, register, and once accepted a time
    /// request, a heartbeat and every unacknowledged settlement. Charges
    /// resume where they were.
    pub fn restore(&self) {
        self.command(Command::Restore);
    }

    /// Originates any message with the pile's own message counter.
    pub fn send(&self, msg: Up) {
        self.command(Command::Send(Box::new(msg)));
    }

    /// Writes bytes as they are, for bad-input tests.
    pub fn send_raw(&self, bytes: Vec<u8>) {
        self.command(Command::Raw(bytes));
    }

    /// Seconds into the charge on `port`, or `None` if it is not charging.
    pub async fn elapsed(&self, port: u8) -> Option<u32> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Elapsed(port, tx));
        rx.await.ok().flatten()
    }

    /// Drops the TCP connection and the pile with it.
    pub fn close(self) {}

    fn command(&self, c: Command) {
        // The task only ends with the handle, when commands are moot.
        let _ = self.commands.send(c);
    }
}

impl Drop for EbikePile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Port {
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

struct Charge {
    order: OrderNo,
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
struct Pending {
    port: u8,
    order: OrderNo,
    /// The settlement frame's MSG, which its ack echoes.
    msg: u16,
    frame: Frame,
    resends_left: u8,
    /// Simulated second of the next resend; `None` once they are used up on
    /// this connection (a new one sends it again).
    next: Option<u64>,
}

type Conn = Framed<BoxIo, StreamCodec>;

/// The pile's side, owned by its task.
struct Pile {
    cfg: EbikeConfig,
    dialer: Dialer,
    conn: Option<Conn>,
    events: mpsc::Sender<Event>,
    /// Off after a power cut: no connection, clock frozen.
    powered: bool,
    registered: bool,
    msg: u16,
    /// Simulated seconds since the pile was created; advances only by steps.
    sim: u64,
    /// Simulated unix time at `sim` = 0.
    epoch: i64,
    /// Whether the clock was set by a time reply.
    clock_set: bool,
    next_heartbeat: u64,
    next_link: Option<u64>,
    ports: Vec<Port>,
    pending: Vec<Pending>,
}

impl Pile {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, period: Duration) {
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
    async fn open(&mut self) -> io::Result<()> {
        let stream = self.dialer.dial().await?;
        let mut conn = Framed::new(stream, StreamCodec::new());
        conn.send(Unit::Iccid(self.cfg.iccid.clone())).await?;
        let register = Register {
            firmware: FIRMWARE,
            ports: self.cfg.ports,
            virtual_id: 0,
            device_type: self.cfg.phys.to_be_bytes()[0],
            work_mode: 0,
            power_board: POWER_BOARD,
        };
        let msg = self.next_msg();
        let frame = Up::Register(register).encode(self.cfg.phys, msg).map_err(io::Error::other)?;
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
    async fn send(&mut self, up: Up) -> io::Result<()> {
        if !self.registered {
            return Ok(());
        }
        let msg = self.next_msg();
        self.reply(up, msg).await
    }

    /// Sends a message with a given MSG (a reply echoes its request's).
    async fn reply(&mut self, up: Up, msg: u16) -> io::Result<()> {
        match up.encode(self.cfg.phys, msg) {
            Ok(frame) => self.send_frame(frame).await,
            Err(e) => {
                // Values come from the test driving the pile; tell it, but
                // keep the connection as a real pile would.
                tracing::error!(pile = %self.cfg.pile_id(), cmd = up.cmd(), error = %e, "e-bike sim pile cannot encode");
                Ok(())
            }
        }
    }

    async fn send_frame(&mut self, frame: Frame) -> io::Result<()> {
        match self.conn.as_mut() {
            Some(conn) => conn.send(frame).await,
            None => Ok(()),
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            voltage: VOLTAGE,
            ports: self.ports.iter().map(Port::state).collect(),
            signal: SIGNAL,
            temperature: Some(AMBIENT_C),
        }
    }

    async fn send_heartbeat(&mut self) -> io::Result<()> {
        if self.cfg.heartbeat > 0 {
            self.next_heartbeat = self.sim + u64::from(self.cfg.heartbeat);
            self.next_link =
                Some(self.sim + u64::from(self.cfg.heartbeat / 2)).filter(|_| self.cfg.heartbeat >= 2);
        }
        self.send(self.heartbeat().into()).await
    }

    async fn on_unit(
        &mut self,
        item: Option<Result<Result<Unit, FrameFault>, CodecError>>,
    ) -> io::Result<()> {
        match item {
            Some(Ok(Ok(Unit::Frame(frame)))) => self.on_frame(frame).await,
            Some(Ok(Ok(_))) => Ok(()), // keepalive or ICCID: nothing to do
            Some(Ok(Err(fault))) => {
                tracing::debug!(pile = %self.cfg.pile_id(), %fault, "e-bike sim pile dropped input");
                Ok(())
            }
            Some(Err(e)) => Err(io::Error::other(e)),
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    async fn on_frame(&mut self, frame: Frame) -> io::Result<()> {
        let down = match Down::decode(&frame) {
            Ok(down) => down,
            Err(e) => {
                tracing::warn!(pile = %self.cfg.pile_id(), error = %e, "e-bike sim pile got an undecodable frame");
                return Ok(());
            }
        };
        if let Down::RegisterReply(ack) = down {
            self.emit(Event::Registered { accepted: ack.is_ok() });
            if !ack.is_ok() {
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
            self.emit(Event::Frame(down));
            return Ok(());
        }
        match down {
            Down::Time(t) => {
                if !self.clock_set {
                    self.clock_set = true;
                    self.epoch = t.now.timestamp().saturating_sub(i64::try_from(self.sim).unwrap_or(0));
                }
                self.emit(Event::Frame(Down::Time(t)));
                Ok(())
            }
            Down::StartStop(s) => self.on_start_stop(frame.msg, s).await,
            // The 1-byte ack names its settlement by echoing its MSG.
            Down::SettlementAck(_) => {
                self.on_settlement_ack(frame.msg);
                Ok(())
            }
            Down::Adjust(adjust) => {
                let port = adjust.port.wrapping_add(1);
                let applied = self.port_mut(port).and_then(|p| p.charge.as_mut()).is_some_and(|c| {
                    match adjust.mode {
                        0 | 1 => c.time_limit = adjust.value.into(),
                        _ => c.energy_limit = Decimal::new(adjust.value.into(), 2),
                    }
                    true
                });
                self.reply(Up::AdjustReply(Ack { result: u8::from(!applied) }), frame.msg).await?;
                self.emit(if applied {
                    Event::Adjusted { port, mode: adjust.mode, value: adjust.value }
                } else {
                    Event::Frame(Down::Adjust(adjust))
                });
                Ok(())
            }
            Down::Limits(limits) => {
                self.reply(Up::LimitsReply(Ack::OK), frame.msg).await?;
                self.emit(Event::LimitsSet(limits));
                Ok(())
            }
            Down::CardReply(r) => {
                let balance = match r.credit {
                    engine::dny::Credit::Balance(b) => Some(b),
                    engine::dny::Credit::ValidUntil(_) => None,
                };
                self.emit(Event::CardReply { card: u32::from_be_bytes(r.card), status: r.status, balance });
                Ok(())
            }
            Down::Reboot(_) => {
                self.reply(Up::RebootReply(Ack::OK), frame.msg).await?;
                self.drop_link();
                self.reopen().await;
                Ok(())
            }
            other => {
                self.emit(Event::Frame(other));
                Ok(())
            }
        }
    }

    /// Registered: ask the time, report every port, and send again every
    /// settlement still waiting for its ack.
    async fn on_registered(&mut self) -> io::Result<()> {
        self.send(TimeRequest.into()).await?;
        self.send_heartbeat().await?;
        let retry = u64::from(self.cfg.settle_retry);
        let mut frames = Vec::new();
        for p in &mut self.pending {
            p.resends_left = SETTLE_RESENDS;
            p.next = Some(self.sim + retry);
            frames.push(p.frame.clone());
        }
        for frame in frames {
            self.send_frame(frame).await?;
        }
        Ok(())
    }

    async fn on_start_stop(&mut self, msg: u16, s: StartStop) -> io::Result<()> {
        let port = s.port.wrapping_add(1);
        let reply = |result: u8| StartStopReply { result, order: s.order, port: s.port, pending: 0 };
        let charging_order = self.port(port).and_then(|p| p.charge.as_ref()).map(|c| c.order);
        if s.command == StartStop::STOP {
            let ours = charging_order.is_some_and(|o| s.order.is_empty() || s.order == o);
            let result = if ours { result::DONE } else { result::SAME_STATE };
            self.reply(reply(result).into(), msg).await?;
            if ours {
                return self.stop(port, stop::SERVER).await;
            }
            self.emit(Event::Frame(Down::StartStop(s)));
            return Ok(());
        }
        let result = match self.port(port) {
            _ if s.command != StartStop::START => result::SAME_STATE,
            None => result::NO_PORT,
            Some(p) if p.charge.is_some() => result::SAME_STATE,
            Some(p) if !p.plugged => result::NOT_PLUGGED,
            Some(_) => result::DONE,
        };
        self.reply(reply(result).into(), msg).await?;
        let accepted = result == result::DONE;
        if accepted {
            let extras = s.extras.unwrap_or(engine::dny::StartExtras::DEFAULT);
            if let Some(p) = self.port_mut(port) {
                p.full = false;
                p.charge = Some(Charge {
                    order: s.order,
                    time_limit: s.limit_secs().map_or(0, u32::from),
                    energy_limit: s.limit_kwh().unwrap_or_default(),
                    max_duration: s.max_duration.into(),
                    overload: s.overload_power,
                    full_power: Decimal::from(extras.full_power_w),
                    full_hold: u32::from(extras.full_power_max_min) * 60,
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
        self.emit(Event::Started { port, order: s.order.to_text(), accepted });
        Ok(())
    }

    fn on_settlement_ack(&mut self, msg: u16) {
        match self.pending.iter().position(|p| p.msg == msg) {
            Some(i) => {
                let p = self.pending.remove(i);
                self.emit(Event::SettlementAcked { port: p.port, order: p.order.to_text() });
            }
            None => self.emit(Event::Frame(Down::SettlementAck(Ack::OK))),
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
                let swipe = CardSwipe {
                    card: card.to_be_bytes(),
                    card_type: 1,
                    port: wire(port),
                    card_balance: Decimal::ZERO,
                    time: Some(unix(self.now())),
                    card2: None,
                };
                self.send(swipe.into()).await
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
            Command::Send(up) => {
                let msg = self.next_msg();
                self.reply(*up, msg).await
            }
            Command::Raw(bytes) => match self.conn.as_mut() {
                Some(conn) => {
                    let stream = conn.get_mut();
                    stream.write_all(&bytes).await?;
                    stream.flush().await
                }
                None => Ok(()),
            },
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
                self.send_frame(frame).await?;
            }

            if self.cfg.heartbeat > 0 && self.sim >= self.next_heartbeat {
                self.send_heartbeat().await?;
            } else if self.next_link.is_some_and(|t| self.sim >= t) {
                self.next_link = None;
                if let Some(conn) = self.conn.as_mut() {
                    conn.send(Unit::Keepalive).await?;
                }
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
        self.send(report.into()).await
    }

    /// Ends the charge on `port`: a last report, then the settlement, kept
    /// for resending until acked.
    async fn stop(&mut self, port: u8, reason: u8) -> io::Result<()> {
        let now = unix(self.now());
        let Some(p) = self.port_mut(port) else { return Ok(()) };
        let Some(mut charge) = p.charge.take() else { return Ok(()) };
        p.full = reason == stop::FULL;
        if reason == stop::UNPLUGGED {
            p.plugged = false;
        }
        // A charging report carries only charging (1) or full (3).
        let status = if p.full { state::FULL } else { state::CHARGING };
        let last = report(port, &mut charge, status, now);
        self.send(last.into()).await?;

        let settlement = Settlement {
            elapsed: clamp_u16(charge.elapsed),
            max_power: watts(charge.max_power),
            energy: charge.meter(),
            port: wire(port),
            origin: engine::dny::origin::ONLINE,
            card: [0; 4],
            stop_reason: reason,
            order: charge.order,
            second_max_power: Some(watts(charge.max_power)),
            time: Some(now),
            occupied_min: None,
        };
        let msg = self.next_msg();
        match Up::Settlement(settlement).encode(self.cfg.phys, msg) {
            Ok(frame) => {
                if self.registered {
                    self.send_frame(frame.clone()).await?;
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
                tracing::error!(pile = %self.cfg.pile_id(), error = %e, "e-bike sim pile cannot encode its settlement");
            }
        }
        self.emit(Event::Stopped {
            port,
            order: charge.order.to_text(),
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
fn report(port: u8, c: &mut Charge, status: u8, now: DateTime<Utc>) -> ChargingReport {
    let w = std::mem::take(&mut c.window);
    c.last_report = c.elapsed;
    let avg = if w.secs > 0 { w.ws / Decimal::from(w.secs) } else { c.power };
    let current = (c.power / VOLTAGE).round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero);
    let port_temp = if status == state::CHARGING { PORT_CHARGING_C } else { AMBIENT_C };
    ChargingReport {
        port: wire(port),
        status,
        elapsed: clamp_u16(c.elapsed),
        energy: c.meter(),
        origin: engine::dny::origin::ONLINE,
        power: watts(c.power),
        max_power: watts(w.max.unwrap_or(c.power)),
        min_power: watts(w.min.unwrap_or(c.power)),
        avg_power: watts(avg),
        order: c.order,
        period_energy: Some(0),
        peak_power: Some(watts(c.max_power)),
        electric: Some(Electric { voltage: VOLTAGE, current: current.min(Decimal::new(65535, 3)) }),
        temperatures: Some((Some(AMBIENT_C), Some(port_temp))),
        time: Some(now),
        occupied_min: None,
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

fn unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs.clamp(0, u32::MAX.into()), 0).unwrap_or_default()
}

async fn next_unit(conn: &mut Option<Conn>) -> Option<Result<Result<Unit, FrameFault>, CodecError>> {
    match conn {
        Some(conn) => conn.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use engine::dny::{fee_mode, Adjust, CardReply, Credit, Time};
    use rust_decimal_macros::dec;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// The platform's side of a test connection.
    type Conn = Framed<TcpStream, StreamCodec>;

    const WAIT: Duration = Duration::from_secs(5);
    const PHYS: u32 = 0x05A1_B2C3;
    /// 2026-03-01 08:00:00 UTC, what the platform tells the pile.
    const T0: i64 = 1_772_352_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config(time_scale: f64) -> EbikeConfig {
        EbikeConfig { time_scale, ..EbikeConfig::new(PHYS) }
    }

    fn order(text: &str) -> OrderNo {
        OrderNo::from_text(text, "order").unwrap()
    }

    /// A start of `port` (1-based; the wire's is 0-based).
    fn start(port: u8, text: &str, fee_mode: u8, limit: u16) -> StartStop {
        StartStop {
            fee_mode,
            credit: Credit::Balance(dec!(5.00)),
            port: wire(port),
            command: StartStop::START,
            limit,
            order: order(text),
            max_duration: 36000,
            overload_power: dec!(0),
            extras: Some(engine::dny::StartExtras::DEFAULT),
        }
    }

    /// The platform's side: a bare socket speaking the codec.
    struct Platform {
        listener: TcpListener,
        conn: Conn,
        msg: u16,
    }

    impl Platform {
        /// Starts a pile against a fresh listener and registers it.
        async fn start(cfg: EbikeConfig) -> (Platform, EbikePile) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut pile = EbikePile::connect(listener.local_addr().unwrap(), cfg.clone()).await.unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let mut platform =
                Platform { listener, conn: Framed::new(socket, StreamCodec::new()), msg: 0x100 };
            platform.handshake(&mut pile, &cfg, T0).await;
            (platform, pile)
        }

        /// Takes the pile's next connection.
        async fn accept(&mut self) {
            let (socket, _) = tokio::time::timeout(WAIT, self.listener.accept()).await.unwrap().unwrap();
            self.conn = Framed::new(socket, StreamCodec::new());
        }

        /// ICCID, register (accepted), time request (answered with `now`).
        async fn handshake(&mut self, pile: &mut EbikePile, cfg: &EbikeConfig, now: i64) {
            assert_eq!(self.unit().await, Unit::Iccid(cfg.iccid.clone()));
            let Unit::Frame(frame) = self.unit().await else { panic!("expected the register frame") };
            assert_eq!(frame.phys, cfg.phys);
            let Up::Register(reg) = Up::decode(&frame).unwrap() else {
                panic!("expected register, got {frame:?}")
            };
            assert_eq!((reg.ports, reg.firmware, reg.device_type), (cfg.ports, 0x0102, 0x05));
            self.reply(Down::RegisterReply(Ack::OK), frame.msg).await;
            let registered = pile.wait_for(|e| matches!(e, Event::Registered { .. }), WAIT).await;
            assert_eq!(registered, Some(Event::Registered { accepted: true }));
            let (msg, up) = self.recv().await;
            assert_eq!(up, Up::TimeRequest(TimeRequest));
            self.reply(Time { now: unix(now) }.into(), msg).await;
        }

        async fn unit(&mut self) -> Unit {
            let item = tokio::time::timeout(WAIT, self.conn.next()).await.expect("nothing in time");
            item.expect("pile hung up").unwrap().unwrap()
        }

        async fn send(&mut self, down: Down) -> u16 {
            self.msg += 1;
            self.reply(down, self.msg).await;
            self.msg
        }

        async fn reply(&mut self, down: Down, msg: u16) {
            self.conn.send(down.encode(PHYS, msg).unwrap()).await.unwrap();
        }

        /// The next frame other than a heartbeat, with its MSG.
        async fn recv(&mut self) -> (u16, Up) {
            loop {
                if let Unit::Frame(frame) = self.unit().await {
                    let up = Up::decode(&frame).unwrap();
                    if !matches!(up, Up::Heartbeat(_)) {
                        return (frame.msg, up);
                    }
                }
            }
        }

        async fn recv_heartbeat(&mut self) -> Heartbeat {
            loop {
                if let Unit::Frame(frame) = self.unit().await {
                    if let Up::Heartbeat(hb) = Up::decode(&frame).unwrap() {
                        return hb;
                    }
                }
            }
        }

        async fn recv_report(&mut self) -> ChargingReport {
            match self.recv().await {
                (_, Up::ChargingReport(r)) => r,
                other => panic!("expected 0x06, got {other:?}"),
            }
        }

        /// The next settlement, skipping reports, with its MSG.
        async fn recv_settlement(&mut self) -> (u16, Settlement) {
            loop {
                match self.recv().await {
                    (msg, Up::Settlement(s)) => return (msg, s),
                    (_, Up::ChargingReport(_)) => {}
                    other => panic!("expected 0x03, got {other:?}"),
                }
            }
        }

        /// Every frame but heartbeats arriving within `d`.
        async fn collect(&mut self, d: Duration) -> Vec<Up> {
            let mut out = Vec::new();
            let _ = tokio::time::timeout(d, async {
                while let Some(Ok(Ok(unit))) = self.conn.next().await {
                    if let Unit::Frame(frame) = unit {
                        let up = Up::decode(&frame).unwrap();
                        if !matches!(up, Up::Heartbeat(_)) {
                            out.push(up);
                        }
                    }
                }
            })
            .await;
            out
        }

        /// Plugs `port` in and waits for the heartbeat that shows it (so the
        /// pile has also applied every command sent before).
        async fn plug(&mut self, pile: &EbikePile, port: u8) {
            pile.plug(port, true);
            loop {
                let hb = self.recv_heartbeat().await;
                if hb.ports.get(usize::from(port) - 1) == Some(&state::PLUGGED) {
                    return;
                }
            }
        }

        /// Starts a charge and checks the reply and the first report.
        async fn start_charge(&mut self, pile: &mut EbikePile, s: StartStop) -> ChargingReport {
            let (wire_port, order) = (s.port, s.order);
            let msg = self.send(s.into()).await;
            let (reply_msg, up) = self.recv().await;
            assert_eq!(reply_msg, msg);
            let reply = StartStopReply { result: 0, order, port: wire_port, pending: 0 };
            assert_eq!(up, Up::StartStopReply(reply));
            let first = self.recv_report().await;
            assert_eq!((first.port, first.status, first.elapsed, first.energy), (wire_port, 1, 0, dec!(0)));
            assert_eq!(first.order, order);
            let (port, order) = (wire_port + 1, order.to_text());
            let ours = |e: &Event| matches!(e, Event::Started { port: p, order: o, .. } if *p == port && *o == order);
            let started = pile.wait_for(ours, WAIT).await;
            assert_eq!(started, Some(Event::Started { port, order, accepted: true }));
            first
        }

        /// Acknowledges the settlement that came with `msg` (the 1-byte ack
        /// echoes its MSG).
        async fn ack(&mut self, msg: u16) {
            self.reply(Down::SettlementAck(Ack::OK), msg).await;
        }
    }

    /// The pile's `Stopped` event for `order`.
    async fn stopped(pile: &mut EbikePile, order: &str) -> Event {
        let ours = |e: &Event| matches!(e, Event::Stopped { order: o, .. } if o == order);
        pile.wait_for(ours, WAIT).await.expect("no stop in time")
    }

    #[test]
    fn profiles() {
        let battery = Profile::default();
        assert_eq!(battery.power_at(0), dec!(180));
        assert_eq!(battery.power_at(10_799), dec!(180));
        assert_eq!(battery.power_at(10_800), dec!(180));
        assert_eq!(battery.power_at(10_800 + 1800), dec!(91));
        assert_eq!(battery.power_at(10_800 + 3060), dec!(28.7));
        assert_eq!(battery.power_at(14_400), dec!(2));
        assert_eq!(battery.power_at(u32::MAX), dec!(2));
        let steps = Profile::Steps(vec![(60, dec!(300)), (10, dec!(100))]);
        assert_eq!(
            (steps.power_at(0), steps.power_at(10), steps.power_at(59)),
            (dec!(0), dec!(100), dec!(100))
        );
        assert_eq!(steps.power_at(60), dec!(300));
        let no_taper =
            Profile::Battery { charge_w: dec!(100), cc_secs: 10, taper_secs: 0, trickle_w: dec!(1) };
        assert_eq!((no_taper.power_at(9), no_taper.power_at(10)), (dec!(100), dec!(1)));
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(EbikeConfig::new(PHYS).step_period().is_ok());
        assert!(EbikeConfig { tick: 0, ..EbikeConfig::new(PHYS) }.step_period().is_err());
        for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(config(scale).step_period().is_err(), "{scale}");
        }
        assert_eq!(config(600.0).step_period().unwrap(), Duration::from_secs_f64(1.0 / 600.0));
        assert_eq!(EbikeConfig::new(PHYS).iccid, "89860000000005A1B2C3");
    }

    /// 150 W for a 600 s time-mode charge: 90 000 Ws = 0.025 kWh, which the
    /// 0.01 kWh wire field carries as 0.02.
    #[tokio::test]
    async fn time_mode_charge_settles_exactly() {
        let (mut platform, mut pile) = Platform::start(config(600.0)).await;
        pile.set_profile(3, Profile::Constant(dec!(150)));
        platform.plug(&pile, 3).await;

        let first = platform.start_charge(&mut pile, start(3, "ORDER0001", fee_mode::TIME, 600)).await;
        let electric = first.electric.unwrap();
        assert_eq!(
            (first.avg_power, electric.voltage, electric.current),
            (dec!(150), dec!(220.0), dec!(0.682))
        );
        // 300 s in: 45 000 Ws = 0.0125 kWh.
        let mid = platform.recv_report().await;
        assert_eq!((mid.status, mid.elapsed, mid.energy), (1, 300, dec!(0.01)));
        assert_eq!((mid.avg_power, mid.max_power, mid.min_power), (dec!(150), dec!(150), dec!(150)));

        let last = platform.recv_report().await;
        // A report carries only charging (1) or full (3).
        assert_eq!((last.status, last.elapsed, last.energy), (1, 600, dec!(0.02)));
        let (msg, s) = platform.recv_settlement().await;
        // Port 3 is 2 on the wire.
        assert_eq!((s.port, s.elapsed, s.energy, s.max_power), (2, 600, dec!(0.02), dec!(150)));
        assert_eq!((s.order.to_text().as_str(), s.stop_reason), ("ORDER0001", stop::PRESET_TIME));
        assert!(s.time.unwrap().timestamp() >= T0 + 600, "the clock starts at the platform's time");
        assert_eq!(
            stopped(&mut pile, "ORDER0001").await,
            Event::Stopped { port: 3, order: "ORDER0001".into(), reason: 3, elapsed: 600, kwh: dec!(0.025) }
        );
        // Not acked: resent, the same frame, 60 simulated seconds later.
        let (resent_msg, resent) = platform.recv_settlement().await;
        assert_eq!((resent_msg, &resent), (msg, &s));

        platform.ack(msg).await;
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::SettlementAcked { .. }), WAIT).await,
            Some(Event::SettlementAcked { port: 3, order: "ORDER0001".into() })
        );
        // 180 simulated seconds: three resend periods.
        let later = platform.collect(ms(300)).await;
        assert!(later.iter().all(|m| !matches!(m, Up::Settlement(_))), "resent after ack: {later:?}");
        let hb = platform.recv_heartbeat().await;
        assert_eq!(hb.ports[2], state::PLUGGED);
        assert_eq!(hb.ports.len(), 10);
    }

    /// The default battery (180 W for 3 h, then 178 W of taper over 1 h) in
    /// 60 s steps, full under 30 W held for 60 s. Taper step k (k = 0, 1, …,
    /// 60 s apart) draws 180 − 178·k/60 W: k = 50 draws 31.67 W, k = 51
    /// draws 28.7 W, so the first step under 30 W starts at 10 800 + 3 060 s
    /// and the charge is full after it, at 13 920 s. Energy: 180 W ×
    /// 10 800 s = 1 944 000 Ws; taper k = 0..=50: 60 × (51 × 180 − 178/60 ×
    /// 1 275) = 323 850 Ws; k = 51: 28.7 × 60 = 1 722 Ws; in all 2 269 572 Ws
    /// = 0.630 436 7 kWh, 0.63 on the wire.
    #[tokio::test]
    async fn battery_charge_stops_when_full() {
        let cfg = EbikeConfig { tick: 60, time_scale: 36_000.0, ..EbikeConfig::new(PHYS) };
        let (mut platform, mut pile) = Platform::start(cfg).await;
        platform.plug(&pile, 7).await;
        let extras = engine::dny::StartExtras {
            full_power_w: 30,
            full_power_max_min: 1,
            ..engine::dny::StartExtras::DEFAULT
        };
        let s = StartStop { extras: Some(extras), ..start(7, "FULL1", fee_mode::TIME, 0) };
        platform.start_charge(&mut pile, s).await;

        let mut reports = Vec::new();
        let (_, settlement) = loop {
            match platform.recv().await {
                (_, Up::ChargingReport(r)) => reports.push(r),
                (msg, Up::Settlement(s)) => break (msg, s),
                other => panic!("unexpected {other:?}"),
            }
        };
        let (last, periodic) = reports.split_last().unwrap();
        assert_eq!(periodic.len(), 13_920 / 300);
        for (i, r) in (1..).zip(periodic) {
            assert_eq!((r.elapsed, r.status), (300 * i, 1));
        }
        assert_eq!((periodic[0].avg_power, periodic[0].energy), (dec!(180), dec!(0.01))); // 54 000 Ws
        assert_eq!((last.status, last.elapsed, last.energy), (3, 13_920, dec!(0.63)));
        assert_eq!((last.min_power, last.electric.unwrap().current), (dec!(28.7), dec!(0.130)));
        assert_eq!(
            (settlement.elapsed, settlement.energy, settlement.max_power),
            (13_920, dec!(0.63), dec!(180))
        );
        assert_eq!(settlement.stop_reason, stop::FULL);
        let Event::Stopped { reason, elapsed, kwh, .. } = stopped(&mut pile, "FULL1").await else {
            unreachable!()
        };
        assert_eq!((reason, elapsed), (1, 13_920));
        assert_eq!(kwh.round_dp(7), dec!(0.6304367));
        assert_eq!(platform.recv_heartbeat().await.ports[6], state::FULL);
    }

    /// A power cut freezes the charge; after restore it carries on with the
    /// same order, and a settlement the platform had not acked is resent.
    #[tokio::test]
    async fn power_cut_resumes_the_charge_and_the_settlement() {
        let cfg = config(600.0);
        let (mut platform, mut pile) = Platform::start(cfg.clone()).await;
        pile.set_profile(3, Profile::Constant(dec!(100)));
        platform.plug(&pile, 3).await;
        platform.start_charge(&mut pile, start(3, "CUT1", fee_mode::TIME, 600)).await;

        tokio::time::sleep(ms(200)).await;
        pile.power_cut();
        assert_eq!(pile.wait_for(|e| *e == Event::Closed, WAIT).await, Some(Event::Closed));
        let frozen = pile.elapsed(3).await.expect("still charging");
        assert!((1..600).contains(&frozen), "{frozen}");
        tokio::time::sleep(ms(200)).await;
        assert_eq!(pile.elapsed(3).await, Some(frozen), "the clock ran while off");
        // Whatever was sent before the cut, then the end of the connection.
        let drained =
            tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = platform.conn.next().await {} });
        assert!(drained.await.is_ok(), "the connection outlived the power");

        pile.restore();
        platform.accept().await;
        // The pile ignores a second time: its clock was set once.
        platform.handshake(&mut pile, &cfg, T0 + 86_400).await;
        assert_eq!(platform.recv_heartbeat().await.ports[2], state::CHARGING);
        let (_, s) = platform.recv_settlement().await;
        assert_eq!((s.order.to_text().as_str(), s.elapsed, s.stop_reason), ("CUT1", 600, stop::PRESET_TIME));
        assert_eq!(s.energy, dec!(0.01)); // 60 000 Ws = 0.0167 kWh
        let Event::Stopped { order, elapsed, kwh, .. } = stopped(&mut pile, "CUT1").await else {
            unreachable!()
        };
        assert_eq!((order.as_str(), elapsed, kwh.round_dp(6)), ("CUT1", 600, dec!(0.016667)));

        // Cut again before acking: the settlement comes back after restore.
        pile.power_cut();
        assert_eq!(pile.wait_for(|e| *e == Event::Closed, WAIT).await, Some(Event::Closed));
        pile.restore();
        platform.accept().await;
        platform.handshake(&mut pile, &cfg, T0).await;
        let (msg, again) = platform.recv_settlement().await;
        assert_eq!(again, s);
        platform.ack(msg).await;
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::SettlementAcked { .. }), WAIT).await,
            Some(Event::SettlementAcked { port: 3, order: "CUT1".into() })
        );
    }

    /// 720 W until the rider unplugs 250 s in: 180 000 Ws = 0.05 kWh.
    #[tokio::test]
    async fn scripted_unplug_stops_at_exactly_that_elapsed() {
        let (mut platform, mut pile) = Platform::start(config(600.0)).await;
        pile.set_profile(3, Profile::Constant(dec!(720)));
        pile.script(3, Script::UnplugAt(250));
        platform.plug(&pile, 3).await;
        let s = StartStop { overload_power: dec!(800), ..start(3, "UNPLUG1", fee_mode::TIME, 600) };
        platform.start_charge(&mut pile, s).await;

        let last = platform.recv_report().await;
        assert_eq!((last.status, last.elapsed, last.energy), (1, 250, dec!(0.05)));
        let (msg, s) = platform.recv_settlement().await;
        assert_eq!((s.elapsed, s.energy, s.stop_reason), (250, dec!(0.05), stop::UNPLUGGED));
        assert_eq!(
            stopped(&mut pile, "UNPLUG1").await,
            Event::Stopped { port: 3, order: "UNPLUG1".into(), reason: 5, elapsed: 250, kwh: dec!(0.05) }
        );
        platform.ack(msg).await;

        // Unplugged now: a new start is refused.
        platform.send(start(3, "UNPLUG2", fee_mode::TIME, 600).into()).await;
        let (_, reply) = platform.recv().await;
        assert_eq!(
            reply,
            Up::StartStopReply(StartStopReply { result: 1, order: order("UNPLUG2"), port: 2, pending: 0 })
        );
        assert_eq!(platform.recv_heartbeat().await.ports[2], state::IDLE);
    }

    /// Energy mode stops at the preset energy; a power step over the
    /// overload limit stops with overload. 360 W × 100 s = 0.01 kWh.
    #[tokio::test]
    async fn energy_limit_and_overload() {
        let (mut platform, mut pile) = Platform::start(config(600.0)).await;
        pile.set_profile(1, Profile::Constant(dec!(360)));
        pile.set_profile(2, Profile::Steps(vec![(0, dec!(100)), (50, dec!(700))]));
        platform.plug(&pile, 1).await;
        platform.plug(&pile, 2).await;
        platform.start_charge(&mut pile, start(1, "E1", fee_mode::ENERGY, 1)).await;
        let s = StartStop { overload_power: dec!(600), ..start(2, "O1", fee_mode::TIME, 0) };
        platform.start_charge(&mut pile, s).await;

        let mut settlements = Vec::new();
        while settlements.len() < 2 {
            settlements.push(platform.recv_settlement().await.1);
        }
        settlements.sort_by_key(|s| s.port);
        let [e, o] = &settlements[..] else { unreachable!() };
        assert_eq!((e.stop_reason, e.elapsed, e.energy), (stop::PRESET_ENERGY, 100, dec!(0.01)));
        // The step from 50 s draws 700 W: over the limit once it ends at 51 s.
        assert_eq!((o.stop_reason, o.elapsed, o.max_power), (stop::OVERLOAD, 51, dec!(700)));
    }

    /// A go only answers the swipe: the charge waits for the start command.
    #[tokio::test]
    async fn card_swipe_is_answered_and_starts_nothing_by_itself() {
        let (mut platform, mut pile) = Platform::start(config(600.0)).await;
        platform.plug(&pile, 4).await;
        pile.swipe_card(4, 0x1234_5678);
        let (msg, up) = platform.recv().await;
        let Up::CardSwipe(swipe) = up else { panic!("no swipe: {up:?}") };
        assert_eq!((swipe.card_hex().as_str(), swipe.card_type, swipe.port), ("12345678", 1, 3));
        let credit = Credit::Balance(dec!(25.5));
        let reply = CardReply { card: swipe.card, status: 0, fee_mode: fee_mode::TIME, credit, port: 3 };
        platform.reply(reply.into(), msg).await;
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::CardReply { .. }), WAIT).await,
            Some(Event::CardReply { card: 0x1234_5678, status: 0, balance: Some(dec!(25.5)) })
        );
        assert_eq!(pile.elapsed(4).await, None);
        platform.start_charge(&mut pile, start(4, "CARD1", fee_mode::TIME, 600)).await;
    }

    #[tokio::test]
    async fn platform_commands() {
        let cfg = config(600.0);
        let (mut platform, mut pile) = Platform::start(cfg.clone()).await;
        pile.set_profile(1, Profile::Constant(dec!(200)));
        platform.plug(&pile, 1).await;

        // Not plugged, then busy.
        platform.send(start(2, "A", fee_mode::TIME, 0).into()).await;
        assert_eq!(
            platform.recv().await.1,
            Up::StartStopReply(StartStopReply { result: 1, order: order("A"), port: 1, pending: 0 })
        );
        let refused = pile.wait_for(|e| matches!(e, Event::Started { .. }), WAIT).await;
        assert_eq!(refused, Some(Event::Started { port: 2, order: "A".into(), accepted: false }));
        platform.start_charge(&mut pile, start(1, "B", fee_mode::TIME, 0)).await;
        platform.send(start(1, "C", fee_mode::TIME, 0).into()).await;
        assert_eq!(
            platform.recv().await.1,
            Up::StartStopReply(StartStopReply { result: 2, order: order("C"), port: 0, pending: 0 })
        );
        // Some steps at 200 W first.
        while pile.elapsed(1).await < Some(10) {
            tokio::time::sleep(ms(5)).await;
        }

        // Adjust (0x8A): end at 300 s.
        let adjust = Adjust { mode: 1, port: 0, value: 300 };
        let msg = platform.send(adjust.into()).await;
        assert_eq!(platform.recv().await, (msg, Up::AdjustReply(Ack::OK)));
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::Adjusted { .. }), WAIT).await,
            Some(Event::Adjusted { port: 1, mode: 1, value: 300 })
        );
        let last = platform.recv_report().await;
        assert_eq!((last.elapsed, last.max_power), (300, dec!(200)));
        let (msg, s) = platform.recv_settlement().await;
        assert_eq!((s.order.to_text().as_str(), s.elapsed, s.stop_reason), ("B", 300, stop::PRESET_TIME));
        platform.ack(msg).await;

        // Server stop.
        platform.start_charge(&mut pile, start(1, "D", fee_mode::TIME, 0)).await;
        let stop = StartStop { command: StartStop::STOP, ..start(1, "D", fee_mode::TIME, 0) };
        let msg = platform.send(stop.into()).await;
        assert_eq!(
            platform.recv().await,
            (msg, StartStopReply { result: 0, order: order("D"), port: 0, pending: 0 }.into())
        );
        let (_, s) = platform.recv_settlement().await;
        assert_eq!((s.order.to_text().as_str(), s.stop_reason), ("D", stop::SERVER));
        assert!(matches!(stopped(&mut pile, "D").await, Event::Stopped { reason: 7, .. }));

        // Limits, then a reboot: reply, close, and register again.
        let limits = Limits {
            max_charge_s: 36000,
            overload_power: dec!(600),
            voltage: Some(engine::dny::VoltageLimits { over: dec!(264), under: dec!(176) }),
        };
        let msg = platform.send(limits.clone().into()).await;
        assert_eq!(platform.recv().await, (msg, Up::LimitsReply(Ack::OK)));
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::LimitsSet(_)), WAIT).await,
            Some(Event::LimitsSet(limits))
        );
        let msg = platform.send(Down::Reboot(engine::dny::Empty)).await;
        let (reply_msg, reply) = loop {
            match platform.recv().await {
                (_, Up::Settlement(_)) => {} // D, not acked yet
                other => break other,
            }
        };
        assert_eq!((reply_msg, reply), (msg, Up::RebootReply(Ack::OK)));
        assert_eq!(pile.wait_for(|e| *e == Event::Closed, WAIT).await, Some(Event::Closed));
        platform.accept().await;
        platform.handshake(&mut pile, &cfg, T0).await;
        let (_, again) = platform.recv_settlement().await;
        assert_eq!(again.order, order("D"));
    }

    #[tokio::test]
    async fn refused_register_and_raw_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = EbikeConfig { ports: 2, ..config(600.0) };
        let mut pile = EbikePile::connect(listener.local_addr().unwrap(), cfg.clone()).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let mut conn = Framed::new(socket, StreamCodec::new());
        let iccid = conn.next().await.unwrap().unwrap().unwrap();
        assert_eq!(iccid, Unit::Iccid(cfg.iccid.clone()));
        let Unit::Frame(register) = conn.next().await.unwrap().unwrap().unwrap() else { panic!() };
        // Nothing is answered before registering.
        pile.send_raw(b"link".to_vec());
        assert_eq!(conn.next().await.unwrap().unwrap().unwrap(), Unit::Keepalive);
        conn.send(Down::Reboot(engine::dny::Empty).encode(PHYS, 9).unwrap()).await.unwrap();
        assert_eq!(pile.next_event().await, Some(Event::Frame(Down::Reboot(engine::dny::Empty))));
        conn.send(Down::RegisterReply(Ack { result: 1 }).encode(PHYS, register.msg).unwrap()).await.unwrap();
        assert_eq!(pile.next_event().await, Some(Event::Registered { accepted: false }));
        assert_eq!(pile.next_event().await, Some(Event::Closed));
        let end = tokio::time::timeout(WAIT, conn.next()).await.unwrap();
        assert!(end.is_none(), "expected EOF, got {end:?}");
    }
}
