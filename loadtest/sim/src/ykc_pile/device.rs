//! The simulated YKC pile's own side: the task that owns the connection,
//! reads the platform's frames, meters charges, resends records and acts on
//! the handle's commands. Split from the handle (`super`) so each reads on
//! its own; the handle only spawns `Pile::run` and talks to it by channel.

use std::collections::HashMap;
use std::io;

use chrono::{Local, NaiveDateTime};
use futures::{SinkExt, StreamExt};
use rust_decimal::{Decimal, RoundingStrategy};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::Framed;
use vocab::SessionId;

use super::{Command, Event, PileConfig};
use crate::ykc_wire::{
    self as wire, kind, origin, rate, start_refusal, status, stop_refusal, BillingModel, CardStart,
    CardVerdict, Cutter, Frame, PeriodUsage, RealTime, Record, RemoteStart,
};
use crate::BoxIo;

/// Resends of a transaction record after the first send.
const RECORD_RESENDS: u8 = 3;
/// The voltage reported while metering automatically.
const VOLTAGE: Decimal = Decimal::from_parts(3800, 0, 0, false, 1);

/// §13.1: stopped from the app.
const STOP_APP: u8 = 0x40;

pub(super) struct Gun {
    pub(super) plugged: bool,
    /// The energy register at the end of the last charge, kWh.
    pub(super) meter: Decimal,
    /// The card swiped and awaiting its verdict, which does not name it.
    pub(super) swiped: Option<[u8; 8]>,
    pub(super) charge: Option<Charge>,
}

pub(super) struct Charge {
    serial: SessionId,
    /// kWh at full precision; reports truncate to the meter's 0.0001.
    energy: Decimal,
    meter_start: Decimal,
    physical_card: [u8; 8],
    /// `ykc_wire::origin`.
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

/// A sent transaction record awaiting its 0x40: the frame's bytes.
pub(super) struct PendingRecord {
    frame: Vec<u8>,
    resends_left: u8,
    next: Instant,
}

/// The pile's side of the connection, owned by its task.
pub(super) struct Pile {
    pub(super) cfg: PileConfig,
    pub(super) framed: Framed<BoxIo, Cutter>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) seq: u16,
    pub(super) logged_in: bool,
    pub(super) guns: Vec<Gun>,
    pub(super) next_heartbeat: Option<Instant>,
    pub(super) records: HashMap<SessionId, PendingRecord>,
    /// The last billing model received, used to price what the pile reports.
    pub(super) model: Option<BillingModel>,
    /// Nothing leaves the pile any more (see `SimPile::go_silent`).
    pub(super) silent: bool,
}

