//! The YKC wire as the simulated car pile speaks it, written from the
//! published spec, 云快充 platform protocol V1.6 (`shared/specs/ykc-v1.6.txt`),
//! and nothing else: no layout is shared with the platform's codec
//! (`proto::ykc`), so a misreading of the spec in one shows up as a
//! disagreement with the other instead of hiding in both (issue #16, "test
//! against the world, not against yourself").
//!
//! §3.1: a frame is the start byte 0x68, a 1-byte length, a 2-byte sequence
//! number, the encryption flag, the frame type, the body and a 2-byte
//! checksum. The length counts the sequence number, flag, type and body
//! (at most 200); the checksum is §13.2's ModbusCRC over the same bytes,
//! "低字节在前，高字节在后" (low byte first).
//!
//! §3.2: BIN numbers are little-endian; decimals travel as integers scaled
//! by their stated precision; times are CP56Time2a (7 bytes). Pile ids (7
//! bytes), serials (16), guns (1), model numbers (2) and logical card
//! numbers (8) are BCD; physical card numbers are 8 bytes as read.
//!
//! Each body the pile writes or reads has one function here, its byte
//! offsets taken from the spec's table for that frame type (named per
//! function).

use std::io;

use bytes::{Buf, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use tokio_util::codec::{Decoder, Encoder};

/// §3.1: the start byte.
pub const START: u8 = 0x68;
/// §3.1: the length counts at most 200 bytes (sequence number to body).
pub const MAX_LEN: usize = 200;
/// What the length counts besides the body: sequence 2, flag 1, type 1.
const HEADER: usize = 4;
/// The largest body.
pub const MAX_BODY: usize = MAX_LEN - HEADER;

/// Frame types (§4; odd from the pile, even from the platform).
pub mod kind {
    pub const LOGIN: u8 = 0x01;
    pub const LOGIN_REPLY: u8 = 0x02;
    pub const HEARTBEAT: u8 = 0x03;
    pub const HEARTBEAT_REPLY: u8 = 0x04;
    pub const BILLING_MODEL_CHECK: u8 = 0x05;
    pub const BILLING_MODEL_CHECK_REPLY: u8 = 0x06;
    pub const BILLING_MODEL_REQUEST: u8 = 0x09;
    pub const BILLING_MODEL: u8 = 0x0A;
    pub const REALTIME_REQUEST: u8 = 0x12;
    pub const REALTIME: u8 = 0x13;
    pub const CARD_START: u8 = 0x31;
    pub const CARD_VERDICT: u8 = 0x32;
    pub const REMOTE_START_RESULT: u8 = 0x33;
    pub const REMOTE_START: u8 = 0x34;
    pub const REMOTE_STOP_RESULT: u8 = 0x35;
    pub const REMOTE_STOP: u8 = 0x36;
    pub const TRANSACTION_RECORD: u8 = 0x3B;
    pub const RECORD_ACK: u8 = 0x40;
    pub const WORK_PARAMS_RESULT: u8 = 0x51;
    pub const WORK_PARAMS: u8 = 0x52;
    pub const BILLING_MODEL_SET_RESULT: u8 = 0x57;
    pub const BILLING_MODEL_SET: u8 = 0x58;
}

/// One frame as cut from the stream, its checksum already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub seq: u16,
    /// §3.1: 0x00 plain, 0x01 3DES (which the simulator does not speak).
    pub enc: u8,
    pub kind: u8,
    pub body: Vec<u8>,
}

/// A body too long for a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    pub kind: u8,
    pub body_len: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {}-byte body of 0x{:02X} exceeds {MAX_BODY} bytes", self.body_len, self.kind)
    }
}

impl std::error::Error for TooLong {}

// ---- the checksum (§13.2) ----

