//! Charge points' password hashes (`store::credentials`) in SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use vocab::PileId;

use super::SqliteStore;
use crate::credentials::Credentials;
use crate::Result;

pub(super) fn set_ocpp_password(c: &Connection, pile: &PileId, hash: Option<&str>) -> Result<()> {
    match hash {
        Some(h) => c
            .prepare_cached(
                "INSERT INTO ocpp_passwords (pile_id, hash) VALUES (?1, ?2)
                 ON CONFLICT (pile_id) DO UPDATE SET hash = excluded.hash",
            )?
            .execute(params![pile.as_str(), h])?,
        None => c
            .prepare_cached("DELETE FROM ocpp_passwords WHERE pile_id = ?1")?
            .execute(params![pile.as_str()])?,
    };
    Ok(())
}

pub(super) fn ocpp_password(c: &Connection, pile: &PileId) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT hash FROM ocpp_passwords WHERE pile_id = ?1")?
        .query_row(params![pile.as_str()], |r| r.get(0))
        .optional()
}

#[async_trait]
impl Credentials for SqliteStore {
    async fn set_ocpp_password(&self, pile: &PileId, hash: Option<&str>) -> Result<()> {
        let (pile, hash) = (pile.clone(), hash.map(str::to_owned));
        self.writer.submit(move |c| set_ocpp_password(c, &pile, hash.as_deref())).await
    }

    async fn ocpp_password(&self, pile: &PileId) -> Result<Option<String>> {
        let pile = pile.clone();
        self.readers.read(move |c| ocpp_password(c, &pile)).await
    }
}
