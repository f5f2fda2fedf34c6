//! Frames as typed messages, one enum per direction.
//!
//! The same command byte means different bodies up (pile → platform) and
//! down (platform → pile), so there are two enums: `Up`, which the platform
//! decodes and the simulator encodes, and `Down`, the reverse. Each has a
//! variant per command it understands and `Other` for the rest, so an
//! unknown or newer command is passed along (and counted) instead of
//! failing the link.

use bytes::Bytes;

use super::card::{CardReply, CardSwipe};
use super::charge::{Adjust, ChargingReport, StartStop, StartStopReply};
use super::cmd;
use super::device::{Alarm, Empty, Limits};
use super::fields::{DecodeError, Dny, EncodeError, Reader, Writer};
use super::frame::{Frame, MAX_DATA};
use super::login::{Heartbeat, OldHeartbeat, Register, Time, TimeRequest};
use super::settlement::Settlement;
use crate::body::Body;

/// A one-byte result, the whole body of several replies and acks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ack {
    /// 0 = accepted / done.
    pub result: u8,
}

impl Ack {
    pub const OK: Ack = Ack { result: 0 };

    pub fn is_ok(self) -> bool {
        self.result == 0
    }
}

impl Body<Dny> for Ack {
    const LEN: usize = 1;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Ack { result: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.result);
        Ok(())
    }
}

