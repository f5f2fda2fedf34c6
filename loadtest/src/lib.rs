//! Pile simulator (being built).
