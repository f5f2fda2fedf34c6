//! Port status bytes of the heartbeats (spec §3.1, also §3.0.1) and of the
//! charging report (§3.4.2), and what the platform shows for each.

use super::Code;
use vocab::{PortStatus, Severity};
use PortStatus::{Charging, Fault, Full, Idle, Plugged};
use Severity::{Critical, Major, Warning};

/// What a heartbeat's status byte means: the port's status and, for the
/// fault codes, how serious the fault is.
pub type PortMeaning = (PortStatus, Option<Severity>);

const fn row(code: u8, name: &'static str, status: PortStatus, fault: Option<Severity>) -> Code<PortMeaning> {
    Code { code, name, meaning: (status, fault) }
}

/// §3.1, "各端口状态". 0x0C is not assigned.
pub const HEARTBEAT: [Code<PortMeaning>; 16] = [
    row(0x00, "idle", Idle, None),
    row(0x01, "charging", Charging, None),
    row(0x02, "charger plugged in, not started", Plugged, None),
    row(0x03, "charger plugged in, battery full", Full, None),
    row(0x04, "port cannot meter", Fault, Some(Major)),
    // Float charging is the tail of a charge the pile ends by itself.
    row(0x05, "float charging", Full, None),
    row(0x06, "memory damaged", Fault, Some(Major)),
    row(0x07, "socket contact stuck", Fault, Some(Major)),
    row(0x08, "poor contact or fuse blown", Fault, Some(Major)),
    // A welded relay cannot cut the power off.
    row(0x09, "relay stuck (algorithm)", Fault, Some(Critical)),
    row(0x0A, "Hall (plug-in) sensor broken", Fault, Some(Major)),
    row(0x0B, "pre-check: relay broken or fuse blown", Fault, Some(Major)),
    row(0x0D, "pre-check: load short circuit", Fault, Some(Major)),
    row(0x0E, "pre-check: relay stuck", Fault, Some(Critical)),
    row(0x0F, "card reader chip broken", Fault, Some(Warning)),
    row(0x10, "detection circuit fault", Fault, Some(Major)),
];

/// A heartbeat status byte. One the table lacks is no state to start a
/// charge in.
pub fn heartbeat(code: u8) -> PortMeaning {
    super::find(&HEARTBEAT, code).map_or((Fault, Some(Warning)), |row| row.meaning)
}

/// §3.4.2, "端口状态" of a charging report. 2 ("scanned, waiting for a
/// charger") is a cabinet's; from a bike pile it is, like every value not
/// listed, an error to ignore.
pub const REPORT: [Code<PortStatus>; 3] = [
    Code { code: 0x01, name: "charging", meaning: Charging },
    Code { code: 0x03, name: "charger plugged in, battery full", meaning: Full },
    Code { code: 0x05, name: "float charging", meaning: Full },
];

/// A charging report's status byte, `None` for the values the spec says to
/// ignore.
pub fn report(code: u8) -> Option<PortStatus> {
    super::find(&REPORT, code).map(|row| row.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_codes_as_the_spec_lists_them() {
        assert_eq!(heartbeat(0), (Idle, None));
        assert_eq!(heartbeat(1), (Charging, None));
        assert_eq!(heartbeat(2), (Plugged, None));
        assert_eq!(heartbeat(3), (Full, None));
        assert_eq!(heartbeat(4), (Fault, Some(Major)));
        assert_eq!(heartbeat(5), (Full, None));
        assert_eq!(heartbeat(9), (Fault, Some(Critical)));
        assert_eq!(heartbeat(0x0D).0, Fault);
        assert_eq!(heartbeat(0x10), (Fault, Some(Major)));
        // Not in the table.
        assert_eq!(heartbeat(0x0C), (Fault, Some(Warning)));
        assert_eq!(heartbeat(0x11), (Fault, Some(Warning)));
        let codes: Vec<u8> = HEARTBEAT.iter().map(|r| r.code).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F, 0x10]);
    }

    #[test]
    fn report_codes_outside_the_table_are_ignored() {
        assert_eq!(report(1), Some(Charging));
        assert_eq!(report(3), Some(Full));
        assert_eq!(report(5), Some(Full));
        for code in [0, 2, 4, 6, 0xFF] {
            assert_eq!(report(code), None, "{code}");
        }
    }
}
