//! Alarm push types (0x42, spec §3.4.5), each with a severity.

use super::Code;
use vocab::Severity;

use Severity::{Critical, Major, Warning};

const fn row(code: u8, name: &'static str, severity: Severity) -> Code<Severity> {
    Code { code, name, meaning: severity }
}

/// §3.4.5, "推送类型".
pub const TABLE: [Code<Severity>; 7] = [
    row(1, "power cut", Major),
    row(2, "water immersion", Critical),
    // The glue melts with heat at a port.
    row(3, "hot-melt glue triggered", Critical),
    row(4, "smoke", Critical),
    row(5, "over-temperature", Critical),
    row(6, "water level", Major),
    row(7, "cabinet door opened", Warning),
];

/// Whether the alarm's port byte names a charging port (§3.4.5: the glue);
/// for the sensors it is a 485 address, for a power cut meaningless.
pub const HOT_MELT: u8 = 3;

pub fn text(kind: u8) -> &'static str {
    super::find(&TABLE, kind).map_or("unknown", |row| row.name)
}

/// An alarm the spec does not list still reaches the operator.
pub fn severity(kind: u8) -> Severity {
    super::find(&TABLE, kind).map_or(Warning, |row| row.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_1_to_7() {
        let names: Vec<_> = (0..=8).map(text).collect();
        assert_eq!(
            names,
            [
                "unknown",
                "power cut",
                "water immersion",
                "hot-melt glue triggered",
                "smoke",
                "over-temperature",
                "water level",
                "cabinet door opened",
                "unknown"
            ]
        );
        assert_eq!(severity(4), Critical);
        assert_eq!(severity(2), Critical);
        assert_eq!(severity(1), Major);
        assert_eq!(severity(7), Warning);
        assert_eq!(severity(0), Warning);
    }
}
