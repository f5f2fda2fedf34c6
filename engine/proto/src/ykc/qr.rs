//! The QR code on the pile's screen (0xF0 → 0xF1): the platform sets the
//! URL prefix, and the pile appends its own id (and gun) to draw the code
//! a driver scans to start from the app.
//!
//! The layouts chargeplane speaks:
//!
//! ```text
//! 0xF0 ↓ QR prefix  pile 7 | format 1 | prefix length 1 | prefix ASCII (length bytes, ≤ 150)
//! 0xF1 ↑ result     pile 7 | ok 1
//! ```
//!
//! The prefix is as long as its length byte says: a body shorter than that
//! is `DecodeError::Short`, and bytes after it are ignored.

use vocab::PileId;

use super::fields::{is_printable_ascii, DecodeError, EncodeError, Reader, Writer, Ykc};
use crate::body::Body;

/// 0xF0: sets the prefix of the pile's QR codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrPrefix {
    pub pile: PileId,
    /// `QrPrefix::PILE` or `QrPrefix::PILE_AND_GUN`; kept raw.
    pub format: u8,
    /// Printable ASCII, at most `MAX_PREFIX` bytes, e.g.
    /// `https://cp.example.com/q/`.
    pub prefix: String,
}

impl QrPrefix {
    /// The code is prefix + pile id.
    pub const PILE: u8 = 0;
    /// The code is prefix + pile id + gun.
    pub const PILE_AND_GUN: u8 = 1;
    pub const MAX_PREFIX: usize = 150;
}

impl Body<Ykc> for QrPrefix {
    /// pile, format and length: an empty prefix.
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pile = r.pile()?;
        let format = r.u8()?;
        let n = usize::from(r.u8()?);
        r.need(n)?;
        let prefix = String::from_utf8_lossy(r.slice(n)?).into_owned();
        Ok(QrPrefix { pile, format, prefix })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        let n = self.prefix.len();
        if n > Self::MAX_PREFIX || !is_printable_ascii(&self.prefix) {
            return Err(EncodeError::BadText {
                field: "qr prefix",
                value: self.prefix.clone(),
                max: Self::MAX_PREFIX,
            });
        }
        w.pile(&self.pile)?;
        w.u8(self.format);
        // At most 150, checked above.
        w.u8(n as u8);
        w.bytes(self.prefix.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        Self::LEN + self.prefix.len()
    }
}

/// 0xF1: the pile's answer to `QrPrefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrPrefixResult {
    pub pile: PileId,
    /// 0x01 on the wire when the pile took the prefix.
    pub ok: bool,
}

impl Body<Ykc> for QrPrefixResult {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(QrPrefixResult { pile: r.pile()?, ok: r.flag()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.flag(self.ok);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ykc::testing::{pile, round_trip};
    use crate::ykc::{kind, Frame, Message};

    fn prefix(format: u8, prefix: &str) -> Message {
        Message::QrPrefix(QrPrefix { pile: pile(), format, prefix: prefix.into() })
    }

    #[test]
    fn prefix_round_trip_and_layout() {
        let url = "https://cp.example.com/q/";
        let body = round_trip(prefix(QrPrefix::PILE_AND_GUN, url));
        assert_eq!(body.len(), 9 + url.len());
        assert_eq!(&body[7..9], &[1, 25]);
        assert_eq!(&body[9..], url.as_bytes());
        assert_eq!(round_trip(prefix(QrPrefix::PILE, "")).len(), 9);
    }

    #[test]
    fn prefix_lengths_up_to_150_bytes() {
        let longest = format!("https://cp.example.com/{}", "q".repeat(150 - 23));
        assert_eq!(longest.len(), 150);
        assert_eq!(round_trip(prefix(QrPrefix::PILE, &longest)).len(), 159);
        let too_long = format!("{longest}/");
        assert!(matches!(
            prefix(QrPrefix::PILE, &too_long).encode(0),
            Err(EncodeError::BadText { field: "qr prefix", max: 150, .. })
        ));
        assert!(prefix(QrPrefix::PILE, "https://cp.example.com/\u{e9}").encode(0).is_err());
        assert!(prefix(QrPrefix::PILE, "line\nbreak").encode(0).is_err());
    }

    #[test]
    fn prefix_shorter_than_its_length_byte_is_short_longer_is_tolerated() {
        let m = prefix(QrPrefix::PILE, "https://q.cp/");
        let body = m.encode(0).unwrap().body;
        let frame = Frame { seq: 0, enc: 0, kind: kind::QR_PREFIX, body: body.slice(..body.len() - 1) };
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::Short { kind: kind::QR_PREFIX, need: 22, got: 21 })
        );
        let frame = Frame { body: body.slice(..8), ..frame };
        assert!(matches!(Message::decode(&frame), Err(DecodeError::Short { need: 9, got: 8, .. })));
        let mut longer = body.to_vec();
        longer.extend_from_slice(b"\0\0\0");
        let frame = Frame { body: Bytes::from(longer), ..frame };
        assert_eq!(Message::decode(&frame).unwrap(), m);
    }

    #[test]
    fn result_round_trip() {
        for ok in [true, false] {
            let body = round_trip(Message::QrPrefixResult(QrPrefixResult { pile: pile(), ok }));
            assert_eq!(body.len(), 8);
        }
    }
}
