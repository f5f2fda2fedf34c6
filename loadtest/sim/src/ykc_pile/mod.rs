//! A simulated YKC pile on a real TCP connection (or any byte stream, see
//! `SimPile::connect_with`).
//!
//! `SimPile::connect` logs in and spawns a task that plays the pile: it
//! heartbeats, accepts remote starts on plugged idle guns, reports real-time
//! data while charging, answers remote stops and repeats its transaction
//! record until the platform acknowledges it. The handle steers it (plug a
//! car, swipe a card, set the meter, stop at the pile) and reports what the
//! platform did as `Event`s. Behaviour follows PROTOCOLS.md §1 "Rules piles
//! expect".
//!
//! Frames are built and read by `crate::ykc_wire`, written from the YKC
//! v1.6 spec apart from the platform's codec (`proto::ykc`), so the two
//! check each other (issue #16). Frames the pile does not act on reach the
//! caller as raw `Event::Frame`s; what it sends on request is raw too
//! (`SimPile::send_frame`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::SinkExt;
use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;
use vocab::{PileId, SessionId};

use crate::ykc_wire::{self as wire, kind, BillingModel, Cutter, Login};
use crate::Dialer;

mod device;

use device::{Gun, Pile};

/// Unread events kept per pile. A load test never reads them, so the rest
/// are dropped rather than growing without bound.
const EVENT_BACKLOG: usize = 4096;

#[derive(Clone, Debug)]
pub struct PileConfig {
    /// Up to 14 decimal digits (7 BCD bytes on the wire).
    pub id: PileId,
    pub guns: u8,
    /// `ykc_wire::Login::DC` (0) or `ykc_wire::Login::AC` (1).
    pub kind: u8,
    pub heartbeat: Duration,
    /// Real-time data interval while charging.
    pub realtime: Duration,
    /// Interval between resends of an unacknowledged transaction record.
    pub record_retry: Duration,
    /// kW: if set, a charging gun's meter advances by power × time.
    pub auto_meter: Option<Decimal>,
    /// Whether guns start with a car plugged in.
    pub plugged: bool,
}

impl PileConfig {
    /// A DC pile with the protocol's intervals and every gun plugged in.
    pub fn new(id: PileId, guns: u8) -> Self {
        PileConfig {
            id,
            guns,
            kind: Login::DC,
            heartbeat: Duration::from_secs(10),
            realtime: Duration::from_secs(15),
            record_retry: Duration::from_secs(30),
            auto_meter: None,
            plugged: true,
        }
    }
}

/// What the platform did, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    LoginAccepted,
    LoginRefused,
    StartRequested {
        gun: u8,
        serial: SessionId,
        accepted: bool,
    },
    StopRequested {
        gun: u8,
    },
    /// The verdict on a `SimPile::swipe_card`; if `ok`, the gun started.
    CardVerdict {
        gun: u8,
        serial: SessionId,
        ok: bool,
        reason: u8,
        balance: Decimal,
    },
    RecordAcked {
        serial: SessionId,
        invalid: bool,
    },
    /// A billing model (0x0A or 0x58), which the pile now prices with.
    BillingModel(BillingModel),
    /// Any other inbound frame, including everything before login: its
    /// frame type and body as they came.
    Frame {
        kind: u8,
        body: Vec<u8>,
    },
    /// The connection ended (closed by the platform, refused, or broken).
    Closed,
}

enum Command {
    Plug(u8, bool),
    SetEnergy(u8, Decimal),
    SendRealtime(u8),
    StopAtPile(u8, u8),
    SwipeCard(u8, [u8; 8]),
    Send(u8, Vec<u8>),
    Raw(Vec<u8>),
    Silent,
}

/// A handle on a running simulated pile. Dropping it drops the connection.
pub struct SimPile {
    id: PileId,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

impl SimPile {
    /// Connects and sends the login; does not wait for the reply.
    pub async fn connect(addr: SocketAddr, cfg: PileConfig) -> io::Result<SimPile> {
        Self::connect_with(&Dialer::tcp(addr), cfg).await
    }

