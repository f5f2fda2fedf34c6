//! Two-gun parallel charging: two guns of one pile feed one car, so it
//! charges faster. Each frame is its single-gun counterpart followed by the
//! parallel serial, 6 bytes of BCD (12 digits) that ties the two guns'
//! frames together; the pile's frames say before it whether the gun is the
//! master or the auxiliary one.
//!
//! The layouts chargeplane speaks (spec v1.6 §12):
//!
//! ```text
//! 0xA1 ↑ parallel start request   0x31 body (51) | auxiliary 1 | parallel serial BCD 6 — 58 bytes
//! 0xA2 ↓ verdict                  0x32 body (38) | parallel serial BCD 6 — 44 bytes
//! 0xA4 ↓ remote parallel start    0x34 body (44) | parallel serial BCD 6 — 50 bytes
//! 0xA3 ↑ result                   0x33 body (26) | auxiliary 1 | parallel serial BCD 6 — 33 bytes
//! ```
//!
//! The VIN of 0xA1 is reversed on the wire as in 0x31.

use super::card::{CardStart, CardStartVerdict};
use super::fields::{DecodeError, EncodeError, Reader, Writer, Ykc};
use super::remote::{RemoteStart, RemoteStartResult};
use crate::body::Body;

/// Declares a frame that is `$inner`'s body plus the parallel serial, with
/// the master/auxiliary gun flag in between when `auxiliary` is named.
macro_rules! parallel {
    ($(#[$doc:meta])* $name:ident { $field:ident: $inner:ty }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            pub $field: $inner,
            /// 12 decimal digits.
            pub parallel_serial: String,
        }

        impl Body<Ykc> for $name {
            const LEN: usize = <$inner as Body<Ykc>>::LEN + 6;

            fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name { $field: <$inner>::read(r)?, parallel_serial: r.bcd::<6>("parallel serial")? })
            }

            fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
                self.$field.write(w)?;
                w.digits::<6>(&self.parallel_serial, "parallel serial")
            }
        }
    };
    ($(#[$doc:meta])* $name:ident { $field:ident: $inner:ty, auxiliary }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            pub $field: $inner,
            /// This gun is the auxiliary one (0x01 on the wire), not the
            /// master (0x00).
            pub auxiliary: bool,
            /// 12 decimal digits.
            pub parallel_serial: String,
        }

        impl Body<Ykc> for $name {
            const LEN: usize = <$inner as Body<Ykc>>::LEN + 7;

            fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name {
                    $field: <$inner>::read(r)?,
                    auxiliary: r.flag()?,
                    parallel_serial: r.bcd::<6>("parallel serial")?,
                })
            }

            fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
                self.$field.write(w)?;
                w.flag(self.auxiliary);
                w.digits::<6>(&self.parallel_serial, "parallel serial")
            }
        }
    };
}

parallel!(
    /// 0xA1: a card or VIN start that asks for both guns.
    ParallelStartRequest { request: CardStart, auxiliary }
);
parallel!(
    /// 0xA2: the platform's answer to a `ParallelStartRequest`.
    ParallelStartVerdict { verdict: CardStartVerdict }
);
parallel!(
    /// 0xA4: a remote start on both guns.
    ParallelRemoteStart { start: RemoteStart }
);
parallel!(
    /// 0xA3: the pile's answer to a `ParallelRemoteStart`.
    ParallelRemoteStartResult { result: RemoteStartResult, auxiliary }
);

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::testing::{pile, round_trip, serial};
    use crate::ykc::{kind, Frame, Message};

    const PARALLEL: &str = "260301083000";

    fn request() -> ParallelStartRequest {
        ParallelStartRequest {
            request: CardStart {
                pile: pile(),
                gun: 1,
                mode: CardStart::MODE_VIN,
                password_required: false,
                card: [0; 8],
                password_md5: [0; 16],
                vin: "LFV3A23C5K3012345".into(),
            },
            auxiliary: true,
            parallel_serial: PARALLEL.into(),
        }
    }

    #[test]
    fn request_round_trip_and_layout() {
        let body = round_trip(Message::ParallelStartRequest(request()));
        assert_eq!(body.len(), 58);
        assert_eq!(&body[34..51], b"5432103K5C32A3VFL");
        assert_eq!(body[51], 1);
        assert_eq!(&body[52..], &[0x26, 0x03, 0x01, 0x08, 0x30, 0x00]);
        let short = Frame { seq: 0, enc: 0, kind: kind::PARALLEL_START_REQUEST, body: body.slice(..57) };
        assert!(matches!(Message::decode(&short), Err(DecodeError::Short { need: 58, got: 57, .. })));
    }

    #[test]
    fn verdict_round_trip() {
        let body = round_trip(Message::ParallelStartVerdict(ParallelStartVerdict {
            verdict: CardStartVerdict {
                serial: serial(),
                pile: pile(),
                gun: 1,
                logical_card: [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78],
                balance: dec!(310.20),
                ok: true,
                reason: CardStartVerdict::NONE,
            },
            parallel_serial: PARALLEL.into(),
        }));
        assert_eq!(body.len(), 44);
        assert_eq!(&body[36..38], &[1, 0]);
    }

    #[test]
    fn remote_start_and_result_round_trip() {
        let body = round_trip(Message::ParallelRemoteStart(ParallelRemoteStart {
            start: RemoteStart {
                serial: serial(),
                pile: pile(),
                gun: 1,
                logical_card: [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78],
                physical_card: [0xD4, 0x1C, 0x6E, 0x2A, 0, 0, 0, 0],
                balance: dec!(250.75),
            },
            parallel_serial: PARALLEL.into(),
        }));
        assert_eq!(body.len(), 50);
        assert_eq!(&body[40..44], &25_075u32.to_le_bytes());
        let body = round_trip(Message::ParallelRemoteStartResult(ParallelRemoteStartResult {
            result: RemoteStartResult {
                serial: serial(),
                pile: pile(),
                gun: 2,
                ok: false,
                reason: RemoteStartResult::NOT_PLUGGED,
            },
            auxiliary: false,
            parallel_serial: PARALLEL.into(),
        }));
        assert_eq!(body.len(), 33);
        assert_eq!(&body[24..27], &[0, 5, 0]);
    }

    #[test]
    fn parallel_serial_must_be_12_digits() {
        for bad in ["26030108300", "2603010830001", "26030108300A"] {
            let m = ParallelStartRequest { parallel_serial: bad.into(), ..request() };
            assert!(matches!(
                Message::from(m).encode(0),
                Err(EncodeError::BadDigits { field: "parallel serial", .. })
            ));
        }
        let mut body = Message::from(request()).encode(0).unwrap().body.to_vec();
        body[57] = 0x0A;
        let frame = Frame { seq: 0, enc: 0, kind: kind::PARALLEL_START_REQUEST, body: body.into() };
        assert!(matches!(Message::decode(&frame), Err(DecodeError::BadBcd { field: "parallel serial", .. })));
    }
}
