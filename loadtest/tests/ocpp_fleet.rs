//! `loadtest --protocol ocpp` end to end at small scale: the binary boots
//! its own server and connects OCPP charge points to it over real loopback
//! WebSockets; remote starts reach them, storms bring them all back, and
//! every charge is billed. Guards the load figures in BENCHMARKS.md against
//! a fleet member that silently stopped working.

use std::process::Command;

/// Runs the loadtest with `args`; its exit status and summary table.
fn loadtest(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--protocol", "ocpp", "--in-process", "--progress", "1"])
        .args(args)
        .output()
        .expect("the loadtest runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}\n{stderr}"))
}

/// The value of summary row `name`.
fn row<'a>(out: &'a str, name: &str) -> &'a str {
    let prefix = format!("| {name} | ");
    let line =
        out.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no row {name}:\n{out}"));
    line[prefix.len()..].trim_end_matches(" |")
}

#[test]
fn remote_starts_reach_ocpp_charge_points_and_are_billed() {
    let (ok, out) = loadtest(&[
        "--scenario",
        "start-latency",
        "--piles",
        "30",
        "--starts",
        "12",
        "--charge-rate",
        "50",
        "--charge-secs",
        "1",
    ]);
    assert!(ok, "{out}");
    assert_eq!(row(&out, "piles logged in").split(" in ").next(), Some("30 of 30"), "{out}");
    assert_eq!(
        row(&out, "charges"),
        "12 sent, 0 failed, 12 started at piles, 0 refused by piles, 12 billed",
        "{out}"
    );
    assert!(
        row(&out, "start latency HTTP sent → pile has command (n, p50 / p99 / max)").starts_with("12, "),
        "{out}"
    );
}

#[test]
fn an_ocpp_fleet_comes_back_from_a_storm_with_its_charges() {
    let (ok, out) = loadtest(&["--scenario", "reconnect-storm", "--piles", "30", "--storm-charges", "10"]);
    assert!(ok, "{out}");
    let back = row(&out, "reconnect storm: all piles logged in again");
    assert!(back.starts_with("30 of 30 in ") && back.contains("0 links reset"), "{out}");
    assert_eq!(row(&out, "sessions open on the platform after the storm"), "10 of 10", "{out}");
    assert_eq!(row(&out, "charges stopped and billed after the storm"), "10 of 10", "{out}");
}

#[test]
fn an_idle_ocpp_fleet_heartbeats() {
    let (ok, out) =
        loadtest(&["--scenario", "idle-fleet", "--piles", "20", "--heartbeat", "0.2", "--settle", "1"]);
    assert!(ok, "{out}");
    let rate: f64 = row(&out, "messages answered per second (idle)").parse().expect("a rate");
    // 20 charge points at 5 heartbeats a second each: about 100/s; well
    // under that only if heartbeats stalled, whatever the machine's load.
    assert!(rate > 20.0, "{out}");
}
