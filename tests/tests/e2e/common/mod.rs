//! What every end-to-end test needs: a real server on ephemeral ports with
//! its own data directory, a JSON HTTP client, and a metrics reader.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use api::server::Background;
use api::ServeConfig;
use rust_decimal::Decimal;
use serde_json::{json, Value};

pub struct Server {
    pub bg: Option<Background>,
    pub http: reqwest::Client,
    /// An admin's bearer token, sent with `post`, `get` and the like.
    pub admin: String,
    pub base: String,
    pub pile_addr: std::net::SocketAddr,
    /// Where OCPP charge points connect.
    pub ocpp_addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

/// Settings for tests: ephemeral ports, short intervals, and the sandbox
/// payment provider on (it is off by default) so drivers can top up.
pub fn test_config(dir: &std::path::Path) -> ServeConfig {
    ServeConfig {
        data_dir: dir.to_owned(),
        pile_listen: "127.0.0.1:0".parse().unwrap(),
        ocpp_listen: "127.0.0.1:0".parse().unwrap(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        http_workers: 1,
        heartbeat_timeout_ms: 5_000,
        login_timeout_ms: 5_000,
        start_timeout_ms: 5_000,
        sample_flush_ms: 20,
        // AP3000 spaces commands 0.5 s apart; tests keep them apart, briefly.
        dny_command_gap_ms: 20,
        dny_resend_after_ms: 2_000,
        // Every test's drivers sign in from 127.0.0.1; signin:: sets its own.
        signin_codes_per_address: 100_000,
        signin_checks_per_address: 100_000,
        signin_codes_per_phone: 1_000,
        signin_checks_per_phone: 1_000,
        payments: api::providers::PaymentsConfig { sandbox: true, ..Default::default() },
        ..ServeConfig::default()
    }
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config(dir.path());
        tweak(&mut cfg);
        let bg = Background::spawn(cfg).expect("server starts");
        let admin = admin_token(&bg);
        Server {
            admin,
            base: format!("http://{}", bg.http_addr),
            pile_addr: bg.pile_addr,
            ocpp_addr: bg.ocpp_addr,
            bg: Some(bg),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The server's data directory (its database file is `chargeplane.db`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.admin);
        let res = req.json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// POST as the holder of a bearer token.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let req = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).json(&body);
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_patch(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.http.patch(format!("{}{path}", self.base)).bearer_auth(&self.admin);
        let res = req.json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Any request, as `token`'s user or anonymous; its status and JSON body.
    pub async fn call(&self, token: Option<&str>, method: &str, path: &str, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        // An event stream never ends: its status is the answer.
        if res.headers().get("content-type").is_some_and(|t| t == "text/event-stream") {
            return (status, Value::Null);
        }
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let res = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.admin).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The value of one sample in the Prometheus exposition, 0 if absent.
    /// `series` is the metric name with its labels as exposed, e.g.
    /// `chargeplane_frame_errors_total{kind="bad_crc",protocol="ykc"}`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text =
            self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }

    /// Creates a flat-rate tariff, a station on it and a YKC pile; returns the station id.
    pub async fn station_with_pile(&self, pile: &str, ports: u8) -> i64 {
        let (s, t) = self
            .post(
                "/api/v1/tariffs",
                json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0.5"}},
                       "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        let (s, st) = self.post("/api/v1/stations", json!({"name": "S", "tariff_id": t["id"]})).await;
        assert_eq!(s, 201, "{st}");
        self.register(pile, st["id"].as_i64().unwrap(), ports).await;
        st["id"].as_i64().unwrap()
    }

    pub async fn register(&self, pile: &str, station: i64, ports: u8) {
        let (s, p) = self
            .post(
                "/api/v1/piles",
                json!({"id": pile, "station_id": station, "protocol": "ykc", "ports": ports}),
            )
            .await;
        assert_eq!(s, 201, "{p}");
    }

    /// Polls `GET path` until `pred` holds (or panics after 5 s).
    pub async fn until(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.until_as(&self.admin, path, pred).await
    }

    /// Polls `path` as `token`'s user until `pred` holds (5 s at most).
    pub async fn until_as(&self, token: &str, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..250 {
            let (_, v) = self.get_as(token, path).await;
            if pred(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{path} never reached the expected state; last: {}", self.get_as(token, path).await.1);
    }
}

/// Creates the admin `chargeplane create-admin` would and logs in as it, on
/// a thread of its own (the caller may be inside a runtime).
fn admin_token(bg: &Background) -> String {
    let (store, base) = (bg.platform.store.clone(), format!("http://{}", bg.http_addr));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let admin = domain::accounts::Role::Admin;
            api::auth::new_user(store.as_ref(), "admin", ADMIN_PASSWORD, admin, None, None).await.unwrap();
            login(&base, "admin", ADMIN_PASSWORD).await
        })
    })
    .join()
    .unwrap()
}

pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A platform user's bearer token.
pub async fn login(base: &str, username: &str, password: &str) -> String {
    let body = json!({ "username": username, "password": password });
    let res =
        reqwest::Client::new().post(format!("{base}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200, "login as {username}");
    let v: Value = res.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(bg) = self.bg.take() {
            bg.stop();
        }
    }
}

/// A webhook receiver: answers 200 to every POST and hands over its body.
pub fn webhook() -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_slice(&body) {
                let _ = tx.send(v);
            }
        }
    });
    (url, rx)
}

