//! The behaviour every `Store` backend must have, written once.
//!
//! A backend's test file opens a store and calls `run`. Each check makes its
//! own tariff, station, piles and sessions under fresh ids, so the suite also
//! runs against a database that other runs (or other suites) share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use domain::alarm::{AlarmFilter, NewAlarm};
use domain::allocation::{LimitSchedule, PowerConfig, Transformer};
use domain::pricing::{Bill, BillLine, Pricing, Terms, Tier};
use domain::session::{MeterSample, SessionRecord, SessionState, StopReason};
use domain::tariff::{Period, PeriodPrice, Tariff, TouPrices};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::{NewStation, PileRecord, Station, Store, StoreError, StoredResponse};
use vocab::{PileId, PortNo, Protocol, SessionId, Severity};

pub mod cluster;
mod money;
mod reports;

type Db = Arc<dyn Store>;

/// An id no backend hands out: ids count up from 1.
const MISSING: i64 = i64::MAX - 7;

pub async fn run(store: Arc<dyn Store>) {
    tariff_round_trips(&store).await;
    plan_round_trips(&store).await;
    station_needs_an_existing_tariff(&store).await;
    pile_conflicts_and_needs_an_existing_station(&store).await;
    piles_are_ordered_by_id(&store).await;
    session_insert_and_duplicate(&store).await;
    update_session_round_trips_exactly(&store).await;
    update_after_finish_conflicts(&store).await;
    samples_come_back_in_time_then_arrival_order(&store).await;
    finish_bills_once(&store).await;
    open_sessions_lists_a_piles_open_sessions_oldest_first(&store).await;
    unknown_ids_are_none_or_not_found(&store).await;
    tier_priced_session_round_trips(&store).await;
    idempotent_responses_are_kept_once(&store).await;
    station_power_round_trips(&store).await;
    alarms_are_raised_listed_acknowledged_and_cleared(&store).await;
    concurrent_writes_all_land(&store).await;
    diagnostics_come_back_newest_first(&store).await;
    station_details_round_trip_and_stations_are_listed(&store).await;
    operators_own_what_is_created_for_them(&store).await;
    edits_replace_and_items_go_out_of_service(&store).await;
    offline_lists_are_kept_per_pile(&store).await;
    charge_point_passwords_are_set_replaced_and_removed(&store).await;
    money::run(&store).await;
    reports::run(&store).await;
    cluster::pile_directory_moves_with_the_pile_and_lapses(&store).await;
}

async fn operators_own_what_is_created_for_them(db: &Db) {
    let default = db.operator(vocab::DEFAULT_OPERATOR).await.unwrap().expect("every store has it");
    assert_eq!(default.status, domain::accounts::Status::Active);
    let name = unique("operator");
    let op = db.create_operator(&name).await.unwrap();
    assert!(op.id > default.id);
    assert_eq!(db.operator(op.id).await.unwrap(), Some(op.clone()));
    assert_eq!(db.operator(MISSING).await.unwrap(), None);
    let frozen = domain::accounts::Status::Frozen;
    let frozen = db.update_operator(op.id, "renamed", frozen).await.unwrap().unwrap();
    assert_eq!((frozen.name.as_str(), frozen.status), ("renamed", domain::accounts::Status::Frozen));
    assert_eq!(db.operator(op.id).await.unwrap(), Some(frozen.clone()));
    assert_eq!(db.update_operator(MISSING, "x", domain::accounts::Status::Active).await.unwrap(), None);
    let all = db.operators().await.unwrap();
    assert!(all.contains(&frozen) && all.windows(2).all(|w| w[0].id < w[1].id));

    let tariff = db.create_tariff(op.id, &unique("tariff"), &tou()).await.unwrap();
    let hourly = Pricing::Time { per_hour: dec!(1), unit_minutes: 1 };
    let plan = db.create_plan(op.id, &unique("plan"), &hourly).await.unwrap();
    let merchant = db.create_merchant(op.id, &unique("merchant"), dec!(5)).await.unwrap();
    let station = NewStation {
        operator_id: op.id,
        name: unique("station"),
        tariff_id: tariff.id,
        utc_offset_minutes: 480,
        service_fee: dec!(0),
        minimum_charge: dec!(0),
        merchant_id: Some(merchant.id),
        details: None,
    };
    let station = db.create_station(&station).await.unwrap();
    assert_eq!(db.tariff(tariff.id).await.unwrap().unwrap().operator_id, op.id);
    assert_eq!(db.plan(plan.id).await.unwrap().unwrap().operator_id, op.id);
    assert_eq!(db.merchant(merchant.id).await.unwrap().unwrap().operator_id, op.id);
    assert_eq!(db.station(station.id).await.unwrap().unwrap().operator_id, op.id);
    let tariffs = db.tariffs().await.unwrap();
    assert!(tariffs.contains(&tariff) && tariffs.windows(2).all(|w| w[0].id < w[1].id));
    let plans = db.plans().await.unwrap();
    assert!(plans.contains(&plan) && plans.windows(2).all(|w| w[0].id < w[1].id));
    assert!(db.merchants().await.unwrap().contains(&merchant));
}

