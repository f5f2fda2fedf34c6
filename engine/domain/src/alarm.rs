//! Fault alarms: what went wrong, where, how badly, and whether someone has
//! seen it and whether it is over.
//!
//! E-bike fires are a real safety problem, so a fault a pile reports (an
//! alarm frame, a hardware fault bit, an abnormal stop) or one the platform
//! sees in readings (over/under-voltage, over-temperature, a pile that stays
//! offline) becomes a durable record within a second: raised, then
//! acknowledged by an operator, then cleared when the condition ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use vocab::{PileId, PortNo, Severity, StationId};

pub type AlarmId = i64;

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAlarm {
    pub station_id: StationId,
    /// `None` for the whole station.
    pub pile_id: Option<PileId>,
    /// `None` for the whole pile (or station).
    pub port: Option<PortNo>,
    /// A stable name for the kind of fault, e.g. `smoke`, `over_voltage`,
    /// `offline`, `insulation_fault`.
    pub kind: String,
    pub severity: Severity,
    /// What happened, for a person.
    pub message: String,
    pub raised_at: DateTime<Utc>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: AlarmId,
    #[serde(flatten)]
    pub alarm: NewAlarm,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub cleared_at: Option<DateTime<Utc>>,
}

/// Which alarms to list: newest first, `limit` at most, older than
/// `before` (an id, for the next page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmFilter {
    pub station_id: Option<StationId>,
    pub pile_id: Option<PileId>,
    /// Only alarms not yet cleared.
    pub open: bool,
    pub before: Option<AlarmId>,
    pub limit: usize,
}
