//! The API's OpenAPI document over real HTTP: `/openapi.json` and `/docs`
//! are public, the document served is the one the API's unit tests check
//! against the registered routes, and every route it lists is answered by a
//! handler rather than the router's bare 404.

use crate::common;

use std::time::Duration;

use common::Server;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// A value for a path parameter that parses as its declared type.
fn sample(op: &Value, name: &str) -> String {
    let params = op["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
    let param = params.iter().find(|p| p["in"] == "path" && p["name"] == name);
    let schema = param.map(|p| &p["schema"]).unwrap_or_else(|| panic!("{name} is not declared"));
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("integer"), _) => "1".into(),
        (_, Some("date")) => "2024-01-01".into(),
        _ => "x".into(),
    }
}

/// `path` with every `{name}` filled in.
fn fill(path: &str, op: &Value) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('{') {
        let (name, after) = after.split_once('}').unwrap();
        out.push_str(before);
        out.push_str(&sample(op, name));
        rest = after;
    }
    out + rest
}

/// A request as the admin, without a body: its status, and its body unless
/// it is a success (event streams answer at once and never end).
async fn probe(server: &Server, method: &str, path: &str) -> (u16, String) {
    let req = server
        .http
        .request(method.to_uppercase().parse().unwrap(), format!("{}{path}", server.base))
        .bearer_auth(&server.admin)
        .timeout(Duration::from_secs(10));
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    (status, if status == 200 { String::new() } else { res.text().await.unwrap() })
}

/// Whether a handler answered: what the router has no route for is a 405
/// `method_not_allowed` or a 404 "no route ...", both in the JSON error body.
fn from_handler(status: u16, body: &str) -> bool {
    let b = serde_json::from_str::<Value>(body).unwrap_or(Value::Null);
    let unrouted = b["error"] == "method_not_allowed"
        || b["message"].as_str().is_some_and(|m| m.starts_with("no route "));
    !matches!(status, 404 | 405) || !unrouted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_docs_page_are_public_and_every_listed_route_is_served() {
    // A dropped event stream is noticed at its next keep-alive; the server
    // waits for open streams when it shuts down.
    let server = Server::start_with(|c| c.live_keepalive_ms = 50);
    let (status, doc) = server.call(None, "GET", "/openapi.json", Value::Null).await;
    assert_eq!(status, 200, "{doc}");
    let expected: Value = serde_json::from_str(api::openapi::document()).unwrap();
    assert_eq!(doc, expected, "the document served is the one the unit tests check");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

    let docs = server.http.get(format!("{}/docs", server.base)).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(docs.text().await.unwrap().contains("openapi.json"));

    // What the probe tells apart: the router's own 404 for what no handler serves.
    for (method, path) in
        [("get", "/api/v1/no-such-thing"), ("delete", "/api/v1/tariffs"), ("put", "/healthz")]
    {
        let (status, body) = probe(&server, method, path).await;
        assert!(!from_handler(status, &body), "{method} {path}: {status} {body:?}");
    }

    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let (status, body) = probe(&server, method, &fill(path, &item[*method])).await;
            assert!(
                from_handler(status, &body),
                "{method} {path} is documented but no handler answers it: {status} {body:?}"
            );
            probed += 1;
        }
    }
    assert!(probed >= 77, "only {probed} routes listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_loads_nothing_from_another_host() {
    let server = Server::start();
    let page = server.http.get(format!("{}/docs", server.base)).send().await.unwrap().text().await.unwrap();
    // Rendered in the server from the document: every route is on the page.
    assert!(
        page.contains("/api/v1/auth/login") && page.contains("href=\"openapi.json\""),
        "not the docs page"
    );
    for attr in ["src=\"http", "src='http", "href=\"http", "href='http", "src=\"//"] {
        assert!(!page.contains(attr), "the page loads from elsewhere: {attr}");
    }
}
