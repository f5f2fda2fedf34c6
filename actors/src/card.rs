//! A card swiped at a pile: whose it is, whether they may charge here, and
//! what their wallet holds for the charge.
//!
//! The same checks as an app start, answered in the pile's own terms
//! (`CardRefusal`, which each adapter turns into its protocol's code).

use domain::accounts::{self, Grant, Status};
use domain::ledger::Account;
use domain::payer::Payer;
use domain::pricing::Discount;
use rust_decimal::Decimal;
use vocab::{PileId, StationId};

use crate::adapter::CardRefusal;
use crate::charge::Purchase;
use crate::Platform;

/// What the card's owner buys with this charge, and what the pile may let
/// it spend (the hold).
pub async fn authorize(
    p: &Platform,
    station: StationId,
    card: &str,
) -> Result<(Purchase, Decimal), CardRefusal> {
    let driver = account(p, card).await?;
    let unavailable = |e| unavailable(card, e);
    let discount = match class_discount(p, driver.class.as_deref(), station, p.now()).await {
        Ok(d) => d,
        Err(Refusal::NotAllowed(_)) => return Err(CardRefusal::NotAllowedHere),
        Err(Refusal::Store(e)) => return Err(unavailable(e)),
    };
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

/// What a card's wallet holds, for a rider asking at a pile; a card that
/// is unknown, cancelled or frozen (or whose account is) has none to tell.
pub async fn balance(p: &Platform, card: &str) -> Result<Decimal, CardRefusal> {
    let driver = account(p, card).await?;
    p.store.balance(&Account::Wallet(driver.id)).await.map_err(|e| unavailable(card, e))
}

/// The account behind a card, if both are active.
async fn account(p: &Platform, card: &str) -> Result<domain::accounts::Driver, CardRefusal> {
    let number = card;
    let card = p.store.card(number).await.map_err(|e| unavailable(number, e))?.ok_or(CardRefusal::Unknown)?;
    let driver = p.store.driver(card.driver_id).await.map_err(|e| unavailable(number, e))?;
    let driver = driver.ok_or(CardRefusal::Unknown)?;
    match (card.status, driver.status) {
        (Status::Active, Status::Active) => Ok(driver),
        (Status::Cancelled, _) | (_, Status::Cancelled) => Err(CardRefusal::Unknown),
        _ => Err(CardRefusal::Frozen),
    }
}

fn unavailable(card: &str, e: store::StoreError) -> CardRefusal {
    tracing::error!(card, error = %e, "card check failed");
    CardRefusal::Unavailable
}

/// Why a class gets no price at a station.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    NotAllowed(#[from] accounts::NotAllowed),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// What a driver's class pays at a station, as the rules in force say, with
/// a class tariff's prices read from the store. App and card starts both
/// come here.
pub async fn class_discount(
    p: &Platform,
    class: Option<&str>,
    station: StationId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Discount>, Refusal> {
    let (rules, operator) = tokio::try_join!(p.store.rules(), p.store.station(station))?;
    let operator = operator.map_or(vocab::DEFAULT_OPERATOR, |s| s.operator_id);
    Ok(match accounts::resolve(&rules, class, (operator, station), at)? {
        None => None,
        Some(Grant::Percent(d)) => Some(d),
        Some(Grant::Tariff { rule_id, tariff_id }) => match p.store.tariff(tariff_id).await? {
            Some(t) => Some(Discount { rule_id, percent: Decimal::ZERO, tariff: Some((t.id, t.tou)) }),
            None => {
                tracing::warn!(
                    rule_id,
                    tariff_id,
                    "a class rule names a tariff that is gone; list price applies"
                );
                None
            }
        },
    })
}

impl From<&crate::charge::StartError> for CardRefusal {
    fn from(e: &crate::charge::StartError) -> Self {
        use crate::charge::StartError::*;
        match e {
            Busy(_) | Faulted => CardRefusal::Busy,
            CapacityShort(_) => CardRefusal::CapacityShort,
            Refused(_) | TooLittle(_) => CardRefusal::BalanceTooLow,
            NoSuchPort | Offline | Unavailable | Storage(_) => CardRefusal::Unavailable,
        }
    }
}

/// Who pays for a charge a card made while the pile was offline: its
/// account's wallet, with nothing held, at the class's discount, and never
/// more than the configured offline cap. A card not on this pile's offline
/// list, unknown here, or frozen or cancelled (or whose account is), is
/// billed to no one: the operator sees the charge unpaid, and the `Err`
/// says why so an alarm can be raised. A store that cannot answer is an
/// error, so the record is billed when the pile sends it again rather than
/// to no one.
pub async fn offline_payer(
    p: &Platform,
    pile: &PileId,
    station: StationId,
    card: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Result<Purchase, &'static str>, Refusal> {
    use domain::accounts::Status;
    let cap = Some(p.config.offline_charge_cap);
    let driver = match p.store.card(card).await? {
        None => return Ok(Err("a card with no account")),
        Some(_) if !p.store.offline_cards(pile).await?.iter().any(|c| c == card) => {
            return Ok(Err("a card not on this pile's offline list"))
        }
        Some(c) if c.status != Status::Active => return Ok(Err("a card that is not active")),
        Some(c) => p.store.driver(c.driver_id).await?,
    };
    let driver = match driver {
        Some(d) if d.status == Status::Active => d,
        _ => return Ok(Err("a card whose account is not active")),
    };
    let discount = match class_discount(p, driver.class.as_deref(), station, at).await {
        Ok(d) => d,
        // The charge happened: a class since refused here still pays list price.
        Err(Refusal::NotAllowed(_)) => None,
        Err(e) => return Err(e),
    };
    Ok(Ok(Purchase {
        payer: Some(Payer { driver: driver.id, held: Decimal::ZERO }),
        prepaid: cap,
        discount,
        ..Default::default()
    }))
}
