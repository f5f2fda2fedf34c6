//! Charging sessions: their state, meter samples and bill.

use actix_web::{web, HttpResponse};
use engine::domain::SessionId;
use engine::pricing::Bill;
use engine::session::SessionRecord;
use engine::tariff::Period;
use serde::Serialize;

use super::State;
use crate::error::{ApiError, ApiResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions/{id}", web::get().to(get))
        .route("/sessions/{id}/samples", web::get().to(samples))
        .route("/sessions/{id}/bill", web::get().to(bill));
}

#[derive(Serialize)]
struct SessionBody {
    #[serde(flatten)]
    record: SessionRecord,
    kwh: rust_decimal::Decimal,
    kwh_by_period: std::collections::BTreeMap<&'static str, rust_decimal::Decimal>,
    bill: Option<Bill>,
}

async fn session(state: &State, id: &str) -> ApiResult<SessionRecord> {
    state
        .store
        .session(&SessionId(id.to_owned()))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_session", format!("no session {id}")))
}

async fn get(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = session(&state, &id).await?;
    let bill = state.store.bill(&record.id).await?;
    let kwh_by_period = Period::ALL.iter().map(|p| (p.as_str(), record.meter.energy.kwh(*p))).collect();
    Ok(HttpResponse::Ok().json(SessionBody { kwh: record.kwh(), kwh_by_period, record, bill }))
}

async fn samples(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = session(&state, &id).await?;
    Ok(HttpResponse::Ok().json(state.store.samples(&record.id).await?))
}

async fn bill(state: State, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = session(&state, &id).await?;
    let bill = state.store.bill(&record.id).await?.ok_or_else(|| {
        ApiError::not_found("not_billed", format!("session {id} is {}", record.state.as_str()))
    })?;
    Ok(HttpResponse::Ok().json(bill))
}
