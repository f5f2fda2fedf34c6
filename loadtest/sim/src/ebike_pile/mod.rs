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
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vocab::PileId;

use crate::ap3000_wire as ap;
use crate::Dialer;

mod device;

use device::{Pile, Port};

/// Unread events kept per pile. A load test never reads them, so the rest
/// are dropped rather than growing without bound.
const EVENT_BACKLOG: usize = 4096;

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

#[cfg(test)]
mod tests;
