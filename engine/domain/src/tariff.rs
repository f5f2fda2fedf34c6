//! Time-of-use tariffs and the cost of a charge.
//!
//! A day is 48 half-hour slots, each in one of four periods (sharp, peak,
//! flat, valley); each period has an energy price and a service fee per kWh.
//! Metered energy is attributed to periods by the station's local time;
//! `pricing` turns it into a bill.

use chrono::{DateTime, Duration, FixedOffset, Timelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use vocab::TariffId;

pub const SLOTS: usize = 48;
const SLOT_SECONDS: i64 = 1800;

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Sharp = 0,
    Peak = 1,
    Flat = 2,
    Valley = 3,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::Sharp, Period::Peak, Period::Flat, Period::Valley];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: u8) -> Option<Period> {
        Period::ALL.get(i as usize).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Sharp => "sharp",
            Period::Peak => "peak",
            Period::Flat => "flat",
            Period::Valley => "valley",
        }
    }
}

/// Prices of one period, yuan per kWh.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodPrice {
    pub energy: Decimal,
    pub service: Decimal,
}

/// The pricing content of a tariff: what each period costs and which period
/// each half-hour of the local day is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TouPrices {
    /// Indexed by `Period::index`.
    pub prices: [PeriodPrice; 4],
    /// Slot 0 is 00:00–00:30 local time.
    #[serde(with = "slots_serde")]
    pub slots: [Period; SLOTS],
}

