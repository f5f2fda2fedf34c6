//! Reports over CQL. `charges_by_station` and `alarms_by_station_month`
//! (schema V7) keep each station's billed charges and alarms by UTC month,
//! so a report reads, per station, the months its local days span, each a
//! range of one partition, and `report` sums what comes back. The charge
//! rows are written with the bill (`finish_session`) and rewritten by
//! `correct_bill`; the alarm rows in the alarm's own logged batch.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

use super::codec::{json, micros, to_json};
use super::{Db, ScyllaStore};
use crate::{Reports, Result};
use domain::pricing::Bill;
use domain::report::{self, Charge, Days, FaultCount, StationDay};
use domain::session::SessionRecord;
use vocab::{PileId, StationId};

/// The partition month of a time: yyyymm, UTC.
pub(super) fn month(at: DateTime<Utc>) -> i32 {
    at.year() * 100 + at.month() as i32
}

/// The partition months `[start, end)` touches.
fn months(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<i32> {
    let mut out = Vec::new();
    if start >= end {
        return out;
    }
    let mut first = start.date_naive().with_day(1);
    while let Some(m) = first.filter(|m| m.and_time(Default::default()).and_utc() < end) {
        out.push(month(m.and_time(Default::default()).and_utc()));
        first = m.checked_add_months(Months::new(1));
    }
    out
}

/// A station's offset from UTC, and the UTC span of the local days asked for.
type Span = (i32, DateTime<Utc>, DateTime<Utc>);

impl Db {
    /// Lists a billed charge for reports: an upsert of the charge's one row.
    pub(super) async fn list_charge(&self, s: &SessionRecord, bill: &Bill) -> Result<()> {
        let c = Charge::of(s, bill);
        let values = (s.station_id, month(c.ended_at), micros(c.ended_at), s.id.as_str(), to_json(&c)?);
        self.cql.write("listing a charge", &self.st.reports.charge_insert, values).await
    }

    /// A station's offset and the UTC span of the local days, if it exists.
    async fn span(&self, id: StationId, from: NaiveDate, until: NaiveDate) -> Result<Option<Span>> {
        Ok(self.station(id).await?.map(|s| {
            let (start, end) = report::window(from, until, s.utc_offset_minutes);
            (s.utc_offset_minutes, start, end)
        }))
    }

    pub(super) async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>> {
        let per_station = report::distinct(stations).into_iter().map(|id| async move {
            let mut days = Days::new(from, until);
            let Some((offset, start, end)) = self.span(id, from, until).await? else { return Ok(Vec::new()) };
            for m in months(start, end) {
                let values = (id, m, micros(start), micros(end));
                let rows = self.cql.rows::<(String,), _>(
                    "reading charges",
                    &self.st.reports.charges_in_month,
                    &values,
                );
                for (charge,) in rows.await? {
                    days.add(offset, &json("charge", &charge)?);
                }
            }
            Ok::<_, crate::StoreError>(days.into_vec())
        });
        let per_station = futures::future::try_join_all(per_station).await?;
        Ok(per_station.into_iter().flatten().collect())
    }

    pub(super) async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>> {
        let per_station = report::distinct(stations).into_iter().map(|id| async move {
            let mut alarms = Vec::new();
            let Some((_, start, end)) = self.span(id, from, until).await? else { return Ok(alarms) };
            for m in months(start, end) {
                let values = (id, m, micros(start), micros(end));
                let rows = self.cql.rows::<(Option<String>, String), _>(
                    "reading alarms",
                    &self.st.reports.alarms_in_month,
                    &values,
                );
                alarms.extend(rows.await?.into_iter().map(|(pile, kind)| (id, pile.map(PileId), kind)));
            }
            Ok::<_, crate::StoreError>(alarms)
        });
        let alarms = futures::future::try_join_all(per_station).await?;
        Ok(report::count_faults(alarms.into_iter().flatten()))
    }
}

#[async_trait]
impl Reports for ScyllaStore {
    async fn station_days(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<StationDay>> {
        self.db.station_days(stations, from, until).await
    }

    async fn fault_counts(
        &self,
        stations: &[StationId],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<FaultCount>> {
        self.db.fault_counts(stations, from, until).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_span_reads_the_months_it_touches() {
        assert_eq!(month(at("2026-03-31T23:59:59Z")), 202603);
        assert_eq!(months(at("2026-03-01T16:00:00Z"), at("2026-03-03T16:00:00Z")), [202603]);
        assert_eq!(months(at("2026-02-28T16:00:00Z"), at("2026-03-01T00:00:00Z")), [202602]);
        assert_eq!(
            months(at("2025-11-30T16:00:00Z"), at("2026-02-01T00:00:01Z")),
            [202511, 202512, 202601, 202602]
        );
        assert!(months(at("2026-03-02T00:00:00Z"), at("2026-03-02T00:00:00Z")).is_empty());
    }
}
