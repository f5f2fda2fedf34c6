//! Reports for operators, as JSON rows or the same rows as a CSV download:
//! operations (charges, time, energy, revenue) and energy by time-of-use
//! period per station and local day, faults by pile and kind, and drivers
//! gone quiet. Every report is over the stations `scope` resolves, so
//! limiting what a caller may see is done there, once.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use domain::report::{self, Energy, Operations, Row};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use store::Station;
use utoipa::IntoParams;
use vocab::StationId;

use super::State;
use crate::auth::{admin, merchant};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::{as_field, Scope};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/operations", merchant(web::get().to(operations)))
        .route("/reports/energy", merchant(web::get().to(energy)))
        .route("/reports/faults", merchant(web::get().to(faults)))
        .route("/reports/inactive-drivers", admin(web::get().to(inactive_drivers)));
}

/// The longest period one report covers.
const MAX_DAYS: i64 = 366;

/// A station report's query, as text: each value is parsed on its own so
/// a bad one is named in the error.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The first local day reported.
    #[param(required = true, value_type = String, format = Date)]
    from: Option<String>,
    /// The day after the last day reported.
    #[param(required = true, value_type = String, format = Date)]
    until: Option<String>,
    /// One station; default: every station the user sees.
    #[param(value_type = Option<i64>)]
    station_id: Option<String>,
    /// One merchant's stations.
    #[param(value_type = Option<i64>)]
    merchant_id: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The inactive-drivers report's query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Idle {
    /// Not active for this many days (default 90).
    #[param(value_type = Option<u32>)]
    days: Option<String>,
    /// At most this many drivers (default 1000).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

fn query<T: DeserializeOwned>(req: &HttpRequest) -> ApiResult<T> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))
}

fn number<T: std::str::FromStr>(field: &'static str, value: &Option<String>) -> ApiResult<Option<T>> {
    value
        .as_deref()
        .map(|v| v.parse().map_err(|_| ApiError::invalid(field, format!("{v:?} is not a number"))))
        .transpose()
}

fn date(field: &'static str, value: &Option<String>) -> ApiResult<NaiveDate> {
    let v = value.as_deref().ok_or_else(|| ApiError::invalid(field, "required, YYYY-MM-DD"))?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, format!("{v:?} is not a date (YYYY-MM-DD)")))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format(value: &Option<String>) -> ApiResult<Format> {
    match value.as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::invalid("format", format!("json or csv, not {other:?}"))),
    }
}

/// The local days `[from, until)` a report covers.
fn period(p: &Params) -> ApiResult<(NaiveDate, NaiveDate)> {
    let (from, until) = (date("from", &p.from)?, date("until", &p.until)?);
    if until <= from {
        return Err(ApiError::invalid("until", "the day after the last day reported; after from"));
    }
    if (until - from).num_days() > MAX_DAYS {
        return Err(ApiError::invalid("until", format!("a report covers at most {MAX_DAYS} days")));
    }
    Ok((from, until))
}

/// The stations a report covers: one station, a merchant's, or all the
/// user sees.
async fn scope(state: &State, user: Scope, p: &Params) -> ApiResult<Vec<Station>> {
    let station: Option<StationId> = number("station_id", &p.station_id)?;
    let merchant: Option<i64> = number("merchant_id", &p.merchant_id)?;
    if let Some(m) = merchant {
        user.merchant(state, m).await.map_err(as_field("merchant_id"))?;
    }
    let stations: Vec<Station> = state
        .store
        .stations()
        .await?
        .into_iter()
        .filter(|s| user.sees_station(s))
        .filter(|s| station.is_none_or(|id| s.id == id) && merchant.is_none_or(|m| s.merchant_id == Some(m)))
        .collect();
    match station {
        Some(id) if stations.is_empty() => {
            Err(ApiError::invalid("station_id", format!("no station {id} in this report's scope")))
        }
        _ => Ok(stations),
    }
}

