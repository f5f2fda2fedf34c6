//! Operational endpoints: `/healthz` (is the process alive, and what it
//! carries), `/readyz` for load balancers (can it serve: the store answers)
//! and `/metrics` in the Prometheus text format.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use prometheus::core::Collector;
use prometheus::{Encoder, TextEncoder};

use super::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Piles logged in on a live link: the `chargeplane_piles_connected`
/// gauge's own figure, summed over protocols, so the two never disagree.
fn piles_connected(state: &State) -> i64 {
    let families = state.metrics.piles_connected.collect();
    families.iter().flat_map(|f| f.get_metric()).map(|m| m.get_gauge().get_value() as i64).sum()
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses(
        (status = 200, description = "`{status, piles_connected, pile_actors, store_queue, pile_listener: {accepts, accept_errors}}`: pile actors include offline piles' kept state until they are passivated", body = Object),
    ),
)]
async fn healthz(state: State) -> HttpResponse {
    let stats = state.store.stats();
    let m = &state.metrics;
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "piles_connected": piles_connected(&state),
        "pile_actors": state.registry.piles.len(),
        "store_queue": stats.queued,
        "pile_listener": { "accepts": m.pile_accepts.get(), "accept_errors": m.pile_accept_errors.get() },
    }))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "`{ready: true}`: the store answers a read", body = Object),
        (status = 503, description = "`{ready: false, reason}`", body = Object),
    ),
)]
async fn readyz(state: State) -> HttpResponse {
    let nobody = vocab::PileId(String::new());
    let reason = match tokio::time::timeout(Duration::from_secs(2), state.store.pile(&nobody)).await {
        Ok(Ok(_)) => return HttpResponse::Ok().json(serde_json::json!({ "ready": true })),
        Ok(Err(e)) => format!("the store failed a read: {e}"),
        Err(_) => "the store did not answer within 2 s".to_owned(),
    };
    HttpResponse::ServiceUnavailable().json(serde_json::json!({ "ready": false, "reason": reason }))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
    ),
)]
async fn metrics(state: State) -> HttpResponse {
    state.metrics.observe_store(state.store.stats());
    state.metrics.observe_listen();
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&state.metrics.registry.gather(), &mut buf) {
        Ok(()) => HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(buf),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}
