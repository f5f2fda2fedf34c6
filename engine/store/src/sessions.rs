//! Charges as they happen: sessions, their meter readings, their bills and
//! corrections, and the diagnostic frames piles send along.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Result, StoreError};
use domain::pricing::Bill;
use domain::session::{MeterSample, SessionRecord};
use vocab::{DriverId, PileId, SessionId, StationId};

/// Sessions, their readings, bills and diagnostics: what each charge did and cost.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Durable when it returns. Fails with `Conflict` if the id is taken.
    /// A session paid from a wallet (`terms.payer`) places its hold in the
    /// same transaction, or fails with `Refused` if the wallet is short.
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;

    /// Replaces the stored record of an open session; durable when it returns.
    /// Fails with `NotFound` for an unknown session, `Conflict` if the stored
    /// session is already finished (a finished session never changes).
    /// A wallet-paid session stored as failed gives its hold back in the
    /// same transaction.
    async fn update_session(&self, session: &SessionRecord) -> Result<()>;

    /// Appends readings; committed in order with every other write.
    async fn append_samples(&self, samples: Vec<MeterSample>) -> Result<()>;

    /// Stores the finished record and its bill in one transaction. Returns
    /// false, changing nothing, if the session was already billed: a repeated
    /// final record from a pile is billed once. A session paid from a wallet
    /// has its bill captured from the hold in the same transaction.
    async fn finish_session(&self, session: &SessionRecord, bill: &Bill) -> Result<bool>;

    /// Replaces a billed session's bill with a corrected one, keeping the
    /// one it replaces, and for a wallet-paid charge reverses the last
    /// capture and captures the new total, all in one transaction. Returns
    /// the correction's number (from 1); `NotFound` if the session has no bill.
    async fn correct_bill(&self, bill: &Bill, at: DateTime<Utc>) -> Result<u32>;

    /// The bills a session had before its corrections, oldest first.
    async fn bill_history(&self, id: &SessionId) -> Result<Vec<Bill>>;

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>>;

    /// A session's readings, oldest first.
    async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>>;

    async fn bill(&self, id: &SessionId) -> Result<Option<Bill>>;

    /// The charges a driver paid for from their wallet, newest first.
    async fn driver_sessions(&self, driver: DriverId, limit: usize) -> Result<Vec<SessionRecord>>;

    /// Sessions of a pile that are not finished or failed, oldest first.
    async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>>;

    /// Keeps diagnostic frames; committed in order with every other write.
    async fn append_diagnostics(&self, diagnostics: Vec<Diagnostic>) -> Result<()>;

    /// A pile's latest diagnostics, newest first, at most `limit`.
    async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<Diagnostic>>;
    /// Sessions as the filter says, newest first (by creation time, then
    /// id), at most `filter.limit`.
    async fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionRecord>>;
}

/// What every backend's `finish_session` checks first: only a finished
/// record with its own bill may be stored as billed, anything else would
/// leave a billed session that looks open.
pub fn finishable(s: &SessionRecord, bill: &Bill) -> Result<()> {
    if s.state == domain::session::SessionState::Finished && bill.session_id == s.id {
        return Ok(());
    }
    Err(StoreError::Backend(format!(
        "finish_session takes a finished session and its bill, got session {} ({}) with a bill for {}",
        s.id,
        s.state.as_str(),
        bill.session_id
    )))
}

/// A frame kept for diagnosis, not acted on: what a car's battery
/// management system and the pile told each other during a charge.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub pile_id: PileId,
    pub port: u8,
    /// The charge it belongs to, if any.
    pub session_id: Option<SessionId>,
    pub at: DateTime<Utc>,
    /// What it is ("BMS handshake", "battery status").
    pub kind: String,
    /// The frame's payload, hex.
    pub data: String,
}

/// Which sessions to list; every field set narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// At these stations; `None`: at every station.
    pub stations: Option<Vec<StationId>>,
    pub pile: Option<PileId>,
    /// Charges this driver paid for from their wallet.
    pub driver: Option<DriverId>,
    pub state: Option<domain::session::SessionState>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Only sessions listed after this one (creation time and id): the
    /// last of the previous page.
    pub before: Option<(DateTime<Utc>, SessionId)>,
    pub limit: usize,
}

impl SessionFilter {
    /// Whether a session passes every field but the stations and `limit`
    /// (for backends that narrow by station in their index and check the
    /// rest on the record).
    pub fn keeps(&self, s: &SessionRecord) -> bool {
        self.pile.as_ref().is_none_or(|p| *p == s.pile_id)
            && self.driver.is_none_or(|d| s.terms.payer.as_ref().is_some_and(|p| p.driver == d))
            && self.state.is_none_or(|st| st == s.state)
            && self.from.is_none_or(|f| s.created_at >= f)
            && self.until.is_none_or(|u| s.created_at < u)
            && self.before.as_ref().is_none_or(|(at, id)| (s.created_at, &s.id) < (*at, id))
    }
}
