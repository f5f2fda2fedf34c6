//! Alarms on CQL: an alarm's row and its listings (by pile, by station, by
//! state) in one logged batch; acknowledging and clearing are lightweight
//! transactions so the first time is kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;

use super::codec::{micros, name, opt_small, opt_time, time};
use super::cql::IN_KEYS;
use super::{Db, ScyllaStore, Seq};
use crate::{Alarms, Result, StoreError};
use domain::alarm::{Alarm, AlarmFilter, AlarmId, NewAlarm};
use vocab::{PileId, PortNo, Severity, StationId};

/// A row in `statements::alarms::ALARM_COLUMNS` order.
type AlarmRow =
    (i64, i64, Option<String>, Option<i32>, String, String, String, i64, Option<i64>, Option<i64>);

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

pub(super) enum AlarmMark {
    Acknowledged,
    Cleared,
}

impl Db {
    pub(super) async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>> {
        self.cql
            .row::<AlarmRow, _>("reading an alarm", &self.st.alarms.alarm_get, (id,))
            .await?
            .map(alarm_row)
            .transpose()
    }

    /// Alarms by id, newest first.
    async fn alarms_by_id(&self, ids: &[i64]) -> Result<Vec<Alarm>> {
        let chunks = ids.chunks(IN_KEYS).map(|chunk| {
            let chunk = chunk.to_vec();
            async move {
                self.cql.rows::<AlarmRow, _>("reading alarms", &self.st.alarms.alarms_get, &(chunk,)).await
            }
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
            Source::Open => {
                self.cql.rows("listing open alarms", &st.alarms.open_alarms, &(before, limit)).await?
            }
            Source::Pile(pile) => {
                self.cql
                    .rows("listing a pile's alarms", &st.alarms.alarms_by_pile, &(pile, before, limit))
                    .await?
            }
            Source::Station(station) => {
                self.cql
                    .rows(
                        "listing a station's alarms",
                        &st.alarms.alarms_by_station,
                        &(station, before, limit),
                    )
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

    pub(super) async fn raise_alarm(&self, a: &NewAlarm) -> Result<Alarm> {
        let pile = async {
            match &a.pile_id {
                Some(pile) => {
                    self.exists_text("reading a pile", &self.st.resources.pile_exists, pile.as_str()).await
                }
                None => Ok(true),
            }
        };
        let (pile, station) = tokio::join!(
            pile,
            self.exists_id("reading a station", &self.st.resources.station_exists, a.station_id)
        );
        if !(pile? && station?) {
            return Err(StoreError::NotFound(format!("the alarm's station {} or pile", a.station_id)));
        }
        let id = self.next_id(Seq::Alarms).await?;
        let ts = self.cql.clock.next();
        let row = (
            id,
            a.station_id,
            a.pile_id.as_ref().map(|p| p.as_str()),
            a.port.map(|p| i32::from(p.0)),
            a.kind.as_str(),
            a.severity.as_str(),
            a.message.as_str(),
            micros(a.raised_at),
            ts,
        );
        let (by_station, open) = ((a.station_id, id, ts), (id, ts));
        let at = micros(a.raised_at);
        let pile = a.pile_id.as_ref().map(|p| p.as_str());
        let by_month = (a.station_id, super::reports::month(a.raised_at), at, id, pile, a.kind.as_str(), ts);
        match &a.pile_id {
            Some(pile) => {
                let values = (row, by_station, (pile.as_str(), id, ts), open, by_month);
                self.cql.batch("raising an alarm", &self.st.alarms.alarm_raise, values).await?;
            }
            None => {
                let values = (row, by_station, open, by_month);
                self.cql.batch("raising an alarm", &self.st.alarms.alarm_raise_station, values).await?;
            }
        }
        Ok(Alarm { id, alarm: a.clone(), acknowledged_at: None, cleared_at: None })
    }

    /// Sets the time with a compare-and-set on `IF ... = null`, so of two
    /// operators acknowledging at once the first stands, as in SQLite.
    pub(super) async fn mark_alarm(
        &self,
        id: AlarmId,
        mark: AlarmMark,
        at: DateTime<Utc>,
    ) -> Result<Option<Alarm>> {
        let Some(alarm) = self.alarm(id).await? else {
            return Ok(None);
        };
        let values = (micros(at), id, alarm.alarm.station_id);
        match mark {
            AlarmMark::Acknowledged => {
                self.cql.lwt("acknowledging an alarm", &self.st.alarms.alarm_ack, values).await?;
            }
            AlarmMark::Cleared => {
                self.cql.lwt("clearing an alarm", &self.st.alarms.alarm_clear, values).await?;
                // Whoever cleared it, it is not open: the removal is idempotent.
                let ts = self.cql.clock.next();
                self.cql
                    .write("unlisting an open alarm", &self.st.alarms.open_alarm_delete, (ts, id))
                    .await?;
            }
        }
        self.alarm(id).await
    }
}

#[async_trait]
impl Alarms for ScyllaStore {
    async fn raise_alarm(&self, alarm: &NewAlarm) -> Result<Alarm> {
        let db = &self.db;
        db.cql.count(db.raise_alarm(alarm).await)
    }

    async fn alarm(&self, id: AlarmId) -> Result<Option<Alarm>> {
        self.db.alarm(id).await
    }

    async fn alarms(&self, filter: &AlarmFilter) -> Result<Vec<Alarm>> {
        self.db.alarms(filter).await
    }

    async fn acknowledge_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let db = &self.db;
        db.cql.count(db.mark_alarm(id, AlarmMark::Acknowledged, at).await)
    }

    async fn clear_alarm(&self, id: AlarmId, at: DateTime<Utc>) -> Result<Option<Alarm>> {
        let db = &self.db;
        db.cql.count(db.mark_alarm(id, AlarmMark::Cleared, at).await)
    }
}
