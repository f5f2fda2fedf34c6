//! Stations: a site with one transformer and one tariff, in one time zone.

use actix_web::{web, HttpResponse};
use engine::store::NewStation;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::State;
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stations", web::post().to(create)).route("/stations/{id}", web::get().to(get));
}

/// China Standard Time, where most piles of these protocols run.
const DEFAULT_UTC_OFFSET_MINUTES: i32 = 8 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub name: String,
    pub tariff_id: i64,
    pub utc_offset_minutes: Option<i32>,
    /// Added to every charge, yuan.
    #[serde(default)]
    pub service_fee: Decimal,
    /// The least a charge costs, yuan.
    #[serde(default)]
    pub minimum_charge: Decimal,
}

async fn create(state: State, body: web::Json<Body>) -> ApiResult<HttpResponse> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "a station needs a name"));
    }
    let offset = body.utc_offset_minutes.unwrap_or(DEFAULT_UTC_OFFSET_MINUTES);
    if !(-14 * 60..=14 * 60).contains(&offset) {
        return Err(ApiError::invalid("utc_offset_minutes", "must be within ±14 hours"));
    }
    if state.store.tariff(body.tariff_id).await?.is_none() {
        return Err(ApiError::invalid("tariff_id", format!("no tariff {}", body.tariff_id)));
    }
    for (field, v) in [("service_fee", body.service_fee), ("minimum_charge", body.minimum_charge)] {
        if v.is_sign_negative() && !v.is_zero() || v.normalize().scale() > 2 {
            return Err(ApiError::invalid(field, "an amount in yuan, not negative, to the fen"));
        }
    }
    let station = NewStation {
        name: name.to_owned(),
        tariff_id: body.tariff_id,
        utc_offset_minutes: offset,
        service_fee: body.service_fee,
        minimum_charge: body.minimum_charge,
    };
    let created = state.store.create_station(&station).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn get(state: State, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let station = state
        .store
        .station(*id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_station", format!("no station {id}")))?;
    Ok(HttpResponse::Ok().json(station))
}
