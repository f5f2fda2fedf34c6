//! Tenants: two operators on one platform see and change only their own
//! stations, prices, piles and merchants. Another operator's ids answer 404
//! (or, named in a body, 422) and change nothing; a frozen operator's users
//! are locked out; lists come a page at a time.

use crate::common;

use common::{login, Server};
use serde_json::{json, Value};

const PASSWORD: &str = "long enough pw";

fn tariff() -> Value {
    json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0"}},
           "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]})
}

/// An operator with a manager logged in: (operator id, manager's token).
async fn operator(server: &Server, name: &str) -> (i64, String) {
    let (s, op) = server.post("/api/v1/operators", json!({"name": name})).await;
    assert_eq!(s, 201, "{op}");
    let id = op["id"].as_i64().unwrap();
    let user = json!({"username": format!("{name}-mgr"), "password": PASSWORD, "role": "manager", "operator_id": id});
    let (s, u) = server.post("/api/v1/users", user).await;
    assert_eq!((s, u["operator_id"].as_i64()), (201, Some(id)), "{u}");
    (id, login(&server.base, &format!("{name}-mgr"), PASSWORD).await)
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_and_change_only_their_own() {
    let server = Server::start();
    let (a, alice) = operator(&server, "alpha").await;
    let (b, bob) = operator(&server, "beta").await;

    // Alpha's manager builds a station; everything is alpha's without saying so.
    let (s, t) = server.post_as(&alice, "/api/v1/tariffs", tariff()).await;
    assert_eq!((s, t["operator_id"].as_i64()), (201, Some(a)), "{t}");
    let merchant = json!({"name": "Mall", "commission_percent": "5"});
    let (s, m) = server.post_as(&alice, "/api/v1/merchants", merchant.clone()).await;
    assert_eq!((s, m["operator_id"].as_i64()), (201, Some(a)), "{m}");
    let station = json!({"name": "A1", "tariff_id": id(&t), "merchant_id": id(&m)});
    let (s, st) = server.post_as(&alice, "/api/v1/stations", station).await;
    assert_eq!((s, st["operator_id"].as_i64()), (201, Some(a)), "{st}");
    let pile = json!({"id": "51000000000001", "station_id": id(&st), "protocol": "ykc", "ports": 2});
    let (s, p) = server.post_as(&alice, "/api/v1/piles", pile).await;
    assert_eq!(s, 201, "{p}");
    let plan = json!({"name": "hourly", "pricing": {"kind": "time", "per_hour": "1", "unit_minutes": 1}});
    let (s, plan) = server.post_as(&alice, "/api/v1/plans", plan).await;
    assert_eq!(s, 201, "{plan}");

    // Beta's manager: alpha's ids do not exist, for reading or for writing.
    let (t, st, m, plan) = (id(&t), id(&st), id(&m), id(&plan));
    let refused: Vec<(&str, String, Value)> = vec![
        ("GET", format!("/api/v1/tariffs/{t}"), json!(null)),
        ("GET", format!("/api/v1/plans/{plan}"), json!(null)),
        ("GET", format!("/api/v1/stations/{st}"), json!(null)),
        ("GET", format!("/api/v1/stations/{st}/power"), json!(null)),
        ("GET", format!("/api/v1/merchants/{m}"), json!(null)),
        ("GET", "/api/v1/piles/51000000000001".into(), json!(null)),
        ("GET", "/api/v1/piles/51000000000001/ports/1/qr.svg".into(), json!(null)),
        ("GET", format!("/api/v1/operators/{a}"), json!(null)),
        ("GET", format!("/api/v1/events?station_id={st}"), json!(null)),
        ("PUT", format!("/api/v1/stations/{st}/tariff"), json!({"tariff_id": t})),
        ("DELETE", format!("/api/v1/stations/{st}/power"), json!(null)),
        ("POST", "/api/v1/piles/51000000000001/ports/1/start".into(), json!({})),
        (
            "POST",
            "/api/v1/piles/51000000000001/commands".into(),
            json!({"kind": "reboot", "when_idle": true}),
        ),
        ("POST", format!("/api/v1/merchants/{m}/statements/2026-01-01"), json!(null)),
    ];
    for (method, path, body) in refused {
        let (s, e) = server.call(Some(&bob), method, &path, body).await;
        assert_eq!(s, 404, "{method} {path} as beta: {e}");
        assert!(e["error"].as_str().is_some_and(|c| c.starts_with("unknown")), "{method} {path}: {e}");
    }
    // Named in a body, another tenant's id is an invalid field.
    let theirs = json!({"name": "B1", "tariff_id": t});
    let (s, e) = server.post_as(&bob, "/api/v1/stations", theirs).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("tariff_id")), "{e}");
    let (s, e) = server.post_as(&bob, "/api/v1/tariffs", json!({"operator_id": a, "name": "x", "prices": tariff()["prices"], "periods": tariff()["periods"]})).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("operator_id")), "{e}");
    let staff = json!({"username": "spy", "password": PASSWORD, "role": "staff", "operator_id": a});
    let (s, e) = server.post_as(&bob, "/api/v1/users", staff).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("operator_id")), "{e}");
    let rule = json!({"name": "r", "class": "vip", "station_id": st, "kind": "discount", "percent": "10"});
    let (s, e) = server.post_as(&bob, "/api/v1/rules", rule).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("station_id")), "{e}");
    let report = format!("/api/v1/reports/operations?from=2026-01-01&until=2026-01-02&station_id={st}");
    let (s, e) = server.get_as(&bob, &report).await;
    assert_eq!((s, e["field"].as_str()), (422, Some("station_id")), "{e}");
    let (s, e) = server.get_as(&alice, &report).await;
    assert_eq!(s, 200, "{e}");
    let (s, e) = server.get_as(&alice, "/api/v1/reports/inactive-drivers").await;
    assert_eq!(s, 403, "drivers are the platform's: {e}");
    // Nothing of alpha's changed.
    let (_, station) = server.get(&format!("/api/v1/stations/{st}")).await;
    assert_eq!(station["tariff_id"].as_i64(), Some(t), "{station}");

    // Lists hold only one's own; the admin sees both.
    let (_, b_tariff) = server.post_as(&bob, "/api/v1/tariffs", tariff()).await;
    for (token, path, want) in [
        (&bob, "/api/v1/tariffs", vec![id(&b_tariff)]),
        (&alice, "/api/v1/tariffs", vec![t]),
        (&server.admin, "/api/v1/tariffs", vec![t, id(&b_tariff)]),
        (&bob, "/api/v1/stations", vec![]),
        (&alice, "/api/v1/stations", vec![st]),
        (&bob, "/api/v1/merchants", vec![]),
        (&bob, "/api/v1/operators", vec![b]),
    ] {
        let (s, page) = server.get_as(token, path).await;
        assert_eq!(s, 200, "{page}");
        let ids: Vec<i64> = page["items"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(ids, want, "{path}");
    }
    let (_, piles) = server.get_as(&bob, "/api/v1/piles").await;
    assert_eq!(piles["items"], json!([]), "{piles}");
    let (_, piles) = server.get_as(&alice, "/api/v1/piles").await;
    assert_eq!(piles["items"][0]["id"], "51000000000001", "{piles}");

    // A frozen operator's users are locked out, and back when it thaws.
    let (s, o) = server.post_patch(&format!("/api/v1/operators/{a}"), json!({"status": "frozen"})).await;
    assert_eq!((s, o["status"].as_str()), (200, Some("frozen")), "{o}");
    let (s, _) = server.get_as(&alice, "/api/v1/tariffs").await;
    assert_eq!(s, 401);
    let (s, _) = server
        .call(None, "POST", "/api/v1/auth/login", json!({"username": "alpha-mgr", "password": PASSWORD}))
        .await;
    assert_eq!(s, 401);
    server.post_patch(&format!("/api/v1/operators/{a}"), json!({"status": "active"})).await;
    let (s, _) = server.get_as(&alice, "/api/v1/tariffs").await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_and_bad_requests_say_what_is_wrong() {
    let server = Server::start();
    let mut made = Vec::new();
    for _ in 0..5 {
        let (_, t) = server.post("/api/v1/tariffs", tariff()).await;
        made.push(id(&t));
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/tariffs?limit=2".to_owned();
    loop {
        let (s, page) = server.get(&path).await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(id));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/tariffs?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, made, "every tariff once, in order");

    let cases: Vec<(&str, &str, Value, u16, Option<&str>)> = vec![
        ("GET", "/api/v1/tariffs?limit=0", json!(null), 422, Some("limit")),
        ("GET", "/api/v1/tariffs?limit=501", json!(null), 422, Some("limit")),
        ("GET", "/api/v1/stations?after=abc", json!(null), 422, Some("after")),
        ("POST", "/api/v1/operators", json!({}), 422, Some("name")),
        ("POST", "/api/v1/operators", json!({"name": "x", "colour": "red"}), 422, Some("colour")),
        ("POST", "/api/v1/operators", json!({"name": "  "}), 422, Some("name")),
        (
            "POST",
            "/api/v1/merchants",
            json!({"name": "m", "commission_percent": "101"}),
            422,
            Some("commission_percent"),
        ),
        ("POST", "/api/v1/stations", json!({"name": "s", "tariff_id": "one"}), 422, Some("tariff_id")),
        ("PATCH", "/api/v1/operators/999", json!({"name": "x"}), 404, None),
        ("PATCH", "/api/v1/operators/1", json!({"status": "cancelled"}), 422, Some("status")),
    ];
    for (method, path, body, want, field) in cases {
        let (s, e) = server.call(Some(&server.admin), method, path, body).await;
        assert_eq!((s, e["field"].as_str()), (want, field), "{method} {path}: {e}");
        assert!(e["error"].is_string() && e["message"].is_string(), "{e}");
    }
    let (s, e) = server.post_raw("/api/v1/operators", "{\"name\":").await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_request")), "{e}");
}
