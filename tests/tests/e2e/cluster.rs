//! Several nodes on one store, as real processes: two `chargeplane serve`
//! on one data directory (SQLite in WAL mode takes several processes), a
//! pile logged in to node B, and commands sent to node A reaching it
//! through B. And `chargeplane export` moving a data directory whole.

use crate::common::{self, free_port, BIN};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// A `chargeplane serve` process; killed when dropped.
struct Node {
    child: Child,
    name: String,
    log: PathBuf,
    base: String,
    piles: SocketAddr,
    http: reqwest::Client,
    token: String,
}

impl Node {
    /// A node on `data_dir` named `name`, which advertises itself to the
    /// others (directory rows lapse after 3 s, refreshed every 200 ms).
    async fn start(data_dir: &Path, name: &str) -> Node {
        Node::start_with(data_dir, name, "").await
    }

    /// A node with more settings (TOML lines) than the shared ones.
    async fn start_with(data_dir: &Path, name: &str, extra: &str) -> Node {
        let (piles, http) = (free_port(), free_port());
        let config = data_dir.join(format!("{name}.toml"));
        let toml = format!(
            "data_dir = {data_dir:?}\npile_listen = \"127.0.0.1:{piles}\"\nocpp_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:{http}\"\n\
             http_workers = 1\nsample_flush_ms = 20\nheartbeat_timeout_ms = 5000\n\
             node_id = \"{name}\"\nadvertise_http = \"http://127.0.0.1:{http}\"\n\
             pile_node_ttl_ms = 3000\npile_node_refresh_ms = 200\nstation_reconcile_ms = 200\n{extra}"
        );
        std::fs::write(&config, toml).unwrap();
        let log = data_dir.join(format!("{name}.log"));
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut node = Node {
            child,
            name: name.into(),
            log,
            base: format!("http://127.0.0.1:{http}"),
            piles: format!("127.0.0.1:{piles}").parse().unwrap(),
            http: reqwest::Client::new(),
            token: String::new(),
        };
        let deadline = Instant::now() + WAIT;
        while node.http.get(format!("{}/healthz", node.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "{name} did not come up: {}", node.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.token = common::login(&node.base, "admin", common::ADMIN_PASSWORD).await;
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let node = res.headers().get("x-chargeplane-node").map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null), node)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value, Option<String>) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value, Option<String>) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn until(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, v, _) = self.get(path).await;
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path} on {} never got there; last {v}", self.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metric(&self, series: &str) -> f64 {
        let text =
            self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_admin(data_dir: &Path) {
    let out = Command::new(BIN)
        .args(["create-admin", "--username", "admin", "--data-dir"])
        .arg(data_dir)
        .env("CHARGEPLANE_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "create-admin: {}", String::from_utf8_lossy(&out.stderr));
}

/// A flat tariff, a station and a one-gun YKC pile, through `node`.
async fn site(node: &Node, pile: &str) {
    let tariff = json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0.5"}},
                        "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let (s, t, _) = node.post("/api/v1/tariffs", tariff).await;
    assert_eq!(s, 201, "{t}");
    let (s, st, _) = node.post("/api/v1/stations", json!({"name": "S", "tariff_id": t["id"]})).await;
    assert_eq!(s, 201, "{st}");
    let body = json!({"id": pile, "station_id": st["id"], "protocol": "ykc", "ports": 1});
    let (s, p, _) = node.post("/api/v1/piles", body).await;
    assert_eq!(s, 201, "{p}");
}

async fn ykc(addr: SocketAddr, id: &str) -> SimPile {
    let mut cfg = PileConfig::new(vocab::PileId(id.into()), 1);
    cfg.realtime = Duration::from_secs(3600);
    cfg.heartbeat = Duration::from_millis(500);
    let mut pile = SimPile::connect(addr, cfg).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
    assert!(matches!(ev, Some(Event::LoginAccepted)), "{id} logs in: {ev:?}");
    pile
}

const FORWARDED: &str = "chargeplane_forwarded_commands_total{outcome=\"answered\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_to_one_node_reaches_a_pile_on_another() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let (a, b) = (Node::start(dir.path(), "a").await, Node::start(dir.path(), "b").await);
    let id = "71000000000001";
    site(&a, id).await;

    // Nobody holds the pile: both nodes say offline, as a single node does.
    let start = format!("/api/v1/piles/{id}/ports/1/start");
    let (s, v, _) = a.post(&start, json!({})).await;
    assert_eq!((s, &v["error"]), (409, &json!("pile_offline")), "{v}");

    // The pile logs in to B; A sees it online through B and starts a charge on it.
    let mut pile = ykc(b.piles, id).await;
    a.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    let (s, v, node) = a.post(&start, json!({})).await;
    assert_eq!(s, 202, "{v}\n{}", b.log());
    assert_eq!(node.as_deref(), Some("b"), "answered by the node holding the pile");
    let session = v["session_id"].as_str().unwrap().to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    a.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
    assert!(a.metric(FORWARDED).await >= 2.0, "the view and the start");
    assert_eq!(b.metric(FORWARDED).await, 0.0, "a forwarded request is answered, not forwarded again");

    let stop = format!("/api/v1/piles/{id}/ports/1/stop");
    let (s, v, node) = a.post(&stop, json!({})).await;
    assert_eq!((s, node.as_deref()), (202, Some("b")), "{v}");
    pile.wait_for(|e| matches!(e, Event::StopRequested { .. }), WAIT).await.unwrap();
    a.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;

    // A retried start is answered once, whichever node the retry reaches:
    // idempotency keys are in the shared store.
    let keyed = |node: &Node| {
        node.http
            .post(format!("{}{start}", node.base))
            .bearer_auth(&node.token)
            .header("Idempotency-Key", "start-once")
            .json(&json!({}))
            .send()
    };
    let first = keyed(&a).await.unwrap();
    assert_eq!(first.status().as_u16(), 202);
    let first: Value = first.json().await.unwrap();
    let again = keyed(&b).await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();

    // Commands too; a pile's command list is the holding node's.
    let (s, v, node) = a.post(&format!("/api/v1/piles/{id}/commands"), json!({"kind": "time_sync"})).await;
    assert_eq!((s, node.as_deref()), (202, Some("b")), "{v}");
    let (s, listed, _) = a.get(&format!("/api/v1/piles/{id}/commands")).await;
    let (_, on_b, _) = b.get(&format!("/api/v1/piles/{id}/commands")).await;
    assert_eq!((s, &listed), (200, &on_b));

    // The pile hangs up: B takes it out of the directory, and A says offline again.
    drop(pile);
    b.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == false).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (s, v, node) = a.post(&start, json!({})).await;
        if s == 409 && v["error"] == "pile_offline" && node.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "still forwarded: {s} {v} {node:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node that dies without a word leaves its rows, which lapse after the
