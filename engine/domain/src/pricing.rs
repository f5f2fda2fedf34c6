//! What a charge costs: pricing terms fixed when a charge starts, the meter
//! that accrues what the charge used, and the bill.
//!
//! Car charges are priced by energy and time of use (the station's tariff).
//! E-bike charges are priced per time, per energy, or by power tier: bands
//! of measured power, each with its own hourly price. A station adds a
//! service fee and a minimum charge; a prepaid order caps what is charged
//! and refunds the rest. Terms are copied into the session at start, so a
//! plan edited later never reprices a running charge.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::payer::Payer;
use crate::tariff::{Period, PeriodEnergy, TouPrices};
use vocab::{MerchantId, SessionId, TariffId};

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

/// What the pile is told to stop at, from a prepaid amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Limit {
    pub seconds: Option<u32>,
    pub kwh: Option<Decimal>,
}

/// Everything a session is charged under, fixed when it starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub pricing: Pricing,
    pub plan_id: Option<PlanId>,
    /// Paid up front, yuan: the charge stops when it is used up and the rest
    /// is refunded.
    pub prepaid: Option<Decimal>,
    /// Per charge, yuan (station setting).
    pub service_fee: Decimal,
    /// The least a charge that delivered anything costs, yuan (station setting).
    pub minimum: Decimal,
    /// The station's local time, for time-of-use periods.
    pub utc_offset_minutes: i32,
    /// Off the list price for the driver's class, if any applies.
    #[serde(default)]
    pub discount: Option<Discount>,
    /// The wallet that pays, if the charge is paid from one.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Whose station it is, for settlement; `None`: the operator's own.
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
}

/// What a driver's class takes off the list price of a charge: a percentage,
/// or its own time-of-use prices (a fleet's contract tariff) in place of the
/// station's. The bill shows the list price and the difference either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// The rule that granted it, for the bill.
    pub rule_id: i64,
    /// Percent off, 0 to 100 (100: free).
    #[serde(default)]
    pub percent: Decimal,
    /// The class's own prices for time-of-use charges.
    #[serde(default)]
    pub tariff: Option<(TariffId, TouPrices)>,
}

impl Discount {
    /// Off a charge whose list price is `list` and whose time-of-use lines
    /// are `lines`, to the cent.
    fn amount(&self, list: Decimal, lines: &[BillLine]) -> Decimal {
        let off = match &self.tariff {
            Some((_, tou)) => lines
                .iter()
                .map(|l| match l {
                    BillLine::Period { period, kwh, amount, .. } => {
                        let class = tou.price(*period);
                        *amount - round(*kwh * class.energy, 4) - round(*kwh * class.service, 4)
                    }
                    _ => Decimal::ZERO,
                })
                .sum(),
            None => list * self.percent / Decimal::ONE_HUNDRED,
        };
        cents(off.max(Decimal::ZERO).min(list))
    }
}

