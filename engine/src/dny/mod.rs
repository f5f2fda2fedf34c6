//! DNY ("AP3000 family"): the binary protocol of multi-port e-bike piles.
//!
//! Two layers, as for YKC. `StreamCodec` cuts the TCP stream into `Unit`s:
//! the SIM's ICCID (20 ASCII characters right after connect), the `link`
//! keepalive, and checked `Frame`s (`"DNY"`, length, 16-bit sum). `Up`
//! (pile → platform) and `Down` (platform → pile) turn a frame's data into
//! typed structs and back; the same command byte has different bodies in
//! the two directions. Decoding is tolerant of what real piles send (longer
//! bodies, unknown commands); encoding is strict, so the platform never
//! sends a value the wire cannot carry exactly. Nothing here panics on input.
//!
//! A pile is keyed by its PHYS id as 8 uppercase hex digits (`pile_id`).
//!
//! # The layout chargeplane speaks
//!
//! Vendors vary; this is the one chargeplane implements. All integers are
//! little-endian; byte counts in brackets. Money is fen (0.01 yuan), power
//! 0.1 W, energy 0.01 kWh, voltage 0.1 V, current 0.01 A, temperatures u8
//! with a -65 °C offset, times u32 unix seconds, orders 16 bytes of ASCII
//! padded with NUL.
//!
//! Frame: `"DNY" | LEN u16 | PHYS u32 | MSG u16 | CMD u8 | DATA | SUM u16`,
//! LEN = data + 9 (9..=251), at most 256 bytes in all; SUM = wrapping sum of
//! every byte from the `D` through the last data byte.
//!
//! Up (pile → platform):
//!
//! | cmd | message | data |
//! |---|---|---|
//! | 0x20 | `Register` | firmware u16, ports u8, virtual id u8, device type u8, work mode u8, power board u16 [8] |
//! | 0x21 | `Heartbeat` | voltage u16, ports n u8, n status bytes, signal u8, temperature u8 [3 + n + 2] |
//! | 0x22 | `TimeRequest` | — [0] |
//! | 0x02 | `CardSwipe` | card u32, card type u8, port u8 [6] |
//! | 0x82 | `StartStopReply` | port u8, result u8, order [16] [18] |
//! | 0x06 | `ChargingReport` | port u8, status u8, elapsed u16 s, energy u16, avg/max/min power u16, voltage u16, current u16, port temp u8, order [16] [33] |
//! | 0x03 | `Settlement` | port u8, elapsed u16 s, energy u16, max power u16, order [16], stop reason u8, started u32, ended u32 [32] |
//! | 0x42 | `Alarm` | kind u8, port u8 (0 = pile), value u16 [4] |
//! | 0x8A, 0x85, 0x87 | `AdjustReply`, `LimitsReply`, `RebootReply` | result u8 [1] |
//!
//! Down (platform → pile):
//!
//! | cmd | message | data |
//! |---|---|---|
//! | 0x20, 0x21 | `RegisterReply`, `HeartbeatReply` | result u8 (0 accepted) [1] |
//! | 0x22 | `Time` | now u32 [4] |
//! | 0x02 | `CardReply` | card u32, result u8, balance u32 fen [9] |
//! | 0x82 | `StartStop` | fee mode u8, balance u32 fen, port u8, command u8, limit u16 (s, or 0.01 kWh in energy mode), order [16], max duration u16 s, overload power u16, full power u16, full hold u8 s [32] |
//! | 0x03 | `SettlementAck` | port u8, order [16], result u8 [18] |
//! | 0x42 | `AlarmAck` | result u8 [1] |
//! | 0x8A | `Adjust` | port u8, order [16], duration u16 s, power limit u16 [21] |
//! | 0x85 | `Limits` | max charge u16 s (≤ 36000), port overload u16 (0.1 W), unit overload u16 (W), over-voltage u16, under-voltage u16, full power u16 (0.1 W) [12] |
//! | 0x87 | `Reboot` | — [0] |

mod card;
mod charge;
mod device;
pub mod fields;
mod frame;
mod login;
mod message;

#[cfg(test)]
mod proptests;

pub use card::{CardReply, CardSwipe};
pub use charge::{
    stop_reason_text, Adjust, ChargingReport, Settlement, SettlementAck, StartStop, StartStopReply,
};
pub use device::{alarm_text, Alarm, Limits, Reboot};
pub use fields::{DecodeError, EncodeError};
pub use frame::{
    phys_of, pile_id, sum16, CodecError, Frame, FrameFault, StreamCodec, Unit, ICCID_LEN, KEEPALIVE,
    MAX_DATA, MAX_FRAME, MAX_LEN, MIN_LEN, START,
};
pub use login::{Heartbeat, PortState, Register, Time, TimeRequest};
pub use message::{cmd, Ack, Down, Up};
