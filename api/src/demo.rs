//! `chargeplane serve --demo`: the platform as a newcomer should first see
//! it, with no hardware. On a throwaway data directory it creates an admin,
//! a tariff, a car station with a simulated YKC pile and an OCPP 1.6J wall
//! box, and an e-bike station with a simulated 10-port AP3000 pile (the
//! `sim` crate's piles, over real TCP and WebSocket), and a driver with a topped-up wallet who starts a
//! charge every few seconds. Everything goes through the public HTTP API,
//! as a client would; charges end on their own (the e-bike pile's prepaid
//! time runs out, simulated a minute a second) or are stopped after
//! `CAR_CHARGE`, and are billed, so sessions, bills and metrics fill within
//! a minute.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::ebike_pile::{EbikeConfig, EbikePile};
use sim::ykc_pile::{PileConfig, SimPile};
use store::Store;
use vocab::PileId;

/// How long a demo car charge runs before the driver stops it.
const CAR_CHARGE: Duration = Duration::from_secs(20);
/// How often the driver looks for a free port.
const PACE: Duration = Duration::from_secs(3);
const CAR_PILE: &str = "55031412782305";
const EBIKE_PHYS: u32 = 0x05A1_B2C3;
/// An OCPP 1.6J wall box at the car park, one connector of 11 kW.
const OCPP_POINT: &str = "DEMO-WALLBOX-1";
const OCPP_POWER_W: i64 = 11_000;
const DRIVER_PHONE: &str = "13800000000";

/// The demo admin's credentials, for the start-up banner.
pub struct Admin {
    pub username: &'static str,
    pub password: String,
}

/// Creates the admin the demo signs in as.
pub async fn admin(store: &dyn Store) -> std::io::Result<Admin> {
    let password = hex::encode(crate::tokens::random::<8>());
    let role = domain::accounts::Role::Admin;
    crate::auth::new_user(store, "admin", &password, role, None, None)
        .await
        .map_err(|e| std::io::Error::other(e.message))?;
    Ok(Admin { username: "admin", password })
}

/// Where a running server is reached, for the demo's client and piles.
pub struct Target {
    pub http: SocketAddr,
    pub piles: SocketAddr,
    pub ocpp: SocketAddr,
    pub store: Arc<dyn Store>,
}

/// Seeds the platform through its API, connects the simulated piles and
/// drives charges until the process ends.
pub async fn run(target: Target, admin: Admin) {
    if let Err(e) = drive(&target, admin).await {
        tracing::error!(error = %e, "the demo stopped");
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        // Sign-in calls carry no token.
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        match status.is_success() {
            true => Ok(body),
            false => Err(format!("{path}: {status} {body}")),
        }
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, token, path, Some(body)).await
    }

    async fn get(&self, token: &str, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, token, path, None).await
    }
}

