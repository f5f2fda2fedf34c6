//! Commands for a pile whose link is on another node, when several nodes
//! share one store (docs/scylla.md, "Several chargeplane nodes").
//!
//! Only the node holding a pile's TCP link can talk to it. This middleware
//! sits on a pile's command routes (start, stop, maintenance, a driver's
//! start) and its live view, inside their role gate, and checks whether the
//! pile is online here; if not, it looks the pile up in the pile directory
//! and sends the request as is (credentials, idempotency key and body) to
//! the node holding it, marked as forwarded so that node answers it itself.
//! The answer comes back unchanged. With no row the request is handled
//! here, which answers `409 pile_offline` as on a single node. Idempotency
//! keys live in the shared store, so a retried or re-forwarded start never
//! starts twice. A driver's charge events are forwarded the same way but
//! streamed: each chunk is passed on as it comes, until the holder's stream
//! ends.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use futures::StreamExt;
use prometheus::{IntCounterVec, Opts, Registry};
use store::PileNode;
use vocab::PileId;

use crate::error::ApiError;
use crate::routes::cluster_events::ClusterEvents;
use crate::routes::State;

/// Marks a forwarded request with the node that forwarded it.
pub const FORWARDED_BY: &str = "x-chargeplane-forwarded-by";
/// Names the node that answered a forwarded request.
pub const ANSWERED_BY: &str = "x-chargeplane-node";

/// What forwarding needs, shared by the HTTP workers.
pub struct Forwarder {
    node_id: String,
    client: reqwest::Client,
    forwarded: IntCounterVec,
}

