//! The SQLite store: the shared conformance suite on both kinds of tokio
//! runtime (the server runs actors on actix-rt's current-thread runtime),
//! plus what only this backend promises: the file survives a restart,
//! migrations run once, writes are batched, and the database is in WAL mode.

mod conformance;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use store::prelude::*;

use chrono::{DateTime, Utc};
use domain::pricing::{Pricing, Terms};
use domain::session::{MeterSample, SessionRecord, StopReason};
use domain::tariff::TouPrices;
use rust_decimal_macros::dec;
use store::{NewStation, PileRecord, SqliteConfig, SqliteStore, Store, StoreError};
use tempfile::TempDir;
use vocab::{PileId, PortNo, Protocol, SessionId};

/// A database path in a fresh directory, one level down so `open` has to
/// create it.
fn fresh() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("chargeplane.db");
    (dir, path)
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteConfig::new(path)).unwrap()
}

fn t(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_772_323_200_000_000 + us).unwrap()
}

/// A tariff, station and pile to hang sessions on.
async fn site(store: &SqliteStore, pile: &str) -> SessionRecord {
    let tariff = store.create_tariff(1, "flat", &TouPrices::flat(dec!(1.2), dec!(0.8))).await.unwrap();
    let station = store
        .create_station(&NewStation {
            operator_id: 1,
            name: "depot".into(),
            tariff_id: tariff.id,
            utc_offset_minutes: 480,
            service_fee: rust_decimal::Decimal::ZERO,
            minimum_charge: rust_decimal::Decimal::ZERO,
            merchant_id: None,
            details: None,
        })
        .await
        .unwrap();
    let pile = PileRecord {
        id: PileId::from(pile),
        station_id: station.id,
        protocol: Protocol::Ykc,
        ports: 2,
        created_at: t(0),
    };
    store.create_pile(&pile).await.unwrap();
    let terms = Terms {
        pricing: Pricing::TimeOfUse { tariff_id: tariff.id, tou: tariff.tou },
        plan_id: None,
        prepaid: None,
        service_fee: station.service_fee,
        minimum: station.minimum_charge,
        utc_offset_minutes: station.utc_offset_minutes,
        discount: None,
        payer: None,
        merchant_id: None,
    };
    SessionRecord::new(SessionId("s-1".into()), pile.id, PortNo(1), station.id, terms, t(1))
}

