//! Live event streams across several nodes, as real processes on one data
//! directory: an operator's port events on node A show piles logged in to B
//! and C (a node started after subscribing included), scoped to the
//! operator's stations; a driver follows from A a charge on a pile at B
//! until it is billed; the internal stream takes only nodes of the cluster;
//! and the streams A follows on the others close when its client leaves.

use crate::cluster::{create_admin, site, ykc, Node, WAIT};
use crate::common::{self, dec};
use crate::live::Events;

use std::time::{Duration, Instant};

use loadtest::ykc_pile::Event;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

const OPEN: &str = "chargeplane_cluster_event_streams";
const FAILED: &str = "chargeplane_cluster_event_stream_failures_total";
const PASSWORD: &str = "long enough pw";

/// Nodes that ping their streams every 100 ms, so a silent or gone peer is
/// noticed quickly.
async fn node(dir: &std::path::Path, name: &str, extra: &str) -> Node {
    Node::start_with(dir, name, &format!("live_keepalive_ms = 100\n{extra}")).await
}

async fn until_metric(node: &Node, series: &str, pred: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = node.metric(series).await;
        if pred(v) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} on {} stuck at {v}", node.name);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A station of its own with a one-gun YKC pile, as `token`'s operator.
async fn station_with_pile(node: &Node, token: &str, pile: &str) -> i64 {
    let as_user = |path: &str, body: Value| {
        let req = node.http.post(format!("{}{path}", node.base)).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let tariff = json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0.5"}},
                        "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let (s, t) = as_user("/api/v1/tariffs", tariff).await;
    assert_eq!(s, 201, "{t}");
    let (s, st) = as_user("/api/v1/stations", json!({"name": pile, "tariff_id": t["id"]})).await;
    assert_eq!(s, 201, "{st}");
    let body = json!({"id": pile, "station_id": st["id"], "protocol": "ykc", "ports": 1});
    let (s, p) = as_user("/api/v1/piles", body).await;
    assert_eq!(s, 201, "{p}");
    st["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_events_on_one_node_show_every_nodes_piles_in_scope() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let (a, b) = (node(dir.path(), "a", "").await, node(dir.path(), "b", "").await);

    // The operator alpha has two stations; the platform's own one is not alpha's.
    let (s, op, _) = a.post("/api/v1/operators", json!({"name": "alpha"})).await;
    assert_eq!(s, 201, "{op}");
    let user =
        json!({"username": "alpha-mgr", "password": PASSWORD, "role": "manager", "operator_id": op["id"]});
    let (s, u, _) = a.post("/api/v1/users", user).await;
    assert_eq!(s, 201, "{u}");
    let alpha = common::login(&a.base, "alpha-mgr", PASSWORD).await;
    let (on_b, on_c, theirs) = ("72000000000001", "72000000000002", "72000000000003");
    station_with_pile(&a, &alpha, on_b).await;
    station_with_pile(&a, &alpha, on_c).await;
    site(&a, theirs).await;

    // Alpha and the admin follow ports on A, which follows B once for
    // both of them; C joins later and is followed too.
    let mut ports = Events::at(&a.http, &a.base, &alpha, "/api/v1/events").await;
    let mut all = Events::at(&a.http, &a.base, &a.token, "/api/v1/events").await;
    until_metric(&a, OPEN, |v| v == 1.0).await;
    let c = node(dir.path(), "c", "").await;
    until_metric(&a, OPEN, |v| v == 2.0).await;

    let (pile_b, pile_c, other) =
        (ykc(b.piles, on_b).await, ykc(c.piles, on_c).await, ykc(b.piles, theirs).await);
    pile_c.plug(1, true);
    pile_c.send_realtime(1);
    let e = ports.until(|e| e["pile_id"] == on_c && e["status"] == "plugged").await;
    assert_eq!((e["kind"].as_str(), e["port"].as_u64()), (Some("port"), Some(1)), "{e}");
    // The other operator's pile changes first, on the same node as alpha's
    // next one: the admin sees it, and B sends it before alpha's, so
    // alpha's stream would have shown it by the time alpha's arrives.
    other.plug(1, true);
    other.send_realtime(1);
    all.until(|e| e["pile_id"] == theirs && e["status"] == "plugged").await;
    pile_b.plug(1, true);
    pile_b.send_realtime(1);
    loop {
        let e = ports.next().await.expect("the stream stays open");
        assert_ne!(e["pile_id"], theirs, "another operator's pile: {e}");
        if e["pile_id"] == on_b && e["status"] == "plugged" {
            break;
        }
    }

    // A node's own events, without the cluster key: refused.
    for key in [None, Some("not-the-key")] {
        let mut req = a.http.get(format!("{}/internal/events", b.base));
        if let Some(key) = key {
            req = req.header("x-chargeplane-cluster-key", key);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "key {key:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "not_a_cluster_node");
    }

    // C goes away: its streams fail and are asked for again while it is listed.
    let failed = a.metric(FAILED).await;
    drop(c);
    until_metric(&a, OPEN, |v| v == 1.0).await;
    until_metric(&a, FAILED, |v| v > failed).await;

    // The clients leave: A stops following the other nodes.
    drop((ports, all));
    until_metric(&a, OPEN, |v| v == 0.0).await;
    drop((pile_b, pile_c, other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_follows_from_one_node_a_charge_on_another() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path());
    let (hook, codes) = common::webhook();
    let extra = format!("notify_webhook = {hook:?}\n\n[payments]\nsandbox = true\n");
    let (mut a, b) = (node(dir.path(), "a", &extra).await, node(dir.path(), "b", &extra).await);
    let id = "72000000000011";
    site(&a, id).await;
    let mut pile = ykc(b.piles, id).await;
    a.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;

    let phone = "13900000072";
    assert_eq!(a.post("/api/v1/drivers/codes", json!({ "phone": phone })).await.0, 202);
    let sms = codes.recv_timeout(WAIT).expect("a login code on the webhook");
    let (s, reg, _) = a.post("/api/v1/drivers", json!({ "phone": phone, "code": sms["code"] })).await;
    assert_eq!(s, 201, "{reg}");
    a.token = reg["token"].as_str().unwrap().to_owned();
    let (s, order, _) = a.post("/api/v1/me/orders", json!({ "amount": "20.00" })).await;
    assert_eq!(s, 201, "{order}");
    let (s, paid, _) = a.post(order["pay_url"].as_str().unwrap(), json!({})).await;
    assert_eq!(s, 200, "{paid}");
    let (s, v, _) = a.post("/api/v1/me/charges", json!({"pile_id": id, "port": 1})).await;
    assert_eq!(s, 202, "{v}");
    let session = v["session_id"].as_str().unwrap().to_owned();
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();

    // Followed on A, answered by B, its events passed on as they come.
    let mut charge =
        Events::at(&a.http, &a.base, &a.token, &format!("/api/v1/me/charges/{session}/events")).await;
    assert_eq!(charge.header("x-chargeplane-node"), Some("b"));
    until_metric(&a, OPEN, |v| v == 1.0).await;
    pile.set_energy(1, dec!(4));
    pile.send_realtime(1);
    let progress = charge.until(|e| e["kwh"].as_str().is_some_and(|k| dec(&json!(k)) > dec!(0))).await;
    assert_eq!((progress["state"].as_str(), dec(&progress["amount"])), (Some("charging"), dec!(6.00)));

    let (s, v, _) = a.post(&format!("/api/v1/me/charges/{session}/stop"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    let done = charge.until(|e| e["state"] == "finished").await;
    assert_eq!(dec(&done["amount"]), dec!(6.00), "the bill's total: {done}");
    assert!(charge.next().await.is_none(), "the stream ends with the charge, on B and so on A");
    until_metric(&a, OPEN, |v| v == 0.0).await;
}
