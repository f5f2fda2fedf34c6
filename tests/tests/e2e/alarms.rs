//! Fault alarms end to end: what a pile reports, or what the platform sees
//! in its readings, becomes a stored alarm within a second, is counted, can
//! be acknowledged, and clears when the condition ends.

use crate::common;

use std::time::{Duration, Instant};

use common::{Server, YkcMessages};
use loadtest::ap3000_wire;
use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event as EbikeEvent, Profile};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use proto::ykc;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use vocab::{PileId, SessionId};

const WAIT: Duration = Duration::from_secs(5);

/// Polls the alarm list until one of `kind` shows up; returns it and how long it took.
async fn alarm(server: &Server, query: &str, kind: &str) -> (Value, Duration) {
    let since = Instant::now();
    loop {
        let (_, list) = server.get(&format!("/api/v1/alarms?{query}")).await;
        if let Some(a) = list.as_array().and_then(|l| l.iter().find(|a| a["kind"] == kind)) {
            return (a.clone(), since.elapsed());
        }
        assert!(since.elapsed() < WAIT, "no {kind} alarm; have {list}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn ebike(server: &Server, phys: u32) -> EbikePile {
    let tariff_station = server.station_with_pile("30000000000001", 1).await;
    let (s, p) = server
        .post("/api/v1/piles", json!({"id": format!("{phys:08X}"), "station_id": tariff_station, "protocol": "dny", "ports": 10}))
        .await;
    assert_eq!(s, 201, "{p}");
    let mut cfg = EbikeConfig::new(phys);
    (cfg.time_scale, cfg.tick) = (600.0, 10);
    let mut pile = EbikePile::connect(server.pile_addr, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, EbikeEvent::Registered { accepted: true }), WAIT).await.unwrap();
    pile
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_alarm_frame_is_an_alarm_within_a_second_and_can_be_acknowledged() {
    let server = Server::start();
    let phys = 0x05AA_0001;
    let pile = ebike(&server, phys).await;
    // Spec V8.6 §3.4.5: type 4 is smoke; its second byte is the sensor's
    // 485 address (0: the pile's own), not a port.
    pile.send_frame(ap3000_wire::cmd::ALARM, ap3000_wire::alarm(4, 0, 0));

    let query = format!("pile_id={phys:08X}");
    let (smoke, took) = alarm(&server, &query, "smoke").await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!((smoke["severity"].as_str(), smoke["port"].as_u64()), (Some("critical"), None), "{smoke}");
    assert!(smoke["acknowledged_at"].is_null() && smoke["cleared_at"].is_null());
    assert_eq!(
        server.metric("chargeplane_pile_alarms_total{kind=\"smoke\",severity=\"critical\"}").await,
        1.0
    );

    let id = smoke["id"].as_i64().unwrap();
    let (s, acked) = server.post(&format!("/api/v1/alarms/{id}/ack"), json!({})).await;
    assert_eq!(s, 200, "{acked}");
    assert!(acked["acknowledged_at"].is_string());
    let (_, open) = server.get(&format!("/api/v1/alarms?{query}&open=true")).await;
    assert_eq!(open.as_array().unwrap().len(), 1, "acknowledged is still open");
    let (s, _) = server.post(&format!("/api/v1/alarms/{id}/clear"), json!({})).await;
    assert_eq!(s, 200);
    let (_, open) = server.get(&format!("/api/v1/alarms?{query}&open=true")).await;
    assert_eq!(open, json!([]));
    let (s, e) = server.post("/api/v1/alarms/999999/ack", json!({})).await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_alarm")));
    let (s, e) = server.get("/api/v1/alarms?limit=0").await;
    assert_eq!((s, e["field"].as_str()), (422, Some("limit")));
}

fn realtime(id: &str, faults: u16, cable_temp: i16) -> ykc::Message {
    ykc::Message::RealTime(ykc::RealTime {
        serial: SessionId("0".repeat(32)),
        pile: PileId(id.into()),
        gun: 1,
        status: 2,
        holstered: 1,
        plugged: false,
        voltage: dec!(0),
        current: dec!(0),
        cable_temp,
        cable_code: [0; 8],
        soc: 0,
        battery_max_temp: 25,
        minutes_charged: 0,
        minutes_left: 0,
        kwh: dec!(0),
        loss_kwh: dec!(0),
        amount: dec!(0),
        hardware_faults: faults,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardware_faults_and_heat_raise_alarms_that_clear_when_they_end() {
    let server = Server::start();
    let id = "30000000000002";
    server.station_with_pile(id, 1).await;
    let mut pile = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 1)).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();

    // Bit3 of the spec (1 << 2): air outlet over-temperature; the cable at 96 °C.
    pile.send_msg(realtime(id, 1 << 2, 96));
    let query = format!("pile_id={id}&open=true");
    let (outlet, _) = alarm(&server, &query, "air_outlet_over_temperature").await;
    assert_eq!(outlet["severity"], "critical");
    let (hot, _) = alarm(&server, &query, "over_temperature").await;
    assert!(hot["message"].as_str().unwrap().contains("96"), "{hot}");

    // Still faulted: no second alarm.
    pile.send_msg(realtime(id, 1 << 2, 96));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, all) = server.get(&format!("/api/v1/alarms?pile_id={id}")).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    // The fault ends and the cable cools: both clear.
    pile.send_msg(realtime(id, 0, 40));
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, open) = server.get(&format!("/api/v1/alarms?{query}")).await;
        if open == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "still open: {open}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overload_stop_raises_an_alarm() {
    let server = Server::start();
    let phys = 0x05AA_0002;
    let mut pile = ebike(&server, phys).await;
    // A 900 W heater on a port whose overload limit is 600 W.
    pile.set_profile(5, Profile::Constant(dec!(900)));
    pile.plug(5, true);
    let id = format!("{phys:08X}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][4]["status"] == "plugged").await;
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/5/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let ev = pile.wait_for(|e| matches!(e, EbikeEvent::Stopped { .. }), WAIT).await;
    assert!(matches!(ev, Some(EbikeEvent::Stopped { reason: 6, .. })), "{ev:?}");
    let (overload, _) = alarm(&server, &format!("pile_id={id}"), "overload").await;
    assert_eq!(
        (overload["severity"].as_str(), overload["port"].as_u64()),
        (Some("warning"), Some(5)),
        "{overload}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pile_offline_past_the_threshold_raises_an_alarm_cleared_when_it_returns() {
    let server = Server::start_with(|c| c.offline_alarm_after_ms = 200);
    let id = "30000000000003";
    server.station_with_pile(id, 1).await;
    let mut pile = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 1)).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    pile.close();

    let query = format!("pile_id={id}&open=true");
    let (offline, _) = alarm(&server, &query, "offline").await;
    assert_eq!(offline["severity"], "warning");
    assert!(offline["port"].is_null());

    let mut back = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 1)).await.unwrap();
    back.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, open) = server.get(&format!("/api/v1/alarms?{query}")).await;
        if open == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "still open: {open}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An offline pile's actors are passivated (after its offline alarm), and
