//! chargeplane's pile simulator.
//!
//! Simulated piles open real TCP connections and speak real frames built by
//! the engine's codecs, so end-to-end tests and the load test exercise the
//! gateway exactly as a field pile would. They run on any byte stream too
//! (`Dialer`), so the load test can connect them to an in-process gateway
//! over in-memory streams.

pub use sim::{ebike_pile, ykc_pile, BoxIo, Dial, Dialer, Io};
