//! The README's walkthrough, run as written: its shell blocks (the admin
//! created from the command line, then a charge on a simulated pile) are run
//! by bash against the real binary, with only this run's addresses and the
//! binary's path put in, so the documentation cannot drift from the product.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, BIN};

const README: &str = include_str!("../../../README.md");

/// The first `sh` block after the heading.
fn block(heading: &str) -> &'static str {
    let section = &README[README.find(heading).unwrap_or_else(|| panic!("no {heading:?} in the README"))..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let len = section[start..].find("```").expect("closed");
    &section[start..start + len]
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (piles, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            "data",
            "--pile-listen",
            &piles,
            "--ocpp-listen",
            "127.0.0.1:0",
            "--http-listen",
            &http,
        ])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&http).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }

    let script = [block("## Users and roles"), block("## A charge over HTTP")]
        .join("\n")
        .replace("cargo run --release -p api --", BIN)
        .replace("localhost:8080", &http);
    let run = Command::new("timeout")
        .args(["120", "bash", "-c", &format!("set -euo pipefail\n{script}")])
        .current_dir(dir.path())
        .env("CHARGEPLANE_PILE_ADDR", &piles)
        .output()
        .expect("bash, curl and jq");
    let _ = server.kill();
    let _ = server.wait();
    let (out, err) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the walkthrough failed ({}):\n{out}\n{err}", run.status);
    assert!(out.contains(r#""state":"finished""#), "no finished session:\n{out}");
    assert!(out.contains(r#"chargeplane_sessions_finished_total{result="billed"} 1"#), "not billed:\n{out}");
}
