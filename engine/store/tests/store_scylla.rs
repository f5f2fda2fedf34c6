//! The ScyllaDB store: the shared conformance suite and what only this
//! backend promises, against a real cluster, plus URI parsing, which needs
//! none.
//!
//! The cluster tests run when `CHARGEPLANE_SCYLLA_URI` names one, e.g.
//! `scylla://127.0.0.1:9042/chargeplane_test` (a single-node dev cluster gets
//! `replication_factor=1` unless the URI sets it). Each test works in a fresh
//! keyspace named after the URI's with a unique suffix, dropped when the
//! test passes. Without the variable they print a notice and pass.

mod conformance;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use store::prelude::*;

use chrono::{DateTime, Utc};
use domain::pricing::{Pricing, Terms};
use domain::session::{MeterSample, SessionRecord};
use domain::tariff::TouPrices;
use rust_decimal_macros::dec;
use store::scylla::{Consistency, SerialConsistency};
use store::{NewStation, PileRecord, ScyllaConfig, ScyllaStore, Store, StoreError};
use vocab::{PileId, PortNo, Protocol, SessionId};

const URI_VAR: &str = "CHARGEPLANE_SCYLLA_URI";

/// The cluster to test against, in a keyspace of its own; `None` (after
/// saying so) when no cluster is configured.
fn cluster() -> Option<ScyllaConfig> {
    let Ok(uri) = std::env::var(URI_VAR) else {
        println!("skipping ScyllaDB conformance: set {URI_VAR}=scylla://host:9042/keyspace to run it");
        return None;
    };
    let mut config = ScyllaConfig::from_uri(&uri).unwrap_or_else(|e| panic!("{URI_VAR}: {e}"));
    if !uri.contains("replication_factor=") {
        config.replication = "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}".into();
    }
    // The suite reads its readings back at once: with LOCAL_ONE writes a
    // read on another replica may not see them yet.
    config.sample_consistency = Consistency::LocalQuorum;
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    let base: String = config.keyspace.chars().take(20).collect();
    config.keyspace = format!("{base}_t{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    Some(config)
}

/// Drops a test's keyspace once it has passed.
async fn drop_keyspace(config: &ScyllaConfig) {
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_nodes(&config.nodes)
        .build()
        .await
        .expect("connecting to drop the test keyspace");
    session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", config.keyspace), ()).await.unwrap();
}

async fn connect(config: &ScyllaConfig) -> ScyllaStore {
    ScyllaStore::connect(config.clone())
        .await
        .unwrap_or_else(|e| panic!("connecting to {:?}: {e}", config.nodes))
}

fn t(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_772_323_200_000_000 + us).unwrap()
}

