//! DNY framing: cutting a TCP byte stream into ICCIDs, keepalives and
//! checked frames.
//!
//! `"DNY" | LEN u16 LE | PHYS u32 LE | MSG u16 LE | CMD | DATA | SUM u16 LE`,
//! LEN = data + 9 (PHYS..SUM), SUM = wrapping 16-bit sum of every byte
//! before it. Besides frames a link carries the SIM's ICCID (20 ASCII
//! characters, unframed, right after connect) and the 4-byte keepalive
//! `link`. Piles sit on flaky 4G links, so a damaged frame is a fault to
//! count and skip: the decoder yields `Err(FrameFault)` items and carries on.
//! Only a length no frame can have is fatal, since after it the stream
//! cannot be trusted to resynchronise.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::framing::Layout;
pub use crate::framing::{CodecError, FrameFault};
use vocab::PileId;

pub const START: &[u8; 3] = b"DNY";
pub const KEEPALIVE: &[u8; 4] = b"link";
/// Characters of an ICCID.
pub const ICCID_LEN: usize = 20;
/// The largest whole frame.
pub const MAX_FRAME: usize = 256;
/// The smallest LEN: PHYS, MSG, CMD and SUM with no data.
pub const MIN_LEN: u16 = 9;
/// The largest LEN: a whole frame less START and LEN.
pub const MAX_LEN: u16 = (MAX_FRAME - ENVELOPE) as u16;
/// The largest data.
pub const MAX_DATA: usize = (MAX_LEN - MIN_LEN) as usize;

/// START and LEN: the part of a frame LEN does not count.
const ENVELOPE: usize = 5;
/// START, LEN, PHYS, MSG and CMD: where the data begins.
const HEADER: usize = 12;

const LAYOUT: Layout =
    Layout { start: START, len_bytes: 2, uncounted: ENVELOPE, min_len: MIN_LEN, max_len: MAX_LEN };

/// The 16-bit wrapping sum that closes every frame.
pub fn sum16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |sum, &b| sum.wrapping_add(u16::from(b)))
}

/// A pile's id as the platform keys it: PHYS as 8 uppercase hex digits, so
/// the device type (the top byte) leads, e.g. `05A1B2C3`.
pub fn pile_id(phys: u32) -> PileId {
    PileId(format!("{phys:08X}"))
}

/// The PHYS of a pile id made by `pile_id`: exactly 8 uppercase hex digits.
pub fn phys_of(id: &PileId) -> Option<u32> {
    let s = id.as_str();
    let canonical = s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    canonical.then(|| u32::from_str_radix(s, 16).ok()).flatten()
}

/// One checked frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The device id; the top byte is the device type.
    pub phys: u32,
    /// Message id; a reply echoes its request's.
    pub msg: u16,
    pub cmd: u8,
    pub data: Bytes,
}

impl Frame {
    /// Appends the frame's wire bytes to `dst`.
    pub fn write(&self, dst: &mut BytesMut) -> io::Result<()> {
        if self.data.len() > MAX_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("command 0x{:02X}: data of {} bytes exceeds {MAX_DATA}", self.cmd, self.data.len()),
            ));
        }
        // At most MAX_LEN, checked above.
        let len = self.data.len() as u16 + MIN_LEN;
        let from = dst.len();
        dst.reserve(usize::from(len) + ENVELOPE);
        dst.put_slice(START);
        dst.put_u16_le(len);
        dst.put_u32_le(self.phys);
        dst.put_u16_le(self.msg);
        dst.put_u8(self.cmd);
        dst.put_slice(&self.data);
        let sum = sum16(&dst[from..]);
        dst.put_u16_le(sum);
        Ok(())
    }
}

/// One thing a link carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// The SIM's ICCID, sent unframed right after connecting.
    Iccid(String),
    /// The 4-byte `link` keepalive.
    Keepalive,
    Frame(Frame),
}

/// `tokio_util` codec for a DNY link. Its one piece of state is the length
/// of the run of garbage being skipped, so a run arriving in pieces is
/// reported once, when the next unit begins (or at EOF).
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamCodec {
    skipped: usize,
}

impl StreamCodec {
    pub fn new() -> Self {
        StreamCodec::default()
    }
}

