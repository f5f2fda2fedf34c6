//! Every interval and limit of the live system. Production uses the
//! protocols' values (the defaults); tests shrink them to milliseconds.

use std::time::Duration;

use vocab::{Clock, Protocol, StationId};

#[derive(Clone, Debug)]
pub struct Config {
    /// How many logins are authorized at once; more wait their turn, so a
    /// reconnect storm of every pile is absorbed, not dropped.
    pub concurrent_logins: usize,
    /// A YKC link that sends nothing for this long is dead (three missed
    /// 10 s heartbeats).
    pub heartbeat_timeout: Duration,
    /// An e-bike link that sends nothing for this long is dead (three missed
    /// 3-minute heartbeats).
    pub dny_heartbeat_timeout: Duration,
    /// The least time between two commands to one e-bike pile (AP3000
    /// §1.0.3: 0.5 s).
    pub dny_command_gap: Duration,
    /// An e-bike command unanswered this long is sent once more (15 s).
    pub dny_resend_after: Duration,
    /// A connection that has not logged in by then is closed.
    pub login_timeout: Duration,
    /// How long a pile has to accept a start command before the order closes
    /// (YKC: 90 s).
    pub start_timeout: Duration,
    /// How long a pile has to answer a maintenance command.
    pub command_timeout: Duration,
    /// A session writes its buffered meter samples at least this often; it
    /// bounds what a crash can lose of readings, never of bills.
    pub sample_flush: Duration,
    /// ...or as soon as this many are buffered.
    pub sample_batch: usize,
    /// A pile's own total further than this from the platform's bill (yuan)
    /// flags the bill for a look.
    pub reconcile_tolerance: rust_decimal::Decimal,
    /// The most a charge started offline at a pile (by a card, with nothing
    /// held) may take from a wallet, yuan; anything over it raises an alarm.
    pub offline_charge_cap: rust_decimal::Decimal,
    /// A charge whose pile dropped off and has not come back by then is
    /// closed and billed for what was metered.
    pub orphan_timeout: Duration,
    /// An offline pile's actors (pile and ports) are stopped this long after
    /// its link went, if no charge is open on it and its offline alarm was
    /// raised; they start again from the store when it logs in.
    pub pile_passivate_after: Duration,
    /// OCPP 1.6J charge points' intervals and limits.
    pub ocpp: OcppConfig,
    /// Protections sent with every e-bike start.
    pub ebike: EbikeLimits,
    /// How often a station re-shares its power even if nothing changed.
    pub power_interval: Duration,
    /// How long a port may draw over its grant, or a station over its
    /// limit, before an alarm.
    pub power_verify_after: Duration,
    /// How often a running station stores a sample of its power (limit,
    /// allocated, measured) for its chart; zero stores none.
    pub station_power_sample: Duration,
    /// How long those samples are kept.
    pub station_power_retention: Duration,
    /// When readings become alarms, and where alarms are sent.
    pub alarms: AlarmConfig,
    /// Piles not registered by an operator are refused at login unless this
    /// names the station they are registered into.
    pub auto_register: Option<StationId>,
    /// Held from a wallet when a charge paid from it names no prepaid
    /// amount (a card swipe, an app start without one), yuan.
    pub wallet_hold: rust_decimal::Decimal,
    /// How often a quiet live-update stream sends a keep-alive comment, so
    /// proxies do not close it.
    pub live_keepalive: Duration,
    pub clock: Clock,
    /// This node, when several share one store: its piles are listed in the
    /// pile directory. `None` (one node): nothing is listed.
    pub directory: Option<crate::directory::NodeConfig>,
}

