//! Charge points' own passwords (OCPP 1.6 security profile 1: HTTP Basic
//! auth on the WebSocket upgrade). Only a hash is kept (the API hashes with
//! argon2); a charge point with none set connects without one, unless the
//! platform requires one of every charge point.

use async_trait::async_trait;
use vocab::PileId;

use crate::Result;

#[async_trait]
pub trait Credentials: Send + Sync {
    /// Sets the hash of the password charge point `pile` must present, or
    /// with `None` removes it.
    async fn set_ocpp_password(&self, pile: &PileId, hash: Option<&str>) -> Result<()>;
    /// The hash of charge point `pile`'s password, if one is set.
    async fn ocpp_password(&self, pile: &PileId) -> Result<Option<String>>;
}
