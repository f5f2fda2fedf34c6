//! Every prepared statement, grouped as the backend's files use them, with
//! the consistency each runs at and whether the driver may retry it; the
//! column lists rows are read in. Each concern's group lives in its own
//! file named as the backend file that runs it (`resources`, `sessions`,
//! `alarms`, `idempotency`, `money`, `edits`, `reports`), all prepared
//! through the shared `Preparer` at a `Class`; `Statements` holds them and
//! the id sequences every concern claims ids from.
//!
//! Each statement is prepared once at connect with its consistency and
//! whether the driver may retry it. A plain write is idempotent when running
//! it twice leaves the same data: inserts of fixed values, deletes, and
//! writes carrying their own `USING TIMESTAMP`. Lightweight transactions are
//! never marked idempotent: a retried compare-and-set could apply twice or
//! report `[applied] = false` for its own first attempt.

use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};

use super::ScyllaConfig;
use crate::{Result, StoreError};

mod alarms;
mod edits;
mod idempotency;
mod money;
mod reports;
mod resources;
mod sessions;

pub(super) use alarms::AlarmStatements;
pub(super) use edits::EditStatements;
pub(super) use idempotency::IdempotencyStatements;
pub(super) use money::MoneyStatements;
pub(super) use reports::ReportStatements;
pub(super) use resources::ResourceStatements;
pub(super) use sessions::SessionStatements;

/// Which consistency a statement runs at.
#[derive(Clone, Copy)]
pub(super) enum Class {
    /// Sessions, bills, reference data, alarms, idempotency.
    Money,
    /// Meter readings.
    Samples,
    /// A compare-and-set: Paxos at the serial consistency, committed at the
    /// money consistency. Never retried by the driver.
    Lwt,
    /// A read that completes any compare-and-set in flight on its row.
    SerialRead,
}

pub(super) const DRIVER_COLUMNS: &str = "id, phone, password_hash, class, status, created_at, last_active_at";

pub(super) const CARD_COLUMNS: &str = "number, driver_id, kind, status, created_at";

pub(super) const ORDER_COLUMNS: &str =
    "id, driver_id, amount, provider, status, provider_txn, created_at, paid_at";

/// The `entry_key` of an account's balance row in `account_balances`; no
/// entry may have it as its key.
pub(super) const BALANCE_ROW: &str = "=balance";

/// How long the row saying an entry was applied to an account lives. It is
/// only read while the entry may be resumed (`money::RESUME_WITHIN`).
pub(super) const APPLIED_ROW_TTL: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

/// What every ledger listing returns, in `money::ListingRow` order.
pub(super) const LISTING_COLUMNS: &str = "posted, key, kind, at, reference, lines";

pub(super) const MERCHANT_COLUMNS: &str = "id, name, commission_percent, created_at, operator_id";
pub(super) const USER_COLUMNS: &str =
    "id, username, password_hash, role, merchant_id, created_at, operator_id";

/// Every statement the store runs, prepared once: the id sequences, and
/// each concern's group.
pub(in crate::scylla) struct Statements {
    pub seq_init: PreparedStatement,
    pub seq_bump: PreparedStatement,
    pub seq_get: PreparedStatement,

    pub resources: ResourceStatements,
    pub sessions: SessionStatements,
    pub alarms: AlarmStatements,
    pub idempotency: IdempotencyStatements,
    pub money: MoneyStatements,
    pub reports: ReportStatements,
    pub edits: EditStatements,
}

impl Statements {
    pub(in crate::scylla) async fn prepare(p: &Preparer<'_>) -> Result<Statements> {
        use Class::{Lwt, Money};
        Ok(Statements {
            seq_init: p
                .prepare(Lwt, false, "INSERT INTO id_sequences (name, next_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            seq_bump: p
                .prepare(Lwt, false, "UPDATE id_sequences SET next_id = ? WHERE name = ? IF next_id = ?")
                .await?,
            seq_get: p.read(Money, "SELECT next_id FROM id_sequences WHERE name = ?").await?,

            resources: ResourceStatements::prepare(p).await?,
            sessions: SessionStatements::prepare(p).await?,
            alarms: AlarmStatements::prepare(p).await?,
            idempotency: IdempotencyStatements::prepare(p).await?,
            money: MoneyStatements::prepare(p).await?,
            reports: ReportStatements::prepare(p).await?,
            edits: EditStatements::prepare(p).await?,
        })
    }
}

/// Prepares statements at the consistency of their class; every concern's
/// statements are prepared through it.
pub(super) struct Preparer<'a> {
    pub(super) session: &'a Session,
    pub(super) config: &'a ScyllaConfig,
}

impl Preparer<'_> {
    pub(super) async fn prepare(
        &self,
        class: Class,
        idempotent: bool,
        text: &str,
    ) -> Result<PreparedStatement> {
        let mut stmt = self
            .session
            .prepare(text)
            .await
            .map_err(|e| StoreError::Backend(format!("scylla: preparing `{text}`: {e}")))?;
        let c = self.config;
        match class {
            Class::Money => stmt.set_consistency(c.money_consistency),
            Class::Samples => stmt.set_consistency(c.sample_consistency),
            Class::Lwt => {
                stmt.set_consistency(c.money_consistency);
                stmt.set_serial_consistency(Some(c.serial_consistency));
            }
            Class::SerialRead => stmt.set_consistency(serial_read(c.serial_consistency)),
        }
        stmt.set_is_idempotent(idempotent && !matches!(class, Class::Lwt));
        Ok(stmt)
    }

    /// A conditional batch of statements on one partition: one Paxos round,
    /// never retried by the driver.
    fn conditional(&self, statements: Vec<PreparedStatement>) -> Batch {
        let mut batch = Batch::new(BatchType::Logged);
        for s in statements {
            batch.append_statement(s);
        }
        batch.set_consistency(self.config.money_consistency);
        batch.set_serial_consistency(Some(self.config.serial_consistency));
        batch.set_is_idempotent(false);
        batch
    }

    /// A read: always idempotent.
    pub(super) async fn read(&self, class: Class, text: &str) -> Result<PreparedStatement> {
        self.prepare(class, true, text).await
    }

    fn logged(&self, statements: Vec<PreparedStatement>) -> Batch {
        // Logged: the statements touch several partitions, and the batch log
        // makes them land together even if this node dies mid-way.
        let mut batch = Batch::new(BatchType::Logged);
        for s in statements {
            batch.append_statement(s);
        }
        batch.set_consistency(self.config.money_consistency);
        // Every statement in these batches carries its own write timestamp.
        batch.set_is_idempotent(true);
        batch
    }
}

fn serial_read(serial: SerialConsistency) -> Consistency {
    match serial {
        SerialConsistency::Serial => Consistency::Serial,
        SerialConsistency::LocalSerial => Consistency::LocalSerial,
    }
}
