//! The walking skeleton end to end over real sockets: a simulated YKC pile
//! logs in, charges across two tariff periods, and is billed to the cent;
//! bad frames and bad requests fail cleanly and lose nothing.

use crate::common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Server;
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use vocab::PileId;

const WAIT: Duration = Duration::from_secs(5);

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a decimal string")).parse().unwrap()
}

fn pile_config(id: &str) -> PileConfig {
    let mut cfg = PileConfig::new(PileId(id.into()), 2);
    cfg.heartbeat = Duration::from_millis(200);
    cfg.realtime = Duration::from_secs(3600); // readings only when the test sends them
    cfg.record_retry = Duration::from_millis(500);
    cfg
}

async fn login(server: &Server, id: &str) -> SimPile {
    let mut pile = SimPile::connect(server.pile_addr, pile_config(id)).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
    assert!(matches!(ev, Some(Event::LoginAccepted)), "login: {ev:?}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["online"] == true).await;
    pile
}

/// The server's clock starts at 11:57:00 (UTC+8) and runs 30× real time, so
/// the 12:00 boundary between the peak and sharp periods comes 6 s into the
/// test, time enough for the setup on a loaded CI machine. Readings before it are peak, after it sharp; the reading that spans
/// the boundary adds no energy, so the expected bill does not depend on
/// timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_across_two_tariff_periods_is_billed_to_the_cent() {
    let clock_start: DateTime<Utc> = "2026-03-02T03:57:00Z".parse().unwrap();
    let boundary = Instant::now() + Duration::from_secs(6);
    let server = Server::start_with(|c| {
        c.clock_start = Some(clock_start);
        c.clock_rate = 30.0;
    });

    let (s, tariff) = server
        .post(
            "/api/v1/tariffs",
            json!({
                "name": "peak then sharp",
                "prices": {
                    "peak": {"energy": "0.9876", "service": "0.6"},
                    "sharp": {"energy": "1.2345", "service": "0.8"},
                    "valley": {"energy": "0.3", "service": "0.4"}
                },
                "periods": [
                    {"from": "00:00", "to": "08:00", "period": "valley"},
                    {"from": "08:00", "to": "12:00", "period": "peak"},
                    {"from": "12:00", "to": "14:00", "period": "sharp"},
                    {"from": "14:00", "to": "24:00", "period": "valley"}
                ]
            }),
        )
        .await;
    assert_eq!(s, 201, "{tariff}");
    let (s, station) = server
        .post(
            "/api/v1/stations",
            json!({"name": "Depot", "tariff_id": tariff["id"], "utc_offset_minutes": 480}),
        )
        .await;
    assert_eq!(s, 201, "{station}");
    let id = "55031412782305";
    server.register(id, station["id"].as_i64().unwrap(), 2).await;
    let mut pile = login(&server, id).await;

    let (s, started) =
        server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({"balance": "200"})).await;
    assert_eq!(s, 202, "{started}");
    let session = started["session_id"].as_str().unwrap().to_owned();
    assert!(session.starts_with("5503141278230501"), "serial is pile id + gun + time + counter: {session}");
    let ev = pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::StartRequested { gun: 1, accepted: true, .. })), "{ev:?}");
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "charging").await;
    // Operators see the port charging and how long the start took.
    assert_eq!(server.metric("chargeplane_ports{state=\"charging\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_ports{state=\"idle\"}").await, 1.0);
    assert_eq!(server.metric("chargeplane_start_command_seconds_count").await, 1.0);

    // Peak: 5.1234 kWh in two readings.
    pile.set_energy(1, dec!(2.5));
    pile.send_realtime(1);
    pile.set_energy(1, dec!(5.1234));
    pile.send_realtime(1);
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["kwh"] == "5.1234").await;
    assert!(
        Instant::now() + Duration::from_millis(200) < boundary,
        "setup took too long to stay before 12:00"
    );

    // Sharp: 3.3333 kWh after the boundary.
    tokio::time::sleep_until((boundary + Duration::from_millis(600)).into()).await;
    pile.send_realtime(1);
    pile.set_energy(1, dec!(8.4567));
    pile.send_realtime(1);
    server.until(&format!("/api/v1/sessions/{session}"), |v| v["kwh"] == "8.4567").await;

    let (s, stopped) = server.post(&format!("/api/v1/piles/{id}/ports/1/stop"), json!({})).await;
    assert_eq!(s, 202, "{stopped}");
    assert_eq!(stopped["session_id"], session.as_str());
    let ev = pile.wait_for(|e| matches!(e, Event::RecordAcked { .. }), WAIT).await;
    match ev {
        Some(Event::RecordAcked { serial, invalid }) => {
            assert_eq!(serial.as_str(), session);
            assert!(!invalid);
        }
        other => panic!("no record ack: {other:?}"),
    }

    let done = server.until(&format!("/api/v1/sessions/{session}"), |v| v["state"] == "finished").await;
    assert_eq!(done["stop_reason"]["code"], 0x40);
    assert_eq!(done["kwh_by_period"]["peak"], "5.1234");
    assert_eq!(done["kwh_by_period"]["sharp"], "3.3333");

    let (s, bill) = server.get(&format!("/api/v1/sessions/{session}/bill")).await;
    assert_eq!(s, 200, "{bill}");
    let lines = bill["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{bill}");
    // Sharp: 3.3333 kWh × 1.2345 = 4.11495885 → 4.1150; × 0.8 = 2.66664 → 2.6666.
    assert_eq!(lines[0]["period"], "sharp");
    assert_eq!(dec(&lines[0]["kwh"]), dec!(3.3333));
    assert_eq!(dec(&lines[0]["energy_amount"]), dec!(4.1150));
    assert_eq!(dec(&lines[0]["service_amount"]), dec!(2.6666));
    assert_eq!(dec(&lines[0]["amount"]), dec!(6.7816));
    // Peak: 5.1234 kWh × 0.9876 = 5.05986984 → 5.0599; × 0.6 = 3.07404 → 3.0740.
    assert_eq!(lines[1]["period"], "peak");
    assert_eq!(dec(&lines[1]["energy_amount"]), dec!(5.0599));
    assert_eq!(dec(&lines[1]["service_amount"]), dec!(3.0740));
    assert_eq!(dec(&lines[1]["amount"]), dec!(8.1339));
    // 6.7816 + 8.1339 = 14.9155 → 14.92 yuan.
    assert_eq!(dec(&bill["kwh"]), dec!(8.4567));
    assert_eq!(dec(&bill["total"]), dec!(14.92));
    // The billed charge's actor is gone, and so is its registry entry: a
    // node running millions of charges a day keeps none of them.
    let platform = server.bg.as_ref().unwrap().platform.clone();
    for _ in 0..100 {
        if platform.registry.sessions.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(platform.registry.sessions.len(), 0, "a finished session stays registered");

    // Every reading is stored, in order, on the right side of 12:00 local.
    let (_, samples) = server.get(&format!("/api/v1/sessions/{session}/samples")).await;
    let samples = samples.as_array().unwrap();
    let kwh: Vec<Decimal> = samples.iter().map(|s| dec(&s["kwh"])).collect();
    for want in [dec!(2.5), dec!(5.1234), dec!(8.4567)] {
        assert!(kwh.contains(&want), "{want} missing from {kwh:?}");
    }
    assert!(kwh.windows(2).all(|w| w[0] <= w[1]), "readings out of order: {kwh:?}");
    let noon: DateTime<Utc> = "2026-03-02T04:00:00Z".parse().unwrap();
    for s in samples {
        let at: DateTime<Utc> = s["at"].as_str().unwrap().parse().unwrap();
        let k = dec(&s["kwh"]);
        if k > dec!(0) && k < dec!(5.1234) {
            assert!(at < noon, "peak reading {k} stored at {at}");
        }
        if k > dec!(5.1234) {
            assert!(at > noon, "sharp reading {k} stored at {at}");
        }
    }

    // The store's work is visible: writes committed and the time it took.
    assert!(server.metric("chargeplane_store_writes_total").await >= 5.0);
    assert!(server.metric("chargeplane_store_batches_total").await >= 1.0);
    assert!(server.metric("chargeplane_store_batch_seconds_total").await > 0.0);

    // The pile's resends after the ack are not billed again.
    assert_eq!(server.metric("chargeplane_sessions_finished_total{result=\"billed\"}").await, 1.0);
    pile.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_with_a_bad_crc_is_counted_and_dropped_and_the_pile_stays_up() {
    let server = Server::start();
    let id = "10000000000001";
    server.station_with_pile(id, 1).await;
    let mut pile = login(&server, id).await;

    // A heartbeat frame with its checksum bytes flipped.
    let mut bad = vec![0x68, 0x0D, 0x01, 0x00, 0x00, 0x03, 0x10, 0, 0, 0, 0, 0, 0x01, 0x01, 0x00];
    bad.extend_from_slice(&[0xDE, 0xAD]);
    pile.send_raw(bad);
    let series = "chargeplane_frame_errors_total{kind=\"bad_crc\",protocol=\"ykc\"}";
    for _ in 0..100 {
        if server.metric(series).await >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.metric(series).await, 1.0);

    // Still online, and still charging on command.
    let (_, view) = server.get(&format!("/api/v1/piles/{id}")).await;
    assert_eq!(view["online"], true);
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let ev = pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::StartRequested { accepted: true, .. })), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_length_closes_that_pile_alone() {
    let server = Server::start();
    let (a, b) = ("10000000000002", "10000000000003");
    let station = server.station_with_pile(a, 1).await;
    server.register(b, station, 1).await;
    let mut bad = login(&server, a).await;
    let mut good = login(&server, b).await;

    // LEN 0xFA is over the 200-byte limit: the stream cannot be trusted.
    bad.send_raw(vec![0x68, 0xFA, 0x00, 0x00, 0x00, 0x03]);
    let ev = bad.wait_for(|e| matches!(e, Event::Closed), WAIT).await;
    assert!(matches!(ev, Some(Event::Closed)), "{ev:?}");
    server.until(&format!("/api/v1/piles/{a}"), |v| v["online"] == false).await;
    assert_eq!(
        server.metric("chargeplane_links_closed_total{protocol=\"ykc\",reason=\"bad_length\"}").await,
        1.0
    );

    let (_, view) = server.get(&format!("/api/v1/piles/{b}")).await;
    assert_eq!(view["online"], true);
    let (s, started) = server.post(&format!("/api/v1/piles/{b}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let ev = good.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::StartRequested { accepted: true, .. })), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pile_nobody_registered_is_refused_at_login() {
    let server = Server::start();
    let mut pile = SimPile::connect(server.pile_addr, pile_config("99999999999999")).await.unwrap();
    let ev = pile.wait_for(|e| matches!(e, Event::LoginAccepted | Event::LoginRefused), WAIT).await;
    assert!(matches!(ev, Some(Event::LoginRefused)), "{ev:?}");
    assert_eq!(
        server.metric("chargeplane_logins_total{protocol=\"ykc\",result=\"unknown_pile\"}").await,
        1.0
    );
    let (s, _) = server.get("/api/v1/piles/99999999999999").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_where_a_charge_cannot_start_is_a_4xx_with_a_json_reason() {
    let server = Server::start();
    let (online, offline) = ("10000000000004", "10000000000005");
    let station = server.station_with_pile(online, 2).await;
    server.register(offline, station, 1).await;
    let mut pile = login(&server, online).await;

    let check = |(status, body): (u16, serde_json::Value), want: u16, code: &str| {
        assert_eq!(status, want, "{body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    check(server.post("/api/v1/piles/12345678901234/ports/1/start", json!({})).await, 404, "unknown_pile");
    check(
        server.post(&format!("/api/v1/piles/{offline}/ports/1/start"), json!({})).await,
        409,
        "pile_offline",
    );
    check(
        server.post(&format!("/api/v1/piles/{online}/ports/3/start"), json!({})).await,
        404,
        "unknown_port",
    );
    check(server.post(&format!("/api/v1/piles/{online}/ports/1/stop"), json!({})).await, 409, "not_charging");
    check(
        server.post_raw(&format!("/api/v1/piles/{online}/ports/1/start"), "{\"balance\":").await,
        400,
        "bad_request",
    );
    check(
        server.post(&format!("/api/v1/piles/{online}/ports/1/start"), json!({"balance": "-1"})).await,
        422,
        "invalid",
    );

    let (s, first) = server.post(&format!("/api/v1/piles/{online}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{first}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await.unwrap();
    check(server.post(&format!("/api/v1/piles/{online}/ports/1/start"), json!({})).await, 409, "port_busy");

    // Bad resources are refused with the field that is wrong.
    let (s, e) = server
        .post("/api/v1/piles", json!({"id": "123", "station_id": station, "protocol": "ykc", "ports": 1}))
        .await;
    assert_eq!((s, e["field"].as_str()), (422, Some("id")), "{e}");
    let (s, e) = server
        .post(
            "/api/v1/tariffs",
            json!({"name": "gap", "prices": {"flat": {"energy": "1", "service": "0"}},
                                        "periods": [{"from": "00:00", "to": "12:00", "period": "flat"}]}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (422, Some("periods")), "{e}");
}

#[test]
fn a_store_that_is_neither_sqlite_nor_scylla_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.store = "mysql://db/chargeplane".into();
    let err = api::server::Background::spawn(cfg).err().expect("refused");
    assert!(err.to_string().contains("scylla://"), "{err}");
    cfg = common::test_config(dir.path());
    cfg.store = "scylla://db1:9042".into();
    let err = api::server::Background::spawn(cfg).err().expect("a keyspace is required");
    assert!(err.to_string().contains("keyspace"), "{err}");
}
