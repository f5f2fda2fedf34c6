//! Sessions every backend must keep exactly: inserted once, updated until
//! finished, readings in order, billed once, open sessions and diagnostics.

use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::StoreError;

use super::{charging, finished, new_pile, session_at, site, t, terms, unique, Db};
use domain::pricing::{BillLine, Pricing, Terms, Tier};
use domain::session::{MeterSample, SessionState, StopReason};
use domain::tariff::Period;
use vocab::{PileId, PortNo, SessionId};

pub async fn run(db: &Db) {
    session_insert_and_duplicate(db).await;
    update_session_round_trips_exactly(db).await;
    update_after_finish_conflicts(db).await;
    samples_come_back_in_time_then_arrival_order(db).await;
    finish_bills_once(db).await;
    open_sessions_lists_a_piles_open_sessions_oldest_first(db).await;
    tier_priced_session_round_trips(db).await;
    concurrent_writes_all_land(db).await;
    diagnostics_come_back_newest_first(db).await;
}

async fn session_insert_and_duplicate(db: &Db) {
    let site = site(db).await;
    let s = session_at(&site, &site.pile, t(5));
    db.insert_session(&s).await.unwrap();
    assert_eq!(db.session(&s.id).await.unwrap(), Some(s.clone()));

    let mut dup = s.clone();
    dup.port = PortNo(2);
    let err = db.insert_session(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.session(&s.id).await.unwrap(), Some(s), "a conflict changes nothing");
}

async fn update_session_round_trips_exactly(db: &Db) {
    let site = site(db).await;
    let mut s = session_at(&site, &site.pile, t(1_000_001));
    db.insert_session(&s).await.unwrap();

    s.start_result(true, t(2_000_003), None).unwrap();
    db.update_session(&s).await.unwrap();
    assert_eq!(db.session(&s.id).await.unwrap(), Some(s.clone()));

    // 08:01 to 10:30 local crosses from flat into peak: the split has a long
    // fraction that must come back to the last digit.
    s.reading(t(62_000_005), dec!(1.2345), dec!(6543.2), None).unwrap();
    s.reading(t(9_000_000_007), dec!(33.3333), dec!(7001.9), None).unwrap();
    s.stopping().unwrap();
    s.stop_reason = Some(StopReason { code: 0x41, text: "battery full".into() });
    db.update_session(&s).await.unwrap();

    let read = db.session(&s.id).await.unwrap().unwrap();
    assert_eq!(read, s);
    assert_eq!(read.state, SessionState::Stopping);
    assert!(read.meter.energy.kwh(Period::Peak) > Decimal::ZERO);
    assert_eq!(read.meter.energy.kwh(Period::Flat).to_string(), s.meter.energy.kwh(Period::Flat).to_string());
    assert_eq!(read.meter.energy.total(), dec!(33.3333));
    assert_eq!((read.meter.last_at, read.meter.kwh), (Some(t(9_000_000_007)), dec!(33.3333)));
    assert_eq!(read.meter.max_power, dec!(7001.9));
    assert_eq!(read.started_at, Some(t(2_000_003)), "timestamps keep the microsecond");
}

async fn update_after_finish_conflicts(db: &Db) {
    let site = site(db).await;
    let s = charging(&site);
    db.insert_session(&s).await.unwrap();
    let (done, bill) = finished(s.clone(), dec!(40));
    assert!(db.finish_session(&done, &bill).await.unwrap());

    let err = db.update_session(&s).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.session(&s.id).await.unwrap(), Some(done));
}

async fn samples_come_back_in_time_then_arrival_order(db: &Db) {
    let site = site(db).await;
    let s = charging(&site);
    db.insert_session(&s).await.unwrap();
    let sample = |at: i64, kwh: Decimal, soc: Option<u8>| MeterSample {
        session_id: s.id.clone(),
        at: t(at),
        kwh,
        voltage: dec!(380.10),
        current: dec!(-0.5),
        power: dec!(0.00001),
        soc,
    };
    let later = vec![sample(30_000_001, dec!(3), Some(40)), sample(40_000_001, dec!(12.3400), None)];
    let earlier = vec![sample(10_000_001, dec!(1), Some(20)), sample(20_000_001, dec!(2), Some(30))];
    // Same instant as one already stored: it must come after it.
    let tie = vec![sample(40_000_001, dec!(12.3401), Some(50)), sample(50_000_001, dec!(13), Some(51))];
    for batch in [later.clone(), earlier.clone(), tie.clone()] {
        db.append_samples(batch).await.unwrap();
    }
    db.append_samples(Vec::new()).await.unwrap();

    let expected = [&earlier[..], &later[..], &tie[..]].concat();
    let read = db.samples(&s.id).await.unwrap();
    assert_eq!(read, expected);
    assert_eq!(read[3].kwh.to_string(), "12.3400");
    assert_eq!(read[0].voltage.to_string(), "380.10");
}

async fn finish_bills_once(db: &Db) {
    let site = site(db).await;
    let s = charging(&site);
    db.insert_session(&s).await.unwrap();
    let (first, bill) = finished(s.clone(), dec!(40));
    assert!(bill.total > Decimal::ZERO);
    assert!(db.finish_session(&first, &bill).await.unwrap());

    // A pile repeating its final record with other figures bills nothing new.
    let (mut second, mut other) = finished(s.clone(), dec!(50));
    second.ended_at = Some(t(20_000_000_000));
    other.total += dec!(1.11);
    assert!(!db.finish_session(&second, &other).await.unwrap());

    let stored = db.bill(&s.id).await.unwrap().unwrap();
    assert_eq!(stored, bill);
    assert_eq!(stored.total.to_string(), bill.total.to_string());
    assert_eq!(db.session(&s.id).await.unwrap(), Some(first));
}

