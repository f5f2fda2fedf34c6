//! Sharing a station's transformer among its charging ports.
//!
//! The station's piles hang off one transformer. Given the power limit in
//! force, the margin kept in reserve, the non-charging load measured on the
//! transformer and what each charging port needs, [`allocate`] decides how
//! much each port may draw. The caller enforces the grants through each
//! protocol's lever (YKC: [`ykc_percent`] of the pile's rated power; e-bike:
//! a per-port power limit). Pure and exact: all power is watts as `Decimal`.
//!
//! # Policy
//!
//! 1. **Available power**: `available = max(0, limit − margin − other_load)`.
//! 2. **Admission order**: ports are taken by priority (higher first), then
//!    `since` (earlier first), then key, then position in the input, so the
//!    same input always gives the same output.
//! 3. **Admission**: walking that order, a port is admitted when its `min_w`
//!    fits in what is left of `available` after the minimums of the ports
//!    admitted before it; every admitted port is guaranteed its `min_w`. The
//!    first port whose minimum does not fit is queued (no grant), and so is
//!    every port after it in the order, whatever its minimum or priority: no
//!    overtaking, first come first served within a priority. A port is never
//!    started over the limit. A port with `min_w = 0` fits in nothing, so it
//!    is admitted (possibly with a 0 W grant) unless a port before it was
//!    queued.
//! 4. **Sharing**: the rest, `available − Σ min_w of admitted ports`, is
//!    water-filled over the admitted ports one priority class at a time,
//!    highest first. Within a class every grant rises from its `min_w` by the
//!    same amount until it reaches its cap, `requested_w.unwrap_or(max_w)`
//!    clamped to `[min_w, max_w]`; what a capped port cannot use goes to the
//!    others in the class. A lower class gets only what is left once every
//!    port of the classes above is at its cap.
//! 5. **Never over**: `Σ grants ≤ available`, exactly. An equal share is a
//!    division, rounded down to 0.1 W; what rounding leaves over stays
//!    unallocated (it is not passed to lower classes).
//! 6. `allocated_w = Σ grants`; `headroom_w = available − allocated_w`.
//!
//! Grants are listed in admission order, queued ports in queue order.
//! Inputs are read defensively: a negative power is read as 0 and a `max_w`
//! below `min_w` as `min_w`. Keys are expected to be unique.

use std::cmp::Reverse;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use vocab::{PileId, PortNo};

/// One charging port of one pile.
pub type PortKey = (PileId, PortNo);

const MINUTES_PER_DAY: u16 = 1440;

/// The resolution equal shares are rounded down to: 0.1 W.
const STEP_DP: u32 = 1;

/// How a station's power is managed: its transformer, a limit by time of
/// day, and what a charging port needs at least and may draw at most.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerConfig {
    pub transformer: Transformer,
    /// `[minute of day, limit W]` pairs, ascending by minute.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<Vec<Value>>))]
    pub schedule: LimitSchedule,
    /// What one YKC gun can deliver, W; it is held to at least 30 % of this
    /// (the protocol's floor for a power limit).
    pub ykc_gun_rated_w: Decimal,
    /// The least an e-bike port is given while charging, W.
    pub ebike_port_min_w: Decimal,
    /// The most an e-bike port may draw, W.
    pub ebike_port_max_w: Decimal,
    /// Ports served before all others (a fleet's bays, an ambulance bay),
    /// as `[pile id, port]` pairs.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<Vec<Value>>))]
    pub priority_ports: Vec<PortKey>,
}

/// A station's transformer: its rated capacity and the margin kept free.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transformer {
    pub capacity_w: Decimal,
    pub margin_w: Decimal,
}

impl Transformer {
    /// The limit in force at `minute_of_day`: the schedule's entry, never
    /// above the capacity; the capacity when there is no schedule or it is
    /// empty.
    pub fn limit_at(&self, schedule: Option<&LimitSchedule>, minute_of_day: u16) -> Decimal {
        match schedule.and_then(|s| s.at(minute_of_day)) {
            Some(limit) => limit.min(self.capacity_w),
            None => self.capacity_w,
        }
    }

