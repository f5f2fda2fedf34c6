//! Keeps this node's rows in the pile directory (`store::directory`)
//! while it holds piles' links, so other nodes sharing the store can forward
//! HTTP commands here.
//!
//! A pile actor lists its pile when a link attaches, relists it every
//! `refresh` while the link lives (the row lapses after `ttl` otherwise, so
//! a dead node's rows go away by themselves), and unlists it when its link
//! ends, which removes the row only if this node still owns it. Writes are
//! fire-and-forget: a failed one is logged, and the next refresh repeats it.
//! Without `Config::directory` (one node) nothing is written.
//!
//! The node itself is listed as well (`announce`), on the same cadence and
//! with the same TTL, so the others know which nodes are alive.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use store::{ClusterNode, PileNode};
use vocab::PileId;

use crate::Platform;

/// Who this node is to the others.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub node_id: String,
    /// Where this node serves HTTP, as other nodes reach it (`http://host:port`).
    pub http_addr: String,
    /// A row not rewritten for this long lapses.
    pub ttl: Duration,
    /// How often a held pile's row is rewritten; well under `ttl`.
    pub refresh: Duration,
    /// A station lease not renewed for this long lapses, and another node
    /// takes the station (`owner`).
    pub lease_ttl: Duration,
    /// How often a station's lease is renewed, or asked for; well under `lease_ttl`.
    pub lease_renew: Duration,
    /// Shared by the cluster's nodes: station messages carry it.
    pub key: String,
}

/// Announces this node every `refresh` while it runs, so it is listed in
/// `Directory::nodes` and lapses `ttl` after it dies. Returns at once for
/// one node.
pub async fn announce(platform: Arc<Platform>) {
    let Some(node) = platform.config.directory.clone() else { return };
    let mut every = tokio::time::interval(node.refresh.max(Duration::from_millis(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = chrono::Utc::now();
        let row = ClusterNode {
            node_id: node.node_id.clone(),
            http_addr: node.http_addr.clone(),
            updated_at: chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
        };
        if let Err(e) = platform.store.announce_node(&row, node.ttl).await {
            tracing::warn!(error = %e, "could not announce this node in the directory");
        }
    }
}

fn write(platform: &Arc<Platform>, pile: &PileId) {
    let Some(node) = &platform.config.directory else { return };
    let now = chrono::Utc::now();
    let row = PileNode {
        pile_id: pile.clone(),
        node_id: node.node_id.clone(),
        http_addr: node.http_addr.clone(),
        updated_at: chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
    };
    let (store, ttl) = (platform.store.clone(), node.ttl);
    actix_rt::spawn(async move {
        if let Err(e) = store.set_pile_node(&row, ttl).await {
            tracing::warn!(pile = %row.pile_id, error = %e, "could not list the pile in the directory");
        }
    });
}

/// The pile's link attached here: list it now and keep it listed (on the
/// timers of `ctx`, the pile actor's).
pub fn list<A>(pile: &PileId, platform: &Arc<Platform>, ctx: &mut Context<A>) -> Option<SpawnHandle>
where
    A: Actor<Context = Context<A>>,
{
    let refresh = platform.config.directory.as_ref()?.refresh.max(Duration::from_millis(1));
    write(platform, pile);
    let (pile, platform) = (pile.clone(), platform.clone());
    Some(ctx.run_interval(refresh, move |_, _| write(&platform, &pile)))
}

/// The pile's link ended: stop refreshing, and remove the row if it is
/// still ours (the returned future does; it does nothing for one node).
pub fn unlist<A>(
    pile: &PileId,
    platform: &Arc<Platform>,
    ctx: &mut Context<A>,
    listed: Option<SpawnHandle>,
) -> impl std::future::Future<Output = ()> + 'static
where
    A: Actor<Context = Context<A>>,
{
    if let Some(timer) = listed {
        ctx.cancel_future(timer);
    }
    let node_id = platform.config.directory.as_ref().map(|n| n.node_id.clone());
    let (store, pile) = (platform.store.clone(), pile.clone());
    async move {
        let Some(node_id) = node_id else { return };
        if let Err(e) = store.remove_pile_node(&pile, &node_id).await {
            tracing::warn!(%pile, error = %e, "could not remove the pile from the directory");
        }
    }
}
