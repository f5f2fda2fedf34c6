//! Every interval and limit of the live system. Production uses the
//! protocols' values (the defaults); tests shrink them to milliseconds.

use std::time::Duration;

use engine::clock::Clock;
use engine::domain::StationId;

#[derive(Clone, Debug)]
pub struct Config {
    /// A link that sends nothing for this long is dead (YKC: three missed
    /// 10 s heartbeats).
    pub heartbeat_timeout: Duration,
    /// A connection that has not logged in by then is closed.
    pub login_timeout: Duration,
    /// How long a pile has to accept a start command before the order closes
    /// (YKC: 90 s).
    pub start_timeout: Duration,
    /// A session writes its buffered meter samples at least this often; it
    /// bounds what a crash can lose of readings, never of bills.
    pub sample_flush: Duration,
    /// ...or as soon as this many are buffered.
    pub sample_batch: usize,
    /// Piles not registered by an operator are refused at login unless this
    /// names the station they are registered into.
    pub auto_register: Option<StationId>,
    pub clock: Clock,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(90),
            sample_flush: Duration::from_secs(1),
            sample_batch: 256,
            auto_register: None,
            clock: Clock::System,
        }
    }
}
