//! `allocation`'s properties over random demands: deterministic, never
//! over what is available, every grant within its port's range, admission
//! order kept.

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
