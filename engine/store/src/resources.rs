//! What operators set up and edit: operators, tariffs, price plans,
//! stations, piles, merchants and price rules, what is out of service, and
//! piles' offline card lists.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Result;
use domain::accounts::{Merchant, NewRule, Operator, Rule, Status};
use domain::allocation::PowerConfig;
use domain::pricing::{PlanId, PricePlan, Pricing};
use domain::tariff::{Tariff, TouPrices};
use vocab::{default_operator, MerchantId, OperatorId, PileId, Protocol, StationId, TariffId};

/// What operators set up: the records every charge is priced and placed by.
#[async_trait]
pub trait Resources: Send + Sync + 'static {
    /// An operator gets the next id; the first is `DEFAULT_OPERATOR`, which
    /// every store has from the start.
    async fn create_operator(&self, name: &str) -> Result<Operator>;

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>>;

    /// Every operator, by id.
    async fn operators(&self) -> Result<Vec<Operator>>;

    /// Renames or freezes an operator; `None` if it does not exist.
    async fn update_operator(&self, id: OperatorId, name: &str, status: Status) -> Result<Option<Operator>>;

    /// A tariff gets the next id.
    async fn create_tariff(&self, operator: OperatorId, name: &str, tou: &TouPrices) -> Result<Tariff>;

    async fn tariff(&self, id: TariffId) -> Result<Option<Tariff>>;

    /// Every tariff, by id.
    async fn tariffs(&self) -> Result<Vec<Tariff>>;

    /// A plan gets the next id.
    async fn create_plan(&self, operator: OperatorId, name: &str, pricing: &Pricing) -> Result<PricePlan>;

    async fn plan(&self, id: PlanId) -> Result<Option<PricePlan>>;

    /// Every plan, by id.
    async fn plans(&self) -> Result<Vec<PricePlan>>;

    /// Fails with `NotFound` if the station's tariff does not exist.
    async fn create_station(&self, station: &NewStation) -> Result<Station>;

    async fn station(&self, id: StationId) -> Result<Option<Station>>;

    /// Moves a station to another tariff: `None` if the station does not
    /// exist, `NotFound` if the tariff does not.
    async fn set_station_tariff(&self, id: StationId, tariff: TariffId) -> Result<Option<Station>>;

    /// Every station, by id (an operator has thousands, not millions).
    async fn stations(&self) -> Result<Vec<Station>>;

    /// Sets (or with `None` removes) a station's details; `None` if the
    /// station does not exist.
    async fn set_station_details(
        &self,
        id: StationId,
        details: Option<&StationDetails>,
    ) -> Result<Option<Station>>;

    /// Sets (or with `None` removes) a station's power management; `None`
    /// if the station does not exist.
    async fn set_station_power(&self, id: StationId, power: Option<&PowerConfig>) -> Result<Option<Station>>;

    /// Fails with `Conflict` if the id is taken, `NotFound` if the station is not.
    async fn create_pile(&self, pile: &PileRecord) -> Result<()>;

    async fn pile(&self, id: &PileId) -> Result<Option<PileRecord>>;

    /// All piles, ordered by id.
    async fn piles(&self) -> Result<Vec<PileRecord>>;

    async fn create_merchant(
        &self,
        operator: OperatorId,
        name: &str,
        commission_percent: Decimal,
    ) -> Result<Merchant>;

    async fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>>;

    /// Every merchant, by id (the daily settlement runs through them).
    async fn merchants(&self) -> Result<Vec<Merchant>>;

    async fn create_rule(&self, rule: &NewRule) -> Result<Rule>;

    /// Every price rule, by id; an operator has tens, not millions.
    async fn rules(&self) -> Result<Vec<Rule>>;
    /// Replaces a price rule; false if it does not exist.
    async fn update_rule(&self, rule: &Rule) -> Result<bool>;

    // Editing what operators set up. Running charges keep the terms they
    // started under; these change what comes next.

    /// Replaces a station's name, time zone, fees and merchant (its tariff,
    /// details and power have their own calls); false if it does not exist.
    async fn update_station(&self, station: &Station) -> Result<bool>;

    /// Replaces a tariff's name and prices; false if it does not exist.
    async fn update_tariff(&self, tariff: &Tariff) -> Result<bool>;

    /// Replaces a plan's name and pricing; false if it does not exist.
    async fn update_plan(&self, plan: &PricePlan) -> Result<bool>;

    /// Replaces a merchant's name and commission; false if it does not exist.
    async fn update_merchant(&self, merchant: &Merchant) -> Result<bool>;

    /// Takes an item out of service since a time, or (`None`) back in.
    async fn set_out_of_service(&self, item: &Item, since: Option<DateTime<Utc>>) -> Result<()>;

    /// Since when an item is out of service; `None` while it is in service.
    async fn out_of_service(&self, item: &Item) -> Result<Option<DateTime<Utc>>>;

    /// The keys of every item of a kind that is out of service, and since when.
    async fn out_of_service_all(&self, kind: ItemKind) -> Result<HashMap<String, DateTime<Utc>>>;

    /// Puts cards on a pile's offline list (`listed`) or takes them off. The
    /// list is what the pile may let charge while it cannot reach the
    /// platform, so its offline charges are billed only to cards on it.
    async fn set_offline_cards(&self, pile: &PileId, cards: &[String], listed: bool) -> Result<()>;

    /// A pile's offline list, in card order.
    async fn offline_cards(&self, pile: &PileId) -> Result<Vec<String>>;
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    pub id: StationId,
    #[serde(default = "default_operator")]
    pub operator_id: OperatorId,
    pub name: String,
    pub tariff_id: TariffId,
    /// Local time of the station relative to UTC, minutes (China: 480).
    pub utc_offset_minutes: i32,
    /// Added to every charge that delivered anything, yuan.
    pub service_fee: Decimal,
    /// The least such a charge costs, yuan.
    pub minimum_charge: Decimal,
    /// The site owner its charges earn for; `None`: the operator's own.
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    /// Where it is and when it is open, for drivers.
    #[serde(default)]
    pub details: Option<StationDetails>,
    /// How the station's power is managed; `None`: not managed.
    pub power: Option<PowerConfig>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStation {
    #[serde(default = "default_operator")]
    pub operator_id: OperatorId,
    pub name: String,
    pub tariff_id: TariffId,
    pub utc_offset_minutes: i32,
    pub service_fee: Decimal,
    pub minimum_charge: Decimal,
    #[serde(default)]
    pub merchant_id: Option<MerchantId>,
    #[serde(default)]
    pub details: Option<StationDetails>,
}

