//! The SQL of what operators set up: operators, tariffs, plans, stations,
//! piles, merchants and price rules, editing them, taking things out of
//! service, and piles' offline card lists.

use super::write::{broke, Broke};
use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

use super::codec::{decimal, json, micros, name, time, to_json};
use super::{now, SqliteStore, StationDetails};
use crate::{Item, ItemKind, NewStation, PileRecord, Resources, Result, Station, StoreError};
use domain::accounts::{Merchant, NewRule, Operator, Rule, Status};
use domain::allocation::PowerConfig;
use domain::pricing::{PlanId, PricePlan, Pricing};
use domain::tariff::{Tariff, TouPrices};
use vocab::{MerchantId, OperatorId, PileId, Protocol, StationId, TariffId};

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

const TARIFF: &str = "SELECT id, operator_id, name, tou FROM tariffs";

fn tariff_row(r: &Row) -> rusqlite::Result<Tariff> {
    Ok(Tariff { id: r.get(0)?, operator_id: r.get(1)?, name: r.get(2)?, tou: json(r, 3)? })
}

pub(super) fn tariff(c: &Connection, id: TariffId) -> rusqlite::Result<Option<Tariff>> {
    c.prepare_cached(&format!("{TARIFF} WHERE id = ?1"))?.query_row([id], tariff_row).optional()
}

pub(super) fn tariffs(c: &Connection) -> rusqlite::Result<Vec<Tariff>> {
    c.prepare_cached(&format!("{TARIFF} ORDER BY id"))?.query_map([], tariff_row)?.collect()
}

const STATION: &str =
    "SELECT id, name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at, power,
                merchant_id, details, operator_id
         FROM stations";

pub(super) fn stations(c: &Connection) -> rusqlite::Result<Vec<Station>> {
    c.prepare_cached(&format!("{STATION} ORDER BY id"))?.query_map([], station_row)?.collect()
}

pub(super) fn station(c: &Connection, id: StationId) -> rusqlite::Result<Option<Station>> {
    c.prepare_cached(&format!("{STATION} WHERE id = ?1"))?.query_row([id], station_row).optional()
}

fn station_row(r: &Row) -> rusqlite::Result<Station> {
    {
        Ok(Station {
            id: r.get(0)?,
            operator_id: r.get(10)?,
            name: r.get(1)?,
            tariff_id: r.get(2)?,
            utc_offset_minutes: r.get(3)?,
            service_fee: decimal(r, 4)?,
            minimum_charge: decimal(r, 5)?,
            created_at: time(r, 6)?,
            power: match r.get_ref(7)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(json(r, 7)?),
            },
            merchant_id: r.get(8)?,
            details: match r.get_ref(9)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(json(r, 9)?),
            },
        })
    }
}

const PLAN: &str = "SELECT id, operator_id, name, pricing FROM plans";

fn plan_row(r: &Row) -> rusqlite::Result<PricePlan> {
    Ok(PricePlan { id: r.get(0)?, operator_id: r.get(1)?, name: r.get(2)?, pricing: json(r, 3)? })
}

pub(super) fn plan(c: &Connection, id: PlanId) -> rusqlite::Result<Option<PricePlan>> {
    c.prepare_cached(&format!("{PLAN} WHERE id = ?1"))?.query_row([id], plan_row).optional()
}

pub(super) fn plans(c: &Connection) -> rusqlite::Result<Vec<PricePlan>> {
    c.prepare_cached(&format!("{PLAN} ORDER BY id"))?.query_map([], plan_row)?.collect()
}

const PILE_COLUMNS: &str = "id, station_id, protocol, ports, created_at";

fn pile_row(r: &Row) -> rusqlite::Result<PileRecord> {
    Ok(PileRecord {
        id: PileId(r.get(0)?),
        station_id: r.get(1)?,
        protocol: name(r, 2, Protocol::parse)?,
        ports: r.get(3)?,
        created_at: time(r, 4)?,
    })
}

pub(super) fn pile(c: &Connection, id: &PileId) -> rusqlite::Result<Option<PileRecord>> {
    c.prepare_cached(&format!("SELECT {PILE_COLUMNS} FROM piles WHERE id = ?1"))?
        .query_row([id.as_str()], pile_row)
        .optional()
}

pub(super) fn piles(c: &Connection) -> rusqlite::Result<Vec<PileRecord>> {
    c.prepare_cached(&format!("SELECT {PILE_COLUMNS} FROM piles ORDER BY id"))?
        .query_map([], pile_row)?
        .collect()
}

