//! Fault alarms: listed newest first (by station or pile, open only, a page
//! at a time), acknowledged by an operator, cleared by hand when a condition
//! the platform cannot see has been dealt with.

use actix_web::{web, HttpResponse};
use engine::alarm::AlarmFilter;
use engine::domain::PileId;
use serde::Deserialize;

use super::State;
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/alarms", web::get().to(list))
        .route("/alarms/{id}/ack", web::post().to(ack))
        .route("/alarms/{id}/clear", web::post().to(clear));
}

#[derive(Deserialize)]
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

async fn list(state: State, q: web::Query<Query>) -> ApiResult<HttpResponse> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("a page is 1 to {MAX_PAGE} alarms")));
    }
    let filter = AlarmFilter {
        station_id: q.station_id,
        pile_id: q.pile_id.clone().map(PileId),
        open: q.open,
        before: q.before,
        limit,
    };
    Ok(HttpResponse::Ok().json(state.store.alarms(&filter).await?))
}

async fn ack(state: State, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let alarm = state.store.acknowledge_alarm(*id, state.now()).await?;
    let alarm = alarm.ok_or_else(|| ApiError::not_found("unknown_alarm", format!("no alarm {id}")))?;
    Ok(HttpResponse::Ok().json(alarm))
}

async fn clear(state: State, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let alarm = state.store.clear_alarm(*id, state.now()).await?;
    let alarm = alarm.ok_or_else(|| ApiError::not_found("unknown_alarm", format!("no alarm {id}")))?;
    Ok(HttpResponse::Ok().json(alarm))
}
