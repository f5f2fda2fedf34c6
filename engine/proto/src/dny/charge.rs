//! Starting, changing and watching a charge: start/stop (0x82 down, §4.2)
//! and its reply (0x82 up), changing the limit (0x8A down, §4.2.1; the
//! pile answers with an `Ack`) and the charging report (0x06 up, §3.4.2).
//! Ports are the wire's: 0 is port 1.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::card::{fee_mode, Credit};
use super::fields::{DecodeError, Dny, EncodeError, OrderNo, Reader, Scale, Writer};
use crate::body::{Body, FixedPoint};

/// The fields V7.5–V8.6 appended to 0x82 (§4.2, second row of its table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartExtras {
    /// 0 lit, 1 off, for the next plug-in.
    pub qr_light: u8,
    /// 1: keep the power on after float charging.
    pub long_charge: u8,
    /// Extra float-charge seconds; 0xFFFF cancels float charging.
    pub extra_float_s: u16,
    /// 0 or 1 skip the short-circuit check, 2 check (the spec's wording).
    pub short_circuit_check: u8,
    /// 1: do not stop when the user unplugs.
    pub ignore_unplug: u8,
    /// 1: a timed charge also stops when full.
    pub force_full_stop: u8,
    /// Below this, after float charging, the battery is full. Whole watts
    /// (unlike every other power); 0 or 255 turns the check off.
    pub full_power_w: u8,
    /// How long, in minutes, the full-power check may go on.
    pub full_power_max_min: u8,
}

impl StartExtras {
    pub const CHECK_SHORT_CIRCUIT: u8 = 2;

    /// What the spec says to send unless a site needs otherwise.
    pub const DEFAULT: StartExtras = StartExtras {
        qr_light: 0,
        long_charge: 0,
        extra_float_s: 0,
        short_circuit_check: Self::CHECK_SHORT_CIRCUIT,
        ignore_unplug: 0,
        force_full_stop: 0,
        full_power_w: 0,
        full_power_max_min: 0,
    };
}

/// 0x82 down: start or stop a port. A stop needs the running order; the
/// pile ignores every other field but the port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartStop {
    /// One of `fee_mode`.
    pub fee_mode: u8,
    /// Only voiced by the pile.
    pub credit: Credit,
    /// Wire port (0 = port 1); 0xFF lets a two-port pile choose.
    pub port: u8,
    /// `START` or `STOP`.
    pub command: u8,
    /// Seconds, or 0.01 kWh in energy mode; 0 = until full. Raw because
    /// its unit depends on `fee_mode`.
    pub limit: u16,
    pub order: OrderNo,
    /// Seconds; 0 = the pile's setting (0x85).
    pub max_duration: u16,
    /// Watts; 0.1 W on the wire; 0 = the pile's setting.
    pub overload_power: Decimal,
    /// `None`: the 29-byte form of firmware before V8.0.
    pub extras: Option<StartExtras>,
}

impl StartStop {
    pub const STOP: u8 = 0;
    pub const START: u8 = 1;
    /// The form V8.6 gives, the one the platform sends.
    pub const FULL_LEN: usize = 38;

    /// The energy limit in kWh, in energy mode with a limit set.
    pub fn limit_kwh(&self) -> Option<Decimal> {
        (self.fee_mode == fee_mode::ENERGY && self.limit > 0)
            .then(|| Scale::Energy.from_wire(self.limit.into()))
    }

    /// The time limit in seconds, in the other modes with a limit set.
    pub fn limit_secs(&self) -> Option<u16> {
        (self.fee_mode != fee_mode::ENERGY && self.limit > 0).then_some(self.limit)
    }
}