fn sample(session: &SessionRecord, at: i64) -> MeterSample {
    MeterSample {
        session_id: session.id.clone(),
        at: t(at),
        kwh: dec!(0.0001) * rust_decimal::Decimal::from(at),
        voltage: dec!(400.0),
        current: dec!(31.5),
        power: dec!(12600),
        soc: None,
    }
}

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_on_a_multi_thread_runtime() {
    let (_dir, path) = fresh();
    conformance::run(Arc::new(open(&path))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn conformance_on_a_current_thread_runtime() {
    let (_dir, path) = fresh();
    conformance::run(Arc::new(open(&path))).await;
}

#[tokio::test]
async fn data_survives_drop_and_reopen() {
    let (_dir, path) = fresh();
    let store = open(&path);
    let mut session = site(&store, "p-1").await;
    store.insert_session(&session).await.unwrap();
    session.start_result(true, t(2), None).unwrap();
    store.update_session(&session).await.unwrap();
    store.append_samples(vec![sample(&session, 10), sample(&session, 20)]).await.unwrap();
    let tou = TouPrices::flat(dec!(1.2), dec!(0.8));
    let bill =
        session.finish(t(30), dec!(7.5), None, StopReason { code: 0x40, text: "done".into() }).unwrap();
    assert!(store.finish_session(&session, &bill).await.unwrap());
    let pile = store.pile(&session.pile_id).await.unwrap();
    drop(store);
    // The writer closed last and checkpointed: everything is in the main file.
    assert!(!PathBuf::from(format!("{}-wal", path.display())).exists());

    let store = open(&path);
    assert_eq!(store.pile(&session.pile_id).await.unwrap(), pile);
    assert_eq!(store.session(&session.id).await.unwrap(), Some(session.clone()));
    assert_eq!(store.bill(&session.id).await.unwrap(), Some(bill));
    assert_eq!(store.samples(&session.id).await.unwrap(), vec![sample(&session, 10), sample(&session, 20)]);
    assert!(store.station(session.station_id).await.unwrap().is_some());
    // Ids keep counting after a restart.
    let tariff = store.create_tariff(1, "next", &tou).await.unwrap();
    let Pricing::TimeOfUse { tariff_id, .. } = session.terms.pricing else { unreachable!() };
    assert!(tariff.id > tariff_id);
}

#[tokio::test]
async fn reopening_applies_no_migration_twice() {
    let (_dir, path) = fresh();
    drop(open(&path));
    let version = user_version(&path);
    assert!(version >= 1);
    let tables = |path: &Path| -> i64 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap()
    };
    let objects = tables(&path);

    let store = open(&path);
    store.create_tariff(1, "still writable", &TouPrices::flat(dec!(1), dec!(1))).await.unwrap();
    drop(store);
    assert_eq!(user_version(&path), version);
    assert_eq!(tables(&path), objects);
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let (_dir, path) = fresh();
    drop(open(&path));
    let newer = user_version(&path) + 1;
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", newer).unwrap();
    let err = SqliteStore::open(SqliteConfig::new(&path)).err().unwrap();
    assert!(matches!(&err, StoreError::Backend(m) if m.contains("version")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_share_transactions() {
    let (_dir, path) = fresh();
    let store = Arc::new(open(&path));
    let session = site(&store, "p-1").await;
    store.insert_session(&session).await.unwrap();
    let before = store.stats();

    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let (store, s) = (Arc::clone(&store), sample(&session, i));
            tokio::spawn(async move { store.append_samples(vec![s]).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let after = store.stats();
    let (writes, batches) = (after.writes - before.writes, after.batches - before.batches);
    assert_eq!(writes, 500);
    assert!(batches < writes, "{batches} batches for {writes} writes");
    assert_eq!((after.queued, after.errors), (0, 0));
    assert_eq!(store.samples(&session.id).await.unwrap().len(), 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_rolls_back_only_itself() {
    let (_dir, path) = fresh();
    // A wide window puts every write below into one transaction.
    let config = SqliteConfig { batch_window: Duration::from_millis(300), ..SqliteConfig::new(&path) };
    let store = Arc::new(SqliteStore::open(config).unwrap());
    let session = site(&store, "p-0").await;
    let taken = store.pile(&session.pile_id).await.unwrap().unwrap();
    let before = store.stats();

    let tasks: Vec<_> = (1..=9)
        .map(|i| {
            let store = Arc::clone(&store);
            // The fifth reuses the taken id; its neighbours must still land.
            let id = if i == 5 { taken.id.clone() } else { PileId(format!("p-{i}")) };
            let pile = PileRecord { id, ..taken.clone() };
            tokio::spawn(async move { store.create_pile(&pile).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }

    for (i, result) in (1..=9).zip(&results) {
        if i == 5 {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        } else {
            assert_eq!(result, &Ok(()));
            assert!(store.pile(&PileId(format!("p-{i}"))).await.unwrap().is_some());
        }
    }
    let after = store.stats();
    assert_eq!(after.batches - before.batches, 1);
    assert_eq!((after.writes - before.writes, after.errors - before.errors), (8, 1));
}

#[tokio::test]
async fn references_must_exist() {
    let (_dir, path) = fresh();
    let store = open(&path);
    let session = site(&store, "p-1").await;

    let orphan = SessionRecord { pile_id: PileId::from("nowhere"), ..session.clone() };
    let err = store.insert_session(&orphan).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound("pile nowhere".into()));

    // One bad reading fails its whole append and stores none of it.
    store.insert_session(&session).await.unwrap();
    let ghost = SessionRecord { id: SessionId("ghost".into()), ..session.clone() };
    let err = store.append_samples(vec![sample(&session, 1), sample(&ghost, 2)]).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound("session ghost".into()));
    assert_eq!(store.samples(&session.id).await.unwrap(), Vec::new());
}

#[tokio::test]
async fn the_database_is_in_wal_mode() {
    let (_dir, path) = fresh();
    let _store = open(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_cannot_commit_fails_its_writes_and_the_store_recovers() {
    let (_dir, path) = fresh();
    let store = open(&path);
    // Another process (a backup, a shell) holds the write lock past the
    // store's busy timeout.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.create_tariff(1, "blocked", &TouPrices::flat(dec!(1), dec!(1))).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!((store.stats().errors, store.stats().queued), (1, 0));

    other.execute_batch("ROLLBACK").unwrap();
    let tariff = store.create_tariff(1, "after", &TouPrices::flat(dec!(1), dec!(1))).await.unwrap();
    assert_eq!(store.tariff(tariff.id).await.unwrap().unwrap().name, "after");
}

/// `chargeplane export`'s path without a cluster: an SQLite store copied
/// into a fresh one through the same import every backend implements.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_round_trips_into_a_fresh_store() {
    let (_a, source) = fresh();
    let (_b, target) = fresh();
    let source = Arc::new(open(&source));
    let target = Arc::new(open(&target));
    conformance::import::an_export_is_imported_whole_and_once(source.clone(), target.clone()).await;
    // What the target exports is what the source did, record for record.
    let (from, to) =
        (conformance::import::everything(&source).await, conformance::import::everything(&target).await);
    let tariffs = |rs: &[store::Record]| rs.iter().filter(|r| matches!(r, store::Record::Tariff(_))).count();
    assert_eq!(tariffs(&to), tariffs(&from) + 1, "one tariff made after the move");
    let rest = |rs: Vec<store::Record>| {
        rs.into_iter()
            .filter(|r| !matches!(r, store::Record::Tariff(t) if t.name == "after the move"))
            .collect::<Vec<_>>()
    };
    assert_eq!(rest(to), rest(from));
}

/// A station's power samples older than the retention are deleted when the
/// station's next sample is written; other stations' stay.
#[tokio::test]
async fn power_samples_past_retention_are_deleted_as_new_ones_come() {
    use store::{PowerHistory, PowerSample};
    let (_dir, path) = fresh();
    let store = open(&path);
    let sample = |station, us| PowerSample {
        station_id: station,
        at: t(us),
        limit_w: None,
        allocated_w: dec!(0),
        measured_w: dec!(1.5),
    };
    let hour = 3_600_000_000;
    let keep = Duration::from_secs(2 * 3600);
    for (station, us) in [(1, 0), (1, hour), (2, 0)] {
        store.record_station_power(&sample(station, us), keep).await.unwrap();
    }
    store.record_station_power(&sample(1, 2 * hour + 1), keep).await.unwrap();
    let at = |list: Vec<PowerSample>| list.into_iter().map(|s| s.at).collect::<Vec<_>>();
    assert_eq!(at(store.station_power(1, t(0), t(3 * hour)).await.unwrap()), vec![t(hour), t(2 * hour + 1)]);
    assert_eq!(at(store.station_power(2, t(0), t(3 * hour)).await.unwrap()), vec![t(0)]);
}
