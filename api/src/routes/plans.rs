//! Price plans for e-bike charges: per time, per energy, or by power tier.
//! A driver picks one when starting a charge; its terms are copied into the
//! session, so editing plans never reprices a running charge.

use actix_web::{web, HttpResponse};
use domain::pricing::{PricePlan, Pricing};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{patched, served, served_page, Page, PageQuery, Served, State};
use crate::auth::{manager, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{unknown, Scope};
use store::{Item, ItemKind};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/plans", manager(web::post().to(create)))
        .route("/plans", staff(web::get().to(list)))
        .route("/plans/{id}", staff(web::get().to(get)))
        .route("/plans/{id}", manager(web::patch().to(update)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// The admin names the operator; others create their own operator's.
    pub operator_id: Option<i64>,
    pub name: String,
    pub pricing: Pricing,
}

fn check_pricing(pricing: &Pricing) -> ApiResult<()> {
    if matches!(pricing, Pricing::TimeOfUse { .. }) {
        return Err(ApiError::invalid("pricing", "time-of-use prices are a station's tariff, not a plan"));
    }
    pricing.validate().map_err(|e| ApiError::invalid("pricing", e.to_string()))
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
async fn create(state: State, scope: Scope, body: crate::extract::Json<NewPlan>) -> ApiResult<HttpResponse> {
    super::name(&body.name, "plan")?;
    check_pricing(&body.pricing)?;
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
        (status = 200, description = "The plan", body = Served<PricePlan>),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let plan = scope.plan(&state, *id).await?;
    Ok(HttpResponse::Ok().json(served(&state, ItemKind::Plan, plan, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/plans",
    tag = "plans",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of plans", body = Page<Served<PricePlan>>),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.plans().await?.into_iter().filter(|p| scope.sees(p.operator_id));
    Ok(HttpResponse::Ok().json(served_page(&state, ItemKind::Plan, all, |p| p.id, &page).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PlanPatch)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub name: Option<String>,
    pub pricing: Option<Pricing>,
    /// `false`: drivers can no longer choose it.
    pub in_service: Option<bool>,
}

/// Renames or reprices a plan, for charges started from now on.
#[utoipa::path(
    patch,
    path = "/api/v1/plans/{id}",
    tag = "plans",
    params(("id" = i64, Path, description = "The plan")),
    request_body = Patch,
    responses(
        (status = 200, description = "The plan as changed", body = Served<PricePlan>),
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<Patch>,
) -> ApiResult<HttpResponse> {
    let mut plan = scope.plan(&state, *id).await?;
    if let Some(name) = &body.name {
        plan.name = super::name(name, "plan")?.to_owned();
    }
    if let Some(pricing) = &body.pricing {
        check_pricing(pricing)?;
        plan.pricing = pricing.clone();
    }
    if !state.store.update_plan(&plan).await? {
        return Err(unknown("plan", id));
    }
    let item = Item::new(ItemKind::Plan, plan.id);
    Ok(HttpResponse::Ok().json(patched(&state, item, body.in_service, plan).await?))
}
