//! The measured scenarios: each connects a fleet, does one thing to it and
//! prints a progress line every few seconds and a markdown summary.

use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use loadtest::ebike_pile::{EbikeConfig, Profile};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::fleet::{self, Ctl, Fleet, InProcess, Ports, Protocol, Stats};
use crate::Args;

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Scenario {
    /// Connect and log in the fleet, let it idle, measure memory per pile.
    IdleFleet,
    /// E-bike charges started over HTTP at `--charge-rate` on a power-tier
    /// plan, in compressed time, for `--duration` seconds.
    ChargingDay,
    /// Drop every pile's connection at once and time the fleet's return.
    ReconnectStorm,
    /// HTTP start → the pile has the start command, with the fleet online.
    StartLatency,
    /// The fleet idles for `--duration` seconds with `--storms` storms in it
    /// (two by default, at a third and two thirds), RSS reported minute by
    /// minute.
    IdleSoak,
}

#[derive(clap::Args, Clone, Debug)]
pub struct ScenarioArgs {
    /// Run a measured scenario instead of the plain fleet run.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// The piles' protocol (scenarios only; the plain run is YKC).
    #[arg(long, value_enum, default_value = "ykc")]
    pub protocol: Protocol,
    /// Boot a server in this process (temporary data directory) and connect
    /// the piles to its gateway over in-memory streams.
    #[arg(long)]
    pub in_process: bool,
    /// The remote server's OCPP listener (`--protocol ocpp`).
    #[arg(long, default_value = "127.0.0.1:8768")]
    pub ocpp_addr: std::net::SocketAddr,
    /// The remote server's pid, to read its RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Ports per e-bike pile.
    #[arg(long, default_value_t = 10)]
    pub ports: u8,
    /// Connects in flight (before login) at most.
    #[arg(long, default_value_t = 512)]
    pub connect_concurrency: usize,
    /// Seconds to let the fleet idle before measuring its memory.
    #[arg(long, default_value_t = 10.0)]
    pub settle: f64,
    /// Seconds to wait for every pile to log in.
    #[arg(long, default_value_t = 600.0)]
    pub login_timeout: f64,
    /// E-bike simulated seconds per real second (default: 60 for the
    /// charging day, 1 otherwise).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// E-bike simulated seconds per step (default: 30 for the charging day,
    /// 5 otherwise).
    #[arg(long)]
    pub tick: Option<u32>,
    /// start-latency: how many starts.
    #[arg(long, default_value_t = 1000)]
    pub starts: u64,
    /// idle-soak: how many storms, spread evenly over the run.
    #[arg(long, default_value_t = 2)]
    pub storms: u32,
    /// reconnect-storm: charges running through the storm.
    #[arg(long, default_value_t = 1000)]
    pub storm_charges: u64,
    /// charging-day: seconds to wait after the last start for open charges
    /// to settle.
    #[arg(long, default_value_t = 240.0)]
    pub drain: f64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5.0)]
    pub progress: f64,
    /// Also measure what the simulators alone cost (in-process idle fleet).
    #[arg(long)]
    pub no_sim_control: bool,
}

/// One progress sample.
#[derive(Clone, Copy, Default)]
struct Sample {
    t: f64,
    rss: Option<u64>,
    queue: f64,
    /// Summed over the actor kinds.
    mailbox: f64,
    sessions_open: f64,
    samples: f64,
    piles_connected: f64,
}

struct Run {
    args: Arc<Args>,
    http: reqwest::Client,
    base: String,
    pid: Option<u32>,
    in_process: bool,
    fleet: Fleet,
    ctl: Vec<mpsc::UnboundedSender<Ctl>>,
    began: Instant,
    phase: Arc<Mutex<&'static str>>,
    series: Arc<Mutex<Vec<Sample>>>,
    rows: Vec<(String, String)>,
    errors: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    plan: i64,
}

const METRICS: [&str; 5] = [
    "chargeplane_store_queue_depth",
    "chargeplane_sessions_open",
    "chargeplane_meter_samples_total",
    "chargeplane_piles_connected",
    "chargeplane_actor_mailbox_depth",
];

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