pub(super) fn create_tariff(
    c: &Connection,
    operator_id: OperatorId,
    name: String,
    tou: TouPrices,
    at: DateTime<Utc>,
) -> Result<Tariff> {
    c.prepare_cached("INSERT INTO tariffs (operator_id, name, tou, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![operator_id, name, to_json(&tou)?, micros(at)])?;
    Ok(Tariff { id: c.last_insert_rowid(), operator_id, name, tou })
}

pub(super) fn create_station(c: &Connection, station: NewStation, at: DateTime<Utc>) -> Result<Station> {
    c.prepare_cached(
        "INSERT INTO stations (name, tariff_id, utc_offset_minutes, service_fee, minimum_charge, created_at,
                               merchant_id, details, operator_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        station.name,
        station.tariff_id,
        station.utc_offset_minutes,
        station.service_fee.to_string(),
        station.minimum_charge.to_string(),
        micros(at),
        station.merchant_id,
        station.details.as_ref().map(to_json).transpose()?,
        station.operator_id,
    ])
    .map_err(|e| match broke(&e) {
        Some(Broke::Parent) => StoreError::NotFound(format!("tariff {} or merchant", station.tariff_id)),
        _ => e.into(),
    })?;
    Ok(Station {
        id: c.last_insert_rowid(),
        operator_id: station.operator_id,
        name: station.name,
        tariff_id: station.tariff_id,
        utc_offset_minutes: station.utc_offset_minutes,
        service_fee: station.service_fee,
        minimum_charge: station.minimum_charge,
        merchant_id: station.merchant_id,
        details: station.details,
        power: None,
        created_at: at,
    })
}

pub(super) fn create_plan(
    c: &Connection,
    operator_id: OperatorId,
    name: String,
    pricing: Pricing,
    at: DateTime<Utc>,
) -> Result<PricePlan> {
    c.prepare_cached("INSERT INTO plans (operator_id, name, pricing, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![operator_id, name, to_json(&pricing)?, micros(at)])?;
    Ok(PricePlan { id: c.last_insert_rowid(), operator_id, name, pricing })
}

pub(super) fn create_pile(c: &Connection, pile: &PileRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO piles (id, station_id, protocol, ports, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        pile.id.as_str(),
        pile.station_id,
        pile.protocol.as_str(),
        pile.ports,
        micros(pile.created_at)
    ])
    .map_err(|e| match broke(&e) {
        Some(Broke::Key) => StoreError::Conflict(format!("pile {}", pile.id)),
        Some(Broke::Parent) => StoreError::NotFound(format!("station {}", pile.station_id)),
        None => e.into(),
    })?;
    Ok(())
}

pub(super) fn set_station_power(
    c: &Connection,
    id: StationId,
    power: Option<&PowerConfig>,
) -> Result<Option<Station>> {
    let json = power.map(to_json).transpose()?;
    c.prepare_cached("UPDATE stations SET power = ?2 WHERE id = ?1")?.execute(params![id, json])?;
    Ok(station(c, id)?)
}

pub(super) fn set_station_details(
    c: &Connection,
    id: StationId,
    details: Option<&StationDetails>,
) -> Result<Option<Station>> {
    let json = details.map(to_json).transpose()?;
    c.prepare_cached("UPDATE stations SET details = ?2 WHERE id = ?1")?.execute(params![id, json])?;
    Ok(station(c, id)?)
}

pub(super) fn set_station_tariff(c: &Connection, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
    c.prepare_cached("UPDATE stations SET tariff_id = ?2 WHERE id = ?1")?
        .execute(params![id, tariff])
        .map_err(|e| match broke(&e) {
            Some(Broke::Parent) => StoreError::NotFound(format!("tariff {tariff}")),
            _ => e.into(),
        })?;
    Ok(station(c, id)?)
}

