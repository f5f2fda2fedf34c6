//! Every prepared statement, grouped as the backend's files use them, with
//! the consistency each runs at and whether the driver may retry it; the
//! column lists rows are read in.
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

use super::codec::{BILL_COLUMNS, SESSION_COLUMNS};
use super::ScyllaConfig;
use crate::{Result, StoreError};

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

/// Every statement the store runs, prepared once.
pub(super) struct Statements {
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

/// The statements of `reports`.
pub(super) struct ReportStatements {
    pub charge_insert: PreparedStatement,
    pub charges_in_month: PreparedStatement,
    pub alarms_in_month: PreparedStatement,
}

/// The statements of `money`: merchants, drivers, cards, rules, orders,
/// the ledger, statements and tokens.
pub(super) struct MoneyStatements {
    pub merchant_insert: PreparedStatement,
    pub merchant_get: PreparedStatement,
    /// Every merchant: a scan, for the daily settlement (hundreds of rows).
    pub merchant_scan: PreparedStatement,
    pub merchant_exists: PreparedStatement,

    pub driver_insert: PreparedStatement,
    pub driver_delete: PreparedStatement,
    pub driver_get: PreparedStatement,
    /// Every driver: the inactive-drivers report is a scan, run rarely.
    pub driver_scan: PreparedStatement,
    pub driver_exists: PreparedStatement,
    pub driver_update: PreparedStatement,
    pub phone_claim: PreparedStatement,
    pub phone_get: PreparedStatement,

    pub user_insert: PreparedStatement,
    pub user_delete: PreparedStatement,
    pub user_get: PreparedStatement,
    /// Every user: a scan of a table with hundreds of rows.
    pub user_scan: PreparedStatement,
    pub username_claim: PreparedStatement,
    pub username_get: PreparedStatement,

    pub card_claim: PreparedStatement,
    pub card_get: PreparedStatement,
    pub cards_get: PreparedStatement,
    pub card_status: PreparedStatement,
    pub card_list_insert: PreparedStatement,
    pub cards_of_driver: PreparedStatement,

    pub rule_insert: PreparedStatement,
    pub rules_list: PreparedStatement,
    pub rule_update: PreparedStatement,

    pub order_claim: PreparedStatement,
    pub order_get: PreparedStatement,
    pub order_get_serial: PreparedStatement,
    pub orders_get: PreparedStatement,
    pub order_pay: PreparedStatement,
    pub txn_claim: PreparedStatement,
    pub paid_insert: PreparedStatement,
    pub paid_in_day: PreparedStatement,

    pub day_insert: PreparedStatement,
    pub days_between: PreparedStatement,

    pub entry_claim: PreparedStatement,
    pub entry_get_serial: PreparedStatement,
    pub entry_take_over: PreparedStatement,
    pub entry_applied: PreparedStatement,
    pub entry_withdraw: PreparedStatement,
    pub pending_insert: PreparedStatement,
    pub pending_delete: PreparedStatement,
    pub pending_in_hour: PreparedStatement,
    pub balance_get: PreparedStatement,
    pub balance_get_serial: PreparedStatement,
    pub applied_get_serial: PreparedStatement,
    /// An account's first change: its balance row `IF NOT EXISTS`, and the
    /// entry's row.
    pub balance_open: Batch,
    /// A change: the balance and version `IF version = ?`, and the entry's row.
    pub balance_post: Batch,
    /// An undone change: the balance and version `IF version = ?`, and the
    /// removal of the entry's row.
    pub balance_unpost: Batch,
    pub by_account_insert: PreparedStatement,
    pub by_account_in_day: PreparedStatement,
    pub by_reference_insert: PreparedStatement,
    pub by_reference: PreparedStatement,
    pub by_day_insert: PreparedStatement,
    pub by_day: PreparedStatement,

    pub statement_claim: PreparedStatement,
    pub statement_get: PreparedStatement,
    pub statement_withdraw: PreparedStatement,

