//! Server configuration: built-in defaults that run with no configuration at
//! all, overridden by a TOML file, overridden by command-line flags.
//! Durations are in milliseconds so every interval can be shrunk for tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use vocab::{Clock, StationId};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Where the embedded database lives; created on first start.
    pub data_dir: PathBuf,
    /// `sqlite` (the embedded store under `data_dir`, the default) or a
    /// ScyllaDB cluster: `scylla://host1:9042,host2/keyspace`.
    pub store: String,
    pub pile_listen: SocketAddr,
    /// The pile listener's queue of connections not yet accepted: deep, so a
    /// reconnect storm waits in it instead of being reset. The kernel caps
    /// it at `net.core.somaxconn`.
    pub pile_backlog: u32,
    pub http_listen: SocketAddr,
    /// Where OCPP 1.6J charge points open their WebSocket
    /// (`ws://HOST:PORT/ocpp/{chargePointId}`).
    pub ocpp_listen: SocketAddr,
    /// The heartbeat interval OCPP charge points are given at boot; one
    /// silent for three of them is closed.
    pub ocpp_heartbeat_interval_ms: u64,
    /// A command to an OCPP charge point unanswered this long is given up
    /// (one is in flight at a time; the rest wait).
    pub ocpp_call_timeout_ms: u64,
    /// How often OCPP WebSockets are pinged; no pong by the next ping closes one.
    pub ocpp_ping_interval_ms: u64,
    /// The largest OCPP message taken, bytes; a larger one closes the link.
    pub ocpp_max_message_bytes: usize,
    /// An OCPP transaction or meter value stamped more than this before its
    /// charge point connected was queued offline and is billed by its stamp.
    pub ocpp_clock_slack_ms: u64,
    /// Refuse (401) an OCPP charge point that has no password set, not only
    /// one that presents a wrong one.
    pub ocpp_require_password: bool,
    /// The BootNotification retry interval an OCPP charge point is given
    /// (status Pending) when the store cannot answer its login.
    pub ocpp_pending_retry_ms: u64,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// Register unknown piles into this station at login instead of refusing them.
    pub auto_register_station: Option<StationId>,
    /// Logins authorized at once; a reconnect storm waits its turn.
    pub concurrent_logins: usize,
    pub heartbeat_timeout_ms: u64,
    pub dny_heartbeat_timeout_ms: u64,
    /// AP3000: the least time between two commands to one pile, and when an
    /// unanswered one is sent again (once).
    pub dny_command_gap_ms: u64,
    pub dny_resend_after_ms: u64,
    pub login_timeout_ms: u64,
    pub start_timeout_ms: u64,
    /// How long a pile has to answer a maintenance command.
    pub command_timeout_ms: u64,
    pub sample_flush_ms: u64,
    pub sample_batch: usize,
    /// A pile's own total further than this from the bill (yuan) flags it.
    pub reconcile_tolerance: rust_decimal::Decimal,
    /// The most an offline card charge may take from a wallet (yuan).
    pub offline_charge_cap: rust_decimal::Decimal,
    /// A charge whose pile stays away this long is closed and billed.
    pub orphan_timeout_ms: u64,
    /// E-bike protections sent with every start.
    pub ebike_max_duration_s: u32,
    pub ebike_overload_w: u32,
    pub ebike_pile_overload_w: u32,
    pub ebike_full_power_w: u32,
    pub ebike_full_hold_s: u8,
    /// How often a station re-shares its power even if nothing changed.
    pub power_interval_ms: u64,
    /// How long a port may draw over its grant (or a station over its limit)
    /// before an alarm.
    pub power_verify_after_ms: u64,
    /// How often a running station stores a sample of its power for the
    /// console's chart (0: never).
    pub station_power_sample_ms: u64,
    /// How long those samples are kept.
    pub station_power_retention_ms: u64,
    /// A map tile server for the drivers' app (`https://host/{z}/{x}/{y}.png`);
    /// unset, the app shows no map and loads nothing from elsewhere.
    pub map_tiles_url: Option<String>,
    /// A pile offline this long raises an alarm.
    pub offline_alarm_after_ms: u64,
    /// An offline pile's actors are stopped (their state stays in the
    /// store) this long after it left, once no charge is open on it.
    pub pile_passivate_after_ms: u64,
    /// How often to look whether piles were passivated, and if so give the
    /// freed memory back to the system.
    pub memory_trim_check_ms: u64,
    /// A port or cable hotter than this raises an alarm, °C.
    pub alarm_max_temperature_c: i16,
    /// A supply voltage outside this band raises an alarm, V.
    pub alarm_supply_min_v: u32,
    pub alarm_supply_max_v: u32,
    /// Alarms are also POSTed as JSON to this URL.
    pub alarm_webhook: Option<String>,
    /// Signs and checks the sandbox provider's notifications (HMAC-SHA256).
    /// Unset: a random secret per start.
    pub payment_secret: Option<String>,
    /// Payment providers (`[payments]`); none by default.
    pub payments: crate::providers::PaymentsConfig,
    /// Driver notifications (login codes) are POSTed as JSON to this URL;
    /// unset, they are logged.
    pub notify_webhook: Option<String>,
    /// Held from the wallet at start when the driver prepays nothing, yuan.
    pub default_hold: rust_decimal::Decimal,
    pub login_code_ttl_ms: u64,
    /// Login codes pending at once; past it new codes are refused (503).
    pub login_code_max_pending: usize,
    /// Drivers' sign-in limits: each allows this many at once, refilled
    /// evenly over `signin_window_ms`; past it, 429 with `Retry-After`.
    /// Codes asked for, per phone and per client address:
    pub signin_codes_per_phone: u32,
    pub signin_codes_per_address: u32,
    /// Codes or passwords tried (drivers' register and log in, platform
    /// users' log in), per phone or username and per address:
    pub signin_checks_per_phone: u32,
    pub signin_checks_per_address: u32,
    pub signin_window_ms: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client; from any
    /// other peer the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Password hashes (argon2) computed at once, on the blocking pool.
    pub password_hash_concurrency: usize,
    /// The drivers' app's base URL: ports' QR codes encode `{public_url}/q/{code}`.
    /// By default, where the HTTP listener is reached: its address, or this
    /// machine's host name when it listens on every address.
    pub public_url: Option<String>,
    /// Keep-alive comments on quiet server-sent event streams.
    pub live_keepalive_ms: u64,
    pub token_ttl_ms: u64,
    /// Merchants' settlement days are local days at this offset.
    pub settlement_utc_offset_minutes: i32,
    /// How often the daily settlement checks for a day to settle.
    pub settlement_check_ms: u64,
    /// How long after a day ends it is settled (late records land first).
    pub settlement_delay_ms: u64,
    /// Extra time the store's writer waits to gather a batch (0: group commit only).
    pub store_batch_window_ms: u64,
    /// fsync every commit (true) or leave it to the OS (false: a power cut may
    /// lose the last commits; a process crash loses nothing).
    pub store_fsync: bool,
    /// Run on a simulated clock starting at this instant (load tests, demos).
    pub clock_start: Option<DateTime<Utc>>,
    /// How fast the simulated clock runs, relative to real time.
    pub clock_rate: f64,
    /// Where other nodes reach this node's HTTP API (`http://10.0.0.5:8080`).
    /// Set it when several nodes share one store: piles connected here are
    /// listed in the pile directory under it, and other nodes forward their
    /// commands here. Unset (one node): nothing is listed.
    pub advertise_http: Option<String>,
    /// This node's name in the pile directory [default: `advertise_http`].
    pub node_id: Option<String>,
    /// A pile's directory row lapses this long after its node last wrote it.
    pub pile_node_ttl_ms: u64,
    /// How often a node rewrites the rows of the piles it holds.
    pub pile_node_refresh_ms: u64,
    /// With several nodes: how often each compares its running stations
    /// with the store, to take up edits made on another node.
    pub station_reconcile_ms: u64,
    /// How long a command forwarded to another node may take (a start waits
    /// for the pile's answer).
    pub forward_timeout_ms: u64,
    /// With several nodes: a station's lease (which node manages its power)
    /// lapses this long after its holder last renewed it, and another node
    /// takes the station over.
    pub station_lease_ttl_ms: u64,
    /// How often a station's lease is renewed, or asked for by the others.
    pub station_lease_renew_ms: u64,
    /// With several nodes: a secret shared by all of them, carried by the
    /// station messages they send each other; required with `advertise_http`.
    pub cluster_key: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let a = actors::Config::default();
        ServeConfig {
            data_dir: PathBuf::from("data"),
            store: "sqlite".into(),
            pile_listen: "0.0.0.0:8767".parse().expect("address"),
            pile_backlog: 4096,
            http_listen: "0.0.0.0:8080".parse().expect("address"),
            ocpp_listen: "0.0.0.0:8768".parse().expect("address"),
            ocpp_heartbeat_interval_ms: a.ocpp.heartbeat_interval.as_millis() as u64,
            ocpp_call_timeout_ms: a.ocpp.call_timeout.as_millis() as u64,
            ocpp_ping_interval_ms: a.ocpp.ping_interval.as_millis() as u64,
            ocpp_max_message_bytes: a.ocpp.max_message,
            ocpp_clock_slack_ms: a.ocpp.clock_slack.as_millis() as u64,
            ocpp_require_password: a.ocpp.require_password,
            ocpp_pending_retry_ms: a.ocpp.pending_retry.as_millis() as u64,
            http_workers: 0,
            auto_register_station: None,
            concurrent_logins: a.concurrent_logins,
            heartbeat_timeout_ms: a.heartbeat_timeout.as_millis() as u64,
            dny_heartbeat_timeout_ms: a.dny_heartbeat_timeout.as_millis() as u64,
            dny_command_gap_ms: a.dny_command_gap.as_millis() as u64,
            dny_resend_after_ms: a.dny_resend_after.as_millis() as u64,
            login_timeout_ms: a.login_timeout.as_millis() as u64,
            start_timeout_ms: a.start_timeout.as_millis() as u64,
            command_timeout_ms: a.command_timeout.as_millis() as u64,
            sample_flush_ms: a.sample_flush.as_millis() as u64,
            sample_batch: a.sample_batch,
            reconcile_tolerance: a.reconcile_tolerance,
            offline_charge_cap: a.offline_charge_cap,
            orphan_timeout_ms: a.orphan_timeout.as_millis() as u64,
            ebike_max_duration_s: a.ebike.max_duration_s,
            ebike_overload_w: a.ebike.overload_w.try_into().unwrap_or(600),
            ebike_pile_overload_w: a.ebike.pile_overload_w.try_into().unwrap_or(6000),
            ebike_full_power_w: a.ebike.full_power_w.try_into().unwrap_or(20),
            ebike_full_hold_s: a.ebike.full_hold_s,
            power_interval_ms: a.power_interval.as_millis() as u64,
            power_verify_after_ms: a.power_verify_after.as_millis() as u64,
            station_power_sample_ms: a.station_power_sample.as_millis() as u64,
            station_power_retention_ms: a.station_power_retention.as_millis() as u64,
            map_tiles_url: None,
            offline_alarm_after_ms: a.alarms.offline_after.as_millis() as u64,
            pile_passivate_after_ms: a.pile_passivate_after.as_millis() as u64,
            memory_trim_check_ms: 60_000,
            alarm_max_temperature_c: a.alarms.max_temperature_c,
            alarm_supply_min_v: a.alarms.supply_min_v.try_into().unwrap_or(187),
            alarm_supply_max_v: a.alarms.supply_max_v.try_into().unwrap_or(253),
            alarm_webhook: None,
            payment_secret: None,
            payments: Default::default(),
            notify_webhook: None,
            default_hold: rust_decimal::Decimal::from(30),
            login_code_ttl_ms: 5 * 60 * 1000,
            login_code_max_pending: 100_000,
            signin_codes_per_phone: 5,
            signin_codes_per_address: 30,
            signin_checks_per_phone: 10,
            signin_checks_per_address: 60,
            signin_window_ms: 15 * 60 * 1000,
            trusted_proxies: Vec::new(),
            password_hash_concurrency: 2,
            live_keepalive_ms: 15_000,
            public_url: None,
            token_ttl_ms: 30 * 24 * 3600 * 1000,
            settlement_utc_offset_minutes: 480,
            settlement_check_ms: 60_000,
            settlement_delay_ms: 3_600_000,
            store_batch_window_ms: 0,
            store_fsync: true,
            clock_start: None,
            clock_rate: 1.0,
            advertise_http: None,
            node_id: None,
            pile_node_ttl_ms: 90_000,
            pile_node_refresh_ms: 30_000,
            station_reconcile_ms: 10_000,
            forward_timeout_ms: a.start_timeout.as_millis() as u64 + 10_000,
            station_lease_ttl_ms: 6_000,
            station_lease_renew_ms: 1_000,
            cluster_key: None,
        }
    }
}

