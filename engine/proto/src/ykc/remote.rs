//! Remote start (0x34 → 0x33) and remote stop (0x36 → 0x35): how the
//! platform begins and ends a charge ordered from the app.

use rust_decimal::Decimal;

use vocab::{PileId, SessionId};

use super::fields::{DecodeError, EncodeError, Reader, Unit, Writer, Ykc};
use crate::body::Body;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStart {
    /// Minted by the platform; every later frame of the charge carries it.
    pub serial: SessionId,
    pub pile: PileId,
    pub gun: u8,
    /// BCD on the wire, kept raw.
    pub logical_card: [u8; 8],
    pub physical_card: [u8; 8],
    /// The driver's balance, yuan; 0.01 yuan on the wire.
    pub balance: Decimal,
}

impl Body<Ykc> for RemoteStart {
    const LEN: usize = 44;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RemoteStart {
            serial: r.serial()?,
            pile: r.pile()?,
            gun: r.gun()?,
            logical_card: r.bytes()?,
            physical_card: r.bytes()?,
            balance: r.dec_u32(Unit::Balance)?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.bytes(&self.logical_card);
        w.bytes(&self.physical_card);
        w.dec_u32(self.balance, Unit::Balance, "balance")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStartResult {
    pub serial: SessionId,
    pub pile: PileId,
    pub gun: u8,
    /// 0x01 on the wire when the pile starts charging.
    pub ok: bool,
    /// One of the `RemoteStartResult` reason constants when refused.
    pub reason: u8,
}

impl RemoteStartResult {
    pub const NONE: u8 = 0;
    pub const ID_MISMATCH: u8 = 1;
    pub const ALREADY_CHARGING: u8 = 2;
    pub const FAULT: u8 = 3;
    pub const OFFLINE: u8 = 4;
    pub const NOT_PLUGGED: u8 = 5;
}

impl Body<Ykc> for RemoteStartResult {
    const LEN: usize = 26;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RemoteStartResult {
            serial: r.serial()?,
            pile: r.pile()?,
            gun: r.gun()?,
            ok: r.flag()?,
            reason: r.u8()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.flag(self.ok);
        w.u8(self.reason);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStop {
    pub pile: PileId,
    pub gun: u8,
}

impl Body<Ykc> for RemoteStop {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RemoteStop { pile: r.pile()?, gun: r.gun()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStopResult {
    pub pile: PileId,
    pub gun: u8,
    /// 0x01 on the wire when the pile stopped.
    pub ok: bool,
    /// One of the `RemoteStopResult` reason constants when refused.
    pub reason: u8,
}

impl RemoteStopResult {
    pub const NONE: u8 = 0;
    pub const ID_MISMATCH: u8 = 1;
    pub const NOT_CHARGING: u8 = 2;
    pub const OTHER: u8 = 3;
}

impl Body<Ykc> for RemoteStopResult {
    const LEN: usize = 10;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RemoteStopResult { pile: r.pile()?, gun: r.gun()?, ok: r.flag()?, reason: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.flag(self.ok);
        w.u8(self.reason);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::testing::{pile, round_trip, serial};
    use crate::ykc::Message;

    #[test]
    fn remote_start_round_trip_and_layout() {
        let body = round_trip(Message::RemoteStart(RemoteStart {
            serial: serial(),
            pile: pile(),
            gun: 1,
            logical_card: [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78],
            physical_card: [0xD4, 0x1C, 0x6E, 0x2A, 0, 0, 0, 0],
            balance: dec!(250.75),
        }));
        assert_eq!(body.len(), 44);
        assert_eq!(&body[..4], &[0x55, 0x03, 0x14, 0x12]);
        assert_eq!(&body[40..], &25_075u32.to_le_bytes());
    }

    #[test]
    fn start_result_round_trip() {
        let ok = round_trip(Message::RemoteStartResult(RemoteStartResult {
            serial: serial(),
            pile: pile(),
            gun: 1,
            ok: true,
            reason: RemoteStartResult::NONE,
        }));
        assert_eq!(&ok[24..], &[1, 0]);
        round_trip(Message::RemoteStartResult(RemoteStartResult {
            serial: serial(),
            pile: pile(),
            gun: 2,
            ok: false,
            reason: RemoteStartResult::NOT_PLUGGED,
        }));
    }

    #[test]
    fn stop_and_result_round_trip() {
        round_trip(Message::RemoteStop(RemoteStop { pile: pile(), gun: 1 }));
        let body = round_trip(Message::RemoteStopResult(RemoteStopResult {
            pile: pile(),
            gun: 1,
            ok: false,
            reason: RemoteStopResult::NOT_CHARGING,
        }));
        assert_eq!(&body[7..], &[1, 0, 2]);
    }

    #[test]
    fn balance_finer_than_a_cent_is_an_encode_error() {
        let m = Message::RemoteStart(RemoteStart {
            serial: serial(),
            pile: pile(),
            gun: 1,
            logical_card: [0; 8],
            physical_card: [0; 8],
            balance: dec!(10.005),
        });
        assert!(m.encode(0).is_err());
    }
}
