//! The console's session list over HTTP: filters, pages, bounds and
//! tenancy; a driver stopping their own charge and no one else's; signing
//! out revoking the token on the server for users and drivers alike; a
//! class rule replaced by its operator only.

use crate::common;

use common::{login, Server, WAIT};
use loadtest::ykc_pile::Event;
use serde_json::{json, Value};

const PASSWORD: &str = "long enough pw";

fn ids(v: &Value) -> Vec<&str> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {v}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

async fn user(server: &Server, name: &str, body: Value) -> String {
    let mut body = body;
    body["username"] = json!(name);
    body["password"] = json!(PASSWORD);
    let (s, u) = server.post("/api/v1/users", body).await;
    assert_eq!(s, 201, "{u}");
    login(&server.base, name, PASSWORD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_by_filter_a_page_at_a_time_and_only_to_whom_they_belong() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let id = "72000000000001";
    let station = server.station_with_pile(id, 2).await;
    let mut pile = server.ykc_pile(id, 2).await;

    // An operator's charge, finished; then a driver's, charging.
    let (s, first) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{first}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.unwrap();
    let (driver, token) = server.driver(&codes, "13900000301", "20.00").await;
    let (s, second) = server.post_as(&token, "/api/v1/me/charges", json!({"pile_id": id, "port": 2})).await;
    assert_eq!(s, 202, "{second}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    let (first, second) = (first["session_id"].as_str().unwrap(), second["session_id"].as_str().unwrap());
    server.until(&format!("/api/v1/sessions/{first}"), |v| v["state"] == "finished").await;
    server.until(&format!("/api/v1/sessions/{second}"), |v| v["state"] == "charging").await;

    let (s, all) = server.get("/api/v1/sessions").await;
    assert_eq!((s, ids(&all)), (200, vec![second, first]), "newest first: {all}");
    assert_eq!(all["next"], Value::Null);
    assert!(all["items"][0]["kwh"].is_string() && all["items"][0]["pile_id"] == id, "{all}");
    for (query, expected) in [
        (format!("station={station}"), vec![second, first]),
        ("status=charging".to_owned(), vec![second]),
        ("status=finished".to_owned(), vec![first]),
        (format!("driver={driver}"), vec![second]),
        (format!("pile={id}&status=failed"), vec![]),
        ("from=2020-01-01T00:00:00Z&until=2021-01-01T00:00:00Z".to_owned(), vec![]),
    ] {
        let (s, v) = server.get(&format!("/api/v1/sessions?{query}")).await;
        assert_eq!((s, ids(&v)), (200, expected), "{query}: {v}");
    }
    let (_, page) = server.get(&format!("/api/v1/sessions?pile={id}&limit=1")).await;
    assert_eq!((ids(&page), page["next"].as_str()), (vec![second], Some(second)), "{page}");
    let (_, page) = server.get(&format!("/api/v1/sessions?pile={id}&limit=1&before={second}")).await;
    assert_eq!((ids(&page), &page["next"]), (vec![first], &Value::Null), "{page}");

    // Bounds: each refused with the field it names.
    for (query, field) in [
        ("status=paused", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("from=yesterday", "from"),
        ("from=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("station=987654", "station"),
        ("pile=nope", "pile"),
        ("before=nope", "before"),
    ] {
        let (s, v) = server.get(&format!("/api/v1/sessions?{query}")).await;
        assert_eq!((s, v["field"].as_str()), (422, Some(field)), "{query}: {v}");
    }
    let (s, v) = server.get("/api/v1/sessions?colour=red").await;
    assert_eq!((s, v["field"].as_str()), (422, Some("colour")), "an unknown parameter: {v}");

    // Another operator's manager sees none of them, not even by naming them.
    let (s, op) = server.post("/api/v1/operators", json!({"name": "beta"})).await;
    assert_eq!(s, 201, "{op}");
    let beta = user(&server, "beta-mgr", json!({"role": "manager", "operator_id": op["id"]})).await;
    let (s, v) = server.get_as(&beta, "/api/v1/sessions").await;
    assert_eq!((s, ids(&v)), (200, vec![]), "{v}");
    let (s, v) = server.get_as(&beta, &format!("/api/v1/sessions?station={station}")).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("station")), "{v}");
    let (s, v) = server.get_as(&beta, &format!("/api/v1/sessions?before={first}")).await;
    assert_eq!(s, 422, "{v}");

    // A merchant's user sees the charges at the merchant's stations only.
    let (s, m) = server.post("/api/v1/merchants", json!({"name": "Mall", "commission_percent": "5"})).await;
    assert_eq!(s, 201, "{m}");
    let (_, tariff) = server.get(&format!("/api/v1/stations/{station}")).await;
    let body = json!({"name": "Mall", "tariff_id": tariff["tariff_id"], "merchant_id": m["id"]});
    let (s, mall) = server.post("/api/v1/stations", body).await;
    assert_eq!(s, 201, "{mall}");
    let mall_pile = "72000000000002";
    server.register(mall_pile, mall["id"].as_i64().unwrap(), 1).await;
    let mut other = server.ykc_pile(mall_pile, 1).await;
    let (s, third) = server.post(&format!("/api/v1/piles/{mall_pile}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{third}");
    other.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    let shop = user(&server, "mall-user", json!({"role": "merchant", "merchant_id": m["id"]})).await;
    let (s, v) = server.get_as(&shop, "/api/v1/sessions").await;
    assert_eq!((s, ids(&v)), (200, vec![third["session_id"].as_str().unwrap()]), "{v}");
    let (s, v) = server.get_as(&shop, &format!("/api/v1/sessions?pile={id}")).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("pile")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_stops_their_own_charge_and_no_one_elses() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let id = "72000000000003";
    server.station_with_pile(id, 1).await;
    let mut pile = server.ykc_pile(id, 1).await;
    let (_, token) = server.driver(&codes, "13900000311", "20.00").await;
    let (_, stranger) = server.driver(&codes, "13900000312", "20.00").await;
    let (s, started) = server.post_as(&token, "/api/v1/me/charges", json!({"pile_id": id, "port": 1})).await;
    assert_eq!(s, 202, "{started}");
    let session = started["session_id"].as_str().unwrap();
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;

    let stop = format!("/api/v1/me/charges/{session}/stop");
    let (s, v) = server.post_as(&stranger, &stop, json!({})).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("unknown_session")), "{v}");
    let (s, v) = server.post(&stop, json!({})).await;
    assert_eq!(s, 401, "an operator's token is not a driver's: {v}");
    let (_, still) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(still["state"], "charging");

    let (s, v) = server.post_as(&token, &stop, json!({})).await;
    assert_eq!((s, v["state"].as_str()), (202, Some("stopping")), "{v}");
    pile.wait_for(|e| matches!(e, Event::StopRequested { gun: 1 }), WAIT).await.expect("the pile is told");
    pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await.expect("billed");
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    let (s, v) = server.post_as(&token, &stop, json!({})).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("charge_over")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_revokes_the_token_for_users_and_drivers() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let staff = user(&server, "nightshift", json!({"role": "staff"})).await;
    let kept = login(&server.base, "nightshift", PASSWORD).await;
    let (s, _) = server.get_as(&staff, "/api/v1/sessions").await;
    assert_eq!(s, 200);
    let (s, v) = server.post_as(&staff, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = server.get_as(&staff, "/api/v1/sessions").await;
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{v}");
    let (s, _) = server.post_as(&staff, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, 401, "a revoked token signs nothing out");
    let (s, _) = server.get_as(&kept, "/api/v1/sessions").await;
    assert_eq!(s, 200, "the user's other sign-in stays");

    let (_, driver) = server.driver(&codes, "13900000321", "1.00").await;
    let (s, _) = server.get_as(&driver, "/api/v1/me").await;
    assert_eq!(s, 200);
    let (s, _) = server.post_as(&driver, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, 204);
    let (s, _) = server.get_as(&driver, "/api/v1/me").await;
    assert_eq!(s, 401);
    let (s, v) = server.call(None, "POST", "/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, 401, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_rule_is_replaced_by_its_operator_only() {
    let server = Server::start();
    let rule = json!({"name": "staff rate", "class": "staff", "kind": "discount", "percent": "20"});
    let (s, created) = server.post("/api/v1/rules", rule).await;
    assert_eq!(s, 201, "{created}");
    let path = format!("/api/v1/rules/{}", created["id"]);
    let changed = json!({"name": "fleet only", "class": "fleet", "kind": "allow"});
    let (s, v) = server.call(Some(&server.admin), "PUT", &path, changed.clone()).await;
    assert_eq!(
        (s, v["kind"].as_str(), v["class"].as_str(), v["id"].clone()),
        (200, Some("allow"), Some("fleet"), created["id"].clone()),
        "{v}"
    );
    let (_, all) = server.get("/api/v1/rules").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all["items"][0]["name"], "fleet only", "{all}");

    let bad = json!({"name": "x", "class": "staff", "kind": "discount", "percent": "120"});
    let (s, v) = server.call(Some(&server.admin), "PUT", &path, bad).await;
    assert_eq!((s, v["field"].as_str()), (422, Some("rule")), "{v}");
    let (s, v) = server.call(Some(&server.admin), "PUT", "/api/v1/rules/987654", changed.clone()).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("unknown_rule")), "{v}");

    let (s, op) = server.post("/api/v1/operators", json!({"name": "beta"})).await;
    assert_eq!(s, 201, "{op}");
    let beta = user(&server, "beta-mgr", json!({"role": "manager", "operator_id": op["id"]})).await;
    let (s, v) = server.call(Some(&beta), "PUT", &path, changed).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("unknown_rule")), "another operator's rule: {v}");
    let (_, all) = server.get("/api/v1/rules").await;
    assert_eq!(all["items"][0]["operator_id"], 1, "{all}");
}
