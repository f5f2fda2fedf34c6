//! A station's power over the last hours, for the console's chart: the
//! samples its actor stores every `station_power_sample_ms`
//! (`store::PowerHistory`). The live figure is `GET /stations/{id}/power`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::bounds::instant;
use super::State;
use crate::auth::merchant;
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stations/{id}/power/history", merchant(web::get().to(history)));
}

/// The longest window one request reads.
const MAX_DAYS: i64 = 7;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Window {
    /// From (RFC 3339) [default: six hours before `until`].
    from: Option<String>,
    /// Until, exclusive (RFC 3339) [default: now].
    until: Option<String>,
}

/// The station's limit, allocated and measured power over a window of at
/// most seven days, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/power/history",
    tag = "stations",
    params(("id" = i64, Path, description = "The station"), Window),
    responses(
        (status = 200, description = "`{station_id, sample_ms, samples: [{at, limit_w, allocated_w, measured_w}]}`; `limit_w` null while power is not managed", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn history(
    state: State,
    scope: Scope,
    id: web::Path<i64>,
    q: web::Query<Window>,
) -> ApiResult<HttpResponse> {
    let station = scope.station(&state, *id).await?;
    let until = instant("until", &q.until)?.unwrap_or_else(|| state.now());
    let from = instant("from", &q.from)?.unwrap_or(until - chrono::Duration::hours(6));
    if from >= until {
        return Err(ApiError::invalid("until", "after from"));
    }
    if until - from > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid("from", format!("at most {MAX_DAYS} days before until")));
    }
    let samples = state.store.station_power(station.id, from, until).await?;
    let sample_ms = state.config.station_power_sample.as_millis() as u64;
    Ok(HttpResponse::Ok()
        .json(json!({ "station_id": station.id, "sample_ms": sample_ms, "samples": samples })))
}
