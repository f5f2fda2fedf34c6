//! Field encodings shared by every YKC frame body, and the errors they raise.
//!
//! The wire packs ids as BCD, times as CP56Time2a and quantities as
//! little-endian integers in fixed units. Decoding is tolerant: whatever the
//! wire can carry and still means something is accepted. Encoding is strict:
//! a value the wire cannot carry exactly is an error, never silently rounded
//! or truncated, so the platform never tells a pile something it did not mean.
//!
//! `Reader` and `Writer` (the shared `body` ones, with YKC's field kinds
//! added here) walk a body field by field; the frame modules are little
//! more than the field order.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rust_decimal::Decimal;

use crate::body::{self, FixedPoint, Misfit, Short, Wire};

use vocab::{PileId, SessionId};

/// Why a frame body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame 0x{kind:02X}: body of {got} bytes, need {need}")]
    Short { kind: u8, need: usize, got: usize },
    #[error("frame 0x{kind:02X}: {field} is not BCD")]
    BadBcd { kind: u8, field: &'static str },
    #[error("frame 0x{kind:02X}: {field} is not a valid CP56Time2a time")]
    BadTime { kind: u8, field: &'static str },
    #[error("frame 0x{kind:02X}: {field} has invalid value {value}")]
    BadValue { kind: u8, field: &'static str, value: u8 },
}

impl DecodeError {
    /// A short name for metric labels.
    pub fn kind_label(&self) -> &'static str {
        match self {
            DecodeError::Short { .. } => "short",
            DecodeError::BadBcd { .. } => "bad_bcd",
            DecodeError::BadTime { .. } => "bad_time",
            DecodeError::BadValue { .. } => "bad_value",
        }
    }
}

/// Why a value could not be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A value its field cannot carry (shared with the other codec).
    #[error(transparent)]
    Misfit(#[from] Misfit),
    #[error("{field}: {value:?} is not {digits} digits")]
    BadDigits { field: &'static str, value: String, digits: usize },
    #[error("{field}: {value:?} is not printable ASCII of at most {max} bytes")]
    BadText { field: &'static str, value: String, max: usize },
    #[error("{field}: {value} cannot be sent as CP56Time2a (years 2000-2127)")]
    BadTime { field: &'static str, value: NaiveDateTime },
    #[error("frame 0x{kind:02X}: body of {len} bytes exceeds the frame maximum")]
    TooLong { kind: u8, len: usize },
}

// ---- packed BCD ----

/// The digits of packed BCD, most significant first; `None` if a nibble is
/// not a decimal digit.
pub fn bcd_to_string(bytes: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return None;
            }
            s.push(char::from(b'0' + nibble));
        }
    }
    Some(s)
}

/// Packed nibbles as text, nibbles above 9 as `A`–`F`. SIM ICCIDs are padded
/// with `F` by some modems; the number is informational, so never reject it.
pub fn nibbles_to_string(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    s
}

/// Packs exactly `2 * out.len()` digits into `out`; hex letters are accepted
/// only if `hex`. Returns false (leaving `out` unspecified) otherwise.
pub fn string_to_nibbles(s: &str, out: &mut [u8], hex: bool) -> bool {
    let digits = s.as_bytes();
    if digits.len() != out.len() * 2 {
        return false;
    }
    for (pair, byte) in digits.chunks_exact(2).zip(out.iter_mut()) {
        let nibble = |c: u8| {
            let v = (c as char).to_digit(if hex { 16 } else { 10 })?;
            u8::try_from(v).ok()
        };
        match (pair.first().and_then(|&c| nibble(c)), pair.get(1).and_then(|&c| nibble(c))) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => return false,
        }
    }
    true
}

/// A packed BCD number, e.g. a gun or billing model number.
pub fn bcd_to_number(bytes: &[u8]) -> Option<u64> {
    bcd_to_string(bytes)?.parse().ok()
}

/// Writes `n` as packed BCD filling `out`; false if it has too many digits.
pub fn number_to_bcd(n: u64, out: &mut [u8]) -> bool {
    let s = format!("{n:0width$}", width = out.len() * 2);
    string_to_nibbles(&s, out, false)
}

// ---- CP56Time2a ----

