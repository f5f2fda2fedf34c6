//! chargeplane's pile simulator.
//!
//! Simulated piles open real TCP connections and speak real frames (the
//! e-bike pile's built by its own wire layer, `ap3000_wire`, written from
//! the vendor's guide apart from the engine's codec), so end-to-end tests
//! and the load test exercise the gateway exactly as a field pile would. They run on any byte stream too
//! (`Dialer`), so the load test can connect them to an in-process gateway
//! over in-memory streams.

pub use sim::{ap3000_wire, ebike_pile, ykc_pile, BoxIo, Dial, Dialer, Io};
