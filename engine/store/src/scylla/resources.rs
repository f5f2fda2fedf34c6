//! What operators set up, on CQL: operators, tariffs, plans, stations,
//! piles, merchants and price rules (editing them, taking things out of
//! service and piles' offline card lists are `edits`). Listings of operators, tariffs and plans are scans of tables of
//! hundreds of rows, sorted here; a row from before tenants existed has no
//! operator_id and belongs to the default operator.

use super::codec::sorted;
use crate::StationDetails;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use rust_decimal::Decimal;

use super::codec::{self, dec, decimal, json, micros, name, pile_bucket, small, time, to_json};
use super::{now, Db, ScyllaStore, Seq};
use crate::{Item, ItemKind, NewStation, PileRecord, Resources, Result, Station, StoreError};
use domain::accounts::{Merchant, NewRule, Operator, Rule, Status};
use domain::allocation::PowerConfig;
use domain::pricing::{PlanId, PricePlan, Pricing};
use domain::tariff::{Tariff, TouPrices};
use vocab::{MerchantId, OperatorId, PileId, Protocol, StationId, TariffId, DEFAULT_OPERATOR};

impl Db {
    pub(super) async fn create_operator(&self, name: &str, at: DateTime<Utc>) -> Result<Operator> {
        let id = self.next_id(Seq::Operators).await?;
        let values = (id, name, Status::Active.as_str(), micros(at));
        self.cql.write("inserting an operator", &self.st.resources.operator_insert, values).await?;
        Ok(Operator { id, name: name.to_owned(), status: Status::Active, created_at: at })
    }

    pub(super) async fn operator(&self, id: OperatorId) -> Result<Option<Operator>> {
        let row = self
            .cql
            .row::<OperatorRow, _>("reading an operator", &self.st.resources.operator_get, (id,))
            .await?;
        row.map(operator_row).transpose()
    }

    pub(super) async fn operators(&self) -> Result<Vec<Operator>> {
        let rows = self
            .cql
            .rows::<OperatorRow, _>("listing operators", &self.st.resources.operator_scan, &())
            .await?;
        Ok(sorted(rows.into_iter().map(operator_row).collect::<Result<_>>()?, |o| o.id))
    }

    pub(super) async fn update_operator(
        &self,
        id: OperatorId,
        name: &str,
        status: Status,
    ) -> Result<Option<Operator>> {
        let lwt = self.cql.lwt(
            "updating an operator",
            &self.st.resources.operator_update,
            (name, status.as_str(), id),
        );
        if !lwt.await?.applied {
            return Ok(None);
        }
        self.operator(id).await
    }

