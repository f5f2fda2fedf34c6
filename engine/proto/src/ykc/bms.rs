//! The DC BMS frames (0x15–0x25, pile → platform): what the pile and the
//! car's battery management system told each other during a charge.
//!
//! The platform stores them as diagnostic samples and acts on none of them,
//! so they share one body: the head every one of them starts with, and the
//! rest kept raw. The layout chargeplane speaks:
//!
//! ```text
//! serial 16 | pile 7 | gun 1 | data ...
//! ```
//!
//! | type | frame |
//! |---|---|
//! | 0x15 | BMS handshake |
//! | 0x17 | BMS parameter setup |
//! | 0x19 | charge end |
//! | 0x1B | error |
//! | 0x1D | BMS stop |
//! | 0x21 | charger stop |
//! | 0x23 | charging phase: BMS demand and charger output |
//! | 0x25 | charging phase: BMS information (cell voltages, temperatures) |
//!
//! The types are those of spec v1.6 §7.3–§7.10; there is no 0x1F.
//!
//! A body shorter than the 24-byte head is `DecodeError::Short`; everything
//! after the head, however long, is `data`.

use bytes::Bytes;

use vocab::{PileId, SessionId};

use super::fields::{DecodeError, EncodeError, Reader, Tagged, Writer, Ykc};
use super::kind;
use crate::body::Body;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmsFrame {
    /// The frame type, one of `kind::BMS`; encoding any other is an error.
    pub kind: u8,
    /// All zeros outside a charge.
    pub serial: SessionId,
    pub pile: PileId,
    pub gun: u8,
    /// The body after the head, as the pile sent it.
    pub data: Bytes,
}

impl BmsFrame {
    /// The head every BMS frame starts with: serial, pile, gun.
    pub const HEAD: usize = 24;

    /// What BMS frame type `kind` is, for logs and storage; `None` if it is
    /// not one.
    pub fn kind_name(kind: u8) -> Option<&'static str> {
        Some(match kind {
            kind::BMS_HANDSHAKE => "BMS handshake",
            kind::BMS_PARAMETERS => "BMS parameter setup",
            kind::BMS_CHARGE_END => "charge end",
            kind::BMS_ERROR => "error",
            kind::BMS_STOP => "BMS stop",
            kind::CHARGER_STOP => "charger stop",
            kind::BMS_DEMAND => "charging demand and output",
            kind::BMS_INFO => "BMS information",
            _ => return None,
        })
    }
}

impl Body<Ykc> for BmsFrame {
    const LEN: usize = Self::HEAD;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BmsFrame {
            kind: r.kind(),
            serial: r.serial()?,
            pile: r.pile()?,
            gun: r.gun()?,
            data: Bytes::copy_from_slice(r.rest()),
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.bytes(&self.data);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        Self::HEAD + self.data.len()
    }
}

impl Tagged for BmsFrame {
    fn kind(&self) -> u8 {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{Misfit, Unfit};
    use crate::ykc::testing::{pile, round_trip, serial};
    use crate::ykc::{Frame, Message, MAX_BODY};

    fn sample(kind: u8, data: &'static [u8]) -> BmsFrame {
        BmsFrame { kind, serial: serial(), pile: pile(), gun: 1, data: Bytes::from_static(data) }
    }

    #[test]
    fn every_bms_type_round_trips_as_itself() {
        // A few status bytes.
        let data: &[u8] = &[57, 0x0C, 0x3B, 0x4E, 0x1F, 0x00, 0x10];
        for &k in &kind::BMS {
            let m = Message::Bms(sample(k, data));
            assert_eq!(m.kind(), k);
            let body = round_trip(m);
            assert_eq!(body.len(), 24 + data.len());
            assert_eq!(&body[..4], &[0x55, 0x03, 0x14, 0x12]);
            assert_eq!(&body[24..], data);
            assert!(BmsFrame::kind_name(k).is_some());
        }
        assert_eq!(BmsFrame::kind_name(kind::BMS_HANDSHAKE), Some("BMS handshake"));
        assert_eq!(BmsFrame::kind_name(0x16), None);
    }

    #[test]
    fn head_only_and_longest_bodies_round_trip() {
        round_trip(Message::Bms(sample(kind::BMS_INFO, &[])));
        let long = BmsFrame { data: Bytes::from(vec![0xA5; MAX_BODY - 24]), ..sample(kind::BMS_DEMAND, &[]) };
        assert_eq!(round_trip(Message::Bms(long)).len(), MAX_BODY);
    }

    #[test]
    fn bodies_shorter_than_the_head_are_short() {
        let frame = Frame { seq: 0, enc: 0, kind: kind::BMS_PARAMETERS, body: Bytes::from(vec![0; 23]) };
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::Short { kind: kind::BMS_PARAMETERS, need: 24, got: 23 })
        );
    }

    #[test]
    fn a_type_outside_the_bms_set_does_not_encode() {
        let m = Message::Bms(sample(kind::LOGIN, &[1, 2]));
        assert!(matches!(m.encode(0), Err(EncodeError::Misfit(Misfit { why: Unfit::OutOfRange, .. }))));
        for k in [0x16, 0x1F] {
            assert!(Message::Bms(sample(k, &[])).encode(0).is_err());
        }
    }
}
