//! The meter: what a charge has used so far, in every measure any pricing
//! needs, accrued reading by reading.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Pricing, Tier};
use crate::tariff::PeriodEnergy;

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
    /// Takes a reading, accrued as `pricing` needs it (time-of-use periods
    /// in the station's `offset`). Energy or time going backwards (a meter
    /// glitch, a reordered frame) adds nothing and keeps the higher baseline.
    pub fn read(&mut self, pricing: &Pricing, offset: FixedOffset, r: Reading) {
        let prev_at = self.last_at.unwrap_or(r.at);
        let at = r.at.max(prev_at);
        if r.kwh > self.kwh {
            if let Pricing::TimeOfUse { tou, .. } = pricing {
                self.energy.add(tou, offset, prev_at, at, r.kwh - self.kwh);
            }
            self.kwh = r.kwh;
        }
        if let Pricing::PowerTiers { tiers, switch_after_s, .. } = pricing {
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
