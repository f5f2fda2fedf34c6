//! Server-sent event streams, so pages need not poll: an operator's view of
//! port states (optionally one station's) and a driver's view of one of
//! their own charges, which ends when the charge does.

use actix_web::{web, HttpRequest, HttpResponse};
use actors::live::Live;
use domain::session::SessionState;
use serde::Deserialize;
use utoipa::IntoParams;
use vocab::{SessionId, StationId};

use super::cluster_events::ClusterEvents;
use super::sse::{received, sse};
use super::State;
use crate::auth::staff;
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scope;
use crate::tokens;

pub fn staff_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", staff(web::get().to(ports)));
}

pub fn driver_routes(cfg: &mut web::ServiceConfig) {
    // With several nodes, a charge on a pile held by another node is
    // followed there, its events passed on as they come.
    cfg.route("/me/charges/{id}/events", crate::forward::streamed_by_session(web::get().to(charge)));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Filter {
    station_id: Option<StationId>,
}

/// Port states as they change, at every station the user sees (as of
/// subscribing) or at one; with several nodes, those of every node's piles.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "live",
    params(Filter),
    responses(
        (status = 200, description = "Server-sent events: port states as they change", content_type = "text/event-stream", body = String),
    ),
    security(("bearer" = [])),
)]
async fn ports(
    state: State,
    scope: Scope,
    q: web::Query<Filter>,
    cluster: web::Data<ClusterEvents>,
) -> ApiResult<HttpResponse> {
    if let Some(s) = q.station_id {
        scope.station(&state, s).await?;
    }
    let (station, seen) = (q.station_id, scope.stations(&state).await?);
    let keep = move |e: &Live| {
        matches!(e, Live::Port { station_id, .. }
            if station.is_none_or(|s| s == *station_id) && seen.as_ref().is_none_or(|s| s.contains(station_id)))
    };
    let events = match &state.config.directory {
        Some(_) => cluster.into_inner().everywhere(&state),
        None => received(state.live.subscribe_ports()),
    };
    Ok(sse(&state, events, keep, |_| false))
}

/// The progress of one of the driver's own charges, until it is billed.
#[utoipa::path(
    get,
    path = "/api/v1/me/charges/{id}/events",
    tag = "live",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "Server-sent events: the charge's progress until it is billed", content_type = "text/event-stream", body = String),
    ),
    security(("bearer" = [])),
)]
async fn charge(state: State, req: HttpRequest, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = SessionId(id.into_inner());
    let session = tokens::own_charge(&state, &req, &id).await?;
    // Following first, then looking again: a charge that ends in between is
    // seen either way.
    let rx = state.live.subscribe_charge(&id);
    let now = state.store.session(&id).await?.map_or(session.state, |s| s.state);
    if !now.is_open() {
        state.live.end_charge(&id);
        return Err(ApiError::conflict("charge_over", format!("charge {id} is {}", now.as_str())));
    }
    let last =
        |e: &Live| matches!(e, Live::Charge { state: SessionState::Finished | SessionState::Failed, .. });
    Ok(sse(&state, received(rx), |_| true, last))
}
