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
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    /// A sample frame of the guide, as bytes.
    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    /// Cuts `bytes` into frames.
    fn cut(bytes: &[u8]) -> (Vec<Frame>, u64) {
        let mut cutter = Cutter::new();
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = cutter.decode(&mut buf).unwrap() {
            out.push(f);
        }
        (out, cutter.skipped)
    }

    /// The one frame of a sample.
    fn sample(s: &str) -> Frame {
        let bytes = hex(s);
        let (frames, skipped) = cut(&bytes);
        assert_eq!((frames.len(), skipped), (1, 0), "{s}");
        let f = frames.into_iter().next().unwrap();
        // Built again from its parts, it is the same bytes.
        assert_eq!(frame(f.phys, f.msg, f.cmd, &f.body).unwrap(), bytes, "{s}");
        f
    }

    /// The guide's device in most samples: QR 3B37AB04, little-endian.
    const PHYS: u32 = 0x04AB_373B;

    /// 0x01 and 0x20, §3.0.1 and §3.0.2: the server's 1-byte replies.
    #[test]
    fn frame_layout_and_checksum_match_the_guide() {
        let f = sample("44 4E 59 0A 00 3B 37 AB 04 B9 00 01 00 D0 02");
        assert_eq!((f.phys, f.msg, f.cmd, read_ack(&f.body)), (PHYS, 0x00B9, cmd::HEARTBEAT_V1, Some(0)));
        assert_eq!(
            frame(PHYS, 0xB9, cmd::REGISTER, &ack(0)).unwrap(),
            hex("44 4E 59 0A 00 3B 37 AB 04 B9 00 20 00 EF 02")
        );
        // 0x87, 0x88, 0x8D: more 1-byte bodies, and 0x81 with none.
        for s in [
            "44 4E 59 0A 00 3B 37 AB 04 01 00 87 00 9E 02",
            "44 4E 59 0A 00 3B 37 AB 04 01 00 88 00 9F 02",
            "44 4E 59 0A 00 3B 37 AB 04 01 00 8D 00 A4 02",
            "44 4E 59 0A 00 3B 37 AB 04 01 00 21 00 38 02",
            "44 4E 59 0A 00 3B 37 AB 04 01 00 03 00 1A 02",
            "44 4E 59 0A 00 3B 37 AB 04 02 00 8A 00 A2 02",
            "44 4E 59 0A 00 3B 37 AB 04 02 00 85 00 9D 02",
        ] {
            assert_eq!(sample(s).body, ack(0));
        }
        assert_eq!(sample("44 4E 59 09 00 3B 37 AB 04 01 00 81 97 02").body, Vec::<u8>::new());
        assert_eq!(sample("44 4E 59 09 00 3B 37 AB 04 01 00 87 9D 02").cmd, cmd::REBOOT);
    }

    /// §3.0.2: the sample carries two bytes more than the table (the guide
    /// warns its samples lag its tables); the table's eight are ours.
    #[test]
    fn register_matches_the_guide() {
        let f = sample("44 4E 59 13 00 3B 37 AB 04 B9 00 20 7E 00 02 14 21 00 00 00 E4 00 91 04");
        let ours = register(&Register {
            firmware: 0x7E,
            ports: 2,
            virtual_id: 0x14,
            device_type: 0x21,
            work_mode: 0,
            power_board: 0,
        });
        assert_eq!(ours, f.body[..8]);
    }

    /// §3.0.3: the request and the reply.
    #[test]
    fn time_matches_the_guide() {
        let req = frame(PHYS, 0xB9, cmd::TIME, &time_request()).unwrap();
        assert_eq!(req, hex("44 4E 59 09 00 3B 37 AB 04 B9 00 22 F0 02"));
        let f = sample("44 4E 59 0D 00 3B 37 AB 04 B9 00 22 09 0E A9 5F 13 04");
        assert_eq!(read_time(&f.body), Some(0x5FA9_0E09));
    }

    /// §3.1: 220.0 V, two idle ports, signal 9, raw temperature 5 (-60 °C).
    #[test]
    fn heartbeat_matches_the_guide() {
        let body = heartbeat(dec!(220.0), &[0, 0], 9, Some(-60));
        let bytes = frame(PHYS, 1, cmd::HEARTBEAT, &body).unwrap();
        assert_eq!(bytes, hex("44 4E 59 10 00 3B 37 AB 04 01 00 21 98 08 02 00 00 09 05 EE 02"));
        assert_eq!(temperature(None), 0);
        assert_eq!(temperature(Some(25)), 90);
    }

    /// §3.2: the swipe (its sample predates the timestamp) and the reply.
    #[test]
    fn card_matches_the_guide() {
        let f = sample("44 4E 59 11 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 01 00 00 0A 04");
        let ours = card_swipe([0x7A, 0x8D, 0x05, 0xDD], 0, 1, 0, 1_772_352_000);
        assert_eq!((ours.len(), &ours[..8]), (12, &f.body[..]));
        assert_eq!(ours[8..], 1_772_352_000u32.to_le_bytes());

        let f = sample("44 4E 59 14 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 00 10 27 00 00 01 44 04");
        let reply = read_card_reply(&f.body).unwrap();
        assert_eq!(
            reply,
            CardReply { card: [0x7A, 0x8D, 0x05, 0xDD], status: 0, fee_mode: 0, credit: 10_000, port: 1 }
        );
        assert_eq!(reply.balance(), Some(dec!(100.00)));
        assert_eq!(CardReply { fee_mode: fee_mode::MONTHLY, ..reply }.balance(), None);
    }

    const SAMPLE_ORDER: [u8; 16] =
        [0x20, 0x19, 0x09, 0x01, 0x18, 0x00, 0x00, 0x13, 0x00, 0x30, 0x38, 0x01, 0x02, 0x03, 0x04, 0x05];

    /// §3.3: 3600 s, 100.0 W, 0.48 kWh, port 1, online, stop 1 (full); the
    /// sample predates the timestamp and occupancy.
    #[test]
    fn settlement_matches_the_guide() {
        let f = sample(
            "44 4E 59 28 00 3B 37 AB 04 01 00 03 10 0E E8 03 30 00 01 01 00 00 00 00 01 \
             20 19 09 01 18 00 00 13 00 30 38 01 02 03 04 05 E8 03 44 05",
        );
        let ours = settlement(&Settlement {
            elapsed: 3600,
            max_power: dec!(100.0),
            kwh: dec!(0.48),
            port: 1,
            origin: ONLINE,
            card: [0; 4],
            stop_reason: 1,
            order: SAMPLE_ORDER,
            second_max_power: dec!(100.0),
            time: 0x0102_0304,
            occupied_min: 0,
        });
        assert_eq!((ours.len(), &ours[..31]), (37, &f.body[..]));
        assert_eq!(ours[31..], [4, 3, 2, 1, 0, 0]);
    }

    /// §3.4.2: port 2 (1 on the wire), charging, 3600 s, 0.48 kWh, online,
    /// 100.0 W now, 120.0 max, 80.0 min, 100.0 average, 1/4800 kWh in the
    /// period, peak 100.0 W, 220.0 V, 0.455 A, 20 °C, no port sensor; the
    /// sample predates the timestamp and occupancy.
    #[test]
    fn report_matches_the_guide() {
        let f = sample(
            "44 4E 59 32 00 3B 37 AB 04 0A 00 06 01 01 10 0E 30 00 01 E8 03 B0 04 20 03 E8 03 \
             20 19 09 01 18 00 00 13 00 30 38 01 02 03 04 05 01 00 E8 03 98 08 C7 01 55 00 DA 08",
        );
        let ours = report(&Report {
            port: 1,
            state: 1,
            elapsed: 3600,
            kwh: dec!(0.48),
            origin: ONLINE,
            power: dec!(100.0),
            max_power: dec!(120.0),
            min_power: dec!(80.0),
            avg_power: dec!(100.0),
            order: SAMPLE_ORDER,
            period_kwh: Decimal::ONE / Decimal::from(4800),
            peak_power: dec!(100.0),
            voltage: dec!(220.0),
            current: dec!(0.455),
            ambient: Some(20),
            port_temp: None,
            time: 7,
            occupied_min: 0,
        });
        assert_eq!((ours.len(), &ours[..41]), (47, &f.body[..]));
        assert_eq!(ours[41..], [7, 0, 0, 0, 0, 0]);
    }

    /// §4.2: the start (without the V7.5+ tail) and the pile's reply.
    #[test]
    fn start_stop_matches_the_guide() {
        let f = sample(
            "44 4E 59 26 00 3B 37 AB 04 02 00 82 00 64 01 00 00 01 01 00 00 12 34 56 78 12 34 56 78 \
             12 34 56 78 12 34 56 78 80 70 88 13 F8 08",
        );
        let order = [0x12, 0x34, 0x56, 0x78].repeat(4).try_into().unwrap();
        let s = read_start_stop(&f.body).unwrap();
        assert_eq!(
            s,
            StartStop {
                fee_mode: fee_mode::TIME,
                credit: 356,
                port: 1,
                command: StartStop::START,
                limit: 0,
                order,
                max_duration: 28_800,
                overload_power: dec!(500.0),
                full_power_w: 0,
                full_power_max_min: 0,
            }
        );
        assert_eq!((s.limit_secs(), s.limit_kwh(), s.full_power()), (None, None, None));
        let mut tail = f.body.clone();
        tail.extend_from_slice(&[0, 0, 0, 0, 2, 0, 0, 30, 5]);
        let s = read_start_stop(&tail).unwrap();
        assert_eq!((s.full_power(), s.full_power_max_min), (Some(30), 5));
        assert_eq!(read_start_stop(&f.body[..28]), None);

        let reply = frame(PHYS, 2, cmd::START_STOP, &start_stop_reply(0, order, 1, 0)).unwrap();
        assert_eq!(
            reply,
            hex("44 4E 59 1D 00 3B 37 AB 04 02 00 82 00 12 34 56 78 12 34 56 78 12 34 56 78 12 34 56 78 01 00 00 FE 06")
        );
    }

    /// §4.2.1 and §4.4.1 (its sample predates the voltages).
    #[test]
    fn adjust_and_limits_match_the_guide() {
        let f = sample("44 4E 59 0D 00 3B 37 AB 04 02 00 8A 00 01 80 70 96 03");
        assert_eq!(read_adjust(&f.body), Some(Adjust { mode: 0, port: 1, value: 28_800 }));
        let f = sample("44 4E 59 0D 00 3B 37 AB 04 02 00 85 A0 8C 20 4E 3A 04");
        let limits = read_limits(&f.body).unwrap();
        assert_eq!(limits, Limits { max_charge_s: 36_000, overload_power: dec!(2000.0), voltage: None });
        let mut body = f.body.clone();
        body.extend_from_slice(&[0x8C, 0x0A, 0xE8, 0x03]);
        assert_eq!(read_limits(&body).unwrap().voltage, Some((dec!(270.0), dec!(100.0))));
    }

    /// §3.4.5 has no sample: the table's three bytes.
    #[test]
    fn alarm_is_three_bytes() {
        assert_eq!(alarm(4, 0, 0), [4, 0, 0]);
    }

    /// §1.0.2 note 6: split, stuck together, and garbage or bad checksums
    /// skipped to the next header.
    #[test]
    fn the_cutter_copes_with_a_stream() {
        let a = hex("44 4E 59 0A 00 3B 37 AB 04 01 00 87 00 9E 02");
        let b = hex("44 4E 59 09 00 3B 37 AB 04 01 00 81 97 02");
        let mut bad = b.clone();
        *bad.last_mut().unwrap() ^= 1;
        let mut stream = b"junkDN".to_vec();
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&a);
        stream.extend_from_slice(b"DNY\xFF\xFF");
        stream.extend_from_slice(&b);
        let (frames, skipped) = cut(&stream);
        assert_eq!(frames.iter().map(|f| f.cmd).collect::<Vec<_>>(), [0x87, 0x81]);
        assert_eq!(skipped, 6 + bad.len() as u64 + 5);

        // Byte by byte.
        let mut cutter = Cutter::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in a.iter().chain(&b) {
            buf.extend_from_slice(&[*byte]);
            while let Some(f) = cutter.decode(&mut buf).unwrap() {
                got.push(f.cmd);
            }
        }
        assert_eq!((got, cutter.skipped), (vec![0x87, 0x81], 0));
    }

    #[test]
    fn bodies_too_long_for_a_packet_are_refused() {
        assert_eq!(frame(1, 1, cmd::HEARTBEAT, &[0; 242]).unwrap().len(), MAX_PACKET);
        assert_eq!(
            frame(1, 1, cmd::HEARTBEAT, &[0; 243]),
            Err(TooLong { cmd: cmd::HEARTBEAT, body_len: 243 })
        );
    }

    #[test]
    fn units_round_and_clamp() {
        assert_eq!((deciwatts(dec!(28.7)), deciwatts(dec!(0.05)), deciwatts(dec!(-3))), (287, 1, 0));
        assert_eq!((deciwatts(dec!(7000)), centi_kwh(dec!(0.63)), decivolts(dec!(220))), (65_535, 63, 2200));
    }
}
