//! The account status of a card reply (0x02 down, spec §3.2, "账户状态"):
//! each makes the pile play the named voice prompt.

use super::Code;

const fn row(code: u8, name: &'static str) -> Code<()> {
    Code { code, name, meaning: () }
}

/// §3.2 in order, 0x00..=0x12.
pub const TABLE: [Code<()>; 19] = [
    row(0x00, "ok"),
    row(0x01, "card not registered"),
    row(0x02, "bind the card (swipe again)"),
    row(0x03, "unbind the card (swipe again)"),
    row(0x04, "monthly user swiped again (do not charge twice)"),
    row(0x05, "monthly user over the count limit"),
    row(0x06, "balance too low"),
    row(0x07, "monthly user expired"),
    row(0x08, "port fault"),
    row(0x09, "clear the balance card (swipe again)"),
    row(0x0A, "monthly user over the time limit"),
    row(0x0B, "do not use across accounts"),
    row(0x0C, "this device is not registered"),
    row(0x0D, "buy a monthly plan"),
    row(0x0E, "charging in another area, balance too low"),
    row(0x0F, "monthly device, cannot be used"),
    row(0x10, "monthly device, cannot be used in another area"),
    row(0x11, "temporary device, cannot be used"),
    row(0x12, "temporary device, cannot be used in another area"),
];

pub const OK: u8 = 0x00;
pub const NOT_REGISTERED: u8 = 0x01;
pub const REPEAT: u8 = 0x04;
pub const BALANCE_TOO_LOW: u8 = 0x06;
pub const PORT_FAULT: u8 = 0x08;
pub const OTHER_ACCOUNT: u8 = 0x0B;

pub fn text(code: u8) -> &'static str {
    super::find(&TABLE, code).map_or("unknown", |row| row.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_0_to_0x12_in_order() {
        assert!(TABLE.iter().map(|r| r.code).eq(0..=0x12));
        assert_eq!(text(BALANCE_TOO_LOW), "balance too low");
        assert_eq!(text(NOT_REGISTERED), "card not registered");
        assert_eq!(text(PORT_FAULT), "port fault");
        assert_eq!(text(0x13), "unknown");
    }
}
