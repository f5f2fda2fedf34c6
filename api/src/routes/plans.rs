//! Price plans for e-bike charges: per time, per energy, or by power tier.
//! A driver picks one when starting a charge; its terms are copied into the
//! session, so editing plans never reprices a running charge.

use actix_web::{web, HttpResponse};
use engine::pricing::{PricePlan, Pricing};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Page, PageQuery, State};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/plans", web::post().to(create))
        .route("/plans", web::get().to(list))
        .route("/plans/{id}", web::get().to(get));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// The admin names the operator; others create their own operator's.
    pub operator_id: Option<i64>,
    pub name: String,
    pub pricing: Pricing,
}

#[utoipa::path(
    post,
    path = "/api/v1/plans",
    tag = "plans",
    request_body = NewPlan,
    responses(
        (status = 201, description = "Created", body = PricePlan),
    ),
    security(("bearer" = [])),
)]
async fn create(state: State, scope: Scope, body: web::Json<NewPlan>) -> ApiResult<HttpResponse> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "a plan needs a name"));
    }
    if matches!(body.pricing, Pricing::TimeOfUse { .. }) {
        return Err(ApiError::invalid("pricing", "time-of-use prices are a station's tariff, not a plan"));
    }
    body.pricing.validate().map_err(|e| ApiError::invalid("pricing", e.to_string()))?;
    let operator = scope.owner(&state, body.operator_id).await?;
    let plan = state.store.create_plan(operator, body.name.trim(), &body.pricing).await?;
    Ok(HttpResponse::Created().json(plan))
}

#[utoipa::path(
    get,
    path = "/api/v1/plans/{id}",
    tag = "plans",
    params(("id" = i64, Path, description = "The plan")),
    responses(
        (status = 200, description = "The plan", body = PricePlan),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(scope.plan(&state, *id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/plans",
    tag = "plans",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of plans", body = Page<PricePlan>),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.plans().await?.into_iter().filter(|p| scope.sees(p.operator_id));
    Ok(HttpResponse::Ok().json(Page::of(all, |p| p.id, &page)?))
}
