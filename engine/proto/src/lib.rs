//! The pile wire protocols: YKC, AP3000 and OCPP 1.6J codecs, frames and
//! bodies; no I/O, no tariffs or money logic.
//!
//! One codec per protocol, `ykc` (YKC v1.5/v1.6, car piles), `dny`
//! (AP3000, e-bike piles) and `ocpp` (OCPP 1.6J charge points): a frame codec that cuts a TCP stream into checked
//! frames, and typed messages that turn a frame's body into a struct and
//! back (`body` walks a body field by field and holds the `Body` trait both
//! binary codecs' typed bodies implement, `framing` cuts YKC and AP3000
//! frames out of a stream). It exists so a protocol can be read, tested and fuzzed on its own,
//! and so a new protocol is a new module here plus an adapter in `actors`.
//! What does not belong: I/O (the link actors own the sockets), tariffs,
//! bills or any other money logic (a wire field in yuan is just a
//! `Decimal`; turning it into a price or a bill is `domain`'s job, done in
//! the protocol's adapter), and storage. It depends on `vocab` only.

pub mod body;
pub mod dny;
pub mod framing;
pub mod ocpp;
pub mod ykc;