fn is_iccid_char(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Whether `buf` is a proper prefix of `word` (and so may still become it).
fn is_prefix_of(buf: &[u8], word: &[u8]) -> bool {
    buf.len() < word.len() && word.starts_with(buf)
}

/// What the start of the buffer is.
enum Head {
    Frame,
    Keepalive,
    Iccid,
    /// Could still become one of the above.
    NeedMore,
    Garbage,
}

fn head(src: &[u8]) -> Head {
    if src.starts_with(START) {
        return Head::Frame;
    }
    if src.starts_with(KEEPALIVE) {
        return Head::Keepalive;
    }
    let hex = src.iter().take(ICCID_LEN).take_while(|&&b| is_iccid_char(b)).count();
    if hex == ICCID_LEN {
        return Head::Iccid;
    }
    if (hex == src.len() && !src.is_empty()) || is_prefix_of(src, START) || is_prefix_of(src, KEEPALIVE) {
        return Head::NeedMore;
    }
    Head::Garbage
}

/// Where, after the first byte, a frame or keepalive may begin: the first
/// complete START or KEEPALIVE, else the first tail that is a prefix of one.
fn resync_point(src: &[u8]) -> usize {
    (1..src.len())
        .find(|&i| {
            let rest = src.get(i..).unwrap_or_default();
            rest.starts_with(START)
                || rest.starts_with(KEEPALIVE)
                || is_prefix_of(rest, START)
                || is_prefix_of(rest, KEEPALIVE)
        })
        .unwrap_or(src.len())
}

impl StreamCodec {
    fn take_skipped(&mut self) -> Option<FrameFault> {
        let skipped = std::mem::take(&mut self.skipped);
        (skipped > 0).then_some(FrameFault::Garbage { skipped })
    }

    fn frame(&mut self, src: &mut BytesMut) -> Result<Option<Result<Unit, FrameFault>>, CodecError> {
        let Some(raw) = LAYOUT.cut(src)? else {
            return Ok(None);
        };
        let total = raw.len();
        let (Some(&[p0, p1, p2, p3, m0, m1, cmd]), Some(&[s0, s1])) =
            (raw.get(ENVELOPE..HEADER), raw.get(total - 2..))
        else {
            // LEN >= MIN_LEN was checked by the cut, so the header is there.
            return Err(LAYOUT.bad_length((total - ENVELOPE) as u16));
        };
        if sum16(&raw[..total - 2]) != u16::from_le_bytes([s0, s1]) {
            return Ok(Some(Err(FrameFault::BadChecksum { kind: cmd })));
        }
        Ok(Some(Ok(Unit::Frame(Frame {
            phys: u32::from_le_bytes([p0, p1, p2, p3]),
            msg: u16::from_le_bytes([m0, m1]),
            cmd,
            data: raw.slice(HEADER..total - 2),
        }))))
    }
}

impl Decoder for StreamCodec {
    type Item = Result<Unit, FrameFault>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        loop {
            match head(src) {
                Head::Garbage => {
                    // Skip what cannot begin anything; report the run once
                    // the next unit starts, so arrival in pieces is one fault.
                    let n = resync_point(src);
                    src.advance(n);
                    self.skipped += n;
                    continue;
                }
                Head::NeedMore => return Ok(None),
                _ if self.skipped > 0 => return Ok(self.take_skipped().map(Err)),
                Head::Frame => return self.frame(src),
                Head::Keepalive => {
                    src.advance(KEEPALIVE.len());
                    return Ok(Some(Ok(Unit::Keepalive)));
                }
                Head::Iccid => {
                    let raw = src.split_to(ICCID_LEN);
                    // Checked above: 20 ASCII hex digits.
                    let iccid = String::from_utf8_lossy(&raw).into_owned();
                    return Ok(Some(Ok(Unit::Iccid(iccid))));
                }
            }
        }
    }

    /// Whatever is left when the peer closes (a cut-short frame, a partial
    /// ICCID, a garbage run) is reported as garbage rather than tokio's
    /// generic "bytes remaining" error.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        self.skipped += buf.len();
        buf.clear();
        Ok(self.take_skipped().map(Err))
    }
}

impl Encoder<Frame> for StreamCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> io::Result<()> {
        frame.write(dst)
    }
}

/// For piles (and the simulator): ICCID and keepalive go out unframed.
impl Encoder<Unit> for StreamCodec {
    type Error = io::Error;

