//! The statements of `alarms`: an alarm's row and its listings by station,
//! pile, month and open, prepared once at connect.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer};
use crate::Result;

/// What every alarm read returns, in `alarms::AlarmRow` order.
const ALARM_COLUMNS: &str =
    "id, station_id, pile_id, port, kind, severity, message, raised_at, acknowledged_at, cleared_at";

/// The statements of `alarms`.
pub(in crate::scylla) struct AlarmStatements {
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
}

impl AlarmStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<AlarmStatements> {
        use Class::{Lwt, Money};
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
        Ok(AlarmStatements {
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
            alarms_by_pile: p
                .read(Money, "SELECT id FROM alarms_by_pile WHERE pile_id = ? AND id < ? LIMIT ?")
                .await?,
            open_alarms: p
                .read(Money, "SELECT id FROM open_alarms WHERE bucket = 0 AND id < ? LIMIT ?")
                .await?,
        })
    }
}
