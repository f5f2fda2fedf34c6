//! Live updates for pages that would otherwise poll: ports changing state
//! and charges progressing, broadcast to whoever listens (the API turns them
//! into server-sent events).
//!
//! Publishing costs nothing while nobody listens; a listener too slow to
//! keep up misses updates (the next one carries the whole state again)
//! rather than holding up a pile.

use std::sync::Arc;

use dashmap::DashMap;
use domain::session::SessionState;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use vocab::{PileId, PortStatus, SessionId, StationId};

/// Read back too: with several nodes, one node follows the others' port
/// events (`api/src/routes/cluster_events.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Live {
    Port {
        station_id: StationId,
        pile_id: PileId,
        port: u8,
        status: PortStatus,
        session_id: Option<SessionId>,
    },
    Charge {
        session_id: SessionId,
        state: SessionState,
        kwh: Decimal,
        elapsed_s: u32,
        power_w: Decimal,
        /// What it costs so far, yuan (the bill, once billed).
        amount: Decimal,
    },
}

/// Port updates go to every listener; a charge's progress only to those
/// following that charge, so a meter reading costs a bill computation only
/// when someone watches it.
pub struct Feed {
    ports: broadcast::Sender<Arc<Live>>,
    charges: DashMap<SessionId, broadcast::Sender<Arc<Live>>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed { ports: broadcast::channel(1024).0, charges: DashMap::new() }
    }
}

impl Feed {
    pub fn publish_port(&self, event: impl FnOnce() -> Live) {
        if self.ports.receiver_count() > 0 {
            let _ = self.ports.send(Arc::new(event()));
        }
    }

    pub fn subscribe_ports(&self) -> broadcast::Receiver<Arc<Live>> {
        self.ports.subscribe()
    }

    /// Sends a charge's progress to its followers; forgets a charge nobody
    /// follows any more.
    pub fn publish_charge(&self, id: &SessionId, event: impl FnOnce() -> Live) {
        let Some(tx) = self.charges.get(id).map(|tx| tx.clone()) else { return };
        if tx.receiver_count() == 0 || tx.send(Arc::new(event())).is_err() {
            self.charges.remove_if(id, |_, tx| tx.receiver_count() == 0);
        }
    }

    pub fn subscribe_charge(&self, id: &SessionId) -> broadcast::Receiver<Arc<Live>> {
        self.charges.entry(id.clone()).or_insert_with(|| broadcast::channel(64).0).subscribe()
    }

    /// The charge is over: its followers have had their last update.
    pub fn end_charge(&self, id: &SessionId) {
        self.charges.remove(id);
    }
}
