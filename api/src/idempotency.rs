//! `Idempotency-Key` for requests that act: a retried start never starts a
//! second charge, even across a restart.
//!
//! The first successful response under a key is stored with a fingerprint
//! of the request and replayed for every retry; a key reused for a
//! different request is refused. Concurrent retries wait on a per-key lock
//! so exactly one of them acts. Failed requests are not stored: they acted
//! on nothing, and a retry may well succeed.

use std::future::Future;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use actors::Platform;
use dashmap::DashMap;
use serde_json::Value;
use store::StoredResponse;

use crate::error::{ApiError, ApiResult};

pub const HEADER: &str = "Idempotency-Key";

/// Keys being acted on right now.
#[derive(Default)]
pub struct InFlight(DashMap<String, Arc<tokio::sync::Mutex<()>>>);

fn respond(status: u16, body: String, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    if replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.content_type("application/json").body(body)
}

/// Runs `act` once per idempotency key (if the request has one).
pub async fn once<F, Fut>(
    state: &Platform,
    in_flight: &InFlight,
    req: &HttpRequest,
    body: &[u8],
    act: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<(StatusCode, Value)>>,
{
    let Some(key) = req.headers().get(HEADER) else {
        let (status, value) = act().await?;
        return Ok(respond(status.as_u16(), value.to_string(), false));
    };
    let key = key.to_str().ok().filter(|k| (1..=255).contains(&k.len())).ok_or_else(|| {
        ApiError::bad_request(format!("{HEADER} must be 1 to 255 visible ASCII characters"))
    })?;
    let fingerprint = format!("{} {} {}", req.method(), req.path(), String::from_utf8_lossy(body).trim());
    let lock = in_flight.0.entry(key.to_owned()).or_default().clone();
    let _held = lock.lock().await;
    let result = async {
        if let Some(stored) = state.store.idempotent_response(key).await? {
            if stored.fingerprint != fingerprint {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    format!("{HEADER} {key} was used for a different request"),
                ));
            }
            return Ok(respond(stored.status, stored.body, true));
        }
        let (status, value) = act().await?;
        let stored = StoredResponse {
            fingerprint,
            status: status.as_u16(),
            body: value.to_string(),
            created_at: state.now(),
        };
        state.store.remember_response(key, &stored).await?;
        Ok(respond(stored.status, stored.body, false))
    }
    .await;
    drop(_held);
    in_flight.0.remove_if(key, |_, l| Arc::strong_count(l) == 1);
    result
}
