//! Starting a charge at the pile with a card or the car's VIN (0x31 → 0x32),
//! and updating a card's balance mid-charge (0x42 → 0x41).
//!
//! The layouts chargeplane speaks:
//!
//! ```text
//! 0x31 ↑ card/VIN start request, 51 bytes
//!        pile 7 | gun 1 | mode 1 (1 card, 3 VIN) | password required 1 |
//!        card no. 8 | MD5 of the password 16 | VIN ASCII 17, reversed
//! 0x32 ↓ verdict, 38 bytes
//!        serial 16 | pile 7 | gun 1 | logical card BCD 8 |
//!        balance u32 (0.01 yuan) | ok 1 (1 accepted) | reason 1
//! 0x42 ↓ balance update, 20 bytes
//!        pile 7 | gun 1 | physical card 8 | balance u32 (0.01 yuan)
//! 0x41 ↑ balance update result, 16 bytes
//!        pile 7 | physical card 8 | result 1
//! ```
//!
//! The VIN of 0x31 travels last character first: `CardStart::vin` is in the
//! normal reading order, and the codec reverses it both ways.

use rust_decimal::Decimal;

use vocab::{PileId, SessionId};

use super::fields::{DecodeError, EncodeError, Reader, Unit, Writer, Ykc};
use crate::body::Body;

/// 0x31: a driver asks the pile to start, identified by card or by VIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardStart {
    pub pile: PileId,
    pub gun: u8,
    /// `CardStart::MODE_CARD` or `CardStart::MODE_VIN`; kept raw.
    pub mode: u8,
    /// The card needs a password, and `password_md5` carries it.
    pub password_required: bool,
    /// The account or physical card number, raw.
    pub card: [u8; 8],
    /// MD5 of the password the driver typed, raw; zeros without one.
    pub password_md5: [u8; 16],
    /// Up to 17 ASCII characters in reading order; empty for a card start.
    pub vin: String,
}

impl CardStart {
    pub const MODE_CARD: u8 = 1;
    pub const MODE_VIN: u8 = 3;
}

impl Body<Ykc> for CardStart {
    const LEN: usize = 51;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CardStart {
            pile: r.pile()?,
            gun: r.gun()?,
            mode: r.u8()?,
            password_required: r.flag()?,
            card: r.bytes()?,
            password_md5: r.bytes()?,
            vin: r.text_reversed::<17>()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.u8(self.mode);
        w.flag(self.password_required);
        w.bytes(&self.card);
        w.bytes(&self.password_md5);
        w.text_reversed::<17>(&self.vin, "vin")
    }
}

/// 0x32: the platform's answer to a `CardStart`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardStartVerdict {
    /// Minted by the platform when it accepts; every later frame of the
    /// charge carries it.
    pub serial: SessionId,
    pub pile: PileId,
    pub gun: u8,
    /// BCD on the wire, kept raw.
    pub logical_card: [u8; 8],
    /// The account's balance, yuan; 0.01 yuan on the wire.
    pub balance: Decimal,
    /// 0x01 on the wire when the pile may start.
    pub ok: bool,
    /// One of the `CardStartVerdict` reason constants when refused; see
    /// `reason_text`.
    pub reason: u8,
}

impl CardStartVerdict {
    pub const NONE: u8 = 0x00;
    pub const NO_ACCOUNT: u8 = 0x01;
    pub const FROZEN: u8 = 0x02;
    pub const BALANCE_TOO_LOW: u8 = 0x03;
    pub const CARD_UNSETTLED: u8 = 0x04;
    pub const PILE_DISABLED: u8 = 0x05;
    pub const NOT_ALLOWED_HERE: u8 = 0x06;
    pub const BAD_PASSWORD: u8 = 0x07;
    pub const CAPACITY_SHORT: u8 = 0x08;
    pub const VIN_UNKNOWN: u8 = 0x09;
    pub const PILE_UNSETTLED: u8 = 0x0A;
    pub const NO_CARDS_HERE: u8 = 0x0B;

