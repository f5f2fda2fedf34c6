//! What piles report going wrong, kept until an operator has seen it and
//! the condition is over.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};

/// Alarms raised, listed, acknowledged and cleared.
#[async_trait]
pub trait Alarms: Send + Sync + 'static {
    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm>;

    async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>>;

    /// Newest first, as the filter says.
    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>>;

    /// Marks an alarm seen; the first acknowledgement's time is kept.
    /// `None` for an unknown id.
    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>>;

    /// Marks an alarm's condition over; the first clearing's time is kept.
    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>>;
}
