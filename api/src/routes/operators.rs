//! Operators: the tenants of the platform. The platform admin creates,
//! renames and freezes them; an operator's own users read only their own.
//! Freezing an operator locks its users out; its piles keep charging.

use actix_web::{web, HttpResponse};
use domain::accounts::{Operator, Status};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Page, PageQuery, State};
use crate::auth::{admin, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/operators", admin(web::post().to(create)))
        .route("/operators", staff(web::get().to(list)))
        .route("/operators/{id}", staff(web::get().to(get)))
        .route("/operators/{id}", admin(web::patch().to(update)));
}

fn name(name: &str) -> ApiResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "1 to 100 characters"));
    }
    Ok(name)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOperator {
    name: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/operators",
    tag = "operators",
    request_body = NewOperator,
    responses(
        (status = 201, description = "Created", body = Operator),
    ),
    security(("bearer" = [])),
)]
async fn create(state: State, body: crate::extract::Json<NewOperator>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(state.store.create_operator(name(&body.name)?).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/operators",
    tag = "operators",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of operators", body = Page<Operator>),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.operators().await?.into_iter().filter(|o| scope.sees(o.id));
    Ok(HttpResponse::Ok().json(Page::of(all, |o| o.id, &page)?))
}

#[utoipa::path(
    get,
    path = "/api/v1/operators/{id}",
    tag = "operators",
    params(("id" = i64, Path, description = "The operator")),
    responses(
        (status = 200, description = "The operator", body = Operator),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(scope.operator(&state, *id).await?))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OperatorPatch)]
#[serde(deny_unknown_fields)]
struct Update {
    name: Option<String>,
    /// `active` or `frozen`.
    status: Option<Status>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/operators/{id}",
    tag = "operators",
    params(("id" = i64, Path, description = "The operator")),
    request_body = Update,
    responses(
        (status = 200, description = "The operator", body = Operator),
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<Update>,
) -> ApiResult<HttpResponse> {
    let current = scope.operator(&state, *id).await?;
    let name = match &body.name {
        Some(n) => name(n)?,
        None => &current.name,
    };
    let status = body.status.unwrap_or(current.status);
    if status == Status::Cancelled {
        return Err(ApiError::invalid("status", "an operator is active or frozen"));
    }
    let updated = state.store.update_operator(current.id, name, status).await?;
    Ok(HttpResponse::Ok().json(updated.ok_or_else(|| ApiError::not_found("unknown_operator", "gone"))?))
}
