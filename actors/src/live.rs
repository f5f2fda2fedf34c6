//! Live updates for pages that would otherwise poll: ports changing state
//! and charges progressing, broadcast to whoever listens (the API turns them
//! into server-sent events).
//!
//! Publishing costs nothing while nobody listens; a listener too slow to
//! keep up misses updates (the next one carries the whole state again)
//! rather than holding up a pile.

use std::sync::Arc;

use engine::domain::{PileId, PortStatus, SessionId, StationId};
use engine::session::SessionState;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Clone, Debug, PartialEq, Serialize)]
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

pub struct Feed(broadcast::Sender<Arc<Live>>);

impl Default for Feed {
    fn default() -> Self {
        Feed(broadcast::channel(1024).0)
    }
}

impl Feed {
    pub fn publish(&self, event: impl FnOnce() -> Live) {
        if self.0.receiver_count() > 0 {
            let _ = self.0.send(Arc::new(event()));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Live>> {
        self.0.subscribe()
    }
}