async fn open_sessions_lists_a_piles_open_sessions_oldest_first(db: &Db) {
    let site = site(db).await;
    let other_pile = new_pile(db, &site.station, &unique("pile")).await;
    let at = |us| session_at(&site, &site.pile, t(us));

    let mut starting = at(100);
    let mut charging = at(300);
    charging.start_result(true, t(301), None).unwrap();
    let mut stopping = at(200);
    stopping.start_result(true, t(201), None).unwrap();
    stopping.stopping().unwrap();
    let mut failed = at(50);
    failed.start_result(false, t(51), None).unwrap();
    let mut done = at(10);
    done.start_result(true, t(11), None).unwrap();
    let elsewhere = session_at(&site, &other_pile, t(0));
    for s in [&starting, &charging, &stopping, &failed, &done, &elsewhere] {
        db.insert_session(s).await.unwrap();
    }
    let (done, bill) = finished(done, dec!(1));
    db.finish_session(&done, &bill).await.unwrap();

    let open = db.open_sessions(&site.pile).await.unwrap();
    assert_eq!(open, vec![starting.clone(), stopping.clone(), charging.clone()]);

    starting.start_result(false, t(102), None).unwrap();
    db.update_session(&starting).await.unwrap();
    let ids: Vec<_> = db.open_sessions(&site.pile).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, [stopping.id, charging.id]);
    assert_eq!(db.open_sessions(&other_pile).await.unwrap(), vec![elsewhere]);
}

/// An e-bike charge on a tier plan, prepaid: its terms, tier meter and bill
/// with a refund come back exactly.
async fn tier_priced_session_round_trips(db: &Db) {
    let site = site(db).await;
    let pricing = Pricing::PowerTiers {
        tiers: vec![
            Tier { up_to_w: dec!(200), per_hour: dec!(0.5) },
            Tier { up_to_w: dec!(400), per_hour: dec!(0.8) },
        ],
        unit_minutes: 1,
        switch_after_s: 60,
    };
    let plan = db.create_plan(1, &unique("plan"), &pricing).await.unwrap();
    let mut s = session_at(&site, &site.pile, t(1));
    s.terms = Terms { pricing, plan_id: Some(plan.id), prepaid: Some(dec!(3.00)), ..terms(&site) };
    db.insert_session(&s).await.unwrap();
    s.start_result(true, t(2), None).unwrap();
    s.reading(t(300_000_000), dec!(0.01), dec!(150.5), Some(300)).unwrap();
    s.reading(t(600_000_000), dec!(0.04), dec!(350), Some(600)).unwrap();
    db.update_session(&s).await.unwrap();
    assert_eq!(db.session(&s.id).await.unwrap(), Some(s.clone()));

    let (done, bill) = {
        let reason = StopReason { code: 1, text: "full".into() };
        let bill = s.finish(t(900_000_000), dec!(0.07), Some(900), reason).unwrap();
        (s, bill)
    };
    assert!(bill.lines.iter().any(|l| matches!(l, BillLine::Tier { tier: 2, .. })), "{bill:?}");
    assert!(bill.refund > Decimal::ZERO);
    assert!(db.finish_session(&done, &bill).await.unwrap());
    assert_eq!(db.bill(&done.id).await.unwrap(), Some(bill));
    assert_eq!(db.session(&done.id).await.unwrap(), Some(done));
}

async fn concurrent_writes_all_land(db: &Db) {
    const TASKS: i64 = 50;
    const EACH: i64 = 40;
    const SESSIONS: i64 = 5;
    let site = site(db).await;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let s = charging(&site);
        db.insert_session(&s).await.unwrap();
        sessions.push(s.id);
    }
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = Arc::clone(db);
            let id = sessions[(task % SESSIONS) as usize].clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let sample = MeterSample {
                        session_id: id.clone(),
                        at: t(task * 1_000_000 + i),
                        kwh: Decimal::new(task * EACH + i, 4),
                        voltage: dec!(400),
                        current: dec!(100),
                        power: dec!(40000),
                        soc: Some(i as u8),
                    };
                    db.append_samples(vec![sample]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut total = 0;
    for id in &sessions {
        let samples = db.samples(id).await.unwrap();
        assert_eq!(samples.len() as i64, TASKS / SESSIONS * EACH);
        assert!(samples.windows(2).all(|w| w[0].at < w[1].at), "time order");
        total += samples.len() as i64;
    }
    assert_eq!(total, TASKS * EACH);
}

async fn diagnostics_come_back_newest_first(db: &Db) {
    let site = site(db).await;
    let d = |us: i64, kind: &str| store::Diagnostic {
        pile_id: site.pile.clone(),
        port: 1,
        session_id: (us > 1).then(|| SessionId("s-1".into())),
        at: t(us),
        kind: kind.into(),
        data: format!("0A{us:02X}"),
    };
    db.append_diagnostics(vec![d(1, "BMS handshake"), d(2, "battery status")]).await.unwrap();
    db.append_diagnostics(vec![d(3, "charger stop")]).await.unwrap();
    assert_eq!(
        db.diagnostics(&site.pile, 10).await.unwrap(),
        vec![d(3, "charger stop"), d(2, "battery status"), d(1, "BMS handshake")]
    );
    assert_eq!(db.diagnostics(&site.pile, 1).await.unwrap(), vec![d(3, "charger stop")]);
    assert_eq!(db.diagnostics(&PileId::from("no-such-pile"), 10).await.unwrap(), vec![]);
}