pub(super) fn create_merchant(
    c: &Connection,
    operator_id: OperatorId,
    name: String,
    pct: Decimal,
    at: DateTime<Utc>,
) -> Result<Merchant> {
    c.prepare_cached(
        "INSERT INTO merchants (operator_id, name, commission_percent, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![operator_id, name, pct.to_string(), micros(at)])?;
    Ok(Merchant { id: c.last_insert_rowid(), operator_id, name, commission_percent: pct, created_at: at })
}

const MERCHANT: &str = "SELECT id, operator_id, name, commission_percent, created_at FROM merchants";

fn merchant_row(r: &Row) -> rusqlite::Result<Merchant> {
    Ok(Merchant {
        id: r.get(0)?,
        operator_id: r.get(1)?,
        name: r.get(2)?,
        commission_percent: decimal(r, 3)?,
        created_at: time(r, 4)?,
    })
}

pub(super) fn merchants(c: &Connection) -> rusqlite::Result<Vec<Merchant>> {
    c.prepare_cached(&format!("{MERCHANT} ORDER BY id"))?.query_map([], merchant_row)?.collect()
}

pub(super) fn merchant(c: &Connection, id: MerchantId) -> rusqlite::Result<Option<Merchant>> {
    c.prepare_cached(&format!("{MERCHANT} WHERE id = ?1"))?.query_row([id], merchant_row).optional()
}

pub(super) fn create_rule(c: &Connection, rule: NewRule, at: DateTime<Utc>) -> Result<Rule> {
    c.prepare_cached("INSERT INTO rules (rule, created_at) VALUES (?1, ?2)")?
        .execute(params![to_json(&rule)?, micros(at)])?;
    Ok(Rule { id: c.last_insert_rowid(), rule })
}

pub(super) fn update_rule(c: &Connection, rule: &Rule) -> Result<bool> {
    let changed = c
        .prepare_cached("UPDATE rules SET rule = ?2 WHERE id = ?1")?
        .execute(params![rule.id, to_json(&rule.rule)?])?;
    Ok(changed == 1)
}

pub(super) fn rules(c: &Connection) -> rusqlite::Result<Vec<Rule>> {
    c.prepare_cached("SELECT id, rule FROM rules ORDER BY id")?
        .query_map([], |r| Ok(Rule { id: r.get(0)?, rule: json(r, 1)? }))?
        .collect()
}

/// Operator 1 comes with the schema; see V12.
pub(super) fn create_operator(c: &Connection, name: String, at: DateTime<Utc>) -> Result<Operator> {
    c.prepare_cached("INSERT INTO operators (name, status, created_at) VALUES (?1, 'active', ?2)")?
        .execute(params![name, micros(at)])?;
    Ok(Operator { id: c.last_insert_rowid(), name, status: Status::Active, created_at: at })
}

const OPERATOR: &str = "SELECT id, name, status, created_at FROM operators";

fn operator_row(r: &Row) -> rusqlite::Result<Operator> {
    Ok(Operator {
        id: r.get(0)?,
        name: r.get(1)?,
        status: name(r, 2, Status::parse)?,
        created_at: time(r, 3)?,
    })
}

pub(super) fn operator(c: &Connection, id: OperatorId) -> rusqlite::Result<Option<Operator>> {
    c.prepare_cached(&format!("{OPERATOR} WHERE id = ?1"))?.query_row([id], operator_row).optional()
}

pub(super) fn operators(c: &Connection) -> rusqlite::Result<Vec<Operator>> {
    c.prepare_cached(&format!("{OPERATOR} ORDER BY id"))?.query_map([], operator_row)?.collect()
}

pub(super) fn update_operator(
    c: &Connection,
    id: OperatorId,
    name: String,
    status: Status,
) -> Result<Option<Operator>> {
    c.prepare_cached("UPDATE operators SET name = ?2, status = ?3 WHERE id = ?1")?.execute(params![
        id,
        name,
        status.as_str()
    ])?;
    Ok(operator(c, id)?)
}

#[async_trait]
impl Resources for SqliteStore {
    async fn create_operator(&self, name: &str) -> Result<Operator> {
        let (name, at) = (name.to_owned(), now());
        self.writer.submit(move |c| create_operator(c, name, at)).await
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>> {
        self.readers.read(move |c| operator(c, id)).await
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        self.readers.read(operators).await
    }

    async fn update_operator(&self, id: OperatorId, name: &str, status: Status) -> Result<Option<Operator>> {
        let name = name.to_owned();
        self.writer.submit(move |c| update_operator(c, id, name, status)).await
    }

    async fn create_tariff(&self, operator: OperatorId, name: &str, tou: &TouPrices) -> Result<Tariff> {
        let (name, tou, at) = (name.to_owned(), tou.clone(), now());
        self.writer.submit(move |c| create_tariff(c, operator, name, tou, at)).await
    }

    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        self.readers.read(move |c| tariff(c, id)).await
    }

    async fn tariffs(&self) -> Result<Vec<Tariff>> {
        self.readers.read(tariffs).await
    }

    async fn create_plan(&self, operator: OperatorId, name: &str, pricing: &Pricing) -> Result<PricePlan> {
        let (name, pricing, at) = (name.to_owned(), pricing.clone(), now());
        self.writer.submit(move |c| create_plan(c, operator, name, pricing, at)).await
    }

    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        self.readers.read(move |c| plan(c, id)).await
    }

    async fn plans(&self) -> Result<Vec<PricePlan>> {
        self.readers.read(plans).await
    }

    async fn create_station(&self, station: &NewStation) -> Result<Station> {
        let (station, at) = (station.clone(), now());
        self.writer.submit(move |c| create_station(c, station, at)).await
    }

    async fn station(&self, id: StationId) -> Result<Option<Station>> {
        self.readers.read(move |c| station(c, id)).await
    }

    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
        self.writer.submit(move |c| set_station_tariff(c, id, tariff)).await
    }

    async fn stations(&self) -> Result<Vec<Station>> {
        self.readers.read(stations).await
    }

    async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&StationDetails>,
    ) -> Result<Option<Station>> {
        let details = details.cloned();
        self.writer.submit(move |c| set_station_details(c, id, details.as_ref())).await
    }

    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>> {
        let power = power.cloned();
        self.writer.submit(move |c| set_station_power(c, id, power.as_ref())).await
    }

    async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        let pile = pile.clone();
        self.writer.submit(move |c| create_pile(c, &pile)).await
    }

    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>> {
        let id = id.clone();
        self.readers.read(move |c| pile(c, &id)).await
    }

    async fn piles(&self) -> Result<Vec<PileRecord>> {
        self.readers.read(piles).await
    }

    async fn create_merchant(
        &self,
        operator: OperatorId,
        name: &str,
        commission_percent: Decimal,
    ) -> Result<Merchant> {
        let (name, at) = (name.to_owned(), now());
        self.writer.submit(move |c| create_merchant(c, operator, name, commission_percent, at)).await
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        self.readers.read(move |c| merchant(c, id)).await
    }

    async fn merchants(&self) -> Result<Vec<Merchant>> {
        self.readers.read(merchants).await
    }

    async fn create_rule(&self, rule: &NewRule) -> Result<Rule> {
        let (rule, at) = (rule.clone(), now());
        self.writer.submit(move |c| create_rule(c, rule, at)).await
    }

    async fn rules(&self) -> Result<Vec<Rule>> {
        self.readers.read(rules).await
    }

    async fn update_rule(&self, rule: &Rule) -> Result<bool> {
        let rule = rule.clone();
        self.writer.submit(move |c| update_rule(c, &rule)).await
    }

    async fn update_station(&self, station: &Station) -> Result<bool> {
        let station = station.clone();
        self.writer.submit(move |c| update_station(c, &station)).await
    }

    async fn update_tariff(&self, tariff: &Tariff) -> Result<bool> {
        let tariff = tariff.clone();
        self.writer.submit(move |c| update_tariff(c, &tariff)).await
    }

    async fn update_plan(&self, plan: &PricePlan) -> Result<bool> {
        let plan = plan.clone();
        self.writer.submit(move |c| update_plan(c, &plan)).await
    }

    async fn update_merchant(&self, merchant: &Merchant) -> Result<bool> {
        let merchant = merchant.clone();
        self.writer.submit(move |c| update_merchant(c, &merchant)).await
    }

    async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()> {
        let item = item.clone();
        self.writer.submit(move |c| set_out_of_service(c, &item, since)).await
    }

    async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>> {
        let item = item.clone();
        self.readers.read(move |c| out_of_service(c, &item)).await
    }

    async fn out_of_service_all(&self, kind: ItemKind) -> Result<HashMap<String, DateTime<Utc>>> {
        self.readers.read(move |c| out_of_service_all(c, kind)).await
    }

    async fn set_offline_cards(&self, pile: &PileId, cards: &[String], listed: bool) -> Result<()> {
        let (pile, cards) = (pile.clone(), cards.to_vec());
        self.writer.submit(move |c| set_offline_cards(c, &pile, &cards, listed)).await
    }

    async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>> {
        let pile = pile.clone();
        self.readers.read(move |c| offline_cards(c, &pile)).await
    }
}