impl ServeConfig {
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn actors(&self) -> actors::Config {
        let ms = Duration::from_millis;
        actors::Config {
            concurrent_logins: self.concurrent_logins,
            heartbeat_timeout: ms(self.heartbeat_timeout_ms),
            dny_heartbeat_timeout: ms(self.dny_heartbeat_timeout_ms),
            dny_command_gap: ms(self.dny_command_gap_ms),
            dny_resend_after: ms(self.dny_resend_after_ms),
            login_timeout: ms(self.login_timeout_ms),
            start_timeout: ms(self.start_timeout_ms),
            command_timeout: ms(self.command_timeout_ms),
            sample_flush: ms(self.sample_flush_ms.max(1)),
            sample_batch: self.sample_batch.max(1),
            orphan_timeout: ms(self.orphan_timeout_ms),
            pile_passivate_after: ms(self.pile_passivate_after_ms),
            reconcile_tolerance: self.reconcile_tolerance,
            offline_charge_cap: self.offline_charge_cap,
            ebike: actors::config::EbikeLimits {
                max_duration_s: self.ebike_max_duration_s,
                overload_w: self.ebike_overload_w.into(),
                pile_overload_w: self.ebike_pile_overload_w.into(),
                full_power_w: self.ebike_full_power_w.into(),
                full_hold_s: self.ebike_full_hold_s,
            },
            ocpp: actors::config::OcppConfig {
                heartbeat_interval: ms(self.ocpp_heartbeat_interval_ms.max(1)),
                call_timeout: ms(self.ocpp_call_timeout_ms.max(1)),
                ping_interval: ms(self.ocpp_ping_interval_ms.max(1)),
                max_message: self.ocpp_max_message_bytes.max(1024),
                clock_slack: ms(self.ocpp_clock_slack_ms),
                require_password: self.ocpp_require_password,
                pending_retry: ms(self.ocpp_pending_retry_ms.max(1)),
            },
            power_interval: ms(self.power_interval_ms.max(1)),
            power_verify_after: ms(self.power_verify_after_ms),
            station_power_sample: ms(self.station_power_sample_ms),
            station_power_retention: ms(self.station_power_retention_ms.max(1)),
            alarms: actors::config::AlarmConfig {
                offline_after: ms(self.offline_alarm_after_ms),
                max_temperature_c: self.alarm_max_temperature_c,
                supply_min_v: self.alarm_supply_min_v.into(),
                supply_max_v: self.alarm_supply_max_v.into(),
                webhook: self.alarm_webhook.clone(),
            },
            auto_register: self.auto_register_station,
            wallet_hold: self.default_hold,
            live_keepalive: ms(self.live_keepalive_ms.max(1)),
            clock: match self.clock_start {
                Some(start) => Clock::simulated(start, self.clock_rate),
                None => Clock::System,
            },
            directory: self.advertise_http.as_ref().map(|addr| actors::directory::NodeConfig {
                node_id: self.node_id(),
                http_addr: addr.clone(),
                ttl: ms(self.pile_node_ttl_ms),
                refresh: ms(self.pile_node_refresh_ms.max(1)),
                lease_ttl: ms(self.station_lease_ttl_ms.max(1)),
                lease_renew: ms(self.station_lease_renew_ms.max(1)),
                key: self.cluster_key.clone().unwrap_or_default(),
            }),
        }
    }

