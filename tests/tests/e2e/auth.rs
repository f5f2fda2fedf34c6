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

/// The role a route needs, as the README states it: written here apart from
/// the server's own binding, so a route bound to the wrong role fails.
fn needs(method: &str, path: &str) -> &'static str {
    const ADMIN: [(&str, &str); 8] = [
        ("POST", "/operators"),
        ("PATCH", "/operators/{id}"),
        ("GET", "/drivers/inactive"),
        ("PATCH", "/drivers/{id}"),
        ("POST", "/drivers/{id}/cards"),
        ("PATCH", "/cards/{number}"),
        ("POST", "/reconciliations"),
        ("GET", "/reports/inactive-drivers"),
    ];
    const MERCHANT: [&str; 10] = [
        "/merchants/{id}",
        "/merchants/{id}/statements/{day}",
        "/stations",
        "/stations/{id}",
        "/stations/{id}/power",
        "/stations/{id}/power/history",
        "/sessions",
        "/reports/operations",
        "/reports/energy",
        "/reports/faults",
    ];
    let path = path.strip_prefix("/api/v1").unwrap();
    if ADMIN.contains(&(method, path)) {
        "admin"
    } else if method == "GET" && MERCHANT.contains(&path) {
        "merchant"
    } else if method == "GET" {
        "staff"
    } else {
        "manager"
    }
}

/// `path` with its parameters filled in and, if `encode`, the first letter
/// of every literal segment after `/api/v1` percent-encoded, as a client
/// trying to slip past a check on the raw path would send it.
fn spelled(path: &str, encode: bool) -> String {
    let rest = path.strip_prefix("/api/v1/").unwrap();
    let segments = rest.split('/').map(|seg| match seg {
        "{day}" => "2026-01-01".to_owned(),
        s if s.starts_with('{') => "1".to_owned(),
        s if encode => format!("%{:02X}{}", s.as_bytes()[0], &s[1..]),
        s => s.to_owned(),
    });
    format!("/api/v1/{}", segments.collect::<Vec<_>>().join("/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_route_is_gated_by_its_role_however_the_path_is_spelled() {
    // Commands to piles that are not there give up at once.
    let server = Server::start_with(|c| c.command_timeout_ms = 50);
    let (_, mall) =
        server.post("/api/v1/merchants", json!({"name": "Mall", "commission_percent": "5"})).await;
    for (name, role) in [("mgr", "manager"), ("ops", "staff"), ("mall", "merchant")] {
        let mut u = json!({"username": name, "password": "long enough pw", "role": role});
        if role == "merchant" {
            u["merchant_id"] = mall["id"].clone();
        }
        assert_eq!(server.post("/api/v1/users", u).await.0, 201);
    }
    let tokens = [
        ("admin", server.admin.clone()),
        ("manager", login(&server.base, "mgr", "long enough pw").await),
        ("staff", login(&server.base, "ops", "long enough pw").await),
        ("merchant", login(&server.base, "mall", "long enough pw").await),
    ];
    let rank = |r: &str| ["merchant", "staff", "manager", "admin"].iter().position(|x| *x == r).unwrap();
    let allowed = |role: &str, need: &str| match need {
        "merchant" => true,
        _ => role != "merchant" && rank(role) >= rank(need),
    };
    let (_, operators_before) = server.get("/api/v1/operators").await;

    let (_, doc) = server.get("/openapi.json").await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        // Drivers' routes, and signing out, which any live token may do.
        if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/me") || path == "/api/v1/auth/logout" {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let bearer =
                op["security"].as_array().is_some_and(|s| s.iter().any(|s| s.get("bearer").is_some()));
            if !bearer {
                continue;
            }
            let method = method.to_uppercase();
            let need = needs(&method, path);
            for encode in [false, true] {
                let url = spelled(path, encode);
                for (role, token) in &tokens {
                    let (s, v) = server.call(Some(token), &method, &url, json!({})).await;
                    let what = format!("{method} {url} as {role} (needs {need}): {s} {v}");
                    assert!(s < 500 && s != 405 && s != 401, "{what}");
                    let gated = (s == 403 && v["error"] == "forbidden")
                        || (s == 404 && v["message"] == "no such resource");
                    if allowed(role, need) {
                        assert!(!gated, "refused: {what}");
                    } else if *role == "merchant" {
                        assert!(s == 404 && v["message"] == "no such resource", "not hidden: {what}");
                    } else {
                        assert!(s == 403 && v["error"] == "forbidden", "not refused: {what}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} requests: did the document lose its routes?");
    // The manager's encoded POST /operators (the reported bypass) made nothing.
    let (_, operators_after) = server.get("/api/v1/operators").await;
    assert_eq!(operators_before["items"], operators_after["items"]);
}
