//! How a pile joins the platform and stays known: register (0x20, §3.0.2),
//! heartbeat (0x21, §3.1), the old heartbeat (0x01, §3.0.1) and time (0x22,
//! §3.0.3). The platform answers 0x20, 0x21 and 0x01 with an `Ack`
//! (0 = accepted) and 0x22 with the time.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::cmd;
use super::fields::{DecodeError, Dny, EncodeError, Reader, Scale, Writer};
use super::frame::MAX_DATA;
use crate::body::Body;

/// 0x20 up: the pile introduces itself after power-on, and again whenever
/// a field changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// Decimal, e.g. 126 for V1.26.
    pub firmware: u16,
    pub ports: u8,
    /// The local address on a 485/LoRa bus; 0 without one.
    pub virtual_id: u8,
    /// The device type of §3.0.1's table.
    pub device_type: u8,
    /// Bits: 0 card mode, 1 BL0939 meter, 2 short-circuit pre-check, 3 lamp mode.
    pub work_mode: u8,
    /// 0 without a power board.
    pub power_board: u16,
}

impl Register {
    /// "V1.26" for 126 (§3.0.2).
    pub fn firmware_text(&self) -> String {
        format!("V{}.{:02}", self.firmware / 100, self.firmware % 100)
    }
}

impl Body<Dny> for Register {
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

/// The port count, as a byte, of a body that is not too long for a frame.
fn port_count(n: usize, len: usize, cmd: u8) -> Result<u8, EncodeError> {
    u8::try_from(n).ok().filter(|_| len <= MAX_DATA).ok_or(EncodeError::TooLong { cmd, len })
}

/// 0x21 up, every 3 minutes by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Supply voltage, volts; 0.1 V on the wire.
    pub voltage: Decimal,
    /// One status byte per port, port 1 first; see `codes::port_state`.
    /// The wire's port count is this length.
    pub ports: Vec<u8>,
    /// Radio signal between extension and host; 0 for wired.
    pub signal: u8,
    /// °C inside the pile; `None` without a sensor.
    pub temperature: Option<i16>,
}

impl Body<Dny> for Heartbeat {
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
        let n = port_count(self.ports.len(), self.encoded_len(), cmd::HEARTBEAT)?;
        w.dec_u16(self.voltage, Scale::Volt, "voltage")?;
        w.u8(n);
        w.bytes(&self.ports);
        w.u8(self.signal);
        w.temp(self.temperature, "temperature")
    }

    fn encoded_len(&self) -> usize {
        Self::LEN + self.ports.len()
    }
}

/// One port in an old heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldPort {
    /// As in `Heartbeat::ports`.
    pub status: u8,
    /// Watts now and the peak since the charge began; 0.1 W on the wire.
    pub power: Decimal,
    pub peak_power: Decimal,
}

/// 0x01 up: the heartbeat of older firmware (§3.0.1). The pile stops after
/// three unanswered ones, so it is answered like 0x21.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldHeartbeat {
    pub firmware: u16,
    pub voltage: Decimal,
    pub ports: Vec<OldPort>,
    pub virtual_id: u8,
    pub signal: u8,
    pub device_type: u8,
    pub temperature: Option<i16>,
    /// Dropped in V8.6; older firmware still sends it.
    pub work_mode: Option<u8>,
}

