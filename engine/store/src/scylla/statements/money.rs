//! The statements of `money`, prepared once at connect.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;

use super::{
    Class, Preparer, APPLIED_ROW_TTL, BALANCE_ROW, CARD_COLUMNS, DRIVER_COLUMNS, LISTING_COLUMNS,
    MERCHANT_COLUMNS, ORDER_COLUMNS, USER_COLUMNS,
};
use crate::Result;

/// The statements of `money`: merchants, drivers, cards, rules, orders,
/// the ledger, statements and tokens.
pub(in crate::scylla) struct MoneyStatements {
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

impl MoneyStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<MoneyStatements> {
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