async fn edits_replace_and_items_go_out_of_service(db: &Db) {
    use store::{Item, ItemKind};
    let site = site(db).await;
    let mut station = site.station.clone();
    station.name = unique("renamed");
    station.service_fee = dec!(0.25);
    station.utc_offset_minutes = -300;
    assert!(db.update_station(&station).await.unwrap());
    assert_eq!(db.station(station.id).await.unwrap(), Some(station.clone()));
    station.merchant_id = Some(MISSING);
    assert!(matches!(db.update_station(&station).await, Err(StoreError::NotFound(_))));
    assert!(!db.update_station(&Station { id: MISSING, ..site.station.clone() }).await.unwrap());

    let mut tariff = db.tariff(station.tariff_id).await.unwrap().unwrap();
    tariff.name = unique("tariff");
    tariff.tou = TouPrices::flat(dec!(3), dec!(1));
    assert!(db.update_tariff(&tariff).await.unwrap());
    assert_eq!(db.tariff(tariff.id).await.unwrap(), Some(tariff.clone()));
    assert!(!db.update_tariff(&Tariff { id: MISSING, ..tariff }).await.unwrap());
    let hourly = Pricing::Time { per_hour: dec!(1), unit_minutes: 1 };
    let mut plan = db.create_plan(1, &unique("plan"), &hourly).await.unwrap();
    plan.pricing = Pricing::Time { per_hour: dec!(2), unit_minutes: 5 };
    assert!(db.update_plan(&plan).await.unwrap());
    assert_eq!(db.plan(plan.id).await.unwrap(), Some(plan));
    let mut merchant = db.create_merchant(1, &unique("merchant"), dec!(5)).await.unwrap();
    merchant.commission_percent = dec!(7.5);
    assert!(db.update_merchant(&merchant).await.unwrap());
    assert_eq!(db.merchant(merchant.id).await.unwrap(), Some(merchant));

    let port = Item::port(&site.pile, 2);
    assert_eq!(db.out_of_service(&port).await.unwrap(), None);
    db.set_out_of_service(&port, Some(t(5))).await.unwrap();
    db.set_out_of_service(&port, Some(t(9))).await.unwrap();
    assert_eq!(db.out_of_service(&port).await.unwrap(), Some(t(5)), "the first time stays");
    let all = db.out_of_service_all(ItemKind::Port).await.unwrap();
    assert_eq!(all.get(&port.key), Some(&t(5)));
    assert!(!db.out_of_service_all(ItemKind::Pile).await.unwrap().contains_key(&port.key), "kinds apart");
    db.set_out_of_service(&port, None).await.unwrap();
    assert_eq!(db.out_of_service(&port).await.unwrap(), None);
    let closed = Item::new(ItemKind::Station, station.id);
    assert_eq!(db.out_of_service(&closed).await.unwrap(), None);
    db.set_out_of_service(&closed, Some(t(7))).await.unwrap();
    assert_eq!(db.out_of_service(&closed).await.unwrap(), Some(t(7)));
}

