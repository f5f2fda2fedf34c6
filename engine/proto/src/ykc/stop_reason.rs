//! Why a YKC charge ended: the stop-reason byte of the transaction record
//! (0x3B), from the spec's appendix table 13.1, one row per code.
//!
//! The severity says whether the end is the pile's or the site's problem
//! (an alarm an operator must see) or an ordinary end: the driver's or the
//! vehicle's doing, money running out, or a BMS that stopped talking. Codes
//! the spec reserves keep their range's meaning and raise nothing.

use vocab::Severity;
use Severity::{Critical, Major, Warning};

/// The text and, for a fault, the alarm severity of a stop-reason code.
pub fn stop_reason(code: u8) -> (&'static str, Option<Severity>) {
    match code {
        // 充电完成: normal ends.
        0x40 => ("app stop", None),
        0x41 => ("SOC reached 100%", None),
        0x42 => ("energy reached", None),
        0x43 => ("amount reached", None),
        0x44 => ("time reached", None),
        0x45 => ("stopped at the pile", None),
        0x46..=0x49 => ("stopped (other)", None),
        // 充电启动失败: the charge never started.
        0x4A => ("start failed: pile control system fault", Some(Major)),
        0x4B => ("start failed: control pilot disconnected", None),
        0x4C => ("start failed: circuit breaker tripped", Some(Major)),
        0x4D => ("start failed: meter communication lost", Some(Major)),
        0x4E => ("start failed: balance too low", None),
        0x4F => ("start failed: charging module fault", Some(Major)),
        0x50 => ("start failed: emergency stop pressed", Some(Warning)),
        0x51 => ("start failed: surge protector fault", Some(Major)),
        0x52 => ("start failed: BMS not ready", None),
        0x53 => ("start failed: temperature abnormal", Some(Critical)),
        0x54 => ("start failed: battery reverse connected", Some(Major)),
        0x55 => ("start failed: electronic lock fault", Some(Major)),
        0x56 => ("start failed: contactor failed to close", Some(Major)),
        0x57 => ("start failed: insulation fault", Some(Critical)),
        0x59 => ("start failed: BMS handshake (BHM) timeout", None),
        0x5A => ("start failed: vehicle identification (BRM) timeout", None),
        0x5B => ("start failed: battery parameters (BCP) timeout", None),
        0x5C => ("start failed: BMS ready (BRO AA) timeout", None),
        0x5D => ("start failed: battery status (BCS) timeout", None),
        0x5E => ("start failed: charge demand (BCL) timeout", None),
        0x5F => ("start failed: battery state (BSM) timeout", None),
        0x60 => ("start failed: battery voltage present at BHM", None),
        0x61 => ("start failed: battery voltage differs from BCP by over 5%", None),
        0x62 => ("start failed: BMS left ready state during precharge", None),
        0x63 => ("start failed: host configuration timeout", None),
        0x64 => ("start failed: charger not ready (CRO AA)", Some(Major)),
        0x58 | 0x65..=0x69 => ("start failed", None),
        // 充电异常中止: stopped while charging.
        0x6A => ("abnormal: system locked", Some(Major)),
        0x6B => ("abnormal: control pilot disconnected", None),
        0x6C => ("abnormal: circuit breaker tripped", Some(Major)),
        0x6D => ("abnormal: meter communication lost", Some(Major)),
        0x6E => ("abnormal: balance too low", None),
        0x6F => ("abnormal: AC protection tripped", Some(Major)),
        0x70 => ("abnormal: DC protection tripped", Some(Major)),
        0x71 => ("abnormal: charging module fault", Some(Major)),
        0x72 => ("abnormal: emergency stop pressed", Some(Warning)),
        0x73 => ("abnormal: surge protector fault", Some(Major)),
        0x74 => ("abnormal: temperature abnormal", Some(Critical)),
        0x75 => ("abnormal: output fault", Some(Major)),
        0x76 => ("abnormal: no charging current", Some(Warning)),
        0x77 => ("abnormal: electronic lock fault", Some(Major)),
        0x79 => ("abnormal: total charging voltage abnormal", Some(Warning)),
        0x7A => ("abnormal: total charging current abnormal", Some(Warning)),
        0x7B => ("abnormal: cell voltage abnormal", Some(Warning)),
        0x7C => ("abnormal: battery pack over-temperature", Some(Critical)),
        0x7D => ("abnormal: highest cell voltage abnormal", Some(Warning)),
        0x7E => ("abnormal: hottest battery pack over-temperature", Some(Critical)),
        0x7F => ("abnormal: cell voltage abnormal (BMV)", Some(Warning)),
        0x80 => ("abnormal: battery pack over-temperature (BMT)", Some(Critical)),
        0x81 => ("abnormal: battery state abnormal", Some(Warning)),
        0x82 => ("abnormal: vehicle forbids charging", None),
        0x83 => ("abnormal: pile lost power", Some(Major)),
        0x84 => ("abnormal: battery status (BCS) timeout", None),
        0x85 => ("abnormal: charge demand (BCL) timeout", None),
        0x86 => ("abnormal: battery state (BSM) timeout", None),
        0x87 => ("abnormal: BMS stop (BST) timeout", None),
        0x88 => ("abnormal: BMS statistics (BSD) timeout", None),
        0x89 => ("abnormal: CCS message timeout", None),
        0x78 | 0x8A..=0x8F => ("abnormal stop", None),
        0x90 => ("unknown reason", Some(Warning)),
        _ => ("unknown", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows read off table 13.1 against the codes around them.
    #[test]
    fn rows_match_the_spec_table() {
        let rows = [
            (0x40, "app stop", None),
            (0x4B, "start failed: control pilot disconnected", None),
            (0x4E, "start failed: balance too low", None),
            (0x57, "start failed: insulation fault", Some(Critical)),
            (0x64, "start failed: charger not ready (CRO AA)", Some(Major)),
            // The common one: a driver pulling the gun is no alarm.
            (0x6B, "abnormal: control pilot disconnected", None),
            (0x6E, "abnormal: balance too low", None),
            (0x72, "abnormal: emergency stop pressed", Some(Warning)),
            (0x74, "abnormal: temperature abnormal", Some(Critical)),
            (0x83, "abnormal: pile lost power", Some(Major)),
            (0x89, "abnormal: CCS message timeout", None),
            (0x90, "unknown reason", Some(Warning)),
        ];
        for (code, text, severity) in rows {
            assert_eq!(stop_reason(code), (text, severity), "0x{code:02X}");
        }
    }

    #[test]
    fn ranges_keep_their_category() {
        for code in 0x4A..=0x69 {
            assert!(stop_reason(code).0.starts_with("start failed"), "0x{code:02X}");
        }
        for code in 0x6A..=0x8F {
            assert!(stop_reason(code).0.starts_with("abnormal"), "0x{code:02X}");
        }
        for code in (0x00..0x40).chain(0x91..=0xFF) {
            assert_eq!(stop_reason(code), ("unknown", None), "0x{code:02X}");
        }
    }
}
