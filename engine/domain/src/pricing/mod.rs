//! What a charge costs: pricing terms fixed when a charge starts, the meter
//! that accrues what the charge used, and the bill.
//!
//! Car charges are priced by energy and time of use (the station's tariff).
//! E-bike charges are priced per time, per energy, or by power tier: bands
//! of measured power, each with its own hourly price. A station adds a
//! service fee and a minimum charge; a prepaid order caps what is charged
//! and refunds the rest. Terms are copied into the session at start, so a
//! plan edited later never reprices a running charge.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::tariff::TouPrices;
use vocab::TariffId;

mod bill;
mod meter;
mod terms;

pub use bill::{Bill, BillLine, Reconciliation};
pub use meter::{Meter, Reading};
pub use terms::{Discount, Limit, Terms};

pub type PlanId = i64;

/// An hourly price for power up to `up_to_w` (from the previous tier's
/// bound, exclusive).
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub up_to_w: Decimal,
    pub per_hour: Decimal,
}

/// How a charge is priced.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pricing {
    /// Energy plus service fee per kWh, by time-of-use period.
    TimeOfUse {
        tariff_id: TariffId,
        #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
        tou: TouPrices,
    },
    /// Per hour, billed per started unit of `unit_minutes`.
    Time { per_hour: Decimal, unit_minutes: u32 },
    /// Per kWh.
    Energy { per_kwh: Decimal },
    /// Per hour by the band the measured power falls in. The band changes
    /// once the power has stayed in another band for `switch_after_s`.
    /// Power above the top band is refused by the pile (overload).
    PowerTiers { tiers: Vec<Tier>, unit_minutes: u32, switch_after_s: u32 },
}

