//! What station leases cost a fleet on SQLite: a measurement for
//! BENCHMARKS.md, not a check, run by name:
//!
//! ```sh
//! cargo test --release -p actors --test lease_load -- --ignored --nocapture
//! ```
//!
//! Every clustered node running a station renews its lease (the owner, one
//! write) or reads it (a follower, one read) each `station_lease_renew_ms`.
//! This starts the real station actors of N stations (1,000 and 10,000 by
//! default: `LEASE_LOAD_STATIONS=1000,10000`), started over one second,
//! on nodes that are actix systems on threads of this process, each with its own `SqliteStore` on
//! one database file (as processes sharing a data directory would), the
//! lease at its defaults (6 s TTL, renewed every 1 s), and measures over
//! `LEASE_LOAD_SECS` (20) each of: the stations on one node without a
//! cluster (the baseline), on node A as the owner of every lease, and with
//! node B following them all. It reports the owner's store writes and
//! commits a second, how busy its writer was, CPU (the whole process, and
//! each node's actor thread) and whether any lease was lost (a renewal
//! that did not get through within the TTL).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::config::Config;
use actors::directory::NodeConfig;
use actors::Platform;
use domain::tariff::TouPrices;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use store::prelude::*;
use store::{NewStation, SqliteConfig, SqliteStore};
use vocab::StationId;

/// The store as `chargeplane serve` opens it by default (fsync on).
fn open(dir: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(SqliteConfig::new(dir.join("chargeplane.db"))).unwrap())
}

/// One node: an actix system on its own thread running the given
/// stations' actors until told to stop.
struct Node {
    platform: Arc<Platform>,
    /// The node's actor thread, for its CPU time.
    tid: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Starts `first`, and once `go` is set, `then`: two nodes started
    /// with halves swapped, `go` set once each holds its first half's
    /// leases, each own one half and follow the other.
    fn start(
        dir: &std::path::Path,
        name: Option<&str>,
        first: &[StationId],
        then: &[StationId],
        go: Arc<AtomicBool>,
    ) -> Node {
        let config = Config {
            // Power samples are a write per station a minute of their own:
            // not what is measured here.
            station_power_sample: Duration::ZERO,
            directory: name.map(|name| NodeConfig {
                node_id: name.into(),
                http_addr: format!("http://{name}.invalid:8080"),
                ttl: Duration::from_secs(90),
                refresh: Duration::from_secs(30),
                lease_ttl: Duration::from_secs(6),
                lease_renew: Duration::from_secs(1),
                key: "lease-load".into(),
            }),
            ..Config::default()
        };
        let (store, first, then) = (open(dir), first.to_vec(), then.to_vec());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let platform = Platform::new(config, store);
                start_stations(&platform, &first).await;
                let tid = std::fs::read_link("/proc/thread-self").unwrap();
                let tid = tid.file_name().unwrap().to_string_lossy().into_owned();
                ready_tx.send((platform.clone(), tid)).unwrap();
                while !go.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                start_stations(&platform, &then).await;
                let _ = stopped.await;
            })
        });
        let (platform, tid) = ready_rx.recv().unwrap();
        Node { platform, tid, stop: Some(stop), thread: Some(thread) }
    }

    fn lost(&self) -> u64 {
        self.platform.channel.lease_changes.with_label_values(&["lost"]).get()
    }
}