impl Forwarder {
    pub fn new(node_id: String, timeout: Duration, registry: &Registry) -> Self {
        let forwarded = IntCounterVec::new(
            Opts::new(
                "chargeplane_forwarded_commands_total",
                "Pile commands sent on to the node holding the pile, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        registry.register(Box::new(forwarded.clone())).expect("unique metric");
        let client = reqwest::Client::builder().timeout(timeout).build().expect("an HTTP client");
        Forwarder { node_id, client, forwarded }
    }
}

/// The route, answered by the node holding the pile named by its `{id}`.
/// Registered on a pile's commands and live views, inside their gate.
pub fn forwarded(route: actix_web::Route) -> actix_web::Route {
    route.wrap(actix_web::middleware::from_fn(pile_in_path))
}

/// The route, answered by the node holding the pile its JSON body names
/// (`"pile_id"`): a driver's `POST /me/charges`.
pub fn forwarded_by_body(route: actix_web::Route) -> actix_web::Route {
    route.wrap(actix_web::middleware::from_fn(pile_in_body))
}

/// The route, answered by the node holding the pile of the session its
/// `{id}` names: a driver's `POST /me/charges/{id}/stop`.
pub fn forwarded_by_session(route: actix_web::Route) -> actix_web::Route {
    route.wrap(actix_web::middleware::from_fn(pile_of_session))
}

/// The route, answered by the node holding the pile of the session its
/// `{id}` names, its body streamed back as it comes: a driver's
/// `GET /me/charges/{id}/events`.
pub fn streamed_by_session(route: actix_web::Route) -> actix_web::Route {
    route.wrap(actix_web::middleware::from_fn(stream_of_session))
}

/// Whether the answer is read whole before it is passed on, or streamed.
#[derive(Clone, Copy, PartialEq)]
enum Body {
    Whole,
    Streamed,
}

async fn session_pile(req: &ServiceRequest) -> Option<PileId> {
    let id = req.match_info().get("id").map(|id| vocab::SessionId(id.to_owned()));
    match (id, req.app_data::<State>()) {
        // The handler answers an unknown session (or a store error) itself;
        // a lone node forwards nothing, so it need not look.
        (Some(id), Some(state)) if state.config.directory.is_some() => {
            state.store.session(&id).await.ok().flatten().map(|s| s.pile_id)
        }
        _ => None,
    }
}

async fn pile_of_session(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let pile = session_pile(&req).await;
    to_holder(req, next, pile, Body::Whole).await
}

async fn stream_of_session(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let pile = session_pile(&req).await;
    to_holder(req, next, pile, Body::Streamed).await
}

async fn pile_in_path(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let pile = req.match_info().get("id").map(|id| PileId(id.to_owned()));
    to_holder(req, next, pile, Body::Whole).await
}

async fn pile_in_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let body = req.extract::<web::Bytes>().await?;
    let named = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let pile = named.as_ref().and_then(|v| v["pile_id"].as_str()).map(|id| PileId(id.to_owned()));
    // Put back for the handler (or the forwarding) to read again.
    req.set_payload(actix_web::dev::Payload::from(body));
    to_holder(req, next, pile, Body::Whole).await
}

/// Sends the request on to the node holding `pile` if that is another
/// node, or lets this one answer.
async fn to_holder(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    pile: Option<PileId>,
    mode: Body,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let target = match (
        pile,
        req.headers().get(FORWARDED_BY),
        req.app_data::<web::Data<Forwarder>>().cloned(),
        req.app_data::<State>().cloned(),
    ) {
        (Some(pile), None, Some(fwd), Some(state)) if !online_here(&state, &pile).await => {
            elsewhere(&state, &fwd, &pile).await.map(|node| (pile, node, fwd, state))
        }
        _ => None,
    };
    let Some((pile, node, fwd, state)) = target else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let body = req.extract::<web::Bytes>().await?;
    let mut answer = send(&state, &fwd, &req, &node, &body, mode).await;
    // The pile may have moved on since its row was read: read it once more.
    if answer.as_ref().is_ok_and(|a| a.status() == StatusCode::CONFLICT) {
        if let Some(moved) = elsewhere(&state, &fwd, &pile).await.filter(|n| n.node_id != node.node_id) {
            answer = send(&state, &fwd, &req, &moved, &body, mode).await;
        }
    }
    let response = answer.unwrap_or_else(|e| e.error_response());
    Ok(req.into_response(response))
}

async fn online_here(state: &State, pile: &PileId) -> bool {
    match state.registry.pile(pile) {
        Some(addr) => addr.send(actors::pile::View).await.is_ok_and(|v| v.online),
        None => false,
    }
}

/// The directory's row for the pile, if it names another node.
async fn elsewhere(state: &State, fwd: &Forwarder, pile: &PileId) -> Option<PileNode> {
    match state.store.pile_node(pile).await {
        Ok(row) => row.filter(|n| n.node_id != fwd.node_id),
        Err(e) => {
            tracing::warn!(%pile, error = %e, "could not read the pile directory");
            None
        }
    }
}

/// The request, sent to `node`, and its answer as ours.
async fn send(
    state: &State,
    fwd: &Forwarder,
    req: &ServiceRequest,
    node: &PileNode,
    body: &web::Bytes,
    mode: Body,
) -> Result<HttpResponse, ApiError> {
    // A stream lasts as long as its listener: no overall timeout for it.
    let streams = req.app_data::<web::Data<ClusterEvents>>().filter(|_| mode == Body::Streamed);
    let client = streams.map_or(&fwd.client, |s| s.client());
    let path = req.uri().path_and_query().map_or(req.path(), |p| p.as_str());
    let url = format!("{}{path}", node.http_addr.trim_end_matches('/'));
    let method =
        reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut out = client.request(method, &url).header(FORWARDED_BY, &fwd.node_id).body(body.clone());
    for name in [header::AUTHORIZATION.as_str(), header::CONTENT_TYPE.as_str(), crate::idempotency::HEADER] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            out = out.header(name, v);
        }
    }
    let unreachable = |e: reqwest::Error| {
        fwd.forwarded.with_label_values(&["unreachable"]).inc();
        tracing::warn!(pile = %node.pile_id, node = %node.node_id, error = %e, "could not forward a pile command");
        ApiError::unavailable(format!(
            "pile {} is connected to node {}, which did not answer; try again",
            node.pile_id, node.node_id
        ))
    };
    let res = out.send().await.map_err(unreachable)?;
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut answer = HttpResponse::build(status);
    answer.insert_header((ANSWERED_BY, node.node_id.as_str()));
    for name in [header::CONTENT_TYPE.as_str(), header::CACHE_CONTROL.as_str(), "idempotent-replayed"] {
        if let Some(v) = res.headers().get(name).and_then(|v| v.to_str().ok()) {
            answer.insert_header((name, v.to_owned()));
        }
    }
    if let Some(streams) = streams {
        fwd.forwarded.with_label_values(&["answered"]).inc();
        // Ends when this node stops, as its own streams do.
        let body = streams.clone().into_inner().passed_on(res).take_until(state.live.closed());
        return Ok(answer.streaming(body));
    }
    let bytes = res.bytes().await.map_err(unreachable)?;
    fwd.forwarded.with_label_values(&["answered"]).inc();
    Ok(answer.body(bytes))
}