/// Reads a CP56Time2a time. The weekday bits, and the validity and summer
/// time flags above the minute and hour, are ignored; an impossible date or
/// time is `None`.
pub fn cp56_to_time(b: &[u8; 7]) -> Option<NaiveDateTime> {
    let [ms_lo, ms_hi, minute, hour, day, month, year] = *b;
    let ms = u32::from(u16::from_le_bytes([ms_lo, ms_hi]));
    NaiveDate::from_ymd_opt(2000 + i32::from(year & 0x7F), u32::from(month & 0x0F), u32::from(day & 0x1F))?
        .and_hms_milli_opt(u32::from(hour & 0x1F), u32::from(minute & 0x3F), ms / 1000, ms % 1000)
}

/// Writes a CP56Time2a time, weekday ISO-numbered (1 = Monday). Sub-millisecond
/// precision is dropped (the wire has none); years outside 2000–2127 and leap
/// seconds are `None`.
pub fn time_to_cp56(t: NaiveDateTime) -> Option<[u8; 7]> {
    let year = u8::try_from(t.year().checked_sub(2000)?).ok().filter(|y| *y < 128)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let ms = u16::try_from(t.second() * 1000 + nanos / 1_000_000).ok()?;
    let [ms_lo, ms_hi] = ms.to_le_bytes();
    let weekday = t.weekday().number_from_monday() as u8;
    Some([
        ms_lo,
        ms_hi,
        t.minute() as u8,
        t.hour() as u8,
        (weekday << 5) | t.day() as u8,
        t.month() as u8,
        year,
    ])
}

// ---- integers and units ----

pub fn u40_le(b: [u8; 5]) -> u64 {
    let [a, b, c, d, e] = b;
    u64::from_le_bytes([a, b, c, d, e, 0, 0, 0])
}

pub const U40_MAX: u64 = (1 << 40) - 1;

/// The fixed-point units quantities travel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// 0.1 V
    Volt,
    /// 0.1 A
    Amp,
    /// 0.0001 kWh
    Kwh,
    /// 0.00001 yuan/kWh
    Price,
    /// 0.0001 yuan
    Amount,
    /// 0.01 yuan (account balances)
    Balance,
}

impl FixedPoint for Unit {
    fn dp(self) -> u32 {
        match self {
            Unit::Volt | Unit::Amp => 1,
            Unit::Balance => 2,
            Unit::Kwh | Unit::Amount => 4,
            Unit::Price => 5,
        }
    }
}

/// Temperatures travel as u8 with a -50 °C offset.
pub fn temp_from_wire(raw: u8) -> i16 {
    i16::from(raw) - 50
}

pub fn temp_to_wire(celsius: i16, field: &'static str) -> Result<u8, EncodeError> {
    celsius
        .checked_add(50)
        .and_then(|t| u8::try_from(t).ok())
        .ok_or_else(|| EncodeError::from(Misfit::out_of_range(field, celsius)))
}

// ---- walking a body ----

/// YKC as a `body::Wire`: the body walking is shared, the errors and
/// units are YKC's.
pub enum Ykc {}

impl Wire for Ykc {
    type DecodeError = DecodeError;
    type EncodeError = EncodeError;
    type Unit = Unit;
}

/// A body reader with YKC's field kinds (below); the walking itself (and the
/// check against short bodies) is `body::Reader`'s.
pub(crate) type Reader<'a> = body::Reader<'a, Ykc>;

/// A body writer with YKC's field kinds (below), refusing values the wire
/// cannot carry; the plain integers and decimals are `body::Writer`'s.
pub(crate) type Writer = body::Writer<Ykc>;

impl From<Short> for DecodeError {
    fn from(Short { kind, need, got }: Short) -> Self {
        DecodeError::Short { kind, need, got }
    }
}

