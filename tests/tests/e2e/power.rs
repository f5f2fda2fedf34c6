//! A station kept under its transformer's limit, end to end: e-bike
//! chargers, which cannot be turned down, are stopped latest first until the
//! rest fit; a start whose minimum
//! does not fit is refused, or queued and started when another charge
//! stops; a pile that ignores its limit raises alarms; charges already
//! running when a station's power becomes managed are counted.

use crate::common;

use std::time::Duration;

use common::{dec, ykc_msg, Server};
use loadtest::ebike_pile::{EbikeConfig, EbikePile, Event as EbikeEvent, Profile};
use loadtest::ykc_pile::{Event, PileConfig, SimPile};
use proto::ykc;
use rust_decimal_macros::dec;
use serde_json::json;
use vocab::PileId;

const WAIT: Duration = Duration::from_secs(10);

fn fast(c: &mut api::ServeConfig) {
    c.power_interval_ms = 200;
    c.power_verify_after_ms = 300;
}

async fn manage(server: &Server, station: i64, capacity_w: &str) {
    let (s, v) = server
        .http
        .put(format!("{}/api/v1/stations/{station}/power", server.base))
        .bearer_auth(&server.admin)
        .json(&json!({
            "transformer": {"capacity_w": capacity_w, "margin_w": "0"},
            "ykc_gun_rated_w": "7000", "ebike_port_min_w": "120", "ebike_port_max_w": "600"
        }))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200, "{:?}", v.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebike_charges_that_do_not_fit_are_refused_or_queued_and_the_latest_stopped_when_draw_grows() {
    let server = Server::start_with(fast);
    let station = server.station_with_pile("40000000000001", 1).await;
    manage(&server, station, "1000").await;
    let phys = 0x05D0_0001;
    let id = format!("{phys:08X}");
    let (s, p) = server
        .post("/api/v1/piles", json!({"id": id, "station_id": station, "protocol": "dny", "ports": 10}))
        .await;
    assert_eq!(s, 201, "{p}");
    let mut cfg = EbikeConfig::new(phys);
    (cfg.time_scale, cfg.tick, cfg.report_every) = (600.0, 10, 60);
    let mut pile = EbikePile::connect(server.pile_addr, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, EbikeEvent::Registered { accepted: true }), WAIT).await.unwrap();
    for port in 1..=9 {
        pile.set_profile(port, Profile::Constant(dec!(300)));
        pile.plug(port, true);
    }
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][8]["status"] == "plugged").await;

    // Chargers of 300 W, each taken at 120 W until measured, then at what
    // it draws (330 W with the margin): three fit under 1000 W.
    let power = format!("/api/v1/stations/{station}/power");
    let mut sessions = Vec::new();
    for port in 1..=3 {
        let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/{port}/start"), json!({})).await;
        assert_eq!(s, 202, "port {port}: {v}");
        sessions.push(v["session_id"].as_str().unwrap().to_owned());
        server
            .until(&power, |v| {
                v["ports"]
                    .as_array()
                    .is_some_and(|p| p.iter().filter(|p| dec(&p["measured_w"]) > dec!(0)).count() == port)
            })
            .await;
    }
    let view = server.get(&power).await.1;
    assert_eq!(dec(&view["allocated_w"]), dec!(990), "{view}");
    // A fourth does not fit: refused, or queued when the driver is willing
    // to wait.
    let (s, refused) = server.post(&format!("/api/v1/piles/{id}/ports/4/start"), json!({})).await;
    assert_eq!((s, refused["error"].as_str()), (409, Some("station_capacity_short")), "{refused}");
    let (s, queued) = server.post(&format!("/api/v1/piles/{id}/ports/4/start"), json!({"queue": true})).await;
    assert_eq!(
        (s, queued["state"].as_str(), queued["position"].as_u64()),
        (202, Some("queued"), Some(1)),
        "{queued}"
    );
    assert_eq!(server.get(&power).await.1["queued"], json!([[id, 4]]));
    assert_eq!(
        server.metric(&format!("chargeplane_station_queued_charges{{station=\"{station}\"}}")).await,
        1.0
    );

    // Port 3's charger draws more (400 W): an e-bike charger cannot be
    // turned down (AP3000 V8.6 has no such command), so the latest charge
    // is stopped and billed, and the station is under its limit again.
    pile.set_profile(3, Profile::Constant(dec!(400)));
    server.until(&format!("/api/v1/sessions/{}", sessions[2]), |v| v["state"] == "finished").await;
    assert_eq!(server.metric("chargeplane_power_stops_total").await, 1.0);
    // That made room: the queued charge starts by itself.
    let ev = pile.wait_for(|e| matches!(e, EbikeEvent::Started { port: 4, .. }), WAIT).await;
    assert!(matches!(ev, Some(EbikeEvent::Started { accepted: true, .. })), "{ev:?}");
    // The stopped charge, billed, waits to resume: ahead of any new one,
    // and only once what it drew (440 W with the margin) fits.
    let view = server
        .until(&power, |v| {
            v["queued"] == json!([[id, 3]]) && v["ports"].as_array().is_some_and(|p| p.len() == 3)
        })
        .await;
    assert!(dec(&view["measured_w"]) <= dec!(1000), "{view}");
    let (s, late) = server.post(&format!("/api/v1/piles/{id}/ports/5/start"), json!({"queue": true})).await;
    assert_eq!((s, late["position"].as_u64()), (202, Some(2)), "{late}");
    assert_eq!(
        server.metric(&format!("chargeplane_station_charges_refused_total{{station=\"{station}\"}}")).await,
        1.0
    );
    // Drivers on ports 1 and 2 stop: port 3 resumes as a new charge first.
    for port in 1..=2 {
        assert_eq!(server.post(&format!("/api/v1/piles/{id}/ports/{port}/stop"), json!({})).await.0, 202);
    }
    let ev = pile.wait_for(|e| matches!(e, EbikeEvent::Started { port: 3 | 5, .. }), WAIT).await;
    assert!(
        matches!(&ev, Some(EbikeEvent::Started { port: 3, accepted: true, order }) if *order != sessions[2]),
        "{ev:?}"
    );
    let view = server.until(&power, |v| v["ports"].as_array().is_some_and(|p| p.len() == 3)).await;
    assert!(dec(&view["allocated_w"]) <= dec!(1000), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pile_that_ignores_its_limit_raises_alarms() {
    let server = Server::start_with(fast);
    let id = "40000000000002";
    let station = server.station_with_pile(id, 2).await;
    manage(&server, station, "10000").await;
    // This simulated pile answers nothing to 0x52 and keeps drawing 7 kW a gun.
    let mut cfg = PileConfig::new(PileId(id.into()), 2);
    (cfg.heartbeat, cfg.realtime, cfg.auto_meter) =
        (Duration::from_millis(200), Duration::from_millis(100), Some(dec!(7)));
    let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    for gun in 1..=2 {
        let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/{gun}/start"), json!({})).await;
        assert_eq!(s, 202, "{v}");
    }
    // Two guns share 10 kW: 5 kW each, 10/14 of what they could deliver.
    let ev = pile
        .wait_for(
            |e| matches!(ykc_msg(e), Some(ykc::Message::WorkParams(w)) if w.max_power_percent == 71),
            WAIT,
        )
        .await;
    assert!(ev.is_some(), "no 71 % power limit");

    let alarms = server
        .until(&format!("/api/v1/alarms?station_id={station}&open=true"), |v| {
            let kinds: Vec<&str> =
                v.as_array().into_iter().flatten().filter_map(|a| a["kind"].as_str()).collect();
            kinds.contains(&"station_over_limit")
                && kinds.iter().filter(|k| **k == "ignores_power_limit").count() == 2
        })
        .await;
    let over = alarms.as_array().unwrap().iter().find(|a| a["kind"] == "station_over_limit").unwrap();
    assert_eq!((over["severity"].as_str(), over["pile_id"].as_str()), (Some("critical"), None), "{over}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_running_when_power_becomes_managed_is_counted_and_forgotten_when_it_is_not() {
    let server = Server::start_with(fast);
    let id = "40000000000003";
    let station = server.station_with_pile(id, 1).await;
    let mut cfg = PileConfig::new(PileId(id.into()), 1);
    (cfg.heartbeat, cfg.realtime, cfg.auto_meter) =
        (Duration::from_millis(200), Duration::from_millis(100), Some(dec!(7)));
    let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
    pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
    let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{v}");
    server.until(&format!("/api/v1/piles/{id}"), |v| v["ports"][0]["status"] == "charging").await;

    // Ports report their power only to a managed station: from now on.
    manage(&server, station, "20000").await;
    let path = format!("/api/v1/stations/{station}/power");
    server
        .until(&path, |v| {
            v["ports"].as_array().is_some_and(|p| p.len() == 1 && dec(&p[0]["measured_w"]) > dec!(0))
        })
        .await;

    let r = server.http.delete(format!("{}{path}", server.base)).bearer_auth(&server.admin).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 200);
    server.until(&path, |v| v["managed"] == false && v["ports"] == json!([])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_under_the_ykc_floors_stops_the_latest_charges_instead_of_telling_them_30_percent() {
    let server = Server::start_with(fast);
    let ids = ["40000000000011", "40000000000012", "40000000000013"];
    let station = server.station_with_pile(ids[0], 1).await;
    for id in &ids[1..] {
        server.register(id, station, 1).await;
    }
    manage(&server, station, "21000").await;
    let mut piles = Vec::new();
    for id in ids {
        let mut cfg = PileConfig::new(PileId(id.into()), 1);
        (cfg.heartbeat, cfg.realtime, cfg.auto_meter) =
            (Duration::from_millis(200), Duration::from_millis(100), Some(dec!(7)));
        let mut pile = SimPile::connect(server.pile_addr, cfg).await.unwrap();
        pile.wait_for(|e| matches!(e, Event::LoginAccepted), WAIT).await.unwrap();
        let (s, v) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
        assert_eq!(s, 202, "{v}");
        pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
        piles.push(pile);
    }
    server
        .until(&format!("/api/v1/stations/{station}/power"), |v| {
            v["ports"].as_array().is_some_and(|p| p.len() == 3)
        })
        .await;

    // 4 kW fits one 7 kW gun's floor (2.1 kW) but not two: the first charge
    // keeps all 4 kW (57 %); the later two cannot be told less than 30 %
    // (2.1 kW each, 8.2 kW in all), so they are stopped.
    manage(&server, station, "4000").await;
    let first = piles[0]
        .wait_for(
            |e| matches!(ykc_msg(e), Some(ykc::Message::WorkParams(w)) if w.max_power_percent == 57),
            WAIT,
        )
        .await;
    assert!(first.is_some(), "the first charge was not held to 57 %");
    for pile in &mut piles[1..] {
        let told = pile
            .wait_for(
                |e| {
                    matches!(e, Event::StopRequested { .. })
                        || matches!(ykc_msg(e), Some(ykc::Message::WorkParams(w)) if w.max_power_percent < 57)
                },
                WAIT,
            )
            .await;
        assert_eq!(told, Some(Event::StopRequested { gun: 1 }), "{}", pile.id());
    }
    assert_eq!(server.metric("chargeplane_power_stops_total").await, 2.0);
}

/// A running station stores its power every `station_power_sample_ms`:
/// unmanaged, no limit; managed, the limit and what it shares out; read
/// back for a window, within bounds, and only by those who see the station.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_keeps_its_power_over_time_for_its_chart() {
    let server = Server::start_with(|c| {
        fast(c);
        c.station_power_sample_ms = 50;
    });
    let id = "40000000000091";
    let station = server.station_with_pile(id, 1).await;
    let mut pile = server.ykc_pile(id, 1).await;
    let history = format!("/api/v1/stations/{station}/power/history");
    let v = server.until(&history, |v| v["samples"].as_array().is_some_and(|s| !s.is_empty())).await;
    assert_eq!((v["sample_ms"].as_u64(), &v["samples"][0]["limit_w"]), (Some(50), &json!(null)), "{v}");

    manage(&server, station, "20000").await;
    let (s, started) = server.post(&format!("/api/v1/piles/{id}/ports/1/start"), json!({})).await;
    assert_eq!(s, 202, "{started}");
    pile.wait_for(|e| matches!(e, Event::StartRequested { accepted: true, .. }), WAIT).await.unwrap();
    let v = server
        .until(&history, |v| {
            v["samples"].as_array().and_then(|s| s.last()).is_some_and(|s| {
                s["limit_w"].as_str().is_some_and(|l| dec(&json!(l)) == dec!(20000))
                    && dec(&s["allocated_w"]) > dec!(0)
            })
        })
        .await;
    let samples = v["samples"].as_array().unwrap();
    assert!(samples.windows(2).all(|w| w[0]["at"].as_str() < w[1]["at"].as_str()), "oldest first: {v}");
    assert!(samples.iter().all(|s| s["station_id"] == station), "{v}");

    // A window in the past holds nothing; bounds are named.
    let (s, v) = server.get(&format!("{history}?from=2020-01-01T00:00:00Z&until=2020-01-01T06:00:00Z")).await;
    assert_eq!((s, v["samples"].as_array().map(Vec::len)), (200, Some(0)), "{v}");
    for (query, field) in [
        ("from=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("from=2026-01-01T00:00:00Z&until=2026-01-09T00:00:00Z", "from"),
        ("from=noon", "from"),
        ("step=5", "step"),
    ] {
        let (s, v) = server.get(&format!("{history}?{query}")).await;
        assert_eq!((s, v["field"].as_str()), (422, Some(field)), "{query}: {v}");
    }
    let (s, op) = server.post("/api/v1/operators", json!({"name": "other"})).await;
    assert_eq!(s, 201, "{op}");
    let user = json!({"username": "other-staff", "password": "long enough pw", "role": "staff", "operator_id": op["id"]});
    assert_eq!(server.post("/api/v1/users", user).await.0, 201);
    let other = common::login(&server.base, "other-staff", "long enough pw").await;
    let (s, v) = server.get_as(&other, &history).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("unknown_station")), "{v}");
}
