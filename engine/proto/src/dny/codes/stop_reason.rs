//! Why a charge stopped: the settlement's "停止原因" (spec §3.3).

use super::Code;
use vocab::Severity;

/// How serious a stop is for the operator; `None` is an ordinary end.
pub type StopMeaning = Option<Severity>;

const fn row(code: u8, name: &'static str, fault: StopMeaning) -> Code<StopMeaning> {
    Code { code, name, meaning: fault }
}

use Severity::{Critical, Major, Warning};

/// §3.3 in order, 0x01..=0x1C.
pub const TABLE: [Code<StopMeaning>; 28] = [
    row(0x01, "full", None),
    row(0x02, "maximum charge time reached", None),
    row(0x03, "preset time reached", None),
    row(0x04, "preset energy reached", None),
    row(0x05, "unplugged", None),
    row(0x06, "overload", Some(Warning)),
    row(0x07, "stopped by the server", None),
    row(0x08, "dynamic overload", Some(Warning)),
    row(0x09, "power too low", None),
    row(0x0A, "ambient over-temperature", Some(Critical)),
    row(0x0B, "port over-temperature", Some(Critical)),
    row(0x0C, "over-current", Some(Major)),
    row(0x0D, "unplugged (socket contact may be stuck)", Some(Warning)),
    row(0x0E, "no power: poor contact or fuse blown", Some(Major)),
    row(0x0F, "pre-check: relay broken or fuse blown", Some(Major)),
    row(0x10, "water immersion", Some(Critical)),
    row(0x11, "fire suppression (this port)", Some(Critical)),
    row(0x12, "fire suppression (another port)", Some(Critical)),
    row(0x13, "cabinet opened with the user's password", None),
    row(0x14, "cabinet door not closed", Some(Warning)),
    row(0x15, "stopped by an external operation", None),
    row(0x16, "stopped by a card swipe", None),
    row(0x17, "forced stop by the server", None),
    row(0x18, "fire system triggered", Some(Critical)),
    row(0x19, "memory error", Some(Major)),
    row(0x1A, "over-voltage", Some(Major)),
    row(0x1B, "under-voltage", Some(Major)),
    row(0x1C, "low-power cut-off", None),
];

pub fn text(code: u8) -> &'static str {
    super::find(&TABLE, code).map_or("unknown", |row| row.name)
}

/// The severity of a stop that means something is wrong at the port.
pub fn fault(code: u8) -> Option<Severity> {
    super::find(&TABLE, code).and_then(|row| row.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_from_1_to_0x1c_in_order() {
        assert!(TABLE.iter().map(|r| r.code).eq(1..=0x1C));
        assert_eq!(text(0x01), "full");
        assert_eq!(text(0x07), "stopped by the server");
        assert_eq!(text(0x0E), "no power: poor contact or fuse blown");
        assert_eq!(text(0x1C), "low-power cut-off");
        assert_eq!(fault(0x0B), Some(Critical));
        assert_eq!(fault(0x10), Some(Critical));
        assert_eq!(fault(0x1A), Some(Major));
        assert_eq!(fault(0x05), None);
        for code in [0x00, 0x1D, 0xFF] {
            assert_eq!((text(code), fault(code)), ("unknown", None));
        }
    }
}