impl Reader<'_> {
    pub fn u40(&mut self) -> Result<u64, DecodeError> {
        Ok(u40_le(self.bytes()?))
    }

    /// `N` bytes of packed BCD as their `2 * N` digits.
    pub fn bcd<const N: usize>(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let kind = self.kind();
        bcd_to_string(&self.bytes::<N>()?).ok_or(DecodeError::BadBcd { kind, field })
    }

    pub fn pile(&mut self) -> Result<PileId, DecodeError> {
        self.bcd::<7>("pile id").map(PileId)
    }

    pub fn serial(&mut self) -> Result<SessionId, DecodeError> {
        self.bcd::<16>("serial").map(SessionId)
    }

    /// Gun numbers are one BCD byte: 0x10 is gun 10.
    pub fn gun(&mut self) -> Result<u8, DecodeError> {
        let kind = self.kind();
        let n = bcd_to_number(&self.bytes::<1>()?).ok_or(DecodeError::BadBcd { kind, field: "gun" })?;
        u8::try_from(n).map_err(|_| DecodeError::BadBcd { kind, field: "gun" })
    }

    /// A two-byte BCD number such as the billing model number.
    pub fn bcd_u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let kind = self.kind();
        let n = bcd_to_number(&self.bytes::<2>()?).ok_or(DecodeError::BadBcd { kind, field })?;
        u16::try_from(n).map_err(|_| DecodeError::BadBcd { kind, field })
    }

    pub fn sim(&mut self) -> Result<String, DecodeError> {
        Ok(nibbles_to_string(&self.bytes::<10>()?))
    }

    /// Fixed-width text padded with NUL or space; trailing padding is dropped.
    pub fn text<const N: usize>(&mut self) -> Result<String, DecodeError> {
        Ok(padded_text(&self.bytes::<N>()?))
    }

    /// Fixed-width text sent last character first (the VIN of 0x31/0xA1),
    /// returned in reading order with its padding dropped.
    pub fn text_reversed<const N: usize>(&mut self) -> Result<String, DecodeError> {
        let mut raw = self.bytes::<N>()?;
        raw.reverse();
        Ok(padded_text(&raw))
    }

    pub fn time(&mut self, field: &'static str) -> Result<NaiveDateTime, DecodeError> {
        let kind = self.kind();
        cp56_to_time(&self.bytes()?).ok_or(DecodeError::BadTime { kind, field })
    }

    pub fn dec_u40(&mut self, unit: Unit) -> Result<Decimal, DecodeError> {
        Ok(unit.from_wire(self.u40()?))
    }

    pub fn temp(&mut self) -> Result<i16, DecodeError> {
        Ok(temp_from_wire(self.u8()?))
    }
}

/// Text padded with NUL or space, the padding dropped.
fn padded_text(raw: &[u8]) -> String {
    let end = raw.iter().rposition(|&b| b != 0 && b != b' ').map_or(0, |i| i + 1);
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned()
}

/// `s` as NUL-padded printable ASCII of `N` bytes.
fn ascii<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N], EncodeError> {
    if s.len() > N || !is_printable_ascii(s) {
        return Err(EncodeError::BadText { field, value: s.to_owned(), max: N });
    }
    let mut out = [0u8; N];
    out.iter_mut().zip(s.bytes()).for_each(|(o, b)| *o = b);
    Ok(out)
}

pub(crate) fn is_printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii() && !b.is_ascii_control())
}

impl Writer {
    pub fn u40(&mut self, v: u64, field: &'static str) -> Result<(), EncodeError> {
        if v > U40_MAX {
            return Err(EncodeError::from(Misfit::out_of_range(field, v)));
        }
        self.bytes(&v.to_le_bytes()[..5]);
        Ok(())
    }

    /// Exactly `2 * N` decimal digits as packed BCD.
    pub fn digits<const N: usize>(&mut self, s: &str, field: &'static str) -> Result<(), EncodeError> {
        let mut out = [0u8; N];
        if !string_to_nibbles(s, &mut out, false) {
            return Err(EncodeError::BadDigits { field, value: s.to_owned(), digits: N * 2 });
        }
        self.bytes(&out);
        Ok(())
    }

    pub fn pile(&mut self, pile: &PileId) -> Result<(), EncodeError> {
        self.digits::<7>(pile.as_str(), "pile id")
    }

    pub fn serial(&mut self, serial: &SessionId) -> Result<(), EncodeError> {
        self.digits::<16>(serial.as_str(), "serial")
    }

    pub fn gun(&mut self, gun: u8) -> Result<(), EncodeError> {
        self.bcd_number::<1>(gun.into(), "gun")
    }

    pub fn bcd_u16(&mut self, v: u16, field: &'static str) -> Result<(), EncodeError> {
        self.bcd_number::<2>(v.into(), field)
    }

    fn bcd_number<const N: usize>(&mut self, v: u64, field: &'static str) -> Result<(), EncodeError> {
        let mut out = [0u8; N];
        if !number_to_bcd(v, &mut out) {
            return Err(EncodeError::from(Misfit::out_of_range(field, v)));
        }
        self.bytes(&out);
        Ok(())
    }

