//! The AP3000 "DNY" wire as the simulated e-bike pile speaks it, written
//! from the vendor's guide V8.6 (`shared/specs/ap3000-v8.6.md`) and nothing
//! else: no layout is shared with the platform's codec, so a misreading of
//! the guide in one shows up as a disagreement with the other instead of
//! hiding in both (issue #16, "test against the world, not against
//! yourself").
//!
//! §1.0.2: a frame is "DNY", a 2-byte length, the 4-byte physical id, a
//! 2-byte message id, the command, the body and a 2-byte checksum. The
//! length counts everything after itself (PHYS, MSG, command, body,
//! checksum); the checksum is the low 16 bits of the sum of every byte
//! before it, header included; a packet is at most 256 bytes; every number
//! is little-endian unless a field says otherwise.
//!
//! Each body the pile writes or reads has one function here, its byte
//! offsets taken from the guide's table for that command. Units (§1.05):
//! money in fen, durations in seconds, voltage 0.1 V, power 0.1 W, energy
//! 0.01 kWh, temperature °C + 65 (0: no sensor).

use std::io;

use bytes::{Buf, BytesMut};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use tokio_util::codec::{Decoder, Encoder};

/// §1.0.2: the 3-byte header, "DNY".
pub const HEADER: [u8; 3] = *b"DNY";
/// §1.0.2: at most 256 bytes a packet.
pub const MAX_PACKET: usize = 256;
/// Header and length field, which the length does not count.
const PREFIX: usize = 5;
/// What the length counts besides the body: PHYS 4, MSG 2, command 1,
/// checksum 2.
const OVERHEAD: usize = 9;

/// Command bytes (§3 device to server, §4 server to device).
pub mod cmd {
    /// §3.0.1, the old heartbeat; the guide says to use 0x21, the only one
    /// the simulator sends.
    pub const HEARTBEAT_V1: u8 = 0x01;
    pub const CARD: u8 = 0x02;
    pub const SETTLEMENT: u8 = 0x03;
    pub const REPORT: u8 = 0x06;
    pub const REGISTER: u8 = 0x20;
    pub const HEARTBEAT: u8 = 0x21;
    pub const TIME: u8 = 0x22;
    pub const ALARM: u8 = 0x42;
    pub const QUERY: u8 = 0x81;
    pub const START_STOP: u8 = 0x82;
    pub const RUN_PARAMS_1: u8 = 0x83;
    pub const LIMITS: u8 = 0x85;
    pub const REBOOT: u8 = 0x87;
    pub const ADJUST: u8 = 0x8A;
}

/// Fee modes of 0x82 and 0x02 (§4.2 note 1, §3.2).
pub mod fee_mode {
    pub const TIME: u8 = 0;
    pub const MONTHLY: u8 = 1;
    pub const ENERGY: u8 = 2;
    pub const COUNT: u8 = 3;
}

/// One frame as cut from the stream, its checksum already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub phys: u32,
    pub msg: u16,
    pub cmd: u8,
    pub body: Vec<u8>,
}

/// A body too long for a 256-byte packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    pub cmd: u8,
    pub body_len: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {}-byte body of 0x{:02X} does not fit a {MAX_PACKET}-byte packet",
            self.body_len, self.cmd
        )
    }
}

impl std::error::Error for TooLong {}

/// §1.0.2: the low 16 bits of the sum of `bytes`.
pub fn checksum(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |sum, &b| sum.wrapping_add(u16::from(b)))
}