async fn offline_lists_are_kept_per_pile(db: &Db) {
    let (a, b) = (site(db).await.pile, site(db).await.pile);
    let cards = |l: &[&str]| l.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(db.offline_cards(&a).await.unwrap(), Vec::<String>::new());
    db.set_offline_cards(&a, &cards(&["00000000000000C2", "00000000000000A1"]), true).await.unwrap();
    db.set_offline_cards(&a, &cards(&["00000000000000A1"]), true).await.unwrap();
    db.set_offline_cards(&b, &cards(&["00000000000000B1"]), true).await.unwrap();
    assert_eq!(db.offline_cards(&a).await.unwrap(), cards(&["00000000000000A1", "00000000000000C2"]));
    db.set_offline_cards(&a, &cards(&["00000000000000A1", "00000000000000FF"]), false).await.unwrap();
    assert_eq!(db.offline_cards(&a).await.unwrap(), cards(&["00000000000000C2"]));
    assert_eq!(db.offline_cards(&b).await.unwrap(), cards(&["00000000000000B1"]), "piles apart");
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

fn unique(kind: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{kind}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// 2026-03-01T00:00:00Z plus `us` microseconds: odd microseconds check that
/// timestamps keep their full stored precision.
fn t(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_772_323_200_000_000 + us).unwrap()
}

/// Four distinct periods with prices down to the pile's 0.00001 yuan, some
/// with trailing zeros that must survive.
fn tou() -> TouPrices {
    let mut slots = [Period::Flat; 48];
    slots[..16].fill(Period::Valley);
    slots[20..24].fill(Period::Peak);
    slots[24..28].fill(Period::Sharp);
    TouPrices {
        prices: [
            PeriodPrice { energy: dec!(1.23450), service: dec!(0.8) },
            PeriodPrice { energy: dec!(1.00001), service: dec!(0.60) },
            PeriodPrice { energy: dec!(0.7), service: dec!(0.5) },
            PeriodPrice { energy: dec!(0.3), service: dec!(0) },
        ],
        slots,
    }
}

struct Site {
    tariff: Tariff,
    station: Station,
    pile: PileId,
}

async fn site(db: &Db) -> Site {
    let tariff = db.create_tariff(1, &unique("tariff"), &tou()).await.unwrap();
    let station = db
        .create_station(&NewStation {
            operator_id: 1,
            name: unique("station"),
            tariff_id: tariff.id,
            utc_offset_minutes: 480,
            service_fee: dec!(0.10),
            minimum_charge: dec!(0.50),
            merchant_id: None,
            details: None,
        })
        .await
        .unwrap();
    let pile = new_pile(db, &station, &unique("pile")).await;
    Site { tariff, station, pile }
}

async fn new_pile(db: &Db, station: &Station, id: &str) -> PileId {
    let pile = PileRecord {
        id: PileId::from(id),
        station_id: station.id,
        protocol: Protocol::Ykc,
        ports: 2,
        created_at: t(1),
    };
    db.create_pile(&pile).await.unwrap();
    pile.id
}

/// Time-of-use terms on the site's tariff, with the station's fees.
fn terms(site: &Site) -> Terms {
    Terms {
        pricing: Pricing::TimeOfUse { tariff_id: site.tariff.id, tou: site.tariff.tou.clone() },
        plan_id: None,
        prepaid: None,
        service_fee: site.station.service_fee,
        minimum: site.station.minimum_charge,
        utc_offset_minutes: site.station.utc_offset_minutes,
        discount: None,
        payer: None,
        merchant_id: None,
    }
}

fn session_at(site: &Site, pile: &PileId, created: DateTime<Utc>) -> SessionRecord {
    SessionRecord::new(
        SessionId(unique("session")),
        pile.clone(),
        PortNo(1),
        site.station.id,
        terms(site),
        created,
    )
}

/// A session charging since 08:00 local, metered into the 10:00 peak.
fn charging(site: &Site) -> SessionRecord {
    let mut s = session_at(site, &site.pile, t(1_000_001));
    s.start_result(true, t(2_000_003), None).unwrap();
    s.reading(t(9_000_000_007), dec!(33.3333), dec!(7000), None).unwrap();
    s
}

fn finished(mut s: SessionRecord, kwh: Decimal) -> (SessionRecord, Bill) {
    let reason = StopReason { code: 0x40, text: "stopped from the app".into() };
    let bill = s.finish(t(10_800_000_009), kwh, None, reason).unwrap();
    (s, bill)
}

async fn tariff_round_trips(db: &Db) {
    let name = unique("tariff");
    let created = db.create_tariff(1, &name, &tou()).await.unwrap();
    assert_eq!(created.name, name);
    assert_eq!(created.tou, tou());
    let read = db.tariff(created.id).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(read.tou.prices[0].energy.to_string(), "1.23450", "decimals keep their scale");

    let flat = TouPrices::flat(dec!(0.5), dec!(0.25));
    let other = db.create_tariff(1, "flat", &flat).await.unwrap();
    assert_ne!(other.id, created.id);
    assert_eq!(db.tariff(other.id).await.unwrap().unwrap().tou, flat);
}

async fn station_needs_an_existing_tariff(db: &Db) {
    let orphan = NewStation {
        operator_id: 1,
        name: unique("station"),
        tariff_id: MISSING,
        utc_offset_minutes: 480,
        service_fee: Decimal::ZERO,
        minimum_charge: Decimal::ZERO,
        merchant_id: None,
        details: None,
    };
    let err = db.create_station(&orphan).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let tariff = db.create_tariff(1, "t", &tou()).await.unwrap();
    let new = NewStation {
        operator_id: 1,
        name: unique("station"),
        tariff_id: tariff.id,
        utc_offset_minutes: -330,
        service_fee: dec!(0.250),
        minimum_charge: dec!(1),
        merchant_id: None,
        details: None,
    };
    let station = db.create_station(&new).await.unwrap();
    assert_eq!((&station.name, station.tariff_id, station.utc_offset_minutes), (&new.name, tariff.id, -330));
    assert_eq!(station.service_fee.to_string(), "0.250");
    assert_eq!(station.minimum_charge, dec!(1));
    assert_eq!(db.station(station.id).await.unwrap(), Some(station));
}

async fn pile_conflicts_and_needs_an_existing_station(db: &Db) {
    let site = site(db).await;
    let stored = db.pile(&site.pile).await.unwrap().unwrap();
    let expected = PileRecord {
        id: site.pile.clone(),
        station_id: site.station.id,
        protocol: Protocol::Ykc,
        ports: 2,
        created_at: t(1),
    };
    assert_eq!(stored, expected);

    let again = PileRecord { ports: 4, ..expected.clone() };
    let err = db.create_pile(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(db.pile(&site.pile).await.unwrap().unwrap(), expected, "a conflict changes nothing");

    let homeless = PileRecord { id: PileId(unique("pile")), station_id: MISSING, ..expected };
    let err = db.create_pile(&homeless).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(db.pile(&homeless.id).await.unwrap(), None);
}

async fn piles_are_ordered_by_id(db: &Db) {
    let site = site(db).await;
    let prefix = unique("ordered");
    for suffix in ["b", "c", "a"] {
        new_pile(db, &site.station, &format!("{prefix}-{suffix}")).await;
    }
    let all = db.piles().await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "piles ordered by id");
    let ours: Vec<_> = all.iter().filter(|p| p.id.0.starts_with(&prefix)).map(|p| p.id.0.clone()).collect();
    assert_eq!(ours, ["a", "b", "c"].map(|s| format!("{prefix}-{s}")));
    assert!(all.iter().any(|p| p.id == site.pile));
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

async fn unknown_ids_are_none_or_not_found(db: &Db) {
    let site = site(db).await;
    let ghost = SessionId(unique("ghost"));
    assert_eq!(db.tariff(MISSING).await.unwrap(), None);
    assert_eq!(db.station(MISSING).await.unwrap(), None);
    assert_eq!(db.pile(&PileId(unique("ghost"))).await.unwrap(), None);
    assert_eq!(db.session(&ghost).await.unwrap(), None);
    assert_eq!(db.bill(&ghost).await.unwrap(), None);
    assert_eq!(db.samples(&ghost).await.unwrap(), Vec::new());
    assert_eq!(db.open_sessions(&PileId(unique("ghost"))).await.unwrap(), Vec::new());

    let s = charging(&site);
    let err = db.update_session(&s).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let (done, bill) = finished(s.clone(), dec!(40));
    let err = db.finish_session(&done, &bill).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(db.session(&s.id).await.unwrap(), None);
    assert_eq!(db.bill(&s.id).await.unwrap(), None);
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

async fn plan_round_trips(db: &Db) {
    let pricing = Pricing::PowerTiers {
        tiers: vec![
            Tier { up_to_w: dec!(200), per_hour: dec!(0.50) },
            Tier { up_to_w: dec!(400.0), per_hour: dec!(0.8000) },
        ],
        unit_minutes: 5,
        switch_after_s: 120,
    };
    let name = unique("plan");
    let plan = db.create_plan(1, &name, &pricing).await.unwrap();
    assert_eq!((plan.name.as_str(), &plan.pricing), (name.as_str(), &pricing));
    let read = db.plan(plan.id).await.unwrap().unwrap();
    assert_eq!(read, plan);
    let Pricing::PowerTiers { tiers, .. } = read.pricing else { panic!("kind changed") };
    assert_eq!(tiers[1].per_hour.to_string(), "0.8000", "decimals keep their scale");
    let other =
        db.create_plan(1, "time", &Pricing::Time { per_hour: dec!(1), unit_minutes: 1 }).await.unwrap();
    assert_ne!(other.id, plan.id);
    assert_eq!(db.plan(MISSING).await.unwrap(), None);
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

async fn idempotent_responses_are_kept_once(db: &Db) {
    let key = unique("key");
    assert_eq!(db.idempotent_response(&key).await.unwrap(), None);
    let first = StoredResponse {
        fingerprint: "POST /a {}".into(),
        status: 202,
        body: r#"{"session_id":"1"}"#.into(),
        created_at: t(7),
    };
    assert!(db.remember_response(&key, &first).await.unwrap());
    let second = StoredResponse { status: 409, body: "{}".into(), ..first.clone() };
    assert!(!db.remember_response(&key, &second).await.unwrap(), "a key keeps its first response");
    assert_eq!(db.idempotent_response(&key).await.unwrap(), Some(first));
}

async fn alarms_are_raised_listed_acknowledged_and_cleared(db: &Db) {
    let (here, other) = (site(db).await, site(db).await);
    let site = &here;
    let new = |site: &Site, kind: &str, port: Option<u8>, us: i64| NewAlarm {
        station_id: site.station.id,
        pile_id: Some(site.pile.clone()),
        port: port.map(PortNo),
        kind: kind.into(),
        severity: Severity::Critical,
        message: format!("{kind} at the pile"),
        raised_at: t(us),
    };
    let smoke = db.raise_alarm(&new(site, "smoke", Some(3), 11)).await.unwrap();
    assert_eq!((smoke.acknowledged_at, smoke.cleared_at), (None, None));
    let offline = db.raise_alarm(&new(site, "offline", None, 12)).await.unwrap();
    let elsewhere = db.raise_alarm(&new(&other, "fuse", Some(1), 13)).await.unwrap();
    assert!(offline.id > smoke.id);

    let station =
        |open| AlarmFilter { station_id: Some(site.station.id), open, limit: 10, ..AlarmFilter::default() };
    let listed = db.alarms(&station(false)).await.unwrap();
    assert_eq!(listed, vec![offline.clone(), smoke.clone()], "newest first, this station only");
    let by_pile = AlarmFilter { pile_id: Some(other.pile.clone()), limit: 10, ..AlarmFilter::default() };
    assert_eq!(db.alarms(&by_pile).await.unwrap(), vec![elsewhere]);
    let page = AlarmFilter { before: Some(offline.id), ..station(false) };
    assert_eq!(db.alarms(&page).await.unwrap(), vec![smoke.clone()]);
    assert_eq!(db.alarms(&AlarmFilter { limit: 1, ..station(false) }).await.unwrap().len(), 1);

    assert_eq!(db.alarm(smoke.id).await.unwrap(), Some(smoke.clone()));
    assert_eq!(db.alarm(MISSING).await.unwrap(), None);
    let acked = db.acknowledge_alarm(smoke.id, t(20)).await.unwrap().unwrap();
    assert_eq!(acked.acknowledged_at, Some(t(20)));
    let again = db.acknowledge_alarm(smoke.id, t(30)).await.unwrap().unwrap();
    assert_eq!(again.acknowledged_at, Some(t(20)), "the first acknowledgement stands");
    let cleared = db.clear_alarm(smoke.id, t(40)).await.unwrap().unwrap();
    assert_eq!((cleared.acknowledged_at, cleared.cleared_at), (Some(t(20)), Some(t(40))));
    assert_eq!(db.alarms(&station(true)).await.unwrap(), vec![offline], "cleared alarms are not open");
    assert_eq!(db.acknowledge_alarm(MISSING, t(1)).await.unwrap(), None);
    // A station-wide alarm names no pile.
    let over =
        NewAlarm { pile_id: None, port: None, kind: "station_over_limit".into(), ..new(site, "x", None, 50) };
    let over = db.raise_alarm(&over).await.unwrap();
    assert_eq!(db.alarms(&station(true)).await.unwrap()[0], over);
    assert_eq!(db.clear_alarm(MISSING, t(1)).await.unwrap(), None);
}

async fn station_power_round_trips(db: &Db) {
    let site = site(db).await;
    assert_eq!(site.station.power, None);
    let power = PowerConfig {
        transformer: Transformer { capacity_w: dec!(400000), margin_w: dec!(20000.5) },
        schedule: LimitSchedule::new(vec![(0, dec!(300000)), (8 * 60, dec!(400000))]).unwrap(),
        ykc_gun_rated_w: dec!(60000),
        ebike_port_min_w: dec!(100),
        ebike_port_max_w: dec!(600),
        priority_ports: vec![(PileId::from("p-1"), PortNo(2))],
    };
    let set = db.set_station_power(site.station.id, Some(&power)).await.unwrap().unwrap();
    assert_eq!(set.power.as_ref(), Some(&power));
    assert_eq!(db.station(site.station.id).await.unwrap().unwrap().power, Some(power));
    let unset = db.set_station_power(site.station.id, None).await.unwrap().unwrap();
    assert_eq!(unset.power, None);
    assert_eq!(db.set_station_power(MISSING, None).await.unwrap(), None);

    let other = db.create_tariff(1, &unique("tariff"), &TouPrices::flat(dec!(2), dec!(1))).await.unwrap();
    let moved = db.set_station_tariff(site.station.id, other.id).await.unwrap().unwrap();
    assert_eq!(moved.tariff_id, other.id);
    assert_eq!(db.station(site.station.id).await.unwrap().unwrap().tariff_id, other.id);
    let err = db.set_station_tariff(site.station.id, MISSING).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(db.set_station_tariff(MISSING, other.id).await.unwrap(), None);
}

async fn station_details_round_trip_and_stations_are_listed(db: &Db) {
    let site = site(db).await;
    let details = store::StationDetails {
        address: "1 Xinjiekou, Nanjing".into(),
        lat: dec!(32.041544),
        lon: dec!(118.784810),
        opening_hours: "07:00-23:00".into(),
        photos: vec!["https://img.example/1.jpg".into()],
    };
    let set = db.set_station_details(site.station.id, Some(&details)).await.unwrap().unwrap();
    assert_eq!(set.details.as_ref(), Some(&details));
    assert_eq!(db.station(site.station.id).await.unwrap().unwrap().details, Some(details.clone()));
    let listed = db.stations().await.unwrap();
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "by id");
    assert_eq!(listed.iter().find(|s| s.id == site.station.id).map(|s| &s.details), Some(&Some(details)));
    assert!(db.set_station_details(site.station.id, None).await.unwrap().unwrap().details.is_none());
    assert_eq!(db.set_station_details(MISSING, None).await.unwrap(), None);
}

async fn charge_point_passwords_are_set_replaced_and_removed(db: &Db) {
    let pile = PileId::from(unique("CP-PW").as_str());
    assert_eq!(db.ocpp_password(&pile).await.unwrap(), None);
    db.set_ocpp_password(&pile, Some("$argon2id$one")).await.unwrap();
    db.set_ocpp_password(&pile, Some("$argon2id$two")).await.unwrap();
    assert_eq!(db.ocpp_password(&pile).await.unwrap().as_deref(), Some("$argon2id$two"));
    db.set_ocpp_password(&pile, None).await.unwrap();
    assert_eq!(db.ocpp_password(&pile).await.unwrap(), None);
}
