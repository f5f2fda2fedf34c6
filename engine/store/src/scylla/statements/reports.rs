//! The statements of `reports`, prepared once at connect.

use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer};
use crate::Result;

/// The statements of `reports`.
pub(in crate::scylla) struct ReportStatements {
    pub charge_insert: PreparedStatement,
    pub charges_in_month: PreparedStatement,
    pub alarms_in_month: PreparedStatement,
}

impl ReportStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<ReportStatements> {
        use Class::Money;
        Ok(ReportStatements {
            // Rewritten whole when the bill is corrected: idempotent.
            charge_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO charges_by_station (station_id, month, ended_at, session_id, charge) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            charges_in_month: p
                .read(
                    Money,
                    "SELECT charge FROM charges_by_station \
                     WHERE station_id = ? AND month = ? AND ended_at >= ? AND ended_at < ?",
                )
                .await?,
            alarms_in_month: p
                .read(
                    Money,
                    "SELECT pile_id, kind FROM alarms_by_station_month \
                     WHERE station_id = ? AND month = ? AND raised_at >= ? AND raised_at < ?",
                )
                .await?,
        })
    }
}