/// §13.2 "CRC 码表高字节" (gabyCRCHi), as printed in the spec.
const CRC_HI: [u8; 256] = [
    0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01,
    0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0,
    0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81,
    0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41,
    0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01,
    0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0,
    0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81,
    0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40,
    0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01,
    0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0,
    0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81,
    0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41,
    0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01,
    0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0,
    0x80, 0x41, 0x00, 0xc1, 0x81, 0x40, 0x01, 0xc0, 0x80, 0x41, 0x01, 0xc0, 0x80, 0x41, 0x00, 0xc1, 0x81,
    0x40,
];
/// §13.2 "CRC 码表低字节" (gabyCRCLo), as printed in the spec.
const CRC_LO: [u8; 256] = [
    0x00, 0xc0, 0xc1, 0x01, 0xc3, 0x03, 0x02, 0xc2, 0xc6, 0x06, 0x07, 0xc7, 0x05, 0xc5, 0xc4, 0x04, 0xcc,
    0x0c, 0x0d, 0xcd, 0x0f, 0xcf, 0xce, 0x0e, 0x0a, 0xca, 0xcb, 0x0b, 0xc9, 0x09, 0x08, 0xc8, 0xd8, 0x18,
    0x19, 0xd9, 0x1b, 0xdb, 0xda, 0x1a, 0x1e, 0xde, 0xdf, 0x1f, 0xdd, 0x1d, 0x1c, 0xdc, 0x14, 0xd4, 0xd5,
    0x15, 0xd7, 0x17, 0x16, 0xd6, 0xd2, 0x12, 0x13, 0xd3, 0x11, 0xd1, 0xd0, 0x10, 0xf0, 0x30, 0x31, 0xf1,
    0x33, 0xf3, 0xf2, 0x32, 0x36, 0xf6, 0xf7, 0x37, 0xf5, 0x35, 0x34, 0xf4, 0x3c, 0xfc, 0xfd, 0x3d, 0xff,
    0x3f, 0x3e, 0xfe, 0xfa, 0x3a, 0x3b, 0xfb, 0x39, 0xf9, 0xf8, 0x38, 0x28, 0xe8, 0xe9, 0x29, 0xeb, 0x2b,
    0x2a, 0xea, 0xee, 0x2e, 0x2f, 0xef, 0x2d, 0xed, 0xec, 0x2c, 0xe4, 0x24, 0x25, 0xe5, 0x27, 0xe7, 0xe6,
    0x26, 0x22, 0xe2, 0xe3, 0x23, 0xe1, 0x21, 0x20, 0xe0, 0xa0, 0x60, 0x61, 0xa1, 0x63, 0xa3, 0xa2, 0x62,
    0x66, 0xa6, 0xa7, 0x67, 0xa5, 0x65, 0x64, 0xa4, 0x6c, 0xac, 0xad, 0x6d, 0xaf, 0x6f, 0x6e, 0xae, 0xaa,
    0x6a, 0x6b, 0xab, 0x69, 0xa9, 0xa8, 0x68, 0x78, 0xb8, 0xb9, 0x79, 0xbb, 0x7b, 0x7a, 0xba, 0xbe, 0x7e,
    0x7f, 0xbf, 0x7d, 0xbd, 0xbc, 0x7c, 0xb4, 0x74, 0x75, 0xb5, 0x77, 0xb7, 0xb6, 0x76, 0x72, 0xb2, 0xb3,
    0x73, 0xb1, 0x71, 0x70, 0xb0, 0x50, 0x90, 0x91, 0x51, 0x93, 0x53, 0x52, 0x92, 0x96, 0x56, 0x57, 0x97,
    0x55, 0x95, 0x94, 0x54, 0x9c, 0x5c, 0x5d, 0x9d, 0x5f, 0x9f, 0x9e, 0x5e, 0x5a, 0x9a, 0x9b, 0x5b, 0x99,
    0x59, 0x58, 0x98, 0x88, 0x48, 0x49, 0x89, 0x4b, 0x8b, 0x8a, 0x4a, 0x4e, 0x8e, 0x8f, 0x4f, 0x8d, 0x4d,
    0x4c, 0x8c, 0x44, 0x84, 0x85, 0x45, 0x87, 0x47, 0x46, 0x86, 0x82, 0x42, 0x43, 0x83, 0x41, 0x81, 0x80,
    0x40,
];

