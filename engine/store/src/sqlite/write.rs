//! What every write shares: the constraint a failed statement broke, turned
//! into the trait's `Conflict` or `NotFound` naming what was taken or missing.
//! Each write runs inside its own savepoint, so an error rolls back only that
//! write.

use rusqlite::{ffi, Connection, ToSql};

use crate::StoreError;

/// The constraint a statement broke, when that is why it failed.
pub(super) enum Broke {
    /// A primary key or unique value already taken.
    Key,
    /// A reference to a row that does not exist.
    Parent,
}

pub(super) fn broke(e: &rusqlite::Error) -> Option<Broke> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => Some(Broke::Key),
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Broke::Parent),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn exists(c: &Connection, sql: &str, key: impl ToSql) -> rusqlite::Result<bool> {
    c.prepare_cached(sql)?.exists([key])
}

pub(super) fn taken(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            ) =>
        {
            StoreError::Conflict(what())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::NotFound(what())
        }
        _ => e.into(),
    }
}
