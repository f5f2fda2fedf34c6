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

mod billing_model;
mod crc;
pub mod fields;
mod frame;
mod heartbeat;
mod login;
mod message;
mod realtime;
mod record;
mod remote;

#[cfg(test)]
mod proptests;

pub use billing_model::{BillingModel, BillingModelCheck, BillingModelCheckReply, BillingModelRequest};
pub use crc::crc16;
pub use fields::{DecodeError, EncodeError};
pub use frame::{CodecError, Frame, FrameCodec, FrameFault, MAX_BODY, MAX_LEN, START};
pub use heartbeat::{Heartbeat, HeartbeatReply};
pub use login::{Login, LoginReply};
pub use message::{kind, Message};
pub use realtime::{GunStatus, RealTime, RealTimeRequest};
pub use record::{stop_reason_text, PeriodUsage, RecordAck, TransactionRecord};
pub use remote::{RemoteStart, RemoteStartResult, RemoteStop, RemoteStopResult};
