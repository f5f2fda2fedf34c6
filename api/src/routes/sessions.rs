//! Charging sessions: their state, meter samples and bill.

use actix_web::{web, HttpResponse};
use domain::pricing::Bill;
use domain::session::{MeterSample, SessionRecord};
use domain::tariff::Period;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::State;
use crate::auth::{manager, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions/{id}", staff(web::get().to(get)))
        .route("/sessions/{id}/samples", staff(web::get().to(samples)))
        .route("/sessions/{id}/bill", staff(web::get().to(bill)))
        .route("/sessions/{id}/bill/corrections", staff(web::get().to(corrections)))
        .route("/sessions/{id}/bill/corrections", manager(web::post().to(correct)));
}

#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
struct SessionBody {
    #[serde(flatten)]
    record: SessionRecord,
    kwh: rust_decimal::Decimal,
    /// kWh by time-of-use period: `sharp`, `peak`, `flat`, `valley`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    kwh_by_period: std::collections::BTreeMap<&'static str, rust_decimal::Decimal>,
    bill: Option<Bill>,
}

#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "The session with its bill once billed", body = SessionBody),
    ),
    security(("bearer" = [])),
)]
async fn get(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let mut record = scope.session(&state, &id).await?;
    let bill = state.store.bill(&record.id).await?;
    // Billed between the two reads: the bill and the final record were
    // stored together, so read the record again rather than show a torn pair.
    if bill.is_some() && record.state.is_open() {
        record = scope.session(&state, &id).await?;
    }
    let kwh_by_period = Period::ALL.iter().map(|p| (p.as_str(), record.meter.energy.kwh(*p))).collect();
    Ok(HttpResponse::Ok().json(SessionBody { kwh: record.kwh(), kwh_by_period, record, bill }))
}

#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}/samples",
    tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "Meter samples, oldest first", body = Vec<MeterSample>),
    ),
    security(("bearer" = [])),
)]
async fn samples(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = scope.session(&state, &id).await?;
    Ok(HttpResponse::Ok().json(state.store.samples(&record.id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}/bill",
    tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "The bill", body = Bill),
    ),
    security(("bearer" = [])),
)]
async fn bill(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = scope.session(&state, &id).await?;
    let bill = state.store.bill(&record.id).await?.ok_or_else(|| {
        ApiError::not_found("not_billed", format!("session {id} is {}", record.state.as_str()))
    })?;
    Ok(HttpResponse::Ok().json(bill))
}

#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}/bill/corrections",
    tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "`{replaced: [...]}`: the bills corrections replaced", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn corrections(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = scope.session(&state, &id).await?;
    Ok(HttpResponse::Ok().json(json!({ "replaced": state.store.bill_history(&record.id).await? })))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BillCorrection)]
#[serde(deny_unknown_fields)]
struct Correction {
    /// What the charge should have cost, yuan.
    total: rust_decimal::Decimal,
    reason: String,
}

/// Sets a billed charge's total (a faulty meter, a goodwill refund): the
/// bill gains a correction line, and a wallet-paid charge's capture is
/// reversed and captured again at the new total.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{id}/bill/corrections",
    tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    request_body = Correction,
    responses(
        (status = 201, description = "`{revision, bill}`", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn correct(
    state: State,
    scope: Scope,
    id: web::Path<String>,
    body: crate::extract::Json<Correction>,
) -> ApiResult<HttpResponse> {
    let record = scope.session(&state, &id).await?;
    let bill = state.store.bill(&record.id).await?.ok_or_else(|| {
        ApiError::conflict("not_billed", format!("session {id} is {}", record.state.as_str()))
    })?;
    let total = body.total;
    if total.is_sign_negative() || total.normalize().scale() > 2 {
        return Err(ApiError::invalid("total", "yuan, not negative, to the fen"));
    }
    if total == bill.total {
        return Err(ApiError::invalid("total", "the bill already says that"));
    }
    if body.reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "say why the bill is corrected"));
    }
    let corrected = bill.corrected(total, body.reason.trim());
    let revision = state.store.correct_bill(&corrected, state.now()).await?;
    Ok(HttpResponse::Created().json(json!({ "revision": revision, "bill": corrected })))
}
