//! Which node holds each pile's link, for several nodes on one store.
//!
//! A pile's TCP link lands on one node, and only that node can send it a
//! command. The node writes a `PileNode` row at login and again while the
//! link lives; the row expires by itself if the node dies, and a clean
//! disconnect removes it only if the node still owns it (the pile may have
//! moved on). Any node that gets an HTTP command for a pile it does not hold
//! reads the row and forwards the command to `http_addr`.
//!
//! The nodes themselves are listed too: each clustered node announces
//! itself on the same cadence and lapses the same way, so a node can find
//! every other live node (to follow their live event streams, for one).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;
use vocab::PileId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PileNode {
    pub pile_id: PileId,
    /// The node holding the link (`node_id` in its config).
    pub node_id: String,
    /// Where that node serves its HTTP API (`http://host:port`).
    pub http_addr: String,
    pub updated_at: DateTime<Utc>,
}

/// A live node of the cluster, as it last announced itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    /// `node_id` in its config.
    pub node_id: String,
    /// Where it serves its HTTP API (`http://host:port`).
    pub http_addr: String,
    pub updated_at: DateTime<Utc>,
}

/// Which node holds each pile's link, and which nodes are alive.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// Records which node holds a pile's link, replacing any other node's
    /// row; it lapses `ttl` after this write unless written again.
    async fn set_pile_node(&self, node: &PileNode, ttl: std::time::Duration) -> Result<()>;

    /// The node holding a pile's link, unless its row lapsed or was removed.
    async fn pile_node(&self, pile: &PileId) -> Result<Option<PileNode>>;

    /// Removes a pile's row if `node_id` still holds it; true if it did.
    async fn remove_pile_node(&self, pile: &PileId, node_id: &str) -> Result<bool>;

    /// Records that a node is alive, replacing its earlier announcement;
    /// it lapses `ttl` after this write unless announced again.
    async fn announce_node(&self, node: &ClusterNode, ttl: std::time::Duration) -> Result<()>;

    /// The nodes whose announcements have not lapsed, by `node_id`.
    async fn nodes(&self) -> Result<Vec<ClusterNode>>;
}