impl Body<Dny> for StartStop {
    const LEN: usize = 29;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let fee_mode = r.u8()?;
        let credit = Credit::read(r, fee_mode)?;
        let (port, command, limit, order) = (r.u8()?, r.u8()?, r.u16()?, r.order()?);
        let (max_duration, overload_power) = (r.u16()?, r.dec_u16(Scale::Power)?);
        // Forms between 29 and 38 bytes are not in any version we know of.
        let extras = match r.left() >= Self::FULL_LEN - Self::LEN {
            true => Some(StartExtras {
                qr_light: r.u8()?,
                long_charge: r.u8()?,
                extra_float_s: r.u16()?,
                short_circuit_check: r.u8()?,
                ignore_unplug: r.u8()?,
                force_full_stop: r.u8()?,
                full_power_w: r.u8()?,
                full_power_max_min: r.u8()?,
            }),
            false => None,
        };
        Ok(StartStop { fee_mode, credit, port, command, limit, order, max_duration, overload_power, extras })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.fee_mode);
        self.credit.write(w, self.fee_mode)?;
        w.u8(self.port);
        w.u8(self.command);
        w.u16(self.limit);
        w.order(&self.order);
        w.u16(self.max_duration);
        w.dec_u16(self.overload_power, Scale::Power, "overload power")?;
        if let Some(x) = self.extras {
            w.u8(x.qr_light);
            w.u8(x.long_charge);
            w.u16(x.extra_float_s);
            w.u8(x.short_circuit_check);
            w.u8(x.ignore_unplug);
            w.u8(x.force_full_stop);
            w.u8(x.full_power_w);
            w.u8(x.full_power_max_min);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        if self.extras.is_some() {
            Self::FULL_LEN
        } else {
            Self::LEN
        }
    }
}

/// 0x82 up: the pile's answer to a start or stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartStopReply {
    /// See `codes::start_result`.
    pub result: u8,
    pub order: OrderNo,
    /// Wire port.
    pub port: u8,
    /// Bit n set: wire port n has a charger waiting (with result 5 only).
    pub pending: u16,
}

impl Body<Dny> for StartStopReply {
    const LEN: usize = 20;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StartStopReply { result: r.u8()?, order: r.order()?, port: r.u8()?, pending: r.u16()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.result);
        w.order(&self.order);
        w.u8(self.port);
        w.u16(self.pending);
        Ok(())
    }
}

/// 0x8A down: turn a running charge into a timed (or metered) one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjust {
    /// One of the `Adjust` mode constants.
    pub mode: u8,
    /// Wire port.
    pub port: u8,
    /// Seconds in the timed modes, 0.01 kWh in `METERED`; below what has
    /// run already, the pile stops at once.
    pub value: u16,
}

impl Adjust {
    pub const TIMED: u8 = 0;
    pub const TIMED_UNTIL_FULL: u8 = 1;
    pub const METERED: u8 = 2;
}

impl Body<Dny> for Adjust {
    const LEN: usize = 4;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Adjust { mode: r.u8()?, port: r.u8()?, value: r.u16()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.mode);
        w.u8(self.port);
        w.u16(self.value);
        Ok(())
    }
}

/// Voltage and current, which V7.8 added to 0x06.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Electric {
    /// Volts; 0.1 V on the wire.
    pub voltage: Decimal,
    /// Amps; 0.001 A on the wire.
    pub current: Decimal,
}

/// 0x06 up: a charging port's meter, every 5 minutes while it charges.
/// Not answered. Fields after `order` came with later versions and are
/// read as far as the body goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargingReport {
    /// Wire port.
    pub port: u8,
    /// See `codes::port_state::report`.
    pub status: u8,
    /// Seconds since the charge started.
    pub elapsed: u16,
    /// kWh of this order so far; 0.01 kWh on the wire.
    pub energy: Decimal,
    /// 0 started offline, 1 online, 3 by verification code.
    pub origin: u8,
    /// Watts now, and the max, min and average since the last report;
    /// 0.1 W on the wire.
    pub power: Decimal,
    pub max_power: Decimal,
    pub min_power: Decimal,
    pub avg_power: Decimal,
    pub order: OrderNo,
    /// Raw; divide by 4800 for kWh (V6.2, debugging only).
    pub period_energy: Option<u16>,
    /// The highest power of the whole charge (V7.0).
    pub peak_power: Option<Decimal>,
    /// V7.8.
    pub electric: Option<Electric>,
    /// °C inside the pile and at the port (V7.8); the inner `None` is a
    /// missing sensor.
    pub temperatures: Option<(Option<i16>, Option<i16>)>,
    /// The pile's clock (V8.0, debugging only).
    pub time: Option<DateTime<Utc>>,
    /// Minutes occupied after full (V8.5, cabinets only).
    pub occupied_min: Option<u16>,
}