    pub fn sim(&mut self, sim: &str) -> Result<(), EncodeError> {
        let mut out = [0u8; 10];
        if !string_to_nibbles(sim, &mut out, true) {
            return Err(EncodeError::BadDigits { field: "sim", value: sim.to_owned(), digits: 20 });
        }
        self.bytes(&out);
        Ok(())
    }

    /// Printable ASCII, NUL-padded to `N` bytes.
    pub fn text<const N: usize>(&mut self, s: &str, field: &'static str) -> Result<(), EncodeError> {
        self.bytes(&ascii::<N>(s, field)?);
        Ok(())
    }

    /// Printable ASCII, NUL-padded to `N` bytes, then sent last byte first.
    pub fn text_reversed<const N: usize>(&mut self, s: &str, field: &'static str) -> Result<(), EncodeError> {
        let mut out = ascii::<N>(s, field)?;
        out.reverse();
        self.bytes(&out);
        Ok(())
    }

    pub fn time(&mut self, t: NaiveDateTime, field: &'static str) -> Result<(), EncodeError> {
        let b = time_to_cp56(t).ok_or(EncodeError::BadTime { field, value: t })?;
        self.bytes(&b);
        Ok(())
    }

    pub fn dec_u40(&mut self, v: Decimal, unit: Unit, field: &'static str) -> Result<(), EncodeError> {
        let raw = unit.to_wire(v, U40_MAX, field)?;
        self.u40(raw, field)
    }

    pub fn temp(&mut self, celsius: i16, field: &'static str) -> Result<(), EncodeError> {
        let raw = temp_to_wire(celsius, field)?;
        self.u8(raw);
        Ok(())
    }
}

