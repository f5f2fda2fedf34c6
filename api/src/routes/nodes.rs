//! What the nodes of a cluster ask each other, carrying the cluster key
//! (not for clients: a request without it is refused): station messages
//! (`actors::owner`), the live views of piles whose links are here, so
//! that lists on any node (`GET /piles`, a station's ports, free ports
//! near a point) show every node's piles, and a station's power as its
//! owner sees it, so `GET /stations/{id}/power` on any node shows that.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::owner::{self, Envelope};
use actors::pile::{self, PileView};
use actors::port::PortView;
use futures::future::join_all;
use store::PileRecord;
use subtle::ConstantTimeEq;
use vocab::{PileId, PortNo, PortStatus};

use super::State;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/internal/stations/{id}", web::post().to(station_call))
        .route("/internal/stations/{id}/power", web::get().to(owned_power))
        .route("/internal/piles", web::post().to(pile_views));
}

/// Refuses a request that does not carry this cluster's key.
pub(super) fn from_a_node(state: &State, req: &HttpRequest) -> ApiResult<()> {
    let expected = state.config.directory.as_ref().map(|n| n.key.as_bytes()).filter(|k| !k.is_empty());
    let given = req.headers().get(owner::KEY_HEADER).map(|v| v.as_bytes());
    // In constant time, so the key cannot be guessed byte by byte from how
    // long a refusal takes.
    let same = matches!((expected, given), (Some(e), Some(g)) if bool::from(e.ct_eq(g)));
    if !same {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_cluster_node",
            "taken only from nodes of this cluster (cluster_key)",
        ));
    }
    Ok(())
}

/// A station this node could not run: unknown (404), or the store failed.
fn station_error(id: i64, e: actors::registry::StartError) -> ApiError {
    match e {
        actors::registry::StartError::NoStation(_) => {
            ApiError::not_found("unknown_station", format!("no station {id}"))
        }
        e => ApiError::unavailable(e.to_string()),
    }
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
    from_a_node(&state, &req)?;
    let reply = owner::receive(&state, *id, body.into_inner()).await.map_err(|e| station_error(*id, e))?;
    Ok(HttpResponse::Ok().json(reply))
}

#[utoipa::path(
    get,
    path = "/internal/stations/{id}/power",
    tag = "ops",
    params(("id" = i64, Path, description = "The station")),
    responses(
        (status = 200, description = "The station's power as this node, its owner, sees it (`GET /api/v1/stations/{id}/power`)", body = Object),
        (status = 403, description = "Not from a node of this cluster", body = Object),
        (status = 409, description = "`not_owner`: this node does not manage the station's power", body = Object),
    ),
)]
async fn owned_power(state: State, req: HttpRequest, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    from_a_node(&state, &req)?;
    let view = actors::registry::station(&state, *id)
        .await
        .map_err(|e| station_error(*id, e))?
        .send(actors::station::GetPower)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let me = state.config.directory.as_ref().map(|n| n.node_id.as_str());
    if view.owner.as_deref() != me {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_owner",
            format!("this node does not manage station {id}'s power (owner: {:?})", view.owner),
        ));
    }
    Ok(HttpResponse::Ok().json(view))
}

