//! The terms a charge is priced by, fixed when it starts: its pricing,
//! fees, limits and discount, and turning a meter into a bill.

use chrono::FixedOffset;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::bill::{Bill, BillLine};
use super::meter::Meter;
use super::{billed_seconds, cents, hourly, round, PlanId, Pricing};
use crate::payer::Payer;
use crate::tariff::{Period, TouPrices};
use vocab::{MerchantId, SessionId, TariffId};

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
