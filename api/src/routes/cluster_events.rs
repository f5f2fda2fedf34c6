//! Live port events across a cluster, for several nodes on one store.
//!
//! Each node's live feed (`actors::live`) only hears the piles whose links
//! are on it. So every node serves its own port events, unfiltered, to the
//! other nodes at `GET /internal/events` (cluster key required), and an
//! operator's `GET /api/v1/events` on a clustered node hears those of every
//! other live node (`store::Directory::nodes`) next to its own feed, then
//! scopes them all as it scopes its own. Only a node's own events go out on
//! its internal stream, so nothing loops. One follower per node, shared by
//! all its operators' streams, holds one stream to each other node while
//! anyone listens: a hundred open consoles cost the other nodes one
//! connection each, not a hundred. The node list is read again every
//! `pile_node_refresh_ms`: a node that joined is followed from then on, one
//! whose stream failed is asked again while it is listed, and once the last
//! listener has gone the follower closes its streams and stops.
//!
//! `passed_on` is also how a driver's charge events are streamed from the
//! node holding the pile (`crate::forward`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actors::live::Live;
use actors::owner::KEY_HEADER;
use actors::Platform;
use bytes::Bytes;
use futures::stream::{self, LocalBoxStream, Stream, StreamExt};
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::broadcast;

use super::sse::{received, sse};
use super::State;
use crate::error::ApiResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/internal/events", web::get().to(own_ports));
}

/// Following other nodes' streams: the client, the timings and the metrics.
pub struct ClusterEvents {
    /// No overall timeout: these streams last as long as their listeners.
    client: reqwest::Client,
    /// An upstream that sends nothing, not even a keep-alive, for this long
    /// is taken for dead and dropped.
    idle: Duration,
    /// How often the node list is read again.
    relist: Duration,
    open: IntGauge,
    failures: IntCounter,
    /// The other nodes' events, for every operator's stream here.
    remote: broadcast::Sender<Arc<Live>>,
    /// Whether the follower runs (it stops when `remote` has no listeners).
    following: Mutex<bool>,
}

impl ClusterEvents {
    pub fn new(connect_timeout: Duration, idle: Duration, relist: Duration, registry: &Registry) -> Self {
        let open = IntGauge::new(
            "chargeplane_cluster_event_streams",
            "Event streams this node follows on other nodes now (operators' port events, drivers' charges).",
        )
        .expect("valid metric");
        let failures = IntCounter::new(
            "chargeplane_cluster_event_stream_failures_total",
            "Event streams on other nodes that could not be opened or broke off.",
        )
        .expect("valid metric");
        registry.register(Box::new(open.clone())).expect("unique metric");
        registry.register(Box::new(failures.clone())).expect("unique metric");
        let client =
            reqwest::Client::builder().connect_timeout(connect_timeout).build().expect("an HTTP client");
        let idle = idle.max(Duration::from_millis(1));
        let (remote, following) = (broadcast::channel(1024).0, Mutex::new(false));
        ClusterEvents { client, idle, relist, open, failures, remote, following }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// This node's port events and those of every other live node, until
    /// the stream is dropped.
    pub fn everywhere(self: &Arc<Self>, state: &State) -> LocalBoxStream<'static, Arc<Live>> {
        let there = received(self.remote.subscribe());
        // Listening first: a follower seeing no listener stops, under the same lock.
        let mut following = self.following.lock().unwrap_or_else(|e| e.into_inner());
        if !std::mem::replace(&mut *following, true) {
            actix_rt::spawn(follow(self.clone(), state.get_ref().clone()));
        }
        stream::select(received(state.live.subscribe_ports()), there).boxed_local()
    }

    /// `res`'s body as it comes, for the client it is passed on to; it ends
    /// when `res` does, or fails (counted) when it breaks off or nothing
    /// came for `idle`.
    pub fn passed_on(
        self: &Arc<Self>,
        res: reqwest::Response,
    ) -> impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
        let open = Open::new(self);
        stream::unfold(Some((res, open)), |state| async move {
            let (mut res, open) = state?;
            match tokio::time::timeout(open.events.idle, res.chunk()).await {
                Ok(Ok(Some(chunk))) => Some((Ok(chunk), Some((res, open)))),
                Ok(Ok(None)) => None,
                Ok(Err(e)) => {
                    open.events.failures.inc();
                    tracing::warn!(error = %e, "an event stream from another node broke off");
                    Some((Err(actix_web::error::ErrorBadGateway(e)), None))
                }
                Err(_) => {
                    open.events.failures.inc();
                    tracing::warn!("an event stream from another node went silent");
                    Some((Err(actix_web::error::ErrorGatewayTimeout("the other node went silent")), None))
                }
            }
        })
    }
}

/// Counts an upstream stream while it is open.
struct Open {
    events: Arc<ClusterEvents>,
}

impl Open {
    fn new(events: &Arc<ClusterEvents>) -> Open {
        events.open.inc();
        Open { events: events.clone() }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.events.open.dec();
    }
}

