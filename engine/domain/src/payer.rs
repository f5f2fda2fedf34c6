//! Who pays for a charge. Pricing puts it on a bill and the ledger books
//! against it, so it lives apart from both.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use vocab::DriverId;

/// Who pays for a charge, and how much was held for it at start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub driver: DriverId,
    pub held: Decimal,
}
