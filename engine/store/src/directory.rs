//! Which node holds each pile's link, for several nodes on one store.
//!
//! A pile's TCP link lands on one node, and only that node can send it a
//! command. The node writes a `PileNode` row at login and again while the
//! link lives; the row expires by itself if the node dies, and a clean
//! disconnect removes it only if the node still owns it (the pile may have
//! moved on). Any node that gets an HTTP command for a pile it does not hold
//! reads the row and forwards the command to `http_addr`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
