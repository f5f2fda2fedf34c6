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

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{Local, NaiveDateTime};
use engine::domain::{PileId, SessionId};
use engine::tariff::Period;
use engine::ykc::{
    BillingModel, CardStart, CardStartVerdict, Frame, FrameCodec, Heartbeat, Login, Message, PeriodUsage,
    RealTime, RemoteStart, RemoteStartResult, RemoteStop, RemoteStopResult, TransactionRecord,
};
use futures::{SinkExt, StreamExt};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::Framed;

use crate::{BoxIo, Dialer};

/// Unread events kept per pile. A load test never reads them, so the rest
/// are dropped rather than growing without bound.
const EVENT_BACKLOG: usize = 4096;
/// Resends of a transaction record after the first send.
const RECORD_RESENDS: u8 = 3;
/// The voltage reported while metering automatically.
const VOLTAGE: Decimal = Decimal::from_parts(3800, 0, 0, false, 1);

const STATUS_IDLE: u8 = 2;
const STATUS_CHARGING: u8 = 3;
const STOP_APP: u8 = 0x40;

#[derive(Clone, Debug)]
pub struct PileConfig {
    pub id: PileId,
    pub guns: u8,
    /// `Login::DC` (0) or `Login::AC` (1).
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
// Large like `Message`, for the same reason: a handful per charge.
#[allow(clippy::large_enum_variant)]
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
    BillingModel(BillingModel),
    /// Any other inbound message, including everything before login.
    Frame(Message),
    /// The connection ended (closed by the platform, refused, or broken).
    Closed,
}

enum Command {
    Plug(u8, bool),
    SetEnergy(u8, Decimal),
    SendRealtime(u8),
    StopAtPile(u8, u8),
    SwipeCard(u8, [u8; 8]),
    Send(Box<Message>),
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

impl SimPile {
    /// Connects and sends the login; does not wait for the reply.
    pub async fn connect(addr: SocketAddr, cfg: PileConfig) -> io::Result<SimPile> {
        Self::connect_with(&Dialer::tcp(addr), cfg).await
    }

    /// Like `connect`, over a connection `dialer` opens.
    pub async fn connect_with(dialer: &Dialer, cfg: PileConfig) -> io::Result<SimPile> {
        if !(1..=99).contains(&cfg.guns) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a pile has 1 to 99 guns"));
        }
        let stream = dialer.dial().await?;
        let mut framed = Framed::new(stream, FrameCodec);
        let login = Login {
            pile: cfg.id.clone(),
            kind: cfg.kind,
            guns: cfg.guns,
            protocol: Login::V1_6,
            firmware: "SIM-1.0".into(),
            net: 0,
            sim: "89860000000000000000".into(),
            carrier: 0,
        };
        framed.send(encode(&login.into(), 0)?).await?;

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

    /// Originates any message with the pile's own sequence counter.
    pub fn send(&self, msg: Message) {
        self.command(Command::Send(Box::new(msg)));
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

fn encode(msg: &Message, seq: u16) -> io::Result<Frame> {
    msg.encode(seq).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

struct Gun {
    plugged: bool,
    /// The energy register at the end of the last charge, kWh.
    meter: Decimal,
    /// The card swiped and awaiting its verdict, which does not name it.
    swiped: Option<[u8; 8]>,
    charge: Option<Charge>,
}

struct Charge {
    serial: SessionId,
    /// kWh at full precision; reports truncate to the meter's 0.0001.
    energy: Decimal,
    meter_start: Decimal,
    physical_card: [u8; 8],
    /// `TransactionRecord::origin`.
    origin: u8,
    started: NaiveDateTime,
    started_at: Instant,
    metered_at: Instant,
    next_realtime: Instant,
}

impl Charge {
    fn kwh(&self) -> Decimal {
        self.energy.round_dp_with_strategy(4, RoundingStrategy::ToZero)
    }
}

/// A sent transaction record awaiting its 0x40.
struct PendingRecord {
    frame: Frame,
    resends_left: u8,
    next: Instant,
}

/// The pile's side of the connection, owned by its task.
struct Pile {
    cfg: PileConfig,
    framed: Framed<BoxIo, FrameCodec>,
    events: mpsc::Sender<Event>,
    seq: u16,
    logged_in: bool,
    guns: Vec<Gun>,
    next_heartbeat: Option<Instant>,
    records: HashMap<SessionId, PendingRecord>,
    /// The last billing model received, used to price what the pile reports.
    model: Option<BillingModel>,
    /// Nothing leaves the pile any more (see `SimPile::go_silent`).
    silent: bool,
}

impl Pile {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = self.next_deadline();
            let step = tokio::select! {
                item = self.framed.next() => match item {
                    Some(Ok(Ok(frame))) => self.on_frame(frame).await,
                    Some(Ok(Err(fault))) => {
                        tracing::debug!(pile = %self.cfg.id, %fault, "sim pile dropped a frame");
                        Ok(())
                    }
                    Some(Err(e)) => Err(io::Error::other(e)),
                    None => Err(io::ErrorKind::UnexpectedEof.into()),
                },
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c).await,
                    None => return, // the handle is gone
                },
                () = wait(deadline) => self.on_timers().await,
            };
            if let Err(e) = step {
                tracing::debug!(pile = %self.cfg.id, error = %e, "sim pile disconnected");
                break;
            }
        }
        self.emit(Event::Closed);
    }

