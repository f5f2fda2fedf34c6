//! The keyspace, its tables, and the migrations that build them.
//!
//! Every table is shaped by a query the `Store` trait makes, so every read
//! names a whole partition key and none needs `ALLOW FILTERING` or a
//! secondary index. What one write must keep in step across tables (a
//! session and its open-session entry, an alarm and its listings) goes in
//! one logged batch, which the cluster applies eventually-atomically.
//!
//! Conventions (see `codec`): money and energy are `text` holding the exact
//! decimal; timestamps are `bigint` microseconds since the Unix epoch, UTC
//! (CQL `timestamp` is milliseconds, and records must come back equal to the
//! microsecond); structured values read only whole are JSON `text`.
//!
//! `schema_migrations` has one row per applied step. A starting node applies
//! the missing steps in order; it first claims a step's row with a
//! lightweight transaction (`INSERT ... IF NOT EXISTS`), so when several
//! nodes start together exactly one runs each step while the others wait for
//! it to be marked done. Changing the schema later is appending a step,
//! never editing one that has shipped. Every statement is also written to be
//! harmless if run twice (`IF NOT EXISTS`), since a claim whose node died
//! expires and the step is run again by the next node.

use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::statement::{Consistency, Statement};

use super::cql::{cql_err, Lwt};
use super::ScyllaConfig;
use crate::store::{Result, StoreError};

const V1: &[&str] = &[
    // Ids the trait hands out as increasing integers (tariffs, plans,
    // stations, alarms): one row per kind, advanced by compare-and-set.
    "CREATE TABLE IF NOT EXISTS id_sequences (
        name    text PRIMARY KEY,
        next_id bigint          -- the id the next create gets
    )",
    // Reference data, read by id. tou, pricing, power: JSON (TouPrices,
    // Pricing, PowerConfig; power is null for a station whose power is not
    // managed).
    "CREATE TABLE IF NOT EXISTS tariffs (
        id         bigint PRIMARY KEY,
        name       text,
        tou        text,
        created_at bigint
    )",
    "CREATE TABLE IF NOT EXISTS plans (
        id         bigint PRIMARY KEY,
        name       text,
        pricing    text,
        created_at bigint
    )",
    "CREATE TABLE IF NOT EXISTS stations (
        id                 bigint PRIMARY KEY,
        name               text,
        tariff_id          bigint,
        utc_offset_minutes int,
        service_fee        text,
        minimum_charge     text,
        created_at         bigint,
        power              text
    )",
    // A pile by id: the row a new pile claims (IF NOT EXISTS).
    "CREATE TABLE IF NOT EXISTS piles_by_id (
        id         text PRIMARY KEY,
        station_id bigint,
        protocol   text,
        ports      int,
        created_at bigint
    )",
    // Every pile, for piles(): spread over codec::PILE_BUCKETS partitions by
    // a fixed hash of the id, each clustered by id, so a listing is a few
    // ordered partition scans merged, and no partition grows with the whole
    // fleet.
    "CREATE TABLE IF NOT EXISTS piles (
        bucket     int,
        id         text,
        station_id bigint,
        protocol   text,
        ports      int,
        created_at bigint,
        PRIMARY KEY ((bucket), id)
    ) WITH CLUSTERING ORDER BY (id ASC)",
    // A session by id, rewritten whole on every transition with the write
    // time the store assigned when it was asked (USING TIMESTAMP), so the
    // last transition asked for wins whatever order the writes land in.
    // terms, meter: JSON. tariff_id and plan_id repeat terms, for reports.
    "CREATE TABLE IF NOT EXISTS sessions (
        id         text PRIMARY KEY,
        pile_id    text,
        port       int,
        station_id bigint,
        tariff_id  bigint,
        plan_id    bigint,
        state      text,
        created_at bigint,
        started_at bigint,
        ended_at   bigint,
        stop_code  int,
        stop_text  text,
        terms      text,
        meter      text
    )",
    // The open (starting, charging, stopping) sessions of a pile, oldest
    // first: written with the session in one logged batch, deleted when it
    // finishes or fails. A handful of rows per pile, however long the history.
    "CREATE TABLE IF NOT EXISTS open_sessions_by_pile (
        pile_id    text,
        created_at bigint,
        session_id text,
        PRIMARY KEY ((pile_id), created_at, session_id)
    )",
    // Meter readings: a partition per session and UTC day (day_bucket =
    // micros / 86400e6), so a long charge never makes one huge partition;
    // clustered by time then seq, which orders readings sharing a timestamp
    // by arrival (seq is the store's monotonic write clock).
    "CREATE TABLE IF NOT EXISTS samples (
        session_id text,
        day_bucket int,
        read_at    bigint,
        seq        bigint,
        kwh        text,
        voltage    text,
        amperage   text,
        power      text,
        soc        int,
        PRIMARY KEY ((session_id, day_bucket), read_at, seq)
    ) WITH CLUSTERING ORDER BY (read_at ASC, seq ASC)",
    // One bill per session, claimed with INSERT ... IF NOT EXISTS: the row
    // existing is what bills a session exactly once. final_session is the
    // finished SessionRecord (JSON) the bill was made with, so a crash
    // between claiming the bill and rewriting the session row is repaired
    // from it. lines: JSON [BillLine].
    "CREATE TABLE IF NOT EXISTS bills (
        session_id     text PRIMARY KEY,
        tariff_id      bigint,
        plan_id        bigint,
        lines          text,
        kwh            text,
        seconds        bigint,
        energy_amount  text,
        service_amount text,
        total          text,
        prepaid        text,
        refund         text,
        reconciliation text,
        created_at     bigint,
        final_session  text
    )",
    // Alarms by id. acknowledged_at and cleared_at are set once, each by a
    // compare-and-set (IF ... = null), so the first one stands.
    "CREATE TABLE IF NOT EXISTS alarms (
        id              bigint PRIMARY KEY,
        station_id      bigint,
        pile_id         text,
        port            int,
        kind            text,
        severity        text,
        message         text,
        raised_at       bigint,
        acknowledged_at bigint,
        cleared_at      bigint
    )",
    // Listings, newest first, holding only ids: the alarm row is the one
    // place its state lives, fetched by id for a page. A station-wide alarm
    // (pile_id null) is listed by station only.
    "CREATE TABLE IF NOT EXISTS alarms_by_station (
        station_id bigint,
        id         bigint,
        PRIMARY KEY ((station_id), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    "CREATE TABLE IF NOT EXISTS alarms_by_pile (
        pile_id text,
        id      bigint,
        PRIMARY KEY ((pile_id), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    // Alarms not yet cleared (few), in one partition (bucket = 0).
    "CREATE TABLE IF NOT EXISTS open_alarms (
        bucket int,
        id     bigint,
        PRIMARY KEY ((bucket), id)
    ) WITH CLUSTERING ORDER BY (id DESC)",
    // Responses to API requests that carried an Idempotency-Key, claimed
    // with INSERT ... IF NOT EXISTS and gone after 7 days.
    "CREATE TABLE IF NOT EXISTS idempotency (
        key         text PRIMARY KEY,
        fingerprint text,
        status      int,
        body        text,
        created_at  bigint
    ) WITH default_time_to_live = 604800",
];

