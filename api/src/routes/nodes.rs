//! The node-to-node channel of station actors (`actors::owner`): another
//! node of the cluster telling this one about a station, carrying the
//! cluster key. Not for clients: a request without the key is refused.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::owner::{self, Envelope};

use super::State;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/internal/stations/{id}", web::post().to(station_call));
}

#[utoipa::path(
    post,
    path = "/internal/stations/{id}",
    tag = "ops",
    params(("id" = i64, Path, description = "The station")),
    request_body(content = Object, description = "`{from, token, call: {kind, ...}}` from another node (`actors::owner`)"),
    responses(
        (status = 200, description = "`{reply: done | admission | not_owner | stale}`", body = Object),
        (status = 403, description = "Not from a node of this cluster (no or another `x-chargeplane-cluster-key`)", body = Object),
    ),
)]
async fn station_call(
    state: State,
    req: HttpRequest,
    id: web::Path<i64>,
    body: Json<Envelope>,
) -> ApiResult<HttpResponse> {
    let expected = state.config.directory.as_ref().map(|n| n.key.as_str()).filter(|k| !k.is_empty());
    let given = req.headers().get(owner::KEY_HEADER).and_then(|v| v.to_str().ok());
    if expected.is_none() || given != expected {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_cluster_node",
            "station messages are taken only from nodes of this cluster (cluster_key)",
        ));
    }
    let reply = owner::receive(&state, *id, body.into_inner()).await.map_err(|e| match e {
        actors::registry::StartError::NoStation(_) => {
            ApiError::not_found("unknown_station", format!("no station {id}"))
        }
        e => ApiError::unavailable(e.to_string()),
    })?;
    Ok(HttpResponse::Ok().json(reply))
}
