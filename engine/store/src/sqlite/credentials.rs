//! Charge points' password hashes (`store::credentials`) in SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use vocab::PileId;

use super::SqliteStore;
use crate::credentials::Credentials;
use crate::Result;

#[async_trait]
impl Credentials for SqliteStore {
    async fn set_ocpp_password(&self, pile: &PileId, hash: Option<&str>) -> Result<()> {
        let (pile, hash) = (pile.clone(), hash.map(str::to_owned));
        self.writer
            .submit(move |c| {
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
            })
            .await
    }

    async fn ocpp_password(&self, pile: &PileId) -> Result<Option<String>> {
        let pile = pile.clone();
        self.readers
            .read(move |c| {
                c.prepare_cached("SELECT hash FROM ocpp_passwords WHERE pile_id = ?1")?
                    .query_row(params![pile.as_str()], |r| r.get(0))
                    .optional()
            })
            .await
    }
}