    fn encode(&mut self, unit: Unit, dst: &mut BytesMut) -> io::Result<()> {
        match unit {
            Unit::Iccid(iccid) => {
                if iccid.len() != ICCID_LEN || !iccid.bytes().all(is_iccid_char) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("ICCID {iccid:?} is not {ICCID_LEN} hex characters"),
                    ));
                }
                dst.put_slice(iccid.as_bytes());
                Ok(())
            }
            Unit::Keepalive => {
                dst.put_slice(KEEPALIVE);
                Ok(())
            }
            Unit::Frame(frame) => frame.write(dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ICCID: &str = "89860412345678901234";

    fn frame(msg: u16, cmd: u8, data: &[u8]) -> Frame {
        Frame { phys: 0x05A1_B2C3, msg, cmd, data: Bytes::copy_from_slice(data) }
    }

    fn wire(f: &Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        StreamCodec::new().encode(f.clone(), &mut out).unwrap();
        out.to_vec()
    }

    /// Everything the decoder yields, stopping at a fatal error.
    fn decode_all(codec: &mut StreamCodec, buf: &mut BytesMut) -> Vec<Result<Unit, FrameFault>> {
        let mut out = Vec::new();
        while let Some(item) = codec.decode(buf).unwrap() {
            out.push(item);
        }
        out
    }

    fn decode_bytes(bytes: &[u8]) -> Vec<Result<Unit, FrameFault>> {
        decode_all(&mut StreamCodec::new(), &mut BytesMut::from(bytes))
    }

    #[test]
    fn sum16_of_a_frame_built_by_hand() {
        // Register accepted (0x20, data 00) to pile 05A1B2C3, MSG 1:
        //   44 4E 59 | 0A 00 | C3 B2 A1 05 | 01 00 | 20 | 00 | SUM
        // 0x44+0x4E+0x59 = 235; +0x0A = 245; +0xC3+0xB2+0xA1+0x05 = 245+539 = 784;
        // +0x01 = 785; +0x20 = 817 = 0x0331, sent low byte first: 31 03.
        let by_hand = [0x44, 0x4E, 0x59, 0x0A, 0x00, 0xC3, 0xB2, 0xA1, 0x05, 0x01, 0x00, 0x20, 0x00];
        assert_eq!(sum16(&by_hand), 0x0331);
        let mut expected = by_hand.to_vec();
        expected.extend_from_slice(&[0x31, 0x03]);
        assert_eq!(wire(&frame(1, 0x20, &[0])), expected);
        assert_eq!(decode_bytes(&expected), vec![Ok(Unit::Frame(frame(1, 0x20, &[0])))]);
    }

    #[test]
    fn sum16_wraps() {
        assert_eq!(sum16(&[]), 0);
        // 258 × 255 = 65790 = 65536 + 254.
        assert_eq!(sum16(&[0xFF; 258]), 0x00FE);
    }

    #[test]
    fn pile_ids_are_eight_uppercase_hex_digits() {
        assert_eq!(pile_id(0x05A1_B2C3), PileId::from("05A1B2C3"));
        assert_eq!(pile_id(7), PileId::from("00000007"));
        assert_eq!(phys_of(&PileId::from("05A1B2C3")), Some(0x05A1_B2C3));
        assert_eq!(phys_of(&pile_id(u32::MAX)), Some(u32::MAX));
        for bad in ["05a1b2c3", "5A1B2C3", "005A1B2C3", "+5A1B2C3", "05A1B2CG", "", "32010600019236"] {
            assert_eq!(phys_of(&PileId::from(bad)), None, "{bad}");
        }
    }

    #[test]
    fn layout_matches_the_spec() {
        let bytes = wire(&frame(0x0102, 0x06, &[0xAA, 0xBB]));
        assert_eq!(&bytes[..5], b"DNY\x0B\x00");
        assert_eq!(&bytes[5..9], &[0xC3, 0xB2, 0xA1, 0x05]);
        assert_eq!(&bytes[9..12], &[0x02, 0x01, 0x06]);
        assert_eq!(&bytes[12..14], &[0xAA, 0xBB]);
        assert_eq!(bytes[14..], sum16(&bytes[..14]).to_le_bytes());
    }

    #[test]
    fn iccid_then_a_frame_in_one_buffer() {
        let f = frame(1, 0x20, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let input = [ICCID.as_bytes(), &wire(&f)].concat();
        assert_eq!(decode_bytes(&input), vec![Ok(Unit::Iccid(ICCID.into())), Ok(Unit::Frame(f))]);
        let padded = "8986041234567890123F";
        assert_eq!(decode_bytes(padded.as_bytes()), vec![Ok(Unit::Iccid(padded.into()))]);
        let lower = "898604123456789abcdf";
        assert_eq!(decode_bytes(lower.as_bytes()), vec![Ok(Unit::Iccid(lower.into()))]);
    }

    #[test]
    fn keepalive_between_frames() {
        let a = frame(1, 0x21, &[1; 7]);
        let b = frame(2, 0x06, &[]);
        let input = [wire(&a), b"link".to_vec(), wire(&b), b"link".to_vec()].concat();
        assert_eq!(
            decode_bytes(&input),
            vec![Ok(Unit::Frame(a)), Ok(Unit::Keepalive), Ok(Unit::Frame(b)), Ok(Unit::Keepalive)]
        );
    }

    #[test]
    fn byte_by_byte_arrival() {
        let f = frame(7, 0x06, &[0x44; 33]);
        let input = [ICCID.as_bytes(), b"link", &wire(&f)].concat();
        let mut codec = StreamCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for (i, b) in input.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                got.push((i + 1, item));
            }
        }
        assert_eq!(
            got,
            vec![
                (20, Ok(Unit::Iccid(ICCID.into()))),
                (24, Ok(Unit::Keepalive)),
                (input.len(), Ok(Unit::Frame(f))),
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_then_a_frame_is_reported_once() {
        let f = frame(3, 0x03, &[9; 32]);
        let input = [&b"\x00\xFFzz\x13DN"[..], &wire(&f)].concat();
        assert_eq!(
            decode_bytes(&input),
            vec![Err(FrameFault::Garbage { skipped: 7 }), Ok(Unit::Frame(f.clone()))]
        );

        // The same run arriving a byte at a time is still one fault.
        let mut codec = StreamCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &input {
            buf.extend_from_slice(&[*b]);
            got.extend(decode_all(&mut codec, &mut buf));
        }
        assert_eq!(got, vec![Err(FrameFault::Garbage { skipped: 7 }), Ok(Unit::Frame(f))]);
    }

    #[test]
    fn a_short_hex_run_is_garbage() {
        let input = [&b"1234xlink"[..]].concat();
        assert_eq!(decode_bytes(&input), vec![Err(FrameFault::Garbage { skipped: 5 }), Ok(Unit::Keepalive)]);
        // A partial ICCID waits for the rest.
        assert_eq!(decode_bytes(&ICCID.as_bytes()[..19]), vec![]);
    }

    #[test]
    fn bad_checksum_is_consumed_and_the_next_frame_decodes() {
        let bad = frame(1, 0x06, &[5; 33]);
        let good = frame(2, 0x03, &[6; 32]);
        let mut bad_bytes = wire(&bad);
        *bad_bytes.last_mut().unwrap() ^= 0x01;
        let input = [bad_bytes, wire(&good)].concat();
        assert_eq!(
            decode_bytes(&input),
            vec![Err(FrameFault::BadChecksum { kind: 0x06 }), Ok(Unit::Frame(good))]
        );
    }

    #[test]
    fn impossible_lengths_are_fatal() {
        for len in [0u16, 8, 252, 300, u16::MAX] {
            let mut buf = BytesMut::from(&[b"DNY".as_slice(), &len.to_le_bytes(), &[0; 12]].concat()[..]);
            let err = StreamCodec::new().decode(&mut buf).unwrap_err();
            assert!(matches!(err, CodecError::BadLength { len: l, .. } if l == len), "{len}: {err}");
            assert_eq!(err.kind_label(), "bad_length");
        }
    }

    #[test]
    fn largest_frame_round_trips_and_larger_is_refused() {
        let f = frame(1, 0x99, &[b'D'; MAX_DATA]);
        let bytes = wire(&f);
        assert_eq!(bytes.len(), MAX_FRAME);
        assert_eq!(decode_bytes(&bytes), vec![Ok(Unit::Frame(f))]);
        let err =
            StreamCodec::new().encode(frame(1, 0x99, &[0; MAX_DATA + 1]), &mut BytesMut::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn units_encode_for_the_pile_side() {
        let mut out = BytesMut::new();
        let mut codec = StreamCodec::new();
        codec.encode(Unit::Iccid(ICCID.into()), &mut out).unwrap();
        codec.encode(Unit::Keepalive, &mut out).unwrap();
        codec.encode(Unit::Frame(frame(1, 0x22, &[])), &mut out).unwrap();
        assert_eq!(
            decode_bytes(&out),
            vec![Ok(Unit::Iccid(ICCID.into())), Ok(Unit::Keepalive), Ok(Unit::Frame(frame(1, 0x22, &[])))]
        );
        for bad in ["1234", "8986041234567890123G", "898604123456789012345"] {
            assert!(codec.encode(Unit::Iccid(bad.into()), &mut out).is_err(), "{bad}");
        }
    }

    #[test]
    fn leftovers_at_eof_are_garbage() {
        let bytes = wire(&frame(1, 0x03, &[0; 32]));
        let mut codec = StreamCodec::new();
        let mut buf = BytesMut::from(&bytes[..10]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(Err(FrameFault::Garbage { skipped: 10 })));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        // A garbage run with nothing after it is reported at EOF.
        let mut buf = BytesMut::from(&b"\x01\x02\x03"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(Err(FrameFault::Garbage { skipped: 3 })));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn labels() {
        assert_eq!(FrameFault::Garbage { skipped: 1 }.kind_label(), "garbage");
        assert_eq!(FrameFault::BadChecksum { kind: 1 }.kind_label(), "bad_checksum");
        assert_eq!(CodecError::from(io::Error::other("x")).kind_label(), "io");
    }
}
