//! A charge from start to bill: start/stop (0x82 down, reply 0x82 up),
//! charging reports (0x06 up), adjusting a running charge (0x8A down, reply
//! `Ack` up) and the settlement (0x03 up, acked by 0x03 down).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::fields::{DecodeError, EncodeError, Reader, Scale, Writer};
use super::message::Body;

/// 0x82 down: start or stop a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartStop {
    /// One of the `FEE_*` constants.
    pub fee_mode: u8,
    /// The user's balance, yuan; fen on the wire.
    pub balance: Decimal,
    pub port: u8,
    /// `START` or `STOP`.
    pub command: u8,
    /// Seconds in time and tier mode, 0.01 kWh in energy mode; 0 = until
    /// full. Kept raw because its unit depends on `fee_mode`.
    pub limit: u16,
    /// Printable ASCII, at most 16 characters.
    pub order: String,
    /// Seconds.
    pub max_duration: u16,
    /// Watts; 0.1 W on the wire.
    pub overload_power: Decimal,
    /// Watts; below this for `full_hold` seconds the battery is full.
    pub full_power: Decimal,
    /// Seconds.
    pub full_hold: u8,
}

impl StartStop {
    pub const FEE_TIME: u8 = 0;
    pub const FEE_ENERGY: u8 = 1;
    pub const FEE_POWER_TIERS: u8 = 2;
    pub const STOP: u8 = 0;
    pub const START: u8 = 1;

    /// The energy limit in kWh, in energy mode with a limit set.
    pub fn limit_kwh(&self) -> Option<Decimal> {
        (self.fee_mode == Self::FEE_ENERGY && self.limit > 0)
            .then(|| Scale::Energy.from_wire(self.limit.into()))
    }

    /// The time limit in seconds, in time or tier mode with a limit set.
    pub fn limit_secs(&self) -> Option<u16> {
        (self.fee_mode != Self::FEE_ENERGY && self.limit > 0).then_some(self.limit)
    }
}

impl Body for StartStop {
    const LEN: usize = 32;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StartStop {
            fee_mode: r.u8()?,
            balance: r.dec_u32(Scale::Money)?,
            port: r.u8()?,
            command: r.u8()?,
            limit: r.u16()?,
            order: r.order()?,
            max_duration: r.u16()?,
            overload_power: r.dec_u16(Scale::Power)?,
            full_power: r.dec_u16(Scale::Power)?,
            full_hold: r.u8()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.fee_mode);
        w.dec_u32(self.balance, Scale::Money, "balance")?;
        w.u8(self.port);
        w.u8(self.command);
        w.u16(self.limit);
        w.order(&self.order, "order")?;
        w.u16(self.max_duration);
        w.dec_u16(self.overload_power, Scale::Power, "overload power")?;
        w.dec_u16(self.full_power, Scale::Power, "full power")?;
        w.u8(self.full_hold);
        Ok(())
    }
}

/// 0x82 up: the pile's answer to a start or stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartStopReply {
    pub port: u8,
    /// One of the `StartStopReply` result constants.
    pub result: u8,
    pub order: String,
}

impl StartStopReply {
    pub const OK: u8 = 0;
    pub const NOT_PLUGGED: u8 = 1;
    pub const BUSY: u8 = 2;
    pub const FAULT: u8 = 3;
    pub const OTHER: u8 = 4;
}

impl Body for StartStopReply {
    const LEN: usize = 18;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StartStopReply { port: r.u8()?, result: r.u8()?, order: r.order()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.port);
        w.u8(self.result);
        w.order(&self.order, "order")
    }
}

/// 0x06 up: a charging port's meter, every ~5 minutes and when it stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargingReport {
    pub port: u8,
    /// Port status, as in the heartbeat (`PortState`).
    pub status: u8,
    /// Seconds since the charge started.
    pub elapsed: u16,
    /// kWh; 0.01 kWh on the wire.
    pub energy: Decimal,
    /// Watts over the report's interval; 0.1 W on the wire.
    pub avg_power: Decimal,
    pub max_power: Decimal,
    pub min_power: Decimal,
    /// Volts; 0.1 V on the wire.
    pub voltage: Decimal,
    /// Amps; 0.01 A on the wire.
    pub current: Decimal,
    /// °C; u8 with a -65 °C offset on the wire.
    pub port_temp: i16,
    pub order: String,
}

