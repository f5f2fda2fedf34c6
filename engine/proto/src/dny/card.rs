//! Card swipe (0x02 up) and the platform's answer (0x02 down), spec §3.2.
//! A swipe at a port asks to charge there; the platform answers, and starts
//! the charge with 0x82 if it may. Port 0xFF only asks for the balance.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::fields::{DecodeError, Dny, EncodeError, Reader, Scale, Writer};
use crate::body::{Body, Misfit};

/// Port byte of a balance query rather than a request to charge.
pub const QUERY_PORT: u8 = 0xFF;

/// 0x02 up: a card was swiped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardSwipe {
    /// The card's UID as the wire carries it; read big-endian, it is the
    /// number printed on the pile vendor's cards.
    pub card: [u8; 4],
    /// 0 old card, 1 new card, 3 UID only, 4 social-security card (`card2`).
    pub card_type: u8,
    /// Wire port (0 = port 1), or `QUERY_PORT`.
    pub port: u8,
    /// What a balance card holds, yuan; fen on the wire.
    pub card_balance: Decimal,
    /// The pile's clock (V8.0; debugging only, says the spec).
    pub time: Option<DateTime<Utc>>,
    /// A longer card number (2023-12), after `time`.
    pub card2: Option<Vec<u8>>,
}

impl CardSwipe {
    /// The card number as the platform keys it: the UID bytes in wire
    /// order as hex, e.g. `7A8D05DD`.
    pub fn card_hex(&self) -> String {
        self.card.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl Body<Dny> for CardSwipe {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (card, card_type, port, card_balance) = (r.bytes()?, r.u8()?, r.u8()?, r.dec_u16(Scale::Money)?);
        let time = (r.left() >= 4).then(|| r.time()).transpose()?;
        let card2 = match time.is_some() && r.left() > 0 {
            true => {
                let n = usize::from(r.u8()?);
                r.need(n)?;
                Some(r.slice(n)?.to_vec())
            }
            false => None,
        };
        Ok(CardSwipe { card, card_type, port, card_balance, time, card2 })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.bytes(&self.card);
        w.u8(self.card_type);
        w.u8(self.port);
        w.dec_u16(self.card_balance, Scale::Money, "card balance")?;
        match (self.time, &self.card2) {
            (None, Some(_)) => return Err(EncodeError::Gap { field: "card2" }),
            (None, None) => {}
            (Some(t), card2) => {
                w.time(t, "time")?;
                if let Some(card2) = card2 {
                    let n = u8::try_from(card2.len())
                        .map_err(|_| EncodeError::from(Misfit::out_of_range("card2", card2.len())))?;
                    w.u8(n);
                    w.bytes(card2);
                }
            }
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        Self::LEN + self.time.map_or(0, |_| 4) + self.card2.as_ref().map_or(0, |c| 1 + c.len())
    }
}

/// What a card may spend, by fee mode: a balance, or for a monthly plan
/// the end of its validity (§3.2, "余额/有效期").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credit {
    /// Yuan; fen on the wire.
    Balance(Decimal),
    ValidUntil(DateTime<Utc>),
}

/// Fee modes of 0x02 and 0x82 (§3.2, §4.2).
pub mod fee_mode {
    pub const TIME: u8 = 0;
    pub const MONTHLY: u8 = 1;
    pub const ENERGY: u8 = 2;
    pub const COUNT: u8 = 3;
}

impl Credit {
    pub(crate) fn read(r: &mut Reader<'_>, fee_mode: u8) -> Result<Credit, DecodeError> {
        Ok(match fee_mode {
            fee_mode::MONTHLY => Credit::ValidUntil(r.time()?),
            _ => Credit::Balance(r.dec_u32(Scale::Money)?),
        })
    }

    pub(crate) fn write(&self, w: &mut Writer, fee_mode: u8) -> Result<(), EncodeError> {
        match (self, fee_mode == fee_mode::MONTHLY) {
            (Credit::ValidUntil(t), true) => w.time(*t, "valid until"),
            (Credit::Balance(b), false) => w.dec_u32(*b, Scale::Money, "balance"),
            _ => Err(EncodeError::from(Misfit::out_of_range(
                "credit",
                format!("{self:?} in fee mode {fee_mode}"),
            ))),
        }
    }
}

/// 0x02 down: the card's account status (`codes::card_status`) and credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardReply {
    pub card: [u8; 4],
    pub status: u8,
    /// How the pile reads `credit`; one of `fee_mode`.
    pub fee_mode: u8,
    pub credit: Credit,
    /// The swipe's port, echoed.
    pub port: u8,
}

