//! What the actor tests start from: a real SQLite store in `dir` with a
//! flat tariff, a station on it and a 2-port e-bike pile `P1`.

use domain::tariff::{Tariff, TouPrices};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::prelude::*;
use store::{NewStation, PileRecord, SqliteConfig, SqliteStore};
use vocab::{PileId, Protocol};

pub async fn store_with_pile(dir: &std::path::Path) -> (SqliteStore, Tariff, PileRecord) {
    let store = SqliteStore::open(SqliteConfig::new(dir.join("t.db"))).unwrap();
    let tariff = store.create_tariff(1, "flat", &TouPrices::flat(dec!(0.8), dec!(0.4))).await.unwrap();
    let station = store
        .create_station(&NewStation {
            operator_id: 1,
            name: "s".into(),
            tariff_id: tariff.id,
            utc_offset_minutes: 480,
            service_fee: Decimal::ZERO,
            minimum_charge: Decimal::ZERO,
            merchant_id: None,
            details: None,
        })
        .await
        .unwrap();
    let record = PileRecord {
        id: PileId("P1".into()),
        station_id: station.id,
        protocol: Protocol::Dny,
        ports: 2,
        created_at: chrono::Utc::now(),
    };
    store.create_pile(&record).await.unwrap();
    (store, tariff, record)
}
