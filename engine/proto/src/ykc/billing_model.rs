//! Billing models: the time-of-use tariff a pile displays and bills with.
//!
//! A pile checks its model number on login (0x05/0x06), asks for the model
//! when it differs (0x09/0x0A), and may be pushed one at any time (0x58, same
//! body as 0x0A). The body is the wire layout only: rates per period and the
//! period code of each half hour. Turning a tariff into one is the YKC
//! adapter's job (`actors/src/adapter/ykc.rs`), so this codec knows no
//! tariffs.

use rust_decimal::Decimal;
use vocab::PileId;

use super::fields::{DecodeError, EncodeError, Reader, Unit, Writer, Ykc};
use crate::body::{Body, Misfit};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModelCheck {
    pub pile: PileId,
    /// 0..=9999; 0 on a pile's first login.
    pub model: u16,
}

impl Body<Ykc> for BillingModelCheck {
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BillingModelCheck { pile: r.pile()?, model: r.bcd_u16("model")? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.bcd_u16(self.model, "model")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModelCheckReply {
    pub pile: PileId,
    pub model: u16,
    pub differs: bool,
}

impl Body<Ykc> for BillingModelCheckReply {
    const LEN: usize = 10;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BillingModelCheckReply { pile: r.pile()?, model: r.bcd_u16("model")?, differs: r.flag()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.bcd_u16(self.model, "model")?;
        w.flag(self.differs);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModelRequest {
    pub pile: PileId,
}

impl Body<Ykc> for BillingModelRequest {
    const LEN: usize = 7;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BillingModelRequest { pile: r.pile()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)
    }
}

/// Half-hour slots in a day.
pub const SLOTS: usize = 48;

/// The wire's period codes: a slot byte, and the index of a period's rates
/// in `BillingModel::prices` and of its usage in a transaction record.
pub mod period {
    pub const SHARP: u8 = 0;
    pub const PEAK: u8 = 1;
    pub const FLAT: u8 = 2;
    pub const VALLEY: u8 = 3;
    /// How many periods there are; a slot byte is below this.
    pub const COUNT: usize = 4;
}

/// One period's rates, yuan per kWh; 5 decimal places on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodRate {
    pub energy: Decimal,
    pub service: Decimal,
}

/// Prices per period and the period of each half hour of the local day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModel {
    pub pile: PileId,
    pub model: u16,
    /// Indexed by period code (`period::SHARP` ..).
    pub prices: [PeriodRate; period::COUNT],
    /// Percent of metered energy added for cable losses; 0 for none.
    pub loss_ratio: u8,
    /// The period code of each half hour; slot 0 is 00:00–00:30.
    pub slots: [u8; SLOTS],
}

impl Body<Ykc> for BillingModel {
    const LEN: usize = 7 + 2 + 4 * 8 + 1 + SLOTS;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let model = r.bcd_u16("model")?;
        let mut prices = [PeriodRate::default(); period::COUNT];
        for p in &mut prices {
            p.energy = r.dec_u32(Unit::Price)?;
            p.service = r.dec_u32(Unit::Price)?;
        }
        let loss_ratio = r.u8()?;
        let mut slots = [period::FLAT; SLOTS];
        for slot in &mut slots {
            let b = r.u8()?;
            if usize::from(b) >= period::COUNT {
                return Err(DecodeError::BadValue { kind: r.kind(), field: "slot", value: b });
            }
            *slot = b;
        }
        Ok(BillingModel { pile, model, prices, loss_ratio, slots })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.bcd_u16(self.model, "model")?;
        for p in &self.prices {
            w.dec_u32(p.energy, Unit::Price, "energy price")?;
            w.dec_u32(p.service, Unit::Price, "service price")?;
        }
        w.u8(self.loss_ratio);
        for &slot in &self.slots {
            if usize::from(slot) >= period::COUNT {
                return Err(EncodeError::from(Misfit::out_of_range("slot", slot)));
            }
            w.u8(slot);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::testing::{pile, round_trip};
    use crate::ykc::{DecodeError, Frame, Message};

    fn model(model: u16) -> BillingModel {
        let mut slots = [period::FLAT; SLOTS];
        slots[..16].fill(period::VALLEY);
        slots[20..24].fill(period::PEAK);
        slots[24..28].fill(period::SHARP);
        BillingModel {
            pile: pile(),
            model,
            prices: [
                PeriodRate { energy: dec!(1.2), service: dec!(0.8) },
                PeriodRate { energy: dec!(1.0), service: dec!(0.6) },
                PeriodRate { energy: dec!(0.71234), service: dec!(0.5) },
                PeriodRate { energy: dec!(0.3), service: dec!(0.4) },
            ],
            loss_ratio: 0,
            slots,
        }
    }

    #[test]
    fn billing_model_round_trip() {
        let bm = model(101);
        let body = round_trip(Message::BillingModel(bm.clone()));
        assert_eq!(body.len(), 90);
        assert_eq!(&body[7..9], &[0x01, 0x01]); // model 0101 in BCD
        assert_eq!(&body[9..13], &120_000u32.to_le_bytes()); // sharp energy 1.2 yuan
        assert_eq!(body[41], 0); // loss ratio
        assert_eq!(body[42], 3); // 00:00 is valley
        assert_eq!(body[42 + 24], 0); // 12:00 is sharp
        round_trip(Message::BillingModelPush(bm));
    }

    #[test]
    fn bad_slot_byte_is_a_decode_error() {
        let bm = model(1);
        let mut body = Message::BillingModel(bm).encode(0).unwrap().body.to_vec();
        body[89] = 4;
        let frame = Frame { seq: 0, enc: 0, kind: 0x0A, body: body.into() };
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::BadValue { kind: 0x0A, field: "slot", value: 4 })
        );
    }

    #[test]
    fn too_precise_price_is_an_encode_error() {
        let mut bm = model(1);
        bm.prices[0].energy = dec!(1.234567);
        assert!(Message::BillingModel(bm).encode(0).is_err());
    }

    #[test]
    fn bad_slot_code_is_an_encode_error() {
        let mut bm = model(1);
        bm.slots[5] = 4;
        assert!(Message::BillingModel(bm).encode(0).is_err());
    }

    #[test]
    fn check_request_and_reply_round_trip() {
        let body = round_trip(Message::BillingModelCheck(BillingModelCheck { pile: pile(), model: 9999 }));
        assert_eq!(&body[7..], &[0x99, 0x99]);
        round_trip(Message::BillingModelCheckReply(BillingModelCheckReply {
            pile: pile(),
            model: 12,
            differs: true,
        }));
        round_trip(Message::BillingModelRequest(BillingModelRequest { pile: pile() }));
        assert!(Message::BillingModelCheck(BillingModelCheck { pile: pile(), model: 10_000 })
            .encode(0)
            .is_err());
    }
}
