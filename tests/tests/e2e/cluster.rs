//! Several nodes on one store, as real processes: two or three
//! `chargeplane serve` on one data directory (SQLite in WAL mode takes
//! several processes), a pile logged in to node B, and commands sent to
//! node A reaching it through B. And `chargeplane export` moving a data
//! directory whole.
//!
//! With `CHARGEPLANE_SCYLLA_URI` set (`scylla://127.0.0.1:9042/chargeplane_test`)
//! the nodes (here and in `cluster_live`) share that ScyllaDB instead, each
//! test in a fresh keyspace named after the URI's (left behind: drop
//! `<keyspace>_e*` after a run); without it they print once that the
//! ScyllaDB variant is skipped and run on SQLite. The export test is about
//! SQLite data directories: always SQLite.

use crate::common::{self, free_port, BIN};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use serde_json::{json, Value};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

const SCYLLA_VAR: &str = "CHARGEPLANE_SCYLLA_URI";

/// Where a test's nodes keep their records: one SQLite data directory, or
/// one ScyllaDB keyspace. The directory also holds their configs and logs.
pub(crate) struct Shared {
    dir: tempfile::TempDir,
    /// The `store` setting: `None` for SQLite under `dir`.
    store: Option<String>,
}

impl Shared {
    /// The store the environment names (`CHARGEPLANE_SCYLLA_URI`), else SQLite;
    /// an admin created in it.
    pub(crate) fn new() -> Shared {
        let store = match std::env::var(SCYLLA_VAR) {
            Ok(uri) => Some(fresh_keyspace(&uri)),
            Err(_) => {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    println!("skipping the ScyllaDB variant of the cluster tests (running them on SQLite): set {SCYLLA_VAR}=scylla://host:9042/keyspace to run it");
                });
                None
            }
        };
        Shared::with(store)
    }

    /// A shared SQLite data directory, whatever the environment says.
    fn sqlite() -> Shared {
        Shared::with(None)
    }

    fn with(store: Option<String>) -> Shared {
        let shared = Shared { dir: tempfile::tempdir().unwrap(), store };
        create_admin(&shared);
        shared
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `uri` with its keyspace swapped for a fresh one named after it (as the
/// store's own ScyllaDB tests do), and a replication factor of 1 unless it
/// sets one (a one-node dev cluster).
fn fresh_keyspace(uri: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    let (rest, query) = uri.split_once('?').unwrap_or((uri, ""));
    let (hosts, keyspace) = rest
        .trim_end_matches('/')
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{SCYLLA_VAR}={uri:?}: no keyspace"));
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let base: String = keyspace.chars().take(20).collect();
    let fresh = format!("{base}_e{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let query = match query {
        q if q.contains("replication_factor=") => q.to_owned(),
        "" => "replication_factor=1".to_owned(),
        q => format!("{q}&replication_factor=1"),
    };
    format!("{hosts}/{fresh}?{query}")
}

#[test]
fn a_fresh_keyspace_keeps_the_uris_hosts_and_options() {
    let fresh = fresh_keyspace("scylla://10.0.0.1:9042,10.0.0.2/chargeplane_test_with_a_long_name/");
    let (hosts, rest) = fresh.rsplit_once('/').unwrap();
    assert_eq!(hosts, "scylla://10.0.0.1:9042,10.0.0.2");
    let (keyspace, query) = rest.split_once('?').unwrap();
    assert!(keyspace.starts_with("chargeplane_test_wit_e"), "{keyspace}");
    assert!(keyspace.len() <= 48 && keyspace.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    assert_eq!(query, "replication_factor=1");
    assert_ne!(fresh_keyspace("scylla://h/ks"), fresh_keyspace("scylla://h/ks"), "one per test");
    let kept = fresh_keyspace("scylla://h/ks?max_in_flight=8&replication_factor=3");
    assert!(kept.ends_with("?max_in_flight=8&replication_factor=3"), "{kept}");
    assert!(fresh_keyspace("scylla://h/ks?local_dc=dc1").ends_with("?local_dc=dc1&replication_factor=1"));
}

/// A `chargeplane serve` process; killed when dropped.
pub(crate) struct Node {
    child: Child,
    pub(crate) name: String,
    log: PathBuf,
    pub(crate) base: String,
    pub(crate) piles: SocketAddr,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

impl Node {
    /// A node on the `shared` store named `name`, which advertises itself
    /// to the others (directory rows lapse after 3 s, refreshed every 200 ms).
    pub(crate) async fn start(shared: &Shared, name: &str) -> Node {
        Node::start_with(shared, name, "").await
    }

    /// A node with more settings (TOML lines), which replace the shared
    /// ones of the same names.
    pub(crate) async fn start_with(shared: &Shared, name: &str, extra: &str) -> Node {
        let (piles, http) = (free_port(), free_port());
        let data_dir = shared.path();
        let config = data_dir.join(format!("{name}.toml"));
        let store = shared.store.as_ref().map(|uri| format!("store = {uri:?}\n")).unwrap_or_default();
        // Edits made elsewhere arrive within 200 ms; a dead owner's
        // stations move within 1.5 s.
        let common = format!(
            "data_dir = {data_dir:?}\n{store}pile_listen = \"127.0.0.1:{piles}\"\nocpp_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:{http}\"\n\
             http_workers = 1\nsample_flush_ms = 20\nheartbeat_timeout_ms = 5000\n\
             node_id = \"{name}\"\nadvertise_http = \"http://127.0.0.1:{http}\"\n\
             pile_node_ttl_ms = 3000\npile_node_refresh_ms = 200\nstation_reconcile_ms = 200\n\
             cluster_key = \"e2e-cluster-key-0123\"\nstation_lease_ttl_ms = 1500\nstation_lease_renew_ms = 100\n"
        );
        let key = |line: &str| line.split('=').next().unwrap_or_default().trim().to_owned();
        let replaced: Vec<String> = extra.lines().map(key).collect();
        let kept = common.lines().filter(|l| !replaced.contains(&key(l)));
        let toml = kept.chain(extra.lines()).collect::<Vec<_>>().join("\n");
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

    /// Stops the node as an operator does (SIGTERM), and waits for it to exit.
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) async fn send(
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

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value, Option<String>) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value, Option<String>) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn until(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
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

    pub(crate) async fn metric(&self, series: &str) -> f64 {
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

fn create_admin(shared: &Shared) {
    let mut command = Command::new(BIN);
    command.args(["create-admin", "--username", "admin", "--data-dir"]).arg(shared.path());
    if let Some(uri) = &shared.store {
        command.args(["--store", uri]);
    }
    let out = command.env("CHARGEPLANE_ADMIN_PASSWORD", common::ADMIN_PASSWORD).output().unwrap();
    assert!(out.status.success(), "create-admin: {}", String::from_utf8_lossy(&out.stderr));
}

/// A flat tariff, a station and a one-gun YKC pile, through `node`.
pub(crate) async fn site(node: &Node, pile: &str) {
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

pub(crate) async fn ykc(addr: SocketAddr, id: &str) -> SimPile {
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
    let dir = Shared::new();
    let (a, b) = (Node::start(&dir, "a").await, Node::start(&dir, "b").await);
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

    // Taking its port or the pile out of service through A is done by B,
    // which holds the link: a pile out of service is disconnected.
    let off = Some(json!({"in_service": false}));
    for path in [format!("/api/v1/piles/{id}/ports/1"), format!("/api/v1/piles/{id}")] {
        let (s, v, node) = a.send(reqwest::Method::PATCH, &path, off.clone()).await;
        assert_eq!((s, node.as_deref()), (200, Some("b")), "{path}: {v}");
    }
    let closed = pile.wait_for(|e| matches!(e, Event::Closed), WAIT).await;
    assert!(matches!(closed, Some(Event::Closed)), "{closed:?}");

    // The link is gone: B takes the pile out of the directory, and A says
    // offline again.
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

/// An edit made on one node reaches the node running the station: a new
/// tariff set through A is taken up by B, whose pile is sent it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tariff_set_on_one_node_reaches_the_station_running_on_another() {
    let dir = Shared::new();
    let (a, b) = (Node::start(&dir, "a").await, Node::start(&dir, "b").await);
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
    let dir = Shared::new();
    let (hook, codes) = common::webhook();
    let extra = format!("notify_webhook = {hook:?}\n\n[payments]\nsandbox = true\n");
    let (mut a, b) = (Node::start_with(&dir, "a", &extra).await, Node::start_with(&dir, "b", &extra).await);
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

/// A node that dies without a word leaves its rows, which lapse after the
/// TTL; meanwhile commands for its piles answer 503, naming the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_piles_lapse_from_the_directory() {
    let dir = Shared::new();
    let (a, b) = (Node::start(&dir, "a").await, Node::start(&dir, "b").await);
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
    // SQLite data directories, whatever the environment names; the copy
    // gets no admin of its own: it is copied.
    let (from, to) = (Shared::sqlite(), Shared { dir: tempfile::tempdir().unwrap(), store: None });
    let a = Node::start(&from, "a").await;
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

    let b = Node::start(&to, "b").await; // logs in as the copied admin
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

/// A car pile drawing 7 kW a charging gun, meter readings every 100 ms,
/// watched by a task that keeps the last power limit it was sent (percent
/// of 7 kW, 100 before any) until its link ends.
async fn metered(addr: SocketAddr, id: &str) -> (SimPile, std::sync::Arc<std::sync::Mutex<u8>>) {
    let mut cfg = PileConfig::new(vocab::PileId(id.into()), 1);
    (cfg.heartbeat, cfg.realtime, cfg.auto_meter) =
        (Duration::from_millis(500), Duration::from_millis(100), Some(rust_decimal::Decimal::from(7)));
    let mut pile = SimPile::connect(addr, cfg).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
    assert!(matches!(ev, Some(Event::LoginAccepted)), "{id} logs in: {ev:?}");
    (pile, std::sync::Arc::new(std::sync::Mutex::new(100)))
}

/// Reads the pile's events for `for_`, keeping its last power limit.
async fn pump(pile: &mut SimPile, limit: &std::sync::Mutex<u8>, for_: Duration) {
    let until = Instant::now() + for_;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, pile.next_event()).await {
            Ok(Some(e)) => {
                if let Some(proto::ykc::Message::WorkParams(w)) = common::ykc_msg(&e) {
                    *limit.lock().unwrap() = w.max_power_percent;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Manages the station's power with a transformer of `watts`, through `node`.
async fn manage(node: &Node, station: i64, watts: &str) -> (u16, Value, Option<String>) {
    let body = json!({"transformer": {"capacity_w": watts, "margin_w": "0"},
                      "ykc_gun_rated_w": "7000", "ebike_port_min_w": "120", "ebike_port_max_w": "600"});
    node.send(reqwest::Method::PUT, &format!("/api/v1/stations/{station}/power"), Some(body)).await
}

/// The station's power as its owner sees it, asked of `node`; and the owner.
async fn owner_view(nodes: &[&Node], station: i64) -> (Value, String) {
    let path = format!("/api/v1/stations/{station}/power");
    let deadline = Instant::now() + WAIT;
    loop {
        for node in nodes {
            let (_, v, _) = node.get(&path).await;
            if v["owner"].as_str() == Some(&node.name) {
                return (v, node.name.clone());
            }
        }
        assert!(Instant::now() < deadline, "no node owns station {station}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the owner grants and what the piles were told, against the limit;
/// and that exactly one live node holds the lease.
async fn held(nodes: &[&Node], station: i64, limit_w: i64, told: &[u8]) -> Value {
    let mut holders = 0.0;
    for node in nodes {
        holders += node.metric("chargeplane_station_leases_held").await;
    }
    assert_eq!(holders, 1.0, "one owner among the live nodes");
    let (view, _) = owner_view(nodes, station).await;
    assert_eq!(common::dec(&view["limit_w"]), limit_w.into(), "{view}");
    let granted: rust_decimal::Decimal = view["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["granted_w"].as_str())
        .map(|g| g.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert!(granted <= limit_w.into(), "granted {granted} W over {limit_w} W: {view}");
    // Percent of 7 kW, each rounded: one point (70 W) each is rounding.
    let sent: i64 = told.iter().map(|p| i64::from(*p) * 70).sum();
    assert!(sent <= limit_w + 70 * told.len() as i64, "piles told {told:?} % of 7 kW: over {limit_w} W");
    view
}

/// Three nodes on one store, a station's three piles one on each: one node
/// manages its power, so the station's limit holds across them; a limit
/// set on one node is pushed to the owner and reaches the piles on the
/// others; the owner killed, another takes over within the lease's TTL and
/// the limit still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_spread_over_three_nodes_keeps_one_limit_and_fails_over() {
    let dir = Shared::new();
    // No periodic reconcile within the test: edits must be pushed.
    let slow = "station_reconcile_ms = 600000\n";
    let (a, b, c) = (
        Node::start_with(&dir, "a", slow).await,
        Node::start_with(&dir, "b", slow).await,
        Node::start_with(&dir, "c", slow).await,
    );
    let ids = ["73000000000001", "73000000000002", "73000000000003"];
    site(&a, ids[0]).await;
    let (_, p, _) = a.get(&format!("/api/v1/piles/{}", ids[0])).await;
    let station = p["station_id"].as_i64().unwrap();
    for id in &ids[1..] {
        let body = json!({"id": id, "station_id": station, "protocol": "ykc", "ports": 1});
        assert_eq!(a.post("/api/v1/piles", body).await.0, 201);
    }
    // 5 kW: two 7 kW guns' floors (2.1 kW each) fit, a third does not.
    let (s, v, _) = manage(&a, station, "5000").await;
    assert_eq!(s, 200, "{v}");
    let nodes = [&a, &b, &c];
    let mut piles = Vec::new();
    for (node, id) in nodes.iter().zip(ids) {
        piles.push(metered(node.piles, id).await);
    }
    let (_, first_owner) = owner_view(&nodes, station).await;

    // Every node lists every pile online, wherever its link is (once its
    // node has listed it in the directory).
    for node in nodes {
        let online = |list: &Value| {
            let items = list["items"].as_array().into_iter().flatten();
            items.filter(|p| p["online"] == true).count() == 3
        };
        node.until(&format!("/api/v1/piles?station_id={station}"), online).await;
        let (_, ports, _) = node.get(&format!("/api/v1/stations/{station}/ports")).await;
        assert_eq!(ports["piles"].as_array().map(Vec::len), Some(3), "on {}: {ports}", node.name);
    }

    // Each node starts the charge of the pile it holds: two fit, the third
    // is refused, whichever node manages the station.
    for (i, node) in nodes.iter().enumerate() {
        let (s, v, _) = node.post(&format!("/api/v1/piles/{}/ports/1/start", ids[i]), json!({})).await;
        let expected = if i < 2 { 202 } else { 409 };
        assert_eq!(s, expected, "start on {}: {v}\n{}", node.name, node.log());
        if i == 2 {
            assert_eq!(v["error"], "station_capacity_short", "{v}");
        }
        for (pile, limit) in piles.iter_mut() {
            pump(pile, limit, Duration::from_millis(150)).await;
        }
        let told: Vec<u8> = piles.iter().take(i.min(1) + 1).map(|(_, l)| *l.lock().unwrap()).collect();
        held(&nodes, station, 5000, &told).await;
    }
    // The two charges share the 5 kW as the owner sees them, from two nodes.
    let deadline = Instant::now() + WAIT;
    loop {
        for (pile, limit) in piles.iter_mut() {
            pump(pile, limit, Duration::from_millis(50)).await;
        }
        let told: Vec<u8> = piles.iter().take(2).map(|(_, l)| *l.lock().unwrap()).collect();
        let view = held(&nodes, station, 5000, &told).await;
        let granted = view["ports"].as_array().unwrap().iter().filter(|p| p["granted_w"].is_string()).count();
        if granted == 2 && told.iter().all(|p| *p < 100) {
            break;
        }
        assert!(Instant::now() < deadline, "the two charges were never both granted: {view} {told:?}");
    }

    // A higher limit set on B is pushed to the owner, wherever it runs, and
    // the third charge now fits; all three piles hear their new limits.
    let (s, v, _) = manage(&b, station, "8000").await;
    assert_eq!(s, 200, "{v}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (s, v, _) = c.post(&format!("/api/v1/piles/{}/ports/1/start", ids[2]), json!({})).await;
        if s == 202 {
            break;
        }
        assert_eq!(v["error"], "station_capacity_short", "{v}");
        assert!(Instant::now() < deadline, "the new limit never reached the owner: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        for (pile, limit) in piles.iter_mut() {
            pump(pile, limit, Duration::from_millis(50)).await;
        }
        let told: Vec<u8> = piles.iter().map(|(_, l)| *l.lock().unwrap()).collect();
        let view = held(&nodes, station, 8000, &told).await;
        let granted = view["ports"].as_array().unwrap().iter().filter(|p| p["granted_w"].is_string()).count();
        if granted == 3 && told.iter().all(|p| *p < 100) {
            break;
        }
        assert!(Instant::now() < deadline, "three charges never granted: {view} {told:?}");
    }

    // The owner dies: another node takes the lease within its TTL (1.5 s,
    // renewed every 100 ms) and manages the two charges left.
    let (_, owner) = owner_view(&nodes, station).await;
    assert_eq!(owner, first_owner, "the lease stayed put while its holder lived");
    let at = nodes.iter().position(|n| n.name == owner).unwrap();
    let mut nodes: Vec<Node> = vec![a, b, c];
    let dead = nodes.remove(at);
    piles.remove(at);
    let killed = Instant::now();
    drop(dead);
    let alive: Vec<&Node> = nodes.iter().collect();
    let deadline = Instant::now() + WAIT;
    let (view, taken) = loop {
        let (view, by) = owner_view(&alive, station).await;
        let ports = view["ports"].as_array().unwrap();
        if ports.iter().filter(|p| p["granted_w"].is_string()).count() == 2 {
            break (view, by);
        }
        assert!(Instant::now() < deadline, "no node took the station over: {view}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let failover = killed.elapsed();
    eprintln!(
        "failover: {} took station {station} over and granted again {failover:?} after {owner} died",
        taken
    );
    assert!(failover < Duration::from_millis(3_000), "took {failover:?}: {view}");
    for (pile, limit) in piles.iter_mut() {
        pump(pile, limit, Duration::from_millis(300)).await;
    }
    let told: Vec<u8> = piles.iter().map(|(_, l)| *l.lock().unwrap()).collect();
    held(&alive, station, 8000, &told).await;
    let holder = nodes.iter().find(|n| n.name == taken).unwrap();
    assert!(holder.metric("chargeplane_station_lease_changes_total{change=\"taken\"}").await >= 1.0);

    // The node holding a pile refuses an owner's message under a token it
    // has seen superseded, and anything without the cluster key.
    let other = nodes.iter().find(|n| n.name != taken).unwrap();
    let stale = json!({"from": "http://127.0.0.1:1", "token": 1,
                       "call": {"kind": "power_stop", "pile": ids[0], "port": 1}});
    let url = format!("{}/internal/stations/{station}", other.base);
    let keyed = other.http.post(&url).header("x-chargeplane-cluster-key", "e2e-cluster-key-0123");
    let reply: Value = keyed.json(&stale).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply, json!({"reply": "stale"}));
    let res = other.http.post(&url).json(&stale).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
}

/// A measurement for BENCHMARKS.md, run by name with `--ignored
/// --nocapture`: starts answered by the node holding the pile, against the
/// same starts sent to another node and forwarded there. Each start waits
/// for the pile to accept, as a driver's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it by name"]
async fn measure_forwarded_start_latency() {
    let dir = Shared::new();
    let (a, b) = (Node::start(&dir, "a").await, Node::start(&dir, "b").await);
    let id = "74000000000001";
    site(&a, id).await;
    let mut pile = ykc(b.piles, id).await;
    a.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    let (mut direct, mut forwarded) = (Vec::new(), Vec::new());
    for round in 0..84 {
        let via = if round % 2 == 0 { &b } else { &a };
        let asked = Instant::now();
        let (s, v, node) = via.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
        let took = asked.elapsed();
        assert_eq!((s, node.is_some()), (202, round % 2 == 1), "{v}");
        if round >= 4 {
            if round % 2 == 0 { &mut direct } else { &mut forwarded }.push(took);
        }
        let session = v["session_id"].as_str().unwrap().to_owned();
        pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
        b.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
        assert_eq!(b.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await.0, 202);
        b.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    }
    let spread = |v: &mut Vec<Duration>| {
        v.sort();
        format!("p50 {:?}, p90 {:?}, max {:?}", v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
    };
    let (d, f) = (spread(&mut direct), spread(&mut forwarded));
    eprintln!("start latency over {} starts each: on the pile's node {d}; forwarded {f}", direct.len());
}

/// A charge queued for room waits in the owner's queue, in the owner's
/// memory: when the owner dies, the node holding the queued port queues it
/// again with the next owner, and it starts once it fits there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_queued_at_a_dead_owner_starts_under_the_next() {
    let dir = Shared::new();
    let (a, b, c) =
        (Node::start(&dir, "a").await, Node::start(&dir, "b").await, Node::start(&dir, "c").await);
    let ids = ["74000000000001", "74000000000002", "74000000000003"];
    site(&a, ids[0]).await;
    let (_, p, _) = a.get(&format!("/api/v1/piles/{}", ids[0])).await;
    let station = p["station_id"].as_i64().unwrap();
    for id in &ids[1..] {
        let body = json!({"id": id, "station_id": station, "protocol": "ykc", "ports": 1});
        assert_eq!(a.post("/api/v1/piles", body).await.0, 201);
    }
    // Two 7 kW guns' floors fit under 5 kW, a third does not.
    assert_eq!(manage(&a, station, "5000").await.0, 200);
    let mut nodes = vec![a, b, c];
    let mut piles = Vec::new();
    for (node, id) in nodes.iter().zip(ids) {
        piles.push(metered(node.piles, id).await.0);
    }
    let (_, owner) = owner_view(&nodes.iter().collect::<Vec<_>>(), station).await;
    let at = nodes.iter().position(|n| n.name == owner).unwrap();
    let (x, y) = match at {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    // The owner's pile and another charge; the third pile's charge waits.
    for i in [at, x] {
        let (s, v, _) = nodes[i].post(&format!("/api/v1/piles/{}/ports/1/start", ids[i]), json!({})).await;
        assert_eq!(s, 202, "start on {}: {v}", nodes[i].name);
        let ev = piles[i].wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
        assert!(matches!(ev, Some(Event::StartRequested { accepted: true, .. })), "{ev:?}");
    }
    let path = format!("/api/v1/piles/{}/ports/1/start", ids[y]);
    let (s, v, _) = nodes[y].post(&path, json!({"queue": true})).await;
    assert_eq!((s, &v["state"]), (202, &json!("queued")), "{v}");
    let early =
        piles[y].wait_for(|e| matches!(e, Event::StartRequested { .. }), Duration::from_millis(500)).await;
    assert!(early.is_none(), "a queued charge started with no room: {early:?}");

    // The owner dies with its charge: the next owner has room, and the
    // queued charge starts on its own.
    let dead = nodes.remove(at);
    let dead_pile = piles.remove(at);
    drop((dead, dead_pile));
    let y = if y > at { y - 1 } else { y };
    let ev = piles[y].wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(
        matches!(ev, Some(Event::StartRequested { accepted: true, .. })),
        "the queued charge never started after its owner died: {ev:?}\n{}",
        nodes[y].log()
    );
    let alive: Vec<&Node> = nodes.iter().collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let (view, _) = owner_view(&alive, station).await;
        let ports = view["ports"].as_array().unwrap();
        if ports.iter().filter(|p| p["granted_w"].is_string()).count() == 2 {
            assert!(view["queued"].as_array().is_none_or(Vec::is_empty), "{view}");
            break;
        }
        assert!(Instant::now() < deadline, "the new owner never granted both charges: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node stopped with SIGTERM gives its stations' leases back: the other
/// node manages them within a renewal or two, not once the lease lapses
/// (10 s here), and the charge on its own pile goes on being managed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_hands_its_stations_over_at_once() {
    let dir = Shared::new();
    let long = "station_lease_ttl_ms = 10000\n";
    let (a, b) = (Node::start_with(&dir, "a", long).await, Node::start_with(&dir, "b", long).await);
    let ids = ["75000000000001", "75000000000002"];
    site(&a, ids[0]).await;
    let (_, p, _) = a.get(&format!("/api/v1/piles/{}", ids[0])).await;
    let station = p["station_id"].as_i64().unwrap();
    let body = json!({"id": ids[1], "station_id": station, "protocol": "ykc", "ports": 1});
    assert_eq!(a.post("/api/v1/piles", body).await.0, 201);
    assert_eq!(manage(&a, station, "5000").await.0, 200);
    let mut nodes = [a, b];
    let mut piles = Vec::new();
    for (node, id) in nodes.iter().zip(ids) {
        piles.push(metered(node.piles, id).await.0);
    }
    let (_, owner) = owner_view(&nodes.iter().collect::<Vec<_>>(), station).await;
    let at = nodes.iter().position(|n| n.name == owner).unwrap();
    let heir = 1 - at;
    let (s, v, _) = nodes[heir].post(&format!("/api/v1/piles/{}/ports/1/start", ids[heir]), json!({})).await;
    assert_eq!(s, 202, "{v}");
    // An operator following events on the heir, which so follows the
    // stopping node's own stream.
    let h = &nodes[heir];
    let events = crate::live::Events::at(&h.http, &h.base, &h.token, "/api/v1/events").await;
    let (open, failed) =
        ("chargeplane_cluster_event_streams", "chargeplane_cluster_event_stream_failures_total");
    let deadline = Instant::now() + WAIT;
    while h.metric(open).await != 1.0 {
        assert!(Instant::now() < deadline, "the heir never followed the owner's events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stopped = Instant::now();
    let status = nodes[at].stop();
    assert!(status.success(), "{status}\n{}", nodes[at].log());
    let heir = &nodes[heir];
    let deadline = Instant::now() + WAIT;
    let view = loop {
        let (_, view, _) = heir.get(&format!("/api/v1/stations/{station}/power")).await;
        let granted = view["ports"].as_array().into_iter().flatten().any(|p| p["granted_w"].is_string());
        if view["owner"] == heir.name.as_str() && granted {
            break view;
        }
        assert!(Instant::now() < deadline, "{} never took the station over: {view}", heir.name);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = stopped.elapsed();
    eprintln!("hand-over: {} manages station {station} {took:?} after SIGTERM to {owner}", heir.name);
    assert!(took < Duration::from_secs(5), "took {took:?}, as long as a lapse: {view}");
    assert!(nodes[at].log().contains("the node is stopping"), "{}", nodes[at].log());
    // It withdrew from the node list before it stopped serving: the heir
    // let its stream go rather than seeing it fail and asking again.
    assert_eq!(heir.metric(open).await, 0.0);
    assert_eq!(heir.metric(failed).await, 0.0);
    drop(events);
}

/// A station's power asked of any node is its owner's view: the node that
/// does not manage the station asks the one that does, so the charges and
/// grants on every node are in it. An owner that cannot be asked leaves
/// the node's own view, marked stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stations_power_asked_of_any_node_is_its_owners_view() {
    let dir = Shared::new();
    // A long lease: the owner killed at the end stays the owner meanwhile.
    let long = "station_lease_ttl_ms = 30000\n";
    let (a, b) = (Node::start_with(&dir, "a", long).await, Node::start_with(&dir, "b", long).await);
    let ids = ["76000000000001", "76000000000002"];
    site(&a, ids[0]).await;
    let (_, p, _) = a.get(&format!("/api/v1/piles/{}", ids[0])).await;
    let station = p["station_id"].as_i64().unwrap();
    let body = json!({"id": ids[1], "station_id": station, "protocol": "ykc", "ports": 1});
    assert_eq!(a.post("/api/v1/piles", body).await.0, 201);
    let (s, v, _) = manage(&a, station, "20000").await;
    assert_eq!(s, 200, "{v}");
    let nodes = [&a, &b];
    let mut piles = Vec::new();
    for (node, id) in nodes.iter().zip(ids) {
        piles.push(ykc(node.piles, id).await);
    }
    let (_, owner) = owner_view(&nodes, station).await;
    let (owner, other) = if owner == "a" { (&a, &b) } else { (&b, &a) };

    // A charge on each node's pile, started there.
    for ((node, id), pile) in nodes.iter().zip(ids).zip(piles.iter_mut()) {
        let (s, v, _) = node.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
        assert_eq!(s, 202, "start on {}: {v}\n{}", node.name, node.log());
        pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    }
    let path = format!("/api/v1/stations/{station}/power");
    let granted = |v: &Value| {
        v["ports"].as_array().map_or(0, |p| p.iter().filter(|p| p["granted_w"].is_string()).count())
    };
    let mine = owner.until(&path, |v| granted(v) == 2).await;
    let sum: rust_decimal::Decimal =
        mine["ports"].as_array().unwrap().iter().map(|p| common::dec(&p["granted_w"])).sum();
    assert_eq!(common::dec(&mine["allocated_w"]), sum, "{mine}");

    // Asked of the other node: the owner's view, both charges in it.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, theirs, _) = owner.get(&path).await;
        let (s, asked, by) = other.get(&path).await;
        assert_eq!(s, 200, "{asked}");
        assert_eq!(by.as_deref(), Some(owner.name.as_str()), "answered by the owner: {asked}");
        assert_eq!(asked["owner"], json!(owner.name), "{asked}");
        assert!(asked.get("stale").is_none(), "{asked}");
        if asked == theirs {
            assert_eq!(granted(&asked), 2, "{asked}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other node's answer never matched the owner's: {asked} vs {theirs}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The route the nodes ask each other: the owner's alone, with the key.
    let internal = |node: &Node| format!("{}/internal/stations/{station}/power", node.base);
    let key = ("x-chargeplane-cluster-key", "e2e-cluster-key-0123");
    let res = other.http.get(internal(other)).header(key.0, key.1).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_owner");
    assert_eq!(owner.http.get(internal(owner)).send().await.unwrap().status().as_u16(), 403);
    let res = owner.http.get(internal(owner)).header(key.0, key.1).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // The owner dies; until its lease lapses the other node still names
    // it, cannot ask it, and shows its own view, marked stale.
    let (owner_name, other_name) = (owner.name.clone(), other.name.clone());
    let (mut owner, other) = if owner_name == "a" { (a, b) } else { (b, a) };
    let _ = owner.child.kill();
    let _ = owner.child.wait();
    let (s, v, by) = other.get(&path).await;
    assert_eq!((s, by), (200, None), "{v}");
    assert_eq!((&v["owner"], &v["stale"]), (&json!(owner_name), &json!(true)), "on {other_name}: {v}");
}
