//! The simulated fleet of the scenarios: one runner task per pile that owns
//! the simulator's handle, counts what happens to it and obeys the driver;
//! dialers for real TCP and for an in-process gateway; and the probes the
//! scenarios read (RSS, Prometheus metrics).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event as EEvent, Profile};
use loadtest::ykc_pile::{Event as YEvent, PileConfig, SimPile};
use loadtest::{BoxIo, Dialer};
use tokio::sync::{mpsc, Semaphore};

/// Bytes buffered each way of an in-process connection.
const DUPLEX_BUF: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Protocol {
    Ykc,
    Dny,
    /// OCPP 1.6J charge points over WebSocket.
    Ocpp,
}

/// What the driver tells a pile's runner.
pub enum Ctl {
    /// Plug a vehicle into the port, with this power profile (e-bike).
    Plug(u8, Option<Profile>),
    PowerCut,
    Restore,
}

/// Counters shared by every runner and the driver.
#[derive(Default)]
pub struct Stats {
    pub connect_failed: AtomicU64,
    /// Piles logged in right now.
    pub online: AtomicU64,
    pub logins: AtomicU64,
    pub refused: AtomicU64,
    pub closed: AtomicU64,
    pub starts_sent: AtomicU64,
    pub starts_failed: AtomicU64,
    pub started: AtomicU64,
    pub start_refused_at_pile: AtomicU64,
    pub stopped: AtomicU64,
    pub billed: AtomicU64,
    /// Calls the platform answered (OCPP charge points count theirs).
    pub messages: AtomicU64,
    /// Start requests in flight: sent at, by (pile, port).
    pub pending: Mutex<HashMap<(u32, u8), Instant>>,
    /// Microseconds from start request sent to the pile having the command.
    pub latencies: Mutex<Vec<u64>>,
    /// Charges started at a pile and not yet settled (e-bike orders).
    pub open_orders: Mutex<HashSet<String>>,
}

impl Stats {
    pub(crate) fn on_start(&self, pile: u32, port: u8, accepted: bool) {
        if let Some(sent) = self.pending.lock().unwrap().remove(&(pile, port)) {
            self.latencies.lock().unwrap().push(sent.elapsed().as_micros() as u64);
        }
        if accepted {
            self.started.fetch_add(1, Relaxed);
        } else {
            self.start_refused_at_pile.fetch_add(1, Relaxed);
        }
    }
}

/// Ports that are free for a new charge, one flag per (pile, port).
pub struct Ports {
    per_pile: u8,
    busy: Vec<AtomicBool>,
}

impl Ports {
    pub fn new(piles: u32, per_pile: u8) -> Self {
        let n = piles as usize * per_pile as usize;
        Ports { per_pile, busy: (0..n).map(|_| AtomicBool::new(false)).collect() }
    }

    fn slot(&self, pile: u32, port: u8) -> &AtomicBool {
        &self.busy[pile as usize * self.per_pile as usize + (port as usize - 1)]
    }

    /// Claims the port if it is free.
    pub fn claim(&self, pile: u32, port: u8) -> bool {
        !self.slot(pile, port).swap(true, Relaxed)
    }

    pub fn release(&self, pile: u32, port: u8) {
        self.slot(pile, port).store(false, Relaxed);
    }
}

/// How the fleet reaches the platform.
#[derive(Clone)]
pub struct Fleet {
    pub protocol: Protocol,
    pub dialer: Dialer,
    pub first_id: u64,
    pub ports: u8,
    pub ebike: EbikeConfig,
    /// Where OCPP charge points connect (their own listener, not `dialer`).
    pub ocpp_addr: SocketAddr,
    /// OCPP charge points' heartbeat and MeterValues intervals.
    pub heartbeat: Duration,
    pub meter_every: Duration,
    pub stats: Arc<Stats>,
    pub free: Arc<Ports>,
    /// Connects in flight (until login) at most.
    pub gate: Arc<Semaphore>,
}

impl Fleet {
    /// The platform's id of pile `i`.
    pub fn pile_id(&self, i: u32) -> String {
        match self.protocol {
            Protocol::Ykc => format!("{:014}", self.first_id + i as u64),
            Protocol::Dny => proto::dny::pile_id(self.phys(i)).to_string(),
            Protocol::Ocpp => format!("LT-CP-{}", self.first_id + i as u64),
        }
    }

    fn phys(&self, i: u32) -> u32 {
        // Device type 0x05 (10-port pile) in the top byte.
        0x0500_0000 | ((self.first_id as u32).wrapping_add(i) & 0x00FF_FFFF)
    }

