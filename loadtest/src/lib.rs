//! chargeplane's pile simulator.
//!
//! Simulated piles open real TCP connections and speak real frames, built
//! by their own wire layers (`ykc_wire` for car piles, `ap3000_wire` for
//! e-bike piles), each written from its published spec apart from the
//! platform's codecs (`proto`), so end-to-end tests and the load test exercise the
//! gateway exactly as a field pile would. They run on any byte stream too
//! (`Dialer`), so the load test can connect them to an in-process gateway
//! over in-memory streams.

pub use sim::{ap3000_wire, ebike_pile, ocpp_cp, ykc_pile, ykc_wire, BoxIo, Dial, Dialer, Io};