/// A named price plan drivers choose from when they start an e-bike charge.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePlan {
    pub id: PlanId,
    #[serde(default = "vocab::default_operator")]
    pub operator_id: vocab::OperatorId,
    pub name: String,
    pub pricing: Pricing,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PricingError {
    #[error("{0} must not be negative")]
    Negative(&'static str),
    #[error("{0} must be above zero")]
    NotPositive(&'static str),
    #[error("{0} has more than 4 decimal places")]
    TooPrecise(&'static str),
    #[error("{0} must be at most {1}")]
    TooLarge(&'static str, u32),
    #[error("power tiers must rise: tier {0} does not end above the one before")]
    TiersNotRising(usize),
    #[error("a tier plan needs at least one tier")]
    NoTiers,
    #[error("unit_minutes must be 1 to 1440")]
    BadUnit,
}

fn money(name: &'static str, v: Decimal) -> Result<(), PricingError> {
    if v.is_sign_negative() && !v.is_zero() {
        return Err(PricingError::Negative(name));
    }
    if v.normalize().scale() > 4 {
        return Err(PricingError::TooPrecise(name));
    }
    if v > Decimal::from(MAX_PRICE) {
        return Err(PricingError::TooLarge(name, MAX_PRICE));
    }
    Ok(())
}

/// The dearest price per hour or per kWh a plan may set, yuan: with the
/// API's bounds on amounts, no product of the two can overflow.
pub const MAX_PRICE: u32 = 10_000;
/// The highest tier bound, W (a tier plan is for e-bike ports).
pub const MAX_TIER_W: u32 = 100_000;

impl Pricing {
    pub fn validate(&self) -> Result<(), PricingError> {
        let unit = |u: u32| if (1..=1440).contains(&u) { Ok(()) } else { Err(PricingError::BadUnit) };
        match self {
            Pricing::TimeOfUse { tou, .. } => {
                tou.validate().map_err(|_| PricingError::TooPrecise("a time-of-use price"))
            }
            Pricing::Time { per_hour, unit_minutes } => {
                money("per_hour", *per_hour)?;
                unit(*unit_minutes)
            }
            Pricing::Energy { per_kwh } => money("per_kwh", *per_kwh),
            Pricing::PowerTiers { tiers, unit_minutes, .. } => {
                if tiers.is_empty() {
                    return Err(PricingError::NoTiers);
                }
                let mut floor = Decimal::ZERO;
                for (i, t) in tiers.iter().enumerate() {
                    money("per_hour", t.per_hour)?;
                    if t.up_to_w <= floor {
                        return Err(PricingError::TiersNotRising(i + 1));
                    }
                    if t.up_to_w > Decimal::from(MAX_TIER_W) {
                        return Err(PricingError::TooLarge("up_to_w", MAX_TIER_W));
                    }
                    floor = t.up_to_w;
                }
                unit(*unit_minutes)
            }
        }
    }

    /// The tier (0-based) power falls in; power above the top is the top.
    fn tier_of(tiers: &[Tier], power: Decimal) -> usize {
        tiers.iter().position(|t| power <= t.up_to_w).unwrap_or(tiers.len().saturating_sub(1))
    }
}

/// Money to the fen, the one rule for every amount anyone is charged,
/// paid or told: half a fen rounds away from zero, as on a till, never to
/// even (the default `round_dp`).
pub fn cents(d: Decimal) -> Decimal {
    round(d, 2)
}

fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

fn billed_seconds(seconds: u32, unit_minutes: u32) -> u32 {
    let unit = unit_minutes.max(1) * 60;
    seconds.div_ceil(unit) * unit
}

fn hourly(per_hour: Decimal, seconds: u32) -> Decimal {
    round(per_hour * Decimal::from(seconds) / Decimal::from(3600), 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use rust_decimal_macros::dec;
    use vocab::SessionId;

    fn terms(pricing: Pricing) -> Terms {
        Terms {
            pricing,
            plan_id: Some(1),
            prepaid: None,
            service_fee: Decimal::ZERO,
            minimum: Decimal::ZERO,
            utc_offset_minutes: 480,
            discount: None,
            payer: None,
            merchant_id: None,
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000 + s, 0).unwrap()
    }

    /// Feeds (elapsed s, power W, kWh) readings.
    fn meter(t: &Terms, readings: &[(u32, Decimal, Decimal)]) -> Meter {
        let mut m = Meter::default();
        for &(elapsed_s, power, kwh) in readings {
            m.read(&t.pricing, t.offset(), Reading { at: at(elapsed_s as i64), kwh, power, elapsed_s });
        }
        m
    }

    fn tiers() -> Pricing {
        Pricing::PowerTiers {
            tiers: vec![
                Tier { up_to_w: dec!(200), per_hour: dec!(0.50) },
                Tier { up_to_w: dec!(400), per_hour: dec!(0.80) },
                Tier { up_to_w: dec!(600), per_hour: dec!(1.20) },
            ],
            unit_minutes: 1,
            switch_after_s: 120,
        }
    }

    #[test]
    fn time_is_billed_per_started_unit_and_unused_prepaid_is_refunded() {
        let mut t = terms(Pricing::Time { per_hour: dec!(1.00), unit_minutes: 15 });
        t.prepaid = Some(dec!(4.00));
        assert_eq!(t.limit(), Limit { seconds: Some(4 * 3600), kwh: None });
        let m = meter(&t, &[(3700, dec!(180), dec!(0.19))]);
        let bill = t.bill(&SessionId("s".into()), &m);
        // 3700 s is 5 started quarter hours: 4500 s at 1.00/h = 1.25.
        assert_eq!(
            bill.lines,
            vec![BillLine::Time {
                seconds: 3700,
                billed_seconds: 4500,
                per_hour: dec!(1.00),
                amount: dec!(1.25)
            }]
        );
        assert_eq!(bill.total, dec!(1.25));
        assert_eq!(bill.refund, dec!(2.75));
    }

    #[test]
    fn energy_is_billed_per_kwh_with_the_station_fee() {
        let mut t = terms(Pricing::Energy { per_kwh: dec!(1.2) });
        t.prepaid = Some(dec!(3.00));
        t.service_fee = dec!(0.10);
        // (3.00 − 0.10) / 1.2 = 2.41666… → 2.41 kWh.
        assert_eq!(t.limit(), Limit { seconds: None, kwh: Some(dec!(2.41)) });
        let m = meter(&t, &[(600, dec!(300), dec!(1.234))]);
        let bill = t.bill(&SessionId("s".into()), &m);
        // 1.234 × 1.2 = 1.4808, + 0.10 = 1.5808 → 1.58; refund 1.42.
        assert_eq!(bill.total, dec!(1.58));
        assert_eq!(bill.refund, dec!(1.42));
        assert_eq!(bill.service_amount, dec!(0.10));
    }

    #[test]
    fn a_tier_changes_once_power_stays_in_another_band_past_the_window() {
        let t = terms(tiers());
        let m = meter(
            &t,
            &[
                (300, dec!(150), dec!(0.0125)),
                (600, dec!(150), dec!(0.025)),
                (900, dec!(350), dec!(0.054)), // 300 s at tier 1, then tier 2
                (1200, dec!(350), dec!(0.083)),
                (1500, dec!(180), dec!(0.098)), // 300 s at tier 2, then tier 1
                (1530, dec!(180), dec!(0.1)),
            ],
        );
        assert_eq!(m.tier_seconds, vec![930, 600, 0]);
        let bill = t.bill(&SessionId("s".into()), &m);
        // 1530 s is 26 started minutes: the extra 30 s go to tier 1, in force
        // at the end. Tier 1: 960 s × 0.50/h = 0.1333; tier 2: 600 s × 0.80/h = 0.1333.
        assert_eq!(
            bill.lines,
            vec![
                BillLine::Tier {
                    tier: 1,
                    from_w: dec!(0),
                    to_w: dec!(200),
                    seconds: 960,
                    per_hour: dec!(0.50),
                    amount: dec!(0.1333)
                },
                BillLine::Tier {
                    tier: 2,
                    from_w: dec!(200),
                    to_w: dec!(400),
                    seconds: 600,
                    per_hour: dec!(0.80),
                    amount: dec!(0.1333)
                },
            ]
        );
        assert_eq!(bill.total, dec!(0.27));
    }

    #[test]
    fn a_short_power_blip_does_not_change_the_tier() {
        let t = terms(tiers());
        let m = meter(&t, &[(300, dec!(150), dec!(0)), (330, dec!(350), dec!(0)), (360, dec!(150), dec!(0))]);
        assert_eq!(m.tier, Some(0));
        assert_eq!(m.tier_seconds, vec![360, 0, 0]);
        assert_eq!(m.pending, None);
    }

    #[test]
    fn power_above_the_top_tier_is_priced_at_the_top() {
        let t = terms(tiers());
        let m = meter(&t, &[(60, dec!(900), dec!(0))]);
        assert_eq!(m.tier, Some(2));
    }

    #[test]
    fn a_class_tariff_bills_the_difference_as_discount_and_a_percentage_its_share() {
        let list = TouPrices::flat(dec!(1.0), dec!(0.5));
        let mut t = terms(Pricing::TimeOfUse { tariff_id: 1, tou: list });
        t.service_fee = dec!(0.20);
        let m = meter(&t, &[(0, dec!(0), dec!(0)), (3600, dec!(7000), dec!(10))]);
        t.discount = Some(Discount {
            rule_id: 4,
            percent: dec!(0),
            tariff: Some((2, TouPrices::flat(dec!(0.9), dec!(0.3)))),
        });
        let bill = t.bill(&SessionId("s".into()), &m);
        // 10 kWh: 15.00 at list, 12.00 at the class's tariff; the fee is the same.
        assert_eq!((bill.list_total, bill.discount, bill.total), (dec!(15.20), dec!(3.00), dec!(12.20)));
        assert!(bill.lines.contains(&BillLine::Discount {
            rule_id: 4,
            percent: None,
            tariff_id: Some(2),
            amount: dec!(-3.00)
        }));
        t.discount = Some(Discount { rule_id: 5, percent: dec!(25), tariff: None });
        let bill = t.bill(&SessionId("s".into()), &m);
        assert_eq!((bill.list_total, bill.discount, bill.total), (dec!(15.20), dec!(3.80), dec!(11.40)));
        // A class tariff dearer than the list price is no discount, and no surcharge.
        t.discount = Some(Discount {
            rule_id: 6,
            percent: dec!(0),
            tariff: Some((3, TouPrices::flat(dec!(2), dec!(1)))),
        });
        assert_eq!(t.bill(&SessionId("s".into()), &m).total, dec!(15.20));
    }

    #[test]
    fn a_small_charge_pays_the_minimum_and_an_empty_one_nothing() {
        let mut t = terms(Pricing::Time { per_hour: dec!(0.50), unit_minutes: 60 });
        t.minimum = dec!(1.00);
        t.service_fee = dec!(0.20);
        let bill = t.bill(&SessionId("s".into()), &meter(&t, &[(600, dec!(100), dec!(0.02))]));
        // 1 h × 0.50 + 0.20 = 0.70, raised to 1.00.
        assert_eq!(bill.lines.last(), Some(&BillLine::Minimum { amount: dec!(0.30) }));
        assert_eq!(bill.total, dec!(1.00));
        let empty = t.bill(&SessionId("s".into()), &Meter::default());
        assert!(empty.lines.is_empty());
        assert_eq!(empty.total, dec!(0));
    }

    #[test]
    fn money_rounds_half_a_fen_away_from_zero() {
        assert_eq!(cents(dec!(0.125)), dec!(0.13), "not to even (0.12)");
        assert_eq!(cents(dec!(0.135)), dec!(0.14));
        assert_eq!(cents(dec!(-0.125)), dec!(-0.13));
        assert_eq!(cents(dec!(0.1249)), dec!(0.12));
    }

    #[test]
    fn a_prepaid_amount_that_only_covers_the_fee_buys_nothing() {
        let mut t = terms(Pricing::Time { per_hour: dec!(2.00), unit_minutes: 1 });
        t.service_fee = dec!(0.50);
        t.prepaid = Some(dec!(0.50));
        assert_eq!(t.limit().seconds, Some(0));
        assert!(t.buys_nothing(), "at the fee");
        t.prepaid = Some(dec!(0.30));
        assert!(t.buys_nothing(), "below the fee");
        t.prepaid = Some(dec!(0.51));
        assert!(!t.buys_nothing(), "a fen above the fee buys 18 s");
        let mut e = terms(Pricing::Energy { per_kwh: dec!(2) });
        e.service_fee = dec!(0.50);
        e.prepaid = Some(dec!(0.51));
        assert!(e.buys_nothing(), "0.005 kWh rounds down to nothing");
        e.prepaid = None;
        assert!(!e.buys_nothing(), "no prepaid amount: no limit was asked for");
    }

    #[test]
    fn a_discount_makes_the_prepaid_amount_buy_more() {
        let mut t = terms(Pricing::Time { per_hour: dec!(2.00), unit_minutes: 1 });
        t.prepaid = Some(dec!(1.00));
        assert_eq!(t.limit().seconds, Some(1800), "list price: half an hour");
        t.discount = Some(Discount { rule_id: 1, percent: dec!(50), tariff: None });
        assert_eq!(t.limit().seconds, Some(3600), "half price: an hour");
        // And the hour it buys is billed at what was prepaid, not more.
        let bill = t.bill(&SessionId("s".into()), &meter(&t, &[(3600, dec!(150), dec!(0.15))]));
        assert_eq!((bill.total, bill.refund), (dec!(1.00), dec!(0)));
        t.discount = Some(Discount { rule_id: 1, percent: dec!(100), tariff: None });
        assert_eq!(t.limit(), Limit::default(), "free: no limit");
        let mut tiered = terms(tiers());
        tiered.prepaid = Some(dec!(1.00));
        tiered.discount = Some(Discount { rule_id: 1, percent: dec!(20), tariff: None });
        // 1.00 buys 1.25 at list price: 9000 s at the cheapest 0.50/h.
        assert_eq!(tiered.limit().seconds, Some(9000));
        let m = Meter { tier_seconds: vec![3600, 0, 0], tier: Some(1), ..Meter::default() };
        // Spent 0.50 of 1.25; 0.75 left at 0.80/h is 3375 s.
        assert_eq!(tiered.seconds_left(&m), Some(3375));
    }

    #[test]
    fn nothing_above_the_prepaid_amount_is_charged() {
        let mut t = terms(Pricing::Energy { per_kwh: dec!(2) });
        t.prepaid = Some(dec!(1.00));
        let bill = t.bill(&SessionId("s".into()), &meter(&t, &[(600, dec!(300), dec!(0.6))]));
        assert_eq!(bill.lines.last(), Some(&BillLine::PrepaidCap { amount: dec!(-0.20) }));
        assert_eq!(bill.total, dec!(1.00));
        assert_eq!(bill.refund, dec!(0));
    }

    #[test]
    fn a_tier_plan_is_limited_at_its_cheapest_tier_and_recomputed_at_a_dearer_one() {
        let mut t = terms(tiers());
        t.prepaid = Some(dec!(1.00));
        assert_eq!(t.limit().seconds, Some(7200));
        let mut m = Meter { tier_seconds: vec![900, 600, 0], tier: Some(1), ..Meter::default() };
        // Spent 900 s × 0.50/h + 600 s × 0.80/h = 0.125 + 0.1333 = 0.2583;
        // 0.7417 left at 0.80/h is 3337.65 s.
        assert_eq!(t.seconds_left(&m), Some(3337));
        m.tier = Some(0);
        assert_eq!(t.seconds_left(&m), Some(5340));
    }

    #[test]
    fn invalid_plans_are_refused() {
        let bad = Pricing::PowerTiers {
            tiers: vec![
                Tier { up_to_w: dec!(400), per_hour: dec!(1) },
                Tier { up_to_w: dec!(200), per_hour: dec!(1) },
            ],
            unit_minutes: 1,
            switch_after_s: 60,
        };
        assert_eq!(bad.validate(), Err(PricingError::TiersNotRising(2)));
        assert_eq!(
            Pricing::Time { per_hour: dec!(-1), unit_minutes: 1 }.validate(),
            Err(PricingError::Negative("per_hour"))
        );
        assert_eq!(
            Pricing::Time { per_hour: dec!(1), unit_minutes: 0 }.validate(),
            Err(PricingError::BadUnit)
        );
        assert!(tiers().validate().is_ok());
    }
}
