//! Walking a frame body field by field, the same for every protocol here: a
//! reader that never reads past the end (a short body is an error, not a
//! panic), a writer, the fixed-point numbers both wires carry, and the
//! `Body` trait every typed frame body implements. Each protocol's `fields`
//! module names itself as a `Wire` (its errors and its units) and adds its
//! own field kinds to `Reader<W>` and `Writer<W>` (YKC's BCD ids and
//! CP56Time2a times, AP3000's order numbers and unix times), so the walking,
//! the decimal fields and the body round trip are written once.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes, BytesMut};
use rust_decimal::{Decimal, RoundingStrategy};

/// One protocol's view of a body: its errors and the fixed-point units its
/// quantities travel in. Implemented by an uninhabited marker type per codec.
pub trait Wire {
    type DecodeError: From<Short>;
    type EncodeError: From<Misfit>;
    type Unit: FixedPoint;
}

/// A frame body with a fixed layout, or a fixed head and a variable part.
/// Bodies may be longer than `LEN` (newer firmware appends fields) but never
/// shorter.
pub trait Body<W: Wire>: Sized {
    /// The documented length, or the smallest one for a variable body.
    const LEN: usize;
    fn read(r: &mut Reader<'_, W>) -> Result<Self, W::DecodeError>;
    fn write(&self, w: &mut Writer<W>) -> Result<(), W::EncodeError>;

    /// The length this value encodes to.
    fn encoded_len(&self) -> usize {
        Self::LEN
    }

    /// The body of a frame of type (or command) `kind`, checked against `LEN`.
    fn decode(kind: u8, body: &[u8]) -> Result<Self, W::DecodeError> {
        Self::read(&mut Reader::new(kind, body, Self::LEN)?)
    }

    fn encode(&self) -> Result<Bytes, W::EncodeError> {
        let mut w = Writer::with_capacity(self.encoded_len());
        self.write(&mut w)?;
        debug_assert_eq!(w.len(), self.encoded_len(), "body layout and length disagree");
        Ok(w.finish())
    }
}

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
pub struct Reader<'a, W> {
    kind: u8,
    need: usize,
    got: usize,
    rest: &'a [u8],
    wire: PhantomData<fn() -> W>,
}

impl<'a, W: Wire> Reader<'a, W> {
    /// Trailing bytes beyond `need` are ignored: newer firmware appends fields.
    pub fn new(kind: u8, body: &'a [u8], need: usize) -> Result<Self, Short> {
        let got = body.len();
        if got < need {
            return Err(Short { kind, need, got });
        }
        Ok(Reader { kind, need, got, rest: body, wire: PhantomData })
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

    pub fn dec_u16(&mut self, unit: W::Unit) -> Result<Decimal, Short> {
        Ok(unit.from_wire(self.u16()?.into()))
    }

    pub fn dec_u32(&mut self, unit: W::Unit) -> Result<Decimal, Short> {
        Ok(unit.from_wire(self.u32()?.into()))
    }
}

/// Writes a body front to back; every integer little-endian.
pub struct Writer<W> {
    buf: BytesMut,
    wire: PhantomData<fn() -> W>,
}

impl<W: Wire> Writer<W> {
    pub fn with_capacity(n: usize) -> Self {
        Writer { buf: BytesMut::with_capacity(n), wire: PhantomData }
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

    pub fn dec_u16(&mut self, v: Decimal, unit: W::Unit, field: &'static str) -> Result<(), W::EncodeError> {
        let raw = unit.to_wire(v, u16::MAX.into(), field)?;
        self.u16(raw as u16);
        Ok(())
    }

    pub fn dec_u32(&mut self, v: Decimal, unit: W::Unit, field: &'static str) -> Result<(), W::EncodeError> {
        let raw = unit.to_wire(v, u32::MAX.into(), field)?;
        self.u32(raw as u32);
        Ok(())
    }
}

/// Why a value cannot go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfit {
    Negative,
    /// Finer than the field's `dp` decimal places.
    TooPrecise {
        dp: u32,
    },
    OutOfRange,
}

/// A value a field cannot carry: negative, finer than its decimal places,
/// or out of its range. Both codecs' `EncodeError`s carry it as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misfit {
    pub field: &'static str,
    pub value: String,
    pub why: Unfit,
}

