//! Asking for a charge: what a driver buys with it (`Purchase`), and what
//! becomes of the asking (`Started`, `StartError`). Kept apart from the port
//! and station actors that carry them out, so the API and the card code
//! speak of charges without reaching into either actor.

use domain::payer::Payer;
use domain::pricing::{Discount, PricePlan};
use rust_decimal::Decimal;
use vocab::SessionId;

/// What a driver buys with a charge, as the API resolved it; the station
/// adds its own fees and tariff to make the session's terms.
#[derive(Clone, Debug, Default)]
pub struct Purchase {
    /// The plan the driver chose; without one, the station's tariff.
    pub plan: Option<PricePlan>,
    /// Paid up front, yuan: the charge stops when it is spent.
    pub prepaid: Option<Decimal>,
    /// The wallet paying, and what was held from it.
    pub payer: Option<Payer>,
    pub discount: Option<Discount>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("the pile has no such port")]
    NoSuchPort,
    #[error("the pile is offline")]
    Offline,
    #[error("the port is busy charging")]
    Busy(Option<SessionId>),
    #[error("the port is faulted")]
    Faulted,
    #[error("{0}")]
    CapacityShort(String),
    #[error("could not record the charge: {0}")]
    Storage(String),
    /// The wallet could not cover the hold.
    #[error("{0}")]
    Refused(String),
    #[error("the port is unavailable")]
    Unavailable,
    /// The prepaid amount buys nothing past the station's fee.
    #[error("{0}")]
    TooLittle(String),
}

/// What became of a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Session(SessionId),
    /// Waiting for room under the station's limit, at this position.
    Queued(usize),
}
