//! The bill: its lines, its totals, and how a corrected bill is reconciled
//! with the one it replaces.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::PlanId;
use crate::tariff::Period;
use vocab::{SessionId, TariffId};

/// One line of a bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BillLine {
    Period {
        period: Period,
        kwh: Decimal,
        energy_price: Decimal,
        service_price: Decimal,
        energy_amount: Decimal,
        service_amount: Decimal,
        amount: Decimal,
    },
    Time {
        seconds: u32,
        billed_seconds: u32,
        per_hour: Decimal,
        amount: Decimal,
    },
    Energy {
        kwh: Decimal,
        per_kwh: Decimal,
        amount: Decimal,
    },
    Tier {
        tier: u8,
        from_w: Decimal,
        to_w: Decimal,
        seconds: u32,
        per_hour: Decimal,
        amount: Decimal,
    },
    ServiceFee {
        amount: Decimal,
    },
    /// Raises a small charge to the station's minimum.
    Minimum {
        amount: Decimal,
    },
    /// Negative: the driver's class discount, a percentage or the class's
    /// own tariff.
    Discount {
        rule_id: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        percent: Option<Decimal>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tariff_id: Option<TariffId>,
        amount: Decimal,
    },
    /// Negative: what is above the prepaid amount is not charged.
    PrepaidCap {
        amount: Decimal,
    },
    /// An operator's correction of a billed charge: the difference to the
    /// corrected total, and why.
    Correction {
        amount: Decimal,
        reason: String,
    },
}

impl BillLine {
    pub fn amount(&self) -> Decimal {
        match self {
            BillLine::Period { amount, .. }
            | BillLine::Time { amount, .. }
            | BillLine::Energy { amount, .. }
            | BillLine::Tier { amount, .. }
            | BillLine::ServiceFee { amount }
            | BillLine::Minimum { amount }
            | BillLine::Discount { amount, .. }
            | BillLine::PrepaidCap { amount }
            | BillLine::Correction { amount, .. } => *amount,
        }
    }
}

/// What a charge costs.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub session_id: SessionId,
    pub tariff_id: Option<TariffId>,
    pub plan_id: Option<PlanId>,
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<Object>))]
    pub lines: Vec<BillLine>,
    pub kwh: Decimal,
    pub seconds: u32,
    /// Time-of-use energy charges.
    pub energy_amount: Decimal,
    /// Time-of-use service charges and the station's service fee.
    pub service_amount: Decimal,
    /// What it costs at list price, yuan, before any discount or cap.
    #[serde(default)]
    pub list_total: Decimal,
    /// Taken off the list price for the driver's class, yuan.
    #[serde(default)]
    pub discount: Decimal,
    /// What the driver pays, yuan, rounded half-up to the cent.
    pub total: Decimal,
    pub prepaid: Option<Decimal>,
    /// Prepaid and not used, returned to the driver.
    pub refund: Decimal,
    /// The pile's own total beside the platform's, where the pile reports one.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub reconciliation: Option<Reconciliation>,
}

impl Bill {
    /// The bill with its total set to `total` by a correction line; what
    /// comes back of a prepaid amount follows.
    pub fn corrected(&self, total: Decimal, reason: &str) -> Bill {
        let mut bill = self.clone();
        bill.lines.push(BillLine::Correction { amount: total - self.total, reason: reason.to_owned() });
        bill.total = total;
        bill.refund = self.prepaid.map(|p| (p - total).max(Decimal::ZERO)).unwrap_or_default();
        bill
    }
}

/// The platform bills from its own tariff and metering; a pile that prices
/// the charge itself reports its own amount, kept here beside the bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// What the pile computed, yuan.
    pub pile_amount: Decimal,
    /// The bill's total minus the pile's amount.
    pub difference: Decimal,
    /// The difference is beyond the tolerance: someone should look.
    pub flagged: bool,
}

impl Reconciliation {
    pub fn of(bill_total: Decimal, pile_amount: Decimal, tolerance: Decimal) -> Self {
        let difference = bill_total - pile_amount;
        Reconciliation { pile_amount, difference, flagged: difference.abs() > tolerance }
    }
}