    pub(super) async fn tariffs(&self) -> Result<Vec<Tariff>> {
        let rows =
            self.cql.rows::<PriceRow, _>("listing tariffs", &self.st.resources.tariff_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(tariff_row).collect::<Result<_>>()?, |t| t.id))
    }

    pub(super) async fn plans(&self) -> Result<Vec<PricePlan>> {
        let rows = self.cql.rows::<PriceRow, _>("listing plans", &self.st.resources.plan_scan, &()).await?;
        Ok(sorted(rows.into_iter().map(plan_row).collect::<Result<_>>()?, |p| p.id))
    }

    pub(super) async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        let row =
            self.cql.row::<PriceRow, _>("reading a tariff", &self.st.resources.tariff_get, (id,)).await?;
        row.map(tariff_row).transpose()
    }

    pub(super) async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        let row = self.cql.row::<PriceRow, _>("reading a plan", &self.st.resources.plan_get, (id,)).await?;
        row.map(plan_row).transpose()
    }

    pub(super) async fn station(&self, id: StationId) -> Result<Option<Station>> {
        let row =
            self.cql.row::<StationRow, _>("reading a station", &self.st.resources.station_get, (id,)).await?;
        row.map(station_row).transpose()
    }

    pub(super) async fn stations(&self) -> Result<Vec<Station>> {
        let rows =
            self.cql.rows::<StationRow, _>("listing stations", &self.st.resources.station_scan, &()).await?;
        let mut stations = rows.into_iter().map(station_row).collect::<Result<Vec<_>>>()?;
        stations.sort_by_key(|s| s.id);
        Ok(stations)
    }

    pub(super) async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>> {
        let row =
            self.cql.row::<PileRow, _>("reading a pile", &self.st.resources.pile_get, (id.as_str(),)).await?;
        row.map(pile_row).transpose()
    }

    /// Every listing bucket at once, merged by id.
    pub(super) async fn piles(&self) -> Result<Vec<PileRecord>> {
        let buckets = (0..codec::PILE_BUCKETS).map(|b| async move {
            self.cql.rows::<PileRow, _>("listing piles", &self.st.resources.pile_list, &(b,)).await
        });
        let mut piles =
            try_join_all(buckets).await?.into_iter().flatten().map(pile_row).collect::<Result<Vec<_>>>()?;
        piles.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(piles)
    }

    pub(super) async fn create_tariff(
        &self,
        operator_id: OperatorId,
        name: &str,
        tou: &TouPrices,
        at: DateTime<Utc>,
    ) -> Result<Tariff> {
        let id = self.next_id(Seq::Tariffs).await?;
        let values = (id, name, to_json(tou)?, micros(at), operator_id);
        self.cql.write("inserting a tariff", &self.st.resources.tariff_insert, values).await?;
        Ok(Tariff { id, operator_id, name: name.to_owned(), tou: tou.clone() })
    }

    pub(super) async fn create_plan(
        &self,
        operator_id: OperatorId,
        name: &str,
        pricing: &Pricing,
        at: DateTime<Utc>,
    ) -> Result<PricePlan> {
        let id = self.next_id(Seq::Plans).await?;
        let values = (id, name, to_json(pricing)?, micros(at), operator_id);
        self.cql.write("inserting a plan", &self.st.resources.plan_insert, values).await?;
        Ok(PricePlan { id, operator_id, name: name.to_owned(), pricing: pricing.clone() })
    }

    pub(super) async fn create_station(&self, s: &NewStation, at: DateTime<Utc>) -> Result<Station> {
        let merchant = async {
            match s.merchant_id {
                Some(id) => self.exists_id("reading a merchant", &self.st.money.merchant_exists, id).await,
                None => Ok(true),
            }
        };
        let (tariff, merchant) = tokio::join!(
            self.exists_id("reading a tariff", &self.st.resources.tariff_exists, s.tariff_id),
            merchant
        );
        if !tariff? {
            return Err(StoreError::NotFound(format!("tariff {}", s.tariff_id)));
        }
        if !merchant? {
            return Err(StoreError::NotFound(format!("merchant {}", s.merchant_id.unwrap_or_default())));
        }
        let id = self.next_id(Seq::Stations).await?;
        let values = (
            id,
            &s.name,
            s.tariff_id,
            s.utc_offset_minutes,
            dec(s.service_fee),
            dec(s.minimum_charge),
            micros(at),
            None::<String>,
            s.merchant_id,
            s.details.as_ref().map(to_json).transpose()?,
            s.operator_id,
        );
        self.cql.write("inserting a station", &self.st.resources.station_insert, values).await?;
        Ok(Station {
            id,
            operator_id: s.operator_id,
            name: s.name.clone(),
            tariff_id: s.tariff_id,
            utc_offset_minutes: s.utc_offset_minutes,
            service_fee: s.service_fee,
            minimum_charge: s.minimum_charge,
            merchant_id: s.merchant_id,
            details: s.details.clone(),
            power: None,
            created_at: at,
        })
    }

    /// A plain overwrite of the one column: the last operator to set it wins.
    pub(super) async fn set_station_tariff(
        &self,
        id: StationId,
        tariff: TariffId,
    ) -> Result<Option<Station>> {
        if !self.exists_id("reading a station", &self.st.resources.station_exists, id).await? {
            return Ok(None);
        }
        if !self.exists_id("reading a tariff", &self.st.resources.tariff_exists, tariff).await? {
            return Err(StoreError::NotFound(format!("tariff {tariff}")));
        }
        self.cql
            .write("moving a station to a tariff", &self.st.resources.station_tariff, (tariff, id))
            .await?;
        self.station(id).await
    }

    pub(super) async fn set_station_power(
        &self,
        id: StationId,
        power: Option<&PowerConfig>,
    ) -> Result<Option<Station>> {
        // An UPDATE would create a row for an unknown id: check first
        // (stations are never deleted, so the check cannot go stale).
        if !self.exists_id("reading a station", &self.st.resources.station_exists, id).await? {
            return Ok(None);
        }
        let json = power.map(to_json).transpose()?;
        self.cql.write("setting a station's power", &self.st.resources.station_power, (json, id)).await?;
        self.station(id).await
    }

    pub(super) async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&StationDetails>,
    ) -> Result<Option<Station>> {
        if !self.exists_id("reading a station", &self.st.resources.station_exists, id).await? {
            return Ok(None);
        }
        let json = details.map(to_json).transpose()?;
        self.cql.write("setting a station's details", &self.st.resources.station_details, (json, id)).await?;
        self.station(id).await
    }

    /// Claims the id in `piles_by_id` (a lightweight transaction: two
    /// operators registering one pile must not both succeed), then lists it.
    pub(super) async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        if !self.exists_id("reading a station", &self.st.resources.station_exists, pile.station_id).await? {
            return Err(StoreError::NotFound(format!("station {}", pile.station_id)));
        }
        let (id, ports, created) = (pile.id.as_str(), i32::from(pile.ports), micros(pile.created_at));
        let claim = (id, pile.station_id, pile.protocol.as_str(), ports, created);
        let lwt = self.cql.lwt("claiming a pile id", &self.st.resources.pile_claim, claim).await?;
        if lwt.applied {
            let listed = (pile_bucket(id), id, pile.station_id, pile.protocol.as_str(), ports, created);
            return self.cql.write("listing a pile", &self.st.resources.pile_list_insert, listed).await;
        }
        // Taken. If the pile's first registration died between its claim
        // and its listing, list it now, as it was registered.
        if let (Some(station), Some(protocol), Some(ports), Some(created)) =
            (lwt.bigint("station_id"), lwt.text("protocol"), lwt.int("ports"), lwt.bigint("created_at"))
        {
            let listed = (pile_bucket(id), id, station, protocol, ports, created);
            self.cql.write("listing a pile", &self.st.resources.pile_list_insert, listed).await?;
        }
        Err(StoreError::Conflict(format!("pile {id}")))
    }

    pub(super) async fn create_merchant(
        &self,
        operator_id: vocab::OperatorId,
        name: &str,
        pct: Decimal,
        at: DateTime<Utc>,
    ) -> Result<Merchant> {
        let id = self.next_id(Seq::Merchants).await?;
        let values = (id, name, dec(pct), micros(at), operator_id);
        self.cql.write("inserting a merchant", &self.st.money.merchant_insert, values).await?;
        Ok(Merchant { id, operator_id, name: name.to_owned(), commission_percent: pct, created_at: at })
    }

    pub(super) async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        let row = self.cql.row::<MerchantRow, _>("reading a merchant", &self.st.money.merchant_get, (id,));
        row.await?.map(merchant_row).transpose()
    }

    pub(super) async fn merchants(&self) -> Result<Vec<Merchant>> {
        let rows = self.cql.rows::<MerchantRow, _>("listing merchants", &self.st.money.merchant_scan, &());
        let mut all = rows.await?.into_iter().map(merchant_row).collect::<Result<Vec<_>>>()?;
        all.sort_by_key(|m| m.id);
        Ok(all)
    }

    pub(super) async fn create_rule(&self, rule: &NewRule, at: DateTime<Utc>) -> Result<Rule> {
        let id = self.next_id(Seq::Rules).await?;
        let values = (id, to_json(rule)?, micros(at));
        self.cql.write("inserting a rule", &self.st.money.rule_insert, values).await?;
        Ok(Rule { id, rule: rule.clone() })
    }

    /// Rules are never deleted, so a check then a plain write will do.
    pub(super) async fn update_rule(&self, rule: &Rule) -> Result<bool> {
        if !self.rules().await?.iter().any(|r| r.id == rule.id) {
            return Ok(false);
        }
        let values = (to_json(&rule.rule)?, rule.id);
        self.cql.write("updating a rule", &self.st.money.rule_update, values).await?;
        Ok(true)
    }

    pub(super) async fn rules(&self) -> Result<Vec<Rule>> {
        let rows: Vec<(i64, String)> = self.cql.rows("listing rules", &self.st.money.rules_list, &()).await?;
        let mut rules = rows
            .into_iter()
            .map(|(id, rule)| Ok(Rule { id, rule: json("rule", &rule)? }))
            .collect::<Result<Vec<_>>>()?;
        rules.sort_by_key(|r| r.id);
        Ok(rules)
    }
}

