//! Helpers for the YKC codec's tests: ids and times the tests share, and
//! encoding a message through the codec and back.

use bytes::{Bytes, BytesMut};
use chrono::{NaiveDate, NaiveDateTime};
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::ykc::FrameCodec;
use vocab::{PileId, SessionId};

pub fn pile() -> PileId {
    PileId("55031412782305".into())
}

/// pile id + gun 01 + 2026-03-01 08:30:00 + counter 0042.
pub fn serial() -> SessionId {
    SessionId("55031412782305012603010830000042".into())
}

pub fn at(h: u32, m: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 1).unwrap().and_hms_opt(h, m, s).unwrap()
}

/// Encodes `m` to wire bytes, decodes them back through the codec and
/// checks nothing changed. Returns the body for layout checks.
pub fn round_trip(m: Message) -> Bytes {
    let frame = m.encode(0x1234).unwrap();
    let mut wire = BytesMut::new();
    FrameCodec.encode(frame.clone(), &mut wire).unwrap();
    let decoded = FrameCodec.decode(&mut wire).unwrap().unwrap().unwrap();
    assert!(wire.is_empty());
    assert_eq!(decoded, frame);
    assert_eq!(Message::decode(&decoded).unwrap(), m);
    frame.body
}
