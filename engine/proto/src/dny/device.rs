//! The pile as a device: alarm pushes (0x42 up, §3.4.5, not answered),
//! status query (0x81 down, §4.1, answered by 0x20/0x01/0x21), protective
//! limits (0x85 down, §4.4.1) and reboot (0x87 down, §4.4.3). The pile
//! answers 0x85 and 0x87 with an `Ack`.

use rust_decimal::Decimal;

use super::fields::{DecodeError, Dny, EncodeError, Reader, Scale, Writer};
use crate::body::Body;

/// 0x42 up: smoke, water, heat, a power cut...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alarm {
    /// See `codes::alarm_kind`.
    pub kind: u8,
    /// The port for the glue (wire port); a sensor's 485 address, 0 for
    /// the pile's own; meaningless for a power cut.
    pub port: u8,
    /// Bit n-1 set: input n of a multi-input sensor fired; 0 otherwise.
    pub trigger: u8,
}

impl Body<Dny> for Alarm {
    const LEN: usize = 3;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Alarm { kind: r.u8()?, port: r.u8()?, trigger: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.kind);
        w.u8(self.port);
        w.u8(self.trigger);
        Ok(())
    }
}

/// Under- and over-voltage, which 0x85 gained in 2024.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoltageLimits {
    /// Volts; 0.1 V on the wire.
    pub over: Decimal,
    pub under: Decimal,
}

/// 0x85 down: limits the pile keeps in EEPROM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Seconds; binds charges until full and offline starts.
    pub max_charge_s: u16,
    /// Watts per port (not the whole pile); 0.1 W on the wire. At most
    /// 2000 W on multi-port piles, 3500 W on high-power ones.
    pub overload_power: Decimal,
    /// `None`: the 4-byte form of older firmware.
    pub voltage: Option<VoltageLimits>,
}

impl Body<Dny> for Limits {
    const LEN: usize = 4;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (max_charge_s, overload_power) = (r.u16()?, r.dec_u16(Scale::Power)?);
        let voltage = match r.left() >= 4 {
            true => Some(VoltageLimits { over: r.dec_u16(Scale::Volt)?, under: r.dec_u16(Scale::Volt)? }),
            false => None,
        };
        Ok(Limits { max_charge_s, overload_power, voltage })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u16(self.max_charge_s);
        w.dec_u16(self.overload_power, Scale::Power, "overload power")?;
        if let Some(v) = self.voltage {
            w.dec_u16(v.over, Scale::Volt, "over-voltage")?;
            w.dec_u16(v.under, Scale::Volt, "under-voltage")?;
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        Self::LEN + self.voltage.map_or(0, |_| 4)
    }
}

/// A body of no data: 0x81, 0x87 down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Empty;

impl Body<Dny> for Empty {
    const LEN: usize = 0;

    fn read(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Empty)
    }

    fn write(&self, _: &mut Writer) -> Result<(), EncodeError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::testing::{hex, round_trip_down, round_trip_up, sample, wire};
    use crate::dny::{codes, Ack, Down, Up};

    /// Decodes a sample we also send and checks ours is the same bytes.
    fn sent_as_the_spec_shows(text: &str, m: Down) {
        let (frame, down) = sample::<Down>(text);
        assert_eq!(down, m);
        assert_eq!(wire(&m.encode(frame.phys, frame.msg).unwrap()), hex(text));
    }

    #[test]
    fn spec_limits_sample_is_the_older_4_byte_form() {
        // §4.4.1: 36000 s, 2000.0 W per port, no voltages.
        let m = Limits { max_charge_s: 36000, overload_power: dec!(2000.0), voltage: None };
        sent_as_the_spec_shows("44 4E 59 0D 00 3B 37 AB 04 02 00 85 A0 8C 20 4E 3A 04", Down::Limits(m));
        let (_, up) = sample::<Up>("44 4E 59 0A 00 3B 37 AB 04 02 00 85 00 9D 02");
        assert_eq!(up, Up::LimitsReply(Ack::OK));
    }

    #[test]
    fn limits_with_voltages_are_8_bytes() {
        let m = Limits {
            max_charge_s: 36000,
            overload_power: dec!(600),
            voltage: Some(VoltageLimits { over: dec!(270.0), under: dec!(100.0) }),
        };
        let body = round_trip_down(Down::Limits(m));
        assert_eq!(&body[..], &[0xA0, 0x8C, 0x70, 0x17, 0x8C, 0x0A, 0xE8, 0x03]);
    }

    #[test]
    fn spec_reboot_and_query_samples() {
        sent_as_the_spec_shows("44 4E 59 09 00 3B 37 AB 04 01 00 87 9D 02", Down::Reboot(Empty));
        sent_as_the_spec_shows("44 4E 59 09 00 3B 37 AB 04 01 00 81 97 02", Down::Query(Empty));
        let (_, up) = sample::<Up>("44 4E 59 0A 00 3B 37 AB 04 01 00 87 00 9E 02");
        assert_eq!(up, Up::RebootReply(Ack::OK));
    }

    #[test]
    fn alarm_is_three_bytes() {
        let body = round_trip_up(Up::Alarm(Alarm { kind: 4, port: 0x12, trigger: 0b100 }));
        assert_eq!(&body[..], &[4, 0x12, 4]);
        assert_eq!(codes::alarm_kind::text(4), "smoke");
    }
}
