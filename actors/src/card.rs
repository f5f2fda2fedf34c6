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
