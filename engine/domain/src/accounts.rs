//! Who pays: drivers, their cards, merchants whose stations earn, top-up
//! orders, and the price rules that give a class of drivers a discount or
//! the only way into a private station.
//!
//! Rules are resolved once, when a charge starts, into the session's terms,
//! so a campaign that ends mid-charge does not reprice it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::pricing::Discount;
use vocab::{default_operator, DriverId, MerchantId, OperatorId, StationId, TariffId};

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// Cannot start charges; its money stays.
    Frozen,
    /// Closed for good, its balance refunded or forfeited.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Frozen => "frozen",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Status::Active,
            "frozen" => Status::Frozen,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Driver {
    pub id: DriverId,
    /// Unique; how the driver registers and logs in.
    pub phone: String,
    /// Argon2 PHC string; `None` for a driver who only uses one-time codes.
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "utoipa", schema(ignore))]
    pub password_hash: Option<String>,
    /// The user class price rules match on ("fleet-a", "staff"), if any.
    pub class: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    /// Last login or charge; drivers idle too long are reported inactive.
    pub last_active_at: DateTime<Utc>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// A plastic RFID card swiped at piles.
    Physical,
    /// A number in the app standing for a card, for piles that ask for one.
    Logical,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// As the pile reads it (hex or decimal digits).
    pub number: String,
    pub driver_id: DriverId,
    pub kind: CardKind,
    pub status: Status,
    pub created_at: DateTime<Utc>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: MerchantId,
    #[serde(default = "default_operator")]
    pub operator_id: OperatorId,
    pub name: String,
    /// The platform's share of what the merchant's charges take, percent.
    pub commission_percent: Decimal,
    pub created_at: DateTime<Utc>,
}

/// A tenant of the platform. Its users see only its stations, prices and
/// merchants; a frozen operator's users cannot log in.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub id: OperatorId,
    pub name: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
}

/// A top-up: created by the platform, paid at a provider, confirmed by the
/// provider's signed notification.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub driver_id: DriverId,
    pub amount: Decimal,
    pub provider: String,
    pub status: OrderStatus,
    /// The provider's transaction, once paid.
    pub provider_txn: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Who a login token speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    Driver {
        driver_id: DriverId,
    },
    /// Someone who runs the platform: see `User`.
    Staff {
        user_id: i64,
    },
}

/// What a platform user may do, from most to least.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads its own merchant and statements only.
    Merchant,
    /// Reads everything of the operator, changes nothing.
    Staff,
    /// Runs the operator: stations, piles, prices, charges, drivers.
    Manager,
    /// Runs the platform, and creates users.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Merchant => "merchant",
            Role::Staff => "staff",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Merchant, Role::Staff, Role::Manager, Role::Admin].into_iter().find(|r| r.as_str() == s)
    }
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    /// Argon2 PHC string.
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "utoipa", schema(ignore))]
    pub password_hash: String,
    pub role: Role,
    /// The operator the user works for; `None` only for platform admins.
    #[serde(default)]
    pub operator_id: Option<OperatorId>,
    /// The merchant a merchant user speaks for.
    pub merchant_id: Option<MerchantId>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(flatten)]
    pub user: NewUser,
    pub created_at: DateTime<Utc>,
}

/// A bearer token as stored: opaque to clients, kept by the hash of its
/// secret so a copy of the database logs nobody in, and revocable at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub principal: Principal,
    pub expires_at: DateTime<Utc>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleKind {
    /// Percent off the list price; 100 is free.
    Discount { percent: Decimal },
    /// Time-of-use charges priced at this tariff instead of the station's
    /// (a fixed contract price); the bill shows the difference as discount.
    Tariff { tariff_id: TariffId },
    /// The class may charge at the station; a station with any such rule
    /// refuses every other driver.
    Allow,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRule {
    #[serde(default = "default_operator")]
    pub operator_id: OperatorId,
    pub name: String,
    /// The driver class it applies to.
    pub class: String,
    /// One station, or every station of the operator.
    pub station_id: Option<StationId>,
    #[serde(flatten)]
    pub kind: RuleKind,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: i64,
    #[serde(flatten)]
    pub rule: NewRule,
}

impl NewRule {
    pub fn validate(&self) -> Result<(), &'static str> {
        if let RuleKind::Discount { percent } = self.kind {
            if percent <= Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
                return Err("percent is above 0 and at most 100");
            }
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until) {
            if until <= from {
                return Err("valid_until is after valid_from");
            }
        }
        if self.class.trim().is_empty() {
            return Err("class is required");
        }
        Ok(())
    }

    fn applies(&self, operator: OperatorId, station: StationId, at: DateTime<Utc>) -> bool {
        self.operator_id == operator
            && self.station_id.is_none_or(|s| s == station)
            && self.valid_from.is_none_or(|f| f <= at)
            && self.valid_until.is_none_or(|u| at < u)
    }
}

/// A private station refused a driver whose class it does not allow.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("station {0} is private to other driver classes")]
pub struct NotAllowed(pub StationId);

/// What a class's rules grant at a station.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    Percent(Discount),
    /// The class's own tariff, whose prices the caller reads from the store.
    Tariff {
        rule_id: i64,
        tariff_id: TariffId,
    },
}