impl Body<Dny> for ChargingReport {
    const LEN: usize = 31;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (port, status, elapsed, energy, origin) =
            (r.u8()?, r.u8()?, r.u16()?, r.dec_u16(Scale::Energy)?, r.u8()?);
        let mut m = ChargingReport {
            port,
            status,
            elapsed,
            energy,
            origin,
            power: r.dec_u16(Scale::Power)?,
            max_power: r.dec_u16(Scale::Power)?,
            min_power: r.dec_u16(Scale::Power)?,
            avg_power: r.dec_u16(Scale::Power)?,
            order: r.order()?,
            period_energy: None,
            peak_power: None,
            electric: None,
            temperatures: None,
            time: None,
            occupied_min: None,
        };
        // Each newer field is read only if every older one was there.
        if r.left() < 2 {
            return Ok(m);
        }
        m.period_energy = Some(r.u16()?);
        if r.left() < 2 {
            return Ok(m);
        }
        m.peak_power = Some(r.dec_u16(Scale::Power)?);
        if r.left() < 4 {
            return Ok(m);
        }
        m.electric =
            Some(Electric { voltage: r.dec_u16(Scale::Volt)?, current: r.dec_u16(Scale::MilliAmp)? });
        if r.left() < 2 {
            return Ok(m);
        }
        m.temperatures = Some((r.temp()?, r.temp()?));
        if r.left() < 4 {
            return Ok(m);
        }
        m.time = Some(r.time()?);
        if r.left() < 2 {
            return Ok(m);
        }
        m.occupied_min = Some(r.u16()?);
        Ok(m)
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.port);
        w.u8(self.status);
        w.u16(self.elapsed);
        w.dec_u16(self.energy, Scale::Energy, "energy")?;
        w.u8(self.origin);
        w.dec_u16(self.power, Scale::Power, "power")?;
        w.dec_u16(self.max_power, Scale::Power, "max power")?;
        w.dec_u16(self.min_power, Scale::Power, "min power")?;
        w.dec_u16(self.avg_power, Scale::Power, "average power")?;
        w.order(&self.order);
        self.check_form()?;
        if let Some(e) = self.period_energy {
            w.u16(e);
        }
        if let Some(p) = self.peak_power {
            w.dec_u16(p, Scale::Power, "peak power")?;
        }
        if let Some(e) = self.electric {
            w.dec_u16(e.voltage, Scale::Volt, "voltage")?;
            w.dec_u16(e.current, Scale::MilliAmp, "current")?;
        }
        if let Some((ambient, port)) = self.temperatures {
            w.temp(ambient, "ambient temperature")?;
            w.temp(port, "port temperature")?;
        }
        if let Some(t) = self.time {
            w.time(t, "time")?;
        }
        if let Some(m) = self.occupied_min {
            w.u16(m);
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        Self::LEN
            + self.present().iter().zip(Self::TAIL).filter(|(p, _)| **p).map(|(_, (_, n))| n).sum::<usize>()
    }
}

