//! The operator's side of money: merchants (site owners) and their
//! commission, price rules for driver classes, drivers' classes and
//! freezing, and the daily settlement statements.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use engine::accounts::{Card, Driver, Merchant, NewRule, Rule, Status};
use engine::settlement::{self, Statement};
use engine::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{patched, served, served_page, Page, PageQuery, Served, State};
use crate::auth::{admin, manager, merchant, staff};
use crate::error::{ApiError, ApiResult};
use crate::money::MoneyData;
use crate::tenancy::{as_field, unknown, Scope};
use engine::store::{Item, ItemKind};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/merchants", manager(web::post().to(create)))
        .route("/merchants", staff(web::get().to(list)))
        .route("/merchants/{id}", merchant(web::get().to(get)))
        .route("/merchants/{id}", manager(web::patch().to(update)))
        .route("/merchants/{id}/statements/{day}", merchant(web::get().to(statement)))
        .route("/merchants/{id}/statements/{day}", manager(web::post().to(settle)))
        .route("/rules", manager(web::post().to(create_rule)))
        .route("/rules", staff(web::get().to(rules)))
        .route("/drivers/inactive", admin(web::get().to(inactive)))
        .route("/drivers/{id}", admin(web::patch().to(update_driver)))
        .route("/drivers/{id}/cards", admin(web::post().to(add_card)))
        .route("/cards/{number}", admin(web::patch().to(update_card)));
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

#[derive(Deserialize, ToSchema)]
#[schema(as = NewRuleBody)]
struct RuleBody {
    /// The admin names the operator; others create their own operator's.
    operator_id: Option<i64>,
    #[serde(flatten)]
    rule: NewRule,
}

/// A rule for a class of drivers at the operator's stations (or one of them).
#[utoipa::path(
    post,
    path = "/api/v1/rules",
    tag = "rules",
    request_body = RuleBody,
    responses(
        (status = 201, description = "Created", body = Rule),
    ),
    security(("bearer" = [])),
)]
async fn create_rule(
    state: State,
    scope: Scope,
    body: crate::extract::Json<RuleBody>,
) -> ApiResult<HttpResponse> {
    let RuleBody { operator_id, mut rule } = body.into_inner();
    rule.validate().map_err(|m| ApiError::invalid("rule", m))?;
    rule.operator_id = scope.owner(&state, operator_id).await?;
    let not_theirs = |field, what, id| {
        ApiError::invalid(field, format!("no {what} {id} of operator {}", rule.operator_id))
    };
    if let Some(s) = rule.station_id {
        let station = scope.station(&state, s).await.map_err(as_field("station_id"))?;
        if station.operator_id != rule.operator_id {
            return Err(not_theirs("station_id", "station", s));
        }
    }
    if let engine::accounts::RuleKind::Tariff { tariff_id } = rule.kind {
        super::tariffs::usable(&state, scope, tariff_id, rule.operator_id).await?;
    }
    Ok(HttpResponse::Created().json(state.store.create_rule(&rule).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/rules",
    tag = "rules",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of rules", body = Page<Rule>),
    ),
    security(("bearer" = [])),
)]
async fn rules(state: State, scope: Scope, page: web::Query<PageQuery>) -> ApiResult<HttpResponse> {
    let all = state.store.rules().await?.into_iter().filter(|r| scope.sees(r.rule.operator_id));
    Ok(HttpResponse::Ok().json(Page::of(all, |r| r.id, &page)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DriverPatch {
    /// The class price rules match; "" clears it.
    class: Option<String>,
    status: Option<Status>,
}

/// Sets a driver's class, or freezes and unfreezes the account.
#[utoipa::path(
    patch,
    path = "/api/v1/drivers/{id}",
    tag = "drivers",
    params(("id" = i64, Path, description = "The driver")),
    request_body = DriverPatch,
    responses(
        (status = 200, description = "The driver", body = Driver),
    ),
    security(("bearer" = [])),
)]
async fn update_driver(
    state: State,
    id: web::Path<i64>,
    body: crate::extract::Json<DriverPatch>,
) -> ApiResult<HttpResponse> {
    let mut d = state
        .store
        .driver(*id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_driver", format!("no driver {id}")))?;
    if d.status == Status::Cancelled {
        return Err(ApiError::conflict("cancelled", "a cancelled account does not change"));
    }
    if let Some(class) = &body.class {
        d.class = Some(class.trim().to_owned()).filter(|c| !c.is_empty());
    }
    if let Some(s) = body.status {
        if s == Status::Cancelled {
            return Err(ApiError::invalid("status", "active or frozen"));
        }
        d.status = s;
    }
    state.store.update_driver(&d).await?;
    Ok(HttpResponse::Ok().json(d))
}

/// Issues a card (a plastic one handed over at the counter) to a driver.
#[utoipa::path(
    post,
    path = "/api/v1/drivers/{id}/cards",
    tag = "drivers",
    params(("id" = i64, Path, description = "The driver")),
    request_body = super::drivers::CardBody,
    responses(
        (status = 201, description = "The card", body = Card),
    ),
    security(("bearer" = [])),
)]
async fn add_card(
    state: State,
    id: web::Path<i64>,
    body: crate::extract::Json<super::drivers::CardBody>,
) -> ApiResult<HttpResponse> {
    if state.store.driver(*id).await?.is_none() {
        return Err(ApiError::not_found("unknown_driver", format!("no driver {id}")));
    }
    super::drivers::link_card(&state, *id, body.into_inner()).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CardPatch {
    status: Status,
}

/// Freezes (a lost card), unfreezes or cancels a card.
#[utoipa::path(
    patch,
    path = "/api/v1/cards/{number}",
    tag = "drivers",
    params(("number" = String, Path, description = "8 or 16 hex digits")),
    request_body = CardPatch,
    responses(
        (status = 200, description = "The card", body = Card),
    ),
    security(("bearer" = [])),
)]
async fn update_card(
    state: State,
    number: web::Path<String>,
    body: crate::extract::Json<CardPatch>,
) -> ApiResult<HttpResponse> {
    let number = super::drivers::card_number(&number)?;
    let card = state
        .store
        .set_card_status(&number, body.status)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_card", format!("no card {number}")))?;
    Ok(HttpResponse::Ok().json(card))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Idle {
    /// Not active for this many days (default 90).
    days: Option<u32>,
    limit: Option<usize>,
}

/// Drivers who have not logged in or charged for a while, longest idle first.
#[utoipa::path(
    get,
    path = "/api/v1/drivers/inactive",
    tag = "drivers",
    params(Idle),
    responses(
        (status = 200, description = "Drivers, longest idle first", body = Vec<Driver>),
    ),
    security(("bearer" = [])),
)]
async fn inactive(state: State, q: web::Query<Idle>) -> ApiResult<HttpResponse> {
    let days = q.days.unwrap_or(90);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::invalid("days", "1 to 3650"));
    }
    let before = state.now() - chrono::Duration::days(days.into());
    let drivers = state.store.inactive_drivers(before, q.limit.unwrap_or(1000).min(10_000)).await?;
    Ok(HttpResponse::Ok().json(drivers))
}