    /// The allocator's input at `minute_of_day`, with this transformer's
    /// margin and limit.
    pub fn input<'a>(
        &self,
        schedule: Option<&LimitSchedule>,
        minute_of_day: u16,
        other_load_w: Decimal,
        demands: &'a [Demand],
    ) -> Input<'a> {
        Input {
            limit_w: self.limit_at(schedule, minute_of_day),
            margin_w: self.margin_w,
            other_load_w,
            demands,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("entry {0}: minute of day must be below 1440")]
    MinuteOutOfRange(usize),
    #[error("entry {0}: minutes must rise, each entry after the one before")]
    NotAscending(usize),
    #[error("entry {0}: the limit must not be negative")]
    Negative(usize),
}

/// Power limits by time of day: each `(minute of day, limit W)` applies
/// from its minute (local time) until the next entry's; before the first
/// entry the last one applies (the day wraps). Validated on construction.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<(u16, Decimal)>", into = "Vec<(u16, Decimal)>")]
pub struct LimitSchedule(Vec<(u16, Decimal)>);

impl LimitSchedule {
    /// Entries must be strictly ascending by minute, within `0..1440`, with
    /// non-negative limits. An empty schedule is valid and limits nothing.
    pub fn new(entries: Vec<(u16, Decimal)>) -> Result<Self, ScheduleError> {
        for (i, &(minute, limit)) in entries.iter().enumerate() {
            if minute >= MINUTES_PER_DAY {
                return Err(ScheduleError::MinuteOutOfRange(i));
            }
            if i > 0 && minute <= entries[i - 1].0 {
                return Err(ScheduleError::NotAscending(i));
            }
            if limit.is_sign_negative() && !limit.is_zero() {
                return Err(ScheduleError::Negative(i));
            }
        }
        Ok(LimitSchedule(entries))
    }

    pub fn entries(&self) -> &[(u16, Decimal)] {
        &self.0
    }

    /// The limit in force at `minute_of_day` (taken modulo a day); `None`
    /// for an empty schedule.
    pub fn at(&self, minute_of_day: u16) -> Option<Decimal> {
        let minute = minute_of_day % MINUTES_PER_DAY;
        let after = self.0.partition_point(|&(from, _)| from <= minute);
        let i = after.checked_sub(1).unwrap_or(self.0.len().checked_sub(1)?);
        Some(self.0[i].1)
    }
}

impl TryFrom<Vec<(u16, Decimal)>> for LimitSchedule {
    type Error = ScheduleError;

    fn try_from(entries: Vec<(u16, Decimal)>) -> Result<Self, Self::Error> {
        LimitSchedule::new(entries)
    }
}

impl From<LimitSchedule> for Vec<(u16, Decimal)> {
    fn from(s: LimitSchedule) -> Self {
        s.0
    }
}

/// What one charging port needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    pub key: PortKey,
    /// Below this the charger cannot run (YKC: 30 % of rated power; e-bike:
    /// 0 or a small floor).
    pub min_w: Decimal,
    /// The most it could draw: rated power, or the e-bike port's overload
    /// limit.
    pub max_w: Decimal,
    /// What it asks for or is measured drawing, if known; `None` = `max_w`.
    pub requested_w: Option<Decimal>,
    /// 0 normal; higher is served first.
    pub priority: u8,
    /// Start order: earlier charges win ties.
    pub since: u64,
}

impl Demand {
    /// `min_w`, read as 0 if negative.
    fn floor(&self) -> Decimal {
        self.min_w.max(Decimal::ZERO)
    }

    /// `requested_w.unwrap_or(max_w)` clamped to `[min_w, max_w]`.
    fn cap(&self) -> Decimal {
        let min = self.floor();
        let max = self.max_w.max(min);
        self.requested_w.unwrap_or(max).clamp(min, max)
    }
}

/// What [`allocate`] decides from.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The transformer's capacity or the scheduled limit in force.
    pub limit_w: Decimal,
    pub margin_w: Decimal,
    /// Non-charging load measured on the transformer.
    pub other_load_w: Decimal,
    pub demands: &'a [Demand],
}

/// Power one admitted port may draw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub key: PortKey,
    pub power_w: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// `max(0, limit − margin − other load)`.
    pub available_w: Decimal,
    /// Admitted ports, in admission order.
    pub grants: Vec<Grant>,
    /// Ports that may not charge now, in queue order.
    pub queued: Vec<PortKey>,
    /// Σ grants.
    pub allocated_w: Decimal,
    /// `available_w − allocated_w`.
    pub headroom_w: Decimal,
}

