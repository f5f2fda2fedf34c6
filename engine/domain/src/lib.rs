//! The rules of charging and money: tariffs, pricing, power allocation, the
//! session state machine, ledger, accounts, settlement, reports, alarms,
//! payments; pure, no I/O, no database.
//!
//! Tariffs and what a charge costs (`tariff`, `pricing`), how a station's
//! power is shared (`allocation`), the charging-session state machine
//! (`session`), the double-entry ledger, drivers, merchants and cards
//! (`ledger`, `accounts`, `payer`), merchant settlement, reports, alarms,
//! payment-provider notifications and station geography. It exists so every
//! rule about a charge and its money is pure code, unit-tested without a
//! database, a socket or an actor. What does not belong: I/O of any kind
//! (storage is `store`, sockets and timers are `actors`), wire formats
//! (`proto`) and database types: this crate never names rusqlite or scylla.

pub mod accounts;
pub mod alarm;
pub mod allocation;
pub mod geo;
pub mod ledger;
pub mod payer;
pub mod payment;
pub mod pricing;
pub mod report;
pub mod session;
pub mod settlement;
pub mod tariff;
