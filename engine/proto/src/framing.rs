//! Cutting length-prefixed frames out of a byte stream, shared by the YKC
//! and AP3000 codecs.
//!
//! Both put a start marker and a little-endian length in front of every
//! frame, wait for the rest, and treat a length no frame can have as fatal
//! (after it the stream cannot be trusted to resynchronise), while a
//! damaged frame is only a fault to count and skip, since piles sit on
//! flaky 4G links. What differs is a `Layout` (the marker, the length's
//! width, what it counts, the lengths allowed); finding the marker again
//! after garbage, the checksum and the header's fields stay with each
//! protocol.

use std::io;

use bytes::{Bytes, BytesMut};

/// Where a protocol's frames keep their length, and which lengths they may have.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// The bytes every frame starts with; the length follows them.
    pub start: &'static [u8],
    /// The length field's width: 1 or 2 bytes, little-endian.
    pub len_bytes: usize,
    /// The bytes of a frame its length does not count.
    pub uncounted: usize,
    /// The lengths a frame may declare.
    pub min_len: u16,
    pub max_len: u16,
}

impl Layout {
    /// The whole frame at the front of `src` (which starts with `start`),
    /// taken out of it once it has all arrived. `Ok(None)` while it is
    /// incomplete, with room reserved for the rest.
    pub fn cut(&self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let at = self.start.len();
        let Some(field) = src.get(at..at + self.len_bytes) else {
            return Ok(None);
        };
        let len = field.iter().rev().fold(0u16, |n, &b| n << 8 | u16::from(b));
        if !(self.min_len..=self.max_len).contains(&len) {
            return Err(self.bad_length(len));
        }
        let total = usize::from(len) + self.uncounted;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        Ok(Some(src.split_to(total).freeze()))
    }

    pub fn bad_length(&self, len: u16) -> CodecError {
        CodecError::BadLength { len, min: self.min_len, max: self.max_len }
    }
}

/// A frame that was cut from the stream but cannot be used. The stream
/// continues after it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameFault {
    #[error("skipped {skipped} bytes that were not a frame")]
    Garbage { skipped: usize },
    /// YKC's check.
    #[error("frame 0x{kind:02X} failed its CRC")]
    BadCrc { kind: u8 },
    /// AP3000's check.
    #[error("frame 0x{kind:02X} failed its checksum")]
    BadChecksum { kind: u8 },
    #[error("frame 0x{kind:02X} is encrypted, which is not supported")]
    Encrypted { kind: u8 },
}

impl FrameFault {
    /// A short name for metric labels.
    pub fn kind_label(&self) -> &'static str {
        match self {
            FrameFault::Garbage { .. } => "garbage",
            FrameFault::BadCrc { .. } => "bad_crc",
            FrameFault::BadChecksum { .. } => "bad_checksum",
            FrameFault::Encrypted { .. } => "encrypted",
        }
    }
}

/// The stream can no longer be read; the connection should be closed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame length {len} outside {min}..={max}")]
    BadLength { len: u16, min: u16, max: u16 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl CodecError {
    /// A short name for metric labels.
    pub fn kind_label(&self) -> &'static str {
        match self {
            CodecError::BadLength { .. } => "bad_length",
            CodecError::Io(_) => "io",
        }
    }
}

/// `input` cut into pieces of the sizes `chunks` gives in turn (cycled),
/// as a socket might deliver it: the codecs' stream tests feed them.
#[cfg(test)]
pub(crate) fn in_chunks<'a>(input: &'a [u8], chunks: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut sizes = chunks.iter().cycle();
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = (*sizes.next()?).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Layout = Layout { start: b"S", len_bytes: 1, uncounted: 2, min_len: 1, max_len: 8 };
    const TWO: Layout = Layout { start: b"ST", len_bytes: 2, uncounted: 4, min_len: 1, max_len: 300 };

    #[test]
    fn a_frame_is_cut_once_whole_and_not_before() {
        let mut src = BytesMut::from(&b"S\x03ab"[..]);
        assert_eq!(ONE.cut(&mut src).unwrap(), None);
        assert_eq!(src.len(), 4, "an incomplete frame stays in the buffer");
        src.extend_from_slice(b"cS");
        assert_eq!(ONE.cut(&mut src).unwrap().as_deref(), Some(&b"S\x03abc"[..]));
        assert_eq!(&src[..], b"S");
        assert_eq!(ONE.cut(&mut src).unwrap(), None, "no length yet");
    }

    #[test]
    fn a_two_byte_length_is_little_endian() {
        let mut src = BytesMut::from(&b"ST\x2c\x01"[..]);
        src.extend_from_slice(&[7; 300]);
        assert_eq!(TWO.cut(&mut src).unwrap().map(|f| f.len()), Some(304));
        assert!(src.is_empty());
    }

    #[test]
    fn a_length_out_of_bounds_is_fatal_and_named() {
        for len in [0u8, 9] {
            let err = ONE.cut(&mut BytesMut::from(&[b'S', len][..])).unwrap_err();
            assert!(matches!(err, CodecError::BadLength { len: l, min: 1, max: 8 } if l == u16::from(len)));
            assert_eq!(err.to_string(), format!("frame length {len} outside 1..=8"));
            assert_eq!(err.kind_label(), "bad_length");
        }
    }
}
