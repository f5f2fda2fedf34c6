//! Field encodings shared by every DNY frame body, and the errors they raise.
//!
//! Everything is a little-endian integer in a fixed unit (spec §1.05), a
//! unix time, or a 16-byte order number. Decoding is tolerant: whatever the wire can
//! carry is accepted. Encoding is strict: a value the wire cannot carry
//! exactly is an error, never silently rounded or truncated.
//!
//! `Reader` and `Writer` (the shared `body` ones, with AP3000's field kinds
//! added here) walk a body field by field; the frame modules are little
//! more than the field order.

use chrono::{DateTime, Utc};

use crate::body::{self, FixedPoint, Misfit, Short, Wire};

/// Bytes of an order number on the wire.
pub const ORDER_LEN: usize = 16;

/// Why a frame body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("command 0x{cmd:02X}: data of {got} bytes, need {need}")]
    Short { cmd: u8, need: usize, got: usize },
}

impl DecodeError {
    /// A short name for metric labels.
    pub fn kind_label(&self) -> &'static str {
        match self {
            DecodeError::Short { .. } => "short",
        }
    }
}

/// Why a value could not be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A value its field cannot carry (shared with the other codec).
    #[error(transparent)]
    Misfit(#[from] Misfit),
    #[error("{field}: {value:?} is not printable ASCII of at most {max} bytes")]
    BadText { field: &'static str, value: String, max: usize },
    #[error("{field}: {value} is not a whole second between 1970 and 2106")]
    BadTime { field: &'static str, value: DateTime<Utc> },
    #[error("command 0x{cmd:02X}: data of {len} bytes exceeds the frame maximum")]
    TooLong { cmd: u8, len: usize },
    /// A newer field is set while an older one it follows on the wire is not.
    #[error("{field} is set but a field before it is not")]
    Gap { field: &'static str },
    #[error("{field}: {value:?} is neither at most 16 printable ASCII characters nor 32 hex digits")]
    BadOrder { field: &'static str, value: String },
}

/// The fixed-point units quantities travel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// 0.01 yuan (fen)
    Money,
    /// 0.1 W
    Power,
    /// whole watts (0x82's full-power threshold)
    Watt,
    /// 0.01 kWh
    Energy,
    /// 0.1 V
    Volt,
    /// 0.001 A (0x06's current)
    MilliAmp,
}

impl FixedPoint for Scale {
    fn dp(self) -> u32 {
        match self {
            Scale::Watt => 0,
            Scale::Power | Scale::Volt => 1,
            Scale::Money | Scale::Energy => 2,
            Scale::MilliAmp => 3,
        }
    }
}

/// Temperatures travel as u8 with a -65 °C offset; 0 means the pile has no
/// sensor (spec §1.05), so -65 °C itself cannot be sent.
pub const TEMP_OFFSET: i16 = 65;

pub fn temp_from_wire(raw: u8) -> Option<i16> {
    (raw != 0).then(|| i16::from(raw) - TEMP_OFFSET)
}

pub fn temp_to_wire(celsius: Option<i16>, field: &'static str) -> Result<u8, EncodeError> {
    let Some(c) = celsius else { return Ok(0) };
    c.checked_add(TEMP_OFFSET)
        .and_then(|t| u8::try_from(t).ok())
        .filter(|&t| t != 0)
        .ok_or_else(|| EncodeError::from(Misfit::out_of_range(field, c)))
}

/// A u32 unix time. Every u32 is a valid time.
pub fn time_from_wire(raw: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(raw), 0).unwrap_or_default()
}

/// Whole seconds from 1970 up to `u32::MAX` (2106-02-07).
pub fn time_to_wire(t: DateTime<Utc>, field: &'static str) -> Result<u32, EncodeError> {
    if t.timestamp_subsec_nanos() != 0 {
        return Err(EncodeError::BadTime { field, value: t });
    }
    u32::try_from(t.timestamp()).map_err(|_| EncodeError::BadTime { field, value: t })
}

/// An order number: 16 bytes the pile stores and echoes unread (spec §4.2).
/// The platform's own are ASCII; a pile's card, offline and code starts are
/// binary (date, card, device and port, §3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OrderNo(pub [u8; ORDER_LEN]);

impl OrderNo {
    /// The text form, which round-trips through `from_text`: printable ASCII
    /// followed only by NULs reads as that text, anything else as 32
    /// uppercase hex digits.
    pub fn to_text(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(ORDER_LEN);
        let (text, pad) = self.0.split_at(end);
        if text.iter().all(|&b| b.is_ascii_graphic() || b == b' ') && pad.iter().all(|&b| b == 0) {
            return String::from_utf8_lossy(text).into_owned();
        }
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// At most 16 printable ASCII characters (NUL-padded), or the 32 hex
    /// digits `to_text` gives a binary order.
    pub fn from_text(text: &str, field: &'static str) -> Result<OrderNo, EncodeError> {
        let bad = || EncodeError::BadOrder { field, value: text.to_owned() };
        let mut out = [0u8; ORDER_LEN];
        if text.len() <= ORDER_LEN {
            if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err(bad());
            }
            out.iter_mut().zip(text.bytes()).for_each(|(o, b)| *o = b);
            return Ok(OrderNo(out));
        }
        if text.len() != 2 * ORDER_LEN || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        for (o, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *o = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(OrderNo(out))
    }

    /// All zeros: no order (a report before the pile has one).
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }
}

// ---- walking a body ----

/// AP3000 as a `body::Wire`: the body walking is shared, the errors and
/// scales are AP3000's.
pub enum Dny {}

impl Wire for Dny {
    type DecodeError = DecodeError;
    type EncodeError = EncodeError;
    type Unit = Scale;
}

/// A body reader with AP3000's field kinds (below); the walking itself (and
/// the check against short bodies) is `body::Reader`'s.
pub(crate) type Reader<'a> = body::Reader<'a, Dny>;

/// A body writer with AP3000's field kinds (below), refusing values the
/// wire cannot carry; the plain integers and decimals are `body::Writer`'s.
pub(crate) type Writer = body::Writer<Dny>;

impl From<Short> for DecodeError {
    fn from(Short { kind, need, got }: Short) -> Self {
        DecodeError::Short { cmd: kind, need, got }
    }
}

impl Reader<'_> {
    pub fn temp(&mut self) -> Result<Option<i16>, DecodeError> {
        Ok(temp_from_wire(self.u8()?))
    }

    pub fn time(&mut self) -> Result<DateTime<Utc>, DecodeError> {
        Ok(time_from_wire(self.u32()?))
    }

    pub fn order(&mut self) -> Result<OrderNo, DecodeError> {
        Ok(OrderNo(self.bytes()?))
    }
}

impl Writer {
    pub fn temp(&mut self, celsius: Option<i16>, field: &'static str) -> Result<(), EncodeError> {
        let raw = temp_to_wire(celsius, field)?;
        self.u8(raw);
        Ok(())
    }

    pub fn time(&mut self, t: DateTime<Utc>, field: &'static str) -> Result<(), EncodeError> {
        let raw = time_to_wire(t, field)?;
        self.u32(raw);
        Ok(())
    }

    pub fn order(&mut self, order: &OrderNo) {
        self.bytes(&order.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Unfit;
    use rust_decimal_macros::dec;

    #[test]
    fn scales_decode_and_encode_strictly() {
        assert_eq!(Scale::Power.from_wire(1805), dec!(180.5));
        assert_eq!(Scale::Energy.from_wire(63), dec!(0.63));
        assert_eq!(Scale::Watt.from_wire(6000), dec!(6000));
        assert_eq!(Scale::MilliAmp.from_wire(455), dec!(0.455));
        assert_eq!(Scale::Money.to_wire(dec!(12.30000), u32::MAX.into(), "m"), Ok(1230));
        assert_eq!(Scale::MilliAmp.to_wire(dec!(-0), u16::MAX.into(), "a"), Ok(0));
        assert!(matches!(
            Scale::Money.to_wire(dec!(-0.01), u32::MAX.into(), "m").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::Negative, .. }))
        ));
        assert!(matches!(
            Scale::Power.to_wire(dec!(180.05), u16::MAX.into(), "p").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::TooPrecise { .. }, .. }))
        ));
        assert!(matches!(
            Scale::Watt.to_wire(dec!(6000.5), u16::MAX.into(), "w").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::TooPrecise { .. }, .. }))
        ));
        assert!(matches!(
            Scale::Power.to_wire(dec!(6553.6), u16::MAX.into(), "p").map_err(EncodeError::from),
            Err(EncodeError::Misfit(Misfit { why: Unfit::OutOfRange, .. }))
        ));
        assert_eq!(Scale::Power.to_wire(dec!(6553.5), u16::MAX.into(), "p"), Ok(65535));
        assert!(Scale::Money.to_wire(rust_decimal::Decimal::MAX, u32::MAX.into(), "m").is_err());
    }

    #[test]
    fn temperatures_carry_an_offset_of_65_and_0_is_no_sensor() {
        assert_eq!(temp_from_wire(0), None);
        assert_eq!(temp_from_wire(1), Some(-64));
        assert_eq!(temp_from_wire(90), Some(25));
        assert_eq!(temp_from_wire(255), Some(190));
        assert_eq!(temp_to_wire(Some(25), "t"), Ok(90));
        assert_eq!(temp_to_wire(None, "t"), Ok(0));
        assert!(temp_to_wire(Some(-65), "t").is_err());
        assert!(temp_to_wire(Some(191), "t").is_err());
    }

    #[test]
    fn times_are_whole_u32_seconds() {
        let t = time_from_wire(1_772_352_000);
        assert_eq!(t.to_rfc3339(), "2026-03-01T08:00:00+00:00");
        assert_eq!(time_to_wire(t, "t"), Ok(1_772_352_000));
        assert_eq!(time_to_wire(time_from_wire(u32::MAX), "t"), Ok(u32::MAX));
        let frac = t + chrono::Duration::milliseconds(500);
        assert!(matches!(time_to_wire(frac, "t"), Err(EncodeError::BadTime { .. })));
        let early = DateTime::from_timestamp(-1, 0).unwrap();
        assert!(time_to_wire(early, "t").is_err());
        let late = DateTime::from_timestamp(i64::from(u32::MAX) + 1, 0).unwrap();
        assert!(time_to_wire(late, "t").is_err());
    }

    #[test]
    fn orders_are_text_or_hex_and_round_trip() {
        let ascii = OrderNo::from_text("A1", "o").unwrap();
        assert_eq!(ascii.0[..3], [b'A', b'1', 0]);
        assert_eq!(ascii.to_text(), "A1");
        assert_eq!(OrderNo::from_text("0123456789ABCDEF", "o").unwrap().0, *b"0123456789ABCDEF");
        // §3.3's offline order: binary, so it reads as hex and back.
        let bin = OrderNo([0x20, 0x19, 0x09, 0x01, 0x18, 0, 0, 0x13, 0, 0x30, 0x38, 1, 2, 3, 4, 5]);
        assert_eq!(bin.to_text(), "20190901180000130030380102030405");
        assert_eq!(OrderNo::from_text(&bin.to_text(), "o"), Ok(bin));
        // A NUL inside is binary, not text cut short.
        let mut gap = OrderNo::default();
        gap.0[0] = b'A';
        gap.0[2] = b'B';
        assert_eq!(OrderNo::from_text(&gap.to_text(), "o"), Ok(gap));
        assert_eq!(OrderNo::default().to_text(), "");
        assert!(OrderNo::default().is_empty() && !ascii.is_empty());
        for bad in ["0123456789ABCDEFG", "caf\u{e9}", "a\tb", "2019090118000013003038010203040G"] {
            assert!(OrderNo::from_text(bad, "o").is_err(), "{bad}");
        }
    }

    #[test]
    fn reader_reports_short_bodies_and_never_reads_past_the_end() {
        assert_eq!(
            Reader::new(0x06, &[0; 10], 33).map_err(DecodeError::from).err(),
            Some(DecodeError::Short { cmd: 6, need: 33, got: 10 })
        );
        let mut r = Reader::new(0x21, &[1, 2, 3], 0).unwrap();
        assert_eq!(r.u16().unwrap(), 0x0201);
        assert_eq!(
            r.need(5).map_err(DecodeError::from),
            Err(DecodeError::Short { cmd: 0x21, need: 5, got: 3 })
        );
        assert!(r.u16().is_err());
        assert!(r.slice(2).is_err());
        assert_eq!(r.slice(1).unwrap(), &[3]);
    }
}