impl Config {
    pub fn heartbeat_timeout(&self, protocol: Protocol) -> Duration {
        match protocol {
            Protocol::Ykc => self.heartbeat_timeout,
            Protocol::Dny => self.dny_heartbeat_timeout,
            Protocol::Ocpp => self.ocpp.idle_timeout(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrent_logins: 256,
            heartbeat_timeout: Duration::from_secs(30),
            dny_heartbeat_timeout: Duration::from_secs(9 * 60),
            dny_command_gap: Duration::from_millis(500),
            dny_resend_after: Duration::from_secs(15),
            login_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(90),
            command_timeout: Duration::from_secs(30),
            sample_flush: Duration::from_secs(1),
            sample_batch: 256,
            orphan_timeout: Duration::from_secs(12 * 3600),
            pile_passivate_after: Duration::from_secs(30 * 60),
            reconcile_tolerance: rust_decimal::Decimal::new(5, 2),
            offline_charge_cap: rust_decimal::Decimal::from(50),
            ebike: EbikeLimits::default(),
            ocpp: OcppConfig::default(),
            power_interval: Duration::from_secs(5),
            power_verify_after: Duration::from_secs(5),
            station_power_sample: Duration::from_secs(60),
            station_power_retention: Duration::from_secs(7 * 24 * 3600),
            alarms: AlarmConfig::default(),
            auto_register: None,
            wallet_hold: rust_decimal::Decimal::from(30),
            live_keepalive: Duration::from_secs(15),
            clock: Clock::System,
            directory: None,
        }
    }
}

/// How the platform talks to OCPP charge points.
#[derive(Clone, Debug)]
pub struct OcppConfig {
    /// The heartbeat interval a charge point is given at boot.
    pub heartbeat_interval: Duration,
    /// A command of the platform's unanswered this long is given up, and
    /// the next one queued for the charge point goes out.
    pub call_timeout: Duration,
    /// How often the WebSocket is pinged; a link whose pong does not come
    /// back by the next ping is closed.
    pub ping_interval: Duration,
    /// The largest message taken, bytes; a larger one closes the link.
    pub max_message: usize,
    /// A StartTransaction or MeterValues stamped more than this before its
    /// link opened was queued while the charge point was offline: its own
    /// time is when it happened.
    pub clock_slack: Duration,
    /// Every charge point must present a password (security profile 1);
    /// otherwise only those with one set must.
    pub require_password: bool,
    /// The interval a charge point is told to boot again after when its
    /// login could not be decided (the store did not answer): Pending.
    pub pending_retry: Duration,
}

impl OcppConfig {
    /// A charge point silent for three heartbeat intervals is gone.
    pub fn idle_timeout(&self) -> Duration {
        self.heartbeat_interval * 3
    }
}

impl Default for OcppConfig {
    fn default() -> Self {
        OcppConfig {
            heartbeat_interval: Duration::from_secs(300),
            call_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            max_message: 64 * 1024,
            clock_slack: Duration::from_secs(60),
            require_password: false,
            pending_retry: Duration::from_secs(60),
        }
    }
}

/// What an e-bike pile is told to protect each charge with.
#[derive(Clone, Debug)]
pub struct EbikeLimits {
    /// The longest a charge may run, seconds (the protocol allows 36,000).
    pub max_duration_s: u32,
    /// A port drawing more than this is overloaded (a heater, a power strip), W.
    pub overload_w: rust_decimal::Decimal,
    /// A pile drawing more than this in all is overloaded, W.
    pub pile_overload_w: rust_decimal::Decimal,
    /// A battery is full when the power stays under this...
    pub full_power_w: rust_decimal::Decimal,
    /// ...for this long, seconds.
    pub full_hold_s: u8,
}

impl Default for EbikeLimits {
    fn default() -> Self {
        EbikeLimits {
            max_duration_s: 36_000,
            overload_w: rust_decimal::Decimal::from(600),
            pile_overload_w: rust_decimal::Decimal::from(6000),
            full_power_w: rust_decimal::Decimal::from(20),
            full_hold_s: 180,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AlarmConfig {
    /// A pile offline this long raises an alarm.
    pub offline_after: Duration,
    /// A port or cable hotter than this raises an alarm, °C.
    pub max_temperature_c: i16,
    /// A supply voltage outside this band raises an alarm, V.
    pub supply_min_v: rust_decimal::Decimal,
    pub supply_max_v: rust_decimal::Decimal,
    /// Alarms are POSTed as JSON here as well as logged.
    pub webhook: Option<String>,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        AlarmConfig {
            offline_after: Duration::from_secs(10 * 60),
            max_temperature_c: 85,
            // 220 V mains −15 % / +15 %.
            supply_min_v: rust_decimal::Decimal::from(187),
            supply_max_v: rust_decimal::Decimal::from(253),
            webhook: None,
        }
    }
}
