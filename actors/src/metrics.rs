//! Prometheus metrics of the live system, registered once per platform.
//!
//! Names follow Prometheus conventions: counters end in `_total`, durations
//! are `_seconds`. Per-frame-type counters are created on first use so the
//! exposition lists only types that were seen.

use std::sync::OnceLock;

use vocab::Protocol;

use prometheus::{
    Counter, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

pub struct Metrics {
    pub registry: Registry,
    pub piles_connected: IntGaugeVec,
    pub ports: IntGaugeVec,
    pub start_latency: Histogram,
    pub logins: IntCounterVec,
    pub logins_waiting: IntGauge,
    frames_in: IntCounterVec,
    frames_out: IntCounterVec,
    /// One cache per protocol, indexed by `Protocol as usize`.
    frames_in_cache: [FrameCache; 3],
    frames_out_cache: [FrameCache; 3],
    pub frame_errors: IntCounterVec,
    pub links_closed: IntCounterVec,
    pub sessions_started: IntCounter,
    pub sessions_finished: IntCounterVec,
    pub sessions_open: IntGauge,
    pub samples: IntCounter,
    pub duplicate_records: IntCounter,
    pub bill_mismatches: IntCounter,
    pub bill_failures: IntCounter,
    pub power_stops: IntCounter,
    pub piles_passivated: IntCounter,
    pub station_reconciles: IntCounter,
    pub memory_trims: IntCounter,
    pub command_resends: IntCounterVec,
    pub tariff_pushes: IntCounterVec,
    pub restarts: IntCounterVec,
    pub commands_undeliverable: IntCounter,
    pub alarms: IntCounterVec,
    pub alarm_notifications_failed: IntCounter,
    /// Station power samples (`power_history`) the store did not take.
    pub power_samples_failed: IntCounter,
    pub station_limit: GaugeVec,
    pub station_allocated: GaugeVec,
    pub station_measured: GaugeVec,
    pub station_headroom: GaugeVec,
    pub station_refusals: IntCounterVec,
    pub station_queued: IntGaugeVec,
    pub power_commands: IntCounter,
    pub maintenance: IntCounterVec,
    pub card_starts: IntCounterVec,
    pub pile_accepts: IntCounter,
    pub pile_accept_errors: IntCounter,
    listen_overflows: IntCounter,
    listen_drops: IntCounter,
    store_queue: IntGauge,
    store_batches: IntCounter,
    store_writes: IntCounter,
    store_errors: IntCounter,
    store_busy: Counter,
    /// By `Mailbox as usize`. Leaked, once per platform, so that a message's
    /// token is a plain reference: no reference count on the hot path.
    mailboxes: [&'static IntGauge; 4],
}

/// The actor kinds whose mailbox depth is measured.
#[derive(Clone, Copy, Debug)]
pub enum Mailbox {
    Pile,
    Port,
    Session,
    Station,
}

/// One hot message in an actor's mailbox. actix does not expose a mailbox's
/// length, so each message on the hot path (frames and readings, down the
/// link → pile → port → session/station chain) carries one of these: counted
/// in when sent, out when dropped, whether handled or lost with a dead actor.
pub struct Queued(&'static IntGauge);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counters for each frame type of one protocol, resolved once.
struct FrameCache([OnceLock<IntCounter>; 256]);

impl Default for FrameCache {
    fn default() -> Self {
        FrameCache(std::array::from_fn(|_| OnceLock::new()))
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(v.clone())).expect("unique metric");
    v
}

fn station_gauge(registry: &Registry, name: &str, help: &str) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), &["station"]).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        // process_* (CPU seconds, resident memory, open files against their
        // limit, start time) from /proc, where there is one.
        #[cfg(target_os = "linux")]
        let _ = r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        let build = IntGaugeVec::new(
            Opts::new("chargeplane_build_info", "Always 1; the running build's version in its labels."),
            &["version"],
        )
        .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        r.register(Box::new(build)).expect("unique metric");
        let piles_connected = IntGaugeVec::new(
            Opts::new("chargeplane_piles_connected", "Piles logged in on a live link, by protocol."),
            &["protocol"],
        )
        .expect("valid metric");
        r.register(Box::new(piles_connected.clone())).expect("unique metric");
        let sessions_open =
            IntGauge::new("chargeplane_sessions_open", "Charging sessions not yet billed or failed.")
                .expect("valid metric");
        r.register(Box::new(sessions_open.clone())).expect("unique metric");
        let ports = IntGaugeVec::new(Opts::new("chargeplane_ports", "Port actors by state."), &["state"])
            .expect("valid metric");
        r.register(Box::new(ports.clone())).expect("unique metric");
        let start_latency = Histogram::with_opts(
            HistogramOpts::new(
                "chargeplane_start_command_seconds",
                "From sending a start command to the pile's answer.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 90.0]),
        )
        .expect("valid metric");
        r.register(Box::new(start_latency.clone())).expect("unique metric");
        let logins_waiting =
            IntGauge::new("chargeplane_logins_waiting", "Pile logins waiting their turn to be authorized.")
                .expect("valid metric");
        r.register(Box::new(logins_waiting.clone())).expect("unique metric");
        let metrics = Metrics {
            logins_waiting,
            piles_connected,
            ports,
            start_latency,
            logins: counter_vec(
                &r,
                "chargeplane_logins_total",
                "Pile logins by protocol and result.",
                &["protocol", "result"],
            ),
            frames_in: counter_vec(
                &r,
                "chargeplane_frames_received_total",
                "Frames received from piles, by protocol and type.",
                &["protocol", "type"],
            ),
            frames_out: counter_vec(
                &r,
                "chargeplane_frames_sent_total",
                "Frames sent to piles, by protocol and type.",
                &["protocol", "type"],
            ),
            frames_in_cache: Default::default(),
            frames_out_cache: Default::default(),
            frame_errors: counter_vec(
                &r,
                "chargeplane_frame_errors_total",
                "Damaged or unusable frames dropped, by protocol and kind.",
                &["protocol", "kind"],
            ),
            links_closed: counter_vec(
                &r,
                "chargeplane_links_closed_total",
                "Pile connections closed, by protocol and reason.",
                &["protocol", "reason"],
            ),
            sessions_started: counter(
                &r,
                "chargeplane_sessions_started_total",
                "Charging sessions started (start command sent).",
            ),
            sessions_finished: counter_vec(
                &r,
                "chargeplane_sessions_finished_total",
                "Charging sessions ended, by result.",
                &["result"],
            ),
            sessions_open,
            samples: counter(
                &r,
                "chargeplane_meter_samples_total",
                "Meter readings received for open sessions.",
            ),
            duplicate_records: counter(
                &r,
                "chargeplane_duplicate_records_total",
                "Final records received again for an already billed session.",
            ),
            restarts: counter_vec(
                &r,
                "chargeplane_actor_restarts_total",
                "Actors restarted after they died, by kind (pile, port).",
                &["kind"],
            ),
            tariff_pushes: counter_vec(
                &r,
                "chargeplane_tariff_pushes_total",
                "Tariffs pushed to piles after a change, by outcome (sent, acknowledged, refused).",
                &["outcome"],
            ),
            bill_mismatches: counter(
                &r,
                "chargeplane_bill_mismatches_total",
                "Bills whose pile-reported amount differs from the platform's beyond the tolerance.",
            ),
            bill_failures: counter(
                &r,
                "chargeplane_bill_write_failures_total",
                "Bills that could not be written; the charge stays open until the pile resends its record.",
            ),
            power_stops: counter(
                &r,
                "chargeplane_power_stops_total",
                "Charges stopped because the station's limit left them no power their pile can be told.",
            ),
            piles_passivated: counter(
                &r,
                "chargeplane_piles_passivated_total",
                "Offline piles whose actors were stopped to give their memory back.",
            ),
            station_reconciles: counter(
                &r,
                "chargeplane_station_reconciles_total",
                "Station changes made on another node and taken up here by the periodic reconcile.",
            ),
            memory_trims: counter(
                &r,
                "chargeplane_memory_trims_total",
                "Heap trims returning freed memory to the system after piles were passivated.",
            ),
            command_resends: counter_vec(
                &r,
                "chargeplane_command_resends_total",
                "Commands sent to a pile again because it did not answer in time (AP3000 §1.0.3).",
                &["protocol"],
            ),
            commands_undeliverable: counter(
                &r,
                "chargeplane_commands_undeliverable_total",
                "Commands for a pile that had no live link.",
            ),
            alarms: counter_vec(
                &r,
                "chargeplane_pile_alarms_total",
                "Alarms raised, by kind and severity.",
                &["kind", "severity"],
            ),
            alarm_notifications_failed: counter(
                &r,
                "chargeplane_alarm_notifications_failed_total",
                "Alarms the webhook could not be told of.",
            ),
            power_samples_failed: counter(
                &r,
                "chargeplane_station_power_samples_failed_total",
                "Station power samples for the console's chart that could not be stored.",
            ),
            station_limit: station_gauge(
                &r,
                "chargeplane_station_power_limit_watts",
                "The transformer limit in force.",
            ),
            station_allocated: station_gauge(
                &r,
                "chargeplane_station_power_allocated_watts",
                "Power granted to charging ports.",
            ),
            station_measured: station_gauge(
                &r,
                "chargeplane_station_power_measured_watts",
                "Power drawn: charging ports plus other load.",
            ),
            station_headroom: station_gauge(
                &r,
                "chargeplane_station_headroom_watts",
                "Available power not granted.",
            ),
            station_refusals: counter_vec(
                &r,
                "chargeplane_station_charges_refused_total",
                "Charges refused because their minimum did not fit.",
                &["station"],
            ),
            maintenance: counter_vec(
                &r,
                "chargeplane_maintenance_commands_total",
                "Maintenance commands by kind and outcome (sent, acknowledged, refused, timed_out).",
                &["kind", "outcome"],
            ),
            card_starts: counter_vec(
                &r,
                "chargeplane_card_starts_total",
                "Card swipes at piles, by result (started, unknown_card, frozen, balance_too_low, ...).",
                &["result"],
            ),
            station_queued: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "chargeplane_station_queued_charges",
                        "Charges waiting for room under the limit.",
                    ),
                    &["station"],
                )
                .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            power_commands: counter(
                &r,
                "chargeplane_power_limit_commands_total",
                "Power limits sent to piles.",
            ),
            pile_accepts: counter(&r, "chargeplane_pile_accepts_total", "TCP connections accepted on the pile listener."),
            pile_accept_errors: counter(
                &r,
                "chargeplane_pile_accept_errors_total",
                "Failed accepts on the pile listener (out of file descriptors and the like).",
            ),
            listen_overflows: counter(
                &r,
                "chargeplane_tcp_listen_overflows_total",
                "Host-wide: connections the kernel dropped on a full listen queue (ListenOverflows, since boot).",
            ),
            listen_drops: counter(
                &r,
                "chargeplane_tcp_listen_drops_total",
                "Host-wide: connection attempts the kernel dropped at a listener (ListenDrops, since boot).",
            ),
            store_queue: gauge(
                &r,
                "chargeplane_store_queue_depth",
                "Writes queued for the store and not yet committed.",
            ),
            store_batches: counter(
                &r,
                "chargeplane_store_batches_total",
                "Transactions (SQLite) or requests (ScyllaDB) the store has committed.",
            ),
            store_writes: counter(&r, "chargeplane_store_writes_total", "Writes the store has committed."),
            store_errors: counter(&r, "chargeplane_store_write_errors_total", "Writes the store failed."),
            store_busy: {
                let c = Counter::new(
                    "chargeplane_store_batch_seconds_total",
                    "Time spent committing; divided by the batch rate, the commit latency.",
                )
                .expect("valid metric");
                r.register(Box::new(c.clone())).expect("unique metric");
                c
            },
            mailboxes: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "chargeplane_actor_mailbox_depth",
                        "Hot messages (frames, readings) sent to actors of a kind and not yet handled.",
                    ),
                    &["actor"],
                )
                .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                ["pile", "port", "session", "station"]
                    .map(|kind| &*Box::leak(Box::new(g.with_label_values(&[kind]))))
            },
            registry: r,
        };
        metrics.zeros();
        metrics
    }

    /// The labelled series dashboards and alert rules read exist, at zero,
    /// from the first scrape, so panels and rates work before any event.
    fn zeros(&self) {
        for protocol in [Protocol::Ykc, Protocol::Dny, Protocol::Ocpp].map(Protocol::as_str) {
            self.piles_connected.with_label_values(&[protocol]);
            self.logins.with_label_values(&[protocol, "accepted"]);
        }
        for result in ["billed", "failed"] {
            self.sessions_finished.with_label_values(&[result]);
        }
    }

    /// Counts a message into an actor kind's mailbox until it is dropped.
    pub fn queued(&self, actor: Mailbox) -> Queued {
        let depth = self.mailboxes[actor as usize];
        depth.inc();
        Queued(depth)
    }

    pub fn mailbox_depth(&self, actor: Mailbox) -> i64 {
        self.mailboxes[actor as usize].get()
    }

    /// Brings the store's own counts into the exposition at scrape time:
    /// counters advance by what the store counted since the last scrape.
    pub fn observe_store(&self, s: store::StoreStats) {
        self.store_queue.set(s.queued as i64);
        let catch_up = |c: &IntCounter, total: u64| c.inc_by(total.saturating_sub(c.get()));
        catch_up(&self.store_batches, s.batches);
        catch_up(&self.store_writes, s.writes);
        catch_up(&self.store_errors, s.errors);
        let busy = s.busy_micros as f64 / 1e6;
        if busy > self.store_busy.get() {
            self.store_busy.inc_by(busy - self.store_busy.get());
        }
    }

    /// Brings the kernel's listen-queue drop counts in at scrape time.
    pub fn observe_listen(&self) {
        if let Some((overflows, drops)) = crate::listener::queue_drops() {
            self.listen_overflows.inc_by(overflows.saturating_sub(self.listen_overflows.get()));
            self.listen_drops.inc_by(drops.saturating_sub(self.listen_drops.get()));
        }
    }

    fn count_frame(vec: &IntCounterVec, cache: &FrameCache, protocol: Protocol, kind: u8) {
        cache.0[kind as usize]
            .get_or_init(|| vec.with_label_values(&[protocol.as_str(), &format!("0x{kind:02x}")]))
            .inc();
    }

    pub fn frame_in(&self, protocol: Protocol, kind: u8) {
        Self::count_frame(&self.frames_in, &self.frames_in_cache[protocol as usize], protocol, kind);
    }

    pub fn frame_out(&self, protocol: Protocol, kind: u8) {
        Self::count_frame(&self.frames_out, &self.frames_out_cache[protocol as usize], protocol, kind);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