/// §1.0.2: a whole frame.
pub fn frame(phys: u32, msg: u16, cmd: u8, body: &[u8]) -> Result<Vec<u8>, TooLong> {
    let len = OVERHEAD + body.len();
    if PREFIX + len > MAX_PACKET {
        return Err(TooLong { cmd, body_len: body.len() });
    }
    let mut out = Vec::with_capacity(PREFIX + len);
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&phys.to_le_bytes());
    out.extend_from_slice(&msg.to_le_bytes());
    out.push(cmd);
    out.extend_from_slice(body);
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Cuts frames out of a byte stream (§1.0.2 note 6: frames may arrive split
/// or stuck together) and writes bytes as they are. Anything that is not a
/// frame with a good checksum is skipped up to the next "DNY".
#[derive(Debug, Default)]
pub struct Cutter {
    /// Bytes skipped so far (garbage, bad lengths, bad checksums).
    pub skipped: u64,
}

impl Cutter {
    pub fn new() -> Self {
        Cutter::default()
    }

    fn skip(&mut self, buf: &mut BytesMut, n: usize) {
        self.skipped += n as u64;
        buf.advance(n);
    }
}

impl Decoder for Cutter {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Frame>> {
        loop {
            match buf.windows(HEADER.len()).position(|w| w == HEADER) {
                Some(at) => self.skip(buf, at),
                None => {
                    // Keep what may be the start of a header cut short.
                    let keep = (1..HEADER.len())
                        .rev()
                        .find(|&n| buf.len() >= n && HEADER.starts_with(&buf[buf.len() - n..]))
                        .unwrap_or(0);
                    let drop = buf.len() - keep;
                    self.skip(buf, drop);
                    return Ok(None);
                }
            }
            if buf.len() < PREFIX {
                return Ok(None);
            }
            let len = usize::from(u16::from_le_bytes([buf[3], buf[4]]));
            if len < OVERHEAD || PREFIX + len > MAX_PACKET {
                self.skip(buf, 1);
                continue;
            }
            let total = PREFIX + len;
            if buf.len() < total {
                buf.reserve(total - buf.len());
                return Ok(None);
            }
            let sum = u16::from_le_bytes([buf[total - 2], buf[total - 1]]);
            if checksum(&buf[..total - 2]) != sum {
                self.skip(buf, 1);
                continue;
            }
            let f = &buf[PREFIX..total - 2];
            let frame = Frame {
                phys: u32::from_le_bytes([f[0], f[1], f[2], f[3]]),
                msg: u16::from_le_bytes([f[4], f[5]]),
                cmd: f[6],
                body: f[7..].to_vec(),
            };
            buf.advance(total);
            return Ok(Some(frame));
        }
    }
}

impl Encoder<Vec<u8>> for Cutter {
    type Error = io::Error;

    fn encode(&mut self, bytes: Vec<u8>, out: &mut BytesMut) -> io::Result<()> {
        out.extend_from_slice(&bytes);
        Ok(())
    }
}

// ---- units (§1.05) ----

/// `value` in wire units of `unit` (e.g. 0.1 for 0.1 W), rounded half away
/// from zero and clamped to what 2 bytes hold.
pub fn units(value: Decimal, unit: Decimal) -> u16 {
    let n = (value / unit).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    n.clamp(Decimal::ZERO, Decimal::from(u16::MAX)).to_u16().unwrap_or(u16::MAX)
}

/// Power, 0.1 W.
pub fn deciwatts(w: Decimal) -> u16 {
    units(w, Decimal::new(1, 1))
}

/// Voltage, 0.1 V.
pub fn decivolts(v: Decimal) -> u16 {
    units(v, Decimal::new(1, 1))
}

/// Energy, 0.01 kWh.
pub fn centi_kwh(kwh: Decimal) -> u16 {
    units(kwh, Decimal::new(1, 2))
}

/// Temperature: °C + 65, 0 = no sensor.
pub fn temperature(celsius: Option<i16>) -> u8 {
    celsius.map_or(0, |c| u8::try_from(c.saturating_add(65).clamp(1, 255)).unwrap_or(u8::MAX))
}

/// Bytes little-endian, in order.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn order_at(b: &[u8], at: usize) -> [u8; 16] {
    let mut o = [0; 16];
    o.copy_from_slice(&b[at..at + 16]);
    o
}