/// Declares one direction's enum from a table of variant, body type and
/// command, so decode, encode and cmd cannot disagree.
macro_rules! messages {
    ($(#[$edoc:meta])* $name:ident { $($(#[$doc:meta])* $variant:ident($ty:ty) = $cmd:path,)* }) => {
        $(#[$edoc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$doc])* $variant($ty),)*
            /// A command this codec does not interpret.
            Other { cmd: u8, data: Bytes },
        }

        impl $name {
            pub fn cmd(&self) -> u8 {
                match self {
                    $($name::$variant(_) => $cmd,)*
                    $name::Other { cmd, .. } => *cmd,
                }
            }

            pub fn decode(frame: &Frame) -> Result<$name, DecodeError> {
                Ok(match frame.cmd {
                    $($cmd => $name::$variant(<$ty as Body<Dny>>::decode(frame.cmd, &frame.data)?),)*
                    cmd => $name::Other { cmd, data: frame.data.clone() },
                })
            }

            /// A frame carrying this message from or to device `phys`, with
            /// message id `msg` (a reply echoes its request's).
            pub fn encode(&self, phys: u32, msg: u16) -> Result<Frame, EncodeError> {
                let data = match self {
                    $($name::$variant(m) => Body::encode(m)?,)*
                    $name::Other { data, .. } => data.clone(),
                };
                if data.len() > MAX_DATA {
                    return Err(EncodeError::TooLong { cmd: self.cmd(), len: data.len() });
                }
                Ok(Frame { phys, msg, cmd: self.cmd(), data })
            }
        }
    };
}

messages! {
    /// Pile → platform.
    Up {
        Register(Register) = cmd::REGISTER,
        Heartbeat(Heartbeat) = cmd::HEARTBEAT,
        OldHeartbeat(OldHeartbeat) = cmd::OLD_HEARTBEAT,
        TimeRequest(TimeRequest) = cmd::TIME,
        CardSwipe(CardSwipe) = cmd::CARD,
        /// The pile's answer to `Down::StartStop`.
        StartStopReply(StartStopReply) = cmd::START_STOP,
        ChargingReport(ChargingReport) = cmd::REPORT,
        Settlement(Settlement) = cmd::SETTLEMENT,
        Alarm(Alarm) = cmd::ALARM,
        AdjustReply(Ack) = cmd::ADJUST,
        LimitsReply(Ack) = cmd::LIMITS,
        RebootReply(Ack) = cmd::REBOOT,
    }
}

messages! {
    /// Platform → pile.
    Down {
        RegisterReply(Ack) = cmd::REGISTER,
        HeartbeatReply(Ack) = cmd::HEARTBEAT,
        OldHeartbeatReply(Ack) = cmd::OLD_HEARTBEAT,
        Time(Time) = cmd::TIME,
        CardReply(CardReply) = cmd::CARD,
        StartStop(StartStop) = cmd::START_STOP,
        /// The pile deletes the settlement on any answer (§3.3).
        SettlementAck(Ack) = cmd::SETTLEMENT,
        /// Asks the pile to send 0x20, 0x01 and 0x21.
        Query(Empty) = cmd::QUERY,
        Adjust(Adjust) = cmd::ADJUST,
        Limits(Limits) = cmd::LIMITS,
        Reboot(Empty) = cmd::REBOOT,
    }
}

macro_rules! from_body {
    ($dir:ident: $($ty:ident),*) => {
        $(impl From<$ty> for $dir {
            fn from(m: $ty) -> $dir {
                $dir::$ty(m)
            }
        })*
    };
}

// `Ack` and `Empty` are left out: each is several variants, so pick one.
from_body!(Up: Register, Heartbeat, OldHeartbeat, TimeRequest, CardSwipe, StartStopReply, ChargingReport, Settlement, Alarm);
from_body!(Down: Time, CardReply, StartStop, Adjust, Limits);

/// Fixtures shared by the frame modules' tests.
#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::dny::testing::{round_trip_down, round_trip_up, PHYS};

    #[test]
    fn acks_round_trip_in_both_directions() {
        for result in [0, 1, 0xFF] {
            let a = Ack { result };
            assert_eq!(&round_trip_up(Up::AdjustReply(a))[..], &[result]);
            round_trip_up(Up::LimitsReply(a));
            round_trip_up(Up::RebootReply(a));
            assert_eq!(&round_trip_down(Down::RegisterReply(a))[..], &[result]);
            round_trip_down(Down::HeartbeatReply(a));
            round_trip_down(Down::OldHeartbeatReply(a));
            round_trip_down(Down::SettlementAck(a));
        }
        assert!(Ack::OK.is_ok() && !Ack { result: 1 }.is_ok());
    }

    #[test]
    fn directions_read_the_same_command_differently() {
        let frame = Down::RegisterReply(Ack::OK).encode(PHYS, 1).unwrap();
        assert!(matches!(Up::decode(&frame), Err(DecodeError::Short { cmd: 0x20, need: 8, got: 1 })));
        assert_eq!(Down::decode(&frame).unwrap(), Down::RegisterReply(Ack::OK));
    }

    #[test]
    fn unknown_commands_pass_through_as_other() {
        let frame = Frame { phys: PHYS, msg: 9, cmd: 0xE0, data: Bytes::from_static(&[1, 2, 3]) };
        let up = Up::decode(&frame).unwrap();
        assert_eq!(up, Up::Other { cmd: 0xE0, data: frame.data.clone() });
        assert_eq!(up.cmd(), 0xE0);
        assert_eq!(up.encode(PHYS, 9).unwrap(), frame);
        let down = Down::decode(&frame).unwrap();
        assert_eq!(down, Down::Other { cmd: 0xE0, data: frame.data.clone() });
        assert_eq!(down.encode(PHYS, 9).unwrap(), frame);
        // 0x06 is only known going up.
        let report = Frame { cmd: cmd::REPORT, ..frame };
        assert!(matches!(Down::decode(&report).unwrap(), Down::Other { cmd: 0x06, .. }));
    }

    #[test]
    fn longer_bodies_are_tolerated_shorter_ones_are_not() {
        let m = Down::RegisterReply(Ack { result: 1 });
        let mut frame = m.encode(PHYS, 1).unwrap();
        let mut longer = BytesMut::from(&frame.data[..]);
        longer.extend_from_slice(&[0xAA, 0xBB]);
        frame.data = longer.freeze();
        assert_eq!(Down::decode(&frame).unwrap(), m);
        frame.data = Bytes::new();
        assert_eq!(Down::decode(&frame), Err(DecodeError::Short { cmd: cmd::REGISTER, need: 1, got: 0 }));
    }

    #[test]
    fn spec_samples_of_commands_not_interpreted_pass_through_with_their_data() {
        use crate::dny::testing::{hex, sample};
        // (sample, the data the spec states). §4.4.2's card parameters:
        // sector 0, user key 159185191880, new-card key FFFFFFFFFFFF.
        let samples = [
            (
                "44 4E 59 16 00 3B 37 AB 04 02 00 86 00 15 91 85 19 18 80 FF FF FF FF FF FF 80 0A",
                "00 15 91 85 19 18 80 FF FF FF FF FF FF",
            ),
            ("44 4E 59 0A 00 3B 37 AB 04 02 00 86 00 9E 02", "00"),
            ("44 4E 59 09 00 3B 37 AB 04 01 00 88 9E 02", ""),
            ("44 4E 59 0A 00 3B 37 AB 04 01 00 88 00 9F 02", "00"),
            // §4.4.6: work mode 0 (online); the reply sample is the same bytes.
            ("44 4E 59 0A 00 3B 37 AB 04 01 00 8D 00 A4 02", "00"),
            ("44 4E 59 09 00 3B 37 AB 04 01 00 E4 FA 02", ""),
        ];
        for (text, data) in samples {
            let (frame, down) = sample::<Down>(text);
            assert_eq!(down, Down::Other { cmd: frame.cmd, data: Bytes::from(hex(data)) }, "{text}");
        }
    }

    #[test]
    fn oversized_other_fails_to_encode() {
        let big = Up::Other { cmd: 0xE1, data: Bytes::from(vec![0; MAX_DATA + 1]) };
        assert!(matches!(big.encode(PHYS, 0), Err(EncodeError::TooLong { cmd: 0xE1, .. })));
        let ok = Down::Other { cmd: 0xE1, data: Bytes::from(vec![0; MAX_DATA]) };
        assert!(ok.encode(PHYS, 0).is_ok());
    }
}
