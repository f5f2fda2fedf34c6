//! Login (0x01) and its reply (0x02): the first exchange on every
//! connection. A pile sends nothing else until it is accepted, and hangs up
//! when refused.

use vocab::PileId;

use super::fields::{DecodeError, EncodeError, Reader, Writer, Ykc};
use crate::body::Body;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub pile: PileId,
    /// `Login::DC` or `Login::AC`.
    pub kind: u8,
    pub guns: u8,
    /// Protocol version × 10: `Login::V1_5` or `Login::V1_6`.
    pub protocol: u8,
    /// Up to 8 ASCII characters.
    pub firmware: String,
    /// 0 SIM, 1 LAN, 2 WAN, 3 other.
    pub net: u8,
    /// The SIM's ICCID, 20 hex digits (nibbles above 9 appear as letters).
    pub sim: String,
    pub carrier: u8,
}

impl Login {
    pub const DC: u8 = 0;
    pub const AC: u8 = 1;
    pub const V1_5: u8 = 0x0F;
    pub const V1_6: u8 = 0x10;
}

impl Body<Ykc> for Login {
    const LEN: usize = 30;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Login {
            pile: r.pile()?,
            kind: r.u8()?,
            guns: r.u8()?,
            protocol: r.u8()?,
            firmware: r.text::<8>()?,
            net: r.u8()?,
            sim: r.sim()?,
            carrier: r.u8()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.u8(self.kind);
        w.u8(self.guns);
        w.u8(self.protocol);
        w.text::<8>(&self.firmware, "firmware")?;
        w.u8(self.net);
        w.sim(&self.sim)?;
        w.u8(self.carrier);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginReply {
    pub pile: PileId,
    pub accepted: bool,
}

impl Body<Ykc> for LoginReply {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LoginReply {
            pile: r.pile()?,
            // 0 is the only "accepted".
            accepted: !r.flag()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.flag(!self.accepted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ykc::testing::{pile, round_trip};
    use crate::ykc::Message;

    #[test]
    fn login_round_trip_and_layout() {
        let login = Login {
            pile: pile(),
            kind: Login::DC,
            guns: 2,
            protocol: Login::V1_6,
            firmware: "V2.1.7".into(),
            net: 0,
            sim: "89860321147991234567".into(),
            carrier: 0,
        };
        let body = round_trip(Message::Login(login));
        assert_eq!(body.len(), 30);
        assert_eq!(&body[7..10], &[0, 2, 0x10]);
        assert_eq!(&body[10..18], b"V2.1.7\0\0");
        assert_eq!(&body[19..29], &[0x89, 0x86, 0x03, 0x21, 0x14, 0x79, 0x91, 0x23, 0x45, 0x67]);
    }

    #[test]
    fn sim_with_filler_nibbles_decodes() {
        let login = Login {
            pile: pile(),
            kind: Login::AC,
            guns: 1,
            protocol: Login::V1_5,
            firmware: String::new(),
            net: 3,
            sim: "8986032114799123456F".into(),
            carrier: 2,
        };
        round_trip(Message::Login(login));
    }

    #[test]
    fn login_reply_round_trip() {
        for accepted in [true, false] {
            let body = round_trip(Message::LoginReply(LoginReply { pile: pile(), accepted }));
            assert_eq!(body[7], u8::from(!accepted));
        }
    }
}