/// §13.2 `ModbusCRC`: the WORD it returns, `byCRCHi << 8 | byCRCLo`.
pub fn modbus_crc(data: &[u8]) -> u16 {
    let (mut hi, mut lo) = (0xFFu8, 0xFFu8);
    for &b in data {
        let idx = usize::from(hi ^ b);
        hi = lo ^ CRC_HI[idx];
        lo = CRC_LO[idx];
    }
    (u16::from(hi) << 8) | u16::from(lo)
}

/// The checksum as the simulator sends it. §3.1's text: "低字节在前，高字节
/// 在后" of §13.2's WORD, i.e. `byCRCLo` then `byCRCHi`. The spec's own
/// samples whose checksum is right (§6.2, §6.6, §8.2) carry the other order,
/// `byCRCHi` first, as do many piles; the platform accepts both, and so does
/// `Cutter`.
pub fn crc_bytes(data: &[u8]) -> [u8; 2] {
    modbus_crc(data).to_le_bytes()
}

/// Whether `sent` is the checksum of `data` in either byte order.
pub fn crc_matches(data: &[u8], sent: [u8; 2]) -> bool {
    let crc = crc_bytes(data);
    sent == crc || sent == [crc[1], crc[0]]
}

// ---- frames (§3.1) ----

/// §3.1: a whole plain (unencrypted) frame.
pub fn frame(seq: u16, kind: u8, body: &[u8]) -> Result<Vec<u8>, TooLong> {
    if body.len() > MAX_BODY {
        return Err(TooLong { kind, body_len: body.len() });
    }
    let mut out = Vec::with_capacity(body.len() + HEADER + 4);
    out.push(START);
    out.push((HEADER + body.len()) as u8);
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(0x00);
    out.push(kind);
    out.extend_from_slice(body);
    let crc = crc_bytes(&out[2..]);
    out.extend_from_slice(&crc);
    Ok(out)
}

/// Cuts frames out of a byte stream (frames may arrive split or stuck
/// together) and writes bytes as they are. Anything that is not a frame
/// with a good checksum (in either byte order) is skipped up to the next
/// start byte.
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
            let at = buf.iter().position(|&b| b == START).unwrap_or(buf.len());
            self.skip(buf, at);
            if buf.len() < 2 {
                return Ok(None);
            }
            let len = usize::from(buf[1]);
            if !(HEADER..=MAX_LEN).contains(&len) {
                self.skip(buf, 1);
                continue;
            }
            let total = 2 + len + 2;
            if buf.len() < total {
                buf.reserve(total - buf.len());
                return Ok(None);
            }
            if !crc_matches(&buf[2..2 + len], [buf[total - 2], buf[total - 1]]) {
                self.skip(buf, 1);
                continue;
            }
            let frame = Frame {
                seq: u16::from_le_bytes([buf[2], buf[3]]),
                enc: buf[4],
                kind: buf[5],
                body: buf[6..2 + len].to_vec(),
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

// ---- field formats (§3.2) ----

/// `digits` as `n` BCD bytes, zero-padded in front ("不足 7 位补 0"); a
/// longer string keeps its last `2n` digits. Hex digits pass as nibbles, so
/// a serial read off the wire is written back as it came.
pub fn bcd(digits: &str, n: usize) -> Vec<u8> {
    let nibbles: Vec<u8> = digits.chars().map(|c| c.to_digit(16).unwrap_or(0) as u8).collect();
    let mut padded = vec![0u8; (2 * n).saturating_sub(nibbles.len())];
    padded.extend_from_slice(&nibbles[nibbles.len().saturating_sub(2 * n)..]);
    padded.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}

/// BCD bytes as their digits (hex digits for nibbles above 9).
pub fn read_bcd(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// A number of at most two digits as one BCD byte (guns).
pub fn bcd_u8(n: u8) -> u8 {
    ((n / 10 % 10) << 4) | (n % 10)
}

/// One BCD byte as a number, if both nibbles are digits.
pub fn read_bcd_u8(b: u8) -> Option<u8> {
    let (hi, lo) = (b >> 4, b & 0x0F);
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

/// A 2-byte BCD number (billing model numbers, §6.5 and §6.8).
pub fn bcd_u16(n: u16) -> [u8; 2] {
    let b = bcd(&format!("{:04}", n % 10_000), 2);
    [b[0], b[1]]
}

pub fn read_bcd_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from(read_bcd_u8(b[0])?) * 100 + u16::from(read_bcd_u8(b[1])?))
}

/// Whether `id` fits a 7-byte BCD pile id: 1 to 14 decimal digits.
pub fn is_pile_id(id: &str) -> bool {
    (1..=14).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// `value` scaled by 10^`places`, rounded half away from zero and clamped
/// to `max` (§3.2: "小数值均乘倍率").
pub fn scaled(value: Decimal, places: u32, max: u64) -> u64 {
    let n = (value * Decimal::from(10u64.pow(places)))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    n.clamp(Decimal::ZERO, Decimal::from(max)).to_u64().unwrap_or(max)
}

/// A scaled integer back as a decimal.
pub fn unscaled(raw: u64, places: u32) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(raw), places)
}

