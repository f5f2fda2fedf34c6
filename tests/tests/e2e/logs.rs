//! What an operator reads in the real binary's logs: JSON lines a shipper
//! can take, one per HTTP request with who asked and never a secret, no
//! colour codes in a file, and start-up errors that name what they concern.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, free_port, ADMIN_PASSWORD, BIN, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_a_line_per_request_with_the_caller_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = Command::new(BIN)
        .args(["create-admin", "--username", "admin", "--data-dir"])
        .arg(&data)
        .env("CHARGEPLANE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(admin.status.success(), "{}", String::from_utf8_lossy(&admin.stderr));

    let (piles, http) = (free_port(), free_port());
    let log = dir.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--log-format", "json", "--data-dir"])
        .arg(&data)
        .args([
            "--ocpp-listen",
            "127.0.0.1:0",
            "--pile-listen",
            &format!("127.0.0.1:{piles}"),
            "--http-listen",
            &format!("127.0.0.1:{http}"),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "no server: {}", std::fs::read_to_string(&log).unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = common::login(&base, "admin", ADMIN_PASSWORD).await;
    let stations = client.get(format!("{base}/api/v1/stations/7")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(stations.status(), 404);

    // The same port again: refused, naming the address.
    let clash = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("other"))
        .args([
            "--ocpp-listen",
            "127.0.0.1:0",
            "--pile-listen",
            "127.0.0.1:0",
            "--http-listen",
            &format!("127.0.0.1:{http}"),
        ])
        .output()
        .unwrap();
    assert!(!clash.status.success());
    let said = String::from_utf8_lossy(&clash.stderr);
    assert!(said.contains(&format!("127.0.0.1:{http}")), "{said}");

    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&token) && !text.contains(ADMIN_PASSWORD), "a secret in the log:\n{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a file:\n{text}");
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let request = |route: &str| {
        lines.iter().find(|l| l["target"] == "http" && l["route"] == route).cloned().unwrap_or(Value::Null)
    };
    let login = request("/api/v1/auth/login");
    assert_eq!(
        (&login["method"], &login["status"], &login["user"]),
        (&json!("POST"), &json!(200), &json!("-"))
    );
    let station = request("/api/v1/stations/{id}");
    assert_eq!((&station["status"], &station["user"]), (&json!(404), &json!("user:1")), "{station}");
    assert!(station["ms"].is_u64(), "{station}");
    assert_eq!(request("/healthz"), Value::Null, "probes stay out of the INFO log");
    assert!(lines.iter().any(|l| l["message"] == "chargeplane is up"), "{text}");
}