impl Misfit {
    /// A value (a count, a code, a percentage) outside what its field takes.
    pub fn out_of_range(field: &'static str, value: impl ToString) -> Misfit {
        Misfit { field, value: value.to_string(), why: Unfit::OutOfRange }
    }
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Misfit { field, value, why } = self;
        match why {
            Unfit::Negative => write!(f, "{field}: {value} is negative"),
            Unfit::TooPrecise { dp } => {
                write!(f, "{field}: {value} is finer than the wire's {dp} decimal places")
            }
            Unfit::OutOfRange => write!(f, "{field}: {value} does not fit the wire field"),
        }
    }
}

impl std::error::Error for Misfit {}

/// A protocol's fixed-point units: how many decimal places one wire unit has.
pub trait FixedPoint: Copy {
    /// Decimal places of one wire unit.
    fn dp(self) -> u32;

    // Reads as "this unit, from the wire"; `self` is the unit, not the value.
    #[allow(clippy::wrong_self_convention)]
    fn from_wire(self, raw: u64) -> Decimal {
        from_wire(raw, self.dp())
    }

    /// The wire integer for `value` (see `to_wire`), at most `max`.
    fn to_wire(self, value: Decimal, max: u64, field: &'static str) -> Result<u64, Misfit> {
        let dp = self.dp();
        to_wire(value, dp, max).map_err(|why| Misfit { field, value: value.to_string(), why })
    }
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
        return Err(Unfit::TooPrecise { dp });
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

    /// A wire with no field kinds of its own, to test the shared walking.
    enum Plain {}

    #[derive(Clone, Copy)]
    struct Cents;

    impl FixedPoint for Cents {
        fn dp(self) -> u32 {
            2
        }
    }

    impl Wire for Plain {
        type DecodeError = Short;
        type EncodeError = Misfit;
        type Unit = Cents;
    }

    #[derive(Debug, PartialEq)]
    struct Price {
        id: u8,
        amount: Decimal,
    }

    impl Body<Plain> for Price {
        const LEN: usize = 5;

        fn read(r: &mut Reader<'_, Plain>) -> Result<Self, Short> {
            Ok(Price { id: r.u8()?, amount: r.dec_u32(Cents)? })
        }

        fn write(&self, w: &mut Writer<Plain>) -> Result<(), Misfit> {
            w.u8(self.id);
            w.dec_u32(self.amount, Cents, "amount")
        }
    }

    #[test]
    fn a_reader_reports_short_bodies_and_never_reads_past_the_end() {
        assert_eq!(Reader::<Plain>::new(7, &[1, 2], 3).err(), Some(Short { kind: 7, need: 3, got: 2 }));
        let mut r = Reader::<Plain>::new(7, &[1, 2, 3], 2).unwrap();
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
        assert_eq!(to_wire(dec!(0.001), 2, 1000), Err(Unfit::TooPrecise { dp: 2 }));
        assert_eq!(to_wire(dec!(10.01), 2, 1000), Err(Unfit::OutOfRange));
    }

    #[test]
    fn a_body_round_trips_and_refuses_what_its_fields_cannot_carry() {
        let price = Price { id: 3, amount: dec!(12.34) };
        let wire = price.encode().unwrap();
        assert_eq!(&wire[..], &[3, 0xD2, 0x04, 0, 0]);
        assert_eq!(Price::decode(0x10, &wire), Ok(price));
        assert_eq!(Price::decode(0x10, &wire[..4]), Err(Short { kind: 0x10, need: 5, got: 4 }));
        let fine = Price { id: 3, amount: dec!(0.001) };
        assert_eq!(
            fine.encode(),
            Err(Misfit { field: "amount", value: "0.001".into(), why: Unfit::TooPrecise { dp: 2 } })
        );
    }
}
