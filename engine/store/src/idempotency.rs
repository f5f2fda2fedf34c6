//! API responses kept under their request's idempotency key, so a retried
//! request gets the first answer instead of acting twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Responses kept once under an idempotency key.
#[async_trait]
pub trait Idempotency: Send + Sync + 'static {
    /// The response stored under an idempotency key, if any.
    async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>>;

    /// Stores a response under a key unless one is there; returns false
    /// (changing nothing) if the key was taken.
    async fn remember_response(&self, key: &str, response: &StoredResponse) -> Result<bool>;
}

/// An API response kept under its request's idempotency key, so a retried
/// request gets the first answer instead of acting twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// What identifies the request (method, path, body), so a key reused
    /// for a different request is refused.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
    pub created_at: DateTime<Utc>,
}
