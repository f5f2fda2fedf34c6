//! Register (0x20), heartbeat (0x21) and time (0x22): how a pile joins the
//! platform and stays known. The platform answers 0x20 and 0x21 with an
//! `Ack` (0 = accepted) and 0x22 with the time.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::fields::{DecodeError, EncodeError, Reader, Scale, Writer};
use super::frame::MAX_DATA;
use super::message::{cmd, Body};

/// 0x20 up: the pile introduces itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// e.g. 0x0102 for v1.02.
    pub firmware: u16,
    pub ports: u8,
    pub virtual_id: u8,
    /// The same as PHYS's top byte; 0x05 is a 10-port pile.
    pub device_type: u8,
    pub work_mode: u8,
    pub power_board: u16,
}

impl Body for Register {
    const LEN: usize = 8;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Register {
            firmware: r.u16()?,
            ports: r.u8()?,
            virtual_id: r.u8()?,
            device_type: r.u8()?,
            work_mode: r.u8()?,
            power_board: r.u16()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u16(self.firmware);
        w.u8(self.ports);
        w.u8(self.virtual_id);
        w.u8(self.device_type);
        w.u8(self.work_mode);
        w.u16(self.power_board);
        Ok(())
    }
}

/// A port's status byte in a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    Idle,
    Charging,
    /// Plugged in, not charging.
    Plugged,
    Full,
    FloatCharge,
    /// 0x06..=0x10: a fault code.
    Fault(u8),
    Unknown(u8),
}

impl From<u8> for PortState {
    fn from(b: u8) -> Self {
        match b {
            0 => PortState::Idle,
            1 => PortState::Charging,
            2 => PortState::Plugged,
            3 => PortState::Full,
            5 => PortState::FloatCharge,
            0x06..=0x10 => PortState::Fault(b),
            other => PortState::Unknown(other),
        }
    }
}

impl From<PortState> for u8 {
    fn from(s: PortState) -> u8 {
        match s {
            PortState::Idle => 0,
            PortState::Charging => 1,
            PortState::Plugged => 2,
            PortState::Full => 3,
            PortState::FloatCharge => 5,
            PortState::Fault(b) | PortState::Unknown(b) => b,
        }
    }
}

/// 0x21 up, every ~3 minutes and on a change of port state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Supply voltage, volts; 0.1 V on the wire.
    pub voltage: Decimal,
    /// One status byte per port, port 1 first; see `PortState`. The wire's
    /// port count is this length.
    pub ports: Vec<u8>,
    /// Modem signal strength.
    pub signal: u8,
    /// °C; u8 with a -65 °C offset on the wire.
    pub temperature: i16,
}

impl Heartbeat {
    /// The state of `port` (numbered from 1), if the pile has it.
    pub fn port_state(&self, port: u8) -> Option<PortState> {
        let i = usize::from(port).checked_sub(1)?;
        self.ports.get(i).map(|&b| PortState::from(b))
    }
}

impl Body for Heartbeat {
    /// voltage, port count, signal, temperature: a pile with no ports.
    const LEN: usize = 5;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let voltage = r.dec_u16(Scale::Volt)?;
        let n = usize::from(r.u8()?);
        r.need(n)?;
        let ports = r.slice(n)?.to_vec();
        Ok(Heartbeat { voltage, ports, signal: r.u8()?, temperature: r.temp()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        let n = u8::try_from(self.ports.len())
            .ok()
            .filter(|_| self.len() <= MAX_DATA)
            .ok_or(EncodeError::TooLong { cmd: cmd::HEARTBEAT, len: self.len() })?;
        w.dec_u16(self.voltage, Scale::Volt, "voltage")?;
        w.u8(n);
        w.bytes(&self.ports);
        w.u8(self.signal);
        w.temp(self.temperature, "temperature")
    }

    fn len(&self) -> usize {
        Self::LEN + self.ports.len()
    }
}

/// 0x22 up: the pile asks for the time. No data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TimeRequest;

impl Body for TimeRequest {
    const LEN: usize = 0;

    fn read(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeRequest)
    }

    fn write(&self, _: &mut Writer) -> Result<(), EncodeError> {
        Ok(())
    }
}

/// 0x22 down: the platform's clock, unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time {
    pub now: DateTime<Utc>,
}

impl Body for Time {
    const LEN: usize = 4;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Time { now: r.time()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.time(self.now, "now")
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::message::testing::{at, round_trip_down, round_trip_up, PHYS};
    use crate::dny::{DecodeError, Down, Frame, Up};

    #[test]
    fn register_round_trip_and_layout() {
        let body = round_trip_up(Up::Register(Register {
            firmware: 0x0102,
            ports: 10,
            virtual_id: 0,
            device_type: 0x05,
            work_mode: 1,
            power_board: 0x0304,
        }));
        assert_eq!(&body[..], &[0x02, 0x01, 10, 0, 0x05, 1, 0x04, 0x03]);
    }

    #[test]
    fn heartbeat_round_trip_and_layout() {
        let hb = Heartbeat {
            voltage: dec!(220.5),
            ports: vec![0, 1, 2, 3, 5, 6, 0x10, 4, 0, 0],
            signal: 28,
            temperature: 25,
        };
        let body = round_trip_up(Up::Heartbeat(hb.clone()));
        assert_eq!(body.len(), 3 + 10 + 2);
        assert_eq!(&body[..3], &[0x9D, 0x08, 10]); // 2205 = 0x089D
        assert_eq!(&body[13..], &[28, 90]);
        assert_eq!(hb.port_state(1), Some(PortState::Idle));
        assert_eq!(hb.port_state(2), Some(PortState::Charging));
        assert_eq!(hb.port_state(3), Some(PortState::Plugged));
        assert_eq!(hb.port_state(4), Some(PortState::Full));
        assert_eq!(hb.port_state(5), Some(PortState::FloatCharge));
        assert_eq!(hb.port_state(6), Some(PortState::Fault(6)));
        assert_eq!(hb.port_state(7), Some(PortState::Fault(0x10)));
        assert_eq!(hb.port_state(8), Some(PortState::Unknown(4)));
        assert_eq!(hb.port_state(0), None);
        assert_eq!(hb.port_state(11), None);
        for b in 0..=255u8 {
            assert_eq!(u8::from(PortState::from(b)), b);
        }
        round_trip_up(Up::Heartbeat(Heartbeat { ports: vec![], ..hb }));
    }

    #[test]
    fn heartbeat_port_count_is_checked_against_the_data() {
        // Declares 10 ports, carries 2.
        let frame = Frame { phys: PHYS, msg: 1, cmd: 0x21, data: vec![0x98, 0x08, 10, 0, 0, 20, 90].into() };
        assert_eq!(Up::decode(&frame), Err(DecodeError::Short { cmd: 0x21, need: 15, got: 7 }));
        let too_many = Heartbeat { voltage: dec!(220), ports: vec![0; 238], signal: 0, temperature: 0 };
        assert!(Up::Heartbeat(too_many).encode(PHYS, 1).is_err());
        let most = Heartbeat { voltage: dec!(220), ports: vec![0; 237], signal: 0, temperature: 0 };
        round_trip_up(Up::Heartbeat(most));
    }

    #[test]
    fn time_round_trip() {
        assert!(round_trip_up(Up::TimeRequest(TimeRequest)).is_empty());
        let body = round_trip_down(Down::Time(Time { now: at(0) }));
        assert_eq!(&body[..], &1_772_352_000u32.to_le_bytes());
    }
}
