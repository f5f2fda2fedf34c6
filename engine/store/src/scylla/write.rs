//! Handing out ids and checking keys, for every write. There are no
//! foreign keys in CQL, so a parent a write refers to is read first (at
//! quorum) and its absence is the trait's `NotFound`; a taken key is found by
//! a lightweight transaction where two writers could race for it, and by a
//! quorum read where ids are minted unique anyway.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use scylla::statement::prepared::PreparedStatement;

use super::{Db, Seq};
use crate::{Result, StoreError};

/// Compare-and-set rounds before claiming an id gives up (each lost round
/// means another node took an id meanwhile).
const ID_ATTEMPTS: u32 = 64;

impl Db {
    /// The next id of a sequence: a compare-and-set on its `id_sequences`
    /// row (`UPDATE ... SET next_id = n + 1 ... IF next_id = n`), retried
    /// with the value a lost round returns. Ids are unique and increasing
    /// across every node; a round whose outcome is unknown (a timeout) may
    /// leave a gap, never a duplicate.
    pub(super) async fn next_id(&self, seq: Seq) -> Result<i64> {
        let hint = &self.id_hints[seq as usize];
        let mut current = hint.load(Relaxed);
        for attempt in 0..ID_ATTEMPTS {
            if attempt > 2 {
                // Heavy contention: let the other claimers finish.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
            }
            let lwt = if current <= 0 {
                self.cql.lwt("creating an id sequence", &self.st.seq_init, (seq.name(), 2_i64)).await?
            } else {
                self.cql.lwt("claiming an id", &self.st.seq_bump, (current + 1, seq.name(), current)).await?
            };
            if lwt.applied {
                let id = current.max(1);
                hint.fetch_max(id + 1, Relaxed);
                return Ok(id);
            }
            current = lwt.bigint("next_id").unwrap_or(0);
            hint.fetch_max(current, Relaxed);
        }
        Err(StoreError::Backend(format!(
            "could not claim a {} id in {ID_ATTEMPTS} rounds: too much contention",
            seq.name()
        )))
    }

    pub(super) async fn exists_id(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        id: i64,
    ) -> Result<bool> {
        Ok(self.cql.row::<(i64,), _>(what, stmt, (id,)).await?.is_some())
    }

    pub(super) async fn exists_text(
        &self,
        what: &'static str,
        stmt: &PreparedStatement,
        id: &str,
    ) -> Result<bool> {
        Ok(self.cql.row::<(String,), _>(what, stmt, (id,)).await?.is_some())
    }
}