type OperatorRow = (i64, String, String, i64);

/// id, name, tou or pricing, operator_id.
pub(super) type PriceRow = (i64, String, String, Option<i64>);

fn operator_row((id, name_, status, created_at): OperatorRow) -> Result<Operator> {
    Ok(Operator {
        id,
        name: name_,
        status: name("status", &status, Status::parse)?,
        created_at: time("created_at", created_at)?,
    })
}

pub(super) fn tariff_row((id, name, tou, operator): PriceRow) -> Result<Tariff> {
    Ok(Tariff { id, operator_id: operator.unwrap_or(DEFAULT_OPERATOR), name, tou: json("tou", &tou)? })
}

pub(super) fn plan_row((id, name, pricing, operator): PriceRow) -> Result<PricePlan> {
    let pricing = json("pricing", &pricing)?;
    Ok(PricePlan { id, operator_id: operator.unwrap_or(DEFAULT_OPERATOR), name, pricing })
}

/// A row in `statements::resources::PILE_COLUMNS` order.
type PileRow = (String, i64, String, i32, i64);

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

/// In `statements::MERCHANT_COLUMNS` order.
type MerchantRow = (i64, String, String, i64, Option<i64>);

fn merchant_row((id, name, pct, created_at, operator_id): MerchantRow) -> Result<Merchant> {
    Ok(Merchant {
        id,
        operator_id: operator_id.unwrap_or(vocab::DEFAULT_OPERATOR),
        name,
        commission_percent: decimal("commission_percent", &pct)?,
        created_at: time("created_at", created_at)?,
    })
}