impl Server {
    /// Registers a driver with the code the webhook delivers, tops up
    /// `amount` through the sandbox, and returns (driver id, token).
    pub async fn driver(&self, codes: &mpsc::Receiver<Value>, phone: &str, amount: &str) -> (i64, String) {
        let (s, _) = self.post("/api/v1/drivers/codes", json!({ "phone": phone })).await;
        assert_eq!(s, 202);
        let sms = codes.recv_timeout(Duration::from_secs(10)).expect("a login code on the webhook");
        let (s, reg) = self.post("/api/v1/drivers", json!({ "phone": phone, "code": sms["code"] })).await;
        assert_eq!(s, 201, "{reg}");
        let token = reg["token"].as_str().unwrap().to_owned();
        let (s, order) = self.post_as(&token, "/api/v1/me/orders", json!({ "amount": amount })).await;
        assert_eq!(s, 201, "{order}");
        let (s, paid) = self.post(order["pay_url"].as_str().unwrap(), json!({})).await;
        assert_eq!((s, &paid["credited"]), (200, &json!(true)), "{paid}");
        (reg["driver"]["id"].as_i64().unwrap(), token)
    }
}

impl Server {
    /// A simulated YKC pile with `guns` guns, logged in and shown online. It
    /// heartbeats often (tests shorten the server's window) and reports
    /// live data only when told to (`send_realtime`).
    pub async fn ykc_pile(&self, id: &str, guns: u8) -> loadtest::ykc_pile::SimPile {
        use loadtest::ykc_pile::{Event, PileConfig, SimPile};
        let mut cfg = PileConfig::new(vocab::PileId(id.into()), guns);
        cfg.realtime = Duration::from_secs(3600);
        cfg.heartbeat = Duration::from_millis(500);
        let mut pile = SimPile::connect(self.pile_addr, cfg).await.unwrap();
        let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
        assert!(matches!(ev, Some(Event::LoginAccepted)), "{id} logs in: {ev:?}");
        self.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
        pile
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

/// The `chargeplane` binary, for tests that run the real process.
pub const BIN: &str = env!("CARGO_BIN_EXE_chargeplane-e2e");

/// A local port free a moment ago, for a server process to listen on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A money or energy amount from JSON, where it is always a string.
pub fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a decimal string")).parse().unwrap()
}

/// YKC frames of a simulated car pile, encoded and decoded with the
/// platform's own codec: the test's choice. The simulator itself speaks
/// `sim::ykc_wire`, written from the spec apart from that codec.
pub trait YkcMessages {
    /// Sends `msg` from the pile, encoded with `proto::ykc`.
    fn send_msg(&self, msg: proto::ykc::Message);
}

impl YkcMessages for loadtest::ykc_pile::SimPile {
    fn send_msg(&self, msg: proto::ykc::Message) {
        let frame = msg.encode(0).expect("the test's message encodes");
        self.send_frame(frame.kind, frame.body.to_vec());
    }
}

/// The platform's reading of a frame a simulated car pile got, if the event
/// is one and `proto::ykc` reads it.
pub fn ykc_msg(event: &loadtest::ykc_pile::Event) -> Option<proto::ykc::Message> {
    let loadtest::ykc_pile::Event::Frame { kind, body } = event else { return None };
    let frame = proto::ykc::Frame { seq: 0, enc: 0, kind: *kind, body: body.clone().into() };
    proto::ykc::Message::decode(&frame).ok()
}
