//! Command bytes. Most are used in both directions with different bodies.

pub const OLD_HEARTBEAT: u8 = 0x01;
pub const CARD: u8 = 0x02;
pub const SETTLEMENT: u8 = 0x03;
pub const REPORT: u8 = 0x06;
pub const REGISTER: u8 = 0x20;
pub const HEARTBEAT: u8 = 0x21;
pub const TIME: u8 = 0x22;
pub const ALARM: u8 = 0x42;
pub const QUERY: u8 = 0x81;
pub const START_STOP: u8 = 0x82;
pub const LIMITS: u8 = 0x85;
pub const REBOOT: u8 = 0x87;
pub const ADJUST: u8 = 0x8A;
