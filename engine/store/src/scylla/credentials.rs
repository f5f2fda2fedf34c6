//! Charge points' password hashes (`store::credentials`) in ScyllaDB: one
//! row per charge point (docs/scylla.md).

use async_trait::async_trait;
use scylla::statement::prepared::PreparedStatement;
use vocab::PileId;

use super::statements::{Class, Preparer};
use super::ScyllaStore;
use crate::credentials::Credentials;
use crate::Result;

pub(super) struct CredentialStatements {
    pub(super) set: PreparedStatement,
    remove: PreparedStatement,
    get: PreparedStatement,
}

impl CredentialStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<Self> {
        let set =
            p.prepare(Class::Money, true, "INSERT INTO ocpp_passwords (pile_id, hash) VALUES (?, ?)").await?;
        let remove = p.prepare(Class::Money, true, "DELETE FROM ocpp_passwords WHERE pile_id = ?").await?;
        let get = p.prepare(Class::Money, true, "SELECT hash FROM ocpp_passwords WHERE pile_id = ?").await?;
        Ok(CredentialStatements { set, remove, get })
    }
}

#[async_trait]
impl Credentials for ScyllaStore {
    async fn set_ocpp_password(&self, pile: &PileId, hash: Option<&str>) -> Result<()> {
        let (db, st) = (&self.db, &self.db.credentials);
        let written = match hash {
            Some(h) => db.cql.write("setting a charge point's password", &st.set, (pile.as_str(), h)).await,
            None => db.cql.write("removing a charge point's password", &st.remove, (pile.as_str(),)).await,
        };
        db.cql.count(written)
    }

    async fn ocpp_password(&self, pile: &PileId) -> Result<Option<String>> {
        let st = &self.db.credentials;
        let row = self
            .db
            .cql
            .row::<(String,), _>("reading a charge point's password", &st.get, (pile.as_str(),))
            .await?;
        Ok(row.map(|(h,)| h))
    }
}
