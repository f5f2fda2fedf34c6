//! The node-to-node channel of station actors, for several nodes on one
//! store (`store::leases`).
//!
//! One node at a time runs a station's power management: the holder of the
//! station's lease. A port on another node asks that owner to admit its
//! charge and reports its power to it; the owner sends that node the
//! port's grants, power stops and "your queued charge fits now". Each is a
//! `Call` in an `Envelope` POSTed to the other node's
//! `/internal/stations/{id}`, carrying the lease's fencing token: a node
//! holding piles refuses a call from an owner whose token is below one it
//! has seen (a node that lost its lease without knowing it), and an owner
//! refuses a call meant for another token. Calls carry the cluster key, so
//! only nodes of the cluster can send them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use vocab::{PileId, PortNo, Protocol, SessionId, StationId};

use crate::station::Admission;
use crate::Platform;

/// The header carrying the cluster key on station calls.
pub const KEY_HEADER: &str = "x-chargeplane-cluster-key";

/// A station message between nodes: the first two go to the station's
/// owner, the next three from the owner to the node holding the pile, and
/// `Changed` from the node that took an edit to every node running the station.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Call {
    /// May a charge start on this port (`station::Admit`)?
    Admit { pile: PileId, port: PortNo, protocol: Protocol, queue: bool, resume: bool },
    /// A port's live state (`station::PortPower`).
    PortPower {
        pile: PileId,
        port: PortNo,
        protocol: Protocol,
        session: Option<SessionId>,
        charging: bool,
        power_w: Option<Decimal>,
    },
    /// The limits of a pile's charging ports.
    PowerLimit { pile: PileId, limits: Vec<(PortNo, Option<SessionId>, Decimal)>, rated_w: Decimal },
    /// Stop a port's charge: the limit leaves it no power.
    PowerStop { pile: PileId, port: PortNo },
    /// The charge queued on this port fits now.
    Admitted { pile: PileId, port: PortNo },
    /// The station was edited on the sender: read it from the store now.
    Changed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// Where the sender serves HTTP, for the answers that come later.
    pub from: String,
    /// The owner's lease token: the sender's if it is the owner, else the
    /// one it believes the owner holds.
    pub token: i64,
    pub call: Call,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Done,
    /// The owner's verdict on an `Admit`, with its token.
    Admission {
        token: i64,
        result: Result<Admission, String>,
    },
    /// This node does not own the station under that token (any more).
    NotOwner,
    /// The token is below one this node has seen: refused.
    Stale,
}

/// The channel's client and metrics.
pub struct Channel {
    client: reqwest::Client,
    /// Calls waiting to be sent, one queue per node.
    queues: dashmap::DashMap<String, tokio::sync::mpsc::Sender<(StationId, i64, Call)>>,
    pub calls: IntCounterVec,
    pub seconds: HistogramVec,
    pub leases_held: IntGauge,
    pub lease_changes: IntCounterVec,
}

impl Channel {
    pub fn new(registry: &Registry, timeout: Duration) -> Channel {
        let calls = IntCounterVec::new(
            Opts::new(
                "chargeplane_remote_station_calls_total",
                "Station messages sent to another node, by kind and result (ok, refused, stale, unreachable).",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "chargeplane_remote_station_call_seconds",
                "Round trip of a station message to another node, by kind.",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["kind"],
        )
        .expect("valid metric");
        let leases_held =
            IntGauge::new("chargeplane_station_leases_held", "Stations whose power this node runs now.")
                .expect("valid metric");
        let lease_changes = IntCounterVec::new(
            Opts::new(
                "chargeplane_station_lease_changes_total",
                "Station leases this node took or lost, by change (taken, lost).",
            ),
            &["change"],
        )
        .expect("valid metric");
        registry.register(Box::new(calls.clone())).expect("unique metric");
        registry.register(Box::new(seconds.clone())).expect("unique metric");
        registry.register(Box::new(leases_held.clone())).expect("unique metric");
        registry.register(Box::new(lease_changes.clone())).expect("unique metric");
        let client = reqwest::Client::builder().timeout(timeout).build().expect("an HTTP client");
        Channel { client, queues: Default::default(), calls, seconds, leases_held, lease_changes }
    }
}

impl Channel {
    /// The client the channel sends with, for other node-to-node requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl Call {
    fn kind(&self) -> &'static str {
        match self {
            Call::Admit { .. } => "admit",
            Call::PortPower { .. } => "port_power",
            Call::PowerLimit { .. } => "power_limit",
            Call::PowerStop { .. } => "power_stop",
            Call::Admitted { .. } => "admitted",
            Call::Changed => "changed",
        }
    }
}

/// Sends `call` to the node at `to` about `station`; `Err` if it did not
/// answer or answered nothing we know.
pub async fn send(
    platform: &Arc<Platform>,
    to: &str,
    station: StationId,
    token: i64,
    call: Call,
) -> Result<Reply, String> {
    let Some(node) = &platform.config.directory else { return Err("not clustered".into()) };
    let channel = &platform.channel;
    let kind = call.kind();
    let envelope = Envelope { from: node.http_addr.clone(), token, call };
    let url = format!("{}/internal/stations/{station}", to.trim_end_matches('/'));
    let started = Instant::now();
    let answer = async {
        let res = channel
            .client
            .post(&url)
            .header(KEY_HEADER, &node.key)
            .json(&envelope)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice::<Reply>(&body)
            .map_err(|_| format!("{status}: {}", String::from_utf8_lossy(&body)))
    };
    let reply = answer.await;
    channel.seconds.with_label_values(&[kind]).observe(started.elapsed().as_secs_f64());
    let result = match &reply {
        Ok(Reply::Done | Reply::Admission { .. }) => "ok",
        Ok(Reply::NotOwner) => "refused",
        Ok(Reply::Stale) => "stale",
        Err(_) => "unreachable",
    };
    channel.calls.with_label_values(&[kind, result]).inc();
    if let Err(e) = &reply {
        tracing::warn!(station, to, kind, error = %e, "a station message to another node failed");
    }
    reply
}

/// Sends `call` to the node at `to` without waiting for it, after the calls
/// already queued for that node: a pile's limits arrive in the order they
/// were set. A node that falls this far behind loses the newest calls
/// (counted as `dropped`); the periodic checks send limits again.
pub fn post(platform: &Arc<Platform>, to: &str, station: StationId, token: i64, call: Call) {
    let queue = platform.channel.queues.entry(to.to_owned()).or_insert_with(|| {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(StationId, i64, Call)>(QUEUED);
        let (platform, to) = (platform.clone(), to.to_owned());
        actix_rt::spawn(async move {
            while let Some((station, token, call)) = rx.recv().await {
                let _ = send(&platform, &to, station, token, call).await;
            }
        });
        tx
    });
    if let Err(tokio::sync::mpsc::error::TrySendError::Full((_, _, call))) =
        queue.try_send((station, token, call))
    {
        platform.channel.calls.with_label_values(&[call.kind(), "dropped"]).inc();
    }
}

/// Calls waiting for one node before new ones are dropped.
const QUEUED: usize = 4096;

/// A station message from another node, handed to the station's actor here.
pub async fn receive(
    platform: &Arc<Platform>,
    station: StationId,
    envelope: Envelope,
) -> Result<Reply, crate::registry::StartError> {
    let addr = crate::registry::station(platform, station).await?;
    Ok(addr.send(crate::station::FromNode(envelope)).await?)
}