/// The station's power view from its owner at `addr`, as JSON; `Err` saying
/// why if it did not answer one (it died, or no longer owns the station).
/// Bounded by the channel's timeout (the lease's TTL).
pub async fn owner_power(state: &State, addr: &str, station: i64) -> Result<serde_json::Value, String> {
    let Some(node) = &state.config.directory else { return Err("not clustered".into()) };
    let url = format!("{}/internal/stations/{station}/power", addr.trim_end_matches('/'));
    let res = state
        .channel
        .client()
        .get(&url)
        .header(owner::KEY_HEADER, &node.key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{status}: {e}"))
}

#[utoipa::path(
    post,
    path = "/internal/piles",
    tag = "ops",
    request_body(content = Vec<String>, description = "Pile ids"),
    responses(
        (status = 200, description = "The live views of those of them online here", body = Vec<Object>),
        (status = 403, description = "Not from a node of this cluster", body = Object),
    ),
)]
async fn pile_views(state: State, req: HttpRequest, ids: Json<Vec<PileId>>) -> ApiResult<HttpResponse> {
    from_a_node(&state, &req)?;
    let here = ids.into_inner().into_iter().filter_map(|id| state.registry.pile(&id));
    let views: Vec<PileView> = join_all(here.map(|p| p.send(actors::pile::View)))
        .await
        .into_iter()
        .flatten()
        .filter(|v| v.online)
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// A pile with no live actor: registered, never or not since seen.
pub(super) fn offline_view(record: &PileRecord) -> PileView {
    PileView {
        id: record.id.clone(),
        station_id: record.station_id,
        protocol: record.protocol,
        online: false,
        firmware: None,
        ports: (1..=record.ports)
            .map(|n| PortView {
                port: PortNo(n),
                status: PortStatus::Offline,
                session_id: None,
                power_w: None,
                voltage_v: None,
                current_a: None,
            })
            .collect(),
    }
}

pub(super) async fn view(state: &State, record: &PileRecord) -> PileView {
    match state.registry.pile(&record.id) {
        Some(addr) => addr.send(pile::View).await.unwrap_or_else(|_| offline_view(record)),
        None => offline_view(record),
    }
}

/// The live views of `records`: from this node's actors, and, with several
/// nodes, from the node each pile offline here is listed under in the pile
/// directory (one request per node). A node that does not answer leaves
/// its piles shown offline.
pub async fn views(state: &State, records: &[PileRecord]) -> Vec<PileView> {
    let here = join_all(records.iter().map(|r| view(state, r))).await;
    let Some(node) = &state.config.directory else { return here };
    // One directory read for the page's offline piles, not one per pile.
    let offline: Vec<PileId> = here.iter().filter(|v| !v.online).map(|v| v.id.clone()).collect();
    let rows = match state.store.pile_nodes(&offline).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the pile directory; piles offline here shown offline");
            Vec::new()
        }
    };
    let mut by_node: HashMap<String, Vec<PileId>> = HashMap::new();
    for row in rows.into_iter().filter(|r| r.node_id != node.node_id) {
        by_node.entry(row.http_addr).or_default().push(row.pile_id);
    }
    let asked = by_node.into_iter().map(|(addr, ids)| async move {
        let url = format!("{}/internal/piles", addr.trim_end_matches('/'));
        let sent = state.channel.client().post(&url).header(owner::KEY_HEADER, &node.key).json(&ids).send();
        match sent.await.and_then(|r| r.error_for_status()) {
            Ok(res) => res.json::<Vec<PileView>>().await.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(node = addr, error = %e, "could not read piles' live views from another node");
                Vec::new()
            }
        }
    });
    let mut there: HashMap<PileId, PileView> =
        join_all(asked).await.into_iter().flatten().map(|v| (v.id.clone(), v)).collect();
    here.into_iter().map(|v| there.remove(&v.id).unwrap_or(v)).collect()
}

/// A station was edited here: the other nodes running it (the owner of
/// its power, and those holding its piles) are told to read it from the
/// store now rather than at their next reconcile. Fire and forget: the
/// reconcile is the backstop.
pub fn edited(state: &State, station: i64) {
    let Some(node) = state.config.directory.clone() else { return };
    let platform = state.get_ref().clone();
    actix_rt::spawn(async move {
        let store = &platform.store;
        let lease = store.lease(station).await.ok().flatten();
        let mut nodes: Vec<String> = lease.iter().map(|l| l.http_addr.clone()).collect();
        // The store has no read of one station's piles: all of them,
        // filtered, then one directory read for the station's.
        let piles = store.piles().await.unwrap_or_default();
        let ids: Vec<PileId> = piles.into_iter().filter(|p| p.station_id == station).map(|p| p.id).collect();
        let rows = store.pile_nodes(&ids).await.unwrap_or_default();
        nodes.extend(rows.into_iter().map(|r| r.http_addr));
        nodes.sort();
        nodes.dedup();
        let token = lease.map_or(0, |l| l.token);
        for to in nodes.into_iter().filter(|a| *a != node.http_addr) {
            owner::post(&platform, &to, station, token, owner::Call::Changed);
        }
    });
}