/// §7.2: a temperature, °C with an offset of -50 (the wire carries °C + 50).
pub fn temperature(celsius: i16) -> u8 {
    u8::try_from(celsius.saturating_add(50).clamp(0, 255)).unwrap_or(u8::MAX)
}

/// §3.2 CP56Time2a: milliseconds 2 (seconds × 1000 + ms, little-endian),
/// minutes 1 (D5-D0; IV D7), hours 1 (D4-D0; SU D7), day 1 (day of month
/// D4-D0, day of week D7-D5, 1 = Monday), month 1 (D3-D0), year 1 (D6-D0,
/// years since 2000).
pub fn cp56(t: NaiveDateTime) -> [u8; 7] {
    let ms = (t.second() * 1000 + t.nanosecond() / 1_000_000).min(59_999) as u16;
    let weekday = t.weekday().number_from_monday() as u8;
    let [ms_lo, ms_hi] = ms.to_le_bytes();
    [
        ms_lo,
        ms_hi,
        t.minute() as u8,
        t.hour() as u8,
        (weekday << 5) | t.day() as u8,
        t.month() as u8,
        (t.year() - 2000).clamp(0, 99) as u8,
    ]
}

/// CP56Time2a back to a time, if it names one.
pub fn read_cp56(b: &[u8]) -> Option<NaiveDateTime> {
    let ms = u32::from(u16::from_le_bytes([b[0], b[1]]));
    NaiveDate::from_ymd_opt(2000 + i32::from(b[6] & 0x7F), u32::from(b[5] & 0x0F), u32::from(b[4] & 0x1F))?
        .and_hms_milli_opt(u32::from(b[3] & 0x1F), u32::from(b[2] & 0x3F), ms / 1000, ms % 1000)
}

/// ASCII text in `n` bytes, zero-padded behind ("不足 8 位补零").
fn ascii(s: &str, n: usize) -> Vec<u8> {
    let mut out: Vec<u8> = s.bytes().take(n).collect();
    out.resize(n, 0);
    out
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
    /// A 5-byte BIN number (§8.7's meter readings).
    fn u40(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes()[..5]);
        self
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    fn bcd(self, digits: &str, n: usize) -> Self {
        self.bytes(&bcd(digits, n))
    }
    /// A pile id: 7 BCD bytes.
    fn pile(self, id: &str) -> Self {
        self.bcd(id, 7)
    }
    /// A gun: 1 BCD byte.
    fn gun(self, gun: u8) -> Self {
        self.u8(bcd_u8(gun))
    }
    /// A decimal in 2 bytes, `places` decimals.
    fn dec16(self, v: Decimal, places: u32) -> Self {
        self.u16(scaled(v, places, u16::MAX.into()) as u16)
    }
    /// A decimal in 4 bytes, `places` decimals.
    fn dec32(self, v: Decimal, places: u32) -> Self {
        self.u32(scaled(v, places, u32::MAX.into()) as u32)
    }
    fn time(self, t: NaiveDateTime) -> Self {
        self.bytes(&cp56(t))
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn array8(b: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&b[at..at + 8]);
    out
}

/// A pile id (7 BCD bytes) at `at`.
fn pile_at(b: &[u8], at: usize) -> String {
    read_bcd(&b[at..at + 7])
}

// ---- §6 login, heartbeat, billing models ----

/// §6.1 login (0x01): pile 7 (BCD), pile type 1 (0 DC, 1 AC), guns 1,
/// protocol version 1 (×10: V1.6 is 0x10), firmware 8 (ASCII, zero-padded),
/// network 1 (0 SIM, 1 LAN, 2 WAN, 3 other), SIM card 10 (BCD), carrier 1
/// (0 China Mobile, 2 Telecom, 3 Unicom, 4 other).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub pile: String,
    pub pile_type: u8,
    pub guns: u8,
    pub protocol: u8,
    pub firmware: String,
    pub net: u8,
    pub sim: String,
    pub carrier: u8,
}

