//! Card swipe (0x02 up) and the platform's go/no-go (0x02 down).

use rust_decimal::Decimal;

use super::fields::{DecodeError, EncodeError, Reader, Scale, Writer};
use super::message::Body;

/// 0x02 up: a card was swiped at a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardSwipe {
    pub card: u32,
    pub card_type: u8,
    pub port: u8,
}

impl Body for CardSwipe {
    const LEN: usize = 6;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CardSwipe { card: r.u32()?, card_type: r.u8()?, port: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u32(self.card);
        w.u8(self.card_type);
        w.u8(self.port);
        Ok(())
    }
}

/// 0x02 down: whether the card may charge, and its balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardReply {
    pub card: u32,
    /// One of the `CardReply` result constants.
    pub result: u8,
    /// Yuan; fen on the wire.
    pub balance: Decimal,
}

impl CardReply {
    pub const GO: u8 = 0;
    pub const UNKNOWN_CARD: u8 = 1;
    pub const BALANCE_TOO_LOW: u8 = 2;
    pub const FROZEN: u8 = 3;
}

impl Body for CardReply {
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CardReply { card: r.u32()?, result: r.u8()?, balance: r.dec_u32(Scale::Money)? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u32(self.card);
        w.u8(self.result);
        w.dec_u32(self.balance, Scale::Money, "balance")
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::message::testing::{round_trip_down, round_trip_up, PHYS};
    use crate::dny::{Down, Up};

    #[test]
    fn card_swipe_round_trip_and_layout() {
        let body = round_trip_up(Up::CardSwipe(CardSwipe { card: 0x1234_5678, card_type: 1, port: 10 }));
        assert_eq!(&body[..], &[0x78, 0x56, 0x34, 0x12, 1, 10]);
    }

    #[test]
    fn card_reply_round_trip_and_layout() {
        let body = round_trip_down(Down::CardReply(CardReply {
            card: 0x1234_5678,
            result: CardReply::GO,
            balance: dec!(25.5),
        }));
        assert_eq!(&body[5..], &2550u32.to_le_bytes());
        round_trip_down(Down::CardReply(CardReply { card: 1, result: CardReply::FROZEN, balance: dec!(0) }));
    }

    #[test]
    fn balance_finer_than_a_fen_is_an_encode_error() {
        let m = Down::CardReply(CardReply { card: 1, result: 0, balance: dec!(1.005) });
        assert!(m.encode(PHYS, 0).is_err());
        let m = Down::CardReply(CardReply { card: 1, result: 0, balance: dec!(-1) });
        assert!(m.encode(PHYS, 0).is_err());
    }
}
