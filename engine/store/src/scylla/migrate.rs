//! Applying the schema (`schema::MIGRATIONS`) to a keyspace.
//!
//! `schema_migrations` has one row per applied step. A starting node applies
//! the missing steps in order; it first claims a step's row with a
//! lightweight transaction (`INSERT ... IF NOT EXISTS`), so when several
//! nodes start together exactly one runs each step while the others wait for
//! it to be marked done. Every statement is also harmless if run twice,
//! since a claim whose node died expires and the step is run again by the
//! next node: tables are created `IF NOT EXISTS`, and an `ALTER TABLE t ADD
//! c type` (CQL has no `IF NOT EXISTS` for columns) is skipped when
//! `system_schema.columns` already has the column.

use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::statement::{Consistency, Statement};

use super::cql::{cql_err, Lwt};
use super::schema::MIGRATIONS;
use super::ScyllaConfig;
use crate::{Result, StoreError};

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

/// Where a step stands, as a serial read sees it.
enum Step {
    Free,
    Claimed(String),
    Done,
}

/// The table and column an `ALTER TABLE t ADD c type` statement adds.
pub(super) fn added_column(stmt: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = stmt.split_whitespace().collect();
    match words[..] {
        ["ALTER", "TABLE", table, "ADD", column, _type] => Some((table, column)),
        _ => None,
    }
}

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

/// Brings the keyspace (already in use by `session`) to the latest version.
/// Refuses a keyspace migrated by a newer build.
pub(super) async fn migrate(session: &Session, keyspace: &str, node: &str) -> Result<()> {
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
    let column = session
        .prepare(
            "SELECT column_name FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
        )
        .await
        .map_err(cql_err("preparing the schema read"))?;

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
                        if let Some((table, name)) = added_column(stmt) {
                            let found = session
                                .execute_unpaged(&column, (keyspace, table, name))
                                .await
                                .map_err(cql_err("reading the schema"))?;
                            let found = found.into_rows_result().map_err(cql_err("reading the schema"))?;
                            if found.rows_num() > 0 {
                                continue; // added by an earlier run of this step
                            }
                        }
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
    fn added_columns_are_recognised_so_a_rerun_skips_them() {
        assert_eq!(added_column("ALTER TABLE bills ADD discount text"), Some(("bills", "discount")));
        assert_eq!(added_column("ALTER TABLE bills DROP discount"), None);
        assert_eq!(added_column("CREATE TABLE IF NOT EXISTS x (a int PRIMARY KEY)"), None);
        let alters = MIGRATIONS.iter().flat_map(|s| s.iter()).filter(|s| s.starts_with("ALTER"));
        for stmt in alters {
            let (table, column) = added_column(stmt).unwrap_or_else(|| panic!("unrecognised: {stmt}"));
            assert_eq!((table, column), (table.to_lowercase().as_str(), column.to_lowercase().as_str()));
        }
    }
}