/// A body shared by several frame types, which carries its type itself.
pub(crate) trait Tagged: body::Body<Ykc> {
    fn kind(&self) -> u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Unfit;
    use rust_decimal_macros::dec;

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_milli_opt(h, mi, s, ms).unwrap()
    }

    #[test]
    fn bcd_digits() {
        assert_eq!(bcd_to_string(&[0x55, 0x03, 0x14]).as_deref(), Some("550314"));
        assert_eq!(bcd_to_string(&[0x5A]), None);
        assert_eq!(bcd_to_number(&[0x10]), Some(10));
        let mut out = [0u8; 2];
        assert!(number_to_bcd(1234, &mut out));
        assert_eq!(out, [0x12, 0x34]);
        assert!(!number_to_bcd(12345, &mut out));
        assert!(!string_to_nibbles("12a4", &mut out, false));
        assert!(string_to_nibbles("12aF", &mut out, true));
        assert_eq!(out, [0x12, 0xAF]);
        assert_eq!(nibbles_to_string(&[0x89, 0x86, 0xFF]), "8986FF");
    }

    #[test]
    fn cp56_round_trip_and_weekday() {
        // 2026-03-02 is a Monday.
        let t = dt(2026, 3, 2, 14, 7, 31, 250);
        let b = time_to_cp56(t).unwrap();
        assert_eq!(b, [0x12, 0x7A, 7, 14, (1 << 5) | 2, 3, 26]); // 31250 ms = 0x7A12
        assert_eq!(cp56_to_time(&b), Some(t));
        // Sunday is 7.
        let sunday = time_to_cp56(dt(2026, 3, 1, 0, 0, 0, 0)).unwrap();
        assert_eq!(sunday[4] >> 5, 7);
    }

    #[test]
    fn cp56_ignores_flag_bits_and_rejects_impossible_dates() {
        let b = [0x00, 0x00, 0x80 | 5, 0x80 | 6, 0xE0 | 15, 0xF0 | 6, 0x80 | 24];
        assert_eq!(cp56_to_time(&b), Some(dt(2024, 6, 15, 6, 5, 0, 0)));
        assert_eq!(cp56_to_time(&[0, 0, 0, 0, 30, 2, 24]), None); // 30 February
        assert_eq!(cp56_to_time(&[0, 0, 60, 0, 1, 1, 24]), None); // minute 60
        assert_eq!(cp56_to_time(&[0x60, 0xEA, 0, 0, 1, 1, 24]), None); // 60000 ms
        assert_eq!(cp56_to_time(&[0, 0, 0, 0, 0, 1, 24]), None); // day 0
        assert_eq!(time_to_cp56(dt(1999, 12, 31, 0, 0, 0, 0)), None);
        assert_eq!(time_to_cp56(dt(2128, 1, 1, 0, 0, 0, 0)), None);
    }

    #[test]
    fn units_decode_and_encode_strictly() {
        assert_eq!(Unit::Volt.from_wire(3805), dec!(380.5));
        assert_eq!(Unit::Price.from_wire(123456), dec!(1.23456));
        assert_eq!(Unit::Kwh.to_wire(dec!(12.3456), u32::MAX.into(), "kwh"), Ok(123456));
        assert_eq!(Unit::Kwh.to_wire(dec!(12.30000000), u32::MAX.into(), "kwh"), Ok(123000));
        assert_eq!(Unit::Balance.to_wire(dec!(-0), u32::MAX.into(), "b"), Ok(0));
        assert!(matches!(
            Unit::Balance.to_wire(dec!(-0.01), u32::MAX.into(), "b").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::Negative, .. }))
        ));
        assert!(matches!(
            Unit::Volt.to_wire(dec!(380.05), u16::MAX.into(), "v").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::TooPrecise { .. }, .. }))
        ));
        assert!(matches!(
            Unit::Volt.to_wire(dec!(6553.6), u16::MAX.into(), "v").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::OutOfRange, .. }))
        ));
        assert_eq!(Unit::Volt.to_wire(dec!(6553.5), u16::MAX.into(), "v"), Ok(65535));
        assert!(Unit::Amount.to_wire(Decimal::MAX, U40_MAX, "a").is_err());
    }

    #[test]
    fn temperatures_carry_an_offset() {
        assert_eq!(temp_from_wire(0), -50);
        assert_eq!(temp_from_wire(255), 205);
        assert_eq!(temp_to_wire(25, "t"), Ok(75));
        assert!(temp_to_wire(-51, "t").is_err());
        assert!(temp_to_wire(206, "t").is_err());
    }

    #[test]
    fn text_trims_padding_and_encodes_strictly() {
        let body = *b"V1.2\0\0  ";
        let mut r = Reader::new(1, &body, 8).unwrap();
        assert_eq!(r.text::<8>().unwrap(), "V1.2");
        let mut w = Writer::with_capacity(8);
        w.text::<8>("V1.2", "fw").unwrap();
        assert_eq!(&w.finish()[..], b"V1.2\0\0\0\0");
        let mut w = Writer::with_capacity(8);
        assert!(w.text::<8>("too long!", "fw").is_err());
        assert!(w.text::<8>("caf\u{e9}", "fw").is_err());
    }

    #[test]
    fn reversed_text_reads_in_reading_order() {
        // A 16-character value, NUL-padded, then reversed.
        let wire = *b"\x00654321N0812UAVSL";
        let mut r = Reader::new(0x31, &wire, 17).unwrap();
        assert_eq!(r.text_reversed::<17>().unwrap(), "LSVAU2180N123456");
        let mut w = Writer::with_capacity(17);
        w.text_reversed::<17>("LSVAU2180N123456", "vin").unwrap();
        assert_eq!(&w.finish()[..], &wire[..]);
    }

    #[test]
    fn variable_parts_raise_the_need() {
        let mut r = Reader::new(0xF0, &[3, b'a', b'b'], 1).unwrap();
        let n = usize::from(r.u8().unwrap());
        assert_eq!(
            r.need(n).map_err(DecodeError::from),
            Err(DecodeError::Short { kind: 0xF0, need: 4, got: 3 })
        );
        let mut r = Reader::new(0xF0, &[2, b'a', b'b', 9], 1).unwrap();
        let n = usize::from(r.u8().unwrap());
        r.need(n).unwrap();
        assert_eq!(r.slice(n).unwrap(), b"ab");
        assert_eq!(r.rest(), &[9]);
        assert_eq!(r.rest(), &[] as &[u8]);
    }

    #[test]
    fn reader_reports_short_bodies_and_never_reads_past_the_end() {
        assert_eq!(
            Reader::new(0x13, &[0; 10], 60).map_err(DecodeError::from).err(),
            Some(DecodeError::Short { kind: 0x13, need: 60, got: 10 })
        );
        let mut r = Reader::new(0x13, &[1, 2], 0).unwrap();
        assert_eq!(r.u16().unwrap(), 0x0201);
        assert!(matches!(r.u8().map_err(DecodeError::from), Err(DecodeError::Short { .. })));
    }
}
