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
//! reports of status 1 or 3, 1-byte settlement acks matched by MSG. Its
//! frames are built and read by `crate::ap3000_wire`, written from that
//! guide apart from the platform's codec (`proto::dny`), so the two check each
//! other (issue #16). Events and commands carry raw commands and bodies.
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

use chrono::Utc;
use futures::{SinkExt, StreamExt};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::codec::Framed;
use vocab::PileId;

use crate::ap3000_wire::{self as ap, cmd, Cutter, Frame, StartStop};
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

    /// The platform's name for the pile: its PHYS in 8 hex digits.
    pub fn pile_id(&self) -> PileId {
        PileId(format!("{:08X}", self.phys))
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
    LimitsSet(ap::Limits),
    /// The platform's go/no-go on a swiped card. A go starts nothing: the
    /// platform still sends a start command.
    CardReply {
        card: u32,
        status: u8,
        balance: Option<Decimal>,
    },
    /// Any other inbound frame (including everything before registration,
    /// and bodies too short to read): its command and body.
    Frame {
        cmd: u8,
        body: Vec<u8>,
    },
    /// The connection ended (power cut, reboot, closed by the platform,
    /// refused, or could not be opened).
    Closed,
}

enum Command {
    Plug(u8, bool),
    SetProfile(u8, Profile),
    Script(u8, Script),
    SwipeCard(u8, u32),
    AskBalance(u32),
    PowerCut,
    Restore,
    SendFrame(u8, Vec<u8>),
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

    /// A rider asks what the card has left (a swipe on port 0xFF, §3.2);
    /// the answer comes as `Event::CardReply`.
    pub fn ask_balance(&self, card: u32) {
        self.command(Command::AskBalance(card));
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

    /// Originates any frame, `cmd` and `body` as given, with the pile's
    /// own PHYS and message counter.
    pub fn send_frame(&self, cmd: u8, body: Vec<u8>) {
        self.command(Command::SendFrame(cmd, body));
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
struct Pending {
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

/// The text of an order number, as the platform names orders: printable
/// ASCII followed only by NULs as that text, anything else as 32 hex digits.
pub fn order_text(order: &[u8; 16]) -> String {
    let end = order.iter().position(|&b| b == 0).unwrap_or(order.len());
    let (text, pad) = order.split_at(end);
    if text.iter().all(|&b| b.is_ascii_graphic() || b == b' ') && pad.iter().all(|&b| b == 0) {
        return String::from_utf8_lossy(text).into_owned();
    }
    order.iter().map(|b| format!("{b:02X}")).collect()
}

async fn next_unit(conn: &mut Option<Conn>) -> Option<io::Result<Frame>> {
    match conn {
        Some(conn) => conn.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