impl Terms {
    pub fn offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_minutes * 60).unwrap_or(FixedOffset::east_opt(0).expect("zero"))
    }

    /// What is left of the prepaid amount at list prices, net of the service
    /// fee and of `spent` (at list prices). A percent discount is taken off
    /// the whole bill, so each yuan prepaid buys 100 / (100 − percent) at
    /// list price; 100 % off buys without limit (`None`).
    fn list_budget(&self, spent: Decimal) -> Option<Decimal> {
        let prepaid = self.prepaid?;
        let percent =
            self.discount.as_ref().filter(|d| d.tariff.is_none()).map_or(Decimal::ZERO, |d| d.percent);
        if percent >= Decimal::ONE_HUNDRED {
            return None;
        }
        // Checked: terms come from stored data as well as the API's bounds;
        // a budget too large to compute is no limit rather than a panic.
        let gross = prepaid.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(Decimal::ONE_HUNDRED - percent)?;
        Some(gross.checked_sub(self.service_fee)?.checked_sub(spent)?.max(Decimal::ZERO))
    }

    /// How long or how much the prepaid amount buys, net of the service fee
    /// and at the driver's discount. A tier plan is limited at its cheapest
    /// tier; the session cuts it short if the power moves to a dearer one.
    pub fn limit(&self) -> Limit {
        let Some(budget) = self.list_budget(Decimal::ZERO) else { return Limit::default() };
        let seconds_at = |per_hour: Decimal| {
            if per_hour.is_zero() {
                return None;
            }
            let s = budget.checked_mul(Decimal::from(3600)).and_then(|b| b.checked_div(per_hour));
            Some(s.map_or(36_000, |s| s.floor().to_u32().unwrap_or(u32::MAX).min(36_000)))
        };
        match &self.pricing {
            Pricing::Time { per_hour, .. } => Limit { seconds: seconds_at(*per_hour), kwh: None },
            Pricing::PowerTiers { tiers, .. } => {
                let cheapest = tiers.iter().map(|t| t.per_hour).min().unwrap_or_default();
                Limit { seconds: seconds_at(cheapest), kwh: None }
            }
            Pricing::Energy { per_kwh } if !per_kwh.is_zero() => Limit {
                seconds: None,
                kwh: Some(
                    budget
                        .checked_div(*per_kwh)
                        .map_or(Decimal::MAX, |k| k.round_dp_with_strategy(2, RoundingStrategy::ToZero)),
                ),
            },
            Pricing::Energy { .. } | Pricing::TimeOfUse { .. } => Limit::default(),
        }
    }

    /// A prepaid charge whose limit comes to nothing: a pile reads a zero
    /// limit as "no limit", so it would charge without end for the fee.
    pub fn buys_nothing(&self) -> bool {
        let limit = self.limit();
        self.prepaid.is_some() && (limit.seconds == Some(0) || limit.kwh.is_some_and(|k| k.is_zero()))
    }

    /// The seconds a tier plan's prepaid amount still buys at the tier in
    /// force, from the meter's state; `None` if nothing limits the charge.
    pub fn seconds_left(&self, meter: &Meter) -> Option<u32> {
        let Pricing::PowerTiers { tiers, .. } = &self.pricing else { return None };
        let spent = self.usage(meter).iter().map(BillLine::amount).sum::<Decimal>();
        let budget = self.list_budget(spent)?;
        let per_hour = tiers.get(meter.tier.unwrap_or(0))?.per_hour;
        if per_hour.is_zero() {
            return None;
        }
        let left = budget.checked_mul(Decimal::from(3600))?.checked_div(per_hour)?.floor();
        Some(left.to_u32().unwrap_or(u32::MAX))
    }

    /// The lines for what the meter recorded, before fees, minimum and cap.
    fn usage(&self, m: &Meter) -> Vec<BillLine> {
        match &self.pricing {
            Pricing::TimeOfUse { tou, .. } => Period::ALL
                .iter()
                .filter_map(|&period| {
                    let kwh = round(m.energy.kwh(period), 4);
                    let price = tou.price(period);
                    (!kwh.is_zero()).then(|| {
                        let energy_amount = round(kwh * price.energy, 4);
                        let service_amount = round(kwh * price.service, 4);
                        BillLine::Period {
                            period,
                            kwh,
                            energy_price: price.energy,
                            service_price: price.service,
                            energy_amount,
                            service_amount,
                            amount: energy_amount + service_amount,
                        }
                    })
                })
                .collect(),
            Pricing::Time { per_hour, unit_minutes } => {
                let billed = billed_seconds(m.elapsed_s, *unit_minutes);
                if billed == 0 {
                    return Vec::new();
                }
                vec![BillLine::Time {
                    seconds: m.elapsed_s,
                    billed_seconds: billed,
                    per_hour: *per_hour,
                    amount: hourly(*per_hour, billed),
                }]
            }
            Pricing::Energy { per_kwh } => {
                let kwh = round(m.kwh, 4);
                if kwh.is_zero() {
                    return Vec::new();
                }
                vec![BillLine::Energy { kwh, per_kwh: *per_kwh, amount: round(kwh * per_kwh, 4) }]
            }
            Pricing::PowerTiers { tiers, unit_minutes, .. } => {
                let used: u32 = m.tier_seconds.iter().sum();
                // The round-up to a whole unit goes to the tier in force at the end.
                let extra = billed_seconds(used, *unit_minutes) - used;
                let last = m.tier.unwrap_or(0);
                let mut floor = Decimal::ZERO;
                tiers
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| {
                        let from_w = std::mem::replace(&mut floor, t.up_to_w);
                        let seconds =
                            m.tier_seconds.get(i).copied().unwrap_or(0) + if i == last { extra } else { 0 };
                        (seconds > 0).then(|| BillLine::Tier {
                            tier: i as u8 + 1,
                            from_w,
                            to_w: t.up_to_w,
                            seconds,
                            per_hour: t.per_hour,
                            amount: hourly(t.per_hour, seconds),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Prices what the meter recorded.
    pub fn bill(&self, session: &SessionId, m: &Meter) -> Bill {
        let mut lines = self.usage(m);
        let delivered = m.kwh > Decimal::ZERO || m.elapsed_s > 0;
        if delivered && !self.service_fee.is_zero() {
            lines.push(BillLine::ServiceFee { amount: self.service_fee });
        }
        let sum = |lines: &[BillLine]| lines.iter().map(BillLine::amount).sum::<Decimal>();
        let listed = sum(&lines);
        if delivered && listed < self.minimum {
            lines.push(BillLine::Minimum { amount: self.minimum - listed });
        }
        let list_total = cents(sum(&lines));
        let discount = self.discount.as_ref().map_or(Decimal::ZERO, |d| d.amount(list_total, &lines));
        if let Some(d) = self.discount.as_ref().filter(|_| !discount.is_zero()) {
            let tariff_id = d.tariff.as_ref().map(|(id, _)| *id);
            let percent = d.tariff.is_none().then_some(d.percent);
            lines.push(BillLine::Discount { rule_id: d.rule_id, percent, tariff_id, amount: -discount });
        }
        if let Some(prepaid) = self.prepaid {
            let over = sum(&lines) - prepaid;
            if over > Decimal::ZERO {
                lines.push(BillLine::PrepaidCap { amount: -over });
            }
        }
        let total = cents(sum(&lines));
        let (energy_amount, service_amount) =
            lines.iter().fold((Decimal::ZERO, Decimal::ZERO), |(e, s), l| match l {
                BillLine::Period { energy_amount, service_amount, .. } => {
                    (e + energy_amount, s + service_amount)
                }
                BillLine::ServiceFee { amount } => (e, s + amount),
                _ => (e, s),
            });
        Bill {
            session_id: session.clone(),
            tariff_id: match &self.pricing {
                Pricing::TimeOfUse { tariff_id, .. } => Some(*tariff_id),
                _ => None,
            },
            plan_id: self.plan_id,
            kwh: round(m.kwh, 4),
            seconds: m.elapsed_s,
            energy_amount,
            service_amount,
            lines,
            list_total,
            discount,
            total,
            prepaid: self.prepaid,
            refund: self.prepaid.map(|p| (p - total).max(Decimal::ZERO)).unwrap_or_default(),
            reconciliation: None,
        }
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

/// One reading of a charge as the meter takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub at: DateTime<Utc>,
    /// Energy since the charge started, kWh.
    pub kwh: Decimal,
    /// Average power since the previous reading, W.
    pub power: Decimal,
    /// Seconds charged, by the pile's own timer where the protocol has one
    /// (it stops during a power cut); otherwise by the platform's clock.
    pub elapsed_s: u32,
}

/// What a charge has used so far, in every measure any pricing needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    /// kWh by time-of-use period (time-of-use pricing only).
    pub energy: PeriodEnergy,
    pub kwh: Decimal,
    pub elapsed_s: u32,
    pub last_at: Option<DateTime<Utc>>,
    /// Seconds spent in each power tier (tier pricing only).
    pub tier_seconds: Vec<u32>,
    /// The tier in force.
    pub tier: Option<usize>,
    /// A different tier the power moved to, and the elapsed second it did.
    pub pending: Option<(usize, u32)>,
    pub max_power: Decimal,
    /// The power of the last reading, W.
    pub last_power: Decimal,
    /// The pile's energy register at the charge's start, kWh, for piles
    /// that report their register rather than the charge's energy (OCPP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_start: Option<Decimal>,
}

impl Meter {
    /// Takes a reading. Energy or time going backwards (a meter glitch, a
    /// reordered frame) adds nothing and keeps the higher baseline.
    pub fn read(&mut self, terms: &Terms, r: Reading) {
        let prev_at = self.last_at.unwrap_or(r.at);
        let at = r.at.max(prev_at);
        if r.kwh > self.kwh {
            if let Pricing::TimeOfUse { tou, .. } = &terms.pricing {
                self.energy.add(tou, terms.offset(), prev_at, at, r.kwh - self.kwh);
            }
            self.kwh = r.kwh;
        }
        if let Pricing::PowerTiers { tiers, switch_after_s, .. } = &terms.pricing {
            self.tiers(tiers, *switch_after_s, r);
        }
        self.elapsed_s = self.elapsed_s.max(r.elapsed_s);
        self.max_power = self.max_power.max(r.power);
        self.last_power = r.power;
        self.last_at = Some(at);
    }

    /// The interval since the last reading is charged at the tier in force
    /// during it; then the reading's power may move the tier for what follows.
    fn tiers(&mut self, tiers: &[Tier], switch_after_s: u32, r: Reading) {
        if self.tier_seconds.len() < tiers.len() {
            self.tier_seconds.resize(tiers.len(), 0);
        }
        let band = Pricing::tier_of(tiers, r.power);
        let current = *self.tier.get_or_insert(band);
        let interval = r.elapsed_s.saturating_sub(self.elapsed_s);
        if let Some(s) = self.tier_seconds.get_mut(current) {
            *s += interval;
        }
        if band == current {
            self.pending = None;
            return;
        }
        let since = match self.pending {
            Some((b, since)) if b == band => since,
            _ => self.elapsed_s,
        };
        if r.elapsed_s.saturating_sub(since) >= switch_after_s {
            self.tier = Some(band);
            self.pending = None;
        } else {
            self.pending = Some((band, since));
        }
    }
}

/// One line of a bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BillLine {
    Period {
        period: Period,
        kwh: Decimal,
        energy_price: Decimal,
        service_price: Decimal,
        energy_amount: Decimal,
        service_amount: Decimal,
        amount: Decimal,
    },
    Time {
        seconds: u32,
        billed_seconds: u32,
        per_hour: Decimal,
        amount: Decimal,
    },
    Energy {
        kwh: Decimal,
        per_kwh: Decimal,
        amount: Decimal,
    },
    Tier {
        tier: u8,
        from_w: Decimal,
        to_w: Decimal,
        seconds: u32,
        per_hour: Decimal,
        amount: Decimal,
    },
    ServiceFee {
        amount: Decimal,
    },
    /// Raises a small charge to the station's minimum.
    Minimum {
        amount: Decimal,
    },
    /// Negative: the driver's class discount, a percentage or the class's
    /// own tariff.
    Discount {
        rule_id: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        percent: Option<Decimal>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tariff_id: Option<TariffId>,
        amount: Decimal,
    },
    /// Negative: what is above the prepaid amount is not charged.
    PrepaidCap {
        amount: Decimal,
    },
    /// An operator's correction of a billed charge: the difference to the
    /// corrected total, and why.
    Correction {
        amount: Decimal,
        reason: String,
    },
}

impl BillLine {
    pub fn amount(&self) -> Decimal {
        match self {
            BillLine::Period { amount, .. }
            | BillLine::Time { amount, .. }
            | BillLine::Energy { amount, .. }
            | BillLine::Tier { amount, .. }
            | BillLine::ServiceFee { amount }
            | BillLine::Minimum { amount }
            | BillLine::Discount { amount, .. }
            | BillLine::PrepaidCap { amount }
            | BillLine::Correction { amount, .. } => *amount,
        }
    }
}

/// What a charge costs.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub session_id: SessionId,
    pub tariff_id: Option<TariffId>,
    pub plan_id: Option<PlanId>,
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<Object>))]
    pub lines: Vec<BillLine>,
    pub kwh: Decimal,
    pub seconds: u32,
    /// Time-of-use energy charges.
    pub energy_amount: Decimal,
    /// Time-of-use service charges and the station's service fee.
    pub service_amount: Decimal,
    /// What it costs at list price, yuan, before any discount or cap.
    #[serde(default)]
    pub list_total: Decimal,
    /// Taken off the list price for the driver's class, yuan.
    #[serde(default)]
    pub discount: Decimal,
    /// What the driver pays, yuan, rounded half-up to the cent.
    pub total: Decimal,
    pub prepaid: Option<Decimal>,
    /// Prepaid and not used, returned to the driver.
    pub refund: Decimal,
    /// The pile's own total beside the platform's, where the pile reports one.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub reconciliation: Option<Reconciliation>,
}

impl Bill {
    /// The bill with its total set to `total` by a correction line; what
    /// comes back of a prepaid amount follows.
    pub fn corrected(&self, total: Decimal, reason: &str) -> Bill {
        let mut bill = self.clone();
        bill.lines.push(BillLine::Correction { amount: total - self.total, reason: reason.to_owned() });
        bill.total = total;
        bill.refund = self.prepaid.map(|p| (p - total).max(Decimal::ZERO)).unwrap_or_default();
        bill
    }
}

/// The platform bills from its own tariff and metering; a pile that prices
/// the charge itself reports its own amount, kept here beside the bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// What the pile computed, yuan.
    pub pile_amount: Decimal,
    /// The bill's total minus the pile's amount.
    pub difference: Decimal,
    /// The difference is beyond the tolerance: someone should look.
    pub flagged: bool,
}

impl Reconciliation {
    pub fn of(bill_total: Decimal, pile_amount: Decimal, tolerance: Decimal) -> Self {
        let difference = bill_total - pile_amount;
        Reconciliation { pile_amount, difference, flagged: difference.abs() > tolerance }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

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
            m.read(t, Reading { at: at(elapsed_s as i64), kwh, power, elapsed_s });
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