    /// This node's name in the pile directory; empty for a lone node.
    pub fn node_id(&self) -> String {
        self.node_id.clone().or_else(|| self.advertise_http.clone()).unwrap_or_default()
    }

    /// Refuses settings that cannot work together, saying why.
    pub fn check(&self) -> Result<(), String> {
        if let Some(addr) = &self.advertise_http {
            let host = addr.strip_prefix("http://").unwrap_or("");
            if host.is_empty() || host.contains('/') {
                return Err(format!(
                    "advertise_http {addr:?}: give http://host:port, as other nodes reach this one"
                ));
            }
        }
        self.payments.check()?;
        if self.advertise_http.is_some() && self.cluster_key.as_deref().is_none_or(|k| k.len() < 16) {
            return Err("several nodes (advertise_http) need a cluster_key of at least 16 characters, the same on every node".into());
        }
        if self.station_lease_renew_ms * 2 > self.station_lease_ttl_ms {
            return Err("station_lease_renew_ms must be at most half of station_lease_ttl_ms, or leases lapse between renewals".into());
        }
        if self.pile_node_refresh_ms >= self.pile_node_ttl_ms {
            return Err(
                "pile_node_refresh_ms must be under pile_node_ttl_ms, or held piles' rows lapse".into()
            );
        }
        Ok(())
    }