// ---- device to server (§3) ----

/// §3.0.2 register (0x20): firmware 2, ports 1, virtual id 1, device type 1,
/// work mode 1, power board version 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// E.g. 100 for V1.00.
    pub firmware: u16,
    pub ports: u8,
    pub virtual_id: u8,
    pub device_type: u8,
    /// Bit 0: 0 networked, 1 card-only.
    pub work_mode: u8,
    pub power_board: u16,
}

pub fn register(r: &Register) -> Vec<u8> {
    Writer::default()
        .u16(r.firmware)
        .u8(r.ports)
        .u8(r.virtual_id)
        .u8(r.device_type)
        .u8(r.work_mode)
        .u16(r.power_board)
        .0
}

/// §3.0.3 time request (0x22): no body.
pub fn time_request() -> Vec<u8> {
    Vec::new()
}

/// §3.1 heartbeat (0x21): voltage 2 (0.1 V), port count 1, a state byte per
/// port, signal 1, temperature 1.
pub fn heartbeat(voltage: Decimal, ports: &[u8], signal: u8, celsius: Option<i16>) -> Vec<u8> {
    Writer::default()
        .u16(decivolts(voltage))
        .u8(u8::try_from(ports.len()).unwrap_or(u8::MAX))
        .bytes(ports)
        .u8(signal)
        .u8(temperature(celsius))
        .0
}

/// §3.2 card swipe (0x02): card id 4 (the UID as read, big-endian as a
/// number), card type 1, port 1 (0-based, 0xFF = balance query), balance on
/// the card 2 (fen), timestamp 4. The card-2 length and card 2 follow only
/// for the card types that use them (4, social security), never here.
pub fn card_swipe(card: [u8; 4], card_type: u8, port: u8, card_balance: u16, time: u32) -> Vec<u8> {
    Writer::default().bytes(&card).u8(card_type).u8(port).u16(card_balance).u32(time).0
}

/// Origin of a charge (§3.3 note 4): 0 offline card, 1 online, 3 code.
pub const ONLINE: u8 = 1;

/// §3.3 settlement (0x03): elapsed 2, max power 2, energy 2, port 1, origin
/// 1, card 4, stop reason 1, order 16, second max power 2, timestamp 4,
/// occupied minutes 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub elapsed: u16,
    pub max_power: Decimal,
    pub kwh: Decimal,
    /// 0-based.
    pub port: u8,
    pub origin: u8,
    pub card: [u8; 4],
    pub stop_reason: u8,
    pub order: [u8; 16],
    /// The highest power of the first 5 minutes.
    pub second_max_power: Decimal,
    pub time: u32,
    /// Cabinets only; 0 elsewhere.
    pub occupied_min: u16,
}

pub fn settlement(s: &Settlement) -> Vec<u8> {
    Writer::default()
        .u16(s.elapsed)
        .u16(deciwatts(s.max_power))
        .u16(centi_kwh(s.kwh))
        .u8(s.port)
        .u8(s.origin)
        .bytes(&s.card)
        .u8(s.stop_reason)
        .bytes(&s.order)
        .u16(deciwatts(s.second_max_power))
        .u32(s.time)
        .u16(s.occupied_min)
        .0
}

/// §3.4.2 charging report (0x06): port 1, state 1, elapsed 2, energy 2,
/// origin 1, power 2, max 2, min 2, average 2 (of the period), order 16,
/// energy of the period 2 (1/4800 kWh), peak power 2, voltage 2, current 2
/// (0.001 A), ambient 1, port temperature 1, timestamp 4, occupied 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// 0-based.
    pub port: u8,
    /// 1 charging, 3 full (plugged, not charging), 5 float; 2 is a cabinet's.
    pub state: u8,
    pub elapsed: u16,
    pub kwh: Decimal,
    pub origin: u8,
    pub power: Decimal,
    pub max_power: Decimal,
    pub min_power: Decimal,
    pub avg_power: Decimal,
    pub order: [u8; 16],
    /// kWh used since the last report.
    pub period_kwh: Decimal,
    pub peak_power: Decimal,
    pub voltage: Decimal,
    /// Amperes.
    pub current: Decimal,
    pub ambient: Option<i16>,
    pub port_temp: Option<i16>,
    pub time: u32,
    pub occupied_min: u16,
}

