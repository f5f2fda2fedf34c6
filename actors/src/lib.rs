//! chargeplane live system (being built).