impl Body<Dny> for CardReply {
    const LEN: usize = 11;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (card, status, fee_mode) = (r.bytes()?, r.u8()?, r.u8()?);
        Ok(CardReply { card, status, fee_mode, credit: Credit::read(r, fee_mode)?, port: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.bytes(&self.card);
        w.u8(self.status);
        w.u8(self.fee_mode);
        self.credit.write(w, self.fee_mode)?;
        w.u8(self.port);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::testing::{hex, round_trip_down, round_trip_up, sample, wire, PHYS};
    use crate::dny::{codes, Down, Up};

    const SWIPE: &str = "44 4E 59 11 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 01 00 00 0A 04";
    const REPLY: &str = "44 4E 59 14 00 3B 37 AB 04 01 00 02 7A 8D 05 DD 00 00 10 27 00 00 01 44 04";

    #[test]
    fn spec_swipe_sample() {
        // §3.2: card 7A8D05DD, an old card, wire port 1 (port 2), no money
        // on the card; the sample predates the timestamp.
        let (_, up) = sample::<Up>(SWIPE);
        let Up::CardSwipe(m) = up else { panic!("{up:?}") };
        assert_eq!(
            m,
            CardSwipe {
                card: [0x7A, 0x8D, 0x05, 0xDD],
                card_type: 0,
                port: 1,
                card_balance: dec!(0),
                time: None,
                card2: None
            }
        );
        assert_eq!(m.card_hex(), "7A8D05DD");
    }

    #[test]
    fn spec_reply_sample_decodes_and_ours_matches_it() {
        // §3.2: status 0 (ok), time mode, balance 10000 fen, port 1.
        let (frame, down) = sample::<Down>(REPLY);
        let reply = CardReply {
            card: [0x7A, 0x8D, 0x05, 0xDD],
            status: codes::card_status::OK,
            fee_mode: fee_mode::TIME,
            credit: Credit::Balance(dec!(100.00)),
            port: 1,
        };
        assert_eq!(down, Down::CardReply(reply.clone()));
        assert_eq!(wire(&Down::CardReply(reply).encode(frame.phys, frame.msg).unwrap()), hex(REPLY));
    }

    #[test]
    fn swipe_with_the_newer_fields_round_trips() {
        let mut m = CardSwipe {
            card: [1, 2, 3, 4],
            card_type: 4,
            port: 9,
            card_balance: dec!(12.34),
            time: DateTime::from_timestamp(1_772_352_000, 0),
            card2: Some(vec![0x11; 16]),
        };
        let body = round_trip_up(Up::CardSwipe(m.clone()));
        assert_eq!(body.len(), 8 + 4 + 1 + 16);
        assert_eq!(body[12], 16);
        m.card2 = None;
        assert_eq!(round_trip_up(Up::CardSwipe(m.clone())).len(), 12);
        m.time = None;
        m.card2 = Some(vec![]);
        assert!(matches!(Up::CardSwipe(m).encode(PHYS, 0), Err(EncodeError::Gap { .. })));
    }

    #[test]
    fn monthly_credit_is_a_time_and_must_match_the_mode() {
        let until = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let body = round_trip_down(Down::CardReply(CardReply {
            card: [0; 4],
            status: codes::card_status::OK,
            fee_mode: fee_mode::MONTHLY,
            credit: Credit::ValidUntil(until),
            port: 0,
        }));
        assert_eq!(&body[6..10], &1_800_000_000u32.to_le_bytes());
        let wrong = CardReply {
            card: [0; 4],
            status: 0,
            fee_mode: fee_mode::MONTHLY,
            credit: Credit::Balance(dec!(1)),
            port: 0,
        };
        assert!(Down::CardReply(wrong).encode(PHYS, 0).is_err());
        let fine = CardReply {
            card: [0; 4],
            status: 0,
            fee_mode: fee_mode::ENERGY,
            credit: Credit::Balance(dec!(1.005)),
            port: 0,
        };
        assert!(Down::CardReply(fine).encode(PHYS, 0).is_err());
    }
}