/// What the rules in force give a driver of `class` at a station of
/// `operator`: its own tariff if a rule gives one (a station's rule before an
/// operator-wide one), else the largest percentage; or a refusal if the
/// station is private to others. Other operators' rules never apply.
pub fn resolve(
    rules: &[Rule],
    class: Option<&str>,
    (operator, station): (OperatorId, StationId),
    at: DateTime<Utc>,
) -> Result<Option<Grant>, NotAllowed> {
    let live: Vec<&Rule> = rules.iter().filter(|r| r.rule.applies(operator, station, at)).collect();
    let mine = |r: &&&Rule| class == Some(r.rule.class.as_str());
    let private = live.iter().any(|r| r.rule.kind == RuleKind::Allow && r.rule.station_id.is_some());
    if private && !live.iter().filter(mine).any(|r| r.rule.kind == RuleKind::Allow) {
        return Err(NotAllowed(station));
    }
    let tariff = live
        .iter()
        .filter(mine)
        .filter_map(|r| match r.rule.kind {
            RuleKind::Tariff { tariff_id } => Some((r.rule.station_id.is_some(), r.id, tariff_id)),
            _ => None,
        })
        .max();
    if let Some((_, rule_id, tariff_id)) = tariff {
        return Ok(Some(Grant::Tariff { rule_id, tariff_id }));
    }
    Ok(live
        .iter()
        .filter(mine)
        .filter_map(|r| match r.rule.kind {
            RuleKind::Discount { percent } => Some(Discount { rule_id: r.id, percent, tariff: None }),
            _ => None,
        })
        .max_by_key(|d| d.percent)
        .map(Grant::Percent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000 + s, 0).unwrap()
    }

    fn rule(id: i64, class: &str, station: Option<StationId>, kind: RuleKind) -> Rule {
        let rule = NewRule {
            operator_id: 1,
            name: format!("r{id}"),
            class: class.into(),
            station_id: station,
            kind,
            valid_from: None,
            valid_until: None,
        };
        Rule { id, rule }
    }

    #[test]
    fn other_operators_rules_never_apply() {
        let mut r = rule(1, "staff", None, RuleKind::Discount { percent: dec!(50) });
        r.rule.operator_id = 2;
        assert_eq!(resolve(&[r.clone()], Some("staff"), (1, 5), at(0)), Ok(None));
        assert!(matches!(resolve(&[r], Some("staff"), (2, 5), at(0)), Ok(Some(Grant::Percent(_)))));
    }

    #[test]
    fn the_largest_discount_in_force_for_the_class_applies() {
        let mut campaign = rule(3, "staff", None, RuleKind::Discount { percent: dec!(50) });
        campaign.rule.valid_from = Some(at(100));
        campaign.rule.valid_until = Some(at(200));
        let rules = vec![
            rule(1, "staff", None, RuleKind::Discount { percent: dec!(10) }),
            rule(2, "staff", Some(9), RuleKind::Discount { percent: dec!(20) }),
            campaign,
            rule(4, "fleet", None, RuleKind::Discount { percent: dec!(90) }),
        ];
        let pct = |class, station, t| match resolve(&rules, class, (1, station), at(t)).unwrap() {
            Some(Grant::Percent(d)) => Some(d.percent),
            other => other.map(|_| panic!("not a percentage")),
        };
        assert_eq!(pct(Some("staff"), 9, 0), Some(dec!(20)));
        assert_eq!(pct(Some("staff"), 8, 0), Some(dec!(10)));
        assert_eq!(pct(Some("staff"), 8, 150), Some(dec!(50)));
        assert_eq!(pct(Some("staff"), 8, 200), Some(dec!(10)), "a campaign ends at valid_until");
        assert_eq!(pct(None, 9, 0), None);
        let Some(Grant::Percent(d)) = resolve(&rules, Some("staff"), (1, 9), at(150)).unwrap() else {
            panic!()
        };
        assert_eq!(d.rule_id, 3);
        let mut with_tariff = rules.clone();
        with_tariff.push(rule(5, "staff", None, RuleKind::Tariff { tariff_id: 70 }));
        with_tariff.push(rule(6, "staff", Some(9), RuleKind::Tariff { tariff_id: 71 }));
        let tariff = |station| resolve(&with_tariff, Some("staff"), (1, station), at(0)).unwrap();
        assert_eq!(tariff(9), Some(Grant::Tariff { rule_id: 6, tariff_id: 71 }), "the station's own first");
        assert_eq!(
            tariff(8),
            Some(Grant::Tariff { rule_id: 5, tariff_id: 70 }),
            "a tariff before a percentage"
        );
    }

    #[test]
    fn a_private_station_admits_only_its_allowed_classes() {
        let rules = vec![rule(1, "fleet", Some(5), RuleKind::Allow)];
        assert_eq!(resolve(&rules, Some("fleet"), (1, 5), at(0)), Ok(None));
        assert_eq!(resolve(&rules, Some("staff"), (1, 5), at(0)), Err(NotAllowed(5)));
        assert_eq!(resolve(&rules, None, (1, 5), at(0)), Err(NotAllowed(5)));
        assert_eq!(resolve(&rules, None, (1, 6), at(0)), Ok(None), "other stations stay public");
    }

    #[test]
    fn rules_out_of_range_are_refused() {
        let mut r = rule(1, "x", None, RuleKind::Discount { percent: dec!(101) }).rule;
        assert!(r.validate().is_err());
        r.kind = RuleKind::Discount { percent: dec!(100) };
        assert!(r.validate().is_ok());
        r.valid_from = Some(at(10));
        r.valid_until = Some(at(10));
        assert!(r.validate().is_err());
    }
}