/// Every schema step, oldest first; step `n` is version `n`.
pub(super) const MIGRATIONS: &[&[&str]] = &[V1];

const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    claimed_by text,    -- the node applying it (expires with the claim)
    claimed_at bigint,
    done       boolean, -- set once every statement of the step has run
    applied_at bigint
)";

/// How long a claim on a step lasts: a node that dies mid-step leaves it to
/// the next node after this long.
const CLAIM_TTL: Duration = Duration::from_secs(300);
/// How long a node waits for a step another node claimed.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(500);

/// Creates the keyspace if it is missing. An existing keyspace is left as
/// it is (its replication is the operator's).
///
/// ScyllaDB versions whose tablets keyspaces refuse lightweight transactions
/// would make every LWT here fail, so a new keyspace is asked for without
/// tablets; servers that do not know the option (Cassandra, ScyllaDB before
/// 6.0) refuse it, and the keyspace is then created without it.
pub(super) async fn create_keyspace(session: &Session, config: &ScyllaConfig) -> Result<()> {
    let (ks, replication) = (&config.keyspace, &config.replication);
    let plain = format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}");
    let vnodes = format!("{plain} AND tablets = {{'enabled': false}}");
    if let Err(first) = session.query_unpaged(vnodes, ()).await {
        session.query_unpaged(plain, ()).await.map_err(|e| {
            StoreError::Backend(format!("creating keyspace {ks}: {e} (with tablets disabled: {first})"))
        })?;
    }
    Ok(())
}

fn statement(text: &str, consistency: Consistency) -> Statement {
    let mut s = Statement::new(text);
    s.set_consistency(consistency);
    s
}

/// Where a step stands, as a serial read sees it.
enum Step {
    Free,
    Claimed(String),
    Done,
}

