//! The pile's answer to a start or stop (0x82 up, spec §4.2, "应答"), and
//! whether it acted on the command.

use super::Code;

const fn row(code: u8, name: &'static str, executed: bool) -> Code<bool> {
    Code { code, name, meaning: executed }
}

/// §4.2 in order; `meaning` is the spec's "执行" (the port was switched).
pub const TABLE: [Code<bool>; 15] = [
    row(0x00, "done", true),
    row(0x01, "no charger plugged in", false),
    row(0x02, "port already in that state", false),
    row(0x03, "port fault", true),
    row(0x04, "no such port", false),
    row(0x05, "several ports waiting", false),
    row(0x06, "multi-port power over the limit", false),
    row(0x07, "memory damaged", false),
    row(0x08, "pre-check: relay broken or fuse blown", false),
    row(0x09, "pre-check: relay stuck", true),
    row(0x0A, "pre-check: load short circuit", false),
    row(0x0B, "smoke alarm", false),
    row(0x0C, "over-voltage", false),
    row(0x0D, "under-voltage", false),
    row(0x0E, "no response", false),
];

pub const DONE: u8 = 0x00;
pub const SAME_STATE: u8 = 0x02;

pub fn text(code: u8) -> &'static str {
    super::find(&TABLE, code).map_or("refused by the pile", |row| row.name)
}

/// Whether the pile switched the port as asked.
pub fn executed(code: u8) -> bool {
    super::find(&TABLE, code).is_some_and(|row| row.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_0_to_0x0e_and_which_execute() {
        assert!(TABLE.iter().map(|r| r.code).eq(0..=0x0E));
        let executed: Vec<u8> = (0..=0x10).filter(|&c| executed(c)).collect();
        assert_eq!(executed, [0x00, 0x03, 0x09]);
        assert_eq!(text(1), "no charger plugged in");
        assert_eq!(text(0x0F), "refused by the pile");
    }
}
