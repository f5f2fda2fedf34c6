//! Idempotency keys in SQLite: the first response stored under a key is
//! the one kept.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{micros, time};
use super::SqliteStore;
use crate::{Idempotency, Result, StoredResponse};
pub(super) fn idempotent_response(c: &Connection, key: &str) -> rusqlite::Result<Option<StoredResponse>> {
    c.prepare_cached("SELECT fingerprint, status, body, created_at FROM idempotency WHERE key = ?1")?
        .query_row([key], |r| {
            Ok(StoredResponse {
                fingerprint: r.get(0)?,
                status: r.get(1)?,
                body: r.get(2)?,
                created_at: time(r, 3)?,
            })
        })
        .optional()
}

pub(super) fn remember_response(c: &Connection, key: &str, r: &StoredResponse) -> Result<bool> {
    let inserted = c
        .prepare_cached(
            "INSERT INTO idempotency (key, fingerprint, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO NOTHING",
        )?
        .execute(params![key, r.fingerprint, r.status, r.body, micros(r.created_at)])?;
    Ok(inserted == 1)
}

#[async_trait]
impl Idempotency for SqliteStore {
    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        let key = key.to_owned();
        self.readers.read(move |c| idempotent_response(c, &key)).await
    }

    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool> {
        let (key, response) = (key.to_owned(), response.clone());
        self.writer.submit(move |c| remember_response(c, &key, &response)).await
    }
}
