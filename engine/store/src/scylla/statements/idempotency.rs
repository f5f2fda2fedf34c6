//! The statements of `idempotency`: claiming a request's key and reading
//! the answer stored under it, prepared once at connect.

use scylla::statement::prepared::PreparedStatement;

use super::{Class, Preparer};
use crate::Result;

/// The statements of `idempotency`.
pub(in crate::scylla) struct IdempotencyStatements {
    pub idem_claim: PreparedStatement,
    pub idem_get: PreparedStatement,
}

impl IdempotencyStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<IdempotencyStatements> {
        use Class::{Lwt, Money};
        Ok(IdempotencyStatements {
            idem_claim: p
                .prepare(
                    Lwt,
                    false,
                    "INSERT INTO idempotency (key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?) \
                     IF NOT EXISTS",
                )
                .await?,
            idem_get: p.read(Money, "SELECT fingerprint, status, body, created_at FROM idempotency WHERE key = ?").await?,
        })
    }
}