/// §3.4.2 note 12: the period's energy field counts 1/4800 kWh.
pub const PERIOD_UNITS_PER_KWH: u32 = 4800;

pub fn report(r: &Report) -> Vec<u8> {
    Writer::default()
        .u8(r.port)
        .u8(r.state)
        .u16(r.elapsed)
        .u16(centi_kwh(r.kwh))
        .u8(r.origin)
        .u16(deciwatts(r.power))
        .u16(deciwatts(r.max_power))
        .u16(deciwatts(r.min_power))
        .u16(deciwatts(r.avg_power))
        .bytes(&r.order)
        .u16(units(r.period_kwh * Decimal::from(PERIOD_UNITS_PER_KWH), Decimal::ONE))
        .u16(deciwatts(r.peak_power))
        .u16(decivolts(r.voltage))
        .u16(units(r.current, Decimal::new(1, 3)))
        .u8(temperature(r.ambient))
        .u8(temperature(r.port_temp))
        .u32(r.time)
        .u16(r.occupied_min)
        .0
}

/// §3.4.5 alarm push (0x42): kind 1 (1 power cut, 2 flood, 3 hot-melt, 4
/// smoke, 5 heat, 6 water level, 7 door), port 1 (or the 485 sensor's
/// address), trigger 1 (bit per input).
pub fn alarm(kind: u8, port: u8, trigger: u8) -> Vec<u8> {
    vec![kind, port, trigger]
}

/// §4.2 the reply to 0x82: result 1, order 16, port 1, pending ports 2
/// (a bit per port, only with result 5).
pub fn start_stop_reply(result: u8, order: [u8; 16], port: u8, pending: u16) -> Vec<u8> {
    Writer::default().u8(result).bytes(&order).u8(port).u16(pending).0
}

/// A 1-byte reply: 0x01, 0x03, 0x20, 0x21 from the server; 0x83, 0x85,
/// 0x87, 0x8A from the device (§3.0.1, §3.3, §3.0.2, §3.1, §4.3.1, §4.4.1,
/// §4.4.3, §4.2.1). 0 = done.
pub fn ack(result: u8) -> Vec<u8> {
    vec![result]
}

// ---- server to device (§3 replies, §4) ----

/// A 1-byte reply's result; `None` if the body is empty.
pub fn read_ack(body: &[u8]) -> Option<u8> {
    body.first().copied()
}

/// §3.0.3 the time reply (0x22): unix seconds 4.
pub fn read_time(body: &[u8]) -> Option<u32> {
    (body.len() >= 4).then(|| u32_at(body, 0))
}

/// §3.2 the reply to a swipe (0x02): card id 4, account status 1, fee mode
/// 1, balance (fen) or valid-until (unix, monthly mode) 4, port 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardReply {
    pub card: [u8; 4],
    pub status: u8,
    pub fee_mode: u8,
    pub credit: u32,
    pub port: u8,
}

impl CardReply {
    /// The balance in yuan, unless the credit is a monthly card's date.
    pub fn balance(&self) -> Option<Decimal> {
        (self.fee_mode != fee_mode::MONTHLY).then(|| Decimal::new(self.credit.into(), 2))
    }
}

pub fn read_card_reply(body: &[u8]) -> Option<CardReply> {
    (body.len() >= 11).then(|| CardReply {
        card: [body[0], body[1], body[2], body[3]],
        status: body[4],
        fee_mode: body[5],
        credit: u32_at(body, 6),
        port: body[10],
    })
}