impl Login {
    pub const DC: u8 = 0;
    pub const AC: u8 = 1;
    pub const V1_6: u8 = 0x10;
}

pub fn login(l: &Login) -> Vec<u8> {
    Writer::default()
        .pile(&l.pile)
        .u8(l.pile_type)
        .u8(l.guns)
        .u8(l.protocol)
        .bytes(&ascii(&l.firmware, 8))
        .u8(l.net)
        .bcd(&l.sim, 10)
        .u8(l.carrier)
        .0
}

/// §6.2 login reply (0x02): pile 7, result 1 (0x00 accepted, 0x01 refused).
/// `(pile, accepted)`.
pub fn read_login_reply(body: &[u8]) -> Option<(String, bool)> {
    (body.len() >= 8).then(|| (pile_at(body, 0), body[7] == 0))
}

/// §6.3 heartbeat (0x03): pile 7, gun 1 (BCD), gun state 1 (0 normal, 1
/// fault).
pub fn heartbeat(pile: &str, gun: u8, fault: bool) -> Vec<u8> {
    Writer::default().pile(pile).gun(gun).u8(u8::from(fault)).0
}

/// §6.5 billing model check (0x05): pile 7, model number 2 (BCD; 0 on the
/// first connection).
pub fn billing_model_check(pile: &str, model: u16) -> Vec<u8> {
    Writer::default().pile(pile).bytes(&bcd_u16(model)).0
}

/// §6.6 its reply (0x06): pile 7, model number 2 (BCD), result 1 (0x00 the
/// pile's model is current, 0x01 it differs). `(pile, model, differs)`.
pub fn read_billing_model_check_reply(body: &[u8]) -> Option<(String, u16, bool)> {
    if body.len() < 10 {
        return None;
    }
    Some((pile_at(body, 0), read_bcd_u16(&body[7..9])?, body[9] == 0x01))
}

/// §6.7 billing model request (0x09): pile 7.
pub fn billing_model_request(pile: &str) -> Vec<u8> {
    Writer::default().pile(pile).0
}

/// Rate numbers of §6.8's half hours: 0 sharp (尖), 1 peak (峰), 2 flat
/// (平), 3 valley (谷); also the order of the rates and of §8.7's periods.
pub mod rate {
    pub const SHARP: usize = 0;
    pub const PEAK: usize = 1;
    pub const FLAT: usize = 2;
    pub const VALLEY: usize = 3;
}

/// One rate of a billing model, yuan per kWh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    pub energy: Decimal,
    pub service: Decimal,
}

/// §6.8 billing model (0x0A) and §9.5 billing model set (0x58), the same
/// table: pile 7, model number 2 (BCD), for sharp, peak, flat and valley an
/// energy and a service price 4 each (5 decimals), loss ratio 1, then 48
/// half hours from 0:00, each a rate number 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModel {
    pub pile: String,
    pub model: u16,
    /// By `rate` number.
    pub rates: [Rate; 4],
    pub loss_ratio: u8,
    /// The rate number of each half hour from 0:00.
    pub half_hours: [u8; 48],
}

