//! A card swiped at a pile: whose it is, whether they may charge here, and
//! what their wallet holds for the charge.
//!
//! The same checks as an app start, answered in the pile's own terms
//! (`CardRefusal`, which each adapter turns into its protocol's code).

use engine::accounts::{self, Status};
use engine::domain::StationId;
use engine::ledger::{Account, Payer};
use rust_decimal::Decimal;

use crate::adapter::CardRefusal;
use crate::station::Purchase;
use crate::Platform;

/// What the card's owner buys with this charge, and what the pile may let
/// it spend (the hold).
pub async fn authorize(
    p: &Platform,
    station: StationId,
    card: &str,
) -> Result<(Purchase, Decimal), CardRefusal> {
    let unavailable = |e: engine::store::StoreError| {
        tracing::error!(card, error = %e, "card check failed");
        CardRefusal::Unavailable
    };
    let card = p.store.card(card).await.map_err(unavailable)?.ok_or(CardRefusal::Unknown)?;
    let driver = p.store.driver(card.driver_id).await.map_err(unavailable)?.ok_or(CardRefusal::Unknown)?;
    match (card.status, driver.status) {
        (Status::Active, Status::Active) => {}
        (Status::Cancelled, _) | (_, Status::Cancelled) => return Err(CardRefusal::Unknown),
        _ => return Err(CardRefusal::Frozen),
    }
    let rules = p.store.rules().await.map_err(unavailable)?;
    let discount = accounts::resolve(&rules, driver.class.as_deref(), station, p.now())
        .map_err(|_| CardRefusal::NotAllowedHere)?;
    // One charge at a time per account: a card lent out cannot run two.
    if !p.store.balance(&Account::Held(driver.id)).await.map_err(unavailable)?.is_zero() {
        return Err(CardRefusal::Unsettled);
    }
    let balance = p.store.balance(&Account::Wallet(driver.id)).await.map_err(unavailable)?;
    let held = p.config.wallet_hold.min(balance);
    if held <= Decimal::ZERO {
        return Err(CardRefusal::BalanceTooLow);
    }
    let purchase =
        Purchase { plan: None, prepaid: None, payer: Some(Payer { driver: driver.id, held }), discount };
    Ok((purchase, held))
}

impl From<&crate::port::StartError> for CardRefusal {
    fn from(e: &crate::port::StartError) -> Self {
        use crate::port::StartError::*;
        match e {
            Busy(_) | Faulted => CardRefusal::Busy,
            CapacityShort(_) => CardRefusal::CapacityShort,
            Refused(_) => CardRefusal::BalanceTooLow,
            NoSuchPort | Offline | Unavailable | Storage(_) => CardRefusal::Unavailable,
        }
    }
}

/// Who pays for a charge a card made while the pile was offline: its
/// account's wallet, with nothing held, at the class's discount. A card
/// unknown here is billed to no one (the operator sees it unpaid).
pub async fn offline_payer(
    p: &Platform,
    station: StationId,
    card: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Purchase {
    let owner = match p.store.card(card).await {
        Ok(Some(card)) => p.store.driver(card.driver_id).await.ok().flatten(),
        _ => None,
    };
    let Some(driver) = owner else {
        tracing::warn!(card, "offline charge by a card with no account");
        return Purchase::default();
    };
    let rules = p.store.rules().await.unwrap_or_default();
    let discount = accounts::resolve(&rules, driver.class.as_deref(), station, at).ok().flatten();
    Purchase { payer: Some(Payer { driver: driver.id, held: Decimal::ZERO }), discount, ..Default::default() }
}