    /// What a refusal reason means.
    pub fn reason_text(code: u8) -> &'static str {
        match code {
            Self::NONE => "none",
            Self::NO_ACCOUNT => "no such account",
            Self::FROZEN => "account frozen",
            Self::BALANCE_TOO_LOW => "balance too low",
            Self::CARD_UNSETTLED => "card has an unsettled charge",
            Self::PILE_DISABLED => "pile disabled",
            Self::NOT_ALLOWED_HERE => "account not allowed on this pile",
            Self::BAD_PASSWORD => "wrong password",
            Self::CAPACITY_SHORT => "station capacity short",
            Self::VIN_UNKNOWN => "VIN not registered",
            Self::PILE_UNSETTLED => "pile has an unsettled charge",
            Self::NO_CARDS_HERE => "pile does not take cards",
            _ => "unknown",
        }
    }
}

impl Body<Ykc> for CardStartVerdict {
    const LEN: usize = 38;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CardStartVerdict {
            serial: r.serial()?,
            pile: r.pile()?,
            gun: r.gun()?,
            logical_card: r.bytes()?,
            balance: r.dec_u32(Unit::Balance)?,
            ok: r.flag()?,
            reason: r.u8()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.bytes(&self.logical_card);
        w.dec_u32(self.balance, Unit::Balance, "balance")?;
        w.flag(self.ok);
        w.u8(self.reason);
        Ok(())
    }
}

/// 0x42: the platform tells a charging pile the card's new balance (after a
/// top-up, say), so it does not stop at the old one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceUpdate {
    pub pile: PileId,
    pub gun: u8,
    pub physical_card: [u8; 8],
    /// Yuan; 0.01 yuan on the wire.
    pub balance: Decimal,
}

impl Body<Ykc> for BalanceUpdate {
    const LEN: usize = 20;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BalanceUpdate {
            pile: r.pile()?,
            gun: r.gun()?,
            physical_card: r.bytes()?,
            balance: r.dec_u32(Unit::Balance)?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.bytes(&self.physical_card);
        w.dec_u32(self.balance, Unit::Balance, "balance")
    }
}

/// 0x41: the pile's answer to a `BalanceUpdate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceUpdateResult {
    pub pile: PileId,
    pub physical_card: [u8; 8],
    /// One of the `BalanceUpdateResult` constants; kept raw.
    pub result: u8,
}

impl BalanceUpdateResult {
    pub const OK: u8 = 0x00;
    pub const PILE_MISMATCH: u8 = 0x01;
    pub const CARD_MISMATCH: u8 = 0x02;

    pub fn is_ok(&self) -> bool {
        self.result == Self::OK
    }
}

