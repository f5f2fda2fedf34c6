//! chargeplane's pile simulator.
//!
//! Simulated piles open real TCP connections and speak real frames built by
//! the engine's codecs, so end-to-end tests and the load test exercise the
//! gateway exactly as a field pile would.

pub mod ebike_pile;
pub mod ykc_pile;
