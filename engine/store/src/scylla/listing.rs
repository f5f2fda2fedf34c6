//! Listing sessions for the console (`Sessions::list_sessions`) and revoking a
//! login token at sign-out, over CQL.
//!
//! `sessions_by_station_month` (schema V12) keeps each session's id under
//! its station and UTC month of creation, newest first, and
//! `session_months` which months a station has any, so a listing reads,
//! per station, only months that hold sessions, newest first, each a slice
//! of one partition, and stops once it has `limit`. A driver's sessions
//! come from `sessions_by_driver` instead. The other filters (pile, state)
//! are checked on the session rows read. Both index rows are written when
//! a session is inserted or imported; sessions stored before V12 are not
//! listed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use scylla::statement::prepared::PreparedStatement;

use super::codec::micros;
use super::reports::month;
use super::statements::{Class, Preparer};
use super::Db;
use crate::{Result, SessionFilter};
use domain::session::SessionRecord;
use vocab::{SessionId, StationId};

pub(super) struct ListingStatements {
    index_insert: PreparedStatement,
    month_insert: PreparedStatement,
    months: PreparedStatement,
    by_station: PreparedStatement,
    by_driver: PreparedStatement,
    token_revoke: PreparedStatement,
}

impl ListingStatements {
    pub(super) async fn prepare(p: &Preparer<'_>) -> Result<Self> {
        let index_insert = p
            .prepare(
                Class::Money,
                true,
                "INSERT INTO sessions_by_station_month (station_id, month, created_at, session_id) \
                 VALUES (?, ?, ?, ?)",
            )
            .await?;
        let month_insert = p
            .prepare(Class::Money, true, "INSERT INTO session_months (station_id, month) VALUES (?, ?)")
            .await?;
        let months =
            p.prepare(Class::Money, true, "SELECT month FROM session_months WHERE station_id = ?").await?;
        let by_station = p
            .prepare(
                Class::Money,
                true,
                "SELECT created_at, session_id FROM sessions_by_station_month \
                 WHERE station_id = ? AND month = ? \
                 AND (created_at, session_id) < (?, ?) AND (created_at) >= (?) LIMIT ?",
            )
            .await?;
        let by_driver = p
            .prepare(
                Class::Money,
                true,
                "SELECT created_at, session_id FROM sessions_by_driver WHERE driver_id = ? \
                 AND (created_at, session_id) < (?, ?) AND (created_at) >= (?) LIMIT ?",
            )
            .await?;
        let token_revoke = p.prepare(Class::Money, true, "DELETE FROM tokens WHERE hash = ?").await?;
        Ok(ListingStatements { index_insert, month_insert, months, by_station, by_driver, token_revoke })
    }
}

/// Where a listing starts (exclusive) and stops (inclusive): creation time
/// in microseconds, and the id below which sessions of that instant count.
struct Bounds {
    upper: (i64, String),
    lower: i64,
}

impl Bounds {
    fn of(f: &SessionFilter) -> Bounds {
        let mut upper = (i64::MAX, String::new());
        if let Some(u) = f.until {
            upper = (micros(u), String::new());
        }
        if let Some((at, id)) = &f.before {
            upper = upper.min((micros(*at), id.as_str().to_owned()));
        }
        Bounds { upper, lower: f.from.map(micros).unwrap_or(i64::MIN) }
    }

