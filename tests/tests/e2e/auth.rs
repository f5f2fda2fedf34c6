//! Who may call what: every operator route wants a platform user's token,
//! and the user's role decides: staff read, managers change (and create
//! users up to manager), the admin runs operators and drivers, a merchant
//! user sees only its own merchant (anything else is 404).

use crate::common;

use common::{login, Server};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_is_allowed_and_refused_as_it_should_be() {
    let (hook, codes) = common::webhook();
    let server = Server::start_with(|c| c.notify_webhook = Some(hook));
    let (_, mall) =
        server.post("/api/v1/merchants", json!({"name": "Mall", "commission_percent": "5"})).await;
    let (_, other) =
        server.post("/api/v1/merchants", json!({"name": "Other", "commission_percent": "5"})).await;
    let user = |name: &str, role: &str| {
        let mut u = json!({"username": name, "password": "long enough pw", "role": role});
        if role == "merchant" {
            u["merchant_id"] = mall["id"].clone();
        }
        u
    };
    for (name, role) in [("mgr", "manager"), ("ops", "staff"), ("mall", "merchant")] {
        let (s, u) = server.post("/api/v1/users", user(name, role)).await;
        assert_eq!(s, 201, "{u}");
        assert!(u.get("password_hash").is_none(), "{u}");
    }
    let (s, dup) = server.post("/api/v1/users", user("mgr", "staff")).await;
    assert_eq!((s, dup["error"].as_str()), (409, Some("username_taken")));
    let (s, short) =
        server.post("/api/v1/users", json!({"username": "x", "password": "short", "role": "staff"})).await;
    assert_eq!((s, short["field"].as_str()), (422, Some("password")));
    let (s, _) =
        server.call(None, "POST", "/api/v1/auth/login", json!({"username": "mgr", "password": "nope"})).await;
    assert_eq!(s, 401);

    let mgr = login(&server.base, "mgr", "long enough pw").await;
    let ops = login(&server.base, "ops", "long enough pw").await;
    let merchant = login(&server.base, "mall", "long enough pw").await;
    let (_, driver) = server.driver(&codes, "13900000091", "1.00").await;
    let tariff = json!({"name": "flat", "prices": {"flat": {"energy": "1", "service": "0"}},
                        "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]});
    let mall_path = format!("/api/v1/merchants/{}", mall["id"]);
    let other_path = format!("/api/v1/merchants/{}", other["id"]);

    let cases: Vec<(Option<&str>, &str, &str, Value, u16)> = vec![
        (None, "GET", "/api/v1/piles", json!(null), 401),
        (Some("not-a-token"), "GET", "/api/v1/piles", json!(null), 401),
        (Some(&driver), "GET", "/api/v1/piles", json!(null), 403),
        (Some(&ops), "GET", "/api/v1/piles", json!(null), 200),
        (Some(&ops), "POST", "/api/v1/tariffs", tariff.clone(), 403),
        (Some(&mgr), "POST", "/api/v1/tariffs", tariff.clone(), 201),
        (Some(&mgr), "POST", "/api/v1/users", user("new", "staff"), 201),
        (Some(&mgr), "POST", "/api/v1/users", user("boss", "admin"), 403),
        (Some(&ops), "POST", "/api/v1/users", user("other", "staff"), 403),
        (Some(&mgr), "POST", "/api/v1/operators", json!({"name": "mine"}), 403),
        (Some(&mgr), "GET", "/api/v1/drivers/inactive", json!(null), 403),
        (Some(&merchant), "GET", &mall_path, json!(null), 200),
        (Some(&merchant), "GET", &other_path, json!(null), 404),
        (Some(&merchant), "GET", "/api/v1/piles", json!(null), 404),
        (Some(&merchant), "POST", "/api/v1/tariffs", tariff.clone(), 404),
        (Some(&driver), "GET", "/api/v1/me", json!(null), 200),
        (Some(&ops), "GET", "/api/v1/me", json!(null), 401),
    ];
    for (token, method, path, body, want) in cases {
        let (s, v) = server.call(token, method, path, body).await;
        assert_eq!(s, want, "{method} {path} as {token:?}: {v}");
        if s >= 400 {
            assert!(v["error"].is_string() && v["message"].is_string(), "a JSON reason: {v}");
        }
    }
}
