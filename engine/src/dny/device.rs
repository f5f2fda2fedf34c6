//! The pile as a device: alarms (0x42 up, acked down), limits (0x85 down)
//! and reboot (0x87 down). The pile answers 0x85 and 0x87 with an `Ack`.

use rust_decimal::Decimal;

use super::fields::{DecodeError, EncodeError, Reader, Scale, Writer};
use super::message::Body;

/// 0x42 up: something is wrong with the pile or a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alarm {
    /// See `alarm_text`.
    pub kind: u8,
    /// 0 = the whole pile.
    pub port: u8,
    /// Kind-specific reading.
    pub value: u16,
}

impl Alarm {
    pub const POWER_LOSS: u8 = 1;
    pub const WATER: u8 = 2;
    pub const SMOKE: u8 = 3;
    pub const HEAT: u8 = 4;
    pub const DOOR: u8 = 5;
    pub const FUSE: u8 = 6;
    pub const PORT_FAULT: u8 = 7;
}

impl Body for Alarm {
    const LEN: usize = 4;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Alarm { kind: r.u8()?, port: r.u8()?, value: r.u16()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.kind);
        w.u8(self.port);
        w.u16(self.value);
        Ok(())
    }
}

/// What an alarm kind means.
pub fn alarm_text(kind: u8) -> &'static str {
    match kind {
        1 => "power loss",
        2 => "water",
        3 => "smoke",
        4 => "heat",
        5 => "door",
        6 => "fuse",
        7 => "port fault",
        _ => "unknown",
    }
}

/// 0x85 down: the pile's protective limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Seconds, at most `MAX_CHARGE_S`.
    pub max_charge_s: u16,
    /// Watts per port; 0.1 W on the wire.
    pub port_overload: Decimal,
    /// Watts for the whole pile; whole watts on the wire (6000 W would not
    /// fit 0.1 W in a u16).
    pub unit_overload: Decimal,
    /// Volts; 0.1 V on the wire.
    pub over_voltage: Decimal,
    pub under_voltage: Decimal,
    /// Watts; 0.1 W on the wire.
    pub full_power: Decimal,
}

impl Limits {
    /// Ten hours: the most a pile accepts.
    pub const MAX_CHARGE_S: u16 = 36000;
}

impl Body for Limits {
    const LEN: usize = 12;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Limits {
            max_charge_s: r.u16()?,
            port_overload: r.dec_u16(Scale::Power)?,
            unit_overload: r.dec_u16(Scale::Watt)?,
            over_voltage: r.dec_u16(Scale::Volt)?,
            under_voltage: r.dec_u16(Scale::Volt)?,
            full_power: r.dec_u16(Scale::Power)?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        if self.max_charge_s > Self::MAX_CHARGE_S {
            return Err(EncodeError::OutOfRange {
                field: "max charge time",
                value: self.max_charge_s.to_string(),
            });
        }
        w.u16(self.max_charge_s);
        w.dec_u16(self.port_overload, Scale::Power, "port overload")?;
        w.dec_u16(self.unit_overload, Scale::Watt, "unit overload")?;
        w.dec_u16(self.over_voltage, Scale::Volt, "over-voltage")?;
        w.dec_u16(self.under_voltage, Scale::Volt, "under-voltage")?;
        w.dec_u16(self.full_power, Scale::Power, "full power")
    }
}

/// 0x87 down: restart the pile. No data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Reboot;

impl Body for Reboot {
    const LEN: usize = 0;

    fn read(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Reboot)
    }

    fn write(&self, _: &mut Writer) -> Result<(), EncodeError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::message::testing::{round_trip_down, round_trip_up, PHYS};
    use crate::dny::{Down, Up};

    fn limits() -> Limits {
        Limits {
            max_charge_s: 36000,
            port_overload: dec!(600),
            unit_overload: dec!(6000),
            over_voltage: dec!(264.0),
            under_voltage: dec!(176.5),
            full_power: dec!(30),
        }
    }

    #[test]
    fn alarm_round_trip_and_texts() {
        let body = round_trip_up(Up::Alarm(Alarm { kind: Alarm::HEAT, port: 0, value: 0x0155 }));
        assert_eq!(&body[..], &[4, 0, 0x55, 0x01]);
        let texts = ["power loss", "water", "smoke", "heat", "door", "fuse", "port fault"];
        for (kind, text) in (1..).zip(texts) {
            assert_eq!(alarm_text(kind), text);
        }
        assert_eq!(alarm_text(0), "unknown");
        assert_eq!(alarm_text(8), "unknown");
    }

    #[test]
    fn limits_round_trip_and_layout() {
        let body = round_trip_down(Down::Limits(limits()));
        assert_eq!(
            &body[..],
            // 36000, 6000 (0.1 W), 6000 (W), 2640, 1765, 300
            &[0xA0, 0x8C, 0x70, 0x17, 0x70, 0x17, 0x50, 0x0A, 0xE5, 0x06, 0x2C, 0x01]
        );
    }

    #[test]
    fn limits_refuse_what_the_pile_would_not_take() {
        let long = Limits { max_charge_s: 36001, ..limits() };
        assert!(Down::Limits(long).encode(PHYS, 0).is_err());
        let fine = Limits { unit_overload: dec!(6000.5), ..limits() };
        assert!(Down::Limits(fine).encode(PHYS, 0).is_err());
        let big = Limits { port_overload: dec!(7000), ..limits() };
        assert!(Down::Limits(big).encode(PHYS, 0).is_err());
    }

    #[test]
    fn reboot_round_trip() {
        assert!(round_trip_down(Down::Reboot(Reboot)).is_empty());
    }
}
