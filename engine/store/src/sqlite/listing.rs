//! Listing sessions for the console (`Store::list_sessions`), revoking a
//! login token at sign-out, and editing a price rule, in SQL. The list's WHERE is built from the
//! filter's fields that are set, so SQLite can walk `sessions_created`
//! (or `sessions_station_created`) newest first and stop at the limit.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::codec::{self, micros, SESSION_COLUMNS};
use crate::{Result, SessionFilter};
use domain::session::SessionRecord;

pub(super) fn list_sessions(c: &Connection, f: &SessionFilter) -> rusqlite::Result<Vec<SessionRecord>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut arg = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(stations) = &f.stations {
        if stations.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = stations.iter().map(|s| s.to_string()).collect();
        clauses.push(format!(
            "station_id IN (SELECT value FROM json_each({}))",
            arg(format!("[{}]", list.join(",")).into())
        ));
    }
    if let Some(p) = &f.pile {
        clauses.push(format!("pile_id = {}", arg(p.as_str().to_owned().into())));
    }
    if let Some(d) = f.driver {
        clauses.push(format!(
            "id IN (SELECT session_id FROM driver_sessions WHERE driver_id = {})",
            arg(d.into())
        ));
    }
    if let Some(s) = f.state {
        clauses.push(format!("state = {}", arg(s.as_str().to_owned().into())));
    }
    if let Some(t) = f.from {
        clauses.push(format!("created_at >= {}", arg(micros(t).into())));
    }
    if let Some(t) = f.until {
        clauses.push(format!("created_at < {}", arg(micros(t).into())));
    }
    if let Some((at, id)) = &f.before {
        let (at, id) = (arg(micros(*at).into()), arg(id.as_str().to_owned().into()));
        clauses.push(format!("(created_at < {at} OR (created_at = {at} AND id < {id}))"));
    }
    let limit = arg(i64::try_from(f.limit).unwrap_or(i64::MAX).into());
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions {filter} ORDER BY created_at DESC, id DESC LIMIT {limit}"
    );
    c.prepare_cached(&sql)?.query_map(params_from_iter(args), codec::session)?.collect()
}

pub(super) fn revoke_token(c: &Connection, hash: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM tokens WHERE hash = ?1")?.execute([hash])?;
    Ok(())
}

pub(super) fn update_rule(c: &Connection, rule: &domain::accounts::Rule) -> Result<bool> {
    let changed = c
        .prepare_cached("UPDATE rules SET rule = ?2 WHERE id = ?1")?
        .execute(rusqlite::params![rule.id, codec::to_json(&rule.rule)?])?;
    Ok(changed == 1)
}