/// Starts the stations' actors over one renewal interval in 100 steps, as
/// piles logging in over time would: their lease calls spread over the
/// second rather than all arriving at once (which the writer would commit
/// in a few large batches).
async fn start_stations(platform: &Arc<Platform>, stations: &[StationId]) {
    let step = stations.len().div_ceil(100).max(1);
    for chunk in stations.chunks(step) {
        let started = chunk.iter().map(|id| actors::registry::station(platform, *id));
        for started in futures::future::join_all(started).await {
            started.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(|t| t.join());
    }
}

/// CPU seconds used so far by this process, or by one of its threads.
fn cpu(thread: Option<&str>) -> f64 {
    let path = match thread {
        Some(tid) => format!("/proc/self/task/{tid}/stat"),
        None => "/proc/self/stat".into(),
    };
    let stat = std::fs::read_to_string(path).unwrap();
    // Fields after the command's closing parenthesis: utime and stime are
    // the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What the nodes' stores and the process did over one window.
struct Window {
    secs: f64,
    /// Per node: writes, commits, time committing, failed writes.
    stores: Vec<store::StoreStats>,
    cpu: f64,
    /// Per node: its actor thread's CPU, % of one core.
    threads: Vec<f64>,
}

/// Measures `secs` of whatever runs, after a settling pause.
fn measure(nodes: &[&Node], secs: u64) -> Window {
    std::thread::sleep(Duration::from_secs(3));
    let stats = || nodes.iter().map(|n| n.platform.store.stats()).collect::<Vec<_>>();
    let (s0, c0, t0) = (stats(), cpu(None), Instant::now());
    let th0: Vec<f64> = nodes.iter().map(|n| cpu(Some(&n.tid))).collect();
    std::thread::sleep(Duration::from_secs(secs));
    let (s1, c1, secs) = (stats(), cpu(None), t0.elapsed().as_secs_f64());
    let threads = nodes.iter().zip(th0).map(|(n, c)| (cpu(Some(&n.tid)) - c) / secs * 100.0).collect();
    let stores = s0
        .iter()
        .zip(s1)
        .map(|(a, b)| store::StoreStats {
            queued: b.queued,
            batches: b.batches - a.batches,
            writes: b.writes - a.writes,
            errors: b.errors - a.errors,
            busy_micros: b.busy_micros - a.busy_micros,
        })
        .collect();
    Window { secs, stores, cpu: (c1 - c0) / secs * 100.0, threads }
}

fn report(n: usize, what: &str, w: &Window) {
    let per_node: Vec<String> = w
        .stores
        .iter()
        .zip(&w.threads)
        .map(|(s, t)| {
            format!(
                "{:.0} writes/s in {:.0} commits/s, writer busy {:.1}%, {} failed, actor thread {t:.1}%",
                s.writes as f64 / w.secs,
                s.batches as f64 / w.secs,
                s.busy_micros as f64 / 1e6 / w.secs * 100.0,
                s.errors,
            )
        })
        .collect();
    println!("lease load: {n} stations, {what}: CPU {:.1}% of one core; {}", w.cpu, per_node.join("; "));
}

/// Waits until `node` holds `n` leases; how long since `t0` that took.
fn until_held(node: &Node, n: usize, t0: Instant) -> Duration {
    while node.platform.channel.leases_held.get() < n as i64 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "held only {}",
            node.platform.channel.leases_held.get()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

/// Starts a node's stations at once.
fn go() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(true))
}

fn run(n: usize, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let stations: Vec<StationId> = actix_rt::System::new().block_on(async {
        let store = open(dir.path());
        let tariff = store.create_tariff(1, "flat", &TouPrices::flat(dec!(1), dec!(0.5))).await.unwrap();
        let mut ids = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let store = &store;
            let created = chunk.iter().map(|i| async move {
                store
                    .create_station(&NewStation {
                        operator_id: 1,
                        name: format!("s{i}"),
                        tariff_id: tariff.id,
                        utc_offset_minutes: 480,
                        service_fee: Decimal::ZERO,
                        minimum_charge: Decimal::ZERO,
                        merchant_id: None,
                        details: None,
                    })
                    .await
            });
            ids.extend(futures::future::join_all(created).await.into_iter().map(|s| s.unwrap().id));
        }
        ids
    });

    {
        let alone = Node::start(dir.path(), None, &stations, &[], go());
        report(n, "one node, no cluster (baseline)", &measure(&[&alone], secs));
    }
    {
        let t0 = Instant::now();
        let a = Node::start(dir.path(), Some("a"), &stations, &[], go());
        let took = until_held(&a, n, t0);
        println!("lease load: {n} stations: node A started them and took every lease in {took:.1?}");
        report(n, "node A owning every lease", &measure(&[&a], secs));
        let b = Node::start(dir.path(), Some("b"), &stations, &[], go());
        report(n, "node A owning, node B following every station", &measure(&[&a, &b], secs));
        let held = a.platform.channel.leases_held.get();
        println!("lease load: {n} stations: A holds {held}, lost A {} B {}", a.lost(), b.lost());
    }
    // Both nodes owning half: two processes' writers take turns at the
    // file's write lock. Their earlier leases lapse first (6 s TTL).
    std::thread::sleep(Duration::from_secs(7));
    let (first, second) = stations.split_at(n / 2);
    let halves = Arc::new(AtomicBool::new(false));
    let a = Node::start(dir.path(), Some("a"), first, second, halves.clone());
    let b = Node::start(dir.path(), Some("b"), second, first, halves.clone());
    let t0 = Instant::now();
    until_held(&a, first.len(), t0);
    until_held(&b, second.len(), t0);
    halves.store(true, Ordering::Relaxed);
    report(n, "nodes A and B each owning half, following the other half", &measure(&[&a, &b], secs));
    let held = (a.platform.channel.leases_held.get(), b.platform.channel.leases_held.get());
    println!(
        "lease load: {n} stations: A holds {}, B holds {}, lost A {} B {}",
        held.0,
        held.1,
        a.lost(),
        b.lost()
    );
}

#[test]
#[ignore = "a measurement: run it by name"]
fn measure_lease_load() {
    let counts = std::env::var("LEASE_LOAD_STATIONS").unwrap_or_else(|_| "1000,10000".into());
    let secs = std::env::var("LEASE_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    for n in counts.split(',').map(|n| n.trim().parse::<usize>().unwrap()) {
        run(n, secs);
    }
}
