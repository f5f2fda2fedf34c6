//! YKC framing: cutting a TCP byte stream into checked frames.
//!
//! `0x68 | LEN | SEQ u16 LE | ENC | TYPE | BODY | CRC u16 LE`, LEN = body + 4.
//! Piles sit on flaky 4G links, so a damaged frame is a fault to count and
//! skip, not a reason to drop the pile: the decoder yields `Err(FrameFault)`
//! items and carries on. Only a length byte no frame can have is fatal, since
//! after it the stream cannot be trusted to resynchronise.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::crc::crc16;
use crate::framing::Layout;
pub use crate::framing::{CodecError, FrameFault};

pub const START: u8 = 0x68;
/// The largest LEN (SEQ..BODY) a frame may declare.
pub const MAX_LEN: usize = 200;
/// The largest body: LEN minus SEQ, ENC and TYPE.
pub const MAX_BODY: usize = MAX_LEN - HEADER;

/// SEQ, ENC and TYPE: the part of LEN that is not body.
const HEADER: usize = 4;
/// START and LEN in front, CRC behind: the part of a frame LEN does not count.
const ENVELOPE: usize = 4;

const LAYOUT: Layout = Layout {
    start: &[START],
    len_bytes: 1,
    uncounted: ENVELOPE,
    min_len: HEADER as u16,
    max_len: MAX_LEN as u16,
};

/// One checked, plain-text frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub seq: u16,
    pub enc: u8,
    pub kind: u8,
    pub body: Bytes,
}

impl Frame {
    /// Appends the frame's wire bytes to `dst`.
    pub fn write(&self, dst: &mut BytesMut) -> io::Result<()> {
        let len = u8::try_from(self.body.len() + HEADER)
            .ok()
            .filter(|len| usize::from(*len) <= MAX_LEN)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "frame 0x{:02X}: body of {} bytes exceeds {MAX_BODY}",
                        self.kind,
                        self.body.len()
                    ),
                )
            })?;
        dst.reserve(usize::from(len) + ENVELOPE);
        dst.put_u8(START);
        dst.put_u8(len);
        let checked_from = dst.len();
        dst.put_u16_le(self.seq);
        dst.put_u8(self.enc);
        dst.put_u8(self.kind);
        dst.put_slice(&self.body);
        let crc = crc16(&dst[checked_from..]);
        dst.put_u16_le(crc);
        Ok(())
    }
}

