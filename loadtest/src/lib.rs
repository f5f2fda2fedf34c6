//! The load test: fleets of simulated piles, scenarios, measurements.
//!
//! The simulated piles themselves are the `sim` crate, re-exported here.

pub use sim::{ap3000_wire, ebike_pile, ocpp_cp, ykc_pile, ykc_wire, BoxIo, Dial, Dialer, Io};