impl Body for ChargingReport {
    const LEN: usize = 33;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChargingReport {
            port: r.u8()?,
            status: r.u8()?,
            elapsed: r.u16()?,
            energy: r.dec_u16(Scale::Energy)?,
            avg_power: r.dec_u16(Scale::Power)?,
            max_power: r.dec_u16(Scale::Power)?,
            min_power: r.dec_u16(Scale::Power)?,
            voltage: r.dec_u16(Scale::Volt)?,
            current: r.dec_u16(Scale::Amp)?,
            port_temp: r.temp()?,
            order: r.order()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.port);
        w.u8(self.status);
        w.u16(self.elapsed);
        w.dec_u16(self.energy, Scale::Energy, "energy")?;
        w.dec_u16(self.avg_power, Scale::Power, "average power")?;
        w.dec_u16(self.max_power, Scale::Power, "max power")?;
        w.dec_u16(self.min_power, Scale::Power, "min power")?;
        w.dec_u16(self.voltage, Scale::Volt, "voltage")?;
        w.dec_u16(self.current, Scale::Amp, "current")?;
        w.temp(self.port_temp, "port temperature")?;
        w.order(&self.order, "order")
    }
}

/// 0x03 up: the bill of a finished charge. The pile resends it until the
/// platform acks it with a `SettlementAck` carrying the same order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub port: u8,
    /// Seconds charged.
    pub elapsed: u16,
    /// kWh; 0.01 kWh on the wire.
    pub energy: Decimal,
    /// Watts; 0.1 W on the wire.
    pub max_power: Decimal,
    pub order: String,
    /// See `stop_reason_text`.
    pub stop_reason: u8,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
}

impl Settlement {
    pub const FULL: u8 = 0x01;
    pub const MAX_TIME: u8 = 0x02;
    pub const PRESET_TIME: u8 = 0x03;
    pub const PRESET_ENERGY: u8 = 0x04;
    pub const UNPLUGGED: u8 = 0x05;
    pub const OVERLOAD: u8 = 0x06;
    pub const SERVER_STOP: u8 = 0x07;
    pub const DYNAMIC_OVERLOAD: u8 = 0x08;
    pub const POWER_TOO_LOW: u8 = 0x09;
    pub const AMBIENT_OVER_TEMPERATURE: u8 = 0x0A;
    pub const PORT_OVER_TEMPERATURE: u8 = 0x0B;
    pub const OVER_CURRENT: u8 = 0x0C;
    pub const POWER_CUT: u8 = 0x0E;
    pub const OVER_VOLTAGE: u8 = 0x1A;
    pub const UNDER_VOLTAGE: u8 = 0x1B;
    pub const LOW_POWER: u8 = 0x1C;
}

impl Body for Settlement {
    const LEN: usize = 32;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Settlement {
            port: r.u8()?,
            elapsed: r.u16()?,
            energy: r.dec_u16(Scale::Energy)?,
            max_power: r.dec_u16(Scale::Power)?,
            order: r.order()?,
            stop_reason: r.u8()?,
            started: r.time()?,
            ended: r.time()?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.port);
        w.u16(self.elapsed);
        w.dec_u16(self.energy, Scale::Energy, "energy")?;
        w.dec_u16(self.max_power, Scale::Power, "max power")?;
        w.order(&self.order, "order")?;
        w.u8(self.stop_reason);
        w.time(self.started, "started")?;
        w.time(self.ended, "ended")
    }
}

