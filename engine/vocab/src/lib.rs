//! The shared vocabulary: the names every other crate speaks in (ids,
//! protocol names, port states, alarm severities, the clock); no money, no
//! logic.
//!
//! Ids (`PileId`, `PortNo`, `SessionId`, `StationId`, `DriverId`, ...), the
//! `Protocol` a pile speaks, a port's `PortStatus`, an alarm's `Severity` and
//! the platform's `Clock`. It exists so the protocol codecs (`proto`), the
//! domain logic (`domain`) and storage (`store`) can share these words
//! without depending on one another. Nothing with money, prices, rules or
//! I/O belongs here: if a type needs `Decimal` or a decision, it goes in
//! `domain`; if it is a wire layout, in `proto`.

mod clock;
mod ids;
mod severity;

pub use clock::Clock;
pub use ids::{
    default_operator, DriverId, MerchantId, OperatorId, PileId, PortNo, PortStatus, Protocol, SessionId,
    StationId, TariffId, DEFAULT_OPERATOR,
};
pub use severity::Severity;
