//! The settlement (0x03 up, spec §3.3): the bill of a finished charge. The
//! pile keeps it in EEPROM and resends it every 30 minutes until the
//! platform answers with an `Ack` (0x03 down, 1 byte), whatever the order.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::fields::{DecodeError, Dny, EncodeError, OrderNo, Reader, Scale, Writer};
use crate::body::Body;

/// Who started the charge ("在线/离线启动/验证码").
pub mod origin {
    /// A card at the pile while it was offline: the order is binary (date,
    /// card, device, port + 30).
    pub const OFFLINE_CARD: u8 = 0;
    /// The platform's 0x82: the order is the platform's.
    pub const ONLINE: u8 = 1;
    /// A verification code typed at the pile: the order is binary.
    pub const CODE: u8 = 3;
}

/// 0x03 up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Seconds charged.
    pub elapsed: u16,
    /// The highest power of the charge, watts; 0.1 W on the wire.
    pub max_power: Decimal,
    /// kWh; 0.01 kWh on the wire.
    pub energy: Decimal,
    /// Wire port (0 = port 1).
    pub port: u8,
    /// One of `origin`.
    pub origin: u8,
    /// The card's UID (offline starts) or the code; zeros when online.
    pub card: [u8; 4],
    /// See `codes::stop_reason`.
    pub stop_reason: u8,
    pub order: OrderNo,
    /// The highest power in the first 5 minutes.
    pub second_max_power: Option<Decimal>,
    /// The pile's clock (V8.0; debugging only, says the spec).
    pub time: Option<DateTime<Utc>>,
    /// Minutes occupied after full (V8.5, cabinets only).
    pub occupied_min: Option<u16>,
}

impl Settlement {
    /// Whether the platform issued the order (else the pile made it up).
    pub fn started_online(&self) -> bool {
        self.origin == origin::ONLINE
    }

    pub fn card_hex(&self) -> String {
        self.card.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl Body<Dny> for Settlement {
    /// Without the second max power, which the oldest firmware lacks; the
    /// spec's own sample is 31 bytes, V8.0 35 and V8.5 37.
    const LEN: usize = 29;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (elapsed, max_power, energy) = (r.u16()?, r.dec_u16(Scale::Power)?, r.dec_u16(Scale::Energy)?);
        let (port, origin, card, stop_reason, order) = (r.u8()?, r.u8()?, r.bytes()?, r.u8()?, r.order()?);
        let second_max_power = (r.left() >= 2).then(|| r.dec_u16(Scale::Power)).transpose()?;
        let time = (second_max_power.is_some() && r.left() >= 4).then(|| r.time()).transpose()?;
        let occupied_min = (time.is_some() && r.left() >= 2).then(|| r.u16()).transpose()?;
        Ok(Settlement {
            elapsed,
            max_power,
            energy,
            port,
            origin,
            card,
            stop_reason,
            order,
            second_max_power,
            time,
            occupied_min,
        })
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        match (self.second_max_power.is_some(), self.time.is_some(), self.occupied_min.is_some()) {
            (false, true, _) => return Err(EncodeError::Gap { field: "time" }),
            (_, false, true) => return Err(EncodeError::Gap { field: "occupied" }),
            _ => {}
        }
        w.u16(self.elapsed);
        w.dec_u16(self.max_power, Scale::Power, "max power")?;
        w.dec_u16(self.energy, Scale::Energy, "energy")?;
        w.u8(self.port);
        w.u8(self.origin);
        w.bytes(&self.card);
        w.u8(self.stop_reason);
        w.order(&self.order);
        if let Some(p) = self.second_max_power {
            w.dec_u16(p, Scale::Power, "second max power")?;
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
            + self.second_max_power.map_or(0, |_| 2)
            + self.time.map_or(0, |_| 4)
            + self.occupied_min.map_or(0, |_| 2)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::dny::testing::{hex, round_trip_up, sample, wire, PHYS};
    use crate::dny::{codes, Ack, Down, Up};

    fn spec_settlement() -> Settlement {
        Settlement {
            elapsed: 3600,
            max_power: dec!(100.0),
            energy: dec!(0.48),
            port: 1,
            origin: origin::ONLINE,
            card: [0; 4],
            stop_reason: 0x01,
            order: OrderNo([0x20, 0x19, 0x09, 0x01, 0x18, 0, 0, 0x13, 0, 0x30, 0x38, 1, 2, 3, 4, 5]),
            second_max_power: Some(dec!(100.0)),
            time: None,
            occupied_min: None,
        }
    }

    #[test]
    fn spec_sample_decodes_at_31_bytes() {
        // §3.3: 3600 s, max 100.0 W, 0.48 kWh, wire port 1 (port 2), online,
        // no card, stopped full, the order, second max 100.0 W.
        let (frame, up) = sample::<Up>(
            "44 4E 59 28 00 3B 37 AB 04 01 00 03 10 0E E8 03 30 00 01 01 00 00 00 00 01 \
             20 19 09 01 18 00 00 13 00 30 38 01 02 03 04 05 E8 03 44 05",
        );
        assert_eq!(frame.data.len(), 31);
        assert_eq!(up, Up::Settlement(spec_settlement()));
        assert_eq!(codes::stop_reason::text(0x01), "full");
    }

    #[test]
    fn spec_ack_is_one_byte_and_ours_matches_it() {
        const ACK: &str = "44 4E 59 0A 00 3B 37 AB 04 01 00 03 00 1A 02";
        let (frame, down) = sample::<Down>(ACK);
        assert_eq!(down, Down::SettlementAck(Ack::OK));
        assert_eq!(wire(&Down::SettlementAck(Ack::OK).encode(frame.phys, frame.msg).unwrap()), hex(ACK));
    }

    #[test]
    fn every_form_round_trips_by_length() {
        let full = Settlement {
            origin: origin::OFFLINE_CARD,
            card: [0x7A, 0x8D, 0x05, 0xDD],
            time: DateTime::from_timestamp(1_772_352_000, 0),
            occupied_min: Some(3),
            ..spec_settlement()
        };
        assert_eq!(full.card_hex(), "7A8D05DD");
        assert!(!full.started_online());
        let body = round_trip_up(Up::Settlement(full.clone()));
        assert_eq!(body.len(), 37);
        assert_eq!(&body[6..13], &[1, 0, 0x7A, 0x8D, 0x05, 0xDD, 1]);
        assert_eq!(&body[31..35], &1_772_352_000u32.to_le_bytes());
        let v80 = Settlement { occupied_min: None, ..full.clone() };
        assert_eq!(round_trip_up(Up::Settlement(v80)).len(), 35);
        let oldest = Settlement { second_max_power: None, time: None, occupied_min: None, ..full.clone() };
        assert_eq!(round_trip_up(Up::Settlement(oldest)).len(), 29);
        let gap = Settlement { second_max_power: None, ..full };
        assert!(matches!(Up::Settlement(gap).encode(PHYS, 0), Err(EncodeError::Gap { .. })));
    }
}
