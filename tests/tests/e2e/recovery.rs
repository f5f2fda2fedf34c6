//! The server as a real process, killed and restarted on the same data
//! directory: SIGKILL in the middle of several charges loses no finished
//! charge and bills nothing twice; SIGTERM flushes what it holds.

use crate::common;
use common::{dec, free_port};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event, Profile, Script};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// A chargeplane process on fixed ports, so a restart comes back where the
/// piles reconnect.
struct Server {
    child: Child,
    dir: PathBuf,
    http: reqwest::Client,
    /// The admin's bearer token.
    token: String,
    base: String,
    piles: SocketAddr,
}

impl Server {
    fn config(dir: &Path, sample_flush_ms: u64) -> PathBuf {
        let (piles, http) = (free_port(), free_port());
        let path = dir.join("chargeplane.toml");
        let toml = format!(
            "data_dir = {dir:?}\npile_listen = \"127.0.0.1:{piles}\"\nocpp_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:{http}\"\n\
             http_workers = 1\nsample_flush_ms = {sample_flush_ms}\ndny_command_gap_ms = 20\n"
        );
        std::fs::write(&path, toml).unwrap();
        // The first admin, as an operator would create it before serving.
        let created = Command::new(crate::common::BIN)
            .args(["create-admin", "--username", "admin", "--config"])
            .arg(&path)
            .env("CHARGEPLANE_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
            .output()
            .unwrap();
        assert!(created.status.success(), "create-admin: {}", String::from_utf8_lossy(&created.stderr));
        path
    }

    async fn start(dir: &Path) -> Server {
        let cfg = dir.join("chargeplane.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        let addr = |key: &str| -> SocketAddr {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap();
            line.split('"').nth(1).unwrap().parse().unwrap()
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
        let child = Command::new(crate::common::BIN)
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            dir: dir.to_owned(),
            http: reqwest::Client::new(),
            token: String::new(),
            base: format!("http://{}", addr("http_listen")),
            piles: addr("pile_listen"),
        };
        let deadline = Instant::now() + WAIT;
        while server.http.get(format!("{}/healthz", server.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "server did not come up: {}", server.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.token = common::login(&server.base, "admin", common::ADMIN_PASSWORD).await;
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token);
        let res = req.json(&body).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn until(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, v) = self.get(path).await;
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path} never got there; last {v}; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A station (0.10 yuan service fee), three plans and a 10-port pile;
/// returns the (time, energy, tier) plan ids.
async fn setup(server: &Server, pile: &str) -> (i64, i64, i64) {
    let tariff = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0"}},
                   "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
        )
        .await;
    let station = server
        .post("/api/v1/stations", json!({"name": "S", "tariff_id": tariff["id"], "service_fee": "0.10"}))
        .await;
    let time = server
        .post(
            "/api/v1/plans",
            json!({"name": "t", "pricing": {"kind": "time", "per_hour": "1.00", "unit_minutes": 15}}),
        )
        .await;
    let energy = server
        .post("/api/v1/plans", json!({"name": "e", "pricing": {"kind": "energy", "per_kwh": "1.20"}}))
        .await;
    let tiers = server
        .post(
            "/api/v1/plans",
            json!({"name": "p", "pricing": {"kind": "power_tiers", "unit_minutes": 1, "switch_after_s": 120,
                "tiers": [{"up_to_w": "200", "per_hour": "0.50"}, {"up_to_w": "400", "per_hour": "0.80"}]}}),
        )
        .await;
    server
        .post(
            "/api/v1/piles",
            json!({"id": pile, "station_id": station["id"], "protocol": "dny", "ports": 10}),
        )
        .await;
    (time["id"].as_i64().unwrap(), energy["id"].as_i64().unwrap(), tiers["id"].as_i64().unwrap())
}

/// A test that fails midway leaves no server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(server: &Server, pile: &str, port: u8, body: Value) -> String {
    let v = server.post(&format!("/api/v1/piles/{pile}/ports/{port}/start"), body).await;
    v["session_id"].as_str().unwrap().to_owned()
}

async fn plugged(server: &Server, pile: &EbikePile, port: u8) {
    pile.plug(port, true);
    let id = pile.id().to_string();
    server
        .until(&format!("/api/v1/piles/{id}"), |v| v["ports"][port as usize - 1]["status"] == "plugged")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_charge_loses_no_charge_and_bills_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    Server::config(dir.path(), 50);
    let server = Server::start(dir.path()).await;
    let phys = 0x05C0_FFEE;
    let id = format!("{phys:08X}");
    let (time, energy, tiers) = setup(&server, &id).await;

    // Half an hour of charging per real second.
    let mut cfg = EbikeConfig::new(phys);
    (cfg.time_scale, cfg.tick, cfg.report_every, cfg.settle_retry) = (1800.0, 30, 300, 60);
    let mut pile = EbikePile::connect(server.piles, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::Registered { accepted: true }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;

    pile.set_profile(1, Profile::Constant(dec!(180)));
    pile.script(1, Script::UnplugAt(3600));
    pile.set_profile(2, Profile::Constant(dec!(250)));
    pile.script(2, Script::UnplugAt(5400));
    // The tier changes early, so the crash falls in one tier.
    pile.set_profile(3, Profile::Steps(vec![(0, dec!(150)), (300, dec!(350))]));
    pile.script(3, Script::UnplugAt(4500));
    pile.set_profile(4, Profile::Constant(dec!(120)));
    pile.script(4, Script::UnplugAt(900));
    for port in 1..=4 {
        plugged(&server, &pile, port).await;
    }
    let started = Instant::now();
    let s1 = start(&server, &id, 1, json!({"plan_id": time})).await;
    let s2 = start(&server, &id, 2, json!({"plan_id": energy, "prepaid": "5.00"})).await;
    let s3 = start(&server, &id, 3, json!({"plan_id": tiers})).await;
    let s4 = start(&server, &id, 4, json!({"plan_id": time, "prepaid": "2.00"})).await;

    // Port 4 finishes and is billed before the crash.
    server.until(&format!("/api/v1/sessions/{s4}"), |v| v["state"] == "finished").await;
    let (_, before) = server.get(&format!("/api/v1/sessions/{s4}/bill")).await;
    let (_, charging) = server.get(&format!("/api/v1/sessions/{s2}/samples")).await;
    let samples_before = charging.as_array().unwrap().len();
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
    let s1_state = server.get(&format!("/api/v1/sessions/{s1}")).await.1;
    assert_eq!(s1_state["state"], "charging", "the crash must come mid-charge");

    server.kill();
    pile.wait_for(|e| matches!(e, Event::Closed), WAIT).await.unwrap();
    let server = Server::start(dir.path()).await;
    pile.restore();
    pile.wait_for(|e| matches!(e, Event::Registered { accepted: true }), WAIT).await.unwrap();

    let bill = |s: String| {
        let server = &server;
        async move {
            server.until(&format!("/api/v1/sessions/{s}"), |v| v["state"] == "finished").await;
            server.get(&format!("/api/v1/sessions/{s}/bill")).await.1
        }
    };
    // Port 1: 3600 s, 4 quarter hours at 1.00/h = 1.00, + 0.10.
    let b1 = bill(s1).await;
    assert_eq!((b1["seconds"].as_u64(), dec(&b1["total"])), (Some(3600), dec!(1.10)), "{b1}");
    // Port 2: 250 W × 5400 s = 0.375 kWh, 0.37 on the wire × 1.20 = 0.444, + 0.10 → 0.54.
    let b2 = bill(s2.clone()).await;
    assert_eq!(
        (dec(&b2["kwh"]), dec(&b2["total"]), dec(&b2["refund"])),
        (dec!(0.37), dec!(0.54), dec!(4.46)),
        "{b2}"
    );
    // Port 3: 600 s at 0.50/h = 0.0833 and 3900 s at 0.80/h = 0.8667, + 0.10 = 1.05.
    let b3 = bill(s3).await;
    assert_eq!(dec(&b3["total"]), dec!(1.05), "{b3}");
    // Port 4: billed once, before the crash, and still the same bill.
    let (_, after) = server.get(&format!("/api/v1/sessions/{s4}/bill")).await;
    assert_eq!(after, before);
    assert_eq!(dec(&after["total"]), dec!(0.35));
    // Readings stored before the crash survived it.
    let (_, samples) = server.get(&format!("/api/v1/sessions/{s2}/samples")).await;
    assert!(samples.as_array().unwrap().len() > samples_before, "{samples}");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_buffered_samples_and_closes_piles() {
    let dir = tempfile::tempdir().unwrap();
    // Samples would wait a minute for their batch: only the shutdown flush saves them.
    Server::config(dir.path(), 60_000);
    let server = Server::start(dir.path()).await;
    let phys = 0x05BEEF01;
    let id = format!("{phys:08X}");
    let (time, _, _) = setup(&server, &id).await;
    let mut cfg = EbikeConfig::new(phys);
    (cfg.time_scale, cfg.tick, cfg.report_every) = (600.0, 30, 300);
    let mut pile = EbikePile::connect(server.piles, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::Registered { accepted: true }), WAIT).await.unwrap();
    pile.set_profile(1, Profile::Constant(dec!(200)));
    plugged(&server, &pile, 1).await;
    let session = start(&server, &id, 1, json!({"plan_id": time})).await;
    // Two reports (at 300 s and 600 s) reach the platform within 1.2 s.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // An open console: its event stream ends with the server rather than
    // holding its stop (30 s, actix's graceful timeout; WAIT is 20 s).
    let mut events =
        crate::live::Events::at(&server.http, &server.base, &server.token, "/api/v1/events").await;

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    while events.next().await.is_some() {} // ends, cleanly, with the server
    let ev = pile.wait_for(|e| matches!(e, Event::Closed), WAIT).await;
    assert!(matches!(ev, Some(Event::Closed)), "the pile was told to go: {ev:?}");

    let server = Server::start(dir.path()).await;
    let (_, samples) = server.get(&format!("/api/v1/sessions/{session}/samples")).await;
    let kwh: Vec<Decimal> = samples.as_array().unwrap().iter().map(|s| dec(&s["kwh"])).collect();
    assert!(kwh.iter().any(|k| *k >= dec!(0.03)), "the 600 s reading (0.03 kWh) was flushed: {kwh:?}");
    let (_, rec) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(rec["state"], "charging", "{rec}");
    server.kill();
}