/// What a settlement's stop reason means.
pub fn stop_reason_text(code: u8) -> &'static str {
    match code {
        0x01 => "full",
        0x02 => "max time",
        0x03 => "preset time",
        0x04 => "preset energy",
        0x05 => "unplugged",
        0x06 => "overload",
        0x07 => "server stop",
        0x08 => "dynamic overload",
        0x09 => "power too low",
        0x0A => "ambient over-temperature",
        0x0B => "port over-temperature",
        0x0C => "over-current",
        0x0E => "power cut",
        0x1A => "over-voltage",
        0x1B => "under-voltage",
        0x1C => "low power",
        _ => "unknown",
    }
}

/// 0x03 down: the platform has the bill; the pile stops resending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementAck {
    pub port: u8,
    pub order: String,
    /// 0.
    pub result: u8,
}

impl Body for SettlementAck {
    const LEN: usize = 18;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SettlementAck { port: r.u8()?, order: r.order()?, result: r.u8()? })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.port);
        w.order(&self.order, "order")?;
        w.u8(self.result);
        Ok(())
    }
}

/// 0x8A down: change a running charge. The pile answers with an `Ack`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjust {
    pub port: u8,
    pub order: String,
    /// Seconds, replacing the preset time; 0 = unchanged.
    pub duration: u16,
    /// Watts; 0.1 W on the wire; 0 = unchanged.
    pub power_limit: Decimal,
}

