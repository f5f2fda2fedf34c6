//! Parking locks: the barrier in a charging bay that keeps other cars out.
//! The pile reports its lock (0x61); the platform raises or lowers it
//! (0x62 → 0x63).
//!
//! The layouts chargeplane speaks:
//!
//! ```text
//! 0x61 ↑ lock status   pile 7 | gun 1 | state 1 | occupied 1 (0 free, 0xFF car) |
//!                      lock battery % 1 | alarm 1 | reserved 4 — 16 bytes
//! 0x62 ↓ lock control  pile 7 | gun 1 | action 1 (0x55 raise, 0xFF lower) | reserved 4 — 13 bytes
//! 0x63 ↑ result        pile 7 | gun 1 | ok 1 (1 done) | reserved 4 — 13 bytes
//! ```
//!
//! Lock states are `ParkingLockStatus::MOVING` (0x00, not in position),
//! `RAISED` (0x55) and `LOWERED` (0xFF). Reserved bytes are sent as zeros
//! and ignored on input.

use vocab::PileId;

use super::fields::{DecodeError, EncodeError, Reader, Writer, Ykc};
use crate::body::Body;

/// 0x61: a lock's state, pushed by the pile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkingLockStatus {
    pub pile: PileId,
    pub gun: u8,
    /// One of the `ParkingLockStatus` state constants; kept raw.
    pub state: u8,
    /// A car stands in the bay. 0xFF on the wire; any value other than
    /// 0x00 reads as occupied.
    pub occupied: bool,
    /// The lock's own battery, percent.
    pub battery_percent: u8,
    /// One of the `ParkingLockStatus` alarm constants; kept raw.
    pub alarm: u8,
}

impl ParkingLockStatus {
    /// Not in position: moving, or stuck between.
    pub const MOVING: u8 = 0x00;
    pub const RAISED: u8 = 0x55;
    pub const LOWERED: u8 = 0xFF;

    pub const ALARM_NONE: u8 = 0x00;
    /// The arm failed to rise or lower.
    pub const ALARM_ARM_FAULT: u8 = 0x55;
    /// The arm was forced while standing by.
    pub const ALARM_ARM_DAMAGED: u8 = 0xFF;
}

impl Body<Ykc> for ParkingLockStatus {
    const LEN: usize = 16;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let m = ParkingLockStatus {
            pile: r.pile()?,
            gun: r.gun()?,
            state: r.u8()?,
            occupied: r.flag()?,
            battery_percent: r.u8()?,
            alarm: r.u8()?,
        };
        r.bytes::<4>()?;
        Ok(m)
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.u8(self.state);
        w.u8(if self.occupied { 0xFF } else { 0x00 });
        w.u8(self.battery_percent);
        w.u8(self.alarm);
        w.bytes(&[0; 4]);
        Ok(())
    }
}

/// 0x62: raise or lower a bay's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkingLockControl {
    pub pile: PileId,
    pub gun: u8,
    /// Raise (0x55 on the wire) or lower (0xFF). Other values do not decode.
    pub raise: bool,
}

impl ParkingLockControl {
    pub const RAISE: u8 = 0x55;
    pub const LOWER: u8 = 0xFF;
}

impl Body<Ykc> for ParkingLockControl {
    const LEN: usize = 13;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let gun = r.gun()?;
        let raise = match r.u8()? {
            Self::RAISE => true,
            Self::LOWER => false,
            value => return Err(DecodeError::BadValue { kind: r.kind(), field: "lock action", value }),
        };
        r.bytes::<4>()?;
        Ok(ParkingLockControl { pile, gun, raise })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.u8(if self.raise { Self::RAISE } else { Self::LOWER });
        w.bytes(&[0; 4]);
        Ok(())
    }
}

/// 0x63: the pile's answer to `ParkingLockControl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkingLockResult {
    pub pile: PileId,
    pub gun: u8,
    /// 0x01 on the wire when the lock moved as asked.
    pub ok: bool,
}

impl Body<Ykc> for ParkingLockResult {
    const LEN: usize = 13;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let m = ParkingLockResult { pile: r.pile()?, gun: r.gun()?, ok: r.flag()? };
        r.bytes::<4>()?;
        Ok(m)
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.flag(self.ok);
        w.bytes(&[0; 4]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ykc::testing::{pile, round_trip};
    use crate::ykc::{kind, Frame, Message};

    #[test]
    fn status_round_trip_and_layout() {
        let body = round_trip(Message::ParkingLockStatus(ParkingLockStatus {
            pile: pile(),
            gun: 1,
            state: ParkingLockStatus::RAISED,
            occupied: true,
            battery_percent: 76,
            alarm: ParkingLockStatus::ALARM_NONE,
        }));
        assert_eq!(body.len(), 16);
        assert_eq!(&body[7..], &[0x01, 0x55, 0xFF, 76, 0, 0, 0, 0, 0]);
        round_trip(Message::ParkingLockStatus(ParkingLockStatus {
            pile: pile(),
            gun: 2,
            state: ParkingLockStatus::MOVING,
            occupied: false,
            battery_percent: 9,
            alarm: ParkingLockStatus::ALARM_ARM_FAULT,
        }));
    }

    #[test]
    fn status_reserved_bytes_are_ignored_but_required() {
        let mut body = vec![0x55, 0x03, 0x14, 0x12, 0x78, 0x23, 0x05, 0x01, 0xFF, 0x01, 50, 0, 9, 9, 9, 9];
        let frame = Frame { seq: 0, enc: 0, kind: kind::PARKING_LOCK_STATUS, body: body.clone().into() };
        let Message::ParkingLockStatus(m) = Message::decode(&frame).unwrap() else {
            panic!("not a lock status")
        };
        assert_eq!((m.state, m.occupied, m.battery_percent), (ParkingLockStatus::LOWERED, true, 50));
        body.pop();
        let frame = Frame { body: body.into(), ..frame };
        assert!(matches!(Message::decode(&frame), Err(DecodeError::Short { need: 16, got: 15, .. })));
    }

    #[test]
    fn control_round_trip_and_layout() {
        for raise in [true, false] {
            let body =
                round_trip(Message::ParkingLockControl(ParkingLockControl { pile: pile(), gun: 1, raise }));
            assert_eq!(body.len(), 13);
            assert_eq!(&body[7..], &[0x01, if raise { 0x55 } else { 0xFF }, 0, 0, 0, 0]);
        }
    }

    #[test]
    fn control_with_an_unknown_action_does_not_decode() {
        let m = ParkingLockControl { pile: pile(), gun: 1, raise: true };
        let mut body = Message::from(m).encode(0).unwrap().body.to_vec();
        body[8] = 0x01;
        let frame = Frame { seq: 0, enc: 0, kind: kind::PARKING_LOCK_CONTROL, body: body.into() };
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::BadValue { kind: kind::PARKING_LOCK_CONTROL, field: "lock action", value: 1 })
        );
    }

    #[test]
    fn result_round_trip() {
        let body =
            round_trip(Message::ParkingLockResult(ParkingLockResult { pile: pile(), gun: 1, ok: true }));
        assert_eq!(&body[7..], &[0x01, 0x01, 0, 0, 0, 0]);
        round_trip(Message::ParkingLockResult(ParkingLockResult { pile: pile(), gun: 2, ok: false }));
    }
}
