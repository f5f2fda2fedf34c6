//! Charging sessions: listed with filters, and one session's state, meter
//! samples, bill and ledger entries.

use actix_web::{web, HttpResponse};
use domain::pricing::Bill;
use domain::session::{MeterSample, SessionRecord, SessionState};
use domain::tariff::Period;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::SessionFilter;
use utoipa::{IntoParams, ToSchema};
use vocab::{DriverId, StationId};

use super::State;
use crate::auth::{manager, merchant, staff};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{as_field, Scope};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", merchant(web::get().to(list)))
        .route("/sessions/{id}", staff(web::get().to(get)))
        .route("/sessions/{id}/samples", staff(web::get().to(samples)))
        .route("/sessions/{id}/bill", staff(web::get().to(bill)))
        .route("/sessions/{id}/entries", staff(web::get().to(entries)))
        .route("/sessions/{id}/bill/corrections", staff(web::get().to(corrections)))
        .route("/sessions/{id}/bill/corrections", manager(web::post().to(correct)));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// At this station.
    station: Option<StationId>,
    /// At this pile.
    pile: Option<String>,
    /// Charges this driver paid for from their wallet.
    driver: Option<DriverId>,
    /// `starting`, `charging`, `stopping`, `finished` or `failed`.
    status: Option<String>,
    /// Created at or after (RFC 3339).
    from: Option<String>,
    /// Created before (RFC 3339).
    until: Option<String>,
    /// 1 to 500 [default: 50].
    limit: Option<usize>,
    /// The `next` of the previous page: sessions listed after this one.
    before: Option<String>,
}

/// Sessions at the stations the user sees (a merchant user: their own),
/// newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "sessions",
    params(ListQuery),
    responses(
        (status = 200, description = "`{items: [session], next}`: newest first; `next` pages on", body = Object),
    ),
    security(("bearer" = [])),
)]
async fn list(state: State, scope: Scope, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=super::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("1 to {}", super::MAX_PAGE)));
    }
    let status = match q.status.as_deref() {
        Some(s) => Some(SessionState::parse(s.trim()).ok_or_else(|| {
            ApiError::invalid("status", "starting, charging, stopping, finished or failed")
        })?),
        None => None,
    };
    let (from, until) =
        (super::bounds::instant("from", &q.from)?, super::bounds::instant("until", &q.until)?);
    if let (Some(f), Some(u)) = (from, until) {
        if f >= u {
            return Err(ApiError::invalid("until", "after from"));
        }
    }
    // Narrowed to what the user sees: one station, a pile's, or all of theirs.
    let mut stations = match q.station {
        Some(id) => Some(vec![scope.station(&state, id).await.map_err(as_field("station"))?.id]),
        None => scope.stations(&state).await?.map(|s| s.into_iter().collect::<Vec<_>>()),
    };
    let pile = match &q.pile {
        Some(p) => {
            let pile = scope.pile(&state, p.trim()).await.map_err(as_field("pile"))?;
            stations = Some(stations.map_or(vec![pile.station_id], |s| {
                s.into_iter().filter(|s| *s == pile.station_id).collect()
            }));
            Some(pile.id)
        }
        None => None,
    };
    let before = match &q.before {
        Some(id) => {
            let s = scope.session(&state, id.trim()).await.map_err(as_field("before"))?;
            Some((s.created_at, s.id))
        }
        None => None,
    };
    let filter = SessionFilter {
        stations,
        pile,
        driver: q.driver,
        state: status,
        from,
        until,
        before,
        limit: limit + 1,
    };
    let mut items = state.store.list_sessions(&filter).await?;
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|s| s.id.to_string())
    });
    let items: Vec<_> = items.into_iter().map(|record| Listed { kwh: record.kwh(), record }).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next": next.flatten() })))
}

/// A session in a list: its record and the energy it has delivered.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    record: SessionRecord,
    kwh: rust_decimal::Decimal,
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

/// What the session booked in the ledger (a wallet charge's hold, its
/// capture with the merchant's share, releases and reversals), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}/entries",
    tag = "sessions",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "Ledger entries referring to the session, oldest first", body = Vec<Object>),
    ),
    security(("bearer" = [])),
)]
async fn entries(state: State, scope: Scope, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let record = scope.session(&state, &id).await?;
    let filter = store::EntryFilter { reference: Some(record.id.to_string()), ..Default::default() };
    Ok(HttpResponse::Ok().json(state.store.entries(&filter).await?))
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