/// A tariff, station and pile, and a session on them created at `created`.
async fn site(store: &ScyllaStore, pile: &str, created: DateTime<Utc>) -> SessionRecord {
    let tariff = store.create_tariff(1, "flat", &TouPrices::flat(dec!(1.2), dec!(0.8))).await.unwrap();
    let station = store
        .create_station(&NewStation {
            operator_id: 1,
            name: "depot".into(),
            tariff_id: tariff.id,
            utc_offset_minutes: 480,
            service_fee: dec!(0),
            minimum_charge: dec!(0),
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
    SessionRecord::new(
        SessionId(format!("{pile}-s", pile = pile.id)),
        pile.id,
        PortNo(1),
        station.id,
        terms,
        created,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_on_a_multi_thread_runtime() {
    let Some(config) = cluster() else { return };
    conformance::run(Arc::new(connect(&config).await)).await;
    drop_keyspace(&config).await;
}

#[tokio::test(flavor = "current_thread")]
async fn conformance_on_a_current_thread_runtime() {
    let Some(config) = cluster() else { return };
    conformance::run(Arc::new(connect(&config).await)).await;
    drop_keyspace(&config).await;
}

/// Two nodes starting together on a new keyspace: one applies each
/// migration, both come up, and they share ids and records.
#[tokio::test(flavor = "multi_thread")]
async fn nodes_starting_together_share_one_schema_and_one_id_sequence() {
    let Some(config) = cluster() else { return };
    let (a, b) = tokio::join!(ScyllaStore::connect(config.clone()), ScyllaStore::connect(config.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let tou = TouPrices::flat(dec!(1), dec!(1));
    let first = a.create_tariff(1, "a", &tou).await.unwrap();
    assert_eq!(b.tariff(first.id).await.unwrap(), Some(first.clone()));
    let ids: Vec<i64> = {
        let (a, b) = (Arc::new(a), Arc::new(b));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (store, tou) = (if i % 2 == 0 { a.clone() } else { b.clone() }, tou.clone());
                tokio::spawn(async move { store.create_tariff(1, "racing", &tou).await.unwrap().id })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        ids
    };
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no id handed out twice: {ids:?}");
    assert!(unique[0] > first.id);

    // A third start finds everything applied.
    let c = connect(&config).await;
    assert_eq!(c.tariff(first.id).await.unwrap(), Some(first));
    drop_keyspace(&config).await;
}

/// Readings on both sides of UTC midnight live in two partitions and come
/// back as one ordered list.
#[tokio::test(flavor = "multi_thread")]
async fn readings_across_midnight_come_back_in_order() {
    let Some(config) = cluster() else { return };
    let store = connect(&config).await;
    let mut session = site(&store, "p-midnight", t(-2_000_000)).await; // 23:59:58
    store.insert_session(&session).await.unwrap();
    session.start_result(true, t(-1_000_000), None).unwrap();
    store.update_session(&session).await.unwrap();
    let sample = |us: i64| MeterSample {
        session_id: session.id.clone(),
        at: t(us),
        kwh: dec!(0.001) * rust_decimal::Decimal::from(us.abs() % 1000),
        voltage: dec!(400),
        current: dec!(10),
        power: dec!(4000),
        soc: Some(50),
    };
    let readings: Vec<_> = [-999_999, -1, 0, 1, 3_600_000_000].into_iter().map(sample).collect();
    store.append_samples(readings[2..].to_vec()).await.unwrap();
    store.append_samples(readings[..2].to_vec()).await.unwrap();
    assert_eq!(store.samples(&session.id).await.unwrap(), readings);
    drop_keyspace(&config).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_count_writes_and_nothing_stays_in_flight() {
    let Some(config) = cluster() else { return };
    let store = connect(&config).await;
    let session = site(&store, "p-stats", t(0)).await;
    let before = store.stats();
    store.insert_session(&session).await.unwrap();
    let err = store.insert_session(&session).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let after = store.stats();
    assert_eq!((after.writes - before.writes, after.errors - before.errors), (1, 1));
    assert!(after.batches > before.batches);
    assert_eq!(after.queued, 0);
    drop_keyspace(&config).await;
}

// URI parsing: no cluster needed.

#[test]
fn a_uri_names_nodes_with_default_ports_and_a_keyspace() {
    let c = ScyllaConfig::from_uri("scylla://host1:9043,host2/chargeplane").unwrap();
    assert_eq!(c.nodes, ["host1:9043", "host2:9042"]);
    assert_eq!(c.keyspace, "chargeplane");
    assert_eq!(c.replication, "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}");
    assert_eq!(
        (c.money_consistency, c.sample_consistency),
        (Consistency::LocalQuorum, Consistency::LocalOne)
    );
    assert_eq!(c.serial_consistency, SerialConsistency::LocalSerial);
    assert_eq!((c.max_in_flight, c.local_datacenter.as_deref()), (256, None));

    let c = ScyllaConfig::from_uri("scylla://10.0.0.1/Charge_Plane_1/").unwrap();
    assert_eq!((c.nodes, c.keyspace.as_str()), (vec!["10.0.0.1:9042".to_owned()], "charge_plane_1"));

    let c = ScyllaConfig::from_uri("scylla://[::1],[fe80::2]:19042/ks").unwrap();
    assert_eq!(c.nodes, ["[::1]:9042", "[fe80::2]:19042"]);
}

#[test]
fn a_uri_takes_replication_datacenter_and_concurrency() {
    let c = ScyllaConfig::from_uri("scylla://h/ks?replication_factor=1&local_dc=dc-east&max_in_flight=64")
        .unwrap();
    assert_eq!(c.replication, "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}");
    assert_eq!(c.local_datacenter.as_deref(), Some("dc-east"));
    assert_eq!(c.max_in_flight, 64);
}

#[test]
fn bad_uris_are_refused_with_a_reason() {
    for (uri, why) in [
        ("scylla://host1:9042,host2", "keyspace"),
        ("scylla://host1/", "keyspace"),
        ("cassandra://host/ks", "scylla://"),
        ("host:9042/ks", "scylla://"),
        ("scylla:///ks", "empty host"),
        ("scylla://a,,b/ks", "empty host"),
        ("scylla://host:0/ks", "port"),
        ("scylla://host:99999/ks", "port"),
        ("scylla://host:x/ks", "port"),
        ("scylla://[::1/ks", "unclosed"),
        ("scylla://host/ks-1", "keyspace"),
        ("scylla://host/1ks", "keyspace"),
        ("scylla://host/ks;DROP", "keyspace"),
        ("scylla://host/a/b", "keyspace"),
        ("scylla://user:pw@host/ks", "credentials"),
        ("scylla://host/ks?replication_factor=0", "replication_factor"),
        ("scylla://host/ks?max_in_flight=many", "max_in_flight"),
        ("scylla://host/ks?consistency=one", "unknown parameter"),
        ("scylla://host/ks?local_dc", "key=value"),
    ] {
        match ScyllaConfig::from_uri(uri) {
            Err(StoreError::Backend(msg)) => assert!(msg.contains(why), "{uri}: {msg}"),
            other => panic!("{uri}: {other:?}"),
        }
    }
    let long = format!("scylla://host/{}", "k".repeat(49));
    assert!(ScyllaConfig::from_uri(&long).is_err());
}

/// `chargeplane export`: an SQLite store, filled by the conformance suite,
/// copied into the cluster twice.
#[tokio::test(flavor = "multi_thread")]
async fn an_sqlite_export_is_imported_whole_and_once() {
    let Some(config) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = store::SqliteStore::open(store::SqliteConfig::new(dir.path().join("db"))).unwrap();
    let target = Arc::new(connect(&config).await);
    conformance::import::an_export_is_imported_whole_and_once(Arc::new(source), target).await;
    drop_keyspace(&config).await;
}
