//! Billing models: the time-of-use tariff a pile displays and bills with.
//!
//! A pile checks its model number on login (0x05/0x06), asks for the model
//! when it differs (0x09/0x0A), and may be pushed one at any time (0x58, same
//! body as 0x0A). The model is a `TouPrices` in wire form.

use crate::domain::PileId;
use crate::tariff::{Period, PeriodPrice, TouPrices, SLOTS};

use super::fields::{DecodeError, EncodeError, Reader, Unit, Writer};
use super::message::Body;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModelCheck {
    pub pile: PileId,
    /// 0..=9999; 0 on a pile's first login.
    pub model: u16,
}

impl Body for BillingModelCheck {
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

impl Body for BillingModelCheckReply {
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

impl Body for BillingModelRequest {
    const LEN: usize = 7;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BillingModelRequest { pile: r.pile()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)
    }
}

/// Prices per period and the period of each half hour of the local day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingModel {
    pub pile: PileId,
    pub model: u16,
    /// Yuan per kWh, indexed by `Period::index`; 5 decimal places on the wire.
    pub prices: [PeriodPrice; 4],
    /// Percent of metered energy added for cable losses; 0 for none.
    pub loss_ratio: u8,
    /// Slot 0 is 00:00–00:30.
    pub slots: [Period; SLOTS],
}

impl BillingModel {
    pub fn from_tou(pile: PileId, model: u16, tou: &TouPrices) -> Self {
        BillingModel { pile, model, prices: tou.prices, loss_ratio: 0, slots: tou.slots }
    }

    pub fn to_tou(&self) -> TouPrices {
        TouPrices { prices: self.prices, slots: self.slots }
    }
}

impl Body for BillingModel {
    const LEN: usize = 7 + 2 + 4 * 8 + 1 + SLOTS;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let model = r.bcd_u16("model")?;
        let mut prices = [PeriodPrice { energy: 0.into(), service: 0.into() }; 4];
        for p in &mut prices {
            p.energy = r.dec_u32(Unit::Price)?;
            p.service = r.dec_u32(Unit::Price)?;
        }
        let loss_ratio = r.u8()?;
        let mut slots = [Period::Flat; SLOTS];
        for slot in &mut slots {
            let b = r.u8()?;
            *slot = Period::from_index(b).ok_or(DecodeError::BadValue {
                kind: r.kind(),
                field: "slot",
                value: b,
            })?;
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
        for slot in &self.slots {
            w.u8(slot.index() as u8);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::message::testing::{pile, round_trip};
    use crate::ykc::{DecodeError, Frame, Message};

    fn tou() -> TouPrices {
        let mut slots = [Period::Flat; SLOTS];
        slots[..16].fill(Period::Valley);
        slots[20..24].fill(Period::Peak);
        slots[24..28].fill(Period::Sharp);
        TouPrices {
            prices: [
                PeriodPrice { energy: dec!(1.2), service: dec!(0.8) },
                PeriodPrice { energy: dec!(1.0), service: dec!(0.6) },
                PeriodPrice { energy: dec!(0.71234), service: dec!(0.5) },
                PeriodPrice { energy: dec!(0.3), service: dec!(0.4) },
            ],
            slots,
        }
    }

    #[test]
    fn billing_model_round_trip_and_tou_conversion() {
        let bm = BillingModel::from_tou(pile(), 101, &tou());
        assert_eq!(bm.to_tou(), tou());
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
        let bm = BillingModel::from_tou(pile(), 1, &tou());
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
        let mut t = tou();
        t.prices[0].energy = dec!(1.234567);
        assert!(Message::BillingModel(BillingModel::from_tou(pile(), 1, &t)).encode(0).is_err());
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