async fn drive(target: &Target, admin: Admin) -> Result<(), String> {
    let client = Client { http: reqwest::Client::new(), base: format!("http://{}", target.http) };
    let login = json!({ "username": admin.username, "password": admin.password });
    let token =
        client.post("", "/api/v1/auth/login", login).await?["token"].as_str().unwrap_or_default().to_owned();

    let tariff = json!({"name": "demo flat", "prices": {"flat": {"energy": "1.00", "service": "0.50"}},
                        "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let tariff = client.post(&token, "/api/v1/tariffs", tariff).await?["id"].clone();
    let car = client
        .post(
            &token,
            "/api/v1/stations",
            json!({"name": "Demo car park", "tariff_id": tariff, "utc_offset_minutes": 480}),
        )
        .await?["id"]
        .clone();
    let bikes = client
        .post(
            &token,
            "/api/v1/stations",
            json!({"name": "Demo bike shed", "tariff_id": tariff, "service_fee": "0.10"}),
        )
        .await?["id"]
        .clone();
    let plan = json!({"name": "per quarter hour", "pricing": {"kind": "time", "per_hour": "1.00", "unit_minutes": 15}});
    let plan = client.post(&token, "/api/v1/plans", plan).await?["id"].clone();
    client
        .post(
            &token,
            "/api/v1/piles",
            json!({"id": CAR_PILE, "station_id": car, "protocol": "ykc", "ports": 2}),
        )
        .await?;
    client
        .post(
            &token,
            "/api/v1/piles",
            json!({"id": OCPP_POINT, "station_id": car, "protocol": "ocpp", "ports": 1}),
        )
        .await?;
    let ebike = format!("{EBIKE_PHYS:08X}");
    client
        .post(
            &token,
            "/api/v1/piles",
            json!({"id": ebike, "station_id": bikes, "protocol": "dny", "ports": 10}),
        )
        .await?;

    // A driver with a password, signed in like the phone app, who tops up
    // 200 yuan through the sandbox provider the demo turns on.
    let hash = crate::passwords::hash("demo-driver-password").await.map_err(|e| e.message)?;
    target.store.create_driver(DRIVER_PHONE, Some(&hash), None).await.map_err(|e| e.to_string())?;
    let signin = json!({"phone": DRIVER_PHONE, "password": "demo-driver-password"});
    let driver = client.post("", "/api/v1/drivers/login", signin).await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let order =
        client.post(&driver, "/api/v1/me/orders", json!({"amount": "200.00", "provider": "sandbox"})).await?;
    let pay =
        format!("/api/v1/payments/sandbox/orders/{}/pay", order["order"]["id"].as_str().unwrap_or_default());
    client.post(&driver, &pay, json!({})).await?;

    let _piles = connect(target.piles).await.map_err(|e| e.to_string())?;
    let ocpp = target.ocpp;
    actix_rt::spawn(async move {
        if let Err(e) = wallbox(ocpp).await {
            tracing::error!(error = %e, "demo: the OCPP wall box stopped");
        }
    });
    tracing::info!("demo: piles connected; a charge starts every few seconds");
    let mut car_started: Vec<(&'static str, u64, Instant)> = Vec::new();
    loop {
        tokio::time::sleep(PACE).await;
        if let Err(e) = step(&client, &token, &driver, &ebike, plan.as_i64(), &mut car_started).await {
            tracing::info!(error = %e, "demo: a step did not go through; trying again");
        }
    }
}

/// One look at both piles: stop car charges that ran their time, start one
/// charge on a free port.
async fn step(
    client: &Client,
    token: &str,
    driver: &str,
    ebike: &str,
    plan: Option<i64>,
    car_started: &mut Vec<(&'static str, u64, Instant)>,
) -> Result<(), String> {
    for (pile, port, at) in car_started.iter().filter(|(_, _, at)| at.elapsed() >= CAR_CHARGE) {
        tracing::debug!(pile, port, since = ?at, "demo: stopping a car charge");
        client.post(token, &format!("/api/v1/piles/{pile}/ports/{port}/stop"), json!({})).await?;
    }
    car_started.retain(|(_, _, at)| at.elapsed() < CAR_CHARGE);
    let free = |pile: &Value| -> Option<u64> {
        let startable = |p: &&Value| {
            p["session_id"].is_null()
                && ["idle", "plugged", "full"].contains(&p["status"].as_str().unwrap_or(""))
        };
        pile["ports"].as_array()?.iter().find(startable)?["port"].as_u64()
    };
    for pile in [CAR_PILE, OCPP_POINT] {
        let car = client.get(token, &format!("/api/v1/piles/{pile}")).await?;
        let busy = car_started.iter().any(|(p, _, _)| *p == pile);
        if let Some(port) = free(&car).filter(|_| !busy) {
            client.post(driver, "/api/v1/me/charges", json!({"pile_id": pile, "port": port})).await?;
            car_started.push((pile, port, Instant::now()));
            return Ok(());
        }
    }
    let bike = client.get(token, &format!("/api/v1/piles/{ebike}")).await?;
    if let Some(port) = free(&bike) {
        let body = json!({"pile_id": ebike, "port": port, "plan_id": plan, "prepaid_hours": "1"});
        client.post(driver, "/api/v1/me/charges", body).await?;
    }
    Ok(())
}

/// The OCPP wall box: boots, says it is available, and does what a real one
/// does when asked: starts a transaction on RemoteStartTransaction, sends
/// its meter every few seconds while charging, stops on
/// RemoteStopTransaction, and heartbeats while idle.
async fn wallbox(addr: SocketAddr) -> Result<(), String> {
    use sim::ocpp_cp::ChargePoint;
    let failed = |what: &str| format!("the wall box could not {what}");
    let mut cp = ChargePoint::connect(addr, OCPP_POINT).await.map_err(|e| e.to_string())?;
    let boot = cp.boot().await.map_err(|_| failed("boot"))?;
    let heartbeat = Duration::from_secs(boot["interval"].as_u64().unwrap_or(60).clamp(1, 60));
    cp.status(1, "Available", "NoError").await.map_err(|_| failed("report its status"))?;
    let (mut register_wh, mut transaction) = (0i64, None::<i64>);
    let mut quiet = Instant::now();
    loop {
        if let Some(call) = cp.next_call("RemoteStartTransaction", Duration::from_millis(500)).await {
            cp.reply(&call, json!({"status": "Accepted"})).await.map_err(|e| e.to_string())?;
            let tag = call.payload["idTag"].as_str().unwrap_or("00000000").to_owned();
            let started = cp.start_transaction(1, &tag, register_wh).await.map_err(|_| failed("start"))?;
            transaction = started["transactionId"].as_i64();
            cp.status(1, "Charging", "NoError").await.map_err(|_| failed("report charging"))?;
        }
        if let Some(call) = cp.next_call("RemoteStopTransaction", Duration::from_millis(500)).await {
            cp.reply(&call, json!({"status": "Accepted"})).await.map_err(|e| e.to_string())?;
            if let Some(t) = transaction.take() {
                cp.stop_transaction(t, register_wh, "Remote").await.map_err(|_| failed("stop"))?;
                cp.status(1, "Available", "NoError").await.map_err(|_| failed("report available"))?;
            }
        }
        if let Some(t) = transaction {
            // A minute of charging a second, as the e-bike pile's clock runs.
            register_wh += OCPP_POWER_W / 60;
            cp.meter_values(1, Some(t), register_wh, OCPP_POWER_W).await.map_err(|_| failed("meter"))?;
            quiet = Instant::now();
        } else if quiet.elapsed() >= heartbeat {
            cp.call("Heartbeat", json!({})).await.map_err(|_| failed("heartbeat"))?;
            quiet = Instant::now();
        }
    }
}

/// The simulated piles, kept alive as long as the demo runs.
struct Piles {
    _car: SimPile,
    _bike: EbikePile,
}

async fn connect(addr: SocketAddr) -> std::io::Result<Piles> {
    let mut car = PileConfig::new(PileId(CAR_PILE.into()), 2);
    car.auto_meter = Some(rust_decimal::Decimal::from(60));
    car.realtime = Duration::from_secs(5);
    let car = SimPile::connect(addr, car).await?;
    // Priced by the station's model, as a real pile asks for it at login.
    car.request_billing_model();
    // A minute of the pile's time a second: an hour's charge takes a minute.
    let mut cfg = EbikeConfig::new(EBIKE_PHYS);
    (cfg.time_scale, cfg.tick, cfg.report_every) = (60.0, 1, 60);
    let bike = EbikePile::connect(addr, cfg).await?;
    for port in 1..=10 {
        bike.plug(port, true);
    }
    Ok(Piles { _car: car, _bike: bike })
}
