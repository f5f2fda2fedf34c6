//! Drivers' accounts and cards as the platform admin keeps them: a
//! driver's class and freezing, cards issued at the counter and blocked when
//! lost, and accounts gone idle. (Drivers' own routes are in `drivers`.)

use actix_web::{web, HttpResponse};
use domain::accounts::{Card, Driver, Status};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::State;
use crate::auth::admin;
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/drivers/inactive", admin(web::get().to(inactive)))
        .route("/drivers/{id}", admin(web::patch().to(update_driver)))
        .route("/drivers/{id}/cards", admin(web::post().to(add_card)))
        .route("/cards/{number}", admin(web::patch().to(update_card)));
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