impl BillingModel {
    /// The rate in force in the half hour starting at `minute` of the day.
    pub fn rate_at(&self, minute: u32) -> Option<Rate> {
        let slot = *self.half_hours.get(usize::try_from(minute / 30).ok()?)?;
        self.rates.get(usize::from(slot)).copied()
    }
}

pub fn read_billing_model(body: &[u8]) -> Option<BillingModel> {
    if body.len() < 90 {
        return None;
    }
    let mut rates = [Rate::default(); 4];
    for (i, r) in rates.iter_mut().enumerate() {
        let at = 9 + 8 * i;
        r.energy = unscaled(u32_at(body, at).into(), 5);
        r.service = unscaled(u32_at(body, at + 4).into(), 5);
    }
    let mut half_hours = [0; 48];
    half_hours.copy_from_slice(&body[42..90]);
    Some(BillingModel {
        pile: pile_at(body, 0),
        model: read_bcd_u16(&body[7..9])?,
        rates,
        loss_ratio: body[41],
        half_hours,
    })
}

/// §9.6 the reply to a billing model set (0x57): pile 7, result 1 (0x00
/// failed, 0x01 done).
pub fn billing_model_set_result(pile: &str, ok: bool) -> Vec<u8> {
    Writer::default().pile(pile).u8(u8::from(ok)).0
}

// ---- §7 real-time data ----

/// §7.1 real-time data request (0x12): pile 7, gun 1. `(pile, gun)`.
pub fn read_realtime_request(body: &[u8]) -> Option<(String, u8)> {
    (body.len() >= 8).then(|| Some((pile_at(body, 0), read_bcd_u8(body[7])?))).flatten()
}

/// §7.2's gun states.
pub mod status {
    pub const OFFLINE: u8 = 0;
    pub const FAULT: u8 = 1;
    pub const IDLE: u8 = 2;
    pub const CHARGING: u8 = 3;
}

/// §7.2 real-time data (0x13): serial 16 (BCD), pile 7, gun 1, state 1,
/// holstered 1 (0 no, 1 yes, 2 unknown), plugged 1, voltage 2 (0.1 V),
/// current 2 (0.1 A), cable temperature 1 (°C + 50), cable code 8, SOC 1,
/// battery max temperature 1 (°C + 50), minutes charged 2, minutes left 2,
/// kWh 4 (4 decimals), loss kWh 4 (4 decimals), amount 4 (yuan, 4
/// decimals), hardware faults 2 (a bit each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealTime {
    pub serial: String,
    pub pile: String,
    pub gun: u8,
    pub status: u8,
    pub holstered: u8,
    pub plugged: bool,
    pub voltage: Decimal,
    pub current: Decimal,
    pub cable_temp: i16,
    pub cable_code: [u8; 8],
    pub soc: u8,
    pub battery_max_temp: i16,
    pub minutes_charged: u16,
    pub minutes_left: u16,
    pub kwh: Decimal,
    pub loss_kwh: Decimal,
    pub amount: Decimal,
    pub hardware_faults: u16,
}

pub fn realtime(rt: &RealTime) -> Vec<u8> {
    Writer::default()
        .bcd(&rt.serial, 16)
        .pile(&rt.pile)
        .gun(rt.gun)
        .u8(rt.status)
        .u8(rt.holstered)
        .u8(u8::from(rt.plugged))
        .dec16(rt.voltage, 1)
        .dec16(rt.current, 1)
        .u8(temperature(rt.cable_temp))
        .bytes(&rt.cable_code)
        .u8(rt.soc)
        .u8(temperature(rt.battery_max_temp))
        .u16(rt.minutes_charged)
        .u16(rt.minutes_left)
        .dec32(rt.kwh, 4)
        .dec32(rt.loss_kwh, 4)
        .dec32(rt.amount, 4)
        .u16(rt.hardware_faults)
        .0
}

// ---- §8 starting, stopping and billing a charge ----

/// §8.1 card start request (0x31): pile 7, gun 1, start mode 1 (0x01 card,
/// 0x03 VIN), password needed 1, physical card (or account) 8, password 16
/// (MD5), VIN 17 (ASCII, reversed; zero unless a VIN start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardStart {
    pub pile: String,
    pub gun: u8,
    pub mode: u8,
    pub password_required: bool,
    pub card: [u8; 8],
    pub password_md5: [u8; 16],
    pub vin: String,
}

