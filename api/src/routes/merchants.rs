//! The operator's side of money: merchants (site owners), their
//! commission, and their daily settlement statements.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use domain::accounts::Merchant;
use domain::settlement::{self, Statement};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{patched, served, served_page, Page, PageQuery, Served, State};
use crate::auth::{manager, merchant, staff};
use crate::error::{ApiError, ApiResult};
use crate::money::MoneyData;
use crate::tenancy::{unknown, Scope};
use store::{Item, ItemKind};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/merchants", manager(web::post().to(create)))
        .route("/merchants", staff(web::get().to(list)))
        .route("/merchants/{id}", merchant(web::get().to(get)))
        .route("/merchants/{id}", manager(web::patch().to(update)))
        .route("/merchants/{id}/statements/{day}", merchant(web::get().to(statement)))
        .route("/merchants/{id}/statements/{day}", manager(web::post().to(settle)));
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewMerchant)]
#[serde(deny_unknown_fields)]
struct Body {
    /// The admin names the operator; others create their own operator's.
    operator_id: Option<i64>,
    name: String,
    #[schema(minimum = 0, maximum = 100)]
    commission_percent: Decimal,
}

#[utoipa::path(
    post,
    path = "/api/v1/merchants",
    tag = "merchants",
    request_body = Body,
    responses(
        (status = 201, description = "Created", body = Merchant),
    ),
    security(("bearer" = [])),
)]
async fn create(state: State, scope: Scope, body: crate::extract::Json<Body>) -> ApiResult<HttpResponse> {
    let name = super::name(&body.name, "merchant")?;
    let pct = check_commission(body.commission_percent)?;
    let operator = scope.owner(&state, body.operator_id).await?;
    Ok(HttpResponse::Created().json(state.store.create_merchant(operator, name, pct).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/merchants/{id}",
    tag = "merchants",
    params(("id" = i64, Path, description = "The merchant")),
    responses(
        (status = 200, description = "The merchant", body = Served<Merchant>),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let merchant = scope.merchant(&state, *id).await?;
    Ok(HttpResponse::Ok().json(served(&state, ItemKind::Merchant, merchant, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/merchants",
    tag = "merchants",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of merchants", body = Page<Served<Merchant>>),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.merchants().await?.into_iter().filter(|m| scope.sees(m.operator_id));
    Ok(HttpResponse::Ok().json(served_page(&state, ItemKind::Merchant, all, |m| m.id, &page).await?))
}

fn check_commission(pct: Decimal) -> ApiResult<Decimal> {
    super::bounds::within("commission_percent", pct, Decimal::ZERO, Decimal::ONE_HUNDRED, 2)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = MerchantPatch)]
#[serde(deny_unknown_fields)]
struct Patch {
    name: Option<String>,
    /// From the next statement on; issued statements never change.
    #[schema(minimum = 0, maximum = 100)]
    commission_percent: Option<Decimal>,
    /// `false`: no new station may name it; its stations and statements go on.
    in_service: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/merchants/{id}",
    tag = "merchants",
    params(("id" = i64, Path, description = "The merchant")),
    request_body = Patch,
    responses(
        (status = 200, description = "The merchant as changed", body = Served<Merchant>),
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    body: crate::extract::Json<Patch>,
) -> ApiResult<HttpResponse> {
    let mut m = scope.merchant(&state, *id).await?;
    if let Some(name) = &body.name {
        m.name = super::name(name, "merchant")?.to_owned();
    }
    if let Some(pct) = body.commission_percent {
        m.commission_percent = check_commission(pct)?;
    }
    if !state.store.update_merchant(&m).await? {
        return Err(unknown("merchant", id));
    }
    let item = Item::new(ItemKind::Merchant, m.id);
    Ok(HttpResponse::Ok().json(patched(&state, item, body.in_service, m).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/merchants/{id}/statements/{day}",
    tag = "merchants",
    params(("id" = i64, Path, description = "The merchant"), ("day" = String, Path, format = Date, description = "The merchant's local day")),
    responses(
        (status = 200, description = "The statement", body = Statement),
    ),
    security(("bearer" = [])),
)]
async fn statement(state: State, scope: Scope, path: web::Path<(i64, NaiveDate)>) -> ApiResult<HttpResponse> {
    let (id, day) = path.into_inner();
    scope.merchant(&state, id).await?;
    let s = state.store.statement(id, day).await?.ok_or_else(|| {
        ApiError::not_found("unknown_statement", format!("merchant {id} has no statement for {day}"))
    })?;
    Ok(HttpResponse::Ok().json(s))
}

/// Issues a merchant's statement for a day that is over (T+1), or returns
/// the one issued before: an issued statement never changes.
#[utoipa::path(
    post,
    path = "/api/v1/merchants/{id}/statements/{day}",
    tag = "merchants",
    params(("id" = i64, Path, description = "The merchant"), ("day" = String, Path, format = Date, description = "The merchant's local day")),
    responses(
        (status = 201, description = "Issued now", body = Statement),
        (status = 200, description = "Issued before", body = Statement),
    ),
    security(("bearer" = [])),
)]
async fn settle(
    state: State,
    scope: Scope,
    money: MoneyData,
    path: web::Path<(i64, NaiveDate)>,
) -> ApiResult<HttpResponse> {
    let (id, day) = path.into_inner();
    let m = scope.merchant(&state, id).await?;
    let offset = money.config.settlement_utc_offset_minutes;
    if state.now() < settlement::day_bounds(day, offset).1 {
        return Err(ApiError::conflict(
            "day_not_over",
            format!("{day} is not over yet; settle it from the next day"),
        ));
    }
    let (s, created) = crate::settle::issue(&state, &m, day, offset).await?;
    Ok(if created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(s))
}