/// `tokio_util` codec for YKC frames. Stateless: everything it needs is in
/// the buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = Result<Frame, FrameFault>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        // Resynchronise on the next start byte. Whatever precedes it is
        // dropped and reported as one fault.
        let skipped = src.iter().position(|&b| b == START).unwrap_or(src.len());
        if skipped > 0 {
            src.advance(skipped);
            return Ok(Some(Err(FrameFault::Garbage { skipped })));
        }
        let Some(raw) = LAYOUT.cut(src)? else {
            return Ok(None);
        };
        let total = raw.len();
        let checked = raw.slice(2..total - 2);
        // LEN >= HEADER was checked by the cut, so the header is there.
        let Some(&[seq_lo, seq_hi, enc, kind]) = checked.first_chunk::<4>() else {
            return Err(LAYOUT.bad_length(raw[1].into()));
        };
        let sent = raw.slice(total - 2..);
        // The spec's text says low byte first, but piles in the field send
        // both orders (as public gateways accept): either is accepted here.
        // What we send follows the text.
        let crc = crc16(&checked);
        if crc.to_le_bytes() != sent[..] && crc.to_be_bytes() != sent[..] {
            return Ok(Some(Err(FrameFault::BadCrc { kind })));
        }
        if enc != 0 {
            return Ok(Some(Err(FrameFault::Encrypted { kind })));
        }
        Ok(Some(Ok(Frame {
            seq: u16::from_le_bytes([seq_lo, seq_hi]),
            enc,
            kind,
            body: checked.slice(HEADER..),
        })))
    }

    /// A frame cut short by the peer closing is reported as garbage rather
    /// than tokio's generic "bytes remaining" error: the pile is gone either
    /// way, and the metric says what happened.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let skipped = buf.len();
        buf.clear();
        Ok(Some(Err(FrameFault::Garbage { skipped })))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> io::Result<()> {
        frame.write(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u16, kind: u8, body: &[u8]) -> Frame {
        Frame { seq, enc: 0, kind, body: Bytes::copy_from_slice(body) }
    }

    fn wire(f: &Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        FrameCodec.encode(f.clone(), &mut out).unwrap();
        out.to_vec()
    }

    /// Everything the decoder yields for `input`, stopping at a fatal error.
    fn decode_all(buf: &mut BytesMut) -> Vec<Result<Frame, FrameFault>> {
        let mut out = Vec::new();
        while let Some(item) = FrameCodec.decode(buf).unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn layout_matches_the_spec() {
        let bytes = wire(&frame(0x0102, 0x03, &[0xAA, 0xBB]));
        assert_eq!(&bytes[..6], &[0x68, 6, 0x02, 0x01, 0, 0x03]);
        assert_eq!(&bytes[6..8], &[0xAA, 0xBB]);
        assert_eq!(bytes[8..], crc16(&bytes[2..8]).to_le_bytes());
    }

    /// Sample frames from the YKC v1.6 spec: the 0x02 login reply, whose
    /// printed checksum is right (low byte first, as the text says), and
    /// the 0x03 heartbeat and 0x04 reply, whose printed checksums match
    /// neither order: those bodies are checked alone, under a recomputed
    /// checksum.
    #[test]
    fn the_specs_sample_frames_decode_and_either_crc_order_is_accepted() {
        let samples: [(&str, bool, u8, &str); 3] = [
            ("680C0000000255031412782305 00 DA4C", true, 0x02, "5503141278230500"),
            ("680D0001000332010200000001 0100 6890", false, 0x03, "320102000000010100"),
            ("680D3600000455031412782305 0100 65B2", false, 0x04, "550314127823050100"),
        ];
        for (hex, crc_right, kind, body) in samples {
            let mut bytes = hex_bytes(hex);
            let n = bytes.len();
            let crc = crc16(&bytes[2..n - 2]).to_le_bytes();
            assert_eq!(bytes[n - 2..] == crc, crc_right, "{hex}: the spec's checksum");
            bytes[n - 2..].copy_from_slice(&crc);
            for order in [bytes.clone(), [&bytes[..n - 2], &[crc[1], crc[0]]].concat()] {
                let mut buf = BytesMut::from(&order[..]);
                let got = decode_all(&mut buf);
                let [Ok(f)] = &got[..] else { panic!("{hex}: {got:?}") };
                assert_eq!((f.kind, &f.body[..]), (kind, &hex_bytes(body)[..]), "{hex}");
            }
        }
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        let hex: String = hex.split_whitespace().collect();
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn byte_by_byte_arrival() {
        let f = frame(7, 0x13, &[0x11; 60]);
        let bytes = wire(&f);
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = FrameCodec.decode(&mut buf).unwrap();
            if i + 1 < bytes.len() {
                assert_eq!(got, None, "complete after {} of {} bytes", i + 1, bytes.len());
                if i >= 1 {
                    assert!(buf.capacity() >= bytes.len());
                }
            } else {
                assert_eq!(got, Some(Ok(f.clone())));
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let a = frame(1, 0x03, &[1, 2, 3]);
        let b = frame(2, 0x04, &[]);
        let mut buf = BytesMut::from(&[wire(&a), wire(&b)].concat()[..]);
        assert_eq!(decode_all(&mut buf), vec![Ok(a), Ok(b)]);
    }

    #[test]
    fn garbage_before_a_frame_is_reported_once() {
        let f = frame(3, 0x03, &[9; 9]);
        let mut buf = BytesMut::from(&[&[0x00, 0xFF, 0x13, 0x37][..], &wire(&f)].concat()[..]);
        assert_eq!(decode_all(&mut buf), vec![Err(FrameFault::Garbage { skipped: 4 }), Ok(f)]);
    }

    #[test]
    fn bad_crc_is_consumed_and_the_next_frame_decodes() {
        let bad = frame(1, 0x13, &[5; 20]);
        let good = frame(2, 0x03, &[6; 9]);
        let mut bad_bytes = wire(&bad);
        *bad_bytes.last_mut().unwrap() ^= 0x01;
        let mut buf = BytesMut::from(&[bad_bytes, wire(&good)].concat()[..]);
        assert_eq!(decode_all(&mut buf), vec![Err(FrameFault::BadCrc { kind: 0x13 }), Ok(good)]);
    }

    #[test]
    fn encrypted_frames_are_reported() {
        let mut f = frame(1, 0x01, &[0; 30]);
        f.enc = 1;
        let mut buf = BytesMut::from(&wire(&f)[..]);
        assert_eq!(decode_all(&mut buf), vec![Err(FrameFault::Encrypted { kind: 0x01 })]);
        assert!(buf.is_empty());
    }

    #[test]
    fn impossible_lengths_are_fatal() {
        for len in [0u8, 3, 201, 250] {
            let mut buf = BytesMut::from(&[0x68, len, 0, 0, 0, 0x03][..]);
            let err = FrameCodec.decode(&mut buf).unwrap_err();
            assert!(matches!(err, CodecError::BadLength { len: l, .. } if l == u16::from(len)));
            assert_eq!(err.kind_label(), "bad_length");
        }
    }

    #[test]
    fn largest_frame_round_trips_and_larger_is_refused() {
        let f = frame(1, 0x99, &[0x68; MAX_BODY]);
        let mut buf = BytesMut::from(&wire(&f)[..]);
        assert_eq!(decode_all(&mut buf), vec![Ok(f)]);
        let err = FrameCodec.encode(frame(1, 0x99, &[0; MAX_BODY + 1]), &mut BytesMut::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn truncated_frame_at_eof_is_garbage() {
        let bytes = wire(&frame(1, 0x03, &[0; 9]));
        let mut buf = BytesMut::from(&bytes[..10]);
        assert_eq!(FrameCodec.decode(&mut buf).unwrap(), None);
        assert_eq!(FrameCodec.decode_eof(&mut buf).unwrap(), Some(Err(FrameFault::Garbage { skipped: 10 })));
        assert_eq!(FrameCodec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn labels() {
        assert_eq!(FrameFault::Garbage { skipped: 1 }.kind_label(), "garbage");
        assert_eq!(FrameFault::BadCrc { kind: 1 }.kind_label(), "bad_crc");
        assert_eq!(FrameFault::Encrypted { kind: 1 }.kind_label(), "encrypted");
        assert_eq!(CodecError::from(io::Error::other("x")).kind_label(), "io");
    }
}
