//! A station's power history: samples come back oldest first within the
//! window asked for, one station's never another's, and a repeated instant
//! replaces its sample. (How old samples go differs: SQLite deletes them,
//! tested in store_sqlite.rs; ScyllaDB lets them expire by TTL.)

use std::time::Duration;

use rust_decimal_macros::dec;
use store::PowerSample;

use super::{site, t, Db};

pub async fn run(db: &Db) {
    power_samples_round_trip_by_window_and_age_out(db).await;
}

async fn power_samples_round_trip_by_window_and_age_out(db: &Db) {
    let (a, b) = (site(db).await.station.id, site(db).await.station.id);
    let minute = 60_000_000;
    let day = 24 * 60 * minute;
    let keep = Duration::from_secs(2 * 24 * 3600);
    let at = |station, us: i64, w| PowerSample {
        station_id: station,
        at: t(us),
        limit_w: (w > 0).then(|| dec!(22000.5)),
        allocated_w: rust_decimal::Decimal::from(w),
        measured_w: rust_decimal::Decimal::from(w) - dec!(0.25),
    };
    // Across a UTC day's end, out of order.
    let samples = [at(a, day - minute + 7, 100), at(a, day - 2 * minute, 0), at(a, day + minute, 300)];
    for s in [&samples[2], &samples[0], &samples[1]] {
        db.record_station_power(s, keep).await.unwrap();
    }
    db.record_station_power(&at(b, day, 999), keep).await.unwrap();
    let read = |from, until| async move { db.station_power(a, t(from), t(until)).await.unwrap() };
    assert_eq!(read(0, 2 * day).await, vec![samples[1].clone(), samples[0].clone(), samples[2].clone()]);
    assert_eq!(
        read(day - minute + 7, day + minute).await,
        vec![samples[0].clone()],
        "from inclusive, until not"
    );
    assert!(read(day + minute, day + minute).await.is_empty());
    assert_eq!(db.station_power(b, t(0), t(2 * day)).await.unwrap().len(), 1);

    // The same instant again replaces it.
    let again = at(a, day + minute, 350);
    db.record_station_power(&again, keep).await.unwrap();
    assert_eq!(read(day, 2 * day).await, vec![again]);
}
