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
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn key(n: u8) -> PortKey {
        (PileId::from("P"), PortNo(n))
    }

    fn port(n: u8, min_kw: Decimal, max_kw: Decimal) -> Demand {
        Demand {
            key: key(n),
            min_w: min_kw * dec!(1000),
            max_w: max_kw * dec!(1000),
            requested_w: None,
            priority: 0,
            since: u64::from(n),
        }
    }

    fn run(limit_kw: Decimal, demands: &[Demand]) -> Allocation {
        allocate(&Input {
            limit_w: limit_kw * dec!(1000),
            margin_w: Decimal::ZERO,
            other_load_w: Decimal::ZERO,
            demands,
        })
    }

    fn granted(a: &Allocation) -> Vec<(u8, Decimal)> {
        a.grants.iter().map(|g| (g.key.1 .0, g.power_w)).collect()
    }

    fn queued(a: &Allocation) -> Vec<u8> {
        a.queued.iter().map(|k| k.1 .0).collect()
    }

    #[test]
    fn ample_power_gives_everyone_their_cap() {
        let mut d = vec![port(1, dec!(2.1), dec!(7)), port(2, dec!(2.1), dec!(7)), port(3, dec!(0), dec!(3))];
        d[1].requested_w = Some(dec!(4200));
        let a = run(dec!(100), &d);
        assert_eq!(granted(&a), vec![(1, dec!(7000)), (2, dec!(4200)), (3, dec!(3000))]);
        assert!(a.queued.is_empty());
        assert_eq!(a.available_w, dec!(100000));
        assert_eq!(a.allocated_w, dec!(14200));
        assert_eq!(a.headroom_w, dec!(85800));
    }

    #[test]
    fn constrained_power_is_shared_equally() {
        let d: Vec<_> = (1..=3).map(|n| port(n, dec!(2.1), dec!(7))).collect();
        let a = run(dec!(15), &d);
        assert_eq!(granted(&a), vec![(1, dec!(5000)), (2, dec!(5000)), (3, dec!(5000))]);
        assert_eq!(a.headroom_w, dec!(0));
    }

    #[test]
    fn power_a_capped_port_cannot_use_goes_to_the_others() {
        let mut d: Vec<_> = (1..=3).map(|n| port(n, dec!(0), dec!(7))).collect();
        d[0].requested_w = Some(dec!(2000));
        let a = run(dec!(15), &d);
        assert_eq!(granted(&a), vec![(1, dec!(2000)), (2, dec!(6500)), (3, dec!(6500))]);
        assert_eq!(a.allocated_w, dec!(15000));
    }

    #[test]
    fn requested_power_is_clamped_to_min_and_max() {
        let mut d = vec![port(1, dec!(3), dec!(7)), port(2, dec!(3), dec!(7))];
        d[0].requested_w = Some(dec!(1000));
        d[1].requested_w = Some(dec!(9000));
        let a = run(dec!(100), &d);
        assert_eq!(granted(&a), vec![(1, dec!(3000)), (2, dec!(7000))]);
    }

    #[test]
    fn shares_round_down_to_a_tenth_of_a_watt() {
        let d: Vec<_> = (1..=3).map(|n| port(n, dec!(0), dec!(7))).collect();
        let a = run(dec!(10), &d);
        assert_eq!(granted(&a), vec![(1, dec!(3333.3)), (2, dec!(3333.3)), (3, dec!(3333.3))]);
        assert_eq!(a.allocated_w, dec!(9999.9));
        assert_eq!(a.headroom_w, dec!(0.1));
    }

    #[test]
    fn ports_whose_minimum_does_not_fit_are_queued() {
        let d: Vec<_> = (1..=4).map(|n| port(n, dec!(3), dec!(7))).collect();
        let a = run(dec!(10), &d);
        assert_eq!(queued(&a), vec![4]);
        // 1 kW over the three minimums, shared equally.
        let third = dec!(3333.3);
        assert_eq!(granted(&a), vec![(1, third), (2, third), (3, third)]);
        assert!(a.allocated_w <= a.available_w);
    }

    #[test]
    fn no_port_overtakes_a_queued_one() {
        let d = vec![port(1, dec!(6), dec!(7)), port(2, dec!(6), dec!(7)), port(3, dec!(0.5), dec!(3))];
        let a = run(dec!(10), &d);
        assert_eq!(granted(&a), vec![(1, dec!(7000))]);
        assert_eq!(queued(&a), vec![2, 3]);
        assert_eq!(a.headroom_w, dec!(3000));
    }

    #[test]
    fn higher_priority_is_admitted_first_and_filled_first() {
        let mut d: Vec<_> = (1..=4).map(|n| port(n, dec!(3), dec!(7))).collect();
        d[3].priority = 1;
        d[3].since = 99;
        let a = run(dec!(12), &d);
        // Port 4 is admitted first and filled to its cap before the
        // others share what is left: 12 − 4 × 3 = 0 over the minimums.
        assert_eq!(granted(&a), vec![(4, dec!(3000)), (1, dec!(3000)), (2, dec!(3000)), (3, dec!(3000))]);

        let a = run(dec!(16), &d);
        assert_eq!(granted(&a), vec![(4, dec!(7000)), (1, dec!(3000)), (2, dec!(3000)), (3, dec!(3000))]);

        let a = run(dec!(19), &d);
        assert_eq!(granted(&a), vec![(4, dec!(7000)), (1, dec!(4000)), (2, dec!(4000)), (3, dec!(4000))]);

        let a = run(dec!(10), &d);
        assert_eq!(granted(&a), vec![(4, dec!(4000)), (1, dec!(3000)), (2, dec!(3000))]);
        assert_eq!(queued(&a), vec![3]);
    }

    #[test]
    fn lowering_the_limit_queues_the_latest_ports() {
        let d: Vec<_> = (1..=4).rev().map(|n| port(n, dec!(3), dec!(7))).collect();
        assert!(run(dec!(28), &d).queued.is_empty());
        assert_eq!(queued(&run(dec!(11), &d)), vec![4]);
        assert_eq!(queued(&run(dec!(8), &d)), vec![3, 4]);
        assert_eq!(queued(&run(dec!(5), &d)), vec![2, 3, 4]);
        let a = run(dec!(5), &d);
        assert_eq!(granted(&a), vec![(1, dec!(5000))]);
    }

    #[test]
    fn other_load_and_margin_reduce_what_is_available() {
        let d = vec![port(1, dec!(3), dec!(7)), port(2, dec!(3), dec!(7))];
        let a = allocate(&Input {
            limit_w: dec!(20000),
            margin_w: dec!(2000),
            other_load_w: dec!(8000),
            demands: &d,
        });
        assert_eq!(a.available_w, dec!(10000));
        assert_eq!(granted(&a), vec![(1, dec!(5000)), (2, dec!(5000))]);
    }

    #[test]
    fn nothing_available_queues_everything() {
        let d = vec![port(1, dec!(3), dec!(7)), port(2, dec!(0.1), dec!(7))];
        let a = allocate(&Input {
            limit_w: dec!(20000),
            margin_w: dec!(2000),
            other_load_w: dec!(25000),
            demands: &d,
        });
        assert_eq!(a.available_w, dec!(0));
        assert!(a.grants.is_empty());
        assert_eq!(queued(&a), vec![1, 2]);
        assert_eq!(a.allocated_w, dec!(0));
        assert_eq!(a.headroom_w, dec!(0));
    }

    #[test]
    fn no_demands_allocate_nothing() {
        let a = run(dec!(50), &[]);
        assert_eq!(
            a,
            Allocation {
                available_w: dec!(50000),
                grants: vec![],
                queued: vec![],
                allocated_w: dec!(0),
                headroom_w: dec!(50000),
            }
        );
    }

    #[test]
    fn odd_inputs_are_read_defensively() {
        let mut d = vec![port(1, dec!(5), dec!(3)), port(2, dec!(-1), dec!(2))];
        d[1].requested_w = Some(dec!(-5));
        let a = run(dec!(100), &d);
        // max below min reads as min; negatives read as 0.
        assert_eq!(granted(&a), vec![(1, dec!(5000)), (2, dec!(0))]);
    }

    #[test]
    fn schedule_lookup_wraps_around_midnight() {
        let s = LimitSchedule::new(vec![(7 * 60, dec!(400000)), (22 * 60, dec!(250000))]).unwrap();
        assert_eq!(s.at(0), Some(dec!(250000)));
        assert_eq!(s.at(7 * 60 - 1), Some(dec!(250000)));
        assert_eq!(s.at(7 * 60), Some(dec!(400000)));
        assert_eq!(s.at(22 * 60 - 1), Some(dec!(400000)));
        assert_eq!(s.at(22 * 60), Some(dec!(250000)));
        assert_eq!(s.at(1439), Some(dec!(250000)));
        assert_eq!(s.at(1440 + 7 * 60), Some(dec!(400000)));
        assert_eq!(LimitSchedule::new(vec![(600, dec!(1))]).unwrap().at(0), Some(dec!(1)));
        assert_eq!(LimitSchedule::default().at(0), None);
    }

    #[test]
    fn schedules_are_validated() {
        assert_eq!(LimitSchedule::new(vec![(1440, dec!(1))]), Err(ScheduleError::MinuteOutOfRange(0)));
        assert_eq!(
            LimitSchedule::new(vec![(10, dec!(1)), (10, dec!(2))]),
            Err(ScheduleError::NotAscending(1))
        );
        assert_eq!(
            LimitSchedule::new(vec![(20, dec!(1)), (10, dec!(2))]),
            Err(ScheduleError::NotAscending(1))
        );
        assert_eq!(LimitSchedule::new(vec![(0, dec!(-1))]), Err(ScheduleError::Negative(0)));
        assert!(LimitSchedule::new(vec![(0, dec!(0)), (1439, dec!(5))]).is_ok());
        let bad: Result<LimitSchedule, _> = serde_json::from_str(r#"[[5, "1"], [3, "2"]]"#);
        assert!(bad.is_err());
        let good: LimitSchedule = serde_json::from_str(r#"[[3, "1"], [5, "2"]]"#).unwrap();
        assert_eq!(good.entries(), &[(3, dec!(1)), (5, dec!(2))]);
    }

    #[test]
    fn transformer_limit_never_exceeds_capacity() {
        let t = Transformer { capacity_w: dec!(315000), margin_w: dec!(15000) };
        let s = LimitSchedule::new(vec![(0, dec!(200000)), (600, dec!(500000))]).unwrap();
        assert_eq!(t.limit_at(Some(&s), 60), dec!(200000));
        assert_eq!(t.limit_at(Some(&s), 700), dec!(315000));
        assert_eq!(t.limit_at(None, 700), dec!(315000));
        let input = t.input(Some(&s), 60, dec!(5000), &[]);
        assert_eq!(allocate(&input).available_w, dec!(180000));
    }

    #[test]
    fn ykc_percent_floors_and_clamps() {
        assert_eq!(ykc_percent(dec!(5000), dec!(7000)), 71);
        assert_eq!(ykc_percent(dec!(60000), dec!(120000)), 50);
        assert_eq!(ykc_percent(dec!(35999.9), dec!(120000)), 30);
        assert_eq!(ykc_percent(dec!(36000), dec!(120000)), 30);
        assert_eq!(ykc_percent(dec!(37199.9), dec!(120000)), 30);
        assert_eq!(ykc_percent(dec!(37200), dec!(120000)), 31);
        assert_eq!(ykc_percent(dec!(1000), dec!(120000)), 30);
        assert_eq!(ykc_percent(dec!(0), dec!(120000)), 30);
        assert_eq!(ykc_percent(dec!(-5), dec!(120000)), 30);
        assert_eq!(ykc_percent(dec!(120000), dec!(120000)), 100);
        assert_eq!(ykc_percent(dec!(500000), dec!(120000)), 100);
        assert_eq!(ykc_percent(dec!(5000), dec!(0)), 100);
        assert_eq!(ykc_percent(Decimal::MAX, dec!(1)), 100);
        assert_eq!(ykc_percent(dec!(1), dec!(3)), 33);
        assert_eq!(ykc_percent(dec!(1), dec!(4)), 30);
        assert_eq!(ykc_percent(dec!(2), dec!(3)), 66);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// 0 to `max_w` watts with 0.1 W precision.
    fn watts(max_w: i64) -> impl Strategy<Value = Decimal> {
        (0..=max_w * 10).prop_map(|n| Decimal::new(n, 1))
    }

    fn demand() -> impl Strategy<Value = Demand> {
        (watts(400_000), watts(400_000), prop::option::of(watts(400_000)), 0u8..4, 0u64..20).prop_map(
            |(a, b, requested, priority, since)| Demand {
                key: (PileId::from("P"), PortNo(0)),
                min_w: a.min(b),
                max_w: a.max(b),
                requested_w: requested.map(|r| r.min(a.max(b))),
                priority,
                since,
            },
        )
    }

    fn demands() -> impl Strategy<Value = Vec<Demand>> {
        vec(demand(), 1..=40).prop_map(|mut ds| {
            for (i, d) in ds.iter_mut().enumerate() {
                d.key = (PileId(format!("P{}", i / 4)), PortNo(i as u8 % 4 + 1));
            }
            ds
        })
    }

    fn rank(d: &Demand) -> (Reverse<u8>, u64, &PortKey) {
        (Reverse(d.priority), d.since, &d.key)
    }

    fn check(input: &Input) -> Result<(), TestCaseError> {
        let a = allocate(input);
        prop_assert_eq!(&a, &allocate(input), "deterministic");

        let available = (input.limit_w - input.margin_w - input.other_load_w).max(Decimal::ZERO);
        prop_assert_eq!(a.available_w, available);
        let sum: Decimal = a.grants.iter().map(|g| g.power_w).sum();
        prop_assert!(sum <= available);
        prop_assert_eq!(a.allocated_w, sum);
        prop_assert_eq!(a.headroom_w, available - sum);

        let by_key = |k: &PortKey| input.demands.iter().find(|d| &d.key == k).unwrap();
        for g in &a.grants {
            let d = by_key(&g.key);
            prop_assert!(g.power_w >= d.min_w && g.power_w <= d.cap(), "{:?} outside its range", g);
        }

        // Granted and queued partition the demands.
        let mut seen: Vec<&PortKey> = a.grants.iter().map(|g| &g.key).chain(&a.queued).collect();
        seen.sort();
        let mut all: Vec<&PortKey> = input.demands.iter().map(|d| &d.key).collect();
        all.sort();
        prop_assert_eq!(seen, all);

        // Both lists are in admission order, and every grant precedes every
        // queued port.
        let order: Vec<&Demand> = a.grants.iter().map(|g| &g.key).chain(&a.queued).map(by_key).collect();
        prop_assert!(order.windows(2).all(|w| rank(w[0]) < rank(w[1])), "out of admission order");

        // Admission is maximal: the first queued port's minimum did not fit.
        let mins: Decimal = a.grants.iter().map(|g| by_key(&g.key).min_w).sum();
        if let Some(first) = a.queued.first() {
            prop_assert!(by_key(first).min_w > available - mins);
        }

        // Water-filling: in the first class with a port below its cap, the
        // ports below cap got equal extra and the rounding dust is under
        // 0.1 W each; lower classes got only their minimums; the classes
        // above are at their caps.
        let below: Vec<&Grant> = a.grants.iter().filter(|g| g.power_w < by_key(&g.key).cap()).collect();
        if let Some(first) = below.first() {
            let class = by_key(&first.key).priority;
            let extra = first.power_w - by_key(&first.key).min_w;
            let mut in_class = 0;
            for g in &a.grants {
                let d = by_key(&g.key);
                if d.priority > class {
                    prop_assert_eq!(g.power_w, d.cap());
                } else if d.priority < class {
                    prop_assert_eq!(g.power_w, d.min_w);
                } else {
                    in_class += 1;
                    prop_assert!(g.power_w == d.cap() || g.power_w - d.min_w == extra);
                    prop_assert!(g.power_w < d.cap() || g.power_w - d.min_w <= extra + Decimal::new(1, 1));
                }
            }
            prop_assert!(a.headroom_w < Decimal::new(in_class, 1));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn allocations_respect_the_policy(
            demands in demands(),
            limit in watts(20_000_000),
            margin in watts(500_000),
            other in watts(2_000_000),
        ) {
            check(&Input { limit_w: limit, margin_w: margin, other_load_w: other, demands: &demands })?;
        }

        #[test]
        fn ample_power_queues_nothing_and_meets_every_cap(
            demands in demands(),
            spare in watts(1_000_000),
            margin in watts(500_000),
            other in watts(2_000_000),
        ) {
            let caps: Decimal = demands.iter().map(Demand::cap).sum();
            let input =
                Input { limit_w: caps + spare + margin + other, margin_w: margin, other_load_w: other, demands: &demands };
            check(&input)?;
            let a = allocate(&input);
            prop_assert!(a.queued.is_empty());
            for g in &a.grants {
                let d = demands.iter().find(|d| d.key == g.key).unwrap();
                prop_assert_eq!(g.power_w, d.cap());
            }
        }
    }
}
