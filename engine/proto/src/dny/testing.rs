//! Helpers for the AP3000 codec's tests: the spec's sample frames read from
//! their hex, and messages encoded through the codec and back.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::dny::{StreamCodec, Unit};

pub const PHYS: u32 = 0x05A1_B2C3;

/// Bytes written as the spec does: hex pairs separated by spaces.
pub fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

pub fn wire(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    StreamCodec::new().encode(frame.clone(), &mut out).unwrap();
    out.to_vec()
}

/// A direction's decoder, so one helper reads samples of both.
pub trait Decode: Sized {
    fn decode_frame(frame: &Frame) -> Result<Self, DecodeError>;
}

impl Decode for Up {
    fn decode_frame(frame: &Frame) -> Result<Self, DecodeError> {
        Up::decode(frame)
    }
}

impl Decode for Down {
    fn decode_frame(frame: &Frame) -> Result<Self, DecodeError> {
        Down::decode(frame)
    }
}

/// One of the spec's sample frames, cut from the stream (which checks
/// its checksum) and decoded.
pub fn sample<T: Decode>(text: &str) -> (Frame, T) {
    let mut buf = BytesMut::from(&hex(text)[..]);
    let item = StreamCodec::new().decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty(), "bytes left over after the sample");
    let Ok(Unit::Frame(frame)) = item else { panic!("sample is not a valid frame: {item:?}") };
    let m = T::decode_frame(&frame).unwrap();
    (frame, m)
}

fn through_the_codec(frame: Frame) -> Frame {
    let mut wire = BytesMut::new();
    StreamCodec::new().encode(frame.clone(), &mut wire).unwrap();
    let decoded = StreamCodec::new().decode(&mut wire).unwrap().unwrap().unwrap();
    assert!(wire.is_empty());
    let Unit::Frame(decoded) = decoded else { panic!("expected a frame, got {decoded:?}") };
    assert_eq!(decoded, frame);
    decoded
}

/// Encodes `m` to wire bytes, decodes them back and checks nothing
/// changed. Returns the data for layout checks.
pub fn round_trip_up(m: Up) -> Bytes {
    let frame = through_the_codec(m.encode(PHYS, 0x1234).unwrap());
    assert_eq!(Up::decode(&frame).unwrap(), m);
    frame.data
}

pub fn round_trip_down(m: Down) -> Bytes {
    let frame = through_the_codec(m.encode(PHYS, 0x1234).unwrap());
    assert_eq!(Down::decode(&frame).unwrap(), m);
    frame.data
}
