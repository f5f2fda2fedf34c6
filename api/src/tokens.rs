//! Bearer tokens: opaque random strings kept in the store by their SHA-256,
//! not signed JWTs: a frozen driver's tokens stop working at once without a
//! revocation list, there is no signing key to rotate, and the one store
//! lookup per request is a primary-key read. Who a request speaks for is
//! read here.

use std::time::Duration;

use actix_web::{HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use domain::accounts::{Driver, Principal, Status, Token};
use domain::session::SessionRecord;
use sha2::{Digest, Sha256};
use vocab::SessionId;

use crate::error::{ApiError, ApiResult};
use crate::routes::State;

/// A new bearer token for a principal, good for `ttl`.
pub async fn issue(state: &State, ttl: Duration, principal: Principal) -> ApiResult<String> {
    let secret = hex::encode(random::<32>());
    let expires_at = state.now() + chrono::Duration::from_std(ttl).unwrap_or_default();
    state.store.create_token(&digest(&secret), &Token { principal, expires_at }).await?;
    Ok(secret)
}

/// Bytes from the OS's random source.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random source");
    b
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn unauthorized(message: &str) -> ApiError {
    ApiError::new(actix_web::http::StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Who a request's bearer token speaks for, if it is live.
pub async fn principal(state: &State, req: &HttpRequest) -> ApiResult<Principal> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let secret = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <token>"))?;
    let token =
        state.store.token(&digest(secret.trim())).await?.ok_or_else(|| unauthorized("unknown token"))?;
    let now: DateTime<Utc> = state.now();
    if token.expires_at <= now {
        return Err(unauthorized("the token has expired; log in again"));
    }
    // For the request's log line: who, never the token.
    req.extensions_mut().insert(token.principal.clone());
    Ok(token.principal)
}

/// Forgets the request's bearer token (signing out): it is refused from
/// now on, on every node. An unknown or expired token is 401 as anywhere.
pub async fn revoke(state: &State, req: &HttpRequest) -> ApiResult<()> {
    principal(state, req).await?;
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let secret = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
    Ok(state.store.revoke_token(&digest(secret.trim())).await?)
}

/// The active driver a request's bearer token speaks for.
/// One of the signed-in driver's own charges; 404 for anyone else's, so
/// other drivers' session ids are not confirmed to exist.
pub async fn own_charge(state: &State, req: &HttpRequest, id: &SessionId) -> ApiResult<SessionRecord> {
    let driver = driver(state, req).await?;
    let mine = state
        .store
        .session(id)
        .await?
        .filter(|s| s.terms.payer.as_ref().is_some_and(|p| p.driver == driver.id));
    mine.ok_or_else(|| ApiError::not_found("unknown_session", format!("you have no charge {id}")))
}

pub async fn driver(state: &State, req: &HttpRequest) -> ApiResult<Driver> {
    let Principal::Driver { driver_id } = principal(state, req).await? else {
        return Err(unauthorized("a driver's token is needed"));
    };
    let driver = state.store.driver(driver_id).await?.ok_or_else(|| unauthorized("unknown driver"))?;
    match driver.status {
        Status::Active => Ok(driver),
        Status::Frozen => {
            Err(ApiError::new(actix_web::http::StatusCode::FORBIDDEN, "frozen", "the account is frozen"))
        }
        Status::Cancelled => Err(unauthorized("the account is cancelled")),
    }
}