/// A task that ends when its handle is dropped.
struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// This node's own port events, for another node of the cluster.
#[utoipa::path(
    get,
    path = "/internal/events",
    tag = "ops",
    responses(
        (status = 200, description = "Server-sent events: port states of the piles on this node as they change", content_type = "text/event-stream", body = String),
        (status = 403, description = "Not from a node of this cluster (no or another `x-chargeplane-cluster-key`)", body = Object),
    ),
)]
async fn own_ports(state: State, req: HttpRequest) -> ApiResult<HttpResponse> {
    super::nodes::from_a_node(&state, &req)?;
    Ok(sse(&state, received(state.live.subscribe_ports()), |_| true, |_| false))
}

/// Keeps one stream open to every other live node, their events sent to
/// `events.remote`, while anyone listens there.
async fn follow(events: Arc<ClusterEvents>, platform: Arc<Platform>) {
    let Some(me) = platform.config.directory.clone() else { return };
    let mut following: HashMap<String, (String, Abort)> = HashMap::new();
    loop {
        {
            let mut running = events.following.lock().unwrap_or_else(|e| e.into_inner());
            if events.remote.receiver_count() == 0 {
                // The streams close as `following` is dropped.
                *running = false;
                return;
            }
        }
        match platform.store.nodes().await {
            Ok(nodes) => {
                // Never this node itself, even under another name: its
                // events would come back twice.
                let others: Vec<_> = nodes
                    .into_iter()
                    .filter(|n| n.node_id != me.node_id && n.http_addr != me.http_addr)
                    .collect();
                // A node that lapsed is no longer followed.
                following.retain(|id, _| others.iter().any(|n| n.node_id == *id));
                for node in others {
                    let live = following
                        .get(&node.node_id)
                        .is_some_and(|(addr, task)| *addr == node.http_addr && !task.0.is_finished());
                    if !live {
                        let task = upstream(events.clone(), node.http_addr.clone(), me.key.clone());
                        following.insert(node.node_id, (node.http_addr, Abort(actix_rt::spawn(task))));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the cluster's nodes"),
        }
        tokio::time::sleep(events.relist).await;
    }
}

/// Follows one node's `/internal/events` until it fails or ends.
async fn upstream(events: Arc<ClusterEvents>, addr: String, key: String) {
    let url = format!("{}/internal/events", addr.trim_end_matches('/'));
    let opened =
        events.client.get(&url).header(KEY_HEADER, key).send().await.and_then(|r| r.error_for_status());
    let res = match opened {
        Ok(res) => res,
        Err(e) => {
            events.failures.inc();
            tracing::warn!(node = addr, error = %e, "could not follow another node's events");
            return;
        }
    };
    let mut body = std::pin::pin!(events.passed_on(res));
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { return }; // counted by `passed_on`
        buf.extend_from_slice(&chunk);
        for event in complete_events(&mut buf) {
            match event {
                // Nobody listening: the follower stops this stream soon.
                Ok(e) => {
                    let _ = events.remote.send(Arc::new(e));
                }
                Err(e) => tracing::warn!(node = addr, error = %e, "an unreadable event from another node"),
            }
        }
    }
    // An internal stream ends whole only when its node stops (which took
    // itself off the node list first): no failure.
    tracing::info!(node = addr, "another node's event stream ended: the node is stopping");
}

/// The events of the whole blocks at the head of `buf` (taken out of it),
/// skipping keep-alive comments; a block cut off by the chunk's end stays
/// for the next chunk to complete.
fn complete_events(buf: &mut Vec<u8>) -> Vec<serde_json::Result<Live>> {
    let mut out = Vec::new();
    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
        let block: Vec<u8> = buf.drain(..end + 2).collect();
        if let Some(data) = block.strip_prefix(b"data: ") {
            out.push(serde_json::from_slice::<Live>(data));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vocab::{PileId, PortStatus};

    fn port(status: PortStatus) -> Live {
        Live::Port { station_id: 7, pile_id: PileId("p1".into()), port: 1, status, session_id: None }
    }

    fn block(e: &Live) -> Vec<u8> {
        format!("data: {}\n\n", serde_json::to_string(e).unwrap()).into_bytes()
    }

    #[test]
    fn events_are_read_back_whole_across_chunks_and_keep_alives_skipped() {
        let (plugged, charging) = (port(PortStatus::Plugged), port(PortStatus::Charging));
        let mut stream = block(&plugged);
        stream.extend_from_slice(b": keep-alive\n\n");
        stream.extend(block(&charging));
        // Cut inside the second event: only the first comes out.
        let cut = stream.len() - 5;
        let mut buf = stream[..cut].to_vec();
        let first: Vec<Live> = complete_events(&mut buf).into_iter().map(Result::unwrap).collect();
        assert_eq!(first, vec![plugged]);
        buf.extend_from_slice(&stream[cut..]);
        let rest: Vec<Live> = complete_events(&mut buf).into_iter().map(Result::unwrap).collect();
        assert_eq!(rest, vec![charging]);
        assert!(buf.is_empty());
    }

    #[test]
    fn an_unreadable_event_is_reported_and_the_next_still_read() {
        let mut buf = b"data: {\"kind\":\"nonsense\"}\n\n".to_vec();
        buf.extend(block(&port(PortStatus::Idle)));
        let events = complete_events(&mut buf);
        assert!(events[0].is_err());
        assert_eq!(events[1].as_ref().unwrap(), &port(PortStatus::Idle));
    }
}
