//! `loadtest`: runs simulated YKC piles over real TCP against a chargeplane
//! server. The piles log in, heartbeat, answer start and stop, and meter
//! while charging; with `--charge-rate` the tool also starts and stops
//! charges over the HTTP API, like drivers would. Progress is printed every
//! few seconds and a summary at the end.
//!
//! With `--scenario` it measures one of the scale targets (see
//! BENCHMARKS.md): `idle-fleet`, `charging-day`, `reconnect-storm` or
//! `start-latency`, with YKC, e-bike (`--protocol dny`) piles or OCPP 1.6J
//! charge points (`--protocol ocpp`), against a remote server or
//! (`--in-process`) a server it boots itself, its piles connected over
//! in-memory streams (OCPP charge points over loopback WebSockets).

mod fleet;
mod ocpp_member;
mod scenarios;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::stream::{self, StreamExt};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use rust_decimal::Decimal;
use serde_json::json;
use vocab::PileId;

#[derive(Parser, Clone)]
#[command(about = "Simulated YKC piles over real TCP against a chargeplane server")]
pub struct Args {
    /// The server's pile listener.
    #[arg(long, default_value = "127.0.0.1:8767")]
    piles_addr: SocketAddr,
    /// The server's HTTP API, to register piles and drive charges.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    /// A platform user's bearer token for the HTTP API (a manager's, to
    /// register piles and start charges).
    #[arg(long, env = "CHARGEPLANE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How many piles to run.
    #[arg(long, default_value_t = 10)]
    piles: u32,
    /// Guns per pile.
    #[arg(long, default_value_t = 2)]
    guns: u8,
    /// The first pile id; the others follow it.
    #[arg(long, default_value_t = 90_000_000_000_000)]
    first_id: u64,
    /// Register the piles (and a flat tariff and a station) over HTTP first.
    #[arg(long)]
    register: bool,
    /// Heartbeat interval, seconds (YKC: 10).
    #[arg(long, default_value_t = 10.0)]
    heartbeat: f64,
    /// Real-time data interval while charging, seconds (YKC: 15).
    #[arg(long, default_value_t = 15.0)]
    realtime: f64,
    /// Charging power of every gun, kW.
    #[arg(long, default_value_t = 7.0)]
    power_kw: f64,
    /// Charges started per second over HTTP (0: none; piles only idle).
    #[arg(long, default_value_t = 0.0)]
    charge_rate: f64,
    /// How long each charge runs before it is stopped over HTTP, seconds.
    #[arg(long, default_value_t = 30.0)]
    charge_secs: f64,
    /// How long to run, seconds (charging-day: how long charges are started).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    #[command(flatten)]
    scenario: scenarios::ScenarioArgs,
}

#[derive(Default)]
struct Counts {
    connected: AtomicU64,
    logged_in: AtomicU64,
    refused: AtomicU64,
    closed: AtomicU64,
    starts_sent: AtomicU64,
    starts_failed: AtomicU64,
    started: AtomicU64,
    stops_sent: AtomicU64,
    billed: AtomicU64,
}

fn pile_id(args: &Args, i: u32) -> PileId {
    PileId(format!("{:014}", args.first_id + i as u64))
}

