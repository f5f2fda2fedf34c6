//! The statements of the concerns not yet split out: the sequence, the
//! directory (operators, tariffs, plans, stations, piles), sessions and
//! their samples, bills, alarms and idempotency keys. The other concerns'
//! groups hang off `Statements` as fields.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer, ALARM_COLUMNS, PILE_COLUMNS, STATION_COLUMNS};
use super::{EditStatements, MoneyStatements, ReportStatements};
use crate::scylla::codec::{BILL_COLUMNS, SESSION_COLUMNS};
use crate::Result;

/// Every statement the store runs, prepared once.
pub(in crate::scylla) struct Statements {
    pub seq_init: PreparedStatement,
    pub seq_bump: PreparedStatement,
    pub seq_get: PreparedStatement,

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

    pub session_get: PreparedStatement,
    pub session_state: PreparedStatement,
    pub sessions_get: PreparedStatement,
    pub open_list: PreparedStatement,
    /// Session row and its open-session entry, for an open session.
    pub session_open: Batch,
    /// Session row and the removal of its open-session entry.
    pub session_closed: Batch,

    pub sample_insert: PreparedStatement,
    pub diagnostic_insert: PreparedStatement,
    pub driver_session_insert: PreparedStatement,
    pub driver_sessions_get: PreparedStatement,
    pub diagnostics_get: PreparedStatement,
    pub samples_in_day: PreparedStatement,

    pub bill_claim: PreparedStatement,
    pub bill_get: PreparedStatement,
    pub bill_exists_serial: PreparedStatement,
    pub bill_final_session: PreparedStatement,
    pub bill_correct: PreparedStatement,
    pub revision_claim: PreparedStatement,
    pub revisions_get: PreparedStatement,

    /// The alarm row and its three listings.
    pub alarm_raise: Batch,
    /// A station-wide alarm's row and its listings (no pile's).
    pub alarm_raise_station: Batch,
    pub alarm_get: PreparedStatement,
    pub alarms_get: PreparedStatement,
    pub alarm_ack: PreparedStatement,
    pub alarm_clear: PreparedStatement,
    pub open_alarm_delete: PreparedStatement,
    pub alarms_by_station: PreparedStatement,
    pub alarms_by_pile: PreparedStatement,
    pub open_alarms: PreparedStatement,

    pub idem_claim: PreparedStatement,
    pub idem_get: PreparedStatement,

    pub money: MoneyStatements,
    pub reports: ReportStatements,
    pub edits: EditStatements,
}

