//! Metering and billing: splitting a meter reading over tariff periods (done
//! for every reading of every charge) and pricing a finished charge.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use engine::domain::SessionId;
use engine::tariff::{Period, PeriodEnergy, TouPrices};
use rust_decimal_macros::dec;

fn bench(c: &mut Criterion) {
    let mut tou = TouPrices::flat(dec!(0.7), dec!(0.5));
    tou.slots[16..24].fill(Period::Peak);
    let offset = FixedOffset::east_opt(8 * 3600).unwrap();
    let t0: DateTime<Utc> = "2026-03-01T03:59:50Z".parse().unwrap();
    c.bench_function("tariff_reading_across_a_boundary", |b| {
        b.iter(|| {
            let mut e = PeriodEnergy::default();
            e.add(&tou, offset, t0, t0 + Duration::seconds(15), dec!(0.1234));
            e
        })
    });
    let mut e = PeriodEnergy::default();
    e.add(&tou, offset, t0, t0 + Duration::hours(3), dec!(45.6789));
    let id = SessionId("s".into());
    c.bench_function("tariff_bill", |b| b.iter(|| tou.bill(&id, 1, &e)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
