//! Operators' reports summed by the store: billed charges per station and
//! local day, alarms counted per station, pile and kind.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::Result;
use domain::report::{FaultCount, StationDay};
use vocab::StationId;

/// Reports over stations' local days.
#[async_trait]
pub trait Reports: Send + Sync + 'static {
    // Days are each station's local days, by its current
    // `utc_offset_minutes`; unknown stations are left out.

    /// The billed charges of `stations` that ended on local days in
    /// `[from, until)`, summed per station and day, by station then day.
    async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>>;

    /// The alarms raised at `stations` on local days in `[from, until)`,
    /// counted by station, pile and kind.
    async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>>;
}
