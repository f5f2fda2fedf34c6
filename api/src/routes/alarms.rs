//! Fault alarms: listed newest first (by station or pile, open only, a page
//! at a time), acknowledged by an operator, cleared by hand when a condition
//! the platform cannot see has been dealt with.

use actix_web::{web, HttpResponse};
use domain::alarm::{Alarm, AlarmFilter};
use serde::Deserialize;
use utoipa::IntoParams;
use vocab::PileId;

use super::State;
use crate::auth::{manager, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/alarms", staff(web::get().to(list)))
        .route("/alarms/{id}/ack", manager(web::post().to(ack)))
        .route("/alarms/{id}/clear", manager(web::post().to(clear)));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub station_id: Option<i64>,
    pub pile_id: Option<String>,
    #[serde(default)]
    pub open: bool,
    /// Alarms older than this id: the next page.
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

const MAX_PAGE: usize = 500;

/// Alarms of the stations the user sees. A page may come back short for an
/// operator's user (others' alarms are skipped); `before` the last id still
/// pages on.
#[utoipa::path(
    get,
    path = "/api/v1/alarms",
    tag = "alarms",
    params(Query),
    responses(
        (status = 200, description = "Alarms, newest first", body = Vec<Alarm>),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, q: web::Query<Query>) -> ApiResult<HttpResponse> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("a page is 1 to {MAX_PAGE} alarms")));
    }
    if let Some(s) = q.station_id {
        scope.station(&state, s).await?;
    }
    if let Some(p) = &q.pile_id {
        scope.pile(&state, p).await?;
    }
    let seen = match (q.station_id, &q.pile_id) {
        (None, None) => scope.stations(&state).await?,
        _ => None,
    };
    let filter = AlarmFilter {
        station_id: q.station_id,
        pile_id: q.pile_id.clone().map(PileId),
        open: q.open,
        before: q.before,
        limit,
    };
    let mut alarms = state.store.alarms(&filter).await?;
    alarms.retain(|a| seen.as_ref().is_none_or(|s| s.contains(&a.alarm.station_id)));
    Ok(HttpResponse::Ok().json(alarms))
}

#[utoipa::path(
    post,
    path = "/api/v1/alarms/{id}/ack",
    tag = "alarms",
    params(("id" = i64, Path, description = "The alarm")),
    responses(
        (status = 200, description = "The alarm, acknowledged", body = Alarm),
    ),
    security(("bearer" = [])),
)]
async fn ack(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    scope.alarm(&state, *id).await?;
    let alarm = state.store.acknowledge_alarm(*id, state.now()).await?;
    let alarm = alarm.ok_or_else(|| ApiError::not_found("unknown_alarm", format!("no alarm {id}")))?;
    Ok(HttpResponse::Ok().json(alarm))
}

#[utoipa::path(
    post,
    path = "/api/v1/alarms/{id}/clear",
    tag = "alarms",
    params(("id" = i64, Path, description = "The alarm")),
    responses(
        (status = 200, description = "The alarm, cleared", body = Alarm),
    ),
    security(("bearer" = [])),
)]
async fn clear(state: State, scope: Scope, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    scope.alarm(&state, *id).await?;
    let alarm = state.store.clear_alarm(*id, state.now()).await?;
    let alarm = alarm.ok_or_else(|| ApiError::not_found("unknown_alarm", format!("no alarm {id}")))?;
    Ok(HttpResponse::Ok().json(alarm))
}