impl CardStart {
    pub const MODE_CARD: u8 = 0x01;
    pub const MODE_VIN: u8 = 0x03;
}

pub fn card_start(c: &CardStart) -> Vec<u8> {
    let vin: String = c.vin.chars().rev().collect();
    Writer::default()
        .pile(&c.pile)
        .gun(c.gun)
        .u8(c.mode)
        .u8(u8::from(c.password_required))
        .bytes(&c.card)
        .bytes(&c.password_md5)
        .bytes(&ascii(&vin, 17))
        .0
}

/// §8.2 the platform's verdict (0x32): serial 16, pile 7, gun 1, logical
/// card 8 (BCD), balance 4 (yuan, 2 decimals), result 1 (0x00 refused, 0x01
/// accepted), reason 1 (0x01 no account ... 0x0B no cards here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardVerdict {
    pub serial: String,
    pub pile: String,
    pub gun: u8,
    pub logical_card: [u8; 8],
    pub balance: Decimal,
    pub ok: bool,
    pub reason: u8,
}

pub fn read_card_verdict(body: &[u8]) -> Option<CardVerdict> {
    if body.len() < 38 {
        return None;
    }
    Some(CardVerdict {
        serial: read_bcd(&body[..16]),
        pile: pile_at(body, 16),
        gun: read_bcd_u8(body[23])?,
        logical_card: array8(body, 24),
        balance: unscaled(u32_at(body, 32).into(), 2),
        ok: body[36] == 0x01,
        reason: body[37],
    })
}

/// §8.3 remote start (0x34): serial 16, pile 7, gun 1, logical card 8
/// (BCD), physical card 8, balance 4 (yuan, 2 decimals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStart {
    pub serial: String,
    pub pile: String,
    pub gun: u8,
    pub logical_card: [u8; 8],
    pub physical_card: [u8; 8],
    pub balance: Decimal,
}

pub fn read_remote_start(body: &[u8]) -> Option<RemoteStart> {
    if body.len() < 44 {
        return None;
    }
    Some(RemoteStart {
        serial: read_bcd(&body[..16]),
        pile: pile_at(body, 16),
        gun: read_bcd_u8(body[23])?,
        logical_card: array8(body, 24),
        physical_card: array8(body, 32),
        balance: unscaled(u32_at(body, 40).into(), 2),
    })
}

/// §8.4's failure reasons of a remote start.
pub mod start_refusal {
    pub const NONE: u8 = 0x00;
    pub const ID_MISMATCH: u8 = 0x01;
    pub const ALREADY_CHARGING: u8 = 0x02;
    pub const FAULT: u8 = 0x03;
    pub const OFFLINE: u8 = 0x04;
    pub const NOT_PLUGGED: u8 = 0x05;
}

/// §8.4 the reply to a remote start (0x33): serial 16, pile 7, gun 1,
/// result 1 (0x00 failed, 0x01 started), reason 1 (`start_refusal`).
pub fn remote_start_result(serial: &str, pile: &str, gun: u8, ok: bool, reason: u8) -> Vec<u8> {
    Writer::default().bcd(serial, 16).pile(pile).gun(gun).u8(u8::from(ok)).u8(reason).0
}

/// §8.5 remote stop (0x36): pile 7, gun 1. `(pile, gun)`.
pub fn read_remote_stop(body: &[u8]) -> Option<(String, u8)> {
    (body.len() >= 8).then(|| Some((pile_at(body, 0), read_bcd_u8(body[7])?))).flatten()
}

/// §8.6's failure reasons of a remote stop.
pub mod stop_refusal {
    pub const NONE: u8 = 0x00;
    pub const ID_MISMATCH: u8 = 0x01;
    pub const NOT_CHARGING: u8 = 0x02;
    pub const OTHER: u8 = 0x03;
}

