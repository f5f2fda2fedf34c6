//! The transaction record (0x3B), the bill as the pile saw it, and its
//! acknowledgement (0x40).
//!
//! The pile repeats its record until acknowledged, even across reboots, so
//! the same record can arrive more than once; the serial is the key that
//! bills it once.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

use vocab::{PileId, SessionId};

use super::fields::{DecodeError, EncodeError, Reader, Unit, Writer, Ykc};
use crate::body::Body;

/// One tariff period's share of a charge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodUsage {
    /// Yuan per kWh (energy plus service), 0.00001 yuan on the wire.
    pub price: Decimal,
    pub kwh: Decimal,
    pub loss_kwh: Decimal,
    /// Yuan, 0.0001 yuan on the wire.
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionRecord {
    pub serial: SessionId,
    pub pile: PileId,
    pub gun: u8,
    /// The pile's local clock.
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// Indexed by period code (`period::SHARP` ..).
    pub periods: [PeriodUsage; 4],
    /// Meter register readings, kWh.
    pub meter_start: Decimal,
    pub meter_end: Decimal,
    pub kwh: Decimal,
    pub loss_kwh: Decimal,
    pub amount: Decimal,
    /// Up to 17 ASCII characters; empty when unknown.
    pub vin: String,
    /// One of the `TransactionRecord` origin constants.
    pub origin: u8,
    pub trade_time: NaiveDateTime,
    /// See `stop_reason_text`.
    pub stop_reason: u8,
    pub physical_card: [u8; 8],
}

impl TransactionRecord {
    pub const ORIGIN_APP: u8 = 1;
    pub const ORIGIN_CARD: u8 = 2;
    pub const ORIGIN_OFFLINE_CARD: u8 = 4;
    pub const ORIGIN_VIN: u8 = 5;
}

impl Body<Ykc> for TransactionRecord {
    const LEN: usize = 158;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let serial = r.serial()?;
        let pile = r.pile()?;
        let gun = r.gun()?;
        let start = r.time("start time")?;
        let end = r.time("end time")?;
        let mut periods = [PeriodUsage::default(); 4];
        for p in &mut periods {
            *p = PeriodUsage {
                price: r.dec_u32(Unit::Price)?,
                kwh: r.dec_u32(Unit::Kwh)?,
                loss_kwh: r.dec_u32(Unit::Kwh)?,
                amount: r.dec_u32(Unit::Amount)?,
            };
        }
        Ok(TransactionRecord {
            serial,
            pile,
            gun,
            start,
            end,
            periods,
            meter_start: r.dec_u40(Unit::Kwh)?,
            meter_end: r.dec_u40(Unit::Kwh)?,
            kwh: r.dec_u32(Unit::Kwh)?,
            loss_kwh: r.dec_u32(Unit::Kwh)?,
            amount: r.dec_u32(Unit::Amount)?,
            vin: r.text::<17>()?,
            origin: r.u8()?,
            trade_time: r.time("trade time")?,
            stop_reason: r.u8()?,
            physical_card: r.bytes()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.time(self.start, "start time")?;
        w.time(self.end, "end time")?;
        for p in &self.periods {
            w.dec_u32(p.price, Unit::Price, "period price")?;
            w.dec_u32(p.kwh, Unit::Kwh, "period kwh")?;
            w.dec_u32(p.loss_kwh, Unit::Kwh, "period loss-adjusted kwh")?;
            w.dec_u32(p.amount, Unit::Amount, "period amount")?;
        }
        w.dec_u40(self.meter_start, Unit::Kwh, "meter start")?;
        w.dec_u40(self.meter_end, Unit::Kwh, "meter end")?;
        w.dec_u32(self.kwh, Unit::Kwh, "kwh")?;
        w.dec_u32(self.loss_kwh, Unit::Kwh, "loss-adjusted kwh")?;
        w.dec_u32(self.amount, Unit::Amount, "amount")?;
        w.text::<17>(&self.vin, "vin")?;
        w.u8(self.origin);
        w.time(self.trade_time, "trade time")?;
        w.u8(self.stop_reason);
        w.bytes(&self.physical_card);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordAck {
    pub serial: SessionId,
    /// The platform rejects the bill (the pile stops resending either way).
    pub invalid: bool,
}

impl Body<Ykc> for RecordAck {
    const LEN: usize = 17;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RecordAck { serial: r.serial()?, invalid: r.flag()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.flag(self.invalid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::period;
    use crate::ykc::testing::{at, pile, round_trip, serial};
    use crate::ykc::Message;

    fn record() -> TransactionRecord {
        let mut periods = [PeriodUsage::default(); 4];
        periods[usize::from(period::PEAK)] =
            PeriodUsage { price: dec!(1.6), kwh: dec!(3.2), loss_kwh: dec!(3.2), amount: dec!(5.12) };
        periods[usize::from(period::FLAT)] = PeriodUsage {
            price: dec!(1.21234),
            kwh: dec!(9.1456),
            loss_kwh: dec!(9.1456),
            amount: dec!(11.0876),
        };
        TransactionRecord {
            serial: serial(),
            pile: pile(),
            gun: 1,
            start: at(8, 30, 0),
            end: at(9, 41, 17),
            periods,
            meter_start: dec!(81234.5678),
            meter_end: dec!(81246.9134),
            kwh: dec!(12.3456),
            loss_kwh: dec!(12.3456),
            amount: dec!(16.2076),
            vin: "LSVAU2180N2123456".into(),
            origin: TransactionRecord::ORIGIN_APP,
            trade_time: at(9, 41, 18),
            stop_reason: 0x40,
            physical_card: [0; 8],
        }
    }

    #[test]
    fn record_round_trip_and_layout() {
        let body = round_trip(Message::TransactionRecord(record()));
        assert_eq!(body.len(), 158);
        // Meter start, u40 at offset 102.
        assert_eq!(&body[102..107], &812_345_678u64.to_le_bytes()[..5]);
        assert_eq!(&body[124..141], b"LSVAU2180N2123456");
        assert_eq!(body[141], 1);
        assert_eq!(body[149], 0x40);
    }

    #[test]
    fn record_without_vin_round_trip() {
        let mut r = record();
        r.vin = String::new();
        r.origin = TransactionRecord::ORIGIN_CARD;
        r.stop_reason = 0x6E;
        r.physical_card = [1, 2, 3, 4, 5, 6, 7, 8];
        let body = round_trip(Message::TransactionRecord(r));
        assert_eq!(&body[124..141], &[0; 17]);
    }

    #[test]
    fn impossible_time_is_a_decode_error() {
        let mut body = Message::TransactionRecord(record()).encode(0).unwrap().body.to_vec();
        body[24 + 5] = 13; // start month
        let frame = crate::ykc::Frame { seq: 0, enc: 0, kind: 0x3B, body: body.into() };
        assert!(matches!(
            Message::decode(&frame),
            Err(crate::ykc::DecodeError::BadTime { field: "start time", .. })
        ));
    }

    #[test]
    fn ack_round_trip() {
        for invalid in [false, true] {
            let body = round_trip(Message::RecordAck(RecordAck { serial: serial(), invalid }));
            assert_eq!(body.len(), 17);
        }
    }
}
