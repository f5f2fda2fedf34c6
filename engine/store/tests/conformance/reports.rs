//! Reports every backend must give alike: a station's billed charges summed
//! per local day (corrections included), and its alarms counted by pile
//! and kind, both over the station's local days.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::alarm::NewAlarm;
use domain::pricing::Bill;
use domain::report::{Charge, Days};
use domain::session::StopReason;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use vocab::{PileId, Severity};

use super::{new_pile, session_at, site, t, unique, Db, Site, MISSING};

pub async fn run(db: &Db) {
    charges_are_summed_per_station_and_local_day(db).await;
    alarms_are_counted_by_pile_and_kind(db).await;
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A charge of `kwh` at the site's pile, billed at `end`.
async fn charge(db: &Db, site: &Site, end: DateTime<Utc>, kwh: Decimal) -> Bill {
    let mut s = session_at(site, &site.pile, end - Duration::hours(2));
    s.start_result(true, end - Duration::hours(2), None).unwrap();
    db.insert_session(&s).await.unwrap();
    let bill = s.finish(end, kwh, None, StopReason { code: 0x40, text: "app".into() }).unwrap();
    assert!(db.finish_session(&s, &bill).await.unwrap());
    bill
}

async fn charges_are_summed_per_station_and_local_day(db: &Db) {
    // Both sites are at +08:00: local 1 March ends at 16:00Z.
    let (here, there) = (site(db).await, site(db).await);
    let march_1 = charge(db, &here, t(15 * 3_600_000_000), dec!(12.5)).await;
    let also_march_1 = charge(db, &here, t(16 * 3_600_000_000 - 1), dec!(3)).await;
    let march_2 = charge(db, &here, t(16 * 3_600_000_000), dec!(7)).await;
    let elsewhere = charge(db, &there, t(20 * 3_600_000_000), dec!(1)).await;
    // 3 March local: past the end of the report.
    charge(db, &here, t(50 * 3_600_000_000), dec!(9)).await;
    // Open sessions count for nothing.
    let open = session_at(&here, &here.pile, t(17 * 3_600_000_000));
    db.insert_session(&open).await.unwrap();
    // A correction changes the revenue reported.
    let corrected = march_2.corrected(march_2.total + dec!(2.35), "meter replaced");
    db.correct_bill(&corrected, t(30 * 3_600_000_000)).await.unwrap();

    let (from, until) = (day("2026-03-01"), day("2026-03-03"));
    let ids = [there.station.id, here.station.id, MISSING, here.station.id];
    let got = db.station_days(&ids, from, until).await.unwrap();

    // What the bills add up to, by the domain's own sums.
    let mut want = Days::new(from, until);
    let charges = [
        (&here, &march_1, t(15 * 3_600_000_000)),
        (&here, &also_march_1, t(16 * 3_600_000_000 - 1)),
        (&here, &corrected, t(16 * 3_600_000_000)),
        (&there, &elsewhere, t(20 * 3_600_000_000)),
    ];
    for (site, bill, end) in charges {
        want.add(480, &Charge::new(site.station.id, end, bill));
    }
    let want = want.into_vec();
    assert_eq!(got, want);
    let days: Vec<_> = got.iter().map(|d| (d.station_id, d.day, d.charges)).collect();
    assert_eq!(
        days,
        [
            (here.station.id, day("2026-03-01"), 2),
            (here.station.id, day("2026-03-02"), 1),
            (there.station.id, day("2026-03-02"), 1)
        ]
    );
    assert_eq!(got[0].kwh, march_1.kwh + also_march_1.kwh);
    assert_eq!(got[0].revenue, march_1.total + also_march_1.total);
    assert_eq!(got[1].revenue, march_2.total + dec!(2.35));
    let period_kwh: Decimal = got[0].periods.iter().map(|p| p.kwh).sum();
    assert_eq!(period_kwh, got[0].kwh, "time-of-use energy is all in some period");

    assert_eq!(db.station_days(&[here.station.id], until, day("2026-03-04")).await.unwrap().len(), 1);
    assert!(db.station_days(&[], from, until).await.unwrap().is_empty());
    assert!(db.station_days(&[here.station.id], from, from).await.unwrap().is_empty());
}

async fn alarms_are_counted_by_pile_and_kind(db: &Db) {
    let here = site(db).await;
    let second = new_pile(db, &here.station, &unique("pile")).await;
    let alarm = |pile: Option<&PileId>, kind: &str, at: DateTime<Utc>| NewAlarm {
        station_id: here.station.id,
        pile_id: pile.cloned(),
        port: None,
        kind: kind.into(),
        severity: Severity::Major,
        message: kind.into(),
        raised_at: at,
    };
    let hour = |h: i64| t(h * 3_600_000_000);
    for a in [
        alarm(Some(&here.pile), "over_voltage", hour(1)),
        alarm(Some(&here.pile), "over_voltage", hour(15)),
        alarm(Some(&here.pile), "offline", hour(2)),
        alarm(Some(&second), "over_voltage", hour(3)),
        alarm(None, "station_over_limit", hour(4)),
        // 2 March local: outside the report.
        alarm(Some(&here.pile), "over_voltage", hour(16)),
        // 28 February local: the day before.
        alarm(Some(&here.pile), "offline", hour(-9)),
    ] {
        db.raise_alarm(&a).await.unwrap();
    }
    let got =
        db.fault_counts(&[here.station.id, MISSING], day("2026-03-01"), day("2026-03-02")).await.unwrap();
    let mut rows: Vec<_> = got.iter().map(|f| (f.pile_id.clone(), f.kind.as_str(), f.alarms)).collect();
    assert!(got.iter().all(|f| f.station_id == here.station.id));
    let mut want = vec![
        (Some(here.pile.clone()), "offline", 1),
        (Some(here.pile.clone()), "over_voltage", 2),
        (Some(second.clone()), "over_voltage", 1),
        (None, "station_over_limit", 1),
    ];
    rows.sort();
    want.sort();
    assert_eq!(rows, want);
    let february = db.fault_counts(&[here.station.id], day("2026-02-28"), day("2026-03-01")).await.unwrap();
    assert_eq!(february.len(), 1);
    assert_eq!((february[0].kind.as_str(), february[0].alarms), ("offline", 1));
}