impl Pile {
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = self.next_deadline();
            let step = tokio::select! {
                item = self.framed.next() => match item {
                    Some(Ok(frame)) => self.on_frame(frame).await,
                    Some(Err(e)) => Err(e),
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

    fn id(&self) -> &str {
        self.cfg.id.as_str()
    }

    fn next_seq(&mut self) -> u16 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }

    /// Sends a frame the pile originates.
    async fn send(&mut self, kind: u8, body: Vec<u8>) -> io::Result<()> {
        let seq = self.next_seq();
        self.reply(kind, body, seq).await
    }

    /// Sends a frame with a given seq (a reply echoes its request's).
    async fn reply(&mut self, kind: u8, body: Vec<u8>, seq: u16) -> io::Result<()> {
        if self.silent {
            return Ok(());
        }
        match wire::frame(seq, kind, &body) {
            Ok(bytes) => self.framed.send(bytes).await,
            Err(e) => {
                // Bodies come from the test driving the pile; tell it, but
                // keep the connection as a real pile would.
                tracing::error!(pile = %self.cfg.id, kind, error = %e, "sim pile cannot send");
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

    fn unreadable(&self, frame: &Frame) -> io::Result<()> {
        tracing::warn!(pile = %self.cfg.id, kind = frame.kind, len = frame.body.len(), "sim pile got an unreadable frame");
        Ok(())
    }

    async fn on_frame(&mut self, frame: Frame) -> io::Result<()> {
        if frame.enc != 0 {
            tracing::debug!(pile = %self.cfg.id, kind = frame.kind, "sim pile dropped an encrypted frame");
            return Ok(());
        }
        if frame.kind == kind::LOGIN_REPLY {
            let Some((_, accepted)) = wire::read_login_reply(&frame.body) else {
                return self.unreadable(&frame);
            };
            if !accepted {
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
            self.emit(Event::Frame { kind: frame.kind, body: frame.body });
            return Ok(());
        }
        match frame.kind {
            kind::REMOTE_START => match wire::read_remote_start(&frame.body) {
                Some(start) => self.on_remote_start(frame.seq, start).await,
                None => self.unreadable(&frame),
            },
            kind::REMOTE_STOP => match wire::read_remote_stop(&frame.body) {
                Some((pile, gun)) => self.on_remote_stop(frame.seq, &pile, gun).await,
                None => self.unreadable(&frame),
            },
            // A verdict on a start sent by hand stays a `Frame`: without a
            // swiped card there is nothing to start with.
            kind::CARD_VERDICT => match wire::read_card_verdict(&frame.body) {
                Some(v) if self.gun(v.gun).is_some_and(|g| g.swiped.is_some()) => {
                    self.on_card_verdict(v).await
                }
                Some(_) => {
                    self.emit(Event::Frame { kind: frame.kind, body: frame.body });
                    Ok(())
                }
                None => self.unreadable(&frame),
            },
            kind::REALTIME_REQUEST => match wire::read_realtime_request(&frame.body) {
                Some((pile, gun)) if pile == self.id() && self.gun(gun).is_some() => {
                    let rt = self.realtime(gun, None);
                    self.reply(kind::REALTIME, wire::realtime(&rt), frame.seq).await
                }
                Some(_) => {
                    self.emit(Event::Frame { kind: frame.kind, body: frame.body });
                    Ok(())
                }
                None => self.unreadable(&frame),
            },
            kind::RECORD_ACK => match wire::read_record_ack(&frame.body) {
                Some((serial, invalid)) => {
                    let serial = SessionId(serial);
                    self.records.remove(&serial);
                    self.emit(Event::RecordAcked { serial, invalid });
                    Ok(())
                }
                None => self.unreadable(&frame),
            },
            kind::BILLING_MODEL | kind::BILLING_MODEL_SET => match wire::read_billing_model(&frame.body) {
                Some(model) => {
                    self.model = Some(model.clone());
                    self.emit(Event::BillingModel(model));
                    Ok(())
                }
                None => self.unreadable(&frame),
            },
            _ => {
                self.emit(Event::Frame { kind: frame.kind, body: frame.body });
                Ok(())
            }
        }
    }

    async fn on_remote_start(&mut self, seq: u16, start: RemoteStart) -> io::Result<()> {
        let refusal = self.start_refusal(&start.pile, start.gun);
        let accepted = refusal.is_none();
        let id = self.id().to_owned();
        let reason = refusal.unwrap_or(start_refusal::NONE);
        let body = wire::remote_start_result(&start.serial, &id, start.gun, accepted, reason);
        self.reply(kind::REMOTE_START_RESULT, body, seq).await?;
        let serial = SessionId(start.serial);
        if accepted {
            self.begin_charge(start.gun, serial.clone(), start.physical_card, origin::APP).await?;
        }
        self.emit(Event::StartRequested { gun: start.gun, serial, accepted });
        Ok(())
    }

    async fn on_card_verdict(&mut self, v: CardVerdict) -> io::Result<()> {
        let card = self.gun_mut(v.gun).and_then(|g| g.swiped.take());
        let serial = SessionId(v.serial.clone());
        if let Some(card) = card.filter(|_| v.ok && self.start_refusal(&v.pile, v.gun).is_none()) {
            self.begin_charge(v.gun, serial.clone(), card, origin::CARD).await?;
        }
        let CardVerdict { gun, ok, reason, balance, .. } = v;
        self.emit(Event::CardVerdict { gun, serial, ok, reason, balance });
        Ok(())
    }

    /// Why `gun` cannot start a charge, as a 0x33 reason.
    fn start_refusal(&self, pile: &str, gun: u8) -> Option<u8> {
        match self.gun(gun) {
            _ if pile != self.id() => Some(start_refusal::ID_MISMATCH),
            None => Some(start_refusal::ID_MISMATCH),
            Some(g) if g.charge.is_some() => Some(start_refusal::ALREADY_CHARGING),
            Some(g) if !g.plugged => Some(start_refusal::NOT_PLUGGED),
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
        self.send_realtime(gun, None).await
    }

    async fn on_remote_stop(&mut self, seq: u16, pile: &str, gun: u8) -> io::Result<()> {
        let refusal = match self.gun(gun) {
            _ if pile != self.id() => Some(stop_refusal::ID_MISMATCH),
            None => Some(stop_refusal::ID_MISMATCH),
            Some(g) if g.charge.is_none() => Some(stop_refusal::NOT_CHARGING),
            Some(_) => None,
        };
        let reason = refusal.unwrap_or(stop_refusal::NONE);
        let body = wire::remote_stop_result(self.id(), gun, refusal.is_none(), reason);
        self.reply(kind::REMOTE_STOP_RESULT, body, seq).await?;
        if refusal.is_none() {
            self.finish_charge(gun, STOP_APP).await?;
        }
        self.emit(Event::StopRequested { gun });
        Ok(())
    }

    /// Sends real-time data (0x13) for `gun`, see `realtime`.
    async fn send_realtime(&mut self, gun: u8, ended: Option<&Charge>) -> io::Result<()> {
        let rt = self.realtime(gun, ended);
        self.send(kind::REALTIME, wire::realtime(&rt)).await
    }

    async fn on_command(&mut self, command: Command) -> io::Result<()> {
        match command {
            Command::Plug(gun, plugged) => {
                let Some(g) = self.gun_mut(gun) else { return Ok(()) };
                let changed = g.plugged != plugged;
                g.plugged = plugged;
                // Piles report a change of state at once.
                if changed && self.logged_in {
                    self.send_realtime(gun, None).await?;
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
                self.send_realtime(gun, None).await
            }
            Command::StopAtPile(gun, reason) => self.finish_charge(gun, reason).await,
            Command::SwipeCard(gun, card) => {
                if let Some(g) = self.gun_mut(gun) {
                    g.swiped = Some(card);
                }
                let start = CardStart {
                    pile: self.id().to_owned(),
                    gun,
                    mode: CardStart::MODE_CARD,
                    password_required: false,
                    card,
                    password_md5: [0; 16],
                    vin: String::new(),
                };
                self.send(kind::CARD_START, wire::card_start(&start)).await
            }
            Command::Send(kind, body) => self.send(kind, body).await,
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
                let body = wire::heartbeat(self.id(), gun, false);
                self.send(kind::HEARTBEAT, body).await?;
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
                self.send_realtime(gun, None).await?;
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

    /// Yuan per kWh the pile bills with: the flat rate of the last billing
    /// model received, or nothing.
    fn price(&self) -> Decimal {
        self.model.as_ref().map_or(Decimal::ZERO, |m| {
            let r = m.rates[rate::FLAT];
            r.energy + r.service
        })
    }

    fn amount(&self, kwh: Decimal) -> Decimal {
        (self.price() * kwh).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
    }

    /// Real-time data for `gun`: its charge if any, else `ended` (the charge
    /// that just stopped, so the platform sees its final reading), else an
    /// idle gun.
    fn realtime(&self, gun: u8, ended: Option<&Charge>) -> RealTime {
        let g = self.gun(gun);
        let plugged = g.is_some_and(|g| g.plugged);
        let charging = g.and_then(|g| g.charge.as_ref());
        let mut rt = RealTime {
            serial: "0".repeat(32),
            pile: self.id().to_owned(),
            gun,
            status: status::IDLE,
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
            rt.serial = c.serial.as_str().to_owned();
            rt.kwh = kwh;
            rt.loss_kwh = kwh;
            rt.amount = self.amount(kwh);
            rt.minutes_charged = u16::try_from(c.started_at.elapsed().as_secs() / 60).unwrap_or(u16::MAX);
        }
        if charging.is_some() {
            rt.status = status::CHARGING;
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

        self.send_realtime(gun, Some(&charge)).await?;

        let price = self.price();
        let amount = self.amount(kwh);
        let mut periods = [PeriodUsage::default(); 4];
        periods[rate::FLAT] = PeriodUsage { price, kwh, loss_kwh: kwh, amount };
        let end = Local::now().naive_local();
        let record = Record {
            serial: charge.serial.as_str().to_owned(),
            pile: self.id().to_owned(),
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
        let frame = match wire::frame(seq, kind::TRANSACTION_RECORD, &wire::transaction_record(&record)) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(pile = %self.cfg.id, error = %e, "sim pile cannot send its record");
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