/// §8.6 the reply to a remote stop (0x35): pile 7, gun 1, result 1 (0x00
/// failed, 0x01 stopped), reason 1 (`stop_refusal`).
pub fn remote_stop_result(pile: &str, gun: u8, ok: bool, reason: u8) -> Vec<u8> {
    Writer::default().pile(pile).gun(gun).u8(u8::from(ok)).u8(reason).0
}

/// §8.7's origins of a charge (交易标识).
pub mod origin {
    pub const APP: u8 = 0x01;
    pub const CARD: u8 = 0x02;
    pub const OFFLINE_CARD: u8 = 0x04;
    pub const VIN: u8 = 0x05;
}

/// One period of §8.7: price 4 (energy + service, yuan/kWh, 5 decimals),
/// kWh 4, loss kWh 4, amount 4 (yuan), those three with 4 decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodUsage {
    pub price: Decimal,
    pub kwh: Decimal,
    pub loss_kwh: Decimal,
    pub amount: Decimal,
}

/// §8.7 transaction record (0x3B): serial 16, pile 7, gun 1, start 7 and
/// end 7 (CP56Time2a), sharp, peak, flat and valley periods 16 each, meter
/// start 5 and meter end 5 (kWh, 4 decimals), kWh 4, loss kWh 4, amount 4
/// (4 decimals), VIN 17 (ASCII, in order), origin 1 (`origin`), trade time
/// 7, stop reason 1 (§13.1), physical card 8: 158 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub serial: String,
    pub pile: String,
    pub gun: u8,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// By `rate` number.
    pub periods: [PeriodUsage; 4],
    pub meter_start: Decimal,
    pub meter_end: Decimal,
    pub kwh: Decimal,
    pub loss_kwh: Decimal,
    pub amount: Decimal,
    pub vin: String,
    pub origin: u8,
    pub trade_time: NaiveDateTime,
    pub stop_reason: u8,
    pub physical_card: [u8; 8],
}

/// The largest 5-byte number.
const U40_MAX: u64 = (1 << 40) - 1;

pub fn transaction_record(r: &Record) -> Vec<u8> {
    let mut w = Writer::default().bcd(&r.serial, 16).pile(&r.pile).gun(r.gun).time(r.start).time(r.end);
    for p in &r.periods {
        w = w.dec32(p.price, 5).dec32(p.kwh, 4).dec32(p.loss_kwh, 4).dec32(p.amount, 4);
    }
    w.u40(scaled(r.meter_start, 4, U40_MAX))
        .u40(scaled(r.meter_end, 4, U40_MAX))
        .dec32(r.kwh, 4)
        .dec32(r.loss_kwh, 4)
        .dec32(r.amount, 4)
        .bytes(&ascii(&r.vin, 17))
        .u8(r.origin)
        .time(r.trade_time)
        .u8(r.stop_reason)
        .bytes(&r.physical_card)
        .0
}

/// §8.8 record acknowledgement (0x40): serial 16, result 1 (0x00 received,
/// 0x01 invalid record). `(serial, invalid)`.
pub fn read_record_ack(body: &[u8]) -> Option<(String, bool)> {
    (body.len() >= 17).then(|| (read_bcd(&body[..16]), body[16] == 0x01))
}

// ---- §9 platform settings ----

/// §9.1 work parameters (0x52): pile 7, work 1 (0x00 allowed, 0x01 stopped
/// and locked), the most output power allowed 1 (percent, 30 to 100).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkParams {
    pub pile: String,
    pub enabled: bool,
    pub max_power_percent: u8,
}

pub fn read_work_params(body: &[u8]) -> Option<WorkParams> {
    (body.len() >= 9).then(|| WorkParams {
        pile: pile_at(body, 0),
        enabled: body[7] == 0x00,
        max_power_percent: body[8],
    })
}

/// §9.2 the reply to work parameters (0x51): pile 7, result 1 (0x00
/// failed, 0x01 set).
pub fn work_params_result(pile: &str, ok: bool) -> Vec<u8> {
    Writer::default().pile(pile).u8(u8::from(ok)).0
}

#[cfg(test)]
mod tests;
