//! Price plans for e-bike charges: per time, per energy, or by power tier.
//! A driver picks one when starting a charge; its terms are copied into the
//! session, so editing plans never reprices a running charge.

use actix_web::{web, HttpResponse};
use engine::pricing::Pricing;
use serde::Deserialize;

use super::State;
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/plans", web::post().to(create)).route("/plans/{id}", web::get().to(get));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    pub pricing: Pricing,
}

async fn create(state: State, body: web::Json<NewPlan>) -> ApiResult<HttpResponse> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "a plan needs a name"));
    }
    if matches!(body.pricing, Pricing::TimeOfUse { .. }) {
        return Err(ApiError::invalid("pricing", "time-of-use prices are a station's tariff, not a plan"));
    }
    body.pricing.validate().map_err(|e| ApiError::invalid("pricing", e.to_string()))?;
    let plan = state.store.create_plan(body.name.trim(), &body.pricing).await?;
    Ok(HttpResponse::Created().json(plan))
}

async fn get(state: State, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let plan = state
        .store
        .plan(*id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_plan", format!("no plan {id}")))?;
    Ok(HttpResponse::Ok().json(plan))
}
