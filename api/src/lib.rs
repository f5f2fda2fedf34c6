//! chargeplane HTTP API (being built).