    pub fn money(&self) -> crate::money::MoneyConfig {
        let secret = match &self.payment_secret {
            Some(s) => s.clone().into_bytes(),
            None => crate::tokens::random::<32>().to_vec(),
        };
        let sandbox = self.payments.sandbox.then(|| domain::payment::Sandbox::new(secret));
        crate::money::MoneyConfig {
            providers: self.payments.providers(sandbox.clone()),
            sandbox,
            notify_webhook: self.notify_webhook.clone(),
            code_ttl: std::time::Duration::from_millis(self.login_code_ttl_ms),
            token_ttl: std::time::Duration::from_millis(self.token_ttl_ms),
            settlement_utc_offset_minutes: self.settlement_utc_offset_minutes,
            public_url: self.public_url.clone().unwrap_or_default(),
            signin: crate::signin::SigninConfig {
                codes_per_phone: self.signin_codes_per_phone,
                codes_per_address: self.signin_codes_per_address,
                checks_per_phone: self.signin_checks_per_phone,
                checks_per_address: self.signin_checks_per_address,
                window: std::time::Duration::from_millis(self.signin_window_ms.max(1)),
                max_pending_codes: self.login_code_max_pending.max(1),
                trusted_proxies: self.trusted_proxies.clone(),
            },
        }
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("chargeplane.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let cfg: ServeConfig = toml::from_str("heartbeat_timeout_ms = 50\ndata_dir = \"/tmp/x\"").unwrap();
        assert_eq!(cfg.heartbeat_timeout_ms, 50);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.http_listen.port(), 8080);
        assert!(toml::from_str::<ServeConfig>("heartbeat_timout_ms = 5").is_err());
    }

    #[test]
    fn one_node_lists_nothing_and_several_need_a_reachable_address() {
        let lone = ServeConfig::default();
        assert!(lone.check().is_ok() && lone.actors().directory.is_none());
        let keyless: ServeConfig = toml::from_str("advertise_http = \"http://10.0.0.5:8080\"").unwrap();
        assert!(keyless.check().unwrap_err().contains("cluster_key"), "station messages need a shared key");
        let node: ServeConfig =
            toml::from_str("advertise_http = \"http://10.0.0.5:8080\"\ncluster_key = \"0123456789abcdef\"")
                .unwrap();
        assert!(node.check().is_ok());
        assert_eq!(node.actors().directory.unwrap().node_id, "http://10.0.0.5:8080");
        for bad in ["10.0.0.5:8080", "http://", "http://10.0.0.5:8080/api"] {
            let cfg = ServeConfig { advertise_http: Some(bad.into()), ..ServeConfig::default() };
            assert!(cfg.check().unwrap_err().contains("advertise_http"), "{bad}");
        }
        let slow = ServeConfig { pile_node_refresh_ms: 90_000, ..ServeConfig::default() };
        assert!(slow.check().is_err());
        let lapsing = ServeConfig { station_lease_renew_ms: 4_000, ..ServeConfig::default() };
        assert!(lapsing.check().unwrap_err().contains("station_lease_renew_ms"));
    }
}
