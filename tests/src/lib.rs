//! End-to-end tests over real sockets.
//!
//! End-to-end tests live in tests/.