pub async fn run(scenario: Scenario, args: &Arc<Args>) -> ExitCode {
    match run_inner(scenario, args).await {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_inner(scenario: Scenario, args: &Arc<Args>) -> Result<bool, String> {
    let sa = &args.scenario;
    let any_protocol = [Scenario::StartLatency, Scenario::IdleFleet, Scenario::IdleSoak];
    let storm_ocpp = scenario == Scenario::ReconnectStorm && sa.protocol == Protocol::Ocpp;
    if !any_protocol.contains(&scenario) && sa.protocol != Protocol::Dny && !storm_ocpp {
        return Err(format!("{scenario:?} runs e-bike piles: add --protocol dny"));
    }
    let ocpp = sa.protocol == Protocol::Ocpp;
    // One socket per charge point here, two when the server shares the
    // process (loopback WebSockets), plus a few for the HTTP client.
    let fds = u64::from(args.piles) * if ocpp && sa.in_process { 2 } else { 1 } + 256;
    if let Some(limit) = fleet::open_files_limit().filter(|&l| l < fds) {
        return Err(format!(
            "{} piles need about {fds} open files, the limit is {limit} (ulimit -n)",
            args.piles
        ));
    }
    let day = scenario == Scenario::ChargingDay;
    let mut ebike = EbikeConfig::new(0);
    ebike.time_scale = sa.time_scale.unwrap_or(if day { 60.0 } else { 1.0 });
    ebike.tick = sa.tick.unwrap_or(if day { 30 } else { 5 });
    // Auto-registered OCPP charge points have one connector.
    let ports = match sa.protocol {
        Protocol::Dny => sa.ports,
        Protocol::Ykc => args.guns,
        Protocol::Ocpp if args.register => args.guns,
        Protocol::Ocpp => 1,
    };

    let (base, dialer, ocpp_addr, pid, server) = if sa.in_process {
        let mut cfg = api::ServeConfig {
            auto_register_station: Some(1),
            // The fleet lives in memory; commits need not survive a power cut.
            store_fsync: false,
            ..Default::default()
        };
        cfg.http_workers = 1;
        let server = InProcess::boot(cfg).map_err(|e| format!("booting the in-process server: {e}"))?;
        (server.http.clone(), server.dialer(), server.ocpp_addr, Some(std::process::id()), Some(server))
    } else {
        (args.http.clone(), fleet::tcp_dialer(args.piles_addr), sa.ocpp_addr, sa.server_pid, None)
    };
    let token = match &server {
        Some(server) => Some(server.admin_token().await?),
        None => args.token.clone(),
    };
    let http = fleet::client(token.as_deref())?;
    let (station, plan) = setup(&http, &base).await?;
    let fleet = Fleet {
        protocol: sa.protocol,
        dialer,
        first_id: args.first_id,
        ports,
        ebike,
        ocpp_addr,
        heartbeat: Duration::from_secs_f64(args.heartbeat),
        meter_every: Duration::from_secs_f64(args.realtime),
        stats: Arc::new(Stats::default()),
        free: Arc::new(Ports::new(args.piles, ports)),
        gate: Arc::new(Semaphore::new(sa.connect_concurrency)),
    };
    if args.register {
        register(&http, &base, &fleet, args.piles, station).await?;
    }
    let mut run = Run {
        args: args.clone(),
        http,
        base,
        pid,
        in_process: sa.in_process,
        fleet,
        ctl: Vec::new(),
        began: Instant::now(),
        phase: Arc::new(Mutex::new("setup")),
        series: Arc::default(),
        rows: Vec::new(),
        errors: Arc::default(),
        plan,
    };
    run.row("scenario", format!("{scenario:?}"));
    run.row("protocol", format!("{:?}", sa.protocol));
    let mode = match (sa.in_process, ocpp) {
        (true, false) => "in-process (duplex streams)".into(),
        (true, true) => format!("in-process server, WebSocket {ocpp_addr}"),
        (false, false) => format!("TCP {}", args.piles_addr),
        (false, true) => format!("WebSocket {ocpp_addr}"),
    };
    run.row("mode", mode);
    run.row("piles", args.piles.to_string());
    run.row("ports per pile", ports.to_string());
    if ocpp {
        run.row("heartbeat / MeterValues every", format!("{} s / {} s", args.heartbeat, args.realtime));
    }
    if sa.protocol == Protocol::Dny {
        run.row(
            "e-bike time scale",
            format!("{}x, {} s steps", run.fleet.ebike.time_scale, run.fleet.ebike.tick),
        );
    }
    run.progress_task();

    let rss0 = fleet::rss(run.pid);
    let ok = run.connect_fleet().await;
    if !ok {
        run.summary();
        return Ok(false);
    }
    let ok = match scenario {
        Scenario::IdleFleet => run.idle(rss0).await,
        Scenario::ChargingDay => run.charging_day().await,
        Scenario::ReconnectStorm => run.storm().await,
        Scenario::StartLatency => run.start_latency().await,
        Scenario::IdleSoak => run.idle_soak().await,
    };
    run.summary();
    if let Some(server) = server {
        let _ = std::fs::remove_dir_all(&server.data_dir);
    }
    Ok(ok)
}

/// A tariff, a station and a power-tier plan; returns the station and plan.
async fn setup(http: &reqwest::Client, base: &str) -> Result<(i64, i64), String> {
    let tariff = post(
        http,
        base,
        "/tariffs",
        json!({"name": "loadtest flat", "prices": {"flat": {"energy": "0.8", "service": "0.4"}},
               "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
    )
    .await?;
    let station = post(
        http,
        base,
        "/stations",
        json!({"name": "loadtest", "tariff_id": tariff["id"], "service_fee": "0.10", "minimum_charge": "0.50"}),
    )
    .await?;
    let plan = post(
        http,
        base,
        "/plans",
        json!({"name": "loadtest by power", "pricing": {"kind": "power_tiers", "unit_minutes": 1, "switch_after_s": 120,
               "tiers": [{"up_to_w": "200", "per_hour": "0.50"}, {"up_to_w": "400", "per_hour": "0.80"},
                         {"up_to_w": "600", "per_hour": "1.20"}]}}),
    )
    .await?;
    let id = |v: &Value| v["id"].as_i64().ok_or_else(|| format!("no id in {v}"));
    Ok((id(&station)?, id(&plan)?))
}

async fn post(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Result<Value, String> {
    let res =
        http.post(format!("{base}/api/v1{path}")).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let v: Value = res.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("POST {path}: {status} {v}"));
    }
    Ok(v)
}

async fn register(
    http: &reqwest::Client,
    base: &str,
    fleet: &Fleet,
    piles: u32,
    station: i64,
) -> Result<(), String> {
    let protocol = match fleet.protocol {
        Protocol::Ykc => "ykc",
        Protocol::Dny => "dny",
        Protocol::Ocpp => "ocpp",
    };
    let failures = stream::iter(0..piles)
        .map(|i| {
            let body = json!({"id": fleet.pile_id(i), "station_id": station, "protocol": protocol, "ports": fleet.ports});
            http.post(format!("{base}/api/v1/piles")).json(&body).send()
        })
        .buffer_unordered(32)
        .filter(|r| futures::future::ready(!matches!(r, Ok(res) if res.status().is_success() || res.status() == 409)))
        .count()
        .await;
    if failures > 0 {
        return Err(format!("{failures} piles could not be registered"));
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[k] as f64 / 1000.0
}

/// A cheap xorshift, seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl Run {
    fn row(&mut self, k: &str, v: String) {
        self.rows.push((k.to_owned(), v));
    }

    fn set_phase(&self, phase: &'static str) {
        *self.phase.lock().unwrap() = phase;
        println!("--- {phase}");
    }

    fn stats(&self) -> &Stats {
        &self.fleet.stats
    }

    fn progress_task(&self) {
        let (stats, http, base, pid, phase, series, began, every) = (
            self.fleet.stats.clone(),
            self.http.clone(),
            self.base.clone(),
            self.pid,
            self.phase.clone(),
            self.series.clone(),
            self.began,
            Duration::from_secs_f64(self.args.scenario.progress),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let m = fleet::metrics(&http, &base, &METRICS)
                    .await
                    .unwrap_or_else(|| vec![f64::NAN; METRICS.len()]);
                let sample = Sample {
                    t: began.elapsed().as_secs_f64(),
                    rss: fleet::rss(pid),
                    queue: m[0],
                    sessions_open: m[1],
                    samples: m[2],
                    piles_connected: m[3],
                    mailbox: m[4],
                };
                series.lock().unwrap().push(sample);
                let s = &stats;
                println!(
                    "{:>7.1}s {:<14} online {:>6} (server {:>6})  logins {:>6}  closed {:>5}  starts {:>6}/{:<4} started {:>6}  billed {:>6}  open {:>6}  samples {:>8}  queue {:>5}  mailbox {:>5}  rss {}",
                    sample.t,
                    *phase.lock().unwrap(),
                    s.online.load(Relaxed),
                    sample.piles_connected,
                    s.logins.load(Relaxed),
                    s.closed.load(Relaxed),
                    s.starts_sent.load(Relaxed),
                    s.starts_failed.load(Relaxed),
                    s.started.load(Relaxed),
                    s.billed.load(Relaxed),
                    sample.sessions_open,
                    sample.samples,
                    sample.queue,
                    sample.mailbox,
                    sample.rss.map_or("n/a".into(), mb),
                );
            }
        });
    }

    /// Waits until `done` or `timeout`; true if done.
    async fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&Stats) -> bool) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if done(self.stats()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        done(self.stats())
    }

    async fn connect_fleet(&mut self) -> bool {
        self.set_phase("connecting");
        let n = self.args.piles;
        let t0 = Instant::now();
        for i in 0..n {
            self.ctl.push(self.fleet.spawn(i));
        }
        let all = self
            .wait_until(Duration::from_secs_f64(self.args.scenario.login_timeout), |s| {
                s.online.load(Relaxed) >= n as u64
                    || s.online.load(Relaxed) + s.refused.load(Relaxed) + s.connect_failed.load(Relaxed)
                        >= n as u64
            })
            .await;
        let secs = t0.elapsed().as_secs_f64();
        let online = self.stats().online.load(Relaxed);
        self.row(
            "piles logged in",
            format!("{online} of {n} in {secs:.1} s ({:.0}/s)", online as f64 / secs),
        );
        let (refused, failed) =
            (self.stats().refused.load(Relaxed), self.stats().connect_failed.load(Relaxed));
        if refused + failed > 0 {
            self.row("refused / could not connect", format!("{refused} / {failed}"));
        }
        all && online == n as u64
    }

    async fn idle(&mut self, rss0: Option<u64>) -> bool {
        self.set_phase("idle");
        let (cpu0, msgs0, t0) =
            (fleet::cpu_secs(self.pid), self.stats().messages.load(Relaxed), Instant::now());
        tokio::time::sleep(Duration::from_secs_f64(self.args.scenario.settle)).await;
        let n = self.args.piles as u64;
        let rss1 = fleet::rss(self.pid);
        if self.fleet.protocol == Protocol::Ocpp {
            let secs = t0.elapsed().as_secs_f64();
            let msgs = (self.stats().messages.load(Relaxed) - msgs0) as f64;
            self.row("messages answered per second (idle)", format!("{:.0}", msgs / secs));
            if let (Some(a), Some(b)) = (cpu0, fleet::cpu_secs(self.pid)) {
                let who = if self.in_process { "own process" } else { "server" };
                self.row(
                    &format!("CPU of the {who} (cores busy; messages per CPU-second)"),
                    format!("{:.2}; {:.0}", (b - a) / secs, msgs / (b - a).max(0.01)),
                );
            }
        }
        let who = if self.in_process { "own process (server + simulators)" } else { "server" };
        match (rss0, rss1) {
            (Some(a), Some(b)) => {
                self.row(&format!("RSS {who} before / after"), format!("{} / {}", mb(a), mb(b)));
                let per = b.saturating_sub(a) as f64 / n as f64;
                self.row(&format!("RSS per logged-in pile, {who}"), format!("{:.1} KB", per / 1000.0));
                // OCPP charge points dial a socket, not the in-memory dialer.
                let ocpp = self.fleet.protocol == Protocol::Ocpp;
                if self.in_process && !self.args.scenario.no_sim_control && !ocpp {
                    // The same number of simulators on streams nobody reads.
                    self.set_phase("sim-control");
                    let mut control = self.fleet.clone();
                    control.dialer = fleet::sink_dialer();
                    control.stats = Arc::new(Stats::default());
                    control.gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
                    control.first_id = self.fleet.first_id + 0x80_0000;
                    let ctl: Vec<_> = (0..self.args.piles).map(|i| control.spawn(i)).collect();
                    tokio::time::sleep(Duration::from_secs_f64(self.args.scenario.settle.max(5.0))).await;
                    if let Some(c) = fleet::rss(self.pid) {
                        let sim = c.saturating_sub(b) as f64 / n as f64;
                        self.row("RSS per simulator alone (control)", format!("{:.1} KB", sim / 1000.0));
                        self.row(
                            "RSS per logged-in pile, server (estimate = total - control)",
                            format!("{:.1} KB", (per - sim) / 1000.0),
                        );
                    }
                    drop(ctl);
                }
            }
            _ => self.row("RSS", "n/a (pass --server-pid for a remote server)".into()),
        }
        true
    }

    /// Starts a charge on `(pile, port)` over HTTP, stopping it after
    /// `stop_after` if given.
    fn start(&self, pile: u32, port: u8, profile: Option<Profile>, stop_after: Option<Duration>) {
        let url = format!("{}/api/v1/piles/{}/ports/{port}", self.base, self.fleet.pile_id(pile));
        let body = match self.fleet.protocol {
            Protocol::Dny => json!({"plan_id": self.plan, "prepaid": "10"}),
            Protocol::Ykc | Protocol::Ocpp => json!({}),
        };
        let ykc = self.fleet.protocol == Protocol::Ykc;
        let dny = self.fleet.protocol == Protocol::Dny;
        if dny {
            let _ = self.ctl[pile as usize].send(Ctl::Plug(port, profile));
        }
        let (http, stats, free, errors) =
            (self.http.clone(), self.fleet.stats.clone(), self.fleet.free.clone(), self.errors.clone());
        tokio::spawn(async move {
            if dny {
                // Let the plug-in heartbeat reach the platform first.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            stats.starts_sent.fetch_add(1, Relaxed);
            stats.pending.lock().unwrap().insert((pile, port), Instant::now());
            let res = http.post(format!("{url}/start")).json(&body).send().await;
            let err = match res {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => {
                    let status = r.status();
                    let v: Value = r.json().await.unwrap_or_default();
                    Some(format!("{} {}", status.as_u16(), v["error"].as_str().unwrap_or("?")))
                }
                Err(e) => Some(if e.is_timeout() { "timeout".into() } else { "transport".into() }),
            };
            if let Some(err) = err {
                stats.pending.lock().unwrap().remove(&(pile, port));
                stats.starts_failed.fetch_add(1, Relaxed);
                *errors.lock().unwrap().entry(err).or_default() += 1;
                free.release(pile, port);
                return;
            }
            if let Some(after) = stop_after {
                tokio::time::sleep(after).await;
                let _ = http.post(format!("{url}/stop")).json(&json!({})).send().await;
                if ykc {
                    // YKC records carry no gun; free the gun once stopped.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    free.release(pile, port);
                }
            }
        });
    }

    /// A free (pile, port), claimed; `None` after a few misses.
    fn pick(&self, rng: &mut Rng) -> Option<(u32, u8)> {
        for _ in 0..16 {
            let pile = rng.below(self.args.piles as u64) as u32;
            let port = 1 + rng.below(self.fleet.ports as u64) as u8;
            if self.fleet.free.claim(pile, port) {
                return Some((pile, port));
            }
        }
        None
    }

    fn latency_rows(&mut self) -> Option<f64> {
        let mut l = self.stats().latencies.lock().unwrap().clone();
        l.sort_unstable();
        if l.is_empty() {
            self.row("start latency", "no starts reached a pile".into());
            return None;
        }
        let p99 = percentile(&l, 0.99);
        self.row(
            "start latency HTTP sent → pile has command (n, p50 / p99 / max)",
            format!("{}, {:.1} / {:.1} / {:.1} ms", l.len(), percentile(&l, 0.5), p99, percentile(&l, 1.0)),
        );
        Some(p99)
    }

    fn start_rows(&mut self) {
        let s = self.stats();
        let v = format!(
            "{} sent, {} failed, {} started at piles, {} refused by piles, {} billed",
            s.starts_sent.load(Relaxed),
            s.starts_failed.load(Relaxed),
            s.started.load(Relaxed),
            s.start_refused_at_pile.load(Relaxed),
            s.billed.load(Relaxed)
        );
        self.row("charges", v);
        let errors = self.errors.lock().unwrap().clone();
        if !errors.is_empty() {
            let e: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            self.row("start errors", e.join(", "));
        }
    }

    async fn start_latency(&mut self) -> bool {
        self.set_phase("starting");
        let sa = &self.args.scenario;
        let rate = if self.args.charge_rate > 0.0 { self.args.charge_rate } else { 50.0 };
        let hold = Duration::from_secs_f64(self.args.charge_secs.clamp(1.0, 30.0));
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let profile = Profile::Constant(Decimal::from(150));
        for _ in 0..sa.starts {
            tick.tick().await;
            if let Some((pile, port)) = self.pick(&mut rng) {
                self.start(pile, port, Some(profile.clone()), Some(hold));
            }
        }
        self.set_phase("waiting");
        let starts = sa.starts;
        self.wait_until(Duration::from_secs(60), |s| {
            s.started.load(Relaxed) + s.start_refused_at_pile.load(Relaxed) + s.starts_failed.load(Relaxed)
                >= starts
        })
        .await;
        // Let the charges be stopped, so a server that outlives this run has
        // no open sessions left from it.
        tokio::time::sleep(hold + Duration::from_secs(3)).await;
        self.row("start rate", format!("{rate}/s"));
        self.start_rows();
        let p99 = self.latency_rows();
        p99.is_some_and(|p| p <= 20.0)
    }

    /// A battery profile for a charge of 1–2.5 simulated hours.
    fn battery(rng: &mut Rng) -> Profile {
        Profile::Battery {
            charge_w: Decimal::from(120 + rng.below(130)),
            cc_secs: 1800 + rng.below(5400) as u32,
            taper_secs: 1800,
            trickle_w: Decimal::from(2),
        }
    }

    async fn charging_day(&mut self) -> bool {
        self.set_phase("charging-day");
        let rate = if self.args.charge_rate > 0.0 { self.args.charge_rate } else { 116.0 };
        let duration = Duration::from_secs_f64(self.args.duration);
        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ u64::from(std::process::id()));
        let t0 = Instant::now();
        let samples0 = self.metric("chargeplane_meter_samples_total").await;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut no_port = 0u64;
        let mut mid: Option<(Instant, u64)> = None;
        while t0.elapsed() < duration {
            tick.tick().await;
            match self.pick(&mut rng) {
                Some((pile, port)) => {
                    let profile = Self::battery(&mut rng);
                    self.start(pile, port, Some(profile), None);
                }
                None => no_port += 1,
            }
            if mid.is_none() && t0.elapsed() >= duration / 2 {
                mid = Some((Instant::now(), self.stats().billed.load(Relaxed)));
            }
        }
        let ran = t0.elapsed().as_secs_f64();
        let billed_end = self.stats().billed.load(Relaxed);
        let started = self.stats().started.load(Relaxed);
        let samples1 = self.metric("chargeplane_meter_samples_total").await;
        let series: Vec<Sample> = self
            .series
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.t >= t0.duration_since(self.began).as_secs_f64())
            .copied()
            .collect();
        self.row("target start rate", format!("{rate}/s for {ran:.0} s"));
        self.row("charges started at piles per second", format!("{:.1}", started as f64 / ran));
        if let Some((at, billed_mid)) = mid {
            let secs = at.elapsed().as_secs_f64();
            self.row(
                "charges billed per second (second half)",
                format!("{:.1}", (billed_end - billed_mid) as f64 / secs),
            );
        }
        if let (Some(a), Some(b)) = (samples0, samples1) {
            self.row("meter samples stored per second", format!("{:.0}", (b - a) / ran));
        }
        if no_port > 0 {
            self.row("starts skipped (no free port found)", no_port.to_string());
        }
        self.series_rows(&series);
        self.minute_rows(&series, t0.duration_since(self.began).as_secs_f64());
        // Let the charges in flight settle.
        self.set_phase("draining");
        let drain = Duration::from_secs_f64(self.args.scenario.drain);
        let settled = self.wait_until(drain, |s| s.open_orders.lock().unwrap().is_empty()).await;
        let open = self.stats().open_orders.lock().unwrap().len();
        self.row(
            "charges still open after the drain",
            format!("{open} (waited up to {:.0} s)", drain.as_secs_f64()),
        );
        self.start_rows();
        self.latency_rows();
        let equivalent = started as f64 / ran * 86_400.0;
        self.row("equivalent charges per day", format!("{:.1} M", equivalent / 1e6));
        settled && started as f64 / ran >= 0.95 * rate
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        fleet::metrics(&self.http, &self.base, &[name]).await.map(|m| m[0])
    }

    /// RSS, store queue and mailboxes over the run: first third vs last third.
    fn series_rows(&mut self, series: &[Sample]) {
        if series.len() < 3 {
            return;
        }
        let third = series.len() / 3;
        let avg = |xs: &[Sample], f: &dyn Fn(&Sample) -> f64| xs.iter().map(f).sum::<f64>() / xs.len() as f64;
        let rss = |s: &Sample| s.rss.unwrap_or(0) as f64;
        let (first, last) = (&series[..third], &series[series.len() - third..]);
        if series.iter().all(|s| s.rss.is_some()) {
            self.row(
                "RSS avg first third → last third (max)",
                format!(
                    "{} → {} ({})",
                    mb(avg(first, &rss) as u64),
                    mb(avg(last, &rss) as u64),
                    mb(series.iter().map(|s| s.rss.unwrap_or(0)).max().unwrap_or(0))
                ),
            );
        }
        let depth = |f: fn(&Sample) -> f64| {
            let max = series.iter().map(f).fold(0.0, f64::max);
            format!("{:.1} → {:.1} ({max:.0})", avg(first, &f), avg(last, &f))
        };
        let (queue, mailbox) = (depth(|s| s.queue), depth(|s| s.mailbox));
        self.row("store queue depth avg first third → last third (max)", queue);
        self.row("actor mailbox depth avg first third → last third (max)", mailbox);
        let o = |s: &Sample| s.sessions_open;
        self.row(
            "open sessions avg first third → last third",
            format!("{:.0} → {:.0}", avg(first, &o), avg(last, &o)),
        );
    }

    async fn storm(&mut self) -> bool {
        let n = self.args.piles as u64;
        let want = self.args.scenario.storm_charges.min(n * self.fleet.ports as u64);
        self.set_phase("charging");
        let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ u64::from(std::process::id()));
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        let mut charges = Vec::new();
        for _ in 0..want {
            tick.tick().await;
            if let Some((pile, port)) = self.pick(&mut rng) {
                // Long enough to run through the storm.
                self.start(pile, port, Some(Profile::Constant(Decimal::from(150))), None);
                charges.push((pile, port));
            }
        }
        let k = charges.len() as u64;
        self.wait_until(Duration::from_secs(60), |s| {
            s.started.load(Relaxed) + s.starts_failed.load(Relaxed) + s.start_refused_at_pile.load(Relaxed)
                >= k
        })
        .await;
        let before: Vec<String> = self.stats().open_orders.lock().unwrap().iter().cloned().collect();
        self.row("charges running into the storm", before.len().to_string());

        let (back, secs) = self.cut_and_restore("reconnect storm").await;

        // Every charge still open on the platform?
        self.set_phase("checking");
        let states: Vec<Option<String>> = stream::iter(before.iter().cloned())
            .map(|id| {
                let (http, base) = (self.http.clone(), self.base.clone());
                async move {
                    let v: Value = http
                        .get(format!("{base}/api/v1/sessions/{id}"))
                        .send()
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()?;
                    v["state"].as_str().map(str::to_owned)
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let open = states
            .iter()
            .filter(|s| matches!(s.as_deref(), Some("charging" | "starting" | "stopping")))
            .count();
        self.row("sessions open on the platform after the storm", format!("{open} of {}", before.len()));

        // And each is billed once stopped.
        self.set_phase("stopping");
        let billed0 = self.stats().billed.load(Relaxed);
        stream::iter(charges.iter().copied())
            .map(|(pile, port)| {
                let url =
                    format!("{}/api/v1/piles/{}/ports/{port}/stop", self.base, self.fleet.pile_id(pile));
                let http = self.http.clone();
                async move {
                    let _ = http.post(url).json(&json!({})).send().await;
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
        let settled =
            self.wait_until(Duration::from_secs(120), |s| s.open_orders.lock().unwrap().is_empty()).await;
        let billed = self.stats().billed.load(Relaxed) - billed0;
        self.row("charges stopped and billed after the storm", format!("{billed} of {}", before.len()));
        self.start_rows();
        back && secs <= 60.0 && open == before.len() && settled && billed == before.len() as u64
    }

    /// Cuts every pile's power, waits until the platform has seen every link
    /// go, restores them all at once and times the fleet's return. Returns
    /// whether all came back within two minutes, and how long it took.
    async fn cut_and_restore(&mut self, label: &str) -> (bool, f64) {
        let n = self.args.piles as u64;
        self.set_phase("power-cut");
        for c in &self.ctl {
            let _ = c.send(Ctl::PowerCut);
        }
        self.wait_until(Duration::from_secs(30), |s| s.online.load(Relaxed) == 0).await;
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let m = fleet::metrics(&self.http, &self.base, &["chargeplane_piles_connected"]).await;
            if m.is_some_and(|m| m[0] == 0.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.set_phase("storm");
        let logins0 = self.stats().logins.load(Relaxed);
        let lost0 = self.stats().closed.load(Relaxed) + self.stats().connect_failed.load(Relaxed);
        let overflows0 = self.metric("chargeplane_tcp_listen_overflows_total").await;
        let t0 = Instant::now();
        for c in &self.ctl {
            let _ = c.send(Ctl::Restore);
        }
        let back = self.wait_until(Duration::from_secs(120), |s| s.online.load(Relaxed) >= n).await;
        let secs = t0.elapsed().as_secs_f64();
        let online = self.stats().online.load(Relaxed);
        let logins = self.stats().logins.load(Relaxed) - logins0;
        // A reset before the login reply shows as a closed link or a failed connect.
        let lost = self.stats().closed.load(Relaxed) + self.stats().connect_failed.load(Relaxed) - lost0;
        let overflows = match (overflows0, self.metric("chargeplane_tcp_listen_overflows_total").await) {
            (Some(a), Some(b)) => format!("{}", b - a),
            _ => "n/a".into(),
        };
        self.row(
            &format!("{label}: all piles logged in again"),
            format!("{online} of {n} in {secs:.1} s ({logins} logins, {lost} links reset or refused, {overflows} listen overflows)"),
        );
        (back && lost == 0, secs)
    }

    /// The fleet idles for `--duration` with `--storms` storms spread evenly
    /// in it; RSS is reported minute by minute.
    async fn idle_soak(&mut self) -> bool {
        let duration = Duration::from_secs_f64(self.args.duration);
        let storms = self.args.scenario.storms;
        let t0 = Instant::now();
        let mut all_back = true;
        for k in 1..=storms {
            let at = duration * k / (storms + 1);
            self.set_phase("idle");
            tokio::time::sleep(at.saturating_sub(t0.elapsed())).await;
            let (back, secs) = self.cut_and_restore(&format!("storm {k}")).await;
            all_back &= back && secs <= 60.0;
        }
        self.set_phase("idle");
        tokio::time::sleep(duration.saturating_sub(t0.elapsed())).await;
        let since = t0.duration_since(self.began).as_secs_f64();
        let series: Vec<Sample> =
            self.series.lock().unwrap().iter().filter(|s| s.t >= since).copied().collect();
        self.minute_rows(&series, since);
        all_back
    }

    /// RSS at each whole minute of a run that started at `since` (seconds
    /// into the tool's life): the sample nearest each mark.
    fn minute_rows(&mut self, series: &[Sample], since: f64) {
        if series.iter().any(|s| s.rss.is_none()) || series.is_empty() {
            return;
        }
        let end = series.last().map_or(0.0, |s| s.t - since);
        let marks = (0..=(end / 60.0) as u64).map(|m| {
            let at = since + m as f64 * 60.0;
            let s =
                series.iter().min_by(|a, b| (a.t - at).abs().total_cmp(&(b.t - at).abs())).expect("samples");
            format!("{m}: {:.1}", s.rss.unwrap_or(0) as f64 / 1e6)
        });
        self.row("RSS by minute (MB)", marks.collect::<Vec<_>>().join(", "));
    }

    fn summary(&mut self) {
        let elapsed = self.began.elapsed().as_secs_f64();
        self.row("wall time", format!("{elapsed:.0} s"));
        if let Some(rss) = fleet::rss(self.pid) {
            self.row("RSS at end", mb(rss));
        }
        println!("\n| measure | value |\n|---|---|");
        for (k, v) in &self.rows {
            println!("| {k} | {v} |");
        }
    }
}