impl Statements {
    pub(in crate::scylla) async fn prepare(p: &Preparer<'_>) -> Result<Statements> {
        use Class::{Lwt, Money, Samples, SerialRead};
        let session_upsert = p
            .prepare(
                Money,
                true,
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     USING TIMESTAMP ?"
                ),
            )
            .await?;
        let open_insert = p
            .prepare(
                Money,
                true,
                "INSERT INTO open_sessions_by_pile (pile_id, created_at, session_id) VALUES (?, ?, ?) \
                 USING TIMESTAMP ?",
            )
            .await?;
        let open_delete = p
            .prepare(
                Money,
                true,
                "DELETE FROM open_sessions_by_pile USING TIMESTAMP ? \
                 WHERE pile_id = ? AND created_at = ? AND session_id = ?",
            )
            .await?;
        let alarm_insert = p
            .prepare(
                Money,
                true,
                "INSERT INTO alarms (id, station_id, pile_id, port, kind, severity, message, raised_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?;
        let alarm_station = p
            .prepare(
                Money,
                true,
                "INSERT INTO alarms_by_station (station_id, id) VALUES (?, ?) USING TIMESTAMP ?",
            )
            .await?;
        let alarm_pile = p
            .prepare(Money, true, "INSERT INTO alarms_by_pile (pile_id, id) VALUES (?, ?) USING TIMESTAMP ?")
            .await?;
        let alarm_month = p
            .prepare(
                Money,
                true,
                "INSERT INTO alarms_by_station_month (station_id, month, raised_at, id, pile_id, kind) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?;
        let alarm_open = p
            .prepare(Money, true, "INSERT INTO open_alarms (bucket, id) VALUES (0, ?) USING TIMESTAMP ?")
            .await?;

        Ok(Statements {
            seq_init: p
                .prepare(Lwt, false, "INSERT INTO id_sequences (name, next_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            seq_bump: p
                .prepare(Lwt, false, "UPDATE id_sequences SET next_id = ? WHERE name = ? IF next_id = ?")
                .await?,
            seq_get: p.read(Money, "SELECT next_id FROM id_sequences WHERE name = ?").await?,

            operator_insert: p
                .prepare(Money, true, "INSERT INTO operators (id, name, status, created_at) VALUES (?, ?, ?, ?)")
                .await?,
            operator_get: p.read(Money, "SELECT id, name, status, created_at FROM operators WHERE id = ?").await?,
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
                    &format!("INSERT INTO stations ({STATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                )
                .await?,
            station_get: p.read(Money, &format!("SELECT {STATION_COLUMNS} FROM stations WHERE id = ?")).await?,
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

            session_get: p.read(Money, &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?")).await?,
            session_state: p.read(Money, "SELECT state FROM sessions WHERE id = ?").await?,
            sessions_get: p.read(Money, &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id IN ?")).await?,
            open_list: p
                .read(Money, "SELECT created_at, session_id FROM open_sessions_by_pile WHERE pile_id = ?")
                .await?,
            session_open: p.logged(vec![session_upsert.clone(), open_insert]),
            session_closed: p.logged(vec![session_upsert, open_delete]),

            driver_session_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO sessions_by_driver (driver_id, created_at, session_id) VALUES (?, ?, ?)",
                )
                .await?,
            driver_sessions_get: p
                .read(Money, "SELECT session_id FROM sessions_by_driver WHERE driver_id = ? LIMIT ?")
                .await?,
            diagnostic_insert: p
                .prepare(
                    Samples,
                    true,
                    "INSERT INTO diagnostics (pile_id, at, seq, port, session_id, kind, data) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .await?,
            diagnostics_get: p
                .read(
                    Money,
                    "SELECT port, session_id, at, kind, data FROM diagnostics WHERE pile_id = ? LIMIT ?",
                )
                .await?,
            sample_insert: p
                .prepare(
                    Samples,
                    true,
                    "INSERT INTO samples (session_id, day_bucket, read_at, seq, kwh, voltage, amperage, power, soc) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .await?,
            samples_in_day: p
                .read(
                    Samples,
                    "SELECT read_at, kwh, voltage, amperage, power, soc FROM samples \
                     WHERE session_id = ? AND day_bucket = ?",
                )
                .await?,

            bill_claim: p
                .prepare(
                    Lwt,
                    false,
                    &format!(
                        "INSERT INTO bills (session_id, {BILL_COLUMNS}, created_at, final_session) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
                    ),
                )
                .await?,
            bill_get: p.read(Money, &format!("SELECT {BILL_COLUMNS} FROM bills WHERE session_id = ?")).await?,
            bill_exists_serial: p.read(SerialRead, "SELECT session_id FROM bills WHERE session_id = ?").await?,
            bill_final_session: p.read(Money, "SELECT final_session FROM bills WHERE session_id = ?").await?,
            bill_correct: p
                .prepare(
                    Money,
                    true,
                    "UPDATE bills SET lines = ?, total = ?, refund = ?, list_total = ?, discount = ? \
                     WHERE session_id = ?",
                )
                .await?,
            revision_claim: p
                .prepare(
                    Lwt,
                    false,
                    "INSERT INTO bill_revisions (session_id, revision, bill, replaced_at) VALUES (?, ?, ?, ?) \
                     IF NOT EXISTS",
                )
                .await?,
            revisions_get: p
                .read(Money, "SELECT revision, bill FROM bill_revisions WHERE session_id = ?")
                .await?,

            alarm_raise: p.logged(vec![
                alarm_insert.clone(),
                alarm_station.clone(),
                alarm_pile,
                alarm_open.clone(),
                alarm_month.clone(),
            ]),
            alarm_raise_station: p.logged(vec![alarm_insert, alarm_station, alarm_open, alarm_month]),
            alarm_get: p.read(Money, &format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?")).await?,
            alarms_get: p.read(Money, &format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE id IN ?")).await?,
            // station_id = ?: the row exists (a bare `IF x = null` would
            // create a row for an id that has none).
            alarm_ack: p
                .prepare(
                    Lwt,
                    false,
                    "UPDATE alarms SET acknowledged_at = ? WHERE id = ? \
                     IF station_id = ? AND acknowledged_at = null",
                )
                .await?,
            alarm_clear: p
                .prepare(
                    Lwt,
                    false,
                    "UPDATE alarms SET cleared_at = ? WHERE id = ? IF station_id = ? AND cleared_at = null",
                )
                .await?,
            open_alarm_delete: p
                .prepare(Money, true, "DELETE FROM open_alarms USING TIMESTAMP ? WHERE bucket = 0 AND id = ?")
                .await?,
            alarms_by_station: p
                .read(Money, "SELECT id FROM alarms_by_station WHERE station_id = ? AND id < ? LIMIT ?")
                .await?,
            alarms_by_pile: p.read(Money, "SELECT id FROM alarms_by_pile WHERE pile_id = ? AND id < ? LIMIT ?").await?,
            open_alarms: p.read(Money, "SELECT id FROM open_alarms WHERE bucket = 0 AND id < ? LIMIT ?").await?,

            idem_claim: p
                .prepare(
                    Lwt,
                    false,
                    "INSERT INTO idempotency (key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?) \
                     IF NOT EXISTS",
                )
                .await?,
            idem_get: p.read(Money, "SELECT fingerprint, status, body, created_at FROM idempotency WHERE key = ?").await?,

            money: MoneyStatements::prepare(p).await?,
            reports: ReportStatements::prepare(p).await?,
            edits: EditStatements::prepare(p).await?,
        })
    }
}