impl Body<Dny> for OldHeartbeat {
    /// firmware, voltage, port count and the four bytes after the ports.
    const LEN: usize = 9;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let firmware = r.u16()?;
        let voltage = r.dec_u16(Scale::Volt)?;
        let n = usize::from(r.u8()?);
        r.need(5 * n)?;
        let status = r.slice(n)?.to_vec();
        let mut powers = Vec::with_capacity(n);
        for _ in 0..2 * n {
            powers.push(r.dec_u16(Scale::Power)?);
        }
        let (now, peak) = powers.split_at(n);
        let ports = status
            .iter()
            .zip(now.iter().zip(peak))
            .map(|(&status, (&power, &peak_power))| OldPort { status, power, peak_power })
            .collect();
        Ok(OldHeartbeat {
            firmware,
            voltage,
            ports,
            virtual_id: r.u8()?,
            signal: r.u8()?,
            device_type: r.u8()?,
            temperature: r.temp()?,
            work_mode: (r.left() > 0).then(|| r.u8()).transpose()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        let n = port_count(self.ports.len(), self.encoded_len(), cmd::OLD_HEARTBEAT)?;
        w.u16(self.firmware);
        w.dec_u16(self.voltage, Scale::Volt, "voltage")?;
        w.u8(n);
        self.ports.iter().for_each(|p| w.u8(p.status));
        for p in &self.ports {
            w.dec_u16(p.power, Scale::Power, "power")?;
        }
        for p in &self.ports {
            w.dec_u16(p.peak_power, Scale::Power, "peak power")?;
        }
        w.u8(self.virtual_id);
        w.u8(self.signal);
        w.u8(self.device_type);
        w.temp(self.temperature, "temperature")?;
        if let Some(mode) = self.work_mode {
            w.u8(mode);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        Self::LEN + 5 * self.ports.len() + usize::from(self.work_mode.is_some())
    }
}

/// 0x22 up: the pile asks for the time, at power-on and every 12 hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TimeRequest;

impl Body<Dny> for TimeRequest {
    const LEN: usize = 0;

    fn read(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeRequest)
    }

    fn write(&self, _: &mut Writer) -> Result<(), EncodeError> {
        Ok(())
    }
}

/// 0x22 down: the platform's clock, unix seconds. The pile does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time {
    pub now: DateTime<Utc>,
}

impl Body<Dny> for Time {
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
    use crate::dny::testing::{round_trip_down, round_trip_up, sample, PHYS};
    use crate::dny::{Ack, DecodeError, Down, Frame, Up};

    #[test]
    fn spec_register_sample() {
        // §3.0.2. The body is 10 bytes where the table gives 8: the sample
        // ends in E4 00, which the table does not name and we ignore.
        let (frame, up) =
            sample::<Up>("44 4E 59 13 00 3B 37 AB 04 B9 00 20 7E 00 02 14 21 00 00 00 E4 00 91 04");
        assert_eq!((frame.phys, frame.msg), (0x04AB_373B, 0x00B9));
        let Up::Register(m) = up else { panic!("{up:?}") };
        assert_eq!(
            m,
            Register {
                firmware: 126,
                ports: 2,
                virtual_id: 0x14,
                device_type: 0x21,
                work_mode: 0,
                power_board: 0
            }
        );
        assert_eq!(m.firmware_text(), "V1.26");
        assert_eq!(frame.data.len(), 10);
    }

    #[test]
    fn spec_register_reply_sample() {
        let (_, down) = sample::<Down>("44 4E 59 0A 00 3B 37 AB 04 B9 00 20 00 EF 02");
        assert_eq!(down, Down::RegisterReply(Ack::OK));
    }

    #[test]
    fn spec_heartbeat_sample() {
        // §3.1: 220.0 V, 2 ports both idle, signal 9, temperature byte 5.
        let (_, up) = sample::<Up>("44 4E 59 10 00 3B 37 AB 04 01 00 21 98 08 02 00 00 09 05 EE 02");
        assert_eq!(
            up,
            Up::Heartbeat(Heartbeat {
                voltage: dec!(220.0),
                ports: vec![0, 0],
                signal: 9,
                temperature: Some(-60)
            })
        );
        let (_, down) = sample::<Down>("44 4E 59 0A 00 3B 37 AB 04 01 00 21 00 38 02");
        assert_eq!(down, Down::HeartbeatReply(Ack::OK));
    }

