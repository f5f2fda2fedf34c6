//! Metering and billing: taking a meter reading (done for every reading of
//! every charge) under time-of-use and power-tier pricing, and pricing a
//! finished charge.

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use domain::pricing::{Meter, Pricing, Reading, Terms, Tier};
use domain::tariff::{Period, TouPrices};
use rust_decimal_macros::dec;
use vocab::SessionId;

fn terms(pricing: Pricing) -> Terms {
    Terms {
        pricing,
        plan_id: None,
        prepaid: Some(dec!(5)),
        service_fee: dec!(0.1),
        minimum: dec!(0.5),
        utc_offset_minutes: 480,
        discount: None,
        payer: None,
        merchant_id: None,
    }
}

fn bench(c: &mut Criterion) {
    let mut tou = TouPrices::flat(dec!(0.7), dec!(0.5));
    tou.slots[16..24].fill(Period::Peak);
    let tou = terms(Pricing::TimeOfUse { tariff_id: 1, tou });
    let tiers = terms(Pricing::PowerTiers {
        tiers: vec![
            Tier { up_to_w: dec!(200), per_hour: dec!(0.5) },
            Tier { up_to_w: dec!(400), per_hour: dec!(0.8) },
            Tier { up_to_w: dec!(600), per_hour: dec!(1.2) },
        ],
        unit_minutes: 1,
        switch_after_s: 120,
    });
    let t0: DateTime<Utc> = "2026-03-01T03:59:50Z".parse().unwrap();
    let at = |s: i64| t0 + Duration::seconds(s);

    c.bench_function("meter_reading_across_a_tou_boundary", |b| {
        b.iter(|| {
            let mut m = Meter { last_at: Some(t0), ..Meter::default() };
            m.read(
                &tou.pricing,
                tou.offset(),
                Reading { at: at(15), kwh: dec!(0.1234), power: dec!(30000), elapsed_s: 15 },
            );
            m
        })
    });
    c.bench_function("meter_reading_power_tiers", |b| {
        b.iter(|| {
            let mut m = Meter::default();
            m.read(
                &tiers.pricing,
                tiers.offset(),
                Reading { at: at(300), kwh: dec!(0.02), power: dec!(350), elapsed_s: 300 },
            );
            m
        })
    });
    let mut m = Meter::default();
    for i in 1..=36 {
        let power = if i % 12 < 6 { dec!(150) } else { dec!(350) };
        m.read(
            &tiers.pricing,
            tiers.offset(),
            Reading {
                at: at(300 * i),
                kwh: dec!(0.02) * rust_decimal::Decimal::from(i),
                power,
                elapsed_s: 300 * i as u32,
            },
        );
    }
    let id = SessionId("s".into());
    c.bench_function("bill_power_tiers", |b| b.iter(|| tiers.bill(&id, &m)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
