//! Idempotency keys on CQL: the first response under a key is kept with a
//! lightweight transaction.

use async_trait::async_trait;

use super::codec::{micros, time};
use super::{Db, ScyllaStore};
use crate::{Idempotency, Result, StoreError, StoredResponse};

impl Db {
    pub(super) async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        type Row = (String, i32, String, i64);
        let row = self
            .cql
            .row::<Row, _>("reading an idempotency key", &self.st.idempotency.idem_get, (key,))
            .await?;
        row.map(|(fingerprint, status, body, created_at)| {
            let status = u16::try_from(status)
                .map_err(|_| StoreError::Backend(format!("column status: {status} is not an HTTP status")))?;
            Ok(StoredResponse { fingerprint, status, body, created_at: time("created_at", created_at)? })
        })
        .transpose()
    }

    /// `INSERT ... IF NOT EXISTS`: of two requests with one key, exactly one
    /// response is kept; the table's default TTL drops it after 7 days.
    pub(super) async fn remember_response(&self, key: &str, r: &StoredResponse) -> Result<bool> {
        let values =
            (key, r.fingerprint.as_str(), i32::from(r.status), r.body.as_str(), micros(r.created_at));
        Ok(self.cql.lwt("remembering a response", &self.st.idempotency.idem_claim, values).await?.applied)
    }
}

#[async_trait]
impl Idempotency for ScyllaStore {
    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        self.db.idempotent_response(key).await
    }

    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.remember_response(key, response).await)
    }
}