/// serde knows arrays up to 32 long; a day has 48 slots.
mod slots_serde {
    use super::{Period, SLOTS};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(slots: &[Period; SLOTS], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(slots.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Period; SLOTS], D::Error> {
        let v = Vec::<Period>::deserialize(d)?;
        let n = v.len();
        v.try_into().map_err(|_| D::Error::custom(format!("a day has {SLOTS} half-hour slots, got {n}")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    pub id: TariffId,
    #[serde(default = "vocab::default_operator")]
    pub operator_id: vocab::OperatorId,
    pub name: String,
    pub tou: TouPrices,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TariffError {
    #[error("{period} {which} price {value} is negative")]
    Negative { period: &'static str, which: &'static str, value: Decimal },
    #[error("{period} {which} price {value} has more than 5 decimal places (piles take 0.00001 yuan)")]
    TooPrecise { period: &'static str, which: &'static str, value: Decimal },
    #[error("{period} {which} price {value} is above 1000 yuan/kWh")]
    TooLarge { period: &'static str, which: &'static str, value: Decimal },
}

impl TouPrices {
    /// One price for the whole day: handy for flat-rate stations and tests.
    pub fn flat(energy: Decimal, service: Decimal) -> Self {
        TouPrices { prices: [PeriodPrice { energy, service }; 4], slots: [Period::Flat; SLOTS] }
    }

    pub fn price(&self, period: Period) -> PeriodPrice {
        self.prices[period.index()]
    }

    /// Checks prices fit what piles can display and bill.
    pub fn validate(&self) -> Result<(), TariffError> {
        for period in Period::ALL {
            let p = self.price(period);
            for (which, value) in [("energy", p.energy), ("service", p.service)] {
                let period = period.as_str();
                if value.is_sign_negative() && !value.is_zero() {
                    return Err(TariffError::Negative { period, which, value });
                }
                if value.normalize().scale() > 5 {
                    return Err(TariffError::TooPrecise { period, which, value });
                }
                if value > Decimal::from(1000) {
                    return Err(TariffError::TooLarge { period, which, value });
                }
            }
        }
        Ok(())
    }

    /// The period in force at `at`, in a station `offset` from UTC.
    pub fn period_at(&self, at: DateTime<Utc>, offset: FixedOffset) -> Period {
        let local = at.with_timezone(&offset);
        self.slots[(local.num_seconds_from_midnight() as i64 / SLOT_SECONDS) as usize]
    }
}

/// Energy metered in each tariff period, kWh, at full precision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodEnergy(pub [Decimal; 4]);

impl PeriodEnergy {
    pub fn kwh(&self, period: Period) -> Decimal {
        self.0[period.index()]
    }

    pub fn total(&self) -> Decimal {
        self.0.iter().sum()
    }

    /// Adds `kwh` drawn evenly between `from` and `to`, split across the
    /// half-hour slots the interval spans. Meter readings arrive every few
    /// seconds to minutes, so an even draw within one interval is as exact as
    /// the data allows.
    pub fn add(
        &mut self,
        tou: &TouPrices,
        offset: FixedOffset,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        kwh: Decimal,
    ) {
        let span = (to - from).num_microseconds().unwrap_or(0);
        if span <= 0 {
            self.0[tou.period_at(to, offset).index()] += kwh;
            return;
        }
        let span = Decimal::from(span);
        let mut assigned = Decimal::ZERO;
        let mut t = from;
        while t < to {
            let local = t.with_timezone(&offset);
            let into_slot = Duration::seconds(local.num_seconds_from_midnight() as i64 % SLOT_SECONDS)
                + Duration::nanoseconds(local.nanosecond() as i64 % 1_000_000_000);
            let end = (t + Duration::seconds(SLOT_SECONDS) - into_slot).min(to);
            let share = if end == to {
                kwh - assigned
            } else {
                kwh * Decimal::from((end - t).num_microseconds().unwrap_or(0)) / span
            };
            self.0[tou.period_at(t, offset).index()] += share;
            assigned += share;
            t = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Valley 00:00–08:00, flat 08:00–10:00, peak 10:00–12:00, sharp
    /// 12:00–14:00, flat for the rest of the day.
    fn tou() -> TouPrices {
        let mut slots = [Period::Flat; SLOTS];
        slots[..16].fill(Period::Valley);
        slots[20..24].fill(Period::Peak);
        slots[24..28].fill(Period::Sharp);
        TouPrices {
            prices: [
                PeriodPrice { energy: dec!(1.2), service: dec!(0.8) },
                PeriodPrice { energy: dec!(1.0), service: dec!(0.6) },
                PeriodPrice { energy: dec!(0.7), service: dec!(0.5) },
                PeriodPrice { energy: dec!(0.3), service: dec!(0.4) },
            ],
            slots,
        }
    }

    #[test]
    fn period_follows_local_time() {
        let t = tou();
        // 03:59 UTC is 11:59 in UTC+8: peak; a minute later it is sharp.
        assert_eq!(t.period_at(at("2026-03-01T03:59:00Z"), cst()), Period::Peak);
        assert_eq!(t.period_at(at("2026-03-01T04:00:00Z"), cst()), Period::Sharp);
        // 23:59 UTC is 07:59 next day local: valley.
        assert_eq!(t.period_at(at("2026-03-01T23:59:59Z"), cst()), Period::Valley);
    }

    #[test]
    fn interval_across_a_boundary_is_split_by_time() {
        let t = tou();
        let mut e = PeriodEnergy::default();
        // 11:50–12:10 local, 6 kWh drawn evenly: ten minutes on each side.
        e.add(&t, cst(), at("2026-03-01T03:50:00Z"), at("2026-03-01T04:10:00Z"), dec!(6));
        assert_eq!(e.kwh(Period::Peak), dec!(3));
        assert_eq!(e.kwh(Period::Sharp), dec!(3));
        assert_eq!(e.total(), dec!(6));
    }

    #[test]
    fn uneven_split_keeps_the_total_exact() {
        let t = tou();
        let mut e = PeriodEnergy::default();
        // 07:59:50 to 10:00:20 local: valley, flat, peak.
        e.add(&t, cst(), at("2026-02-28T23:59:50Z"), at("2026-03-01T02:00:20Z"), dec!(10.0001));
        assert_eq!(e.total(), dec!(10.0001));
        assert!(e.kwh(Period::Valley) > Decimal::ZERO);
        assert!(e.kwh(Period::Flat) > e.kwh(Period::Valley));
        assert!(e.kwh(Period::Peak) > Decimal::ZERO);
        assert_eq!(e.kwh(Period::Sharp), Decimal::ZERO);
    }

    #[test]
    fn instant_reading_goes_to_its_period() {
        let t = tou();
        let mut e = PeriodEnergy::default();
        let x = at("2026-03-01T04:30:00Z");
        e.add(&t, cst(), x, x, dec!(1.5));
        assert_eq!(e.kwh(Period::Sharp), dec!(1.5));
    }

    #[test]
    fn validate_rejects_bad_prices() {
        let mut t = TouPrices::flat(dec!(1), dec!(0.5));
        assert!(t.validate().is_ok());
        t.prices[1].energy = dec!(-0.1);
        assert!(matches!(t.validate(), Err(TariffError::Negative { .. })));
        t.prices[1].energy = dec!(0.123456);
        assert!(matches!(t.validate(), Err(TariffError::TooPrecise { .. })));
    }
}
