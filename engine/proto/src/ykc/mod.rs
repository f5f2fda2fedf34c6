//! YKC ("cloud fast charge") v1.5/v1.6: the binary protocol of most Chinese
//! car charging piles.
//!
//! Two layers, as in tokio's mini-redis. `FrameCodec` cuts the TCP stream
//! into checked `Frame`s (start byte, length, CRC); `Message` turns a frame's
//! body into a typed struct and back. Decoding is tolerant of what real piles
//! send (longer bodies, unknown frame types, flag bytes other than 0/1);
//! encoding is strict, so the platform never sends a value the wire cannot
//! carry exactly. Nothing here panics on input.
//!
//! Wire ids map to domain types: the 14-digit pile id is a `PileId`, the
//! 32-digit transaction serial a `SessionId`. Times are the pile's local
//! clock as `NaiveDateTime`; the caller applies the station's UTC offset.
//!
//! One module per group of frames, each documenting the layouts it speaks:
//! `login`, `heartbeat`, `billing_model`, `realtime`, `bms` (DC BMS samples,
//! 0x15–0x25), `card` (card/VIN starts, balance updates), `remote`,
//! `record`, `offline_cards`, `maintenance` (work parameters, time, reboot,
//! firmware), `parking`, `parallel` (two-gun charging) and `qr`.

mod billing_model;
mod bms;
mod card;
mod crc;
pub mod fields;
mod frame;
mod heartbeat;
pub mod kind;
mod login;
mod maintenance;
mod message;
mod offline_cards;
mod parallel;
mod parking;
mod qr;
mod realtime;
mod record;
mod remote;
mod stop_reason;
#[cfg(test)]
mod testing;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod spec_samples;

pub use billing_model::{
    period, BillingModel, BillingModelCheck, BillingModelCheckReply, BillingModelRequest, PeriodRate, SLOTS,
};
pub use bms::BmsFrame;
pub use card::{BalanceUpdate, BalanceUpdateResult, CardStart, CardStartVerdict};
pub use crc::crc16;
pub use fields::{DecodeError, EncodeError};
pub use frame::{CodecError, Frame, FrameCodec, FrameFault, MAX_BODY, MAX_LEN, START};
pub use heartbeat::{Heartbeat, HeartbeatReply};
pub use login::{Login, LoginReply};
pub use maintenance::{
    BillingModelPushResult, FirmwareUpgrade, FirmwareUpgradeResult, Reboot, RebootResult, TimeSync,
    TimeSyncResult, WorkParams, WorkParamsResult,
};
pub use message::Message;
pub use offline_cards::{
    CardPresence, CardRemoval, OfflineCard, OfflineCardClear, OfflineCardClearResult, OfflineCardQuery,
    OfflineCardQueryResult, OfflineCardSync, OfflineCardSyncResult,
};
pub use parallel::{
    ParallelRemoteStart, ParallelRemoteStartResult, ParallelStartRequest, ParallelStartVerdict,
};
pub use parking::{ParkingLockControl, ParkingLockResult, ParkingLockStatus};
pub use qr::{QrPrefix, QrPrefixResult};
pub use realtime::{hardware_faults, GunStatus, RealTime, RealTimeRequest};
pub use record::{PeriodUsage, RecordAck, TransactionRecord};
pub use remote::{RemoteStart, RemoteStartResult, RemoteStop, RemoteStopResult};
pub use stop_reason::stop_reason;