#[async_trait]
impl Resources for ScyllaStore {
    async fn create_operator(&self, name: &str) -> Result<Operator> {
        let db = &self.db;
        db.cql.count(db.create_operator(name, now()).await)
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>> {
        self.db.operator(id).await
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        self.db.operators().await
    }

    async fn update_operator(&self, id: OperatorId, name: &str, status: Status) -> Result<Option<Operator>> {
        let db = &self.db;
        db.cql.count(db.update_operator(id, name, status).await)
    }

    async fn create_tariff(&self, operator: OperatorId, name: &str, tou: &TouPrices) -> Result<Tariff> {
        let db = &self.db;
        db.cql.count(db.create_tariff(operator, name, tou, now()).await)
    }

    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>> {
        self.db.tariff(id).await
    }

    async fn tariffs(&self) -> Result<Vec<Tariff>> {
        self.db.tariffs().await
    }

    async fn create_plan(&self, operator: OperatorId, name: &str, pricing: &Pricing) -> Result<PricePlan> {
        let db = &self.db;
        db.cql.count(db.create_plan(operator, name, pricing, now()).await)
    }

    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>> {
        self.db.plan(id).await
    }

    async fn plans(&self) -> Result<Vec<PricePlan>> {
        self.db.plans().await
    }

    async fn create_station(&self, station: &NewStation) -> Result<Station> {
        let db = &self.db;
        db.cql.count(db.create_station(station, now()).await)
    }

    async fn station(&self, id: StationId) -> Result<Option<Station>> {
        self.db.station(id).await
    }

    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>> {
        let db = &self.db;
        db.cql.count(db.set_station_tariff(id, tariff).await)
    }

    async fn stations(&self) -> Result<Vec<Station>> {
        self.db.stations().await
    }

    async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&StationDetails>,
    ) -> Result<Option<Station>> {
        let db = &self.db;
        db.cql.count(db.set_station_details(id, details).await)
    }

    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>> {
        let db = &self.db;
        db.cql.count(db.set_station_power(id, power).await)
    }

    async fn create_pile(&self, pile: &PileRecord) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.create_pile(pile).await)
    }

    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>> {
        self.db.pile(id).await
    }

    async fn piles(&self) -> Result<Vec<PileRecord>> {
        self.db.piles().await
    }

    async fn create_merchant(
        &self,
        operator: OperatorId,
        name: &str,
        commission_percent: Decimal,
    ) -> Result<Merchant> {
        let db = &self.db;
        db.cql.count(db.create_merchant(operator, name, commission_percent, now()).await)
    }

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>> {
        self.db.merchant(id).await
    }

    async fn merchants(&self) -> Result<Vec<domain::accounts::Merchant>> {
        self.db.merchants().await
    }

    async fn create_rule(&self, rule: &NewRule) -> Result<Rule> {
        let db = &self.db;
        db.cql.count(db.create_rule(rule, now()).await)
    }

    async fn rules(&self) -> Result<Vec<Rule>> {
        self.db.rules().await
    }

    async fn update_rule(&self, rule: &Rule) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_rule(rule).await)
    }

    async fn update_station(&self, station: &Station) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_station(station).await)
    }

    async fn update_tariff(&self, tariff: &Tariff) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_tariff(tariff).await)
    }

    async fn update_plan(&self, plan: &PricePlan) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_plan(plan).await)
    }

    async fn update_merchant(&self, merchant: &Merchant) -> Result<bool> {
        let db = &self.db;
        db.cql.count(db.update_merchant(merchant).await)
    }

    async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.set_out_of_service(item, since).await)
    }

    async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>> {
        self.db.out_of_service(item).await
    }

    async fn out_of_service_all(
        &self,
        kind: ItemKind,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
        self.db.out_of_service_all(kind).await
    }

    async fn set_offline_cards(&self, pile: &PileId, cards: &[String], listed: bool) -> Result<()> {
        let db = &self.db;
        db.cql.count(db.set_offline_cards(pile, cards, listed).await)
    }

    async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>> {
        self.db.offline_cards(pile).await
    }
}