/// its next login starts them again from the store: the alarm is cleared and
/// the pile charges as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_pile_is_passivated_and_its_next_login_brings_it_back() {
    let server = Server::start_with(|c| {
        c.offline_alarm_after_ms = 100;
        c.pile_passivate_after_ms = 300;
    });
    let id = "30000000000004";
    server.station_with_pile(id, 2).await;
    let mut pile = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 2)).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    assert_eq!(server.get("/healthz").await.1["pile_actors"], 1);
    pile.close();

    let query = format!("pile_id={id}&open=true");
    alarm(&server, &query, "offline").await;
    let deadline = Instant::now() + WAIT;
    while server.metric("chargeplane_piles_passivated_total").await < 1.0 {
        assert!(Instant::now() < deadline, "never passivated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.get("/healthz").await.1["pile_actors"], 0);

    let mut back = SimPile::connect(server.pile_addr, PileConfig::new(PileId(id.into()), 2)).await.unwrap();
    back.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    server.until(&format!("/api/v1/alarms?{query}"), |v| v == &json!([])).await;
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/2/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    let ev = back.wait_for(|e| matches!(e, Event::StartRequested { .. }), WAIT).await;
    assert!(matches!(ev, Some(Event::StartRequested { gun: 2, accepted: true, .. })), "{ev:?}");
    assert_eq!(server.get("/healthz").await.1["pile_actors"], 1);
}
