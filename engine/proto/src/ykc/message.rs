//! Frames as typed messages.
//!
//! `Message` is what the rest of the platform sees of YKC: one variant per
//! frame type it understands and `Other` for the rest, so an unknown or
//! newer frame is passed along (and counted) instead of failing the link.

use bytes::Bytes;

use super::billing_model::{BillingModel, BillingModelCheck, BillingModelCheckReply, BillingModelRequest};
use super::bms::BmsFrame;
use super::card::{BalanceUpdate, BalanceUpdateResult, CardStart, CardStartVerdict};
use super::fields::{DecodeError, EncodeError, Tagged, Ykc};
use super::frame::{Frame, MAX_BODY};
use super::heartbeat::{Heartbeat, HeartbeatReply};
use super::kind;
use super::login::{Login, LoginReply};
use super::maintenance::{
    BillingModelPushResult, FirmwareUpgrade, FirmwareUpgradeResult, Reboot, RebootResult, TimeSync,
    TimeSyncResult, WorkParams, WorkParamsResult,
};
use super::offline_cards::{
    OfflineCardClear, OfflineCardClearResult, OfflineCardQuery, OfflineCardQueryResult, OfflineCardSync,
    OfflineCardSyncResult,
};
use super::parallel::{
    ParallelRemoteStart, ParallelRemoteStartResult, ParallelStartRequest, ParallelStartVerdict,
};
use super::parking::{ParkingLockControl, ParkingLockResult, ParkingLockStatus};
use super::qr::{QrPrefix, QrPrefixResult};
use super::realtime::{RealTime, RealTimeRequest};
use super::record::{RecordAck, TransactionRecord};
use super::remote::{RemoteStart, RemoteStartResult, RemoteStop, RemoteStopResult};
use crate::body::{Body, Misfit};

