//! Operational endpoints: `/healthz` for load balancers and `/metrics` in the
//! Prometheus text format.

use actix_web::{web, HttpResponse};
use prometheus::{Encoder, TextEncoder};

use super::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/metrics", web::get().to(metrics));
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses(
        (status = 200, description = "`{status, piles_connected, store_queue}`", body = Object),
    ),
)]
async fn healthz(state: State) -> HttpResponse {
    let stats = state.store.stats();
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "piles_connected": state.registry.piles.iter().count(),
        "store_queue": stats.queued,
    }))
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
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&state.metrics.registry.gather(), &mut buf) {
        Ok(()) => HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(buf),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}