    fn emit(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            tracing::trace!(pile = %self.cfg.id, "sim pile event dropped (backlog full)");
        }
    }

    fn next_seq(&mut self) -> u16 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }

    /// Sends a message the pile originates.
    async fn send(&mut self, msg: Message) -> io::Result<()> {
        let seq = self.next_seq();
        self.reply(msg, seq).await
    }

    /// Sends a message with a given seq (a reply echoes its request's).
    async fn reply(&mut self, msg: Message, seq: u16) -> io::Result<()> {
        if self.silent {
            return Ok(());
        }
        match msg.encode(seq) {
            Ok(frame) => self.framed.send(frame).await,
            Err(e) => {
                // Values come from the test driving the pile; tell it, but
                // keep the connection as a real pile would.
                tracing::error!(pile = %self.cfg.id, kind = msg.kind(), error = %e, "sim pile cannot encode");
                Ok(())
            }
        }
    }

    fn gun(&self, gun: u8) -> Option<&Gun> {
        self.guns.get(usize::from(gun).checked_sub(1)?)
    }

    fn gun_mut(&mut self, gun: u8) -> Option<&mut Gun> {
        self.guns.get_mut(usize::from(gun).checked_sub(1)?)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let realtime = self.guns.iter().filter_map(|g| g.charge.as_ref().map(|c| c.next_realtime));
        let records = self.records.values().map(|r| r.next);
        self.next_heartbeat.into_iter().chain(realtime).chain(records).min()
    }

    async fn on_frame(&mut self, frame: Frame) -> io::Result<()> {
        let msg = match Message::decode(&frame) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!(pile = %self.cfg.id, error = %e, "sim pile got an undecodable frame");
                return Ok(());
            }
        };
        if let Message::LoginReply(reply) = &msg {
            if !reply.accepted {
                self.emit(Event::LoginRefused);
                return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "login refused"));
            }
            if !self.logged_in {
                self.logged_in = true;
                self.next_heartbeat = Some(Instant::now() + self.cfg.heartbeat);
            }
            self.emit(Event::LoginAccepted);
            return Ok(());
        }
        if !self.logged_in {
            // Piles answer nothing before login.
            self.emit(Event::Frame(msg));
            return Ok(());
        }
        match msg {
            Message::RemoteStart(start) => self.on_remote_start(frame.seq, start).await,
            Message::RemoteStop(stop) => self.on_remote_stop(frame.seq, stop).await,
            // A verdict on a start sent by hand stays a `Frame`: without a
            // swiped card there is nothing to start with.
            Message::CardStartVerdict(v) if self.gun(v.gun).is_some_and(|g| g.swiped.is_some()) => {
                self.on_card_verdict(v).await
            }
            Message::RealTimeRequest(req) if req.pile == self.cfg.id && self.gun(req.gun).is_some() => {
                let rt = self.realtime(req.gun, None);
                self.reply(rt.into(), frame.seq).await
            }
            Message::RecordAck(ack) => {
                self.records.remove(&ack.serial);
                self.emit(Event::RecordAcked { serial: ack.serial, invalid: ack.invalid });
                Ok(())
            }
            Message::BillingModel(model) | Message::BillingModelPush(model) => {
                self.model = Some(model.clone());
                self.emit(Event::BillingModel(model));
                Ok(())
            }
            other => {
                self.emit(Event::Frame(other));
                Ok(())
            }
        }
    }

    async fn on_remote_start(&mut self, seq: u16, start: RemoteStart) -> io::Result<()> {
        let refusal = self.start_refusal(&start.pile, start.gun);
        let result = RemoteStartResult {
            serial: start.serial.clone(),
            pile: self.cfg.id.clone(),
            gun: start.gun,
            ok: refusal.is_none(),
            reason: refusal.unwrap_or(RemoteStartResult::NONE),
        };
        self.reply(result.into(), seq).await?;
        let accepted = refusal.is_none();
        if accepted {
            let origin = TransactionRecord::ORIGIN_APP;
            self.begin_charge(start.gun, start.serial.clone(), start.physical_card, origin).await?;
        }
        self.emit(Event::StartRequested { gun: start.gun, serial: start.serial, accepted });
        Ok(())
    }

    async fn on_card_verdict(&mut self, v: CardStartVerdict) -> io::Result<()> {
        let card = self.gun_mut(v.gun).and_then(|g| g.swiped.take());
        if let Some(card) = card.filter(|_| v.ok && self.start_refusal(&v.pile, v.gun).is_none()) {
            self.begin_charge(v.gun, v.serial.clone(), card, TransactionRecord::ORIGIN_CARD).await?;
        }
        let CardStartVerdict { gun, serial, ok, reason, balance, .. } = v;
        self.emit(Event::CardVerdict { gun, serial, ok, reason, balance });
        Ok(())
    }

    /// Why `gun` cannot start a charge, as a 0x33 reason.
    fn start_refusal(&self, pile: &PileId, gun: u8) -> Option<u8> {
        match self.gun(gun) {
            _ if *pile != self.cfg.id => Some(RemoteStartResult::ID_MISMATCH),
            None => Some(RemoteStartResult::ID_MISMATCH),
            Some(g) if g.charge.is_some() => Some(RemoteStartResult::ALREADY_CHARGING),
            Some(g) if !g.plugged => Some(RemoteStartResult::NOT_PLUGGED),
            Some(_) => None,
        }
    }

    /// Starts charging on `gun` and reports it at once, as piles must within
    /// 90 s.
    async fn begin_charge(
        &mut self,
        gun: u8,
        serial: SessionId,
        physical_card: [u8; 8],
        origin: u8,
    ) -> io::Result<()> {
        let now = Instant::now();
        let realtime = self.cfg.realtime;
        if let Some(g) = self.gun_mut(gun) {
            g.charge = Some(Charge {
                serial,
                energy: Decimal::ZERO,
                meter_start: g.meter,
                physical_card,
                origin,
                started: Local::now().naive_local(),
                started_at: now,
                metered_at: now,
                next_realtime: now + realtime,
            });
        }
        let rt = self.realtime(gun, None);
        self.send(rt.into()).await
    }

    async fn on_remote_stop(&mut self, seq: u16, stop: RemoteStop) -> io::Result<()> {
        let refusal = match self.gun(stop.gun) {
            _ if stop.pile != self.cfg.id => Some(RemoteStopResult::ID_MISMATCH),
            None => Some(RemoteStopResult::ID_MISMATCH),
            Some(g) if g.charge.is_none() => Some(RemoteStopResult::NOT_CHARGING),
            Some(_) => None,
        };
        let result = RemoteStopResult {
            pile: self.cfg.id.clone(),
            gun: stop.gun,
            ok: refusal.is_none(),
            reason: refusal.unwrap_or(RemoteStopResult::NONE),
        };
        self.reply(result.into(), seq).await?;
        if refusal.is_none() {
            self.finish_charge(stop.gun, STOP_APP).await?;
        }
        self.emit(Event::StopRequested { gun: stop.gun });
        Ok(())
    }

    async fn on_command(&mut self, command: Command) -> io::Result<()> {
        match command {
            Command::Plug(gun, plugged) => {
                let Some(g) = self.gun_mut(gun) else { return Ok(()) };
                let changed = g.plugged != plugged;
                g.plugged = plugged;
                // Piles report a change of state at once.
                if changed && self.logged_in {
                    let rt = self.realtime(gun, None);
                    self.send(rt.into()).await?;
                }
                Ok(())
            }
            Command::SetEnergy(gun, kwh) => {
                if let Some(c) = self.gun_mut(gun).and_then(|g| g.charge.as_mut()) {
                    c.energy = kwh.round_dp_with_strategy(4, RoundingStrategy::ToZero);
                    c.metered_at = Instant::now();
                }
                Ok(())
            }
            Command::SendRealtime(gun) => {
                if self.gun(gun).is_none() {
                    return Ok(());
                }
                self.advance_meter(gun, Instant::now());
                let rt = self.realtime(gun, None);
                self.send(rt.into()).await
            }
            Command::StopAtPile(gun, reason) => self.finish_charge(gun, reason).await,
            Command::SwipeCard(gun, card) => {
                if let Some(g) = self.gun_mut(gun) {
                    g.swiped = Some(card);
                }
                let start = CardStart {
                    pile: self.cfg.id.clone(),
                    gun,
                    mode: CardStart::MODE_CARD,
                    password_required: false,
                    card,
                    password_md5: [0; 16],
                    vin: String::new(),
                };
                self.send(start.into()).await
            }
            Command::Send(msg) => self.send(*msg).await,
            Command::Silent => {
                self.silent = true;
                Ok(())
            }
            Command::Raw(bytes) => {
                let stream = self.framed.get_mut();
                stream.write_all(&bytes).await?;
                stream.flush().await
            }
        }
    }

    async fn on_timers(&mut self) -> io::Result<()> {
        let now = Instant::now();
        if self.next_heartbeat.is_some_and(|t| t <= now) {
            self.next_heartbeat = Some(now + self.cfg.heartbeat);
            for gun in 1..=self.cfg.guns {
                let hb = Heartbeat { pile: self.cfg.id.clone(), gun, fault: false };
                self.send(hb.into()).await?;
            }
        }
        for gun in 1..=self.cfg.guns {
            let due = self.gun(gun).and_then(|g| g.charge.as_ref()).is_some_and(|c| c.next_realtime <= now);
            if due {
                self.advance_meter(gun, now);
                let next = now + self.cfg.realtime;
                if let Some(c) = self.gun_mut(gun).and_then(|g| g.charge.as_mut()) {
                    c.next_realtime = next;
                }
                let rt = self.realtime(gun, None);
                self.send(rt.into()).await?;
            }
        }
        let due: Vec<SessionId> =
            self.records.iter().filter(|(_, r)| r.next <= now).map(|(s, _)| s.clone()).collect();
        for serial in due {
            let Some(record) = self.records.get_mut(&serial) else {
                continue;
            };
            let frame = record.frame.clone();
            if record.resends_left <= 1 {
                // Last resend: the pile stops asking on this connection.
                self.records.remove(&serial);
            } else {
                record.resends_left -= 1;
                record.next = now + self.cfg.record_retry;
            }
            if !self.silent {
                self.framed.send(frame).await?;
            }
        }
        Ok(())
    }

    /// Runs the meter of a charging gun up to `now` at the configured power.
    fn advance_meter(&mut self, gun: u8, now: Instant) {
        let Some(kw) = self.cfg.auto_meter else { return };
        if let Some(c) = self.gun_mut(gun).and_then(|g| g.charge.as_mut()) {
            let ms = now.saturating_duration_since(c.metered_at).as_millis();
            c.energy += kw * Decimal::from(ms) / Decimal::from(3_600_000);
            c.metered_at = now;
        }
    }

    /// Yuan per kWh the pile bills with: the flat period of the last billing
    /// model received, or nothing.
    fn price(&self) -> Decimal {
        self.model.as_ref().map_or(Decimal::ZERO, |m| {
            let p = m.prices[Period::Flat.index()];
            p.energy + p.service
        })
    }

    fn amount(&self, kwh: Decimal) -> Decimal {
        (self.price() * kwh).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
    }

    /// A real-time frame for `gun`: its charge if any, else `ended` (the
    /// charge that just stopped, so the platform sees its final reading),
    /// else an idle gun.
    fn realtime(&self, gun: u8, ended: Option<&Charge>) -> RealTime {
        let g = self.gun(gun);
        let plugged = g.is_some_and(|g| g.plugged);
        let charging = g.and_then(|g| g.charge.as_ref());
        let mut rt = RealTime {
            serial: SessionId("0".repeat(32)),
            pile: self.cfg.id.clone(),
            gun,
            status: STATUS_IDLE,
            holstered: u8::from(!plugged),
            plugged,
            voltage: Decimal::ZERO,
            current: Decimal::ZERO,
            cable_temp: 25,
            cable_code: [0; 8],
            soc: 0,
            battery_max_temp: 25,
            minutes_charged: 0,
            minutes_left: 0,
            kwh: Decimal::ZERO,
            loss_kwh: Decimal::ZERO,
            amount: Decimal::ZERO,
            hardware_faults: 0,
        };
        if let Some(c) = charging.or(ended) {
            let kwh = c.kwh();
            rt.serial = c.serial.clone();
            rt.kwh = kwh;
            rt.loss_kwh = kwh;
            rt.amount = self.amount(kwh);
            rt.minutes_charged = u16::try_from(c.started_at.elapsed().as_secs() / 60).unwrap_or(u16::MAX);
        }
        if charging.is_some() {
            rt.status = STATUS_CHARGING;
            rt.holstered = 0;
            rt.plugged = true;
            rt.cable_temp = 35;
            if let Some(kw) = self.cfg.auto_meter {
                rt.voltage = VOLTAGE;
                rt.current = (kw * Decimal::from(1000) / VOLTAGE).round_dp(1);
            }
        }
        rt
    }

    /// Ends the charge on `gun`: final real-time data, then the transaction
    /// record, kept for resending until acknowledged.
    async fn finish_charge(&mut self, gun: u8, stop_reason: u8) -> io::Result<()> {
        self.advance_meter(gun, Instant::now());
        let Some(g) = self.gun_mut(gun) else { return Ok(()) };
        let Some(charge) = g.charge.take() else {
            return Ok(());
        };
        let kwh = charge.kwh();
        let meter_end = charge.meter_start + kwh;
        g.meter = meter_end;

        let rt = self.realtime(gun, Some(&charge));
        self.send(rt.into()).await?;

        let price = self.price();
        let amount = self.amount(kwh);
        let mut periods = [PeriodUsage::default(); 4];
        periods[Period::Flat.index()] = PeriodUsage { price, kwh, loss_kwh: kwh, amount };
        let end = Local::now().naive_local();
        let record = TransactionRecord {
            serial: charge.serial.clone(),
            pile: self.cfg.id.clone(),
            gun,
            start: charge.started,
            end,
            periods,
            meter_start: charge.meter_start,
            meter_end,
            kwh,
            loss_kwh: kwh,
            amount,
            vin: String::new(),
            origin: charge.origin,
            trade_time: end,
            stop_reason,
            physical_card: charge.physical_card,
        };
        let seq = self.next_seq();
        let frame = match Message::from(record).encode(seq) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(pile = %self.cfg.id, error = %e, "sim pile cannot encode its record");
                return Ok(());
            }
        };
        if !self.silent {
            self.framed.send(frame.clone()).await?;
        }
        let pending = PendingRecord {
            frame,
            resends_left: RECORD_RESENDS,
            next: Instant::now() + self.cfg.record_retry,
        };
        self.records.insert(charge.serial, pending);
        Ok(())
    }
}

