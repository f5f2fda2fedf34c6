//! The edges a client sees (#15): whatever goes wrong, down to a query that
//! does not parse, a body too large or a path that matches nothing, the
//! answer is the JSON error body with a stable code.

use serde_json::{json, Value};

use crate::common::Server;

/// Status, content type and JSON body (Null if the body is not JSON).
async fn send(req: reqwest::RequestBuilder) -> (u16, String, Value, Option<String>) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (ctype, allow) = (header("content-type").unwrap_or_default(), header("allow"));
    (status, ctype, res.json().await.unwrap_or(Value::Null), allow)
}

/// Asserts a JSON error body: its status, code and (if any) field.
fn is_error(got: &(u16, String, Value, Option<String>), status: u16, code: &str, field: Option<&str>) {
    let (s, ctype, body, _) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(ctype, "application/json", "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["field"].as_str(), field, "{body}");
}

fn tariff(energy: &str) -> Value {
    json!({"name": "flat", "prices": {"flat": {"energy": energy, "service": "0.5"}},
           "periods": [{"from": "00:00", "to": "24:00", "period": "flat"}]})
}

#[actix_rt::test]
async fn a_query_that_does_not_parse_is_a_json_400() {
    let server = Server::start();
    let get = server.http.get(format!("{}/api/v1/tariffs?limit=many", server.base));
    is_error(&send(get.bearer_auth(&server.admin)).await, 400, "bad_request", None);
}

#[actix_rt::test]
async fn a_path_that_does_not_parse_is_a_json_400() {
    let server = Server::start();
    let get = server.http.get(format!("{}/api/v1/tariffs/not-a-number", server.base));
    is_error(&send(get.bearer_auth(&server.admin)).await, 400, "bad_request", None);
}

#[actix_rt::test]
async fn a_body_too_large_is_a_json_413() {
    let server = Server::start();
    let big = vec![b' '; 10 * 1024 * 1024];
    let post = server.http.post(format!("{}/api/v1/tariffs", server.base)).bearer_auth(&server.admin);
    let post = post.header("content-type", "application/json").body(big.clone());
    is_error(&send(post).await, 413, "too_large", None);
    // A route reading its body as text (a reconciliation CSV) too.
    let post = server.http.post(format!(
        "{}/api/v1/reconciliations?from=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z",
        server.base
    ));
    let post = post.bearer_auth(&server.admin).header("content-type", "text/csv").body(big);
    is_error(&send(post).await, 413, "too_large", None);
}

#[actix_rt::test]
async fn malformed_json_is_a_json_400() {
    let server = Server::start();
    let post = server.http.post(format!("{}/api/v1/tariffs", server.base)).bearer_auth(&server.admin);
    let post = post.header("content-type", "application/json").body("{\"name\": ");
    is_error(&send(post).await, 400, "bad_request", None);
}

#[actix_rt::test]
async fn an_amount_that_does_not_parse_is_a_422_naming_its_field() {
    let server = Server::start();
    for bad in ["1e30", "NaN", "", "ten"] {
        let post = server.http.post(format!("{}/api/v1/tariffs", server.base)).bearer_auth(&server.admin);
        let got = send(post.json(&tariff(bad))).await;
        is_error(&got, 422, "invalid", Some("prices.flat.energy"));
    }
    // A field missing is still named by serde's own message.
    let post = server.http.post(format!("{}/api/v1/tariffs", server.base)).bearer_auth(&server.admin);
    is_error(&send(post.json(&json!({"name": "x"}))).await, 422, "invalid", Some("prices"));
}

#[actix_rt::test]
async fn an_unknown_path_is_a_json_404() {
    let server = Server::start();
    for path in ["/nope", "/api/v1/nope", "/api/v1/tariffs/1/nope"] {
        let get = server.http.get(format!("{}{path}", server.base)).bearer_auth(&server.admin);
        is_error(&send(get).await, 404, "not_found", None);
    }
}

#[actix_rt::test]
async fn a_method_the_path_does_not_take_is_a_json_405_with_allow() {
    let server = Server::start();
    let delete = server.http.delete(format!("{}/api/v1/tariffs", server.base)).bearer_auth(&server.admin);
    let got = send(delete).await;
    is_error(&got, 405, "method_not_allowed", None);
    assert_eq!(got.3.as_deref(), Some("GET, POST"));
    let put = server.http.put(format!("{}/api/v1/tariffs/7", server.base)).bearer_auth(&server.admin);
    let got = send(put).await;
    is_error(&got, 405, "method_not_allowed", None);
    assert_eq!(got.3.as_deref(), Some("GET, PATCH"));
    let post = server.http.post(format!("{}/healthz", server.base));
    is_error(&send(post).await, 405, "method_not_allowed", None);
}

#[test]
fn a_second_server_on_one_data_directory_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = api::server::Background::spawn(crate::common::test_config(dir.path())).unwrap();
    let second = api::server::Background::spawn(crate::common::test_config(dir.path()));
    let e = second.err().expect("a second server on the same directory is refused");
    let abs = std::path::absolute(dir.path()).unwrap();
    assert!(e.to_string().contains(&abs.display().to_string()), "{e}");
    assert!(e.to_string().contains("another chargeplane"), "{e}");
    // A cluster node shares the store knowingly.
    let node = api::server::Background::spawn(api::ServeConfig {
        advertise_http: Some("http://127.0.0.1:1".into()),
        cluster_key: Some("0123456789abcdef".into()),
        ..crate::common::test_config(dir.path())
    });
    node.expect("a cluster node skips the lock").stop();
    // The lock goes with the server.
    first.stop();
    api::server::Background::spawn(crate::common::test_config(dir.path())).unwrap().stop();
}

#[test]
fn create_admin_without_a_data_dir_says_which_store_it_wrote() {
    let cwd = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .args(["create-admin", "--username", "admin"])
        .current_dir(cwd.path())
        .env("CHARGEPLANE_ADMIN_PASSWORD", crate::common::ADMIN_PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let data = std::path::absolute(cwd.path().join("data")).unwrap();
    assert!(stdout.contains(&data.display().to_string()), "{stdout}");
}
