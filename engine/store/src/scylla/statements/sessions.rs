//! The statements of `sessions`: sessions and their open-session index,
//! meter samples, diagnostics, a driver's sessions, bills and their
//! revisions, prepared once at connect.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer};
use crate::scylla::codec::{BILL_COLUMNS, SESSION_COLUMNS};
use crate::Result;

/// The statements of `sessions`.
pub(in crate::scylla) struct SessionStatements {
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
}

impl SessionStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<SessionStatements> {
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
        Ok(SessionStatements {
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

        })
    }
}
