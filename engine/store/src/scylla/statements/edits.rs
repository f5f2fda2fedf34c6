//! The statements of `edits`, prepared once at connect.

use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer};
use crate::Result;

/// The statements of `edits`. Rows of these tables are never deleted, so
/// an update after an existence check cannot resurrect one: no Paxos needed.
pub(in crate::scylla) struct EditStatements {
    pub station_update: PreparedStatement,
    pub tariff_update: PreparedStatement,
    pub plan_update: PreparedStatement,
    pub merchant_update: PreparedStatement,
    pub out_insert: PreparedStatement,
    pub out_delete: PreparedStatement,
    pub out_get: PreparedStatement,
    pub out_kind: PreparedStatement,
    pub offline_insert: PreparedStatement,
    pub offline_delete: PreparedStatement,
    pub offline_list: PreparedStatement,
}

impl EditStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<EditStatements> {
        use Class::Money;
        Ok(EditStatements {
            station_update: p
                .prepare(
                    Money,
                    true,
                    "UPDATE stations SET name = ?, utc_offset_minutes = ?, service_fee = ?, minimum_charge = ?, \
                     merchant_id = ? WHERE id = ?",
                )
                .await?,
            tariff_update: p.prepare(Money, true, "UPDATE tariffs SET name = ?, tou = ? WHERE id = ?").await?,
            plan_update: p.prepare(Money, true, "UPDATE plans SET name = ?, pricing = ? WHERE id = ?").await?,
            merchant_update: p
                .prepare(Money, true, "UPDATE merchants SET name = ?, commission_percent = ? WHERE id = ?")
                .await?,
            out_insert: p
                .prepare(Money, true, "INSERT INTO out_of_service (kind, key, since) VALUES (?, ?, ?)")
                .await?,
            out_delete: p.prepare(Money, true, "DELETE FROM out_of_service WHERE kind = ? AND key = ?").await?,
            out_get: p.read(Money, "SELECT since FROM out_of_service WHERE kind = ? AND key = ?").await?,
            out_kind: p.read(Money, "SELECT key, since FROM out_of_service WHERE kind = ?").await?,
            offline_insert: p.prepare(Money, true, "INSERT INTO offline_cards (pile_id, card) VALUES (?, ?)").await?,
            offline_delete: p
                .prepare(Money, true, "DELETE FROM offline_cards WHERE pile_id = ? AND card = ?")
                .await?,
            offline_list: p.read(Money, "SELECT card FROM offline_cards WHERE pile_id = ?").await?,
        })
    }
}