/// What drivers see of a station besides its prices.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationDetails {
    pub address: String,
    /// WGS-84 degrees, to 0.000001 (about 10 cm).
    pub lat: Decimal,
    pub lon: Decimal,
    /// As the operator writes them ("24h", "07:00-23:00").
    #[serde(default)]
    pub opening_hours: String,
    /// Photo URLs.
    #[serde(default)]
    pub photos: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PileRecord {
    pub id: PileId,
    pub station_id: StationId,
    pub protocol: Protocol,
    /// Number of ports, numbered 1..=ports.
    pub ports: u8,
    pub created_at: DateTime<Utc>,
}

/// What an operator can take out of service without deleting it: a closed
/// station, a decommissioned pile or a broken port (refused at login or at
/// start), a tariff, plan or merchant no longer to be chosen. Kept apart
/// from the records so one table serves them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Station,
    Pile,
    Port,
    Tariff,
    Plan,
    Merchant,
}

impl ItemKind {
    pub fn parse(s: &str) -> Option<ItemKind> {
        [Self::Station, Self::Pile, Self::Port, Self::Tariff, Self::Plan, Self::Merchant]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Station => "station",
            ItemKind::Pile => "pile",
            ItemKind::Port => "port",
            ItemKind::Tariff => "tariff",
            ItemKind::Plan => "plan",
            ItemKind::Merchant => "merchant",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    pub kind: ItemKind,
    /// Its id as text; a port is `{pile}-{port:02}`, its public code.
    pub key: String,
}

impl Item {
    pub fn new(kind: ItemKind, id: impl std::fmt::Display) -> Item {
        Item { kind, key: id.to_string() }
    }

    pub fn port(pile: &PileId, port: u8) -> Item {
        Item { kind: ItemKind::Port, key: format!("{pile}-{port:02}") }
    }
}