    /// Like `connect`, over a connection `dialer` opens.
    pub async fn connect_with(dialer: &Dialer, cfg: PileConfig) -> io::Result<SimPile> {
        if !(1..=99).contains(&cfg.guns) {
            return Err(invalid("a pile has 1 to 99 guns"));
        }
        if !wire::is_pile_id(cfg.id.as_str()) {
            return Err(invalid(format!("a YKC pile id is up to 14 digits, not {:?}", cfg.id.as_str())));
        }
        let stream = dialer.dial().await?;
        let mut framed = Framed::new(stream, Cutter::new());
        let login = Login {
            pile: cfg.id.as_str().to_owned(),
            pile_type: cfg.kind,
            guns: cfg.guns,
            protocol: Login::V1_6,
            firmware: "SIM-1.0".into(),
            net: 0,
            sim: "89860000000000000000".into(),
            carrier: 0,
        };
        framed.send(wire::frame(0, kind::LOGIN, &wire::login(&login)).map_err(invalid)?).await?;

        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::channel(EVENT_BACKLOG);
        let id = cfg.id.clone();
        let pile = Pile {
            guns: (0..cfg.guns)
                .map(|i| Gun {
                    plugged: cfg.plugged,
                    // Distinct, non-zero registers keep meter and charge
                    // energy from being confused.
                    meter: Decimal::from(1000 * (u32::from(i) + 1)),
                    swiped: None,
                    charge: None,
                })
                .collect(),
            cfg,
            framed,
            events: event_tx,
            seq: 1,
            logged_in: false,
            next_heartbeat: None,
            records: HashMap::new(),
            model: None,
            silent: false,
        };
        let task = tokio::spawn(pile.run(command_rx));
        Ok(SimPile { id, commands, events, task })
    }

    pub fn id(&self) -> &PileId {
        &self.id
    }

    /// The next event; `None` once the pile's task has ended and every event
    /// was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The first event matching `pred` within `timeout`, skipping others.
    pub async fn wait_for(&mut self, pred: impl FnMut(&Event) -> bool, timeout: Duration) -> Option<Event> {
        crate::wait_for(&mut self.events, pred, timeout).await
    }

    /// A car is plugged into (or unplugged from) `gun`.
    pub fn plug(&self, gun: u8, plugged: bool) {
        self.command(Command::Plug(gun, plugged));
    }

    /// Sets the energy of the charge on `gun`, kWh (meter resolution 0.0001).
    pub fn set_energy(&self, gun: u8, kwh: Decimal) {
        self.command(Command::SetEnergy(gun, kwh));
    }

    /// Sends one real-time data frame (0x13) for `gun` now.
    pub fn send_realtime(&self, gun: u8) {
        self.command(Command::SendRealtime(gun));
    }

    /// The pile ends the charge on `gun` by itself with YKC stop `reason`.
    pub fn stop_at_pile(&self, gun: u8, reason: u8) {
        self.command(Command::StopAtPile(gun, reason));
    }

    /// A card is swiped at `gun`: the pile asks to start (0x31) and starts
    /// if the verdict (0x32) says so.
    pub fn swipe_card(&self, gun: u8, card: [u8; 8]) {
        self.command(Command::SwipeCard(gun, card));
    }

    /// Asks for the billing model (0x09); it arrives as `Event::BillingModel`.
    pub fn request_billing_model(&self) {
        self.send_frame(kind::BILLING_MODEL_REQUEST, wire::billing_model_request(self.id.as_str()));
    }

    /// Originates a frame of type `kind` carrying `body` as it is, with the
    /// pile's own sequence counter.
    pub fn send_frame(&self, kind: u8, body: Vec<u8>) {
        self.command(Command::Send(kind, body));
    }

    /// Writes bytes as they are, for bad-input tests.
    pub fn send_raw(&self, bytes: Vec<u8>) {
        self.command(Command::Raw(bytes));
    }

    /// Sends nothing more, heartbeats included, but keeps the socket open:
    /// a link that died somewhere between the pile and the platform.
    pub fn go_silent(&self) {
        self.command(Command::Silent);
    }

    /// Drops the TCP connection.
    pub fn close(self) {}

    fn command(&self, c: Command) {
        // The task only ends with the connection, when commands are moot.
        let _ = self.commands.send(c);
    }
}

impl Drop for SimPile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests;