    /// Starts pile `i`'s runner; returns its control channel.
    pub fn spawn(&self, i: u32) -> mpsc::UnboundedSender<Ctl> {
        let (tx, rx) = mpsc::unbounded_channel();
        let me = self.clone();
        match self.protocol {
            Protocol::Ykc => tokio::spawn(async move { me.run_ykc(i, rx).await }),
            Protocol::Dny => tokio::spawn(async move { me.run_dny(i, rx).await }),
            Protocol::Ocpp => tokio::spawn(async move { me.run_ocpp(i, rx).await }),
        };
        tx
    }

    async fn run_dny(self, i: u32, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        let s = &self.stats;
        let mut cfg = self.ebike.clone();
        cfg.phys = self.phys(i);
        cfg.ports = self.ports;
        cfg.iccid = format!("8986{:016X}", cfg.phys);
        let mut permit = Some(self.gate.clone().acquire_owned().await.expect("gate"));
        let Ok(mut pile) = EbikePile::connect_with(self.dialer.clone(), cfg).await else {
            s.connect_failed.fetch_add(1, Relaxed);
            return;
        };
        let mut online = false;
        // Powered off on the driver's orders: no reconnecting by itself.
        let mut cut = false;
        let mut retry: Option<tokio::time::Instant> = None;
        loop {
            let reconnect = async {
                match retry {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = reconnect => {
                    retry = None;
                    pile.restore();
                }
                event = pile.next_event() => match event {
                    Some(EEvent::Registered { accepted: true }) => {
                        permit = None;
                        s.logins.fetch_add(1, Relaxed);
                        if !online {
                            online = true;
                            s.online.fetch_add(1, Relaxed);
                        }
                    }
                    Some(EEvent::Registered { accepted: false }) => {
                        permit = None;
                        s.refused.fetch_add(1, Relaxed);
                    }
                    Some(EEvent::Started { port, order, accepted }) => {
                        s.on_start(i, port, accepted);
                        if accepted {
                            s.open_orders.lock().unwrap().insert(order);
                        } else {
                            self.free.release(i, port);
                        }
                    }
                    Some(EEvent::Stopped { .. }) => {
                        s.stopped.fetch_add(1, Relaxed);
                    }
                    Some(EEvent::SettlementAcked { port, order }) => {
                        s.billed.fetch_add(1, Relaxed);
                        s.open_orders.lock().unwrap().remove(&order);
                        // The rider takes the bike away.
                        pile.plug(port, false);
                        self.free.release(i, port);
                    }
                    Some(EEvent::Closed) => {
                        drop(permit.take());
                        s.closed.fetch_add(1, Relaxed);
                        if online {
                            online = false;
                            s.online.fetch_sub(1, Relaxed);
                        }
                        if !cut {
                            // A field pile dials again after a while.
                            let backoff = 1000 + u64::from(i % 2000);
                            retry = Some(tokio::time::Instant::now() + Duration::from_millis(backoff));
                        }
                    }
                    Some(_) => {}
                    None => return,
                },
                c = ctl.recv() => match c {
                    Some(Ctl::Plug(port, profile)) => {
                        if let Some(p) = profile {
                            pile.set_profile(port, p);
                        }
                        pile.plug(port, true);
                    }
                    Some(Ctl::PowerCut) => {
                        cut = true;
                        retry = None;
                        pile.power_cut();
                    }
                    Some(Ctl::Restore) => {
                        cut = false;
                        pile.restore();
                    }
                    None => return,
                },
            }
        }
    }

    async fn run_ykc(self, i: u32, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        let s = &self.stats;
        let mut cfg = PileConfig::new(vocab::PileId(self.pile_id(i)), self.ports);
        cfg.auto_meter = Some(rust_decimal::Decimal::from(7));
        let permit = self.gate.clone().acquire_owned().await.expect("gate");
        let Ok(mut pile) = SimPile::connect_with(&self.dialer, cfg).await else {
            s.connect_failed.fetch_add(1, Relaxed);
            return;
        };
        let mut permit = Some(permit);
        let mut online = false;
        loop {
            tokio::select! {
                event = pile.next_event() => match event {
                    Some(YEvent::LoginAccepted) => {
                        permit = None;
                        s.logins.fetch_add(1, Relaxed);
                        if !online {
                            online = true;
                            s.online.fetch_add(1, Relaxed);
                        }
                    }
                    Some(YEvent::LoginRefused) => {
                        permit = None;
                        s.refused.fetch_add(1, Relaxed);
                    }
                    Some(YEvent::StartRequested { gun, accepted, .. }) => {
                        s.on_start(i, gun, accepted);
                        if !accepted {
                            self.free.release(i, gun);
                        }
                    }
                    Some(YEvent::StopRequested { .. }) => {
                        s.stopped.fetch_add(1, Relaxed);
                    }
                    Some(YEvent::RecordAcked { .. }) => {
                        s.billed.fetch_add(1, Relaxed);
                    }
                    Some(YEvent::Closed) => {
                        drop(permit.take());
                        s.closed.fetch_add(1, Relaxed);
                        if online {
                            s.online.fetch_sub(1, Relaxed);
                        }
                        return;
                    }
                    Some(_) => {}
                    None => return,
                },
                c = ctl.recv() => if c.is_none() { return },
            }
        }
    }
}

/// A chargeplane server on its own thread and actix system, with the
/// gateway's arbiter at hand so in-memory connections can be handed to it.
pub struct InProcess {
    pub http: String,
    pub ocpp_addr: SocketAddr,
    pub platform: Arc<actors::Platform>,
    arbiter: actix_rt::ArbiterHandle,
    pub data_dir: PathBuf,
}

/// An HTTP client that sends a platform user's bearer token with every
/// request, as the operators' API requires.
pub fn client(token: Option<&str>) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        let value = format!("Bearer {t}").parse().map_err(|e| format!("token: {e}"))?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())
}

