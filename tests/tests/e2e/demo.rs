//! `chargeplane serve --demo`, the real binary: within a minute it has its
//! simulated piles (YKC, AP3000, OCPP) online and a charge billed, it says how to sign in, and
//! it removes its throwaway data when it stops.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, free_port, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_charges_and_bills_within_a_minute_and_cleans_up() {
    let (piles, http) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--pile-listen",
            &format!("127.0.0.1:{piles}"),
            "--ocpp-listen",
            "127.0.0.1:0",
        ])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    let password = banner.rsplit(" / ").next().unwrap().to_owned();
    let data = lines.next().unwrap().unwrap();
    let data = std::path::PathBuf::from(data.rsplit(": ").next().unwrap());
    assert!(data.join("chargeplane.db").exists(), "{banner}\n{data:?}");

    let base = format!("http://127.0.0.1:{http}");
    let token = common::login(&base, "admin", &password).await;
    let http_client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let billed = "chargeplane_sessions_finished_total{result=\"billed\"} ";
    loop {
        let metrics = http_client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let n: f64 = metrics.lines().find_map(|l| l.strip_prefix(billed)).map_or(0.0, |v| v.parse().unwrap());
        if n >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing billed within a minute");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let piles: serde_json::Value = http_client
        .get(format!("{base}/api/v1/piles"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let online = piles["items"]
        .as_array()
        .or(piles.as_array())
        .unwrap()
        .iter()
        .filter(|p| p["online"] == true)
        .count();
    assert_eq!(online, 3, "a YKC pile, an AP3000 pile and an OCPP wall box: {piles}");
    // The wall box takes its turn: a charge runs on it within the minute.
    let wallbox = format!("{base}/api/v1/piles/DEMO-WALLBOX-1");
    loop {
        let v: serde_json::Value =
            http_client.get(&wallbox).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        if v["ports"][0]["status"] == "charging" {
            break;
        }
        assert!(Instant::now() < deadline, "the wall box never charged: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    assert!(Command::new("kill").arg(child.id().to_string()).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    assert!(!data.exists(), "{data:?} left behind");
}