/// The rows as JSON, or as a CSV download named `{name}.csv`.
fn respond<R: Row + Serialize>(format: Format, name: &str, rows: &[R]) -> HttpResponse {
    match format {
        Format::Json => HttpResponse::Ok().json(rows),
        Format::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(ContentDisposition {
                disposition: DispositionType::Attachment,
                parameters: vec![DispositionParam::Filename(format!("{name}.csv"))],
            })
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(report::csv(rows)),
    }
}

/// What a station report is asked for.
struct Asked {
    format: Format,
    from: NaiveDate,
    until: NaiveDate,
    stations: Vec<StationId>,
}

async fn asked(state: &State, user: Scope, req: &HttpRequest) -> ApiResult<Asked> {
    let p: Params = query(req)?;
    let (format, (from, until)) = (format(&p.format)?, period(&p)?);
    let stations = scope(state, user, &p).await?.iter().map(|s| s.id).collect();
    Ok(Asked { format, from, until, stations })
}

/// Per station and local day: charges, seconds charged, kWh and revenue.
#[utoipa::path(
    get,
    path = "/api/v1/reports/operations",
    tag = "reports",
    params(Params),
    responses(
        (status = 200, description = "Rows as JSON, or CSV with `format=csv`", content((Vec<Object> = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = [])),
)]
async fn operations(state: State, user: Scope, req: HttpRequest) -> ApiResult<HttpResponse> {
    let Asked { format, from, until, stations } = asked(&state, user, &req).await?;
    let days = state.store.station_days(&stations, from, until).await?;
    let rows: Vec<Operations> = days.iter().map(Operations::from).collect();
    Ok(respond(format, &format!("operations_{from}_{until}"), &rows))
}

/// Per station, local day and time-of-use period: kWh and its list price.
#[utoipa::path(
    get,
    path = "/api/v1/reports/energy",
    tag = "reports",
    params(Params),
    responses(
        (status = 200, description = "Rows as JSON, or CSV with `format=csv`", content((Vec<Object> = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = [])),
)]
async fn energy(state: State, user: Scope, req: HttpRequest) -> ApiResult<HttpResponse> {
    let Asked { format, from, until, stations } = asked(&state, user, &req).await?;
    let days = state.store.station_days(&stations, from, until).await?;
    Ok(respond(format, &format!("energy_{from}_{until}"), &Energy::rows(&days)))
}

/// Alarms raised in the period, by station, pile and kind.
#[utoipa::path(
    get,
    path = "/api/v1/reports/faults",
    tag = "reports",
    params(Params),
    responses(
        (status = 200, description = "Rows as JSON, or CSV with `format=csv`", content((Vec<Object> = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = [])),
)]
async fn faults(state: State, user: Scope, req: HttpRequest) -> ApiResult<HttpResponse> {
    let Asked { format, from, until, stations } = asked(&state, user, &req).await?;
    let faults = state.store.fault_counts(&stations, from, until).await?;
    Ok(respond(format, &format!("faults_{from}_{until}"), &faults))
}

/// Drivers not active for `days` (default 90), longest idle first.
#[utoipa::path(
    get,
    path = "/api/v1/reports/inactive-drivers",
    tag = "reports",
    params(Idle),
    responses(
        (status = 200, description = "Rows as JSON, or CSV with `format=csv`", content((Vec<Object> = "application/json"), (String = "text/csv"))),
    ),
    security(("bearer" = [])),
)]
async fn inactive_drivers(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    let p: Idle = query(&req)?;
    let format = format(&p.format)?;
    let days: u32 = number("days", &p.days)?.unwrap_or(90);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::invalid("days", "1 to 3650"));
    }
    let limit: usize = number("limit", &p.limit)?.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "1 to 10000"));
    }
    let before = state.now() - chrono::Duration::days(days.into());
    let drivers = state.store.inactive_drivers(before, limit).await?;
    Ok(respond(format, &format!("inactive_drivers_{}", before.date_naive()), &drivers))
}