impl InProcess {
    /// Creates an admin on the in-process server and logs in as it.
    pub async fn admin_token(&self) -> Result<String, String> {
        let password = "loadtest-admin-password";
        let admin = domain::accounts::Role::Admin;
        api::auth::new_user(self.platform.store.as_ref(), "loadtest", password, admin, None, None)
            .await
            .map_err(|e| e.message)?;
        let body = serde_json::json!({ "username": "loadtest", "password": password });
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.http))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
        v["token"].as_str().map(str::to_owned).ok_or_else(|| format!("login failed: {v}"))
    }

    pub fn boot(mut cfg: api::ServeConfig) -> io::Result<InProcess> {
        let data_dir = std::env::temp_dir().join(format!("chargeplane-loadtest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        cfg.data_dir = data_dir.clone();
        cfg.pile_listen = "127.0.0.1:0".parse().expect("address");
        cfg.ocpp_listen = "127.0.0.1:0".parse().expect("address");
        cfg.http_listen = "127.0.0.1:0".parse().expect("address");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("chargeplane".into()).spawn(move || {
            actix_rt::System::new().block_on(async move {
                match api::server::start(&cfg).await {
                    Ok(running) => {
                        let arbiter = actix_rt::Arbiter::current();
                        let _ = ready_tx.send(Ok((
                            running.http_addr,
                            running.ocpp_addr,
                            running.platform.clone(),
                            arbiter,
                        )));
                        // Runs until the process exits.
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
        })?;
        let (http_addr, ocpp_addr, platform, arbiter) = ready_rx.recv().map_err(io::Error::other)??;
        Ok(InProcess { http: format!("http://{http_addr}"), ocpp_addr, platform, arbiter, data_dir })
    }

    /// Connections over `tokio::io::duplex`, the far end handed to the
    /// platform's gateway on its own thread exactly as an accepted socket is.
    pub fn dialer(&self) -> Dialer {
        let (platform, arbiter) = (self.platform.clone(), self.arbiter.clone());
        Dialer::new(move || {
            let (pile_end, platform_end) = tokio::io::duplex(DUPLEX_BUF);
            let platform = platform.clone();
            let handed = arbiter.spawn_fn(move || {
                let (read, write) = tokio::io::split(platform_end);
                actix_rt::spawn(actors::gateway::connect(platform, read, write, "in-process".into()));
            });
            Box::pin(async move {
                if handed {
                    Ok(Box::new(pile_end) as BoxIo)
                } else {
                    Err(io::Error::other("the in-process server is gone"))
                }
            })
        })
    }
}

/// Connections whose far end nobody reads: what the simulators alone cost.
pub fn sink_dialer() -> Dialer {
    let held: Arc<Mutex<Vec<tokio::io::DuplexStream>>> = Arc::default();
    Dialer::new(move || {
        let (pile_end, far) = tokio::io::duplex(DUPLEX_BUF);
        held.lock().unwrap().push(far);
        Box::pin(async move { Ok(Box::new(pile_end) as BoxIo) })
    })
}

pub fn tcp_dialer(addr: SocketAddr) -> Dialer {
    Dialer::tcp(addr)
}

/// CPU time a process has used, seconds (`None`: not readable).
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".into(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces): utime, stime
    // are the 12th and 13th, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// This process's soft limit on open files (`None`: not readable).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Resident set size of a process, bytes (`None`: not readable).
pub fn rss(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".into(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Sums of the Prometheus series named in `names`, from `/metrics`.
pub async fn metrics(http: &reqwest::Client, base: &str, names: &[&str]) -> Option<Vec<f64>> {
    let text = http
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut sums = vec![0.0; names.len()];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ')?;
        let name = series.split('{').next().unwrap_or(series);
        if let Some(k) = names.iter().position(|n| *n == name) {
            sums[k] += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    Some(sums)
}