/// Brings the keyspace (already in use by `session`) to the latest version.
/// Refuses a keyspace migrated by a newer build.
pub(super) async fn migrate(session: &Session, node: &str) -> Result<()> {
    session.query_unpaged(MIGRATIONS_TABLE, ()).await.map_err(cql_err("creating schema_migrations"))?;
    let latest = MIGRATIONS.len() as i32;

    // A small table: reading it whole is one short scan.
    let all = statement("SELECT version, done FROM schema_migrations", Consistency::Quorum);
    let rows = session.query_unpaged(all, ()).await.map_err(cql_err("reading schema_migrations"))?;
    let rows = rows.into_rows_result().map_err(cql_err("reading schema_migrations"))?;
    for row in rows.rows::<(i32, Option<bool>)>().map_err(cql_err("reading schema_migrations"))? {
        let (version, done) = row.map_err(cql_err("reading schema_migrations"))?;
        if version > latest && done == Some(true) {
            return Err(StoreError::Backend(format!(
                "keyspace schema is at version {version}; this build knows up to {latest}"
            )));
        }
    }

    // Serial: sees a claim another node's LWT is still committing, and the
    // claims of nodes in every datacenter.
    let mut read = session
        .prepare("SELECT claimed_by, done FROM schema_migrations WHERE version = ?")
        .await
        .map_err(cql_err("preparing the migration read"))?;
    read.set_consistency(Consistency::Serial);
    let claim = format!(
        "INSERT INTO schema_migrations (version, claimed_by, claimed_at) VALUES (?, ?, ?) \
         IF NOT EXISTS USING TTL {}",
        CLAIM_TTL.as_secs()
    );
    let mut claim = session.prepare(claim).await.map_err(cql_err("preparing the migration claim"))?;
    claim.set_consistency(Consistency::Quorum);
    claim.set_serial_consistency(Some(scylla::statement::SerialConsistency::Serial));
    let mut done = session
        .prepare("UPDATE schema_migrations SET done = true, applied_at = ? WHERE version = ?")
        .await
        .map_err(cql_err("preparing the migration mark"))?;
    done.set_consistency(Consistency::Quorum);
    done.set_is_idempotent(true);

    for (i, step) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        let started = Instant::now();
        loop {
            let state = {
                let r = session
                    .execute_unpaged(&read, (version,))
                    .await
                    .map_err(cql_err("reading a migration"))?;
                let r = r.into_rows_result().map_err(cql_err("reading a migration"))?;
                match r.maybe_first_row::<(Option<String>, Option<bool>)>() {
                    Ok(None) => Step::Free,
                    Ok(Some((_, Some(true)))) => Step::Done,
                    Ok(Some((by, _))) => Step::Claimed(by.unwrap_or_default()),
                    Err(e) => return Err(StoreError::Backend(format!("reading a migration: {e}"))),
                }
            };
            match state {
                Step::Done => break,
                Step::Free => {
                    let now = chrono::Utc::now().timestamp_micros();
                    let r = session
                        .execute_unpaged(&claim, (version, node, now))
                        .await
                        .map_err(cql_err("claiming a migration"))?;
                    if !Lwt::parse(r)?.applied {
                        continue; // another node claimed it first: wait for it
                    }
                    tracing::info!(version, "applying ScyllaDB schema migration");
                    for stmt in step.iter() {
                        session
                            .query_unpaged(statement(stmt, Consistency::Quorum), ())
                            .await
                            .map_err(|e| StoreError::Backend(format!("schema migration {version}: {e}")))?;
                    }
                    let now = chrono::Utc::now().timestamp_micros();
                    session
                        .execute_unpaged(&done, (now, version))
                        .await
                        .map_err(cql_err("marking a migration"))?;
                    break;
                }
                Step::Claimed(by) => {
                    if started.elapsed() > WAIT_FOR_OTHERS {
                        return Err(StoreError::Backend(format!(
                            "schema migration {version} was claimed by {by} and not finished within {}s",
                            WAIT_FOR_OTHERS.as_secs()
                        )));
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_statement_filters_or_uses_a_secondary_index() {
        for step in MIGRATIONS {
            for stmt in step.iter() {
                let upper = stmt.to_uppercase();
                assert!(upper.trim_start().starts_with("CREATE TABLE IF NOT EXISTS"), "{stmt}");
                assert!(!upper.contains("ALLOW FILTERING") && !upper.contains("INDEX"), "{stmt}");
                assert!(!stmt.contains(';'), "one statement each: {stmt}");
            }
        }
    }
}