impl ChargingReport {
    /// The appended fields in wire order, with their byte counts.
    const TAIL: [(&'static str, usize); 6] = [
        ("period energy", 2),
        ("peak power", 2),
        ("voltage and current", 4),
        ("temperatures", 2),
        ("time", 4),
        ("occupied", 2),
    ];

    fn present(&self) -> [bool; 6] {
        [
            self.period_energy.is_some(),
            self.peak_power.is_some(),
            self.electric.is_some(),
            self.temperatures.is_some(),
            self.time.is_some(),
            self.occupied_min.is_some(),
        ]
    }

    /// A field can only be sent with every older one before it.
    fn check_form(&self) -> Result<(), EncodeError> {
        let present = self.present();
        match present.windows(2).position(|w| !w[0] && w[1]) {
            Some(i) => Err(EncodeError::Gap { field: Self::TAIL[i + 1].0 }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::testing::{hex, round_trip_down, round_trip_up, sample, wire, PHYS};
    use crate::dny::{codes, Ack, Down, Up};

    /// The order of §4.2's samples: 12 34 56 78, four times.
    fn sample_order() -> OrderNo {
        OrderNo([0x12, 0x34, 0x56, 0x78].repeat(4).try_into().unwrap())
    }

    /// §3.3 and §3.4.2's sample order.
    pub(crate) fn offline_order() -> OrderNo {
        OrderNo([0x20, 0x19, 0x09, 0x01, 0x18, 0, 0, 0x13, 0, 0x30, 0x38, 1, 2, 3, 4, 5])
    }

    const START: &str = "44 4E 59 26 00 3B 37 AB 04 02 00 82 00 64 01 00 00 01 01 00 00 \
                         12 34 56 78 12 34 56 78 12 34 56 78 12 34 56 78 80 70 88 13 F8 08";

    fn spec_start() -> StartStop {
        StartStop {
            fee_mode: fee_mode::TIME,
            credit: Credit::Balance(dec!(3.56)),
            port: 1,
            command: StartStop::START,
            limit: 0,
            order: sample_order(),
            max_duration: 28800,
            overload_power: dec!(500.0),
            extras: None,
        }
    }

    #[test]
    fn spec_start_sample_decodes_and_ours_matches_it() {
        // §4.2: time mode, balance 0x164 fen, wire port 1 (port 2), start,
        // until full, max 8 h, overload 500.0 W: the 29-byte form.
        let (frame, down) = sample::<Down>(START);
        assert_eq!(down, Down::StartStop(spec_start()));
        assert_eq!(wire(&Down::StartStop(spec_start()).encode(frame.phys, frame.msg).unwrap()), hex(START));
    }

    #[test]
    fn spec_start_reply_sample() {
        // §4.2: done, the order, wire port 1, no ports pending.
        let (_, up) = sample::<Up>(
            "44 4E 59 1D 00 3B 37 AB 04 02 00 82 00 12 34 56 78 12 34 56 78 12 34 56 78 12 34 56 78 01 00 00 FE 06",
        );
        assert_eq!(
            up,
            Up::StartStopReply(StartStopReply {
                result: codes::start_result::DONE,
                order: sample_order(),
                port: 1,
                pending: 0
            })
        );
    }

    #[test]
    fn the_v8_6_form_puts_every_byte_at_the_spec_offset() {
        let m = StartStop {
            fee_mode: fee_mode::ENERGY,
            credit: Credit::Balance(dec!(5.00)),
            port: 9,
            command: StartStop::START,
            limit: 150,
            order: OrderNo::from_text("2603010830000042", "o").unwrap(),
            max_duration: 36000,
            overload_power: dec!(600),
            extras: Some(StartExtras {
                qr_light: 1,
                long_charge: 0,
                extra_float_s: 0x0102,
                short_circuit_check: 2,
                ignore_unplug: 0,
                force_full_stop: 1,
                full_power_w: 20,
                full_power_max_min: 3,
            }),
        };
        assert_eq!(m.limit_kwh(), Some(dec!(1.50)));
        assert_eq!(m.limit_secs(), None);
        let body = round_trip_down(Down::StartStop(m));
        assert_eq!(body.len(), 38);
        assert_eq!(&body[..9], &[2, 0xF4, 0x01, 0, 0, 9, 1, 150, 0]);
        assert_eq!(&body[9..25], b"2603010830000042");
        assert_eq!(&body[25..29], &[0xA0, 0x8C, 0x70, 0x17]);
        // QR light, long charge, extra float (2), short circuit, unplug,
        // force full stop, full power, its judging time.
        assert_eq!(&body[29..], &[1, 0, 0x02, 0x01, 2, 0, 1, 20, 3]);
    }

    #[test]
    fn spec_adjust_samples() {
        // §4.2.1: timed without full stop, wire port 1, 28800 s.
        const ADJUST: &str = "44 4E 59 0D 00 3B 37 AB 04 02 00 8A 00 01 80 70 96 03";
        let (frame, down) = sample::<Down>(ADJUST);
        let m = Adjust { mode: Adjust::TIMED, port: 1, value: 28800 };
        assert_eq!(down, Down::Adjust(m));
        assert_eq!(wire(&Down::Adjust(m).encode(frame.phys, frame.msg).unwrap()), hex(ADJUST));
        let (_, up) = sample::<Up>("44 4E 59 0A 00 3B 37 AB 04 02 00 8A 00 A2 02");
        assert_eq!(up, Up::AdjustReply(Ack::OK));
    }

    #[test]
    fn spec_report_sample() {
        // §3.4.2 (41 bytes: no timestamp or occupancy yet): wire port 1,
        // charging, 3600 s, 0.48 kWh, online, 100.0 W now, max 120.0, min
        // 80.0, average 100.0, the order, 1/4800 kWh this period, peak
        // 100.0 W, 220.0 V, 0.455 A, 20 °C inside, no port sensor.
        let (_, up) = sample::<Up>(
            "44 4E 59 32 00 3B 37 AB 04 0A 00 06 01 01 10 0E 30 00 01 E8 03 B0 04 20 03 E8 03 \
             20 19 09 01 18 00 00 13 00 30 38 01 02 03 04 05 01 00 E8 03 98 08 C7 01 55 00 DA 08",
        );
        assert_eq!(
            up,
            Up::ChargingReport(ChargingReport {
                port: 1,
                status: 1,
                elapsed: 3600,
                energy: dec!(0.48),
                origin: 1,
                power: dec!(100.0),
                max_power: dec!(120.0),
                min_power: dec!(80.0),
                avg_power: dec!(100.0),
                order: offline_order(),
                period_energy: Some(1),
                peak_power: Some(dec!(100.0)),
                electric: Some(Electric { voltage: dec!(220.0), current: dec!(0.455) }),
                temperatures: Some((Some(20), None)),
                time: None,
                occupied_min: None,
            })
        );
    }

    fn report() -> ChargingReport {
        ChargingReport {
            port: 9,
            status: 1,
            elapsed: 300,
            energy: dec!(0.15),
            origin: 1,
            power: dec!(180),
            max_power: dec!(181.2),
            min_power: dec!(179.9),
            avg_power: dec!(180.1),
            order: OrderNo::from_text("2603010830000042", "o").unwrap(),
            period_energy: Some(720),
            peak_power: Some(dec!(190)),
            electric: Some(Electric { voltage: dec!(220.0), current: dec!(0.818) }),
            temperatures: Some((Some(25), Some(30))),
            time: DateTime::from_timestamp(1_772_352_000, 0),
            occupied_min: Some(0),
        }
    }

    #[test]
    fn every_report_form_round_trips_by_length() {
        let full = report();
        assert_eq!(round_trip_up(Up::ChargingReport(full.clone())).len(), 47);
        let forms = [
            (45, ChargingReport { occupied_min: None, ..full.clone() }),
            (41, ChargingReport { time: None, occupied_min: None, ..full.clone() }),
            (39, ChargingReport { temperatures: None, time: None, occupied_min: None, ..full.clone() }),
            (
                31,
                ChargingReport {
                    period_energy: None,
                    peak_power: None,
                    electric: None,
                    temperatures: None,
                    time: None,
                    occupied_min: None,
                    ..full.clone()
                },
            ),
        ];
        for (len, m) in forms {
            assert_eq!(round_trip_up(Up::ChargingReport(m)).len(), len);
        }
        let body = round_trip_up(Up::ChargingReport(full.clone()));
        assert_eq!(&body[..9], &[9, 1, 0x2C, 0x01, 15, 0, 1, 0x08, 0x07]);
        assert_eq!(&body[35..39], &[0x98, 0x08, 0x32, 0x03]);
        let gap = ChargingReport { peak_power: None, ..full };
        assert_eq!(
            Up::ChargingReport(gap).encode(PHYS, 0),
            Err(EncodeError::Gap { field: "voltage and current" })
        );
    }

    #[test]
    fn start_reply_round_trip() {
        let body = round_trip_up(Up::StartStopReply(StartStopReply {
            result: 5,
            order: OrderNo::default(),
            port: 0xFF,
            pending: 0b11,
        }));
        assert_eq!((body[0], body[17], &body[18..]), (5, 0xFF, &[3, 0][..]));
    }
}