async fn wait(deadline: Option<Instant>) {
    match deadline {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use engine::tariff::TouPrices;
    use engine::ykc::{kind, LoginReply, RealTimeRequest, RecordAck};
    use rust_decimal_macros::dec;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config(guns: u8) -> PileConfig {
        PileConfig {
            heartbeat: ms(40),
            realtime: ms(60_000),
            record_retry: ms(200),
            ..PileConfig::new(PileId::from("32010600019236"), guns)
        }
    }

    fn serial(n: u32) -> SessionId {
        SessionId(format!("3201060001923601260301083000{n:04}"))
    }

    /// The platform's side: a bare socket speaking frames.
    struct Platform {
        framed: Framed<TcpStream, FrameCodec>,
        seq: u16,
    }

    impl Platform {
        /// Starts a pile against a fresh listener and reads its login.
        async fn start(cfg: PileConfig) -> (Platform, SimPile) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let pile = SimPile::connect(listener.local_addr().unwrap(), cfg.clone()).await.unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let mut platform = Platform { framed: Framed::new(socket, FrameCodec), seq: 0x100 };
            let (seq, login) = platform.recv().await;
            assert_eq!(seq, 0);
            let Message::Login(login) = login else { panic!("expected login, got {login:?}") };
            assert_eq!((login.pile, login.guns, login.kind), (cfg.id, cfg.guns, cfg.kind));
            (platform, pile)
        }

        /// Logs the pile in and waits until it knows.
        async fn accept_login(&mut self, pile: &mut SimPile) {
            let reply = LoginReply { pile: pile.id().clone(), accepted: true };
            self.reply(reply.into(), 0).await;
            assert_eq!(pile.wait_for(|e| *e == Event::LoginAccepted, WAIT).await, Some(Event::LoginAccepted));
        }

        async fn send(&mut self, msg: Message) -> u16 {
            self.seq += 1;
            self.reply(msg, self.seq).await;
            self.seq
        }

        async fn reply(&mut self, msg: Message, seq: u16) {
            self.framed.send(msg.encode(seq).unwrap()).await.unwrap();
        }

        /// The next frame other than a heartbeat.
        async fn recv(&mut self) -> (u16, Message) {
            loop {
                let item = tokio::time::timeout(WAIT, self.framed.next()).await.expect("no frame in time");
                let frame = item.expect("pile hung up").unwrap().unwrap();
                let msg = Message::decode(&frame).unwrap();
                if msg.kind() != kind::HEARTBEAT {
                    return (frame.seq, msg);
                }
            }
        }

        /// Every frame but heartbeats arriving within `d`.
        async fn collect(&mut self, d: Duration) -> Vec<Message> {
            let mut out = Vec::new();
            let _ = tokio::time::timeout(d, async {
                while let Some(Ok(Ok(frame))) = self.framed.next().await {
                    let msg = Message::decode(&frame).unwrap();
                    if msg.kind() != kind::HEARTBEAT {
                        out.push(msg);
                    }
                }
            })
            .await;
            out
        }

        async fn start_charge(
            &mut self,
            pile: &SimPile,
            gun: u8,
            serial: SessionId,
        ) -> (u16, RemoteStartResult) {
            let start = RemoteStart {
                serial,
                pile: pile.id().clone(),
                gun,
                logical_card: [0, 0, 0, 0, 0, 0, 0x12, 0x34],
                physical_card: [0xAB; 8],
                balance: dec!(200),
            };
            let seq = self.send(start.into()).await;
            let (reply_seq, msg) = self.recv().await;
            let Message::RemoteStartResult(result) = msg else { panic!("expected 0x33, got {msg:?}") };
            assert_eq!(reply_seq, seq);
            (seq, result)
        }

        async fn recv_realtime(&mut self) -> RealTime {
            match self.recv().await {
                (_, Message::RealTime(rt)) => rt,
                other => panic!("expected 0x13, got {other:?}"),
            }
        }

        async fn recv_record(&mut self) -> TransactionRecord {
            match self.recv().await {
                (_, Message::TransactionRecord(r)) => r,
                other => panic!("expected 0x3B, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn full_charge_from_start_to_acknowledged_record() {
        let (mut platform, mut pile) = Platform::start(config(2)).await;
        platform.accept_login(&mut pile).await;
        let model = BillingModel::from_tou(pile.id().clone(), 7, &TouPrices::flat(dec!(1.0), dec!(0.5)));
        platform.send(Message::BillingModelPush(model.clone())).await;
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::BillingModel(_)), WAIT).await,
            Some(Event::BillingModel(model))
        );

        // Remote start: 0x33 echoing the seq, then charging real-time data.
        let (_, result) = platform.start_charge(&pile, 1, serial(1)).await;
        assert!(result.ok);
        assert_eq!((result.serial.clone(), result.gun, result.reason), (serial(1), 1, 0));
        let rt = platform.recv_realtime().await;
        assert_eq!(
            (rt.serial.clone(), rt.gun, rt.gun_status(), rt.plugged),
            (serial(1), 1, engine::ykc::GunStatus::Charging, true)
        );
        assert_eq!(rt.kwh, Decimal::ZERO);
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await,
            Some(Event::StartRequested { gun: 1, serial: serial(1), accepted: true })
        );

        // The meter moves; a real-time frame on demand shows it.
        pile.set_energy(1, dec!(12.3456));
        pile.send_realtime(1);
        let rt = platform.recv_realtime().await;
        assert_eq!(rt.kwh, dec!(12.3456));
        assert_eq!(rt.amount, dec!(18.5184));

        // The platform asks for real-time data: the reply echoes its seq.
        let seq = platform.send(RealTimeRequest { pile: pile.id().clone(), gun: 1 }.into()).await;
        let (reply_seq, msg) = platform.recv().await;
        assert_eq!(reply_seq, seq);
        assert!(matches!(msg, Message::RealTime(rt) if rt.kwh == dec!(12.3456)));

        // Remote stop: 0x35, idle real-time data, then the record.
        let seq = platform.send(RemoteStop { pile: pile.id().clone(), gun: 1 }.into()).await;
        let (reply_seq, msg) = platform.recv().await;
        assert_eq!(reply_seq, seq);
        assert_eq!(
            msg,
            Message::RemoteStopResult(RemoteStopResult {
                pile: pile.id().clone(),
                gun: 1,
                ok: true,
                reason: 0
            })
        );
        let rt = platform.recv_realtime().await;
        assert_eq!(
            (rt.gun_status(), rt.serial.clone(), rt.kwh),
            (engine::ykc::GunStatus::Idle, serial(1), dec!(12.3456))
        );
        let record = platform.recv_record().await;
        assert_eq!((record.serial.clone(), record.gun), (serial(1), 1));
        assert_eq!(record.kwh, dec!(12.3456));
        assert_eq!(record.meter_start, dec!(1000));
        assert_eq!(record.meter_end, dec!(1012.3456));
        assert_eq!(record.stop_reason, 0x40);
        assert_eq!(record.origin, TransactionRecord::ORIGIN_APP);
        assert_eq!(record.physical_card, [0xAB; 8]);
        let flat = record.periods[Period::Flat.index()];
        assert_eq!((flat.price, flat.kwh, flat.amount), (dec!(1.5), dec!(12.3456), dec!(18.5184)));
        assert_eq!(record.amount, dec!(18.5184));
        assert_eq!(record.periods[Period::Peak.index()], PeriodUsage::default());
        assert!(record.start <= record.end);

        // Acknowledged: no resend, however long we wait.
        platform.send(RecordAck { serial: serial(1), invalid: false }.into()).await;
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await,
            Some(Event::RecordAcked { serial: serial(1), invalid: false })
        );
        let later = platform.collect(ms(700)).await;
        assert!(later.iter().all(|m| m.kind() != kind::TRANSACTION_RECORD), "resent after ack: {later:?}");

        // The next charge starts from where the meter stopped.
        let (_, result) = platform.start_charge(&pile, 1, serial(2)).await;
        assert!(result.ok);
        platform.recv_realtime().await;
        pile.stop_at_pile(1, 0x45);
        platform.recv_realtime().await;
        let record = platform.recv_record().await;
        assert_eq!(
            (record.meter_start, record.kwh, record.stop_reason),
            (dec!(1012.3456), Decimal::ZERO, 0x45)
        );
    }

    #[tokio::test]
    async fn unacknowledged_record_is_resent_three_times() {
        let cfg = PileConfig { record_retry: ms(50), ..config(1) };
        let (mut platform, mut pile) = Platform::start(cfg).await;
        platform.accept_login(&mut pile).await;
        platform.start_charge(&pile, 1, serial(3)).await;
        platform.recv_realtime().await;
        pile.stop_at_pile(1, 0x41);
        platform.recv_realtime().await;
        let first = platform.recv_record().await;
        assert_eq!(first.stop_reason, 0x41);
        let resent = platform.collect(ms(600)).await;
        assert_eq!(resent, vec![Message::TransactionRecord(first); 3]);
    }

    #[tokio::test]
    async fn starts_and_stops_are_refused_with_the_right_reason() {
        let (mut platform, mut pile) = Platform::start(config(2)).await;
        platform.accept_login(&mut pile).await;

        pile.plug(2, false);
        let rt = platform.recv_realtime().await; // a change of state is reported at once
        assert_eq!((rt.gun, rt.plugged, rt.holstered), (2, false, 1));
        let (_, r) = platform.start_charge(&pile, 2, serial(4)).await;
        assert_eq!((r.ok, r.reason), (false, RemoteStartResult::NOT_PLUGGED));
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await,
            Some(Event::StartRequested { gun: 2, serial: serial(4), accepted: false })
        );

        let (_, r) = platform.start_charge(&pile, 3, serial(5)).await;
        assert_eq!((r.ok, r.reason), (false, RemoteStartResult::ID_MISMATCH));

        let (_, r) = platform.start_charge(&pile, 1, serial(6)).await;
        assert!(r.ok);
        platform.recv_realtime().await;
        let (_, r) = platform.start_charge(&pile, 1, serial(7)).await;
        assert_eq!((r.ok, r.reason), (false, RemoteStartResult::ALREADY_CHARGING));

        platform.send(RemoteStop { pile: pile.id().clone(), gun: 2 }.into()).await;
        let (_, msg) = platform.recv().await;
        assert!(
            matches!(msg, Message::RemoteStopResult(r) if !r.ok && r.reason == RemoteStopResult::NOT_CHARGING)
        );
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::StopRequested { .. }), WAIT).await,
            Some(Event::StopRequested { gun: 2 })
        );
    }

    #[tokio::test]
    async fn swiped_card_starts_only_on_an_ok_verdict_and_bills_as_a_card() {
        let (mut platform, mut pile) = Platform::start(config(2)).await;
        platform.accept_login(&mut pile).await;
        let id = pile.id().clone();
        let card = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1];
        let verdict = |gun, serial, ok, reason| CardStartVerdict {
            serial,
            pile: id.clone(),
            gun,
            logical_card: [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78],
            balance: dec!(88.5),
            ok,
            reason,
        };

        pile.swipe_card(2, card);
        let swipe = CardStart {
            pile: id.clone(),
            gun: 2,
            mode: CardStart::MODE_CARD,
            password_required: false,
            card,
            password_md5: [0; 16],
            vin: String::new(),
        };
        assert_eq!(platform.recv().await.1, Message::CardStart(swipe.clone()));
        platform.send(verdict(2, serial(10), false, CardStartVerdict::BALANCE_TOO_LOW).into()).await;
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::CardVerdict { .. }), WAIT).await,
            Some(Event::CardVerdict {
                gun: 2,
                serial: serial(10),
                ok: false,
                reason: 3,
                balance: dec!(88.5)
            })
        );
        pile.send_realtime(2);
        assert_eq!(platform.recv_realtime().await.gun_status(), engine::ykc::GunStatus::Idle);

        pile.swipe_card(1, card);
        assert_eq!(platform.recv().await.1, Message::CardStart(CardStart { gun: 1, ..swipe }));
        platform.send(verdict(1, serial(11), true, CardStartVerdict::NONE).into()).await;
        let rt = platform.recv_realtime().await;
        assert_eq!((rt.gun_status(), rt.serial), (engine::ykc::GunStatus::Charging, serial(11)));
        assert_eq!(
            pile.wait_for(|e| matches!(e, Event::CardVerdict { .. }), WAIT).await,
            Some(Event::CardVerdict { gun: 1, serial: serial(11), ok: true, reason: 0, balance: dec!(88.5) })
        );
        pile.stop_at_pile(1, 0x45);
        platform.recv_realtime().await;
        let record = platform.recv_record().await;
        assert_eq!(
            (record.serial, record.origin, record.physical_card),
            (serial(11), TransactionRecord::ORIGIN_CARD, card)
        );
    }

    #[tokio::test]
    async fn auto_meter_advances_while_charging() {
        let cfg = PileConfig { realtime: ms(50), auto_meter: Some(dec!(36)), kind: Login::AC, ..config(1) };
        let (mut platform, mut pile) = Platform::start(cfg).await;
        platform.accept_login(&mut pile).await;
        platform.start_charge(&pile, 1, serial(8)).await;
        let mut last = platform.recv_realtime().await.kwh;
        for _ in 0..3 {
            let rt = platform.recv_realtime().await;
            assert_eq!(rt.gun_status(), engine::ykc::GunStatus::Charging);
            assert_eq!((rt.voltage, rt.current), (dec!(380.0), dec!(94.7)));
            // 36 kW is 0.01 kWh a second: a 50 ms tick adds about 0.0005.
            assert!(rt.kwh > last, "{} after {}", rt.kwh, last);
            last = rt.kwh;
        }
        pile.stop_at_pile(1, 0x6B);
        let rt = platform.recv_realtime().await;
        assert_eq!(rt.gun_status(), engine::ykc::GunStatus::Idle);
        let record = platform.recv_record().await;
        assert!(record.kwh >= last);
        assert_eq!(record.meter_end - record.meter_start, record.kwh);
        assert_eq!(record.stop_reason, 0x6B);
    }

    #[tokio::test]
    async fn nothing_is_sent_or_answered_before_login() {
        let (mut platform, mut pile) = Platform::start(config(2)).await;
        // No heartbeats and no answers until logged in.
        platform.send(RealTimeRequest { pile: pile.id().clone(), gun: 1 }.into()).await;
        let early = tokio::time::timeout(ms(200), platform.framed.next()).await;
        assert!(early.is_err(), "pile spoke before login: {early:?}");
        assert!(matches!(pile.next_event().await, Some(Event::Frame(Message::RealTimeRequest(_)))));

        platform.accept_login(&mut pile).await;
        let mut heartbeats = Vec::new();
        while heartbeats.len() < 2 {
            let frame =
                tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap().unwrap().unwrap().unwrap();
            if let Message::Heartbeat(hb) = Message::decode(&frame).unwrap() {
                assert!(!hb.fault);
                heartbeats.push(hb.gun);
            }
        }
        assert_eq!(heartbeats, vec![1, 2]);
    }

    #[tokio::test]
    async fn refused_login_closes_the_connection() {
        let (mut platform, mut pile) = Platform::start(config(1)).await;
        platform.reply(LoginReply { pile: pile.id().clone(), accepted: false }.into(), 0).await;
        assert_eq!(pile.next_event().await, Some(Event::LoginRefused));
        assert_eq!(pile.next_event().await, Some(Event::Closed));
        assert_eq!(pile.next_event().await, None);
        let end = tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap();
        assert!(end.is_none(), "expected EOF, got {end:?}");
    }

    #[tokio::test]
    async fn raw_bytes_and_close() {
        let (mut platform, mut pile) = Platform::start(config(1)).await;
        platform.accept_login(&mut pile).await;
        pile.send_raw(vec![0x00, 0x11, 0x22]);
        let fault = loop {
            let item = tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap().unwrap().unwrap();
            if let Err(fault) = item {
                break fault; // heartbeats may come first
            }
        };
        assert_eq!(fault, engine::ykc::FrameFault::Garbage { skipped: 3 });
        let check = engine::ykc::BillingModelCheck { pile: pile.id().clone(), model: 0 };
        pile.send(check.clone().into());
        assert_eq!(platform.recv().await.1, Message::BillingModelCheck(check));
        pile.close();
        let rest = platform.collect(ms(500)).await;
        assert!(rest.is_empty());
        let end = tokio::time::timeout(WAIT, platform.framed.next()).await.unwrap();
        assert!(matches!(end, None | Some(Err(_))), "expected the connection to end, got {end:?}");
    }
}