impl Body<Ykc> for BalanceUpdateResult {
    const LEN: usize = 16;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BalanceUpdateResult { pile: r.pile()?, physical_card: r.bytes()?, result: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.bytes(&self.physical_card);
        w.u8(self.result);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::testing::{pile, round_trip, serial};
    use crate::ykc::{kind, Frame, Message};

    fn vin_start() -> CardStart {
        CardStart {
            pile: pile(),
            gun: 2,
            mode: CardStart::MODE_VIN,
            password_required: false,
            card: [0; 8],
            password_md5: [0; 16],
            vin: "LSVAU2180N2123456".into(),
        }
    }

    #[test]
    fn vin_start_round_trip_with_the_vin_reversed_on_the_wire() {
        let body = round_trip(Message::CardStart(vin_start()));
        assert_eq!(body.len(), 51);
        assert_eq!(&body[7..10], &[0x02, 3, 0]);
        assert_eq!(&body[34..], b"6543212N0812UAVSL");
    }

    #[test]
    fn reversed_vin_from_the_wire_reads_forwards() {
        let mut body = Message::CardStart(vin_start()).encode(0).unwrap().body.to_vec();
        // A pile that sends a 16-character value, NUL-padded then reversed.
        body[34..].copy_from_slice(b"\x00654321N0812UAVSL");
        let frame = Frame { seq: 0, enc: 0, kind: kind::CARD_START, body: body.into() };
        let Message::CardStart(m) = Message::decode(&frame).unwrap() else { panic!("not a card start") };
        assert_eq!(m.vin, "LSVAU2180N123456");
    }

    #[test]
    fn card_start_with_password_round_trip() {
        let body = round_trip(Message::CardStart(CardStart {
            pile: pile(),
            gun: 1,
            mode: CardStart::MODE_CARD,
            password_required: true,
            card: [0x00, 0x00, 0x00, 0x00, 0xD4, 0x1C, 0x6E, 0x2A],
            // MD5("123456")
            password_md5: [
                0xE1, 0x0A, 0xDC, 0x39, 0x49, 0xBA, 0x59, 0xAB, 0xBE, 0x56, 0xE0, 0x57, 0xF2, 0x0F, 0x88,
                0x3E,
            ],
            vin: String::new(),
        }));
        assert_eq!(&body[8..10], &[1, 1]);
        assert_eq!(&body[34..], &[0; 17]);
    }

    #[test]
    fn card_start_lengths() {
        let mut body = Message::CardStart(vin_start()).encode(0).unwrap().body.to_vec();
        body.extend_from_slice(&[0xEE; 3]);
        let frame = Frame { seq: 0, enc: 0, kind: kind::CARD_START, body: Bytes::from(body) };
        assert_eq!(Message::decode(&frame).unwrap(), Message::CardStart(vin_start()));
        let frame = Frame { body: frame.body.slice(..50), ..frame };
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::Short { kind: kind::CARD_START, need: 51, got: 50 })
        );
        let long_vin = CardStart { vin: "LSVAU2180N21234567".into(), ..vin_start() };
        assert!(matches!(Message::CardStart(long_vin).encode(0), Err(EncodeError::BadText { .. })));
    }

    #[test]
    fn verdict_round_trip_and_layout() {
        let body = round_trip(Message::CardStartVerdict(CardStartVerdict {
            serial: serial(),
            pile: pile(),
            gun: 1,
            logical_card: [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78],
            balance: dec!(88.50),
            ok: true,
            reason: CardStartVerdict::NONE,
        }));
        assert_eq!(body.len(), 38);
        assert_eq!(&body[32..36], &8_850u32.to_le_bytes());
        assert_eq!(&body[36..], &[1, 0]);
        let body = round_trip(Message::CardStartVerdict(CardStartVerdict {
            serial: serial(),
            pile: pile(),
            gun: 1,
            logical_card: [0; 8],
            balance: dec!(0.35),
            ok: false,
            reason: CardStartVerdict::BALANCE_TOO_LOW,
        }));
        assert_eq!(&body[36..], &[0, 3]);
        let short = Frame { seq: 0, enc: 0, kind: kind::CARD_START_VERDICT, body: body.slice(..37) };
        assert!(matches!(Message::decode(&short), Err(DecodeError::Short { need: 38, got: 37, .. })));
    }

    #[test]
    fn verdict_reasons() {
        assert_eq!(CardStartVerdict::reason_text(CardStartVerdict::FROZEN), "account frozen");
        assert_eq!(CardStartVerdict::reason_text(0x0A), "pile has an unsettled charge");
        assert_eq!(CardStartVerdict::reason_text(0x0B), "pile does not take cards");
        assert_eq!(CardStartVerdict::reason_text(0x0C), "unknown");
        for code in 1..=0x0B {
            assert_ne!(CardStartVerdict::reason_text(code), "unknown");
        }
    }

    #[test]
    fn balance_update_and_result_round_trip() {
        let card = [0xD4, 0x1C, 0x6E, 0x2A, 0, 0, 0, 0];
        let body = round_trip(Message::BalanceUpdate(BalanceUpdate {
            pile: pile(),
            gun: 1,
            physical_card: card,
            balance: dec!(120.01),
        }));
        assert_eq!(body.len(), 20);
        assert_eq!(&body[16..], &12_001u32.to_le_bytes());
        let m = BalanceUpdate { pile: pile(), gun: 1, physical_card: card, balance: dec!(0.001) };
        assert!(Message::BalanceUpdate(m).encode(0).is_err());

        let result =
            BalanceUpdateResult { pile: pile(), physical_card: card, result: BalanceUpdateResult::OK };
        assert!(result.is_ok());
        let body = round_trip(Message::BalanceUpdateResult(result));
        assert_eq!(body.len(), 16);
        round_trip(Message::BalanceUpdateResult(BalanceUpdateResult {
            pile: pile(),
            physical_card: card,
            result: BalanceUpdateResult::CARD_MISMATCH,
        }));
        let short = Frame { seq: 0, enc: 0, kind: kind::BALANCE_UPDATE_RESULT, body: body.slice(..15) };
        assert!(matches!(Message::decode(&short), Err(DecodeError::Short { need: 16, .. })));
    }
}
