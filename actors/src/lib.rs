//! The live system on actix: gateway and OCPP WebSocket listener, one link
//! per connection, pile, port, session and station actors, metrics.
//!
//! A [`gateway`] accepts pile connections and gives each a [`link`]: the actor
//! that owns the socket and its codec and translates frames through a thin
//! protocol [`adapter`] into protocol-neutral events. Past the link, one
//! [`pile`] actor per pile, one [`port`] actor per port and one [`session`]
//! actor per charge hold the live state, whatever protocol the pile speaks. A
//! [`station`] actor starts and supervises the piles of its station. Live
//! actors are found through the [`registry`].

pub mod adapter;
pub mod alarms;
pub mod card;
pub mod charge;
pub mod config;
pub mod directory;
pub mod gateway;
pub mod link;
pub mod listener;
pub mod live;
pub mod maintenance;
pub mod memory;
pub mod metrics;
pub mod ocpp_auth;
pub mod ocpp_listener;
pub mod owner;
pub mod pacing;
pub mod pile;
pub mod platform;
pub mod port;
pub mod registry;
pub mod service;
pub mod session;
pub mod station;

pub use config::Config;
pub use platform::Platform;
