//! `allocation`'s examples: shares, limits, priorities and the admission
//! order, each case worked by hand.

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
    assert_eq!(LimitSchedule::new(vec![(10, dec!(1)), (10, dec!(2))]), Err(ScheduleError::NotAscending(1)));
    assert_eq!(LimitSchedule::new(vec![(20, dec!(1)), (10, dec!(2))]), Err(ScheduleError::NotAscending(1)));
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