/// Declares `Message` from one table of variant, body type and frame type,
/// so decode, encode and kind cannot disagree.
///
/// After the `;` come variants that stand for a set of frame types (a
/// `Tagged` body that keeps its type): they decode from any type of the set
/// and refuse to encode with a type outside it.
macro_rules! messages {
    (
        $($(#[$doc:meta])* $variant:ident($ty:ty) = $kind:path,)*
        ;
        $($(#[$sdoc:meta])* $svariant:ident($sty:ty) = $set:path,)*
    ) => {
        // A record is ~450 bytes against ~200 for the next variant. One
        // message per frame, moved a handful of times: boxing would cost
        // more in matching ergonomics than it saves in copies.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Message {
            $($(#[$doc])* $variant($ty),)*
            $($(#[$sdoc])* $svariant($sty),)*
            /// A frame type this codec does not interpret.
            Other { kind: u8, body: Bytes },
        }

        impl Message {
            pub fn kind(&self) -> u8 {
                match self {
                    $(Message::$variant(_) => $kind,)*
                    $(Message::$svariant(m) => Tagged::kind(m),)*
                    Message::Other { kind, .. } => *kind,
                }
            }

            pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
                Ok(match frame.kind {
                    $($kind => Message::$variant(<$ty as Body<Ykc>>::decode(frame.kind, &frame.body)?),)*
                    $(kind if $set.contains(&kind) => Message::$svariant(<$sty as Body<Ykc>>::decode(kind, &frame.body)?),)*
                    kind => Message::Other { kind, body: frame.body.clone() },
                })
            }

            /// A plain frame carrying this message with sequence number `seq`
            /// (a reply echoes its request's).
            pub fn encode(&self, seq: u16) -> Result<Frame, EncodeError> {
                let body = match self {
                    $(Message::$variant(m) => Body::encode(m)?,)*
                    $(Message::$svariant(m) => {
                        let kind = Tagged::kind(m);
                        if !$set.contains(&kind) {
                            return Err(EncodeError::from(Misfit::out_of_range(concat!(stringify!($svariant), " frame type"), format!("0x{kind:02X}"))));
                        }
                        Body::encode(m)?
                    })*
                    Message::Other { body, .. } => body.clone(),
                };
                if body.len() > MAX_BODY {
                    return Err(EncodeError::TooLong { kind: self.kind(), len: body.len() });
                }
                Ok(Frame { seq, enc: 0, kind: self.kind(), body })
            }
        }
    };
}

messages! {
    Login(Login) = kind::LOGIN,
    LoginReply(LoginReply) = kind::LOGIN_REPLY,
    Heartbeat(Heartbeat) = kind::HEARTBEAT,
    HeartbeatReply(HeartbeatReply) = kind::HEARTBEAT_REPLY,
    BillingModelCheck(BillingModelCheck) = kind::BILLING_MODEL_CHECK,
    BillingModelCheckReply(BillingModelCheckReply) = kind::BILLING_MODEL_CHECK_REPLY,
    BillingModelRequest(BillingModelRequest) = kind::BILLING_MODEL_REQUEST,
    /// The answer to a `BillingModelRequest` (0x0A).
    BillingModel(BillingModel) = kind::BILLING_MODEL,
    /// A billing model the platform pushes unasked (0x58), same body as 0x0A.
    BillingModelPush(BillingModel) = kind::BILLING_MODEL_PUSH,
    RealTimeRequest(RealTimeRequest) = kind::REALTIME_REQUEST,
    RealTime(RealTime) = kind::REALTIME,
    RemoteStart(RemoteStart) = kind::REMOTE_START,
    RemoteStartResult(RemoteStartResult) = kind::REMOTE_START_RESULT,
    RemoteStop(RemoteStop) = kind::REMOTE_STOP,
    RemoteStopResult(RemoteStopResult) = kind::REMOTE_STOP_RESULT,
    TransactionRecord(TransactionRecord) = kind::TRANSACTION_RECORD,
    RecordAck(RecordAck) = kind::RECORD_ACK,
    /// A driver swiped a card or plugged a VIN-identified car (0x31).
    CardStart(CardStart) = kind::CARD_START,
    CardStartVerdict(CardStartVerdict) = kind::CARD_START_VERDICT,
    BalanceUpdate(BalanceUpdate) = kind::BALANCE_UPDATE,
    BalanceUpdateResult(BalanceUpdateResult) = kind::BALANCE_UPDATE_RESULT,
    OfflineCardSync(OfflineCardSync) = kind::OFFLINE_CARD_SYNC,
    OfflineCardSyncResult(OfflineCardSyncResult) = kind::OFFLINE_CARD_SYNC_RESULT,
    OfflineCardClear(OfflineCardClear) = kind::OFFLINE_CARD_CLEAR,
    OfflineCardClearResult(OfflineCardClearResult) = kind::OFFLINE_CARD_CLEAR_RESULT,
    OfflineCardQuery(OfflineCardQuery) = kind::OFFLINE_CARD_QUERY,
    OfflineCardQueryResult(OfflineCardQueryResult) = kind::OFFLINE_CARD_QUERY_RESULT,
    WorkParams(WorkParams) = kind::WORK_PARAMS,
    WorkParamsResult(WorkParamsResult) = kind::WORK_PARAMS_RESULT,
    TimeSync(TimeSync) = kind::TIME_SYNC,
    TimeSyncResult(TimeSyncResult) = kind::TIME_SYNC_RESULT,
    /// The pile's answer to `BillingModelPush` (0x57).
    BillingModelPushResult(BillingModelPushResult) = kind::BILLING_MODEL_PUSH_RESULT,
    ParkingLockStatus(ParkingLockStatus) = kind::PARKING_LOCK_STATUS,
    ParkingLockControl(ParkingLockControl) = kind::PARKING_LOCK_CONTROL,
    ParkingLockResult(ParkingLockResult) = kind::PARKING_LOCK_RESULT,
    Reboot(Reboot) = kind::REBOOT,
    RebootResult(RebootResult) = kind::REBOOT_RESULT,
    FirmwareUpgrade(FirmwareUpgrade) = kind::FIRMWARE_UPGRADE,
    FirmwareUpgradeResult(FirmwareUpgradeResult) = kind::FIRMWARE_UPGRADE_RESULT,
    ParallelStartRequest(ParallelStartRequest) = kind::PARALLEL_START_REQUEST,
    ParallelStartVerdict(ParallelStartVerdict) = kind::PARALLEL_START_VERDICT,
    ParallelRemoteStart(ParallelRemoteStart) = kind::PARALLEL_REMOTE_START,
    ParallelRemoteStartResult(ParallelRemoteStartResult) = kind::PARALLEL_REMOTE_START_RESULT,
    QrPrefix(QrPrefix) = kind::QR_PREFIX,
    QrPrefixResult(QrPrefixResult) = kind::QR_PREFIX_RESULT,
    ;
    /// Any of the DC BMS frames 0x15–0x25 (`kind::BMS`), kept as a
    /// diagnostic sample; `BmsFrame::kind` says which.
    Bms(BmsFrame) = kind::BMS,
}

macro_rules! from_body {
    ($($ty:ident),*) => {
        $(impl From<$ty> for Message {
            fn from(m: $ty) -> Message {
                Message::$ty(m)
            }
        })*
    };
}

// `BillingModel` is left out: it is both 0x0A and 0x58, so pick the variant.
from_body!(
    Login,
    LoginReply,
    Heartbeat,
    HeartbeatReply,
    BillingModelCheck,
    BillingModelCheckReply,
    BillingModelRequest,
    RealTimeRequest,
    RealTime,
    RemoteStart,
    RemoteStartResult,
    RemoteStop,
    RemoteStopResult,
    TransactionRecord,
    RecordAck,
    CardStart,
    CardStartVerdict,
    BalanceUpdate,
    BalanceUpdateResult,
    OfflineCardSync,
    OfflineCardSyncResult,
    OfflineCardClear,
    OfflineCardClearResult,
    OfflineCardQuery,
    OfflineCardQueryResult,
    WorkParams,
    WorkParamsResult,
    TimeSync,
    TimeSyncResult,
    BillingModelPushResult,
    ParkingLockStatus,
    ParkingLockControl,
    ParkingLockResult,
    Reboot,
    RebootResult,
    FirmwareUpgrade,
    FirmwareUpgradeResult,
    ParallelStartRequest,
    ParallelStartVerdict,
    ParallelRemoteStart,
    ParallelRemoteStartResult,
    QrPrefix,
    QrPrefixResult
);

impl From<BmsFrame> for Message {
    fn from(m: BmsFrame) -> Message {
        Message::Bms(m)
    }
}

/// Fixtures shared by the frame modules' tests.
#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio_util::codec::{Decoder, Encoder};

    use super::*;
    use crate::ykc::testing::pile;
    use crate::ykc::FrameCodec;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Decodes a known-good frame, checks its message, and checks encoding
    /// the message again with the same seq gives the same bytes.
    fn known_good(wire: &str, seq: u16, expected: Message) {
        let bytes = hex(wire);
        let frame = FrameCodec.decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap().unwrap();
        assert_eq!(frame.seq, seq);
        assert_eq!(Message::decode(&frame).unwrap(), expected);
        let mut out = BytesMut::new();
        FrameCodec.encode(expected.encode(seq).unwrap(), &mut out).unwrap();
        assert_eq!(&out[..], &bytes[..]);
    }

    #[test]
    fn login_accepted_known_good_frame() {
        known_good(
            "68 0C 0000 00 02 55031412782305 00 DA4C",
            0,
            LoginReply { pile: pile(), accepted: true }.into(),
        );
    }

    #[test]
    fn billing_model_unchanged_known_good_frame() {
        known_good(
            "68 0E CE04 00 06 55031412782305 0000 00 8E2F",
            0x04CE,
            BillingModelCheckReply { pile: pile(), model: 0, differs: false }.into(),
        );
    }

    #[test]
    fn unknown_types_pass_through_as_other() {
        let frame = Frame { seq: 9, enc: 0, kind: 0x99, body: Bytes::from_static(&[1, 2, 3]) };
        let m = Message::decode(&frame).unwrap();
        assert_eq!(m, Message::Other { kind: 0x99, body: frame.body.clone() });
        assert_eq!(m.kind(), 0x99);
        assert_eq!(m.encode(9).unwrap(), frame);
    }

    #[test]
    fn longer_bodies_are_tolerated_shorter_ones_are_not() {
        let m = Message::from(LoginReply { pile: pile(), accepted: false });
        let mut frame = m.encode(1).unwrap();
        let mut longer = BytesMut::from(&frame.body[..]);
        longer.extend_from_slice(&[0xAA, 0xBB, 0xCC]);
        frame.body = longer.freeze();
        assert_eq!(Message::decode(&frame).unwrap(), m);
        frame.body = frame.body.slice(..5);
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::Short { kind: kind::LOGIN_REPLY, need: 8, got: 5 })
        );
    }

    #[test]
    fn non_digit_pile_id_is_rejected() {
        let frame = Frame {
            seq: 0,
            enc: 0,
            kind: kind::BILLING_MODEL_REQUEST,
            body: Bytes::from_static(&[0x55, 0x03, 0x14, 0x12, 0x78, 0x23, 0x0A]),
        };
        assert!(matches!(Message::decode(&frame), Err(DecodeError::BadBcd { field: "pile id", .. })));
    }

    #[test]
    fn oversized_other_and_bad_ids_fail_to_encode() {
        let big = Message::Other { kind: 0x99, body: Bytes::from(vec![0; MAX_BODY + 1]) };
        assert!(matches!(big.encode(0), Err(EncodeError::TooLong { kind: 0x99, .. })));
        let ok = Message::Other { kind: 0x99, body: Bytes::from(vec![0; MAX_BODY]) };
        assert!(ok.encode(0).is_ok());
        let short_id = Message::from(BillingModelRequest { pile: "123".into() });
        assert!(matches!(short_id.encode(0), Err(EncodeError::BadDigits { .. })));
    }
}
