//! Criterion benchmarks.
//!
//! Benchmarks live in benches/.
