//! Heartbeat (0x03) and its reply (0x04). A pile sends one per gun every
//! 10 s; three unanswered ones and it reconnects.

use vocab::PileId;

use super::fields::{DecodeError, EncodeError, Reader, Writer, Ykc};
use crate::body::Body;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub pile: PileId,
    pub gun: u8,
    pub fault: bool,
}

impl Body<Ykc> for Heartbeat {
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Heartbeat { pile: r.pile()?, gun: r.gun()?, fault: r.flag()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.flag(self.fault);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub pile: PileId,
    pub gun: u8,
}

impl Body<Ykc> for HeartbeatReply {
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let reply = HeartbeatReply { pile: r.pile()?, gun: r.gun()? };
        r.u8()?; // always 0
        Ok(reply)
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.u8(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ykc::testing::{pile, round_trip};
    use crate::ykc::Message;

    #[test]
    fn heartbeat_round_trip() {
        let body = round_trip(Message::Heartbeat(Heartbeat { pile: pile(), gun: 10, fault: true }));
        assert_eq!(&body[7..], &[0x10, 1]);
        round_trip(Message::Heartbeat(Heartbeat { pile: pile(), gun: 1, fault: false }));
    }

    #[test]
    fn heartbeat_reply_round_trip() {
        let body = round_trip(Message::HeartbeatReply(HeartbeatReply { pile: pile(), gun: 2 }));
        assert_eq!(&body[7..], &[0x02, 0]);
    }
}
