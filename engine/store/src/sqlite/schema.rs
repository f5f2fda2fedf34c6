//! The tables, and the migrations that build them.
//!
//! `PRAGMA user_version` counts the migrations a database has had. Opening
//! applies the missing ones in order, in one transaction, so a database is
//! always at some whole version; changing the schema later is appending a
//! step to `MIGRATIONS`, never editing one that has shipped.
//!
//! Conventions: money and energy are `Decimal` kept as TEXT so they stay
//! exact (sum them in Rust, never in SQL, which would turn them into REAL);
//! timestamps are INTEGER microseconds since the Unix epoch, UTC; structured
//! values that are only ever read whole (a tariff's prices, a session's
//! per-period energy, a bill's lines) are JSON text. Tables are STRICT so a
//! value of the wrong type is an error rather than silently stored.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

const V1: &str = "
-- AUTOINCREMENT: operators and piles hold these ids, so one is never reused.
CREATE TABLE tariffs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    tou        TEXT    NOT NULL, -- TouPrices
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE stations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    tariff_id          INTEGER NOT NULL REFERENCES tariffs (id),
    utc_offset_minutes INTEGER NOT NULL,
    service_fee        TEXT    NOT NULL,
    minimum_charge     TEXT    NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE plans (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    pricing    TEXT    NOT NULL, -- Pricing
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE piles (
    id         TEXT    PRIMARY KEY,
    station_id INTEGER NOT NULL REFERENCES stations (id),
    protocol   TEXT    NOT NULL,
    ports      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX piles_station ON piles (station_id);

-- A rowid table: sessions are rewritten on every transition, and the rowid
-- orders sessions created in the same microsecond.
-- tariff_id and plan_id repeat what terms says, for reports to filter on.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    pile_id    TEXT    NOT NULL REFERENCES piles (id),
    port       INTEGER NOT NULL,
    station_id INTEGER NOT NULL REFERENCES stations (id),
    tariff_id  INTEGER REFERENCES tariffs (id),
    plan_id    INTEGER REFERENCES plans (id),
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    stop_code  INTEGER,
    stop_text  TEXT,
    terms      TEXT    NOT NULL, -- Terms
    meter      TEXT    NOT NULL  -- Meter
) STRICT;
-- Only open sessions, a handful per pile, so the index stays tiny however
-- long the history grows. Queries must repeat this WHERE to use it.
CREATE INDEX sessions_open ON sessions (pile_id, created_at)
    WHERE state IN ('starting', 'charging', 'stopping');

-- Clustered by session then time: a session's readings are one range scan.
-- seq numbers readings that share a timestamp in the order they arrived.
CREATE TABLE samples (
    session_id TEXT    NOT NULL REFERENCES sessions (id),
    at         INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    kwh        TEXT    NOT NULL,
    voltage    TEXT    NOT NULL,
    current    TEXT    NOT NULL,
    power      TEXT    NOT NULL,
    soc        INTEGER,
    PRIMARY KEY (session_id, at, seq)
) STRICT, WITHOUT ROWID;

-- One bill per session: the primary key is what makes a repeated final
-- record from a pile bill once.
CREATE TABLE bills (
    session_id     TEXT    PRIMARY KEY REFERENCES sessions (id),
    tariff_id      INTEGER REFERENCES tariffs (id),
    plan_id        INTEGER REFERENCES plans (id),
    kwh            TEXT    NOT NULL,
    seconds        INTEGER NOT NULL,
    energy_amount  TEXT    NOT NULL,
    service_amount TEXT    NOT NULL,
    total          TEXT    NOT NULL,
    prepaid        TEXT,
    refund         TEXT    NOT NULL,
    lines          TEXT    NOT NULL, -- [BillLine]
    created_at     INTEGER NOT NULL
) STRICT;
";

const V2: &str = "
-- Responses to API requests that carried an Idempotency-Key.
CREATE TABLE idempotency (
    key         TEXT    PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

const V3: &str = "
CREATE TABLE alarms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id      INTEGER NOT NULL REFERENCES stations (id),
    pile_id         TEXT    NOT NULL REFERENCES piles (id),
    port            INTEGER,
    kind            TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    raised_at       INTEGER NOT NULL,
    acknowledged_at INTEGER,
    cleared_at      INTEGER
) STRICT;
-- Listing is newest first per station or pile; open alarms are few.
CREATE INDEX alarms_station ON alarms (station_id, id);
CREATE INDEX alarms_pile ON alarms (pile_id, id);
CREATE INDEX alarms_open ON alarms (id) WHERE cleared_at IS NULL;
";

const V4: &str = "
ALTER TABLE stations ADD COLUMN power TEXT; -- PowerConfig, NULL when not managed
-- Station-wide alarms (a station over its transformer's limit) name no pile.
CREATE TABLE alarms_v4 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id      INTEGER NOT NULL REFERENCES stations (id),
    pile_id         TEXT    REFERENCES piles (id),
    port            INTEGER,
    kind            TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    raised_at       INTEGER NOT NULL,
    acknowledged_at INTEGER,
    cleared_at      INTEGER
) STRICT;
INSERT INTO alarms_v4 SELECT * FROM alarms;
DROP TABLE alarms;
ALTER TABLE alarms_v4 RENAME TO alarms;
CREATE INDEX alarms_station ON alarms (station_id, id);
CREATE INDEX alarms_pile ON alarms (pile_id, id);
CREATE INDEX alarms_open ON alarms (id) WHERE cleared_at IS NULL;
";

const V5: &str = "
ALTER TABLE bills ADD COLUMN reconciliation TEXT; -- Reconciliation, NULL when the pile reported no amount
";

const V6: &str = "
-- Money: see ledger.rs and accounts.rs.
CREATE TABLE merchants (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    commission_percent TEXT    NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;
ALTER TABLE stations ADD COLUMN merchant_id INTEGER REFERENCES merchants (id);
-- NULL on bills stored before discounts existed: list price was the total.
ALTER TABLE bills ADD COLUMN list_total TEXT;
ALTER TABLE bills ADD COLUMN discount TEXT;

CREATE TABLE drivers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    phone          TEXT    NOT NULL UNIQUE,
    password_hash  TEXT,
    class          TEXT,
    status         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL
) STRICT;

CREATE TABLE cards (
    number     TEXT    PRIMARY KEY,
    driver_id  INTEGER NOT NULL REFERENCES drivers (id),
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX cards_driver ON cards (driver_id);

CREATE TABLE rules (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rule       TEXT    NOT NULL, -- NewRule
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE orders (
    id           TEXT    PRIMARY KEY,
    driver_id    INTEGER NOT NULL REFERENCES drivers (id),
    amount       TEXT    NOT NULL,
    provider     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    provider_txn TEXT    UNIQUE,
    created_at   INTEGER NOT NULL,
    paid_at      INTEGER
) STRICT;
CREATE INDEX orders_paid ON orders (paid_at) WHERE paid_at IS NOT NULL;

-- The ledger. Entries are only ever inserted; seq orders them. Each line is
-- also a row of entry_lines, so an account's entries are one range scan.
-- balances holds each account's balance as of the last entry, written in
-- the same transaction as the entry.
CREATE TABLE entries (
    seq       INTEGER PRIMARY KEY,
    key       TEXT    NOT NULL UNIQUE,
    kind      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    reference TEXT    NOT NULL,
    lines     TEXT    NOT NULL -- [Line]
) STRICT;
CREATE INDEX entries_reference ON entries (reference);
CREATE INDEX entries_at ON entries (at);
CREATE TABLE entry_lines (
    account TEXT    NOT NULL,
    seq     INTEGER NOT NULL REFERENCES entries (seq),
    PRIMARY KEY (account, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE balances (
    account TEXT PRIMARY KEY,
    balance TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE statements (
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    day         TEXT    NOT NULL, -- YYYY-MM-DD
    statement   TEXT    NOT NULL, -- Statement
    PRIMARY KEY (merchant_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE tokens (
    hash       TEXT    PRIMARY KEY,
    token      TEXT    NOT NULL, -- Token
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

const V7: &str = "
-- The inactive-drivers report reads drivers by last activity.
CREATE INDEX drivers_last_active ON drivers (last_active_at);

-- Each bill a correction replaced; bills holds the one in force.
CREATE TABLE bill_revisions (
    session_id TEXT    NOT NULL REFERENCES sessions (id),
    revision   INTEGER NOT NULL, -- 0: the original bill
    bill       TEXT    NOT NULL, -- Bill
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, revision)
) STRICT, WITHOUT ROWID;
";

const V8: &str = "
-- BMS and other diagnostic frames, by pile, newest read first.
CREATE TABLE diagnostics (
    id         INTEGER PRIMARY KEY,
    pile_id    TEXT    NOT NULL REFERENCES piles (id),
    port       INTEGER NOT NULL,
    session_id TEXT,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL
) STRICT;
CREATE INDEX diagnostics_pile ON diagnostics (pile_id, id);
";

const V9: &str = "
-- People who run the platform (drivers are in drivers).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    merchant_id   INTEGER REFERENCES merchants (id),
    created_at    INTEGER NOT NULL
) STRICT;
";

const V10: &str = "
-- Each wallet-paid charge under its driver, for the driver's history.
CREATE TABLE driver_sessions (
    driver_id  INTEGER NOT NULL REFERENCES drivers (id),
    created_at INTEGER NOT NULL,
    session_id TEXT    NOT NULL REFERENCES sessions (id),
    PRIMARY KEY (driver_id, created_at, session_id)
) STRICT, WITHOUT ROWID;
";

const V11: &str = "
ALTER TABLE stations ADD COLUMN details TEXT; -- StationDetails, NULL when not given
";

const V12: &str = "
-- Tenants. Operator 1 owns whatever was created before there were others.
CREATE TABLE operators (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO operators (id, name, status, created_at)
    VALUES (1, 'default', 'active', CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
-- No REFERENCES: SQLite adds a referencing column only with a NULL default.
ALTER TABLE tariffs ADD COLUMN operator_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE plans ADD COLUMN operator_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE stations ADD COLUMN operator_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE merchants ADD COLUMN operator_id INTEGER NOT NULL DEFAULT 1;
-- NULL: a platform admin. Users created before tenants worked for operator 1.
ALTER TABLE users ADD COLUMN operator_id INTEGER;
UPDATE users SET operator_id = 1 WHERE role != 'admin';
";

const V13: &str = "
-- Reports (report.rs): a station's billed charges by when they ended, and
-- its alarms by when they were raised.
CREATE INDEX sessions_ended ON sessions (station_id, ended_at) WHERE state = 'finished';
CREATE INDEX alarms_raised ON alarms (station_id, raised_at);
";

const V14: &str = "
-- What operators took out of service (store::Item), and since when.
CREATE TABLE out_of_service (
    kind  TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) STRICT, WITHOUT ROWID;
";

const V15: &str = "
-- Which node holds each pile's link, when several nodes share this file.
-- A row lapses at expires_at unless its node writes it again.
CREATE TABLE pile_nodes (
    pile_id    TEXT    PRIMARY KEY,
    node_id    TEXT    NOT NULL,
    http_addr  TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

const V16: &str = "
-- The cards each pile may let charge while it is offline (what the platform
-- sent it): its offline charges are billed only to these.
CREATE TABLE offline_cards (
    pile_id TEXT NOT NULL,
    card    TEXT NOT NULL,
    PRIMARY KEY (pile_id, card)
) STRICT, WITHOUT ROWID;
";

const V17: &str = "
-- Which node runs each station's power management (store::leases). The
-- row stays when released or lapsed (expires_at past) so the token keeps rising.
CREATE TABLE station_leases (
    station_id INTEGER PRIMARY KEY,
    holder     TEXT    NOT NULL,
    http_addr  TEXT    NOT NULL,
    fencing_token INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;
";

const V18: &str = "
-- The console's session list (listing.rs), newest first: all of them, or a
-- station's.
CREATE INDEX sessions_created ON sessions (created_at);
CREATE INDEX sessions_station_created ON sessions (station_id, created_at);
";

const V19: &str = "
-- Each station's power every station_power_sample_ms, for its chart
-- (power_history.rs); rows older than the retention are deleted as new
-- ones come. Watts as decimal text; limit_w NULL while not managed.
CREATE TABLE station_power (
    station_id  INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    limit_w     TEXT,
    allocated_w TEXT    NOT NULL,
    measured_w  TEXT    NOT NULL,
    PRIMARY KEY (station_id, at)
) STRICT, WITHOUT ROWID;
";

const V20: &str = "
-- Charge points' OCPP passwords (security profile 1), hashed.
CREATE TABLE ocpp_passwords (
    pile_id TEXT PRIMARY KEY,
    hash    TEXT NOT NULL
) STRICT, WITHOUT ROWID;
";

const V21: &str = "
-- The live nodes sharing this file: each announces itself every
-- pile_node_refresh_ms, and a row lapses at expires_at unless written again.
CREATE TABLE cluster_nodes (
    node_id    TEXT    PRIMARY KEY,
    http_addr  TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

/// Every schema step, oldest first; a database at `user_version = n` has had
/// the first `n`.
const MIGRATIONS: &[&str] =
    &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, V16, V17, V18, V19, V20, V21];

/// Brings the database to the latest version. Refuses a database from a newer
/// build rather than run against a schema it does not know.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let latest = MIGRATIONS.len();
    // Immediate: two processes opening one new file must not both migrate it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > latest {
        return Err(StoreError::Backend(format!(
            "database schema is version {version}; this build knows up to {latest}"
        )));
    }
    if version == latest {
        return Ok(());
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(step)
            .map_err(|e| StoreError::Backend(format!("schema migration {}: {e}", i + 1)))?;
    }
    tx.pragma_update(None, "user_version", latest)?;
    tx.commit()?;
    Ok(())
}
