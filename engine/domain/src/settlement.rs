//! A merchant's daily (T+1) settlement statement, computed from the ledger.
//!
//! The money figures are sums of the day's capture and reversal entries on
//! the merchant's accounts, so anyone can recompute a statement from the
//! ledger and get the same cents; counts and energy come from the bills those
//! entries refer to. Once issued a statement is stored and never changes: a
//! late correction lands in the day it is booked.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::accounts::Merchant;
use crate::ledger::{Account, Entry, EntryKind};
use crate::pricing::Bill;
use vocab::MerchantId;

#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub merchant_id: MerchantId,
    /// The merchant's local day settled.
    pub day: NaiveDate,
    /// Charges billed that day, net of reversed ones.
    pub charges: u32,
    pub kwh: Decimal,
    /// Energy and service (including per-charge fees) at list price.
    pub energy_amount: Decimal,
    pub service_amount: Decimal,
    /// What the charges cost at list price.
    pub revenue: Decimal,
    pub discounts: Decimal,
    /// Prepaid money returned to drivers unused.
    pub refunds: Decimal,
    /// What drivers paid: revenue less discounts.
    pub paid: Decimal,
    pub commission_percent: Decimal,
    pub commission: Decimal,
    /// Owed to the merchant: paid less commission.
    pub payout: Decimal,
    pub issued_at: DateTime<Utc>,
}

impl Statement {
    /// The ledger key of its settlement entry.
    pub fn key(&self) -> String {
        format!("{}:{}", self.merchant_id, self.day)
    }

    pub fn entry(&self) -> Entry {
        Entry::settlement(
            self.merchant_id,
            &self.key(),
            self.revenue,
            self.discounts,
            self.commission,
            self.issued_at,
        )
    }
}

/// `[start, end)` of a local day, UTC.
pub fn day_bounds(day: NaiveDate, utc_offset_minutes: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    let offset = FixedOffset::east_opt(utc_offset_minutes * 60).unwrap_or(FixedOffset::east_opt(0).unwrap());
    let start = offset
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("a fixed offset has one midnight")
        .with_timezone(&Utc);
    (start, start + Duration::days(1))
}

/// The statement of a merchant's day from the day's entries on its revenue
/// account (any others are ignored) and the bills they refer to.
pub fn compute(
    merchant: &Merchant,
    day: NaiveDate,
    entries: &[Entry],
    bills: &[Bill],
    issued_at: DateTime<Utc>,
) -> Statement {
    let revenue_account = Account::Revenue(Some(merchant.id));
    let discounts_account = Account::Discounts(Some(merchant.id));
    let mut s = Statement {
        merchant_id: merchant.id,
        day,
        charges: 0,
        kwh: Decimal::ZERO,
        energy_amount: Decimal::ZERO,
        service_amount: Decimal::ZERO,
        revenue: Decimal::ZERO,
        discounts: Decimal::ZERO,
        refunds: Decimal::ZERO,
        paid: Decimal::ZERO,
        commission_percent: merchant.commission_percent,
        commission: Decimal::ZERO,
        payout: Decimal::ZERO,
        issued_at,
    };
    let charges = entries.iter().filter(|e| matches!(e.kind, EntryKind::Capture | EntryKind::Reversal));
    for e in charges.filter(|e| e.lines.iter().any(|l| l.account == revenue_account)) {
        let sign = if e.kind == EntryKind::Reversal { -Decimal::ONE } else { Decimal::ONE };
        for l in &e.lines {
            if l.account == revenue_account {
                s.revenue -= l.amount;
            } else if l.account == discounts_account {
                s.discounts += l.amount;
            }
        }
        let Some(bill) = bills.iter().find(|b| b.session_id.as_str() == e.reference) else { continue };
        s.charges = if sign.is_sign_negative() { s.charges.saturating_sub(1) } else { s.charges + 1 };
        s.kwh += sign * bill.kwh;
        s.energy_amount += sign * bill.energy_amount;
        s.service_amount += sign * bill.service_amount;
        s.refunds += sign * bill.refund;
    }
    s.paid = s.revenue - s.discounts;
    s.commission = crate::pricing::cents(s.paid * merchant.commission_percent / Decimal::ONE_HUNDRED);
    s.payout = s.paid - s.commission;
    s
}