/// Decides how much power each port may draw; see the module doc for the
/// policy.
pub fn allocate(input: &Input) -> Allocation {
    let demands = input.demands;
    let available = input
        .limit_w
        .saturating_sub(input.margin_w.max(Decimal::ZERO))
        .saturating_sub(input.other_load_w.max(Decimal::ZERO))
        .max(Decimal::ZERO);

    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = (&demands[a], &demands[b]);
        (Reverse(da.priority), da.since, &da.key, a).cmp(&(Reverse(db.priority), db.since, &db.key, b))
    });

    // Admission: the longest prefix of the order whose minimums fit.
    let mut remaining = available;
    let mut admitted = 0;
    for &i in &order {
        let min = demands[i].floor();
        if min > remaining {
            break;
        }
        remaining -= min;
        admitted += 1;
    }
    let (admitted, queued) = order.split_at(admitted);

    // Sharing: water-fill `remaining` over each priority class in turn.
    let mut extra = vec![Decimal::ZERO; admitted.len()];
    let mut start = 0;
    while start < admitted.len() {
        let priority = demands[admitted[start]].priority;
        let end = start + admitted[start..].iter().take_while(|&&i| demands[i].priority == priority).count();
        let filled = water_fill(
            admitted[start..end].iter().map(|&i| demands[i].cap() - demands[i].floor()),
            &mut remaining,
            &mut extra[start..end],
        );
        if !filled {
            break;
        }
        start = end;
    }

    let grants: Vec<Grant> = admitted
        .iter()
        .zip(extra)
        .map(|(&i, extra)| Grant { key: demands[i].key.clone(), power_w: demands[i].floor() + extra })
        .collect();
    let allocated = grants.iter().map(|g| g.power_w).sum::<Decimal>();
    Allocation {
        available_w: available,
        grants,
        queued: queued.iter().map(|&i| demands[i].key.clone()).collect(),
        allocated_w: allocated,
        headroom_w: available - allocated,
    }
}

/// Raises `extra[k]` from 0 equally towards `headroom[k]` out of `pool`,
/// giving what a capped port cannot use to the others. Returns whether
/// every port reached its headroom (only then may a lower class share what
/// is left). Equal shares round down to 0.1 W, so Σ extra ≤ the pool.
fn water_fill(headroom: impl Iterator<Item = Decimal>, pool: &mut Decimal, extra: &mut [Decimal]) -> bool {
    let mut by_room: Vec<(Decimal, usize)> = headroom.zip(0..).collect();
    by_room.sort();
    let mut left = by_room.len();
    for (k, &(room, slot)) in by_room.iter().enumerate() {
        let fits = Decimal::from(left).checked_mul(room).is_some_and(|need| need <= *pool);
        if fits {
            extra[slot] = room;
            *pool -= room;
            left -= 1;
            continue;
        }
        // Every port from here on has more room than an equal share.
        let share = equal_share(*pool, left);
        for &(_, slot) in &by_room[k..] {
            extra[slot] = share;
        }
        *pool -= share * Decimal::from(left);
        return false;
    }
    true
}

/// `pool / n` rounded down to 0.1 W, never more than the pool allows.
fn equal_share(pool: Decimal, n: usize) -> Decimal {
    let n = Decimal::from(n);
    let step = Decimal::new(1, STEP_DP);
    let mut share = (pool / n).round_dp_with_strategy(STEP_DP, RoundingStrategy::ToZero);
    // Division rounds at the 28th digit; make sure that never tips it over.
    while share > Decimal::ZERO && share * n > pool {
        share -= step;
    }
    share.max(Decimal::ZERO)
}

/// The YKC 0x52 "max output power percentage" for a grant:
/// `floor(grant / rated × 100)` clamped to 30..=100 (30 % is the protocol's
/// floor). A rated power of 0 or less gives 100.
pub fn ykc_percent(grant_w: Decimal, rated_w: Decimal) -> u8 {
    if rated_w <= Decimal::ZERO {
        return 100;
    }
    let Some(scaled) = grant_w.checked_mul(Decimal::ONE_HUNDRED) else {
        return if grant_w > Decimal::ZERO { 100 } else { 30 };
    };
    let mut percent = (scaled / rated_w).floor();
    // Division rounds at the 28th digit; never round up to the next percent.
    if percent.checked_mul(rated_w).is_some_and(|p| p > scaled) {
        percent -= Decimal::ONE;
    }
    let percent = percent.clamp(Decimal::from(30), Decimal::ONE_HUNDRED);
    u8::try_from(percent.mantissa() / 10i128.pow(percent.scale())).unwrap_or(100)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