    fn upper_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.upper.0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl Db {
    /// Lists a new session under its station and month.
    pub(super) async fn index_session(&self, s: &SessionRecord) -> Result<()> {
        let m = month(s.created_at);
        let index = (s.station_id, m, micros(s.created_at), s.id.as_str());
        let (a, b) = tokio::join!(
            self.cql.write("listing a session", &self.listing.index_insert, index),
            self.cql.write("listing a session's month", &self.listing.month_insert, (s.station_id, m)),
        );
        a.and(b)
    }

    pub(super) async fn revoke_token(&self, hash: &str) -> Result<()> {
        self.cql.write("revoking a token", &self.listing.token_revoke, (hash,)).await
    }

    pub(super) async fn list_sessions(&self, f: &SessionFilter) -> Result<Vec<SessionRecord>> {
        if f.limit == 0 {
            return Ok(Vec::new());
        }
        let bounds = Bounds::of(f);
        let mut found = match f.driver {
            Some(driver) => {
                let stations = f.stations.as_ref().map(|s| s.iter().copied().collect::<HashSet<_>>());
                let keep =
                    |s: &SessionRecord| stations.as_ref().is_none_or(|set| set.contains(&s.station_id));
                self.walk(f, &bounds, keep, |upper, limit| {
                    let values = (driver, upper.0, upper.1.clone(), bounds.lower, limit);
                    async move {
                        self.cql
                            .rows::<(i64, String), _>(
                                "listing a driver's sessions",
                                &self.listing.by_driver,
                                &values,
                            )
                            .await
                    }
                })
                .await?
            }
            None => {
                let stations = match &f.stations {
                    Some(s) => s.clone(),
                    None => self.stations().await?.into_iter().map(|s| s.id).collect(),
                };
                let mut all = Vec::new();
                for station in stations {
                    all.extend(self.station_sessions(f, &bounds, station).await?);
                }
                all
            }
        };
        found.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        found.truncate(f.limit);
        Ok(found)
    }

    /// A station's sessions the filter keeps, newest first, at most `limit`:
    /// month by month from the newest the bounds allow.
    async fn station_sessions(
        &self,
        f: &SessionFilter,
        b: &Bounds,
        station: StationId,
    ) -> Result<Vec<SessionRecord>> {
        let mut months: Vec<i32> = self
            .cql
            .rows::<(i32,), _>("reading a station's session months", &self.listing.months, &(station,))
            .await?
            .into_iter()
            .map(|(m,)| m)
            .collect();
        let (top, bottom) =
            (month(b.upper_time()), DateTime::from_timestamp_micros(b.lower).map_or(i32::MIN, month));
        months.retain(|m| (bottom..=top).contains(m));
        months.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        for m in months {
            let need = f.limit - out.len();
            let got = self
                .walk(
                    f,
                    b,
                    |_| true,
                    |upper, limit| {
                        let values = (station, m, upper.0, upper.1.clone(), b.lower, limit);
                        async move {
                            self.cql
                                .rows::<(i64, String), _>(
                                    "listing a station's sessions",
                                    &self.listing.by_station,
                                    &values,
                                )
                                .await
                        }
                    },
                )
                .await?;
            out.extend(got.into_iter().take(need));
            if out.len() >= f.limit {
                break;
            }
        }
        Ok(out)
    }

    /// Reads an index newest first, a slice at a time, resolving ids to
    /// sessions and keeping those the filter (and `keep`) keeps, until it
    /// has `limit` or the index runs out.
    async fn walk<Fut>(
        &self,
        f: &SessionFilter,
        b: &Bounds,
        keep: impl Fn(&SessionRecord) -> bool,
        slice: impl Fn(&(i64, String), i32) -> Fut,
    ) -> Result<Vec<SessionRecord>>
    where
        Fut: std::future::Future<Output = Result<Vec<(i64, String)>>>,
    {
        let mut out = Vec::new();
        let mut upper = b.upper.clone();
        let step = i32::try_from(f.limit.clamp(16, 1000)).unwrap_or(1000);
        loop {
            let ids = slice(&upper, step).await?;
            let Some(last) = ids.last().cloned() else { return Ok(out) };
            let exhausted = ids.len() < step as usize;
            for (_, id) in ids {
                let Some(s) = self.session(&SessionId(id)).await? else { continue };
                if f.keeps(&s) && keep(&s) {
                    out.push(s);
                    if out.len() >= f.limit {
                        return Ok(out);
                    }
                }
            }
            if exhausted {
                return Ok(out);
            }
            upper = last;
        }
    }
}
