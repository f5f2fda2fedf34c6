//! chargeplane engine: everything that does not need actors.
//!
//! Wire codecs for each pile protocol, the domain types they decode into,
//! tariffs and money, the charging-session state machine, and the storage
//! trait with its backends. Pure and fast, so it is unit-tested on its own.

pub mod accounts;
pub mod alarm;
pub mod allocation;
pub mod clock;
pub mod dny;
pub mod domain;
pub mod geo;
pub mod ledger;
pub mod payment;
pub mod pricing;
pub mod report;
pub mod session;
pub mod settlement;
pub mod store;
pub mod tariff;
pub mod ykc;

pub use rust_decimal::Decimal;
