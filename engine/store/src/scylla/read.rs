//! The reads. Each names whole partition keys; listings that need another
//! order than a table's (piles across buckets, alarms fetched by id) are
//! merged here.

use std::collections::HashMap;

use futures::future::try_join_all;

use super::codec::{self, day_bucket, decimal, json, micros, name, opt_small, opt_time, small, time};
use super::tenants::{self, PriceRow};
use super::{now, Db};
use crate::{PileRecord, Result, Station, StoreError, StoredResponse};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use domain::pricing::{Bill, PlanId, PricePlan};
use domain::session::{MeterSample, SessionRecord};
use domain::tariff::Tariff;
use vocab::{PileId, PortNo, Protocol, SessionId, Severity, StationId, TariffId};

/// Most keys in one `IN` query: the coordinator fans it out, so keep it small.
const IN_KEYS: usize = 100;

/// Readings of a session are read from the day before its creation to the
/// day after its end, so a node whose clock is a little off still finds them.
const DAYS_OF_SLACK: i32 = 1;

/// A row in `cql::PILE_COLUMNS` order.
type PileRow = (String, i64, String, i32, i64);
/// A row in `cql::ALARM_COLUMNS` order.
type AlarmRow =
    (i64, i64, Option<String>, Option<i32>, String, String, String, i64, Option<i64>, Option<i64>);

fn pile_row(r: PileRow) -> Result<PileRecord> {
    let (id, station_id, protocol, ports, created_at) = r;
    Ok(PileRecord {
        id: PileId(id),
        station_id,
        protocol: name("protocol", &protocol, Protocol::parse)?,
        ports: small("ports", ports)?,
        created_at: time("created_at", created_at)?,
    })
}

fn alarm_row(r: AlarmRow) -> Result<Alarm> {
    let (id, station_id, pile_id, port, kind, severity, message, raised_at, acked, cleared) = r;
    Ok(Alarm {
        id,
        alarm: NewAlarm {
            station_id,
            pile_id: pile_id.map(PileId),
            port: opt_small("port", port)?.map(PortNo),
            kind,
            severity: name("severity", &severity, Severity::parse)?,
            message,
            raised_at: time("raised_at", raised_at)?,
        },
        acknowledged_at: opt_time("acknowledged_at", acked)?,
        cleared_at: opt_time("cleared_at", cleared)?,
    })
}

/// Where a page of alarm ids comes from.
enum Source<'a> {
    Open,
    Pile(&'a str),
    Station(StationId),
    /// Every alarm: ids count down from the sequence's last.
    All,
}