impl Body for Adjust {
    const LEN: usize = 21;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Adjust {
            port: r.u8()?,
            order: r.order()?,
            duration: r.u16()?,
            power_limit: r.dec_u16(Scale::Power)?,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.u8(self.port);
        w.order(&self.order, "order")?;
        w.u16(self.duration);
        w.dec_u16(self.power_limit, Scale::Power, "power limit")
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::message::testing::{at, order, round_trip_down, round_trip_up, PHYS};
    use crate::dny::{Down, EncodeError, Up};

    fn start() -> StartStop {
        StartStop {
            fee_mode: StartStop::FEE_TIME,
            balance: dec!(5.00),
            port: 3,
            command: StartStop::START,
            limit: 600,
            order: order(),
            max_duration: 36000,
            overload_power: dec!(600),
            full_power: dec!(30.5),
            full_hold: 60,
        }
    }

    #[test]
    fn start_stop_round_trip_and_layout() {
        let body = round_trip_down(Down::StartStop(start()));
        assert_eq!(body.len(), 32);
        assert_eq!(&body[..9], &[0, 0xF4, 0x01, 0, 0, 3, 1, 0x58, 0x02]); // 500 fen, port 3, start, 600 s
        assert_eq!(&body[9..25], order().as_bytes());
        assert_eq!(&body[25..], &[0xA0, 0x8C, 0x70, 0x17, 0x31, 0x01, 60]); // 36000, 6000, 305, 60
        let stop = StartStop { command: StartStop::STOP, order: "X".into(), ..start() };
        let body = round_trip_down(Down::StartStop(stop));
        assert_eq!(&body[9..11], &[b'X', 0]);
    }

    #[test]
    fn start_stop_limits_by_fee_mode() {
        assert_eq!(start().limit_secs(), Some(600));
        assert_eq!(start().limit_kwh(), None);
        let energy = StartStop { fee_mode: StartStop::FEE_ENERGY, limit: 150, ..start() };
        assert_eq!((energy.limit_secs(), energy.limit_kwh()), (None, Some(dec!(1.50))));
        let full = StartStop { fee_mode: StartStop::FEE_POWER_TIERS, limit: 0, ..start() };
        assert_eq!((full.limit_secs(), full.limit_kwh()), (None, None));
    }

    #[test]
    fn start_stop_reply_round_trip() {
        let body = round_trip_up(Up::StartStopReply(StartStopReply {
            port: 3,
            result: StartStopReply::BUSY,
            order: order(),
        }));
        assert_eq!(&body[..2], &[3, 2]);
    }

    #[test]
    fn charging_report_round_trip_and_layout() {
        let body = round_trip_up(Up::ChargingReport(ChargingReport {
            port: 10,
            status: 1,
            elapsed: 300,
            energy: dec!(0.15),
            avg_power: dec!(180),
            max_power: dec!(181.2),
            min_power: dec!(179.9),
            voltage: dec!(220.0),
            current: dec!(0.82),
            port_temp: 30,
            order: order(),
        }));
        assert_eq!(body.len(), 33);
        assert_eq!(
            &body[..17],
            &[10, 1, 0x2C, 0x01, 15, 0, 0x08, 0x07, 0x14, 0x07, 0x07, 0x07, 0x98, 0x08, 82, 0, 95]
        );
    }

    #[test]
    fn settlement_round_trip_and_layout() {
        let body = round_trip_up(Up::Settlement(Settlement {
            port: 3,
            elapsed: 600,
            energy: dec!(0.02),
            max_power: dec!(150),
            order: order(),
            stop_reason: Settlement::PRESET_TIME,
            started: at(0),
            ended: at(600),
        }));
        assert_eq!(body.len(), 32);
        assert_eq!(&body[..7], &[3, 0x58, 0x02, 2, 0, 0xDC, 0x05]);
        assert_eq!(body[23], 3);
        assert_eq!(&body[24..28], &1_772_352_000u32.to_le_bytes());
        assert_eq!(&body[28..], &1_772_352_600u32.to_le_bytes());
    }

    #[test]
    fn stop_reasons() {
        let known = [
            (0x01, "full"),
            (0x02, "max time"),
            (0x03, "preset time"),
            (0x04, "preset energy"),
            (0x05, "unplugged"),
            (0x06, "overload"),
            (0x07, "server stop"),
            (0x08, "dynamic overload"),
            (0x09, "power too low"),
            (0x0A, "ambient over-temperature"),
            (0x0B, "port over-temperature"),
            (0x0C, "over-current"),
            (0x0E, "power cut"),
            (0x1A, "over-voltage"),
            (0x1B, "under-voltage"),
            (0x1C, "low power"),
        ];
        for (code, text) in known {
            assert_eq!(stop_reason_text(code), text);
        }
        for code in [0x00, 0x0D, 0x0F, 0x19, 0x1D, 0xFF] {
            assert_eq!(stop_reason_text(code), "unknown");
        }
    }

    #[test]
    fn settlement_ack_and_adjust_round_trip() {
        let body = round_trip_down(Down::SettlementAck(SettlementAck { port: 3, order: order(), result: 0 }));
        assert_eq!((body[0], body[17]), (3, 0));
        let body = round_trip_down(Down::Adjust(Adjust {
            port: 3,
            order: order(),
            duration: 1200,
            power_limit: dec!(100.5),
        }));
        assert_eq!(&body[17..], &[0xB0, 0x04, 0xED, 0x03]);
        round_trip_down(Down::Adjust(Adjust {
            port: 1,
            order: String::new(),
            duration: 0,
            power_limit: dec!(0),
        }));
    }

    #[test]
    fn values_the_wire_cannot_carry_are_encode_errors() {
        let long_order = Down::StartStop(StartStop { order: "0123456789ABCDEF0".into(), ..start() });
        assert!(matches!(long_order.encode(PHYS, 0), Err(EncodeError::BadText { .. })));
        let fine_power = Down::StartStop(StartStop { overload_power: dec!(600.05), ..start() });
        assert!(matches!(fine_power.encode(PHYS, 0), Err(EncodeError::TooPrecise { .. })));
        let big_power = Down::StartStop(StartStop { overload_power: dec!(6553.6), ..start() });
        assert!(matches!(big_power.encode(PHYS, 0), Err(EncodeError::OutOfRange { .. })));
        let settlement = Settlement {
            port: 1,
            elapsed: 0,
            energy: dec!(0.005),
            max_power: dec!(0),
            order: order(),
            stop_reason: 1,
            started: at(0),
            ended: at(0),
        };
        assert!(Up::Settlement(settlement.clone()).encode(PHYS, 0).is_err());
        let before_1970 = chrono::DateTime::from_timestamp(-5, 0).unwrap();
        let early = Settlement { energy: dec!(0), started: before_1970, ..settlement };
        assert!(matches!(Up::Settlement(early).encode(PHYS, 0), Err(EncodeError::BadTime { .. })));
    }
}
