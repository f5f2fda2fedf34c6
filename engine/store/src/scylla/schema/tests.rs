//! Checks on the CQL schema steps: safe to run twice, no filtering or
//! secondary index, no reserved names.

use super::*;
use crate::scylla::migrate::added_column;

#[test]
fn no_statement_filters_or_uses_a_secondary_index() {
    for step in MIGRATIONS {
        for stmt in step.iter() {
            let upper = stmt.to_uppercase();
            assert!(
                upper.trim_start().starts_with("CREATE TABLE IF NOT EXISTS")
                    || added_column(stmt).is_some()
                    || (upper.trim_start().starts_with("INSERT") && upper.ends_with("IF NOT EXISTS")),
                "harmless to run twice: {stmt}"
            );
            assert!(!upper.contains("ALLOW FILTERING") && !upper.contains("INDEX"), "{stmt}");
            assert!(!stmt.contains(';'), "one statement each: {stmt}");
        }
    }
}

/// Reserved in ScyllaDB or in Cassandra (up to 5.0): not usable as a
/// table or column name without quotes.
const RESERVED: &[&str] = &[
    "ADD",
    "ALLOW",
    "ALTER",
    "AND",
    "APPLY",
    "ASC",
    "AUTHORIZE",
    "BATCH",
    "BEGIN",
    "BY",
    "COLUMNFAMILY",
    "CREATE",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DROP",
    "ENTRIES",
    "EXECUTE",
    "FOR",
    "FROM",
    "FULL",
    "GRANT",
    "IF",
    "IN",
    "INDEX",
    "INFINITY",
    "INSERT",
    "INTO",
    "IS",
    "KEYSPACE",
    "KEYSPACES",
    "LIMIT",
    "MATERIALIZED",
    "MBEAN",
    "MBEANS",
    "MODIFY",
    "NAN",
    "NORECURSIVE",
    "NOT",
    "NULL",
    "OF",
    "ON",
    "OR",
    "ORDER",
    "PRIMARY",
    "RENAME",
    "REPLACE",
    "REVOKE",
    "SCHEMA",
    "SELECT",
    "SET",
    "TABLE",
    "TO",
    "TOKEN",
    "TRUNCATE",
    "UNLOGGED",
    "UNSET",
    "UPDATE",
    "USE",
    "USING",
    "VIEW",
    "WHERE",
    "WITH",
];

#[test]
fn no_table_or_column_is_named_with_a_reserved_word() {
    let mut names = Vec::new();
    for stmt in MIGRATIONS.iter().flat_map(|s| s.iter()) {
        if let Some((table, column)) = added_column(stmt) {
            names.extend([table, column]);
            continue;
        }
        let head = stmt.split('(').next().unwrap_or_default();
        names.extend(head.split_whitespace().last());
        // Column definitions: one per line, `name type`.
        for line in stmt.lines().skip(1) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, ty, ..] = words[..] {
                if name != "PRIMARY" && ty.chars().all(|c| c.is_ascii_lowercase() || c == ',') {
                    names.push(name);
                }
            }
        }
    }
    assert!(names.contains(&"tokens") && names.contains(&"record") && names.contains(&"entry_key"));
    for name in names {
        assert!(!RESERVED.contains(&name.to_uppercase().as_str()), "{name} is a reserved word");
    }
}
