//! Real-time data (0x13) and the platform's request for it (0x12).
//!
//! Piles send 0x13 every 15 s while charging, every few minutes idle and at
//! once on a change; it is the platform's meter reading and port status.

use rust_decimal::Decimal;

use vocab::{PileId, SessionId, Severity};

use super::fields::{DecodeError, EncodeError, Reader, Unit, Writer, Ykc};
use crate::body::Body;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealTimeRequest {
    pub pile: PileId,
    pub gun: u8,
}

impl Body<Ykc> for RealTimeRequest {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RealTimeRequest { pile: r.pile()?, gun: r.gun()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.pile(&self.pile)?;
        w.gun(self.gun)
    }
}

/// A gun's status byte in 0x13.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GunStatus {
    Offline,
    Fault,
    Idle,
    Charging,
    Unknown(u8),
}

impl From<u8> for GunStatus {
    fn from(b: u8) -> Self {
        match b {
            0 => GunStatus::Offline,
            1 => GunStatus::Fault,
            2 => GunStatus::Idle,
            3 => GunStatus::Charging,
            other => GunStatus::Unknown(other),
        }
    }
}

impl From<GunStatus> for u8 {
    fn from(s: GunStatus) -> u8 {
        match s {
            GunStatus::Offline => 0,
            GunStatus::Fault => 1,
            GunStatus::Idle => 2,
            GunStatus::Charging => 3,
            GunStatus::Unknown(b) => b,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealTime {
    /// All zeros when the gun is not charging.
    pub serial: SessionId,
    pub pile: PileId,
    pub gun: u8,
    /// See `GunStatus`; kept raw so unknown values survive.
    pub status: u8,
    /// Gun back in its holster: 0 no, 1 yes, 2 unknown.
    pub holstered: u8,
    pub plugged: bool,
    /// Volts, 0.1 V on the wire.
    pub voltage: Decimal,
    /// Amps, 0.1 A on the wire.
    pub current: Decimal,
    /// °C.
    pub cable_temp: i16,
    pub cable_code: [u8; 8],
    /// Percent (DC only).
    pub soc: u8,
    /// °C (DC only).
    pub battery_max_temp: i16,
    pub minutes_charged: u16,
    pub minutes_left: u16,
    /// kWh of this charge, 0.0001 kWh on the wire.
    pub kwh: Decimal,
    pub loss_kwh: Decimal,
    /// Yuan so far, 0.0001 yuan on the wire.
    pub amount: Decimal,
    /// One bit per fault; see `hardware_faults`.
    pub hardware_faults: u16,
}

impl RealTime {
    pub fn gun_status(&self) -> GunStatus {
        self.status.into()
    }
}

/// The hardware fault bits of 0x13 (spec v1.6 §7.2, "Bit1" to "Bit13",
/// lowest bit first) and how serious each is: what can burn or shock, or an
/// emergency stop someone pressed, is critical; a lost link to a module
/// stops the charger; a door or a card reader can wait.
const HARDWARE_FAULTS: [(&str, Severity); 13] = [
    ("emergency stop pressed", Severity::Critical),
    ("no rectifier module available", Severity::Major),
    ("air outlet over-temperature", Severity::Critical),
    ("AC surge protector fault", Severity::Major),
    ("rectifier module (DC20) communication lost", Severity::Major),
    ("insulation monitor (FC08) communication lost", Severity::Major),
    ("meter communication lost", Severity::Major),
    ("card reader communication lost", Severity::Warning),
    ("RC10 communication lost", Severity::Major),
    ("fan speed board fault", Severity::Major),
    ("DC fuse fault", Severity::Major),
    ("high-voltage contactor fault", Severity::Critical),
    ("door open", Severity::Warning),
];

/// The faults set in `RealTime::hardware_faults`, lowest bit first; empty
/// when there are none. Bits the spec does not define are ignored.
pub fn hardware_faults(bits: u16) -> Vec<(&'static str, Severity)> {
    HARDWARE_FAULTS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, f)| *f).collect()
}

impl Body<Ykc> for RealTime {
    const LEN: usize = 60;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RealTime {
            serial: r.serial()?,
            pile: r.pile()?,
            gun: r.gun()?,
            status: r.u8()?,
            holstered: r.u8()?,
            plugged: r.flag()?,
            voltage: r.dec_u16(Unit::Volt)?,
            current: r.dec_u16(Unit::Amp)?,
            cable_temp: r.temp()?,
            cable_code: r.bytes()?,
            soc: r.u8()?,
            battery_max_temp: r.temp()?,
            minutes_charged: r.u16()?,
            minutes_left: r.u16()?,
            kwh: r.dec_u32(Unit::Kwh)?,
            loss_kwh: r.dec_u32(Unit::Kwh)?,
            amount: r.dec_u32(Unit::Amount)?,
            hardware_faults: r.u16()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.serial(&self.serial)?;
        w.pile(&self.pile)?;
        w.gun(self.gun)?;
        w.u8(self.status);
        w.u8(self.holstered);
        w.flag(self.plugged);
        w.dec_u16(self.voltage, Unit::Volt, "voltage")?;
        w.dec_u16(self.current, Unit::Amp, "current")?;
        w.temp(self.cable_temp, "cable temperature")?;
        w.bytes(&self.cable_code);
        w.u8(self.soc);
        w.temp(self.battery_max_temp, "battery temperature")?;
        w.u16(self.minutes_charged);
        w.u16(self.minutes_left);
        w.dec_u32(self.kwh, Unit::Kwh, "kwh")?;
        w.dec_u32(self.loss_kwh, Unit::Kwh, "loss-adjusted kwh")?;
        w.dec_u32(self.amount, Unit::Amount, "amount")?;
        w.u16(self.hardware_faults);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::ykc::testing::{pile, round_trip, serial};
    use crate::ykc::Message;

    #[test]
    fn realtime_round_trip_and_layout() {
        let rt = RealTime {
            serial: serial(),
            pile: pile(),
            gun: 1,
            status: GunStatus::Charging.into(),
            holstered: 0,
            plugged: true,
            voltage: dec!(380.5),
            current: dec!(62.3),
            cable_temp: 41,
            cable_code: [0; 8],
            soc: 57,
            battery_max_temp: -5,
            minutes_charged: 34,
            minutes_left: 51,
            kwh: dec!(12.3456),
            loss_kwh: dec!(12.5),
            amount: dec!(18.7317),
            hardware_faults: 0x0004,
        };
        let body = round_trip(Message::RealTime(rt.clone()));
        assert_eq!(body.len(), 60);
        assert_eq!(&body[24..31], &[3, 0, 1, 0xDD, 0x0E, 0x6F, 0x02]); // 3805, 623
        assert_eq!(body[31], 91); // 41 °C
        assert_eq!(body[41], 45); // -5 °C
        assert_eq!(&body[46..50], &123_456u32.to_le_bytes());
        assert_eq!(rt.gun_status(), GunStatus::Charging);
    }

    #[test]
    fn unknown_status_survives() {
        assert_eq!(GunStatus::from(7), GunStatus::Unknown(7));
        assert_eq!(u8::from(GunStatus::Unknown(7)), 7);
        for b in 0..=3u8 {
            assert_eq!(u8::from(GunStatus::from(b)), b);
        }
    }

    #[test]
    fn hardware_fault_bits_are_named_as_in_the_spec() {
        let names = |bits| hardware_faults(bits).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert!(hardware_faults(0).is_empty());
        assert_eq!(hardware_faults(0x0001), [("emergency stop pressed", Severity::Critical)]);
        // Bit5 (0x10): a module's link, not an insulation fault.
        assert_eq!(names(0x0010), ["rectifier module (DC20) communication lost"]);
        assert_eq!(names(0x0044), ["air outlet over-temperature", "meter communication lost"]);
        assert_eq!(names(0x1000), ["door open"]);
        let all = hardware_faults(u16::MAX);
        assert_eq!(all.len(), 13, "bits above Bit13 are not defined");
        assert_eq!(all[10].0, "DC fuse fault");
    }

    #[test]
    fn request_round_trip() {
        round_trip(Message::RealTimeRequest(RealTimeRequest { pile: pile(), gun: 2 }));
    }
}