/// TTL; meanwhile commands for its piles answer 503, naming the node.
/// An edit made on one node reaches the node running the station: a new
/// tariff set through A is taken up by B, whose pile is sent it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tariff_set_on_one_node_reaches_the_station_running_on_another() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let (a, b) = (Node::start(dir.path(), "a").await, Node::start(dir.path(), "b").await);
    let id = "71000000000004";
    site(&a, id).await;
    let _pile = ykc(b.piles, id).await;
    let view = a.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    let station = view["station_id"].as_i64().unwrap();
    let pushed = "chargeplane_tariff_pushes_total{outcome=\"sent\"}";
    let before = b.metric(pushed).await;

    let tariff = json!({"name": "dearer", "prices": {"flat": {"energy": "2", "service": "0.5"}},
                        "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let (s, t, _) = a.post("/api/v1/tariffs", tariff).await;
    assert_eq!(s, 201, "{t}");
    let (s, v, _) = a
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/stations/{station}/tariff"),
            Some(json!({"tariff_id": t["id"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = Instant::now() + WAIT;
    while b.metric(pushed).await <= before {
        assert!(Instant::now() < deadline, "B never pushed the new tariff: {}", b.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b.metric("chargeplane_station_reconciles_total").await >= 1.0);
}

/// A driver's start names its pile in the body: it is forwarded too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drivers_start_on_one_node_reaches_a_pile_on_another() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let (hook, codes) = common::webhook();
    let extra = format!("notify_webhook = {hook:?}\n\n[payments]\nsandbox = true\n");
    let (mut a, b) =
        (Node::start_with(dir.path(), "a", &extra).await, Node::start_with(dir.path(), "b", &extra).await);
    let id = "71000000000003";
    site(&a, id).await;
    let mut pile = ykc(b.piles, id).await;
    a.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;

    // A driver signs up and tops up on A.
    let phone = "13900000071";
    assert_eq!(a.post("/api/v1/drivers/codes", json!({ "phone": phone })).await.0, 202);
    let sms = codes.recv_timeout(WAIT).expect("a login code on the webhook");
    let (s, reg, _) = a.post("/api/v1/drivers", json!({ "phone": phone, "code": sms["code"] })).await;
    assert_eq!(s, 201, "{reg}");
    // A speaks for the driver from now on.
    a.token = reg["token"].as_str().unwrap().to_owned();
    let driver = &a;
    let (s, order, _) = driver.post("/api/v1/me/orders", json!({ "amount": "20.00" })).await;
    assert_eq!(s, 201, "{order}");
    let (s, paid, _) = driver.post(order["pay_url"].as_str().unwrap(), json!({})).await;
    assert_eq!(s, 200, "{paid}");

    let (s, v, node) = driver.post("/api/v1/me/charges", json!({"pile_id": id, "port": 1})).await;
    assert_eq!((s, node.as_deref()), (202, Some("b")), "{v}\n{}", b.log());
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    let (_, wallet, _) = driver.get("/api/v1/me/wallet").await;
    assert_eq!(wallet["held"], "20.00", "{wallet}");

    // The driver's stop names the session: it reaches the pile on B too.
    let session = v["session_id"].as_str().unwrap();
    let (s, v, node) = driver.post(&format!("/api/v1/me/charges/{session}/stop"), json!({})).await;
    assert_eq!(
        (s, v["state"].as_str(), node.as_deref()),
        (202, Some("stopping"), Some("b")),
        "{v}\n{}",
        b.log()
    );
    pile.wait_for(|e| matches!(e, Event::StopRequested { gun: 1 }), WAIT).await.expect("the pile is told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_piles_lapse_from_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let (a, b) = (Node::start(dir.path(), "a").await, Node::start(dir.path(), "b").await);
    let id = "71000000000002";
    site(&a, id).await;
    let _pile = ykc(b.piles, id).await;
    a.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    let killed = Instant::now();
    drop(b); // SIGKILL: no clean disconnect

    let start = format!("/api/v1/piles/{id}/ports/1/start");
    let (s, v, _) = a.post(&start, json!({})).await;
    assert_eq!((s, &v["error"]), (503, &json!("unavailable")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("node b"), "{v}");
    // Written at most 200 ms before the kill, with a 3 s TTL.
    let lapsed = killed + Duration::from_millis(2_800);
    let deadline = Instant::now() + WAIT;
    loop {
        let (s, v, _) = a.post(&start, json!({})).await;
        if s == 409 {
            assert_eq!(v["error"], "pile_offline");
            assert!(Instant::now() >= lapsed, "lapsed before its TTL");
            break;
        }
        assert!(Instant::now() < deadline, "never lapsed: {s} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `chargeplane export` into another data directory (the path the ScyllaDB
/// target shares): the copy serves the same records, logins included, and
/// running it again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_moves_a_data_directory_whole() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    create_admin(from.path());
    let a = Node::start(from.path(), "a").await;
    let id = "71000000000003";
    site(&a, id).await;
    let mut pile = ykc(a.piles, id).await;
    let (s, v, _) = a.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    a.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
    a.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    let billed = a.until(&format!("/api/v1/sessions/{session}"), |v| v["bill"].is_object()).await;
    drop(pile);
    drop(a);

    let export = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["export", "--page", "2", "--data-dir"])
            .arg(from.path())
            .arg("--to")
            .arg(format!("sqlite:{}", to.path().display()))
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "export: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let first = export(&[]);
    assert!(first.contains("sessions: 1/1, done") && first.contains("copied "), "{first}");
    assert!(!from.path().join("export-progress.json").exists(), "the position goes when the copy is done");
    export(&["--restart"]);
    let refused = Command::new(BIN)
        .args(["export", "--data-dir"])
        .arg(from.path())
        .args(["--to", "mysql://x"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("use scylla://"));

    let b = Node::start(to.path(), "b").await; // logs in as the copied admin
    let (s, moved, _) = b.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!((s, &moved), (200, &billed));
    let (s, piles, _) = b.get("/api/v1/piles").await;
    assert_eq!((s, piles["items"].as_array().map(Vec::len)), (200, Some(1)));
    let (s, copied, _) = b.get("/api/v1/tariffs/1").await;
    assert_eq!((s, &copied["name"]), (200, &json!("flat")), "{copied}");
    let tariff = json!({"name": "new", "prices": {"flat": {"energy": "1", "service": "0.5"}},
                        "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let (s, t, _) = b.post("/api/v1/tariffs", tariff).await;
    assert_eq!((s, &t["id"]), (201, &json!(2)), "ids go on after the copied ones: {t}");
}