async fn register(args: &Args, http: &reqwest::Client) -> Result<(), String> {
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}/api/v1{path}", args.http)).json(&body).send()
    };
    let tariff: serde_json::Value = post(
        "/tariffs",
        json!({"name": "loadtest flat", "prices": {"flat": {"energy": "0.8", "service": "0.4"}},
               "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
    )
    .await
    .map_err(|e| e.to_string())?
    .json()
    .await
    .map_err(|e| e.to_string())?;
    let station: serde_json::Value =
        post("/stations", json!({"name": "loadtest", "tariff_id": tariff["id"]}))
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
    let failures = stream::iter(0..args.piles)
        .map(|i| {
            let body = json!({"id": pile_id(args, i), "station_id": station["id"], "protocol": "ykc", "ports": args.guns});
            post("/piles", body)
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

async fn run_pile(args: Arc<Args>, i: u32, counts: Arc<Counts>) {
    let mut cfg = PileConfig::new(pile_id(&args, i), args.guns);
    cfg.heartbeat = Duration::from_secs_f64(args.heartbeat);
    cfg.realtime = Duration::from_secs_f64(args.realtime);
    cfg.auto_meter = Decimal::try_from(args.power_kw).ok();
    let Ok(mut pile) = SimPile::connect(args.piles_addr, cfg).await else {
        counts.closed.fetch_add(1, Relaxed);
        return;
    };
    counts.connected.fetch_add(1, Relaxed);
    while let Some(event) = pile.next_event().await {
        let c = match event {
            Event::LoginAccepted => &counts.logged_in,
            Event::LoginRefused => &counts.refused,
            Event::StartRequested { accepted: true, .. } => &counts.started,
            Event::RecordAcked { invalid: false, .. } => &counts.billed,
            Event::Closed => {
                counts.closed.fetch_add(1, Relaxed);
                return;
            }
            _ => continue,
        };
        c.fetch_add(1, Relaxed);
    }
}

/// Starts charges at the configured rate on pseudo-random ports and stops
/// each after `charge_secs`.
async fn drive(args: Arc<Args>, http: reqwest::Client, counts: Arc<Counts>, until: Instant) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.charge_rate));
    while Instant::now() < until {
        tick.tick().await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pile = pile_id(&args, (seed % args.piles as u64) as u32);
        let gun = 1 + ((seed >> 32) % args.guns as u64) as u8;
        let url = format!("{}/api/v1/piles/{pile}/ports/{gun}", args.http);
        let (http, counts, secs) = (http.clone(), counts.clone(), args.charge_secs);
        tokio::spawn(async move {
            counts.starts_sent.fetch_add(1, Relaxed);
            let ok = matches!(http.post(format!("{url}/start")).json(&json!({})).send().await, Ok(r) if r.status().is_success());
            if !ok {
                counts.starts_failed.fetch_add(1, Relaxed);
                return;
            }
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            counts.stops_sent.fetch_add(1, Relaxed);
            let _ = http.post(format!("{url}/stop")).json(&json!({})).send().await;
        });
    }
}

fn report(c: &Counts, elapsed: Duration) {
    println!(
        "{:>7.1}s  connected {:>6}  logged in {:>6}  refused {:>4}  closed {:>4}  started {:>6}  billed {:>6}",
        elapsed.as_secs_f64(),
        c.connected.load(Relaxed),
        c.logged_in.load(Relaxed),
        c.refused.load(Relaxed),
        c.closed.load(Relaxed),
        c.started.load(Relaxed),
        c.billed.load(Relaxed),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    if let Some(scenario) = args.scenario.scenario {
        return scenarios::run(scenario, &args).await;
    }
    let http = match fleet::client(args.token.as_deref()) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if args.register {
        if let Err(e) = register(&args, &http).await {
            eprintln!("loadtest: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.duration);
    for i in 0..args.piles {
        tokio::spawn(run_pile(args.clone(), i, counts.clone()));
    }
    if args.charge_rate > 0.0 {
        tokio::spawn(drive(args.clone(), http, counts.clone(), until));
    }
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5).min(until.saturating_duration_since(Instant::now()))).await;
        report(&counts, started.elapsed());
    }
    let c = &counts;
    println!("\n| measure | value |\n|---|---|");
    for (name, v) in [
        ("piles", args.piles as u64),
        ("connected", c.connected.load(Relaxed)),
        ("logged in", c.logged_in.load(Relaxed)),
        ("refused at login", c.refused.load(Relaxed)),
        ("connections closed", c.closed.load(Relaxed)),
        ("start requests sent", c.starts_sent.load(Relaxed)),
        ("start requests failed", c.starts_failed.load(Relaxed)),
        ("charges started at piles", c.started.load(Relaxed)),
        ("stop requests sent", c.stops_sent.load(Relaxed)),
        ("records acknowledged", c.billed.load(Relaxed)),
    ] {
        println!("| {name} | {v} |");
    }
    let all_in = c.logged_in.load(Relaxed) == args.piles as u64;
    if all_in {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
