//! The SQL of editing what operators set up: stations, tariffs, plans and
//! merchants, taking things out of service, and piles' offline card lists.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{micros, time, to_json};
use crate::{Item, ItemKind, Result, Station, StoreError};
use domain::accounts::Merchant;
use domain::pricing::PricePlan;
use domain::tariff::Tariff;
use vocab::PileId;

pub(super) fn update_station(c: &Connection, s: &Station) -> Result<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE stations SET name = ?2, utc_offset_minutes = ?3, service_fee = ?4, minimum_charge = ?5,
                                 merchant_id = ?6
             WHERE id = ?1",
        )?
        .execute(params![
            s.id,
            s.name,
            s.utc_offset_minutes,
            s.service_fee.to_string(),
            s.minimum_charge.to_string(),
            s.merchant_id
        ])
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::NotFound(format!("merchant {:?}", s.merchant_id))
            }
            _ => e.into(),
        })?;
    Ok(changed == 1)
}

pub(super) fn update_tariff(c: &Connection, t: &Tariff) -> Result<bool> {
    let sql = "UPDATE tariffs SET name = ?2, tou = ?3 WHERE id = ?1";
    Ok(c.prepare_cached(sql)?.execute(params![t.id, t.name, to_json(&t.tou)?])? == 1)
}

pub(super) fn update_plan(c: &Connection, p: &PricePlan) -> Result<bool> {
    let sql = "UPDATE plans SET name = ?2, pricing = ?3 WHERE id = ?1";
    Ok(c.prepare_cached(sql)?.execute(params![p.id, p.name, to_json(&p.pricing)?])? == 1)
}

pub(super) fn update_merchant(c: &Connection, m: &Merchant) -> Result<bool> {
    let sql = "UPDATE merchants SET name = ?2, commission_percent = ?3 WHERE id = ?1";
    Ok(c.prepare_cached(sql)?.execute(params![m.id, m.name, m.commission_percent.to_string()])? == 1)
}

pub(super) fn set_out_of_service(c: &Connection, item: &Item, since: Option<DateTime<Utc>>) -> Result<()> {
    match since {
        // The first time it went out stays: taking it out again changes nothing.
        Some(at) => c
            .prepare_cached("INSERT OR IGNORE INTO out_of_service (kind, key, since) VALUES (?1, ?2, ?3)")?
            .execute(params![item.kind.as_str(), item.key, micros(at)])?,
        None => c
            .prepare_cached("DELETE FROM out_of_service WHERE kind = ?1 AND key = ?2")?
            .execute(params![item.kind.as_str(), item.key])?,
    };
    Ok(())
}

pub(super) fn out_of_service(c: &Connection, item: &Item) -> rusqlite::Result<Option<DateTime<Utc>>> {
    c.prepare_cached("SELECT since FROM out_of_service WHERE kind = ?1 AND key = ?2")?
        .query_row(params![item.kind.as_str(), item.key], |r| time(r, 0))
        .optional()
}

pub(super) fn out_of_service_all(
    c: &Connection,
    kind: ItemKind,
) -> rusqlite::Result<HashMap<String, DateTime<Utc>>> {
    c.prepare_cached("SELECT key, since FROM out_of_service WHERE kind = ?1")?
        .query_map([kind.as_str()], |r| Ok((r.get(0)?, time(r, 1)?)))?
        .collect()
}

pub(super) fn set_offline_cards(c: &Connection, pile: &PileId, cards: &[String], listed: bool) -> Result<()> {
    let sql = if listed {
        "INSERT OR IGNORE INTO offline_cards (pile_id, card) VALUES (?1, ?2)"
    } else {
        "DELETE FROM offline_cards WHERE pile_id = ?1 AND card = ?2"
    };
    let mut stmt = c.prepare_cached(sql)?;
    for card in cards {
        stmt.execute(params![pile.0, card])?;
    }
    Ok(())
}

pub(super) fn offline_cards(c: &Connection, pile: &PileId) -> rusqlite::Result<Vec<String>> {
    c.prepare_cached("SELECT card FROM offline_cards WHERE pile_id = ?1 ORDER BY card")?
        .query_map([&pile.0], |r| r.get(0))?
        .collect()
}
