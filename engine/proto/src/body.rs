//! Walking a frame body field by field, the same for every protocol here: a
//! reader that never reads past the end (a short body is an error, not a
//! panic), a writer, and the fixed-point numbers both wires carry. Each
//! protocol's `fields` module puts its own field kinds on top (YKC's BCD
//! ids and CP56Time2a times, AP3000's order numbers and unix times) and its
//! own errors around these.

use bytes::{BufMut, Bytes, BytesMut};
use rust_decimal::{Decimal, RoundingStrategy};

/// A body shorter than its layout needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Short {
    /// The frame type (YKC) or command (AP3000) being read.
    pub kind: u8,
    pub need: usize,
    pub got: usize,
}

/// Reads a body front to back. Bodies are checked against their documented
/// length up front (and again by `need` for variable parts), so a read past
/// the end only happens on a codec bug; it is still an error.
pub struct Reader<'a> {
    kind: u8,
    need: usize,
    got: usize,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Trailing bytes beyond `need` are ignored: newer firmware appends fields.
    pub fn new(kind: u8, body: &'a [u8], need: usize) -> Result<Self, Short> {
        let got = body.len();
        if got < need {
            return Err(Short { kind, need, got });
        }
        Ok(Reader { kind, need, got, rest: body })
    }

    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// Bytes not yet read: the optional fields newer versions append.
    pub fn left(&self) -> usize {
        self.rest.len()
    }

    fn short(&self) -> Short {
        Short { kind: self.kind, need: self.need, got: self.got }
    }

    /// Raises the documented length by `more` bytes, for a variable part
    /// whose size the body itself declares.
    pub fn need(&mut self, more: usize) -> Result<(), Short> {
        self.need = self.need.saturating_add(more);
        if self.got < self.need {
            return Err(self.short());
        }
        Ok(())
    }

    /// The next `n` bytes.
    pub fn slice(&mut self, n: usize) -> Result<&'a [u8], Short> {
        if self.rest.len() < n {
            return Err(self.short());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// Everything not read yet, for a body whose tail is kept raw.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let short = self.short();
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or(short)?;
        self.rest = rest;
        Ok(*head)
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        let [b] = self.bytes()?;
        Ok(b)
    }

    /// Flags are 0 for false; any other value reads as true.
    pub fn flag(&mut self) -> Result<bool, Short> {
        Ok(self.u8()? != 0)
    }

    pub fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.bytes()?))
    }

    pub fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
}

/// Writes a body front to back; every integer little-endian.
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer { buf: BytesMut::with_capacity(n) }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.put_slice(b);
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    pub fn flag(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.put_u16_le(v);
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.put_u32_le(v);
    }
}

/// Why a quantity cannot go on the wire in a fixed-point field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unfit {
    Negative,
    /// Finer than the field's decimal places.
    TooPrecise,
    OutOfRange,
}

/// A field's integer as the quantity it counts, in units of 10^-`dp`.
pub fn from_wire(raw: u64, dp: u32) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(raw), dp)
}

/// The field's integer for `value`: non-negative, a whole number of units
/// (rounding to the unit must not change it) and at most `max`. Encoding is
/// strict so the platform never tells a pile something it did not mean.
pub fn to_wire(value: Decimal, dp: u32, max: u64) -> Result<u64, Unfit> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(Unfit::Negative);
    }
    let rounded = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    if rounded != value {
        return Err(Unfit::TooPrecise);
    }
    // `rounded` has at most `dp` places, so this is exact.
    let shift = dp.saturating_sub(rounded.scale());
    rounded
        .mantissa()
        .checked_mul(10i128.pow(shift))
        .and_then(|units| u64::try_from(units).ok())
        .filter(|units| *units <= max)
        .ok_or(Unfit::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_reader_reports_short_bodies_and_never_reads_past_the_end() {
        assert_eq!(Reader::new(7, &[1, 2], 3).err(), Some(Short { kind: 7, need: 3, got: 2 }));
        let mut r = Reader::new(7, &[1, 2, 3], 2).unwrap();
        assert_eq!(r.u16(), Ok(0x0201));
        assert_eq!(r.left(), 1);
        assert_eq!(r.u16(), Err(Short { kind: 7, need: 2, got: 3 }));
        assert_eq!(r.need(2), Err(Short { kind: 7, need: 4, got: 3 }));
        assert_eq!(r.rest(), &[3]);
    }

    #[test]
    fn fixed_point_fields_are_exact_or_refused() {
        assert_eq!(from_wire(12345, 2), dec!(123.45));
        assert_eq!(to_wire(dec!(123.45), 2, u16::MAX.into()), Ok(12345));
        assert_eq!(to_wire(dec!(1.5), 2, 1000), Ok(150));
        assert_eq!(to_wire(dec!(-0), 2, 10), Ok(0));
        assert_eq!(to_wire(dec!(-1), 2, 1000), Err(Unfit::Negative));
        assert_eq!(to_wire(dec!(0.001), 2, 1000), Err(Unfit::TooPrecise));
        assert_eq!(to_wire(dec!(10.01), 2, 1000), Err(Unfit::OutOfRange));
    }
}
