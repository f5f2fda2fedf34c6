//! Meter samples persisted: chargeplane's store (`SqliteStore::append_samples`,
//! many sessions' small batches group-committed by its writer thread)
//! against a plain batched rusqlite INSERT loop into an equivalent table, in
//! the same run, on the same disk and with the same pragmas (WAL,
//! synchronous=FULL as `store_fsync = true`). `bench/run.sh` prints the
//! ratio of the two throughputs.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use store::prelude::*;

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use domain::pricing::{Pricing, Terms};
use domain::session::{MeterSample, SessionRecord};
use domain::tariff::TouPrices;
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::{NewStation, PileRecord, SqliteConfig, SqliteStore};
use vocab::{PileId, PortNo, Protocol, SessionId};

/// Samples persisted per iteration.
const SAMPLES: usize = 1000;
/// Sessions they belong to: each session flushes its own small batch.
const SESSIONS: usize = 100;

fn sample(session: &SessionId, at: DateTime<Utc>) -> MeterSample {
    MeterSample {
        session_id: session.clone(),
        at,
        kwh: dec!(1.2345),
        voltage: dec!(220.0),
        current: dec!(0.82),
        power: dec!(180.5),
        soc: None,
    }
}

async fn seeded(store: &SqliteStore) -> Vec<SessionId> {
    let tariff = store.create_tariff(1, "flat", &TouPrices::flat(dec!(0.8), dec!(0.4))).await.unwrap();
    let station = store
        .create_station(&NewStation {
            operator_id: 1,
            name: "bench".into(),
            tariff_id: tariff.id,
            utc_offset_minutes: 480,
            service_fee: Decimal::ZERO,
            minimum_charge: Decimal::ZERO,
            merchant_id: None,
            details: None,
        })
        .await
        .unwrap();
    let pile = PileId("05A1B2C3".into());
    store
        .create_pile(&PileRecord {
            id: pile.clone(),
            station_id: station.id,
            protocol: Protocol::Dny,
            ports: 10,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let terms = Terms {
        pricing: Pricing::TimeOfUse { tariff_id: tariff.id, tou: TouPrices::flat(dec!(0.8), dec!(0.4)) },
        plan_id: None,
        prepaid: None,
        service_fee: Decimal::ZERO,
        minimum: Decimal::ZERO,
        utc_offset_minutes: 480,
        discount: None,
        payer: None,
        merchant_id: None,
    };
    let mut ids = Vec::new();
    for n in 0..SESSIONS {
        let id = SessionId(format!("bench-{n:04}"));
        let s = SessionRecord::new(
            id.clone(),
            pile.clone(),
            PortNo(1 + (n % 10) as u8),
            station.id,
            terms.clone(),
            Utc::now(),
        );
        store.insert_session(&s).await.unwrap();
        ids.push(id);
    }
    ids
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Arc::new(SqliteStore::open(SqliteConfig::new(dir.path().join("store.db"))).unwrap());
    let sessions = rt.block_on(seeded(&store));
    let t0 = Utc::now();
    let clock = AtomicI64::new(0);

    let plain = Connection::open(dir.path().join("plain.db")).unwrap();
    let _: String = plain.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0)).unwrap();
    plain.pragma_update(None, "synchronous", "FULL").unwrap();
    plain
        .execute_batch(
            "CREATE TABLE samples (
                session_id TEXT NOT NULL, at INTEGER NOT NULL, seq INTEGER NOT NULL,
                kwh TEXT NOT NULL, voltage TEXT NOT NULL, current TEXT NOT NULL,
                power TEXT NOT NULL, soc INTEGER,
                PRIMARY KEY (session_id, at, seq)
            ) STRICT, WITHOUT ROWID;",
        )
        .unwrap();

    let mut g = c.benchmark_group("samples_persisted");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.sample_size(30);
    g.bench_function("chargeplane_store", |b| {
        b.iter(|| {
            let base = clock.fetch_add(1, Relaxed);
            let at = t0 + Duration::seconds(base);
            let batches = sessions.iter().map(|id| {
                let batch: Vec<MeterSample> = (0..SAMPLES / SESSIONS)
                    .map(|k| sample(id, at + Duration::microseconds(k as i64)))
                    .collect();
                store.append_samples(batch)
            });
            rt.block_on(futures::future::try_join_all(batches)).unwrap();
        })
    });
    g.bench_function("plain_rusqlite_batched_insert", |b| {
        b.iter(|| {
            let base = clock.fetch_add(1, Relaxed);
            let at = t0 + Duration::seconds(base);
            let tx = plain.unchecked_transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO samples (session_id, at, seq, kwh, voltage, current, power, soc)
                         VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .unwrap();
                for id in &sessions {
                    for k in 0..SAMPLES / SESSIONS {
                        let s = sample(id, at + Duration::microseconds(k as i64));
                        insert
                            .execute(params![
                                s.session_id.as_str(),
                                s.at.timestamp_micros(),
                                s.kwh.to_string(),
                                s.voltage.to_string(),
                                s.current.to_string(),
                                s.power.to_string(),
                                s.soc,
                            ])
                            .unwrap();
                    }
                }
            }
            tx.commit().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