impl Db {
    pub(super) async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        let row = self.cql.row::<PriceRow, _>("reading a tariff", &self.st.tariff_get, (id,)).await?;
        row.map(tenants::tariff_row).transpose()
    }

    pub(super) async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        let row = self.cql.row::<PriceRow, _>("reading a plan", &self.st.plan_get, (id,)).await?;
        row.map(tenants::plan_row).transpose()
    }

    pub(super) async fn station(&self, id: StationId) -> Result<Option<Station>> {
        let row = self.cql.row::<StationRow, _>("reading a station", &self.st.station_get, (id,)).await?;
        row.map(station_row).transpose()
    }

    pub(super) async fn stations(&self) -> Result<Vec<Station>> {
        let rows = self.cql.rows::<StationRow, _>("listing stations", &self.st.station_scan, &()).await?;
        let mut stations = rows.into_iter().map(station_row).collect::<Result<Vec<_>>>()?;
        stations.sort_by_key(|s| s.id);
        Ok(stations)
    }

    pub(super) async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>> {
        let row = self.cql.row::<PileRow, _>("reading a pile", &self.st.pile_get, (id.as_str(),)).await?;
        row.map(pile_row).transpose()
    }

    /// Every listing bucket at once, merged by id.
    pub(super) async fn piles(&self) -> Result<Vec<PileRecord>> {
        let buckets = (0..codec::PILE_BUCKETS).map(|b| async move {
            self.cql.rows::<PileRow, _>("listing piles", &self.st.pile_list, &(b,)).await
        });
        let mut piles =
            try_join_all(buckets).await?.into_iter().flatten().map(pile_row).collect::<Result<Vec<_>>>()?;
        piles.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(piles)
    }

    pub(super) async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let row =
            self.cql.row::<codec::SessionRow, _>("reading a session", &self.st.session_get, (id.as_str(),));
        row.await?.map(codec::session).transpose()
    }

    /// Sessions by id, in no particular order, `IN_KEYS` at a time.
    async fn sessions(&self, ids: Vec<String>) -> Result<Vec<SessionRecord>> {
        let chunks = ids.chunks(IN_KEYS).map(|chunk| {
            let chunk = chunk.to_vec();
            async move {
                self.cql
                    .rows::<codec::SessionRow, _>("reading sessions", &self.st.sessions_get, &(chunk,))
                    .await
            }
        });
        try_join_all(chunks).await?.into_iter().flatten().map(codec::session).collect()
    }

    /// The pile's open-session entries, oldest first, resolved to their
    /// sessions. An entry whose session has since closed (its removal not
    /// yet visible) is skipped: the session row decides.
    pub(super) async fn open_sessions(&self, pile: &PileId) -> Result<Vec<SessionRecord>> {
        let entries = self
            .cql
            .rows::<(i64, String), _>("listing open sessions", &self.st.open_list, &(pile.as_str(),))
            .await?;
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = entries.into_iter().map(|(_, id)| id).collect();
        let mut found: HashMap<SessionId, SessionRecord> =
            self.sessions(ids.clone()).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
        Ok(ids
            .into_iter()
            .filter_map(|id| found.remove(&SessionId(id)))
            .filter(|s| s.state.is_open() && &s.pile_id == pile)
            .collect())
    }

    /// The session's day partitions from its creation to its end (or now),
    /// read at once and concatenated in day order: each is ordered by time,
    /// then arrival.
    pub(super) async fn samples(&self, id: &SessionId) -> Result<Vec<MeterSample>> {
        let Some(session) = self.session(id).await? else {
            return Ok(Vec::new());
        };
        let from = day_bucket(micros(session.created_at)) - DAYS_OF_SLACK;
        let until = session.ended_at.unwrap_or_else(now).max(session.created_at);
        let until = day_bucket(micros(until)) + DAYS_OF_SLACK;
        type Row = (i64, String, String, String, String, Option<i32>);
        let days = (from..=until).map(|day| async move {
            self.cql.rows::<Row, _>("reading readings", &self.st.samples_in_day, &(id.as_str(), day)).await
        });
        try_join_all(days)
            .await?
            .into_iter()
            .flatten()
            .map(|(at, kwh, voltage, amperage, power, soc)| {
                Ok(MeterSample {
                    session_id: id.clone(),
                    at: time("read_at", at)?,
                    kwh: decimal("kwh", &kwh)?,
                    voltage: decimal("voltage", &voltage)?,
                    current: decimal("amperage", &amperage)?,
                    power: decimal("power", &power)?,
                    soc: opt_small("soc", soc)?,
                })
            })
            .collect()
    }

    pub(super) async fn diagnostics(&self, pile: &PileId, limit: usize) -> Result<Vec<crate::Diagnostic>> {
        type Row = (i32, Option<String>, i64, String, String);
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let key = (pile.as_str(), limit);
        let rows = self.cql.rows::<Row, _>("reading diagnostics", &self.st.diagnostics_get, &key).await?;
        rows.into_iter()
            .map(|(port, session, at, kind, data)| {
                Ok(crate::Diagnostic {
                    pile_id: pile.clone(),
                    port: u8::try_from(port)
                        .map_err(|_| StoreError::Backend(format!("column port: {port} is not a port")))?,
                    session_id: session.map(SessionId),
                    at: time("at", at)?,
                    kind,
                    data,
                })
            })
            .collect()
    }

    pub(super) async fn driver_sessions(
        &self,
        driver: vocab::DriverId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>> {
        let key = (driver, i32::try_from(limit).unwrap_or(i32::MAX));
        let ids =
            self.cql.rows::<(String,), _>("listing a driver's charges", &self.st.driver_sessions_get, &key);
        let ids = ids.await?;
        let sessions =
            try_join_all(ids.into_iter().map(|(id,)| async move { self.session(&SessionId(id)).await }));
        Ok(sessions.await?.into_iter().flatten().collect())
    }

    pub(super) async fn bill(&self, id: &SessionId) -> Result<Option<Bill>> {
        let row =
            self.cql.row::<codec::BillRow, _>("reading a bill", &self.st.bill_get, (id.as_str(),)).await?;
        row.map(|r| codec::bill(id, r)).transpose()
    }

    pub(super) async fn idempotent_response(&self, key: &str) -> Result<Option<StoredResponse>> {
        type Row = (String, i32, String, i64);
        let row = self.cql.row::<Row, _>("reading an idempotency key", &self.st.idem_get, (key,)).await?;
        row.map(|(fingerprint, status, body, created_at)| {
            let status = u16::try_from(status)
                .map_err(|_| StoreError::Backend(format!("column status: {status} is not an HTTP status")))?;
            Ok(StoredResponse { fingerprint, status, body, created_at: time("created_at", created_at)? })
        })
        .transpose()
    }

    pub(super) async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>> {
        self.cql
            .row::<AlarmRow, _>("reading an alarm", &self.st.alarm_get, (id,))
            .await?
            .map(alarm_row)
            .transpose()
    }

    /// Alarms by id, newest first.
    async fn alarms_by_id(&self, ids: &[i64]) -> Result<Vec<Alarm>> {
        let chunks = ids.chunks(IN_KEYS).map(|chunk| {
            let chunk = chunk.to_vec();
            async move { self.cql.rows::<AlarmRow, _>("reading alarms", &self.st.alarms_get, &(chunk,)).await }
        });
        let mut alarms =
            try_join_all(chunks).await?.into_iter().flatten().map(alarm_row).collect::<Result<Vec<_>>>()?;
        alarms.sort_by_key(|a| std::cmp::Reverse(a.id));
        Ok(alarms)
    }

    /// The next page of ids below `before`, newest first, from the listing
    /// the filter names.
    async fn alarm_ids(&self, source: &Source<'_>, before: i64, page: usize) -> Result<Vec<i64>> {
        let limit = page as i32;
        let st = &self.st;
        let rows: Vec<(i64,)> = match *source {
            Source::Open => self.cql.rows("listing open alarms", &st.open_alarms, &(before, limit)).await?,
            Source::Pile(pile) => {
                self.cql.rows("listing a pile's alarms", &st.alarms_by_pile, &(pile, before, limit)).await?
            }
            Source::Station(station) => {
                self.cql
                    .rows("listing a station's alarms", &st.alarms_by_station, &(station, before, limit))
                    .await?
            }
            Source::All => {
                let low = before.saturating_sub(page as i64).max(1);
                return Ok((low..before).rev().collect());
            }
        };
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Pages through the narrowest listing for the filter, fetching each
    /// page's alarms by id and keeping those the filter takes, until
    /// `limit` are found or the listing ends. `open` lists from the open
    /// alarms (few); otherwise a pile's listing (a pile belongs to one
    /// station), a station's, or every id counting down.
    pub(super) async fn alarms(&self, f: &AlarmFilter) -> Result<Vec<Alarm>> {
        if f.limit == 0 {
            return Ok(Vec::new());
        }
        let source = match (&f.pile_id, f.station_id) {
            _ if f.open => Source::Open,
            (Some(pile), _) => Source::Pile(pile.as_str()),
            (None, Some(station)) => Source::Station(station),
            (None, None) => Source::All,
        };
        let mut before = f.before.unwrap_or(i64::MAX);
        if matches!(source, Source::All) {
            let next =
                self.cql.row::<(Option<i64>,), _>("reading the alarm ids", &self.st.seq_get, ("alarms",));
            before = before.min(next.await?.and_then(|r| r.0).unwrap_or(1));
        }
        let page = f.limit.clamp(16, IN_KEYS);
        let mut out = Vec::new();
        loop {
            let ids = self.alarm_ids(&source, before, page).await?;
            let Some(&last) = ids.last() else {
                return Ok(out);
            };
            for alarm in self.alarms_by_id(&ids).await? {
                let takes = f.station_id.is_none_or(|s| alarm.alarm.station_id == s)
                    && f.pile_id.as_ref().is_none_or(|p| alarm.alarm.pile_id.as_ref() == Some(p))
                    && (!f.open || alarm.cleared_at.is_none());
                if takes {
                    out.push(alarm);
                    if out.len() == f.limit {
                        return Ok(out);
                    }
                }
            }
            if ids.len() < page || last <= 1 {
                return Ok(out);
            }
            before = last;
        }
    }
}

type StationRow =
    (i64, String, i64, i32, String, String, i64, Option<String>, Option<i64>, Option<String>, Option<i64>);

fn station_row(row: StationRow) -> Result<Station> {
    let (id, name, tariff_id, utc_offset_minutes, fee, minimum, created_at, power, merchant_id, details, op) =
        row;
    Ok(Station {
        id,
        operator_id: op.unwrap_or(vocab::DEFAULT_OPERATOR),
        name,
        tariff_id,
        utc_offset_minutes,
        service_fee: decimal("service_fee", &fee)?,
        minimum_charge: decimal("minimum_charge", &minimum)?,
        created_at: time("created_at", created_at)?,
        power: power.map(|p| json("power", &p)).transpose()?,
        merchant_id,
        details: details.map(|d| json("details", &d)).transpose()?,
    })
}