    pub token_claim: PreparedStatement,
    pub token_get: PreparedStatement,
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

pub(super) const ALARM_COLUMNS: &str =
    "id, station_id, pile_id, port, kind, severity, message, raised_at, acknowledged_at, cleared_at";

const STATION_COLUMNS: &str =
    "id, name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at, \
                               power, merchant_id, details, operator_id";

pub(super) const MERCHANT_COLUMNS: &str = "id, name, commission_percent, created_at, operator_id";
pub(super) const USER_COLUMNS: &str =
    "id, username, password_hash, role, merchant_id, created_at, operator_id";
pub(super) const PILE_COLUMNS: &str = "id, station_id, protocol, ports, created_at";

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

impl Statements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<Statements> {
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

impl MoneyStatements {
    async fn prepare(p: &Preparer<'_>) -> Result<MoneyStatements> {
        use Class::{Lwt, Money, SerialRead};
        // The balance row of an account is changed only by these batches.
        let balance_first = p
            .prepare(
                Lwt,
                false,
                &format!(
                    "INSERT INTO account_balances (account, entry_key, balance, version) \
                     VALUES (?, '{BALANCE_ROW}', ?, 1) IF NOT EXISTS"
                ),
            )
            .await?;
        let balance_set = p
            .prepare(
                Lwt,
                false,
                &format!(
                    "UPDATE account_balances SET balance = ?, version = ? \
                     WHERE account = ? AND entry_key = '{BALANCE_ROW}' IF version = ?"
                ),
            )
            .await?;
        let applied_insert = p
            .prepare(
                Lwt,
                false,
                &format!(
                    "INSERT INTO account_balances (account, entry_key) VALUES (?, ?) USING TTL {}",
                    APPLIED_ROW_TTL.as_secs()
                ),
            )
            .await?;
        let applied_delete =
            p.prepare(Lwt, false, "DELETE FROM account_balances WHERE account = ? AND entry_key = ?").await?;
        let balance_get = format!(
            "SELECT balance, version FROM account_balances WHERE account = ? AND entry_key = '{BALANCE_ROW}'"
        );
        Ok(MoneyStatements {
            merchant_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO merchants (id, name, commission_percent, created_at, operator_id) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            merchant_get: p.read(Money, &format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = ?")).await?,
            merchant_exists: p.read(Money, "SELECT id FROM merchants WHERE id = ?").await?,
            merchant_scan: p.read(Money, &format!("SELECT {MERCHANT_COLUMNS} FROM merchants")).await?,

            user_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO users (id, username, password_hash, role, merchant_id, created_at, operator_id) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .await?,
            user_delete: p.prepare(Money, true, "DELETE FROM users WHERE id = ?").await?,
            user_get: p.read(Money, &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?")).await?,
            user_scan: p.read(Money, &format!("SELECT {USER_COLUMNS} FROM users")).await?,
            username_claim: p
                .prepare(Lwt, false, "INSERT INTO users_by_name (username, user_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            username_get: p.read(SerialRead, "SELECT user_id FROM users_by_name WHERE username = ?").await?,
            driver_insert: p
                .prepare(
                    Money,
                    true,
                    &format!("INSERT INTO drivers ({DRIVER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                )
                .await?,
            driver_delete: p.prepare(Money, true, "DELETE FROM drivers WHERE id = ?").await?,
            driver_get: p.read(Money, &format!("SELECT {DRIVER_COLUMNS} FROM drivers WHERE id = ?")).await?,
            driver_scan: p.read(Money, &format!("SELECT {DRIVER_COLUMNS} FROM drivers")).await?,
            driver_exists: p.read(Money, "SELECT id FROM drivers WHERE id = ?").await?,
            driver_update: p
                .prepare(
                    Money,
                    true,
                    "UPDATE drivers SET password_hash = ?, class = ?, status = ?, last_active_at = ? WHERE id = ?",
                )
                .await?,
            phone_claim: p
                .prepare(Lwt, false, "INSERT INTO drivers_by_phone (phone, driver_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            phone_get: p.read(Money, "SELECT driver_id FROM drivers_by_phone WHERE phone = ?").await?,

            card_claim: p
                .prepare(
                    Lwt,
                    false,
                    &format!("INSERT INTO cards ({CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"),
                )
                .await?,
            card_get: p.read(Money, &format!("SELECT {CARD_COLUMNS} FROM cards WHERE number = ?")).await?,
            cards_get: p.read(Money, &format!("SELECT {CARD_COLUMNS} FROM cards WHERE number IN ?")).await?,
            card_status: p.prepare(Lwt, false, "UPDATE cards SET status = ? WHERE number = ? IF EXISTS").await?,
            card_list_insert: p
                .prepare(Money, true, "INSERT INTO cards_by_driver (driver_id, number) VALUES (?, ?)")
                .await?,
            cards_of_driver: p.read(Money, "SELECT number FROM cards_by_driver WHERE driver_id = ?").await?,

            rule_insert: p
                .prepare(Money, true, "INSERT INTO rules (bucket, id, rule, created_at) VALUES (0, ?, ?, ?)")
                .await?,
            rules_list: p.read(Money, "SELECT id, rule FROM rules WHERE bucket = 0").await?,
            rule_update: p.prepare(Money, true, "UPDATE rules SET rule = ? WHERE bucket = 0 AND id = ?").await?,

            order_claim: p
                .prepare(
                    Lwt,
                    false,
                    &format!("INSERT INTO orders ({ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"),
                )
                .await?,
            order_get: p.read(Money, &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?")).await?,
            order_get_serial: p
                .read(SerialRead, &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"))
                .await?,
            orders_get: p.read(Money, &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id IN ?")).await?,
            order_pay: p
                .prepare(
                    Lwt,
                    false,
                    "UPDATE orders SET status = 'paid', provider_txn = ?, paid_at = ? WHERE id = ? \
                     IF status = 'pending'",
                )
                .await?,
            txn_claim: p
                .prepare(Lwt, false, "INSERT INTO orders_by_txn (provider_txn, order_id) VALUES (?, ?) IF NOT EXISTS")
                .await?,
            paid_insert: p
                .prepare(Money, true, "INSERT INTO paid_orders_by_day (day, paid_at, order_id) VALUES (?, ?, ?)")
                .await?,
            paid_in_day: p
                .read(
                    Money,
                    "SELECT order_id FROM paid_orders_by_day WHERE day = ? AND paid_at >= ? AND paid_at < ?",
                )
                .await?,

            day_insert: p.prepare(Money, true, "INSERT INTO active_days (series, day) VALUES (?, ?)").await?,
            days_between: p
                .read(Money, "SELECT day FROM active_days WHERE series = ? AND day >= ? AND day <= ?")
                .await?,

            entry_claim: p
                .prepare(
                    Lwt,
                    false,
                    "INSERT INTO ledger_entries (key, kind, at, reference, lines, posted, lease, state) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending') IF NOT EXISTS",
                )
                .await?,
            entry_get_serial: p
                .read(
                    SerialRead,
                    "SELECT kind, at, reference, lines, posted, lease, state FROM ledger_entries WHERE key = ?",
                )
                .await?,
            entry_take_over: p
                .prepare(
                    Lwt,
                    false,
                    "UPDATE ledger_entries SET lease = ? WHERE key = ? IF state = 'pending' AND lease = ?",
                )
                .await?,
            entry_applied: p
                .prepare(
                    Lwt,
                    false,
                    "UPDATE ledger_entries SET state = 'applied' WHERE key = ? IF state = 'pending'",
                )
                .await?,
            entry_withdraw: p
                .prepare(Lwt, false, "DELETE FROM ledger_entries WHERE key = ? IF state = 'pending'")
                .await?,
            pending_insert: p
                .prepare(Money, true, "INSERT INTO ledger_pending (hour, key, posted) VALUES (?, ?, ?)")
                .await?,
            pending_delete: p.prepare(Money, true, "DELETE FROM ledger_pending WHERE hour = ? AND key = ?").await?,
            pending_in_hour: p.read(Money, "SELECT key, posted FROM ledger_pending WHERE hour = ?").await?,
            balance_get: p.read(Money, &balance_get).await?,
            balance_get_serial: p.read(SerialRead, &balance_get).await?,
            applied_get_serial: p
                .read(
                    SerialRead,
                    "SELECT entry_key FROM account_balances WHERE account = ? AND entry_key = ?",
                )
                .await?,
            balance_open: p.conditional(vec![balance_first, applied_insert.clone()]),
            balance_post: p.conditional(vec![balance_set.clone(), applied_insert]),
            balance_unpost: p.conditional(vec![balance_set, applied_delete]),
            by_account_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO ledger_by_account (account, day, posted, key, kind, at, reference, lines) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .await?,
            by_account_in_day: p
                .read(
                    Money,
                    &format!("SELECT {LISTING_COLUMNS} FROM ledger_by_account WHERE account = ? AND day = ?"),
                )
                .await?,
            by_reference_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO ledger_by_reference (reference, posted, key, kind, at, lines) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .await?,
            by_reference: p
                .read(Money, &format!("SELECT {LISTING_COLUMNS} FROM ledger_by_reference WHERE reference = ?"))
                .await?,
            by_day_insert: p
                .prepare(
                    Money,
                    true,
                    "INSERT INTO ledger_by_day (day, posted, key, kind, at, reference, lines) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .await?,
            by_day: p.read(Money, &format!("SELECT {LISTING_COLUMNS} FROM ledger_by_day WHERE day = ?")).await?,

            statement_claim: p
                .prepare(
                    Lwt,
                    false,
                    "INSERT INTO statements (merchant_id, day, statement) VALUES (?, ?, ?) IF NOT EXISTS",
                )
                .await?,
            statement_get: p
                .read(Money, "SELECT statement FROM statements WHERE merchant_id = ? AND day = ?")
                .await?,
            statement_withdraw: p
                .prepare(Lwt, false, "DELETE FROM statements WHERE merchant_id = ? AND day = ? IF EXISTS")
                .await?,

            token_claim: p
                .prepare(
                    Lwt,
                    false,
                    "INSERT INTO tokens (hash, record, expires_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?",
                )
                .await?,
            token_get: p.read(Money, "SELECT record FROM tokens WHERE hash = ?").await?,
        })
    }
}

/// The statements of `edits`. Rows of these tables are never deleted, so
/// an update after an existence check cannot resurrect one: no Paxos needed.
pub(super) struct EditStatements {
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
    async fn prepare(p: &Preparer<'_>) -> Result<EditStatements> {
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

impl ReportStatements {
    async fn prepare(p: &Preparer<'_>) -> Result<ReportStatements> {
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
