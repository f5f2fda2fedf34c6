//! DNY ("AP3000"): the binary protocol of multi-port e-bike piles, as
//! published in "电动自行车：设备-服务器通信协议指南" V8.6
//! (`shared/specs/ap3000-v8.6.md`; § numbers below are its sections).
//!
//! Two layers, as for YKC. `StreamCodec` cuts the TCP stream into `Unit`s:
//! the SIM's ICCID (sent once, unframed, on connect), the `link` keepalive
//! (after 30 s without data, §1.04), and checked `Frame`s. `Up` (pile →
//! platform) and `Down` (platform → pile) turn a frame's data into typed
//! structs and back; the same command byte has different bodies in the two
//! directions. Bodies grew fields over the versions (§2.0.1): decoding goes
//! by length, reads the newer fields only when they are there and ignores
//! bytes beyond the newest; encoding sends the V8.6 form and refuses a
//! value the wire cannot carry exactly. Nothing here panics on input.
//! The spec's code tables are in `codes`, one file each.
//!
//! A pile is keyed by its PHYS id as 8 uppercase hex digits (`pile_id`).
//!
//! # Wire layout
//!
//! Little-endian (§1.02). Units (§1.05): money fen, power 0.1 W, energy
//! 0.01 kWh, voltage 0.1 V, durations seconds, times u32 unix seconds,
//! temperatures u8 with -65 °C offset (0 = no sensor). Ports are 0-based
//! on the wire (0x00 = port 1); the codec keeps them as the wire has them.
//! Orders are 16 bytes the pile echoes (`OrderNo`).
//!
//! Frame (§1.02): `"DNY" [3] | LEN [2] | PHYS [4] | MSG [2] | CMD [1] |
//! DATA [n] | SUM [2]`, LEN = n + 9, at most 256 bytes in all; SUM = the low
//! 16 bits of the sum of every byte before it. A reply echoes MSG.
//!
//! Up (pile → platform); "+" marks fields of later versions, read by length:
//!
//! | cmd | § | message | data [bytes] |
//! |---|---|---|---|
//! | 0x01 | 3.0.1 | `OldHeartbeat` | firmware [2], voltage [2], ports n [1], status [n], power [2n], peak power [2n], virtual id [1], signal [1], device type [1], temperature [1], +work mode [1] (dropped in V8.6) = 9 + 5n (+1) |
//! | 0x20 | 3.0.2 | `Register` | firmware [2], ports [1], virtual id [1], device type [1], work mode [1], power board [2] = 8 |
//! | 0x22 | 3.0.3 | `TimeRequest` | — = 0 |
//! | 0x21 | 3.1 | `Heartbeat` | voltage [2], ports n [1], status [n], signal [1], temperature [1] = 5 + n |
//! | 0x02 | 3.2 | `CardSwipe` | card UID [4], card type [1], port [1], card balance [2] = 8; +time [4] = 12; +card2 length [1], card2 [N] |
//! | 0x03 | 3.3 | `Settlement` | duration [2], max power [2], energy [2], port [1], origin [1], card [4], stop reason [1], order [16] = 29; +second max power [2] = 31; +time [4] = 35; +occupied minutes [2] = 37 |
//! | 0x06 | 3.4.2 | `ChargingReport` | port [1], status [1], duration [2], energy [2], origin [1], power now/max/min/avg [2 each], order [16] = 31; +period energy (1/4800 kWh) [2] = 33; +peak power [2] = 35; +voltage [2], current (0.001 A) [2] = 39; +ambient, port temperature [1 each] = 41; +time [4] = 45; +occupied minutes [2] = 47 |
//! | 0x42 | 3.4.5 | `Alarm` | type [1], port or 485 address [1], trigger inputs [1] = 3 (not answered) |
//! | 0x82 | 4.2 | `StartStopReply` | result [1], order [16], port [1], pending ports [2] = 20 |
//! | 0x8A, 0x85, 0x87 | 4.2.1, 4.4.1, 4.4.3 | `AdjustReply`, `LimitsReply`, `RebootReply` | result [1] = 1 |
//!
//! Down (platform → pile):
//!
//! | cmd | § | message | data [bytes] |
//! |---|---|---|---|
//! | 0x01, 0x20, 0x21 | 3.0.1, 3.0.2, 3.1 | `OldHeartbeatReply`, `RegisterReply`, `HeartbeatReply` | result [1] (0 = ok) = 1 |
//! | 0x22 | 3.0.3 | `Time` | unix time [4] = 4 |
//! | 0x02 | 3.2 | `CardReply` | card UID [4], account status [1], fee mode [1], balance fen or valid-until time [4], port [1] = 11 |
//! | 0x03 | 3.3 | `SettlementAck` | result [1] = 1 |
//! | 0x81 | 4.1 | `Query` | — = 0 (the pile sends 0x20, 0x01, 0x21) |
//! | 0x82 | 4.2 | `StartStop` | fee mode [1] (0 time, 1 monthly, 2 energy, 3 count), balance or valid-until [4], port [1] (0xFF: pile chooses), command [1] (0 stop, 1 start), limit s or 0.01 kWh [2] (0 = until full), order [16], max duration s [2], overload power [2] = 29; +QR light [1], long charge [1], extra float s [2], short-circuit check [1], ignore unplug [1], force full stop [1], full power W [1], full-power judging minutes [1] = 38 (sent) |
//! | 0x8A | 4.2.1 | `Adjust` | mode [1] (0 timed, 1 timed until full, 2 metered), port [1], seconds or 0.01 kWh [2] = 4 |
//! | 0x85 | 4.4.1 | `Limits` | max charge s [2], port overload power [2] = 4; +over-voltage [2], under-voltage [2] = 8 (sent) |
//! | 0x87 | 4.4.3 | `Reboot` | — = 0 |

mod card;
mod charge;
pub mod cmd;
pub mod codes;
mod device;
pub mod fields;
mod frame;
mod login;
mod message;
mod settlement;
#[cfg(test)]
mod testing;

#[cfg(test)]
mod proptests;

pub use card::{fee_mode, CardReply, CardSwipe, Credit, QUERY_PORT};
pub use charge::{Adjust, ChargingReport, Electric, StartExtras, StartStop, StartStopReply};
pub use device::{Alarm, Empty, Limits, VoltageLimits};
pub use fields::{DecodeError, EncodeError, OrderNo};
pub use frame::{
    phys_of, pile_id, sum16, CodecError, Frame, FrameFault, StreamCodec, Unit, ICCID_LEN, KEEPALIVE,
    MAX_DATA, MAX_FRAME, MAX_LEN, MIN_LEN, START,
};
pub use login::{Heartbeat, OldHeartbeat, OldPort, Register, Time, TimeRequest};
pub use message::{Ack, Down, Up};
pub use settlement::{origin, Settlement};