/// §4.2 start or stop (0x82): fee mode 1, balance/valid-until 4, port 1,
/// command 1 (0 stop, 1 start), time or energy 2, order 16, max duration 2,
/// overload power 2, then (newer firmware) QR light 1, long charge 1, extra
/// float 2, skip short check 1, no unplug check 1, force full stop 1, full
/// power 1 (1 W), full power max time 1 (minutes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartStop {
    pub fee_mode: u8,
    pub credit: u32,
    /// 0-based; 0xFF = the pile picks.
    pub port: u8,
    pub command: u8,
    /// Seconds (time mode) or 0.01 kWh (energy mode); 0 = until full.
    pub limit: u16,
    pub order: [u8; 16],
    /// Seconds; 0 = the pile's setting.
    pub max_duration: u16,
    /// 0 = the pile's setting.
    pub overload_power: Decimal,
    /// Watts (a 1 W unit, unlike the others); 0 or 0xFF = off.
    pub full_power_w: u8,
    pub full_power_max_min: u8,
}

impl StartStop {
    pub const STOP: u8 = 0;
    pub const START: u8 = 1;
    /// Without the V7.5+ tail.
    const BASE: usize = 29;
    /// With it.
    const FULL: usize = 38;

    /// Seconds to charge for, in time mode (note 5); monthly and per-count
    /// charges run until full (note 1).
    pub fn limit_secs(&self) -> Option<u16> {
        (self.fee_mode == fee_mode::TIME && self.limit > 0).then_some(self.limit)
    }

    /// kWh to charge, in energy mode (note 6).
    pub fn limit_kwh(&self) -> Option<Decimal> {
        (self.fee_mode == fee_mode::ENERGY && self.limit > 0).then(|| Decimal::new(self.limit.into(), 2))
    }

    /// The full-power check (notes 12, 21): watts, if on.
    pub fn full_power(&self) -> Option<u8> {
        (self.full_power_w != 0 && self.full_power_w != 0xFF).then_some(self.full_power_w)
    }
}

pub fn read_start_stop(body: &[u8]) -> Option<StartStop> {
    if body.len() < StartStop::BASE {
        return None;
    }
    let tail = body.len() >= StartStop::FULL;
    Some(StartStop {
        fee_mode: body[0],
        credit: u32_at(body, 1),
        port: body[5],
        command: body[6],
        limit: u16_at(body, 7),
        order: order_at(body, 9),
        max_duration: u16_at(body, 25),
        overload_power: Decimal::new(u16_at(body, 27).into(), 1),
        full_power_w: if tail { body[36] } else { 0 },
        full_power_max_min: if tail { body[37] } else { 0 },
    })
}

/// §4.2.1 adjust (0x8A): fee mode 1 (0 time, 1 time with full stop, 2
/// energy), port 1, seconds or 0.01 kWh 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjust {
    pub mode: u8,
    pub port: u8,
    pub value: u16,
}

pub fn read_adjust(body: &[u8]) -> Option<Adjust> {
    (body.len() >= 4).then(|| Adjust { mode: body[0], port: body[1], value: u16_at(body, 2) })
}

/// §4.4.1 limits (0x85): max charge time 2 (s), overload power 2 (0.1 W),
/// then (2024) over- and under-voltage 2 each (0.1 V).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_charge_s: u16,
    pub overload_power: Decimal,
    /// (over, under), volts.
    pub voltage: Option<(Decimal, Decimal)>,
}

pub fn read_limits(body: &[u8]) -> Option<Limits> {
    (body.len() >= 4).then(|| Limits {
        max_charge_s: u16_at(body, 0),
        overload_power: Decimal::new(u16_at(body, 2).into(), 1),
        voltage: (body.len() >= 8)
            .then(|| (Decimal::new(u16_at(body, 4).into(), 1), Decimal::new(u16_at(body, 6).into(), 1))),
    })
}

#[cfg(test)]
mod tests;
