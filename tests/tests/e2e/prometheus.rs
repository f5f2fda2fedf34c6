//! The ops/ material against the real thing: a real Prometheus server scrapes
//! a running chargeplane while a simulated YKC pile logs in, evaluates the
//! alert rules in ops/prometheus/rules.yml on that data, and runs every
//! query of the Grafana dashboard; promtool checks and unit-tests the rules
//! and the example config.
//!
//! Needs the `prometheus` and `promtool` binaries (Debian: `apt-get install
//! prometheus`; CI installs it). Without them those tests print why and pass.

use crate::common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Server};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use serde_json::Value;
use vocab::PileId;

const WAIT: Duration = Duration::from_secs(5);
/// How long Prometheus may take to show what the platform exposes.
const PROM_WAIT: Duration = Duration::from_secs(20);

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("ops")
}

fn installed(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(bin).is_file()))
}

/// A Prometheus server in a child process with its own storage, scraping
/// one chargeplane every 250 ms as job `chargeplane` and evaluating the
/// repository's alert rules every second. Killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(target: SocketAddr) -> Prometheus {
        // The port is free when picked but could be taken before Prometheus
        // binds it; then it exits, and another port is tried.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let config = dir.path().join("prometheus.yml");
            let rules = ops_dir().join("prometheus").join("rules.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n  evaluation_interval: 1s\n\
                     rule_files:\n  - {rules}\n\
                     scrape_configs:\n  - job_name: chargeplane\n    static_configs:\n      - targets: [\"{target}\"]\n",
                    rules = serde_json::to_string(&rules.to_str().unwrap()).unwrap(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
            let port = free_port();
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("prometheus starts");
            let mut prom = Prometheus {
                child,
                base: format!("http://127.0.0.1:{port}"),
                http: reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap(),
                dir,
            };
            if prom.ready().await {
                return prom;
            }
            eprintln!("prometheus did not come up; retrying. Its log:\n{}", prom.log());
        }
        panic!("prometheus never became ready");
    }

    /// Waits for `/-/ready`; false if the process exited or never got ready.
    async fn ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(res) = self.http.get(format!("{}/-/ready", self.base)).send().await {
                if res.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>`: the `data` of a success, or the error text.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let res = self
            .http
            .get(format!("{}/api/v1/{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = res.json().await.map_err(|e| e.to_string())?;
        match body["status"].as_str() {
            Some("success") => Ok(body["data"].clone()),
            _ => Err(format!("{}: {}", body["errorType"], body["error"])),
        }
    }

    /// An instant query: the value of each series it returns.
    async fn query(&self, promql: &str) -> Result<Vec<f64>, String> {
        let data = self.api("query", &[("query", promql)]).await?;
        let samples = data["result"].as_array().cloned().unwrap_or_default();
        Ok(samples
            .iter()
            .map(|s| s["value"][1].as_str().unwrap_or("NaN").parse().unwrap_or(f64::NAN))
            .collect())
    }

    /// Polls a query returning one series until its value satisfies `pred`.
    async fn until(&self, promql: &str, pred: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + PROM_WAIT;
        let mut last = Ok(vec![]);
        while Instant::now() < deadline {
            last = self.query(promql).await;
            if let Ok(values) = &last {
                if let [v] = values[..] {
                    if pred(v) {
                        return v;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus never reported the expected `{promql}`; last: {last:?}\nlog:\n{}", self.log());
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(server: &Server, id: &str) -> SimPile {
    let mut cfg = PileConfig::new(PileId(id.into()), 1);
    cfg.heartbeat = Duration::from_millis(200);
    let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
    assert!(matches!(ev, Some(Event::LoginAccepted)), "login: {ev:?}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    pile
}

fn dashboard() -> Value {
    let path = ops_dir().join("grafana").join("chargeplane.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("the dashboard is JSON")
}

/// Every PromQL expression of the dashboard's panels.
fn dashboard_queries(dash: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().expect("a target has an expr").to_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_what_a_pile_did_and_evaluates_the_rules_and_dashboard() {
    if !installed("prometheus") {
        println!("skipping: prometheus not installed (apt-get install prometheus)");
        return;
    }
    let server = Server::start();
    let id = "30000000000001";
    server.station_with_pile(id, 1).await;
    let pile = login(&server, id).await;
    let prom = Prometheus::start(server.bg.as_ref().unwrap().http_addr).await;

    // Scraped, and what the login changed is there.
    prom.until("up{job=\"chargeplane\"}", |v| v == 1.0).await;
    prom.until(
        "sum(chargeplane_logins_total{job=\"chargeplane\",protocol=\"ykc\",result=\"accepted\"})",
        |v| v >= 1.0,
    )
    .await;
    prom.until("chargeplane_piles_connected{job=\"chargeplane\",protocol=\"ykc\"}", |v| v == 1.0).await;
    prom.until("sum(chargeplane_frames_received_total{protocol=\"ykc\",type=\"0x01\"})", |v| v >= 1.0).await;
    // Heartbeats every 200 ms keep counting while Prometheus watches.
    let heartbeats = prom.until("sum(chargeplane_frames_received_total{type=\"0x03\"})", |v| v >= 1.0).await;
    prom.until("sum(chargeplane_frames_received_total{type=\"0x03\"})", |v| v > heartbeats).await;

    // A change made after Prometheus started: a heartbeat with a bad CRC.
    let mut bad = vec![0x68, 0x0D, 0x01, 0x00, 0x00, 0x03, 0x10, 0, 0, 0, 0, 0, 0x01, 0x01, 0x00];
    bad.extend_from_slice(&[0xDE, 0xAD]);
    pile.send_raw(bad);
    prom.until("chargeplane_frame_errors_total{kind=\"bad_crc\",protocol=\"ykc\"}", |v| v == 1.0).await;

    // Every rule group of rules.yml is loaded, and every rule evaluates on
    // this data without error: matching errors show only with real series,
    // so only evaluations after the data above was in count.
    let data_in = chrono::Utc::now() + chrono::Duration::seconds(1);
    let deadline = Instant::now() + PROM_WAIT;
    loop {
        let data = prom.api("rules", &[]).await.unwrap();
        let groups = data["groups"].as_array().unwrap();
        let names: BTreeSet<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
        for want in [
            "chargeplane.platform",
            "chargeplane.fleet",
            "chargeplane.protocol",
            "chargeplane.store",
            "chargeplane.station_power",
            "chargeplane.alarms",
        ] {
            assert!(names.contains(want), "rule group {want} not loaded: {names:?}");
        }
        let rules: Vec<&Value> = groups.iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
        assert!(rules.len() >= 10, "{} rules loaded", rules.len());
        let evaluated = |r: &&Value| {
            r["lastEvaluation"]
                .as_str()
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .is_some_and(|t| t > data_in)
        };
        if rules.iter().all(evaluated) {
            let broken: Vec<String> = rules
                .iter()
                .filter(|r| r["health"] != "ok")
                .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
                .collect();
            assert!(broken.is_empty(), "rules failing to evaluate: {broken:?}");
            break;
        }
        assert!(Instant::now() < deadline, "rules never all evaluated: {data}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every dashboard query is valid PromQL, as Grafana would send it.
    let queries = dashboard_queries(&dashboard());
    assert!(queries.len() >= 20, "{} queries", queries.len());
    for q in &queries {
        let promql = q.replace("$__rate_interval", "1m").replace("$instance", ".*");
        if let Err(e) = prom.query(&promql).await {
            panic!("dashboard query `{q}` fails: {e}");
        }
    }
    // And the fleet panel shows the pile.
    assert_eq!(prom.query("sum(chargeplane_piles_connected{instance=~\".*\"})").await, Ok(vec![1.0]));
    pile.close();
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(ops_dir().join("prometheus"))
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_and_unit_tests_the_rules_and_the_example_config() {
    if !installed("promtool") {
        println!("skipping: prometheus not installed (apt-get install prometheus)");
        return;
    }
    promtool(&["check", "rules", "rules.yml"]);
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["test", "rules", "rules_test.yml"]);
}

fn rust_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// Every `chargeplane_*` name in the dashboard and the rules is a metric
/// the code registers, so a rename cannot silently empty a panel or an alert.
#[test]
fn the_dashboard_and_the_rules_use_only_metrics_the_code_defines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut code = String::new();
    for krate in ["actors", "api", "engine/vocab", "engine/proto", "engine/domain", "engine/store"] {
        rust_sources(&root.join(krate).join("src"), &mut code);
    }
    let dash = dashboard();
    let schema = dash["schemaVersion"].as_i64().unwrap();
    assert!(schema >= 36, "schemaVersion {schema}");
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource"));

    let rules = std::fs::read_to_string(ops_dir().join("prometheus").join("rules.yml")).unwrap();
    let text = dashboard_queries(&dash).join("\n") + "\n" + &rules;
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("chargeplane_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    assert!(names.len() >= 15, "{names:?}");
    for name in &names {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| code.contains(&format!("\"{base}\"")))
            .unwrap_or(name);
        assert!(code.contains(&format!("\"{base}\"")), "{name} is used in ops/ but no code defines it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_scrape_has_the_build_the_process_and_zeroed_series() {
    let server = Server::start();
    let version = format!("chargeplane_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(server.metric(&version).await, 1.0);
    assert!(server.metric("process_resident_memory_bytes").await > 1e6);
    assert!(server.metric("process_open_fds").await >= 3.0);
    // Before any pile or charge, the series panels and rules read are there at 0.
    let text =
        server.http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    for series in [
        "chargeplane_piles_connected{protocol=\"ykc\"} 0",
        "chargeplane_piles_connected{protocol=\"dny\"} 0",
        "chargeplane_sessions_finished_total{result=\"billed\"} 0",
        "chargeplane_logins_total{protocol=\"dny\",result=\"accepted\"} 0",
    ] {
        assert!(text.lines().any(|l| l == series), "{series} missing");
    }
}

/// The systemd unit in ops/ passes `systemd-analyze verify` with nothing to
/// say (an unknown key is only a warning there), run against the binary the
/// tests built in place of /usr/bin/chargeplane.
#[test]
fn the_systemd_unit_verifies_clean() {
    if !installed("systemd-analyze") {
        println!("note: systemd-analyze is not installed; the unit file is not verified");
        return;
    }
    let unit = std::fs::read_to_string(ops_dir().join("systemd/chargeplane.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/chargeplane serve") && unit.contains("LimitNOFILE="));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chargeplane.service");
    std::fs::write(&path, unit.replace("/usr/bin/chargeplane", crate::common::BIN)).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