    #[test]
    fn spec_old_heartbeat_sample() {
        // §3.0.1: firmware 126, 218.8 V, 2 ports (idle; full), powers 0 and
        // 22.8 W, peaks 0 and 57.1 W, virtual id 0x29, signal 7, type 2,
        // temperature byte 0x20, work mode 0.
        let (_, up) = sample::<Up>(
            "44 4E 59 1D 00 3B 37 AB 04 B9 00 01 7E 00 8C 08 02 00 03 00 00 E4 00 00 00 3B 02 29 07 02 20 00 6D 05",
        );
        assert_eq!(
            up,
            Up::OldHeartbeat(OldHeartbeat {
                firmware: 126,
                voltage: dec!(218.8),
                ports: vec![
                    OldPort { status: 0, power: dec!(0), peak_power: dec!(0) },
                    OldPort { status: 3, power: dec!(22.8), peak_power: dec!(57.1) },
                ],
                virtual_id: 0x29,
                signal: 7,
                device_type: 2,
                temperature: Some(0x20 - 65),
                work_mode: Some(0),
            })
        );
        let (_, down) = sample::<Down>("44 4E 59 0A 00 3B 37 AB 04 B9 00 01 00 D0 02");
        assert_eq!(down, Down::OldHeartbeatReply(Ack::OK));
    }

    #[test]
    fn spec_time_samples() {
        let (_, up) = sample::<Up>("44 4E 59 09 00 3B 37 AB 04 B9 00 22 F0 02");
        assert_eq!(up, Up::TimeRequest(TimeRequest));
        let (_, down) = sample::<Down>("44 4E 59 0D 00 3B 37 AB 04 B9 00 22 09 0E A9 5F 13 04");
        let Down::Time(t) = down else { panic!("{down:?}") };
        assert_eq!(t.now.timestamp(), 0x5FA9_0E09);
        // What we send is the sample, byte for byte.
        let ours = Down::Time(t).encode(0x04AB_373B, 0x00B9).unwrap();
        assert_eq!(
            crate::dny::testing::wire(&ours),
            crate::dny::testing::hex("44 4E 59 0D 00 3B 37 AB 04 B9 00 22 09 0E A9 5F 13 04")
        );
    }

    #[test]
    fn heartbeat_round_trip_and_layout() {
        let hb = Heartbeat {
            voltage: dec!(220.5),
            ports: vec![0, 1, 2, 3, 5, 6, 0x10, 4, 0, 0],
            signal: 28,
            temperature: Some(25),
        };
        let body = round_trip_up(Up::Heartbeat(hb.clone()));
        assert_eq!(body.len(), 3 + 10 + 2);
        assert_eq!(&body[..3], &[0x9D, 0x08, 10]);
        assert_eq!(&body[13..], &[28, 90]);
        round_trip_up(Up::Heartbeat(Heartbeat { ports: vec![], temperature: None, ..hb }));
    }

    #[test]
    fn heartbeat_port_count_is_checked_against_the_data() {
        let frame = Frame { phys: PHYS, msg: 1, cmd: 0x21, data: vec![0x98, 0x08, 10, 0, 0, 20, 90].into() };
        assert_eq!(Up::decode(&frame), Err(DecodeError::Short { cmd: 0x21, need: 15, got: 7 }));
        let too_many = Heartbeat { voltage: dec!(220), ports: vec![0; 238], signal: 0, temperature: None };
        assert!(Up::Heartbeat(too_many).encode(PHYS, 1).is_err());
        let most = Heartbeat { voltage: dec!(220), ports: vec![0; 237], signal: 0, temperature: None };
        round_trip_up(Up::Heartbeat(most));
    }

    #[test]
    fn old_heartbeat_without_work_mode_is_the_v8_6_form() {
        let hb = OldHeartbeat {
            firmware: 300,
            voltage: dec!(230.0),
            ports: vec![OldPort { status: 1, power: dec!(150.5), peak_power: dec!(160) }],
            virtual_id: 0,
            signal: 0,
            device_type: 0x20,
            temperature: None,
            work_mode: None,
        };
        let body = round_trip_up(Up::OldHeartbeat(hb));
        assert_eq!(&body[..], &[0x2C, 0x01, 0xFC, 0x08, 1, 1, 0xE1, 0x05, 0x40, 0x06, 0, 0, 0x20, 0]);
    }

    #[test]
    fn time_round_trip() {
        assert!(round_trip_up(Up::TimeRequest(TimeRequest)).is_empty());
        let now = DateTime::from_timestamp(1_772_352_000, 0).unwrap();
        assert_eq!(&round_trip_down(Down::Time(Time { now }))[..], &1_772_352_000u32.to_le_bytes());
    }
}
