//! The statements of `resources`: operators, tariffs, plans, stations and
//! piles, prepared once at connect.

use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer};
use crate::Result;

/// What every pile read returns, in `resources::PileRow` order.
const PILE_COLUMNS: &str = "id, station_id, protocol, ports, created_at";

const STATION_COLUMNS: &str =
    "id, name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at, \
                               power, merchant_id, details, operator_id";

/// The statements of `resources`.
pub(in crate::scylla) struct ResourceStatements {
    pub operator_insert: PreparedStatement,
    pub operator_get: PreparedStatement,
    pub operator_scan: PreparedStatement,
    pub operator_update: PreparedStatement,
    pub tariff_insert: PreparedStatement,
    pub tariff_get: PreparedStatement,
    /// Every tariff and plan: scans of tables with hundreds of rows.
    pub tariff_scan: PreparedStatement,
    pub tariff_exists: PreparedStatement,
    pub plan_insert: PreparedStatement,
    pub plan_get: PreparedStatement,
    pub plan_scan: PreparedStatement,
    pub plan_exists: PreparedStatement,
    pub station_insert: PreparedStatement,
    pub station_get: PreparedStatement,
    pub station_exists: PreparedStatement,
    pub station_power: PreparedStatement,
    pub station_details: PreparedStatement,
    /// Every station: a scan, for `stations()` (thousands of rows).
    pub station_scan: PreparedStatement,
    pub station_tariff: PreparedStatement,

    pub pile_claim: PreparedStatement,
    pub pile_list_insert: PreparedStatement,
    pub pile_get: PreparedStatement,
    pub pile_exists: PreparedStatement,
    pub pile_list: PreparedStatement,
}

impl ResourceStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<ResourceStatements> {
        use Class::{Lwt, Money};
        Ok(ResourceStatements {
            operator_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO operators (id, name, status, created_at) VALUES (?, ?, ?, ?)",
                )
                .await?,
            operator_get: p
                .read(Money, "SELECT id, name, status, created_at FROM operators WHERE id = ?")
                .await?,
            operator_scan: p.read(Money, "SELECT id, name, status, created_at FROM operators").await?,
            // IF EXISTS: renaming an unknown operator must not create it.
            operator_update: p
                .prepare(Lwt, false, "UPDATE operators SET name = ?, status = ? WHERE id = ? IF EXISTS")
                .await?,
            tariff_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO tariffs (id, name, tou, created_at, operator_id) VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            tariff_get: p.read(Money, "SELECT id, name, tou, operator_id FROM tariffs WHERE id = ?").await?,
            tariff_scan: p.read(Money, "SELECT id, name, tou, operator_id FROM tariffs").await?,
            tariff_exists: p.read(Money, "SELECT id FROM tariffs WHERE id = ?").await?,
            plan_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO plans (id, name, pricing, created_at, operator_id) VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            plan_get: p.read(Money, "SELECT id, name, pricing, operator_id FROM plans WHERE id = ?").await?,
            plan_scan: p.read(Money, "SELECT id, name, pricing, operator_id FROM plans").await?,
            plan_exists: p.read(Money, "SELECT id FROM plans WHERE id = ?").await?,
            station_insert: p
                .prepare(
                    Money,
                    true,
                    &format!(
                        "INSERT INTO stations ({STATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                )
                .await?,
            station_get: p
                .read(Money, &format!("SELECT {STATION_COLUMNS} FROM stations WHERE id = ?"))
                .await?,
            station_scan: p.read(Money, &format!("SELECT {STATION_COLUMNS} FROM stations")).await?,
            station_details: p.prepare(Money, true, "UPDATE stations SET details = ? WHERE id = ?").await?,
            station_exists: p.read(Money, "SELECT id FROM stations WHERE id = ?").await?,
            station_power: p.prepare(Money, true, "UPDATE stations SET power = ? WHERE id = ?").await?,
            station_tariff: p.prepare(Money, true, "UPDATE stations SET tariff_id = ? WHERE id = ?").await?,

            pile_claim: p
                .prepare(
                    Lwt,
                    false,
                    &format!("INSERT INTO piles_by_id ({PILE_COLUMNS}) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"),
                )
                .await?,
            pile_list_insert: p
                .prepare(
                    Money,
                    true,
                    &format!("INSERT INTO piles (bucket, {PILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
                )
                .await?,
            pile_get: p.read(Money, &format!("SELECT {PILE_COLUMNS} FROM piles_by_id WHERE id = ?")).await?,
            pile_exists: p.read(Money, "SELECT id FROM piles_by_id WHERE id = ?").await?,
            pile_list: p.read(Money, &format!("SELECT {PILE_COLUMNS} FROM piles WHERE bucket = ?")).await?,
        })
    }
}
