//! The behaviour every `Store` backend must have, written once.
//!
//! A backend's test file opens a store and calls `run`. Each check makes its
//! own tariff, station, piles and sessions under fresh ids, so the suite also
//! runs against a database that other runs (or other suites) share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use domain::pricing::{Bill, Pricing, Terms};
use domain::session::{SessionRecord, StopReason};
use domain::tariff::{Period, PeriodPrice, Tariff, TouPrices};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::{NewStation, PileRecord, Station, Store, StoreError};
use vocab::{PileId, PortNo, Protocol, SessionId};

mod accounts;
mod alarms;
mod credentials;
mod directory;
mod idempotency;
pub mod import;
mod leases;
mod listing;
mod money;
mod power_history;
mod reports;
mod resources;
mod sessions;

type Db = Arc<dyn Store>;

/// An id no backend hands out: ids count up from 1.
const MISSING: i64 = i64::MAX - 7;

pub async fn run(store: Arc<dyn Store>) {
    resources::run(&store).await;
    accounts::run(&store).await;
    sessions::run(&store).await;
    unknown_ids_are_none_or_not_found(&store).await;
    idempotency::run(&store).await;
    alarms::run(&store).await;
    credentials::run(&store).await;
    money::run(&store).await;
    listing::run(&store).await;
    power_history::run(&store).await;
    reports::run(&store).await;
    directory::run(&store).await;
    leases::run(&store).await;
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
